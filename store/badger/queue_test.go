package badger

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/guestgate/guestgate/guestlink"
)

// bodies returns the bodies of items, as strings.
func bodies(items []guestlink.QueueItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, string(it.Body))
	}
	return out
}

func mustEnqueue(t testing.TB, s *Store, queue, body string, maxLen int) int {
	t.Helper()
	dropped, err := s.Enqueue(context.Background(), queue, []byte(body), maxLen)
	if err != nil {
		t.Fatalf("Enqueue(%s, %s): %v", queue, body, err)
	}
	return dropped
}

func mustDue(t testing.TB, s *Store, queue string, now time.Time, limit int) ([]guestlink.QueueItem, time.Time) {
	t.Helper()
	items, next, err := s.Due(context.Background(), queue, now, limit)
	if err != nil {
		t.Fatalf("Due(%s): %v", queue, err)
	}
	return items, next
}

func wantLen(t testing.TB, s *Store, queue string, want int) {
	t.Helper()
	n, err := s.queueLength(context.Background(), queue)
	if err != nil || n != want {
		t.Fatalf("length of %s = %d, %v; want %d", queue, n, err, want)
	}
}

func TestQueueOrderRetryAck(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	for _, b := range []string{"a", "b", "c", "d"} {
		if d := mustEnqueue(t, s, "wh-1", b, 0); d != 0 {
			t.Fatalf("dropped %d from a short queue", d)
		}
	}
	mustEnqueue(t, s, "wh-2", "other", 0)
	wantLen(t, s, "wh-1", 4)

	now := time.Now()
	items, next := mustDue(t, s, "wh-1", now, 0)
	if got := bodies(items); !slices.Equal(got, []string{"a", "b", "c", "d"}) || !next.IsZero() {
		t.Fatalf("Due = %v next %v, want a b c d in enqueue order and no next", got, next)
	}
	for i, it := range items {
		if it.Attempts != 0 || it.NextAt.After(now) || !validQueueID(it.ID) || i > 0 && it.ID <= items[i-1].ID {
			t.Fatalf("item %d = %+v: want attempts 0, due, ids increasing", i, it)
		}
	}
	if items, _ := mustDue(t, s, "wh-1", now, 2); !slices.Equal(bodies(items), []string{"a", "b"}) {
		t.Fatalf("Due with limit 2 = %v, want a b", bodies(items))
	}

	// b failed: due again in an hour; c failed: due in two.
	a, b, c := items[0], items[1], mustDueItem(t, s, "wh-1", "c")
	if err := s.Retry(ctx, "wh-1", b.ID, 1, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Retry(ctx, "wh-1", c.ID, 3, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	items, next = mustDue(t, s, "wh-1", now, 0)
	if !slices.Equal(bodies(items), []string{"a", "d"}) || !next.Equal(now.Add(time.Hour).UTC()) {
		t.Fatalf("Due after retries = %v next %v, want a d and next in an hour", bodies(items), next)
	}
	items, _ = mustDue(t, s, "wh-1", now.Add(90*time.Minute), 0)
	if !slices.Equal(bodies(items), []string{"a", "b", "d"}) || items[1].Attempts != 1 {
		t.Fatalf("Due in 90m = %+v, want a b d with b at 1 attempt", items)
	}
	items, _ = mustDue(t, s, "wh-1", now.Add(3*time.Hour), 0)
	if !slices.Equal(bodies(items), []string{"a", "b", "c", "d"}) || items[2].Attempts != 3 {
		t.Fatalf("Due in 3h = %+v, want every item, in order, c at 3 attempts", items)
	}

	// Ack removes for good, twice is fine; Retry of a removed item says so.
	for range 2 {
		if err := s.Ack(ctx, "wh-1", a.ID); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	wantLen(t, s, "wh-1", 3)
	if err := s.Retry(ctx, "wh-1", a.ID, 1, now); !errors.Is(err, guestlink.ErrQueueItemNotFound) {
		t.Fatalf("Retry of an acked item = %v, want ErrQueueItemNotFound", err)
	}
	if err := s.Retry(ctx, "wh-1", "../../room/x", 1, now); !errors.Is(err, guestlink.ErrQueueItemNotFound) {
		t.Fatalf("Retry of a malformed id = %v, want ErrQueueItemNotFound", err)
	}
	if got, err := s.Queues(ctx); err != nil || !slices.Equal(got, []string{"wh-1", "wh-2"}) {
		t.Fatalf("Queues = %v, %v", got, err)
	}
	for _, it := range mustDueAll(t, s, "wh-1") {
		if err := s.Ack(ctx, "wh-1", it.ID); err != nil {
			t.Fatal(err)
		}
	}
	wantLen(t, s, "wh-1", 0)
	if got, _ := s.Queues(ctx); !slices.Equal(got, []string{"wh-2"}) {
		t.Fatalf("Queues after emptying wh-1 = %v, want wh-2 only", got)
	}
	// The other queue was never touched.
	if items, _ := mustDue(t, s, "wh-2", now, 0); !slices.Equal(bodies(items), []string{"other"}) {
		t.Fatalf("wh-2 = %v", bodies(items))
	}
}

// mustDueItem returns the item of queue with body, due or not.
func mustDueItem(t testing.TB, s *Store, queue, body string) guestlink.QueueItem {
	t.Helper()
	for _, it := range mustDueAll(t, s, queue) {
		if string(it.Body) == body {
			return it
		}
	}
	t.Fatalf("queue %s holds no item %q", queue, body)
	return guestlink.QueueItem{}
}

// mustDueAll returns every item of queue, due or not.
func mustDueAll(t testing.TB, s *Store, queue string) []guestlink.QueueItem {
	t.Helper()
	items, _ := mustDue(t, s, queue, time.Now().Add(100*365*24*time.Hour), 1_000_000)
	return items
}

func TestQueueBoundDropsOldest(t *testing.T) {
	s, _ := openStore(t)
	var dropped []int
	for i := range 7 {
		dropped = append(dropped, mustEnqueue(t, s, "q", fmt.Sprint(i), 4))
	}
	if !slices.Equal(dropped, []int{0, 0, 0, 0, 1, 1, 1}) {
		t.Fatalf("dropped = %v, want one per enqueue beyond 4", dropped)
	}
	wantLen(t, s, "q", 4)
	if got := bodies(mustDueAll(t, s, "q")); !slices.Equal(got, []string{"3", "4", "5", "6"}) {
		t.Fatalf("queue = %v, want the newest 4", got)
	}
	// A smaller bound drops several at once; retried items count like others.
	it := mustDueItem(t, s, "q", "3")
	if err := s.Retry(context.Background(), "q", it.ID, 5, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if d := mustEnqueue(t, s, "q", "7", 2); d != 3 {
		t.Fatalf("dropped %d, want 3", d)
	}
	if got := bodies(mustDueAll(t, s, "q")); !slices.Equal(got, []string{"6", "7"}) {
		t.Fatalf("queue = %v, want 6 7", got)
	}
	wantLen(t, s, "q", 2)
	// The default bound.
	if d := mustEnqueue(t, s, "q", "8", 0); d != 0 {
		t.Fatalf("dropped %d under the default bound", d)
	}
}

func TestQueuePersistsAcrossReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, b := range []string{"first", "second", "third"} {
		mustEnqueue(t, s, "wh", b, 0)
	}
	items := mustDueAll(t, s, "wh")
	retryAt := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	if err := s.Retry(ctx, "wh", items[1].ID, 2, retryAt); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, "wh", items[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, "wh", []byte("x"), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Enqueue after Close = %v, want ErrClosed", err)
	}

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := mustDueAll(t, s, "wh")
	if !slices.Equal(bodies(got), []string{"second", "third"}) || got[0].Attempts != 2 || !got[0].NextAt.Equal(retryAt) || got[0].ID != items[1].ID {
		t.Fatalf("after reopen: %+v, want second (2 attempts, due %v) and third", got, retryAt)
	}
	wantLen(t, s, "wh", 2)
	// New items still sort after the old ones.
	mustEnqueue(t, s, "wh", "fourth", 0)
	if all := bodies(mustDueAll(t, s, "wh")); !slices.Equal(all, []string{"second", "third", "fourth"}) {
		t.Fatalf("after reopen and enqueue: %v", all)
	}
}

func TestQueueIDsFollowEnqueueOrder(t *testing.T) {
	s, _ := openStore(t)
	var want []string
	for i := range 200 {
		b := fmt.Sprintf("%03d", i)
		want = append(want, b)
		mustEnqueue(t, s, "fast", b, 0)
	}
	if got := bodies(mustDueAll(t, s, "fast")); !slices.Equal(got, want) {
		t.Fatalf("200 quick enqueues came back as %v", got)
	}
	// Even when the clock steps back, a new id sorts after the last one.
	last := mustDueAll(t, s, "fast")[199].ID
	if id := newQueueID(time.Unix(0, 0), last); id <= last {
		t.Fatalf("id after a clock step back %s <= last %s", id, last)
	}
}

func TestQueueConcurrentEnqueueAndAck(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	const workers, each, bound = 8, 15, 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	totalDropped := 0
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				d, err := s.Enqueue(ctx, "busy", []byte(fmt.Sprintf("%d-%d", w, i)), bound)
				if err != nil {
					t.Errorf("Enqueue: %v", err)
					return
				}
				mu.Lock()
				totalDropped += d
				mu.Unlock()
			}
		})
	}
	// Meanwhile, acknowledge what is due.
	acked := 0
	wg.Go(func() {
		for range 20 {
			items, _, err := s.Due(ctx, "busy", time.Now(), 5)
			if err != nil {
				t.Errorf("Due: %v", err)
				return
			}
			for _, it := range items {
				if err := s.Ack(ctx, "busy", it.ID); err != nil {
					t.Errorf("Ack: %v", err)
					return
				}
				mu.Lock()
				acked++
				mu.Unlock()
			}
		}
	})
	wg.Wait()
	left := len(mustDueAll(t, s, "busy"))
	wantLen(t, s, "busy", left)
	if left > bound {
		t.Fatalf("%d items left, bound %d", left, bound)
	}
	// Acks of items that were dropped just before do not count twice, so the
	// books balance only approximately from outside; the stored length is exact.
	if left+totalDropped > workers*each || left+totalDropped+acked < workers*each {
		t.Fatalf("left %d + dropped %d + acked %d vs enqueued %d", left, totalDropped, acked, workers*each)
	}
}

func TestQueueRefusesBadNames(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	for _, name := range []string{"", "a/b", "../room", string(make([]byte, 65))} {
		if _, err := s.Enqueue(ctx, name, []byte("x"), 0); err == nil {
			t.Errorf("Enqueue(%q) accepted", name)
		}
		if _, _, err := s.Due(ctx, name, time.Now(), 0); err == nil {
			t.Errorf("Due(%q) accepted", name)
		}
	}
	// Queue items are not mistaken for anything else in the store.
	mustEnqueue(t, s, "room", "x", 0)
	if st, err := s.Stats(ctx); err != nil || st.Rooms != 0 {
		t.Fatalf("Stats with a queue named room: %+v, %v", st, err)
	}
}

// BenchmarkEnqueue measures what a webhook adds to a guest's request: one
// Enqueue. Compare it with BenchmarkSmallWrite, one transaction writing one
// value of the same size (run both in one job: the ratio is what matters).
func BenchmarkEnqueue(b *testing.B) {
	for _, full := range []bool{false, true} {
		b.Run(fmt.Sprintf("full=%v", full), func(b *testing.B) {
			s, _ := openStore(b)
			body := make([]byte, 300)
			const bound = 1000
			if full {
				for range bound {
					if _, err := s.Enqueue(context.Background(), "bench", body, bound); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.Enqueue(context.Background(), "bench", body, bound); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSmallWrite is the baseline of BenchmarkEnqueue: one transaction that
// sets one key to a value of the same size.
func BenchmarkSmallWrite(b *testing.B) {
	s, _ := openStore(b)
	val := make([]byte, 400)
	i := 0
	for b.Loop() {
		i++
		err := s.update(context.Background(), func(txn *badgerdb.Txn) error {
			return txn.Set(fmt.Appendf(nil, "bench/%016x", i), val)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

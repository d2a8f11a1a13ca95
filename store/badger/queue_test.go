package badger

import (
	"context"
	"fmt"
	"path/filepath"
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

// TestQueueMetaLength: the length kept in a queue's meta record, which bounds
// the queue without counting its items, equals the items it holds through
// every change: enqueues, drops at the bound, retries, acknowledgements of
// items present and gone, concurrent use, and a reopen.
func TestQueueMetaLength(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(what, queue string) {
		t.Helper()
		n := len(mustDueAll(t, s, queue))
		if got, err := s.queueLength(ctx, queue); err != nil || got != n {
			t.Fatalf("%s: length of %s = %d, %v; want the %d items it holds", what, queue, got, err, n)
		}
	}
	for _, b := range []string{"a", "b", "c", "d"} {
		mustEnqueue(t, s, "wh", b, 0)
	}
	wantLen(t, s, "wh", 4)
	a := mustDueItem(t, s, "wh", "a")
	for range 2 {
		if err := s.Ack(ctx, "wh", a.ID); err != nil {
			t.Fatal(err)
		}
	}
	wantLen(t, s, "wh", 3)
	if err := s.Retry(ctx, "wh", mustDueItem(t, s, "wh", "c").ID, 1, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	check("Retry", "wh")
	for i := range 7 {
		mustEnqueue(t, s, "wh", fmt.Sprint(i), 4)
	}
	wantLen(t, s, "wh", 4)
	mustEnqueue(t, s, "wh", "x", 2)
	wantLen(t, s, "wh", 2)
	for _, it := range mustDueAll(t, s, "wh") {
		if err := s.Ack(ctx, "wh", it.ID); err != nil {
			t.Fatal(err)
		}
	}
	wantLen(t, s, "wh", 0)

	const workers, each, bound = 8, 15, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := s.Enqueue(ctx, "busy", []byte(fmt.Sprintf("%d-%d", w, i)), bound); err != nil {
					t.Errorf("Enqueue: %v", err)
					return
				}
			}
		})
	}
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
			}
		}
	})
	wg.Wait()
	check("concurrent use", "busy")

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantLen(t, s, "wh", 0)
	check("reopen", "busy")
}

// TestQueueIDs: item ids have the documented shape (the enqueue time, then
// random digits), and a new id sorts after the last one even when the clock
// steps back.
func TestQueueIDs(t *testing.T) {
	s, _ := openStore(t)
	for i := range 20 {
		mustEnqueue(t, s, "fast", fmt.Sprint(i), 0)
	}
	items := mustDueAll(t, s, "fast")
	for i, it := range items {
		if !validQueueID(it.ID) || i > 0 && it.ID <= items[i-1].ID {
			t.Fatalf("item %d id %q: want %d hex digits, increasing", i, it.ID, queueIDLen)
		}
	}
	last := items[len(items)-1].ID
	if id := newQueueID(time.Unix(0, 0), last); id <= last {
		t.Fatalf("id after a clock step back %s <= last %s", id, last)
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

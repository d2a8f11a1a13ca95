package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// queueTests protect guestlink.Queuer, the durable queues of webhook
// deliveries: items come back in the order they were enqueued, Retry and Ack
// change one item, a queue holds at most its bound by dropping the oldest,
// many goroutines may use one queue, and a restart loses nothing. Enqueue
// makes an item due at the store's own now, which the suite cannot inject:
// Due is asked at the real time after the Enqueue, or later.
var queueTests = []subtest{
	{"QueueOrderRetryAck", testQueueOrderRetryAck},
	{"QueueBoundDropsOldest", testQueueBound},
	{"QueueOrderOfQuickEnqueues", testQueueQuickEnqueues},
	{"QueueConcurrentEnqueueAndAck", testQueueConcurrent},
	{"QueueNames", testQueueNames},
	{"QueueReopen", testQueueReopen},
}

// queuer returns the store as a Queuer, or skips the subtest.
func (e *env) queuer() guestlink.Queuer {
	e.t.Helper()
	return implements[guestlink.Queuer](e)
}

func (e *env) enqueue(queue, body string, maxLen int) int {
	e.t.Helper()
	dropped, err := e.queuer().Enqueue(e.ctx, queue, []byte(body), maxLen)
	if err != nil {
		e.t.Fatalf("Enqueue(%s, %s): %v", queue, body, err)
	}
	return dropped
}

func (e *env) due(queue string, now time.Time, limit int) ([]guestlink.QueueItem, time.Time) {
	e.t.Helper()
	items, next, err := e.queuer().Due(e.ctx, queue, now, limit)
	if err != nil {
		e.t.Fatalf("Due(%s): %v", queue, err)
	}
	return items, next
}

// dueAll returns every item of queue, due or not.
func (e *env) dueAll(queue string) []guestlink.QueueItem {
	e.t.Helper()
	items, _ := e.due(queue, time.Now().AddDate(100, 0, 0), 1_000_000)
	return items
}

// item returns the item of queue with body, due or not.
func (e *env) item(queue, body string) guestlink.QueueItem {
	e.t.Helper()
	for _, it := range e.dueAll(queue) {
		if string(it.Body) == body {
			return it
		}
	}
	e.t.Fatalf("queue %s holds no item %q", queue, body)
	return guestlink.QueueItem{}
}

// bodies returns the bodies of items, as strings.
func bodies(items []guestlink.QueueItem) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, string(it.Body))
	}
	return out
}

func testQueueOrderRetryAck(t *testing.T, e *env) {
	q := e.queuer()
	for _, b := range []string{"a", "b", "c", "d"} {
		if d := e.enqueue("wh-1", b, 0); d != 0 {
			t.Fatalf("dropped %d from a short queue", d)
		}
	}
	e.enqueue("wh-2", "other", 0)

	now := time.Now()
	items, next := e.due("wh-1", now, 0)
	if got := bodies(items); !slices.Equal(got, []string{"a", "b", "c", "d"}) || !next.IsZero() {
		t.Fatalf("Due = %v next %v, want a b c d in enqueue order and no next", got, next)
	}
	for i, it := range items {
		if it.Attempts != 0 || it.NextAt.After(now) || it.ID == "" || i > 0 && it.ID <= items[i-1].ID {
			t.Fatalf("item %d = %+v: want attempts 0, due, ids increasing", i, it)
		}
	}
	if items, _ := e.due("wh-1", now, 2); !slices.Equal(bodies(items), []string{"a", "b"}) {
		t.Fatalf("Due with limit 2 = %v, want a b", bodies(items))
	}

	// b failed: due again in an hour; c failed: due in two.
	a, b, c := items[0], items[1], items[2]
	if err := q.Retry(e.ctx, "wh-1", b.ID, 1, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := q.Retry(e.ctx, "wh-1", c.ID, 3, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	items, next = e.due("wh-1", now, 0)
	if !slices.Equal(bodies(items), []string{"a", "d"}) || !next.Equal(now.Add(time.Hour)) {
		t.Fatalf("Due after retries = %v next %v, want a d and next in an hour", bodies(items), next)
	}
	items, _ = e.due("wh-1", now.Add(90*time.Minute), 0)
	if !slices.Equal(bodies(items), []string{"a", "b", "d"}) || items[1].Attempts != 1 || !items[1].NextAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("Due in 90m = %+v, want a b d with b at 1 attempt", items)
	}
	items, _ = e.due("wh-1", now.Add(3*time.Hour), 0)
	if !slices.Equal(bodies(items), []string{"a", "b", "c", "d"}) || items[2].Attempts != 3 {
		t.Fatalf("Due in 3h = %+v, want every item, in order, c at 3 attempts", items)
	}

	// Ack removes for good, twice is fine; Retry of a removed item says so.
	for range 2 {
		if err := q.Ack(e.ctx, "wh-1", a.ID); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	if got := bodies(e.dueAll("wh-1")); !slices.Equal(got, []string{"b", "c", "d"}) {
		t.Fatalf("after Ack of a: %v", got)
	}
	if err := q.Retry(e.ctx, "wh-1", a.ID, 1, now); !errors.Is(err, guestlink.ErrQueueItemNotFound) {
		t.Fatalf("Retry of an acknowledged item = %v, want ErrQueueItemNotFound", err)
	}
	if err := q.Retry(e.ctx, "wh-1", "../../room/x", 1, now); !errors.Is(err, guestlink.ErrQueueItemNotFound) {
		t.Fatalf("Retry of a malformed id = %v, want ErrQueueItemNotFound", err)
	}
	if err := q.Retry(e.ctx, "wh-2", b.ID, 1, now); !errors.Is(err, guestlink.ErrQueueItemNotFound) {
		t.Fatalf("Retry of another queue's item = %v, want ErrQueueItemNotFound", err)
	}
	if got, err := q.Queues(e.ctx); err != nil || !slices.Equal(got, []string{"wh-1", "wh-2"}) {
		t.Fatalf("Queues = %v, %v", got, err)
	}
	for _, it := range e.dueAll("wh-1") {
		if err := q.Ack(e.ctx, "wh-1", it.ID); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.dueAll("wh-1"); len(got) != 0 {
		t.Fatalf("wh-1 after acknowledging everything: %v", bodies(got))
	}
	if got, _ := q.Queues(e.ctx); !slices.Equal(got, []string{"wh-2"}) {
		t.Fatalf("Queues after emptying wh-1 = %v, want wh-2 only", got)
	}
	// The other queue was never touched.
	if items, _ := e.due("wh-2", now, 0); !slices.Equal(bodies(items), []string{"other"}) {
		t.Fatalf("wh-2 = %v", bodies(items))
	}
}

func testQueueBound(t *testing.T, e *env) {
	var dropped []int
	for i := range 7 {
		dropped = append(dropped, e.enqueue("q", fmt.Sprint(i), 4))
	}
	if !slices.Equal(dropped, []int{0, 0, 0, 0, 1, 1, 1}) {
		t.Fatalf("dropped = %v, want one per enqueue beyond 4", dropped)
	}
	if got := bodies(e.dueAll("q")); !slices.Equal(got, []string{"3", "4", "5", "6"}) {
		t.Fatalf("queue = %v, want the newest 4", got)
	}
	// A smaller bound drops several at once; retried items count like others.
	it := e.item("q", "3")
	if err := e.queuer().Retry(e.ctx, "q", it.ID, 5, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if d := e.enqueue("q", "7", 2); d != 3 {
		t.Fatalf("dropped %d, want 3", d)
	}
	if got := bodies(e.dueAll("q")); !slices.Equal(got, []string{"6", "7"}) {
		t.Fatalf("queue = %v, want 6 7", got)
	}
	// A dropped item is gone like an acknowledged one.
	if err := e.queuer().Retry(e.ctx, "q", it.ID, 6, time.Now()); !errors.Is(err, guestlink.ErrQueueItemNotFound) {
		t.Fatalf("Retry of a dropped item = %v, want ErrQueueItemNotFound", err)
	}
	// The default bound, DefaultQueueLen, is far above 3.
	if d := e.enqueue("q", "8", 0); d != 0 {
		t.Fatalf("dropped %d under the default bound", d)
	}
	if got := bodies(e.dueAll("q")); !slices.Equal(got, []string{"6", "7", "8"}) {
		t.Fatalf("queue = %v, want 6 7 8", got)
	}
}

// testQueueQuickEnqueues: ids follow the order of enqueuing even when many
// items are enqueued within one tick of the clock.
func testQueueQuickEnqueues(t *testing.T, e *env) {
	var want []string
	for i := range 200 {
		b := fmt.Sprintf("%03d", i)
		want = append(want, b)
		e.enqueue("fast", b, 0)
	}
	items := e.dueAll("fast")
	if got := bodies(items); !slices.Equal(got, want) {
		t.Fatalf("200 quick enqueues came back as %v", got)
	}
	if !slices.IsSortedFunc(items, func(a, b guestlink.QueueItem) int { return strings.Compare(a.ID, b.ID) }) {
		t.Fatal("item ids do not sort in the order of enqueuing")
	}
}

// testQueueConcurrent enqueues from 16 goroutines into one bounded queue while
// another acknowledges what is due: no call fails, the bound holds, and every
// item is either left, dropped or acknowledged.
func testQueueConcurrent(t *testing.T, e *env) {
	q := e.queuer()
	const workers, each, bound = 16, 20, 50
	var (
		wg           sync.WaitGroup
		mu           sync.Mutex
		totalDropped int
		acked        int
	)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				d, err := q.Enqueue(e.ctx, "busy", fmt.Appendf(nil, "%d-%d", w, i), bound)
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
	wg.Go(func() {
		for range 20 {
			items, _, err := q.Due(e.ctx, "busy", time.Now(), 5)
			if err != nil {
				t.Errorf("Due: %v", err)
				return
			}
			for _, it := range items {
				if err := q.Ack(e.ctx, "busy", it.ID); err != nil {
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
	left := e.dueAll("busy")
	if len(left) > bound {
		t.Fatalf("%d items left, bound %d", len(left), bound)
	}
	// An Ack of an item that was dropped just before counts twice here, so the
	// books balance only within the acknowledgements.
	if n := len(left) + totalDropped; n > workers*each || n+acked < workers*each {
		t.Fatalf("left %d + dropped %d + acknowledged %d vs enqueued %d", len(left), totalDropped, acked, workers*each)
	}
	seen := map[string]bool{}
	for _, it := range left {
		if seen[string(it.Body)] {
			t.Fatalf("item %s left twice", it.Body)
		}
		seen[string(it.Body)] = true
	}
}

// testQueueNames: a queue is named by 1 to 64 characters of [A-Za-z0-9._-];
// other names are refused, and queue items are not rooms, links or guests.
func testQueueNames(t *testing.T, e *env) {
	q := e.queuer()
	for _, name := range []string{"", "a/b", "../room", "a b", "é", strings.Repeat("q", 65)} {
		if _, err := q.Enqueue(e.ctx, name, []byte("x"), 0); err == nil {
			t.Errorf("Enqueue(%q) accepted", name)
		}
		if _, _, err := q.Due(e.ctx, name, time.Now(), 0); err == nil {
			t.Errorf("Due(%q) accepted", name)
		}
	}
	long := strings.Repeat("q", 64)
	for _, name := range []string{"room", "guest", "A.b_c-9", long} {
		e.enqueue(name, "x", 0)
	}
	if got, err := q.Queues(e.ctx); err != nil || !slices.Equal(got, []string{"A.b_c-9", "guest", long, "room"}) {
		t.Fatalf("Queues = %v, %v", got, err)
	}
	if st := e.stats(); st != (guestlink.Stats{}) {
		t.Fatalf("Stats with queues named room and guest: %+v, want nothing counted", st)
	}
	if _, err := e.s.Room(e.ctx, "room"); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Fatalf("a queue named room reads as a room: %v", err)
	}
}

// testQueueReopen: the queues are durable: a restart keeps every item with its
// attempts and due time, and new items still come after the old ones.
func testQueueReopen(t *testing.T, e *env) {
	for _, b := range []string{"first", "second", "third"} {
		e.enqueue("wh", b, 0)
	}
	items := e.dueAll("wh")
	retryAt := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	if err := e.queuer().Retry(e.ctx, "wh", items[1].ID, 2, retryAt); err != nil {
		t.Fatal(err)
	}
	if err := e.queuer().Ack(e.ctx, "wh", items[0].ID); err != nil {
		t.Fatal(err)
	}
	e.restart()
	got := e.dueAll("wh")
	if !slices.Equal(bodies(got), []string{"second", "third"}) || got[0].Attempts != 2 || !got[0].NextAt.Equal(retryAt) || got[0].ID != items[1].ID {
		t.Fatalf("after a restart: %+v, want second (2 attempts, due %v) and third", got, retryAt)
	}
	e.enqueue("wh", "fourth", 0)
	if all := bodies(e.dueAll("wh")); !slices.Equal(all, []string{"second", "third", "fourth"}) {
		t.Fatalf("after a restart and an Enqueue: %v", all)
	}
	if names, err := e.queuer().Queues(e.ctx); err != nil || !slices.Equal(names, []string{"wh"}) {
		t.Fatalf("Queues after a restart = %v, %v", names, err)
	}
}

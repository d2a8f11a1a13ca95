package webhook

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/guestgate/guestgate/guestlink"
	badgerstore "github.com/guestgate/guestgate/store/badger"
)

// leaseTable is the leases of queues that several instances share, as a
// shared store keeps them, on the real clock.
type leaseTable struct {
	mu   sync.Mutex
	held map[string]heldLease // by queue
}

type heldLease struct {
	holder string
	until  time.Time
}

// lease returns the lease of queue as it is now.
func (lt *leaseTable) lease(queue string) heldLease {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.held[queue]
}

// instanceQueues is one instance's view of queues that several share: one
// Badger store's queues, and the leases of a leaseTable. Once dead, the
// instance has lost the store: it can neither take, renew nor give up a
// lease.
type instanceQueues struct {
	guestlink.Queuer
	leases *leaseTable
	dead   atomic.Bool
}

func (q *instanceQueues) LeaseQueue(_ context.Context, queue, holder string, until time.Time) (bool, error) {
	if q.dead.Load() {
		return false, fmt.Errorf("the database is down: %w", guestlink.ErrStoreUnavailable)
	}
	q.leases.mu.Lock()
	defer q.leases.mu.Unlock()
	if cur, ok := q.leases.held[queue]; ok && cur.holder != holder && time.Now().Before(cur.until) {
		return false, nil
	}
	q.leases.held[queue] = heldLease{holder, until}
	return true, nil
}

// sharedHubs returns n Hubs on one store's queues, as n instances on a shared
// store would run them, with quick retries, the queues polled every 20 ms and
// leases of term, and the instances' views of the store.
func sharedHubs(t *testing.T, n int, term time.Duration) ([]*Hub, []*instanceQueues, *leaseTable) {
	t.Helper()
	store, err := badgerstore.Open(filepath.Join(t.TempDir(), "db"), badgerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	table := &leaseTable{held: map[string]heldLease{}}
	var (
		hubs  []*Hub
		views []*instanceQueues
	)
	for range n {
		q := &instanceQueues{Queuer: store, leases: table}
		h := NewHub(q, zap.NewNop())
		if h.leaser == nil {
			t.Fatal("a Hub on a QueueLeaser does not lease")
		}
		h.backoffBase, h.backoffMax = 10*time.Millisecond, 80*time.Millisecond
		h.pollEvery, h.leaseTerm = 20*time.Millisecond, term
		t.Cleanup(func() { h.Close() })
		hubs, views = append(hubs, h), append(views, q)
	}
	return hubs, views, table
}

// deliveryIDs returns the delivery ids of ds, in the order they arrived.
func deliveryIDs(ds []delivery) []string {
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.header.Get(HeaderID))
	}
	return ids
}

// TestHubsShareAQueue: three Hubs on one shared store's queue, as three
// instances run them. The first Hub, alone at first, takes the lease and
// delivers the first event; the others are published through the other two
// in turn, so that no publication wakes the holder: it finds them by
// polling. The receiver gets every event once, in the order they were
// published, and the lease is one Hub's. Without the lease each Hub would
// deliver what the others enqueued too.
func TestHubsShareAQueue(t *testing.T) {
	rc := newReceiver(t, func(int) int { return http.StatusOK })
	hubs, _, table := sharedHubs(t, 3, time.Minute)
	ep := Endpoint{URL: rc.srv.URL, Secrets: []string{testSecret}}
	register(t, hubs[0], ep)
	const events = 30
	want := []string{"e_00"}
	hubs[0].Publish(guestlink.Event{ID: want[0], Type: guestlink.EventRoomPut, Room: "demo"})
	waitFor(t, "the first event", 5*time.Second, func() bool { return len(rc.ok()) == 1 })
	register(t, hubs[1], ep)
	register(t, hubs[2], ep)
	for i := 1; i < events; i++ {
		id := fmt.Sprintf("e_%02d", i)
		hubs[1+i%2].Publish(guestlink.Event{ID: id, Type: guestlink.EventRoomPut, Room: "demo"})
		want = append(want, id)
	}
	waitFor(t, "every event", 10*time.Second, func() bool { return len(rc.ok()) >= events })
	time.Sleep(200 * time.Millisecond) // ten polls: room for a second delivery to show
	if got := deliveryIDs(rc.deliveries()); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("delivered %v,\nwant once each in order %v", got, want)
	}
	if l := table.lease(queueName(ep.URL)); l.holder != hubs[0].holder {
		t.Errorf("the queue's lease is held by %q, want the first Hub", l.holder)
	}
}

// TestHubTakesOver: when the Hub that holds a queue's lease stops, another
// takes the queue over and delivers what was enqueued meanwhile, once each,
// in order: at once when the holder stopped (it gives its lease up), and
// only once the lease has run out when the holder's instance lost the store
// (it can neither renew nor give up its lease).
func TestHubTakesOver(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(h *Hub, q *instanceQueues)
		// givenUp: the lease ended when the holder stopped.
		givenUp bool
	}{
		{"holder stopped", func(h *Hub, _ *instanceQueues) { h.Close() }, true},
		{"holder lost the store", func(_ *Hub, q *instanceQueues) { q.dead.Store(true) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, func(int) int { return http.StatusOK })
			hubs, views, table := sharedHubs(t, 2, 300*time.Millisecond)
			ep := Endpoint{URL: rc.srv.URL, Secrets: []string{testSecret}}
			register(t, hubs[0], ep)
			hubs[0].Publish(guestlink.Event{ID: "e_0", Type: guestlink.EventRoomPut, Room: "demo"})
			waitFor(t, "the first event", 5*time.Second, func() bool { return len(rc.ok()) == 1 })
			register(t, hubs[1], ep)
			queue := queueName(ep.URL)
			if l := table.lease(queue); l.holder != hubs[0].holder {
				t.Fatalf("the lease is %q's after the first hub delivered, want the first hub's", l.holder)
			}

			tc.stop(hubs[0], views[0])
			stopped := time.Now()
			// The second hub may have taken a lease given up already.
			l := table.lease(queue)
			end := stopped
			if runs := l.holder == hubs[0].holder && l.until.After(stopped); runs {
				end = l.until
			}
			if givenUp := end == stopped; givenUp != tc.givenUp {
				t.Fatalf("the lease is %q's until %v after the stop; given up: %v, want %v", l.holder, l.until.Sub(stopped), givenUp, tc.givenUp)
			}
			want := []string{"e_0"}
			for i := 1; i <= 5; i++ {
				id := fmt.Sprintf("e_%d", i)
				hubs[1].Publish(guestlink.Event{ID: id, Type: guestlink.EventRoomPut, Room: "demo"})
				want = append(want, id)
			}
			waitFor(t, "the events published after the stop", 10*time.Second, func() bool { return len(rc.ok()) >= len(want) })
			time.Sleep(100 * time.Millisecond) // five polls: room for a second delivery to show
			ds := rc.deliveries()
			if got := deliveryIDs(ds); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("delivered %v,\nwant once each in order %v", got, want)
			}
			for _, d := range ds[1:] {
				if d.at.Before(end) {
					t.Errorf("%s was delivered %v before the stopped holder's lease ended", d.header.Get(HeaderID), end.Sub(d.at))
				}
			}
			if l := table.lease(queue); l.holder != hubs[1].holder {
				t.Errorf("the lease is %q's, want the second hub's", l.holder)
			}
		})
	}
}

// TestHubStopLetsAnAnswerThrough: a hub that stops while an endpoint is
// answering a delivery (it took the event, its answer is on the way) waits
// for the answer, up to stopGrace, and acknowledges the event, so that the
// hub that takes the queue over does not send it again.
func TestHubStopLetsAnAnswerThrough(t *testing.T) {
	arrived := make(chan struct{})
	rc := newReceiver(t, func(n int) int {
		if n == 1 {
			close(arrived)
			time.Sleep(stopGrace / 3)
		}
		return http.StatusOK
	})
	hubs, _, _ := sharedHubs(t, 2, 300*time.Millisecond)
	ep := Endpoint{URL: rc.srv.URL, Secrets: []string{testSecret}}
	register(t, hubs[0], ep)
	register(t, hubs[1], ep)
	hubs[0].Publish(guestlink.Event{ID: "e_0", Type: guestlink.EventRoomPut, Room: "demo"})
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the first event never reached the endpoint")
	}
	hubs[0].Close()
	hubs[1].Publish(guestlink.Event{ID: "e_1", Type: guestlink.EventRoomPut, Room: "demo"})
	waitFor(t, "the event published after the stop", 10*time.Second, func() bool { return len(rc.ok()) >= 2 })
	time.Sleep(100 * time.Millisecond) // room for a second delivery to show
	if got := deliveryIDs(rc.deliveries()); strings.Join(got, " ") != "e_0 e_1" {
		t.Errorf("delivered %v, want e_0 and e_1 once each", got)
	}
}

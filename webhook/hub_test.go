package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/teststore"
	badgerstore "github.com/guestgate/guestgate/store/badger"
)

// delivery is one request a test receiver got.
type delivery struct {
	header http.Header
	body   []byte
	status int
	at     time.Time // when it arrived
}

// receiver is a webhook endpoint for tests: answer decides the status of
// each request (by its number, from 1).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []delivery
	answer func(n int) int
}

func newReceiver(t *testing.T, answer func(n int) int) *receiver {
	rc := &receiver{answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.got) + 1
		status := rc.answer(n)
		rc.got = append(rc.got, delivery{header: r.Header.Clone(), body: body, status: status, at: time.Now()})
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// ok returns the deliveries answered with 2xx.
func (rc *receiver) ok() []delivery {
	var out []delivery
	for _, d := range rc.deliveries() {
		if d.status/100 == 2 {
			out = append(out, d)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testHub is a hub on a fresh Badger store, with quick retries.
func testHub(t *testing.T, logger *zap.Logger) (*Hub, *badgerstore.Store) {
	t.Helper()
	store := teststore.Open(t)
	h := NewHub(store, logger)
	h.backoffBase, h.backoffMax = 10*time.Millisecond, 80*time.Millisecond
	t.Cleanup(func() { h.Close() }) // before the store's Close: cleanups run last first
	return h, store
}

// register registers endpoints with h and fails the test on an error.
func register(t *testing.T, h *Hub, endpoints ...Endpoint) *Registration {
	t.Helper()
	r, err := h.Register(endpoints)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestHubDeliversSignedEvents: every published event reaches every endpoint
// whose filter wants it, once, signed the Standard Webhooks way (the
// library for Go accepts it; with two secrets, with either), with the event's
// type and id in the headers and the guest's name and email only where the
// endpoint asks for them. The headers of the format it replaced are gone.
func TestHubDeliversSignedEvents(t *testing.T) {
	plain := newReceiver(t, func(int) int { return http.StatusNoContent })
	withEmails := newReceiver(t, func(int) int { return http.StatusOK })
	onlyLeft := newReceiver(t, func(int) int { return http.StatusOK })
	h, _ := testHub(t, zap.NewNop())
	register(t, h,
		Endpoint{URL: plain.srv.URL + "/hook", Secrets: []string{testSecret}},
		Endpoint{URL: onlyLeft.srv.URL, Secrets: []string{testSecret}, Events: []string{guestlink.EventGuestLeft}},
	)
	// A secret being rotated: the receiver checks with either.
	register(t, h, Endpoint{URL: withEmails.srv.URL, Secrets: []string{otherSecret, testSecret}, Emails: true})
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	events := []guestlink.Event{
		{ID: "e_1", Type: guestlink.EventAccessOn, Time: at, Room: "demo", Actor: "api-key:abcd"},
		{ID: "e_2", Type: guestlink.EventGuestRedeemed, Time: at, Room: "demo", Link: "l_1", Guest: "g_1", Actor: "guest", GuestName: "Ada", GuestEmail: "ada@example.com", Role: "speaker"},
	}
	for _, e := range events {
		h.Publish(e)
	}
	waitFor(t, "both events at both receivers", 5*time.Second, func() bool {
		return len(plain.ok()) == 2 && len(withEmails.ok()) == 2
	})
	for _, rc := range []*receiver{plain, withEmails} {
		for i, d := range rc.ok() {
			if err := libVerify(t, testSecret, d.body, d.header); err != nil {
				t.Errorf("delivery %d: the Standard Webhooks library refuses it: %v", i, err)
			}
			if rc == withEmails {
				if err := libVerify(t, otherSecret, d.body, d.header); err != nil {
					t.Errorf("delivery %d: the Standard Webhooks library refuses it with the other secret: %v", i, err)
				}
				if n := len(strings.Fields(d.header.Get("webhook-signature"))); n != 2 {
					t.Errorf("delivery %d: %d signatures, want one per secret", i, n)
				}
			}
			for _, old := range []string{"X-Guestgate-Signature", "X-Guestgate-Timestamp", "X-Guestgate-Delivery"} {
				if v := d.header.Get(old); v != "" {
					t.Errorf("delivery %d carries %s: %q", i, old, v)
				}
			}
			if ct := d.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var got guestlink.Event
			if err := json.Unmarshal(d.body, &got); err != nil {
				t.Fatalf("body %s: %v", d.body, err)
			}
			want := events[i]
			if rc == plain {
				want.GuestName, want.GuestEmail = "", ""
			}
			if got != want {
				t.Errorf("body %s, want %+v", d.body, want)
			}
			if d.header.Get(HeaderEvent) != want.Type || d.header.Get(HeaderID) != want.ID {
				t.Errorf("event headers %q %q, want %q %q", d.header.Get(HeaderEvent), d.header.Get(HeaderID), want.Type, want.ID)
			}
		}
	}
	if b := string(plain.ok()[1].body); strings.Contains(b, "guest_email") || strings.Contains(b, "ada@") || strings.Contains(b, "guest_name") {
		t.Errorf("without audit_emails the body holds the guest's name or email: %s", b)
	}
	if b := string(withEmails.ok()[1].body); !strings.Contains(b, `"guest_email":"ada@example.com"`) {
		t.Errorf("with audit_emails the body lacks the email: %s", b)
	}
	// The filtered endpoint got nothing; a guest.left reaches it.
	h.Publish(guestlink.Event{ID: "e_3", Type: guestlink.EventGuestLeft, Room: "demo", Guest: "g_1", Actor: "guest"})
	waitFor(t, "guest.left at the filtered receiver", 5*time.Second, func() bool { return len(onlyLeft.ok()) == 1 })
	waitFor(t, "guest.left at the others", 5*time.Second, func() bool { return len(plain.ok()) == 3 && len(withEmails.ok()) == 3 })
	if d := onlyLeft.deliveries(); len(d) != 1 || d[0].header.Get(HeaderEvent) != guestlink.EventGuestLeft {
		t.Fatalf("the guest.left-only endpoint got %d deliveries", len(d))
	}
}

// TestHubRetriesWithBackoff: a failing endpoint gets the same event again,
// with the same delivery id, after a growing pause, until it takes it; then
// the queue is empty.
func TestHubRetriesWithBackoff(t *testing.T) {
	rc := newReceiver(t, func(n int) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	h, store := testHub(t, zap.NewNop())
	register(t, h, Endpoint{URL: rc.srv.URL, Secrets: []string{testSecret}})
	start := time.Now()
	h.Publish(guestlink.Event{ID: "e_1", Type: guestlink.EventRoomPut, Room: "demo"})
	waitFor(t, "the event after three failures", 5*time.Second, func() bool { return len(rc.ok()) == 1 })
	d := rc.deliveries()
	if len(d) != 4 {
		t.Fatalf("%d requests, want 3 failures and 1 success", len(d))
	}
	for _, x := range d {
		if x.header.Get(HeaderID) != "e_1" {
			t.Fatalf("a retry carried delivery id %q", x.header.Get(HeaderID))
		}
	}
	// Backoff of 10, 20, 40 ms, each at least 3/4 of that.
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Fatalf("three retries took %v: no backoff", took)
	}
	waitFor(t, "the queue to empty", 5*time.Second, func() bool {
		qs, err := store.Queues(context.Background())
		return err == nil && len(qs) == 0
	})
}

// TestHubDeadEndpoint: a dead endpoint is tried about once per pause, not
// once per event, with one warning per pause; its queue keeps the newest
// events up to its bound, with one warning for the drops; when it answers
// again, the queued events arrive. No log line repeats the endpoint's path,
// which may itself be the secret (a "catch hook" URL).
func TestHubDeadEndpoint(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	rc := newReceiver(t, func(int) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	core, logs := observer.New(zap.InfoLevel)
	h, store := testHub(t, zap.New(core))
	h.maxLen = 5
	ep := register(t, h, Endpoint{URL: rc.srv.URL + "/hooks/catch/s3cretpath/", Secrets: []string{testSecret}}).endpoints[0]
	for i := range 40 {
		h.Publish(guestlink.Event{ID: "e_" + strconv.Itoa(i), Type: guestlink.EventRoomPut, Room: "demo"})
	}
	time.Sleep(600 * time.Millisecond)
	attempts := len(rc.deliveries())
	pauses := logs.FilterMessage("webhook: endpoint failing; pausing its deliveries").Len()
	drops := logs.FilterMessage("webhook: queue full, dropped the oldest undelivered events").All()
	// 40 events, but the endpoint is tried about once per pause (10 to 80 ms),
	// not once per event, and warned about once per pause.
	if attempts < 3 || attempts > 25 || pauses < attempts-2 || pauses > attempts {
		t.Fatalf("%d attempts and %d pause warnings for a dead endpoint in 600 ms", attempts, pauses)
	}
	if len(drops) != 1 || drops[0].ContextMap()["dropped"] != int64(1) {
		t.Fatalf("drop warnings %v, want one (rate-limited) for the first drop", drops)
	}
	items, _, err := store.Due(context.Background(), ep.queue, time.Now().Add(time.Hour), 100)
	if err != nil || len(items) != 5 {
		t.Fatalf("queue holds %d items (%v), want the bound, 5", len(items), err)
	}
	// The endpoint comes back: the 5 newest events arrive.
	down.Store(false)
	waitFor(t, "the queued events", 5*time.Second, func() bool { return len(rc.ok()) == 5 })
	var ids []string
	for _, d := range rc.ok() {
		ids = append(ids, d.header.Get(HeaderID))
	}
	// A retried event may come after newer ones.
	slices.Sort(ids)
	if strings.Join(ids, " ") != "e_35 e_36 e_37 e_38 e_39" {
		t.Fatalf("delivered %v, want the newest 5", ids)
	}
	waitFor(t, "the recovery note", time.Second, func() bool {
		return logs.FilterMessage("webhook: endpoint answers again").Len() == 1
	})
	for _, e := range logs.All() {
		if line := fmt.Sprint(e.Message, e.ContextMap()); strings.Contains(line, "s3cretpath") {
			t.Fatalf("a log line repeats the endpoint's path: %s", line)
		}
	}
}

// TestHubSlowEndpointGetsEachEventOnce: an endpoint that takes its time to
// answer, well within the delivery timeout, gets every event once, and its
// queue empties. A batch's queue operations once shared one timeout
// (storeTimeout, 10 s): with answers of 4 s, the acknowledgements after the
// second one failed, and 5 of 8 events came again with the next event (seen
// through Caddy); a hanging endpoint's retries were not recorded either, so
// its events were never given up. Here storeTimeout is 150 ms and each answer
// takes 60 ms.
func TestHubSlowEndpointGetsEachEventOnce(t *testing.T) {
	rc := newReceiver(t, func(int) int {
		time.Sleep(60 * time.Millisecond)
		return http.StatusNoContent
	})
	h, store := testHub(t, zap.NewNop())
	h.storeTimeout = 150 * time.Millisecond
	register(t, h, Endpoint{URL: rc.srv.URL, Secrets: []string{testSecret}})
	for i := range batch {
		h.Publish(guestlink.Event{ID: "e_" + strconv.Itoa(i), Type: guestlink.EventRoomPut, Room: "demo"})
	}
	waitFor(t, "the events", 5*time.Second, func() bool { return len(rc.ok()) >= batch })
	// One more event wakes the dispatcher, which would deliver again what it
	// failed to acknowledge.
	h.Publish(guestlink.Event{ID: "e_last", Type: guestlink.EventRoomPut, Room: "demo"})
	waitFor(t, "the queue to empty", 5*time.Second, func() bool {
		qs, err := store.Queues(context.Background())
		return err == nil && len(qs) == 0
	})
	time.Sleep(200 * time.Millisecond)
	ids := deliveryIDs(rc.deliveries())
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("event %s delivered twice to a slow endpoint; deliveries %v", id, ids)
		}
		seen[id] = true
	}
	if len(ids) != batch+1 {
		t.Fatalf("deliveries %v, want the %d events once each", ids, batch+1)
	}
}

// TestHubStopsWithoutLosingEvents: Publish never waits for an endpoint;
// unregistering the last endpoint stops the dispatcher at once, cutting a
// hanging delivery after stopGrace, and the events it had not delivered stay
// queued, with no attempt counted.
func TestHubStopsWithoutLosingEvents(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	h, store := testHub(t, zap.NewNop())
	reg := register(t, h, Endpoint{URL: hang.URL, Secrets: []string{testSecret}})
	// publish returns at once although the endpoint hangs.
	for i := range 3 {
		start := time.Now()
		h.Publish(guestlink.Event{ID: "e_" + strconv.Itoa(i), Type: guestlink.EventRoomPut, Room: "demo"})
		if took := time.Since(start); took > time.Second {
			t.Fatalf("publish took %v", took)
		}
	}
	waitFor(t, "a delivery in flight", 5*time.Second, func() bool { return calls.Load() == 1 })
	// The last handler goes: the dispatcher stops at once, the hanging
	// delivery is cancelled and not counted as an attempt.
	start := time.Now()
	h.Unregister(reg)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("stopping took %v", took)
	}
	items, _, err := store.Due(context.Background(), reg.endpoints[0].queue, time.Now(), 100)
	if err != nil || len(items) != 3 || items[0].Attempts != 0 {
		t.Fatalf("after the stop the queue holds %+v (%v), want the 3 events, none attempted", items, err)
	}
	// Events are not queued while no guest_admin has webhooks.
	h.Publish(guestlink.Event{ID: "e_x", Type: guestlink.EventRoomPut, Room: "demo"})
	items, _, _ = store.Due(context.Background(), reg.endpoints[0].queue, time.Now(), 100)
	if len(items) != 3 {
		t.Fatalf("an event was queued without an endpoint: %d items", len(items))
	}
}

// BenchmarkRedeemWebhook measures what one webhook adds to a guest's
// redemption (Service.Redeem on a Badger store): the hook's one Enqueue. The
// dispatcher does not run, so only the request path is measured.
func BenchmarkRedeemWebhook(b *testing.B) {
	for _, hooks := range []int{0, 1} {
		b.Run("webhooks="+strconv.Itoa(hooks), func(b *testing.B) {
			store := teststore.Open(b)
			h := NewHub(store, zap.NewNop())
			h.maxLen = 1 << 30
			svc := &guestlink.Service{Store: store, Now: time.Now}
			if hooks > 0 {
				e := Endpoint{URL: "http://127.0.0.1:9/", Secrets: []string{testSecret}}
				ss, err := e.signers()
				if err != nil {
					b.Fatal(err)
				}
				ep := newEndpoint(e, ss)
				h.regs = []*Registration{{endpoints: []*endpoint{ep}}}
				h.mu.Lock()
				h.updateLocked() // no dispatcher: register would start one
				h.mu.Unlock()
				svc.Events = h.Publish
			}
			ctx := context.Background()
			l := teststore.RoomWithLinks(b, svc, "bench", guestlink.RoomSpec{Name: "Bench"}, guestlink.LinkSpec{Name: "Bench"})[0]
			b.ResetTimer()
			for b.Loop() {
				if _, _, _, err := svc.Redeem(ctx, l.Token, guestlink.GuestInput{Name: "Ada", Email: "ada@example.com"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package integration

import (
	"encoding/json"
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

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// hookSecret is the webhook secret of these tests, in the Standard Webhooks
// form (whsec_ and the base64 of 32 bytes); hookSecretNew replaces it in the
// rotation test.
const (
	hookSecret    = "whsec_aW50ZWdyYXRpb24td2ViaG9vay1zZWNyZXQtMDEyMzQ1Njc="
	hookSecretNew = "whsec_TWZLUTlyOEdLWXFyVHdqVVBEOElMUFpJbzJMYUxhU3c="
)

// verifyHook checks a delivery with the Standard Webhooks library for Go, as
// a receiver does, with secret.
func verifyHook(t *testing.T, secret string, d hookDelivery) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("the Standard Webhooks library refuses the secret: %v", err)
	}
	return wh.Verify(d.Body, d.Header)
}

// hookEvent is the body of a delivery.
type hookEvent struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Time       time.Time `json:"time"`
	Room       string    `json:"room"`
	Link       string    `json:"link"`
	Guest      string    `json:"guest"`
	Actor      string    `json:"actor"`
	GuestName  string    `json:"guest_name"`
	GuestEmail string    `json:"guest_email"`
	Role       string    `json:"role"`
}

// hookDelivery is one request the receiver got.
type hookDelivery struct {
	Path   string
	Header http.Header
	Body   []byte
	Status int
	Event  hookEvent
}

// hookReceiver is a room backend's webhook endpoint: it records every request
// and answers with answer(path, n), n counting that path's requests from 1.
type hookReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	got    []hookDelivery
	counts map[string]int
	answer func(path string, n int) int
	// hang, if set, makes every request wait that long (or until the
	// delivery is cancelled) before it is answered.
	hang time.Duration
}

func newHookReceiver(t *testing.T, answer func(path string, n int) int, hang time.Duration) *hookReceiver {
	rc := &hookReceiver{t: t, counts: map[string]int{}, answer: answer, hang: hang}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if rc.hang > 0 {
			select {
			case <-time.After(rc.hang):
			case <-r.Context().Done():
				return
			}
		}
		rc.mu.Lock()
		rc.counts[r.URL.Path]++
		status := http.StatusOK
		if rc.answer != nil {
			status = rc.answer(r.URL.Path, rc.counts[r.URL.Path])
		}
		d := hookDelivery{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Status: status}
		if err := json.Unmarshal(body, &d.Event); err != nil {
			t.Errorf("delivery body %q is not an event: %v", body, err)
		}
		rc.got = append(rc.got, d)
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// newDownReceiver is a receiver that answers 503 until up is called, and
// 200 from then on.
func newDownReceiver(t *testing.T) (rc *hookReceiver, up func()) {
	var down atomic.Bool
	down.Store(true)
	rc = newHookReceiver(t, func(string, int) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}, 0)
	return rc, func() { down.Store(false) }
}

// webhook is the Caddyfile block of a webhook to path on this receiver.
func (rc *hookReceiver) webhook(path string, events ...string) []string {
	lines := []string{"webhook " + rc.srv.URL + path + " {", "\tsecret " + hookSecret}
	if len(events) > 0 {
		lines = append(lines, "\tevents "+strings.Join(events, " "))
	}
	return append(lines, "}")
}

// all returns every request to path so far.
func (rc *hookReceiver) all(path string) []hookDelivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []hookDelivery
	for _, d := range rc.got {
		if d.Path == path {
			out = append(out, d)
		}
	}
	return out
}

// delivered returns the requests to path answered with 2xx: the deliveries.
func (rc *hookReceiver) delivered(path string) []hookDelivery {
	var out []hookDelivery
	for _, d := range rc.all(path) {
		if d.Status/100 == 2 {
			out = append(out, d)
		}
	}
	return out
}

// waitDelivered waits until path has n deliveries and returns them.
func (rc *hookReceiver) waitDelivered(path string, n int, timeout time.Duration) []hookDelivery {
	rc.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		d := rc.delivered(path)
		if len(d) >= n {
			return d
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("%s: %d deliveries after %v, want %d: %v", path, len(d), timeout, n, types(d))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitAttempted waits up to 20 s for the first delivery to path, answered
// or not.
func (rc *hookReceiver) waitAttempted(path string) {
	rc.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(rc.all(path)) == 0 {
		if time.Now().After(deadline) {
			rc.t.Fatalf("%s: no delivery was attempted", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// types lists the event types of ds, sorted.
func types(ds []hookDelivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Event.Type)
	}
	slices.Sort(out)
	return out
}

// checkDeliveries asserts what every delivery must be: signed with
// hookSecret the Standard Webhooks way (the library accepts it), JSON,
// headers matching the body, each event delivered once.
func checkDeliveries(t *testing.T, ds []hookDelivery) {
	t.Helper()
	seen := map[string]bool{}
	for _, d := range ds {
		if err := verifyHook(t, hookSecret, d); err != nil {
			t.Errorf("%s delivery %s: %v", d.Event.Type, d.Body, err)
		}
		if ct := d.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		if d.Header.Get("X-Guestgate-Event") != d.Event.Type || d.Header.Get("webhook-id") != d.Event.ID || d.Event.ID == "" {
			t.Errorf("headers event=%q webhook-id=%q for body %s", d.Header.Get("X-Guestgate-Event"), d.Header.Get("webhook-id"), d.Body)
		}
		if seen[d.Event.ID] {
			t.Errorf("event %s (%s) delivered twice", d.Event.ID, d.Event.Type)
		}
		seen[d.Event.ID] = true
	}
}

// TestWebhookDeliversEveryEvent: the events of guest_admin and of
// guest_gateway (redeemed, left) arrive once each, signed, with no guest name
// or email by default.
func TestWebhookDeliversEveryEvent(t *testing.T) {
	rc := newHookReceiver(t, nil, 0)
	g := startGateway(t, config{AdminExtra: rc.webhook("/events")})

	g.putRoom("hooks", map[string]any{"name": "Webhook room", "admission": "moderator"})
	g.setAccess("hooks", true)
	l := g.createLink("hooks", map[string]any{"name": "Guests"})
	ada := g.browser()
	if p := ada.redeem(linkPath(t, l), "Ada Lovelace", "ada@example.com"); p.Status != http.StatusSeeOther {
		t.Fatalf("redeeming: status %d, want 303 to the lobby", p.Status)
	}
	redeemed := rc.waitDelivered("/events", 4, 20*time.Second)[3].Event
	if redeemed.Type != "guest.redeemed" || redeemed.Room != "hooks" || redeemed.Link != l.ID || redeemed.Guest == "" || redeemed.Actor != "guest" || redeemed.Role != "viewer" {
		t.Fatalf("fourth event %+v, want guest.redeemed of the link by the guest, a viewer", redeemed)
	}
	g.mustAPI(http.StatusOK, http.MethodPost, "/api/rooms/hooks/lobby/"+redeemed.Guest+"/admit", nil, nil)
	g.mustAPI(http.StatusNoContent, http.MethodDelete, "/api/rooms/hooks/guests/"+redeemed.Guest, nil, nil)
	// A second guest leaves from the lobby.
	bob := g.browser()
	if p := bob.redeem(linkPath(t, l), "Bob", "bob@example.com"); p.Status != http.StatusSeeOther {
		t.Fatalf("redeeming: status %d", p.Status)
	}
	bob.leave()
	g.setAccess("hooks", false)

	want := []string{"access.off", "access.on", "guest.admitted", "guest.left", "guest.redeemed", "guest.redeemed", "guest.removed", "link.created", "room.put"}
	rc.waitDelivered("/events", len(want), 20*time.Second)
	time.Sleep(500 * time.Millisecond) // room for a duplicate to show
	ds := rc.delivered("/events")
	if got := types(ds); !slices.Equal(got, want) {
		t.Fatalf("event types %v, want %v", got, want)
	}
	checkDeliveries(t, ds)
	for _, d := range ds {
		if strings.Contains(string(d.Body), "guest_email") || strings.Contains(string(d.Body), "guest_name") ||
			strings.Contains(string(d.Body), "example.com") || strings.Contains(string(d.Body), "Lovelace") {
			t.Errorf("without audit_emails a delivery shows the guest's name or email: %s", d.Body)
		}
		if d.Event.Room != "hooks" || d.Event.Time.IsZero() {
			t.Errorf("delivery %s", d.Body)
		}
		if d.Event.Type == "guest.admitted" && (d.Event.Guest != redeemed.Guest || !strings.HasPrefix(d.Event.Actor, "api-key:")) {
			t.Errorf("admitted %s, want guest %s by the API key", d.Body, redeemed.Guest)
		}
	}
	if n := len(rc.all("/events")); n != len(want) {
		t.Errorf("%d requests for %d events, want one each", n, len(want))
	}
}

// TestWebhookRetriesUntilDelivered: an endpoint that fails three times gets
// the event on the fourth attempt, after a backoff.
func TestWebhookRetriesUntilDelivered(t *testing.T) {
	rc := newHookReceiver(t, func(_ string, n int) int {
		if n <= 3 {
			return http.StatusBadGateway
		}
		return http.StatusNoContent
	}, 0)
	g := startGateway(t, config{AdminExtra: rc.webhook("/flaky", "room.put")})
	start := time.Now()
	g.putRoom("retry", map[string]any{"name": "Retry"})
	ds := rc.waitDelivered("/flaky", 1, 30*time.Second)
	took := time.Since(start)
	all := rc.all("/flaky")
	if len(all) != 4 || len(ds) != 1 || ds[0].Event.Type != "room.put" {
		t.Fatalf("%d requests, %d delivered (%v), want 3 failures then 1 delivery of room.put", len(all), len(ds), types(ds))
	}
	for _, d := range all {
		if d.Event.ID != ds[0].Event.ID {
			t.Fatalf("a retry carried another event: %s", d.Body)
		}
		if err := verifyHook(t, hookSecret, d); err != nil {
			t.Errorf("attempt: %v", err)
		}
	}
	// 1 s, 2 s and 4 s, each at least 3/4 of that.
	if took < 5*time.Second {
		t.Errorf("delivered after %v: the retries did not back off", took)
	}
	t.Logf("delivered on the 4th attempt after %v", took)
}

// TestWebhookQueueSurvivesRestart: events queued while the endpoint is down
// survive a stop and start of Caddy and arrive afterwards.
func TestWebhookQueueSurvivesRestart(t *testing.T) {
	rc, up := newDownReceiver(t)
	cfg := config{AdminExtra: rc.webhook("/down")}
	g := startGateway(t, cfg)
	g.putRoom("restart", map[string]any{"name": "Restart"})
	g.setAccess("restart", true)
	rc.waitAttempted("/down")
	g.stop()
	attempted := types(rc.all("/down"))
	up()
	g.load(cfg)

	rc.waitDelivered("/down", 2, 30*time.Second)
	time.Sleep(500 * time.Millisecond)
	ds := rc.delivered("/down")
	if got := types(ds); !slices.Equal(got, []string{"access.on", "room.put"}) {
		t.Fatalf("after the restart: %v, want access.on and room.put once each (attempted before the stop: %v)", got, attempted)
	}
	checkDeliveries(t, ds)
}

// TestWebhookEventFilter: "events guest.redeemed" delivers only those, with
// the email under audit_emails; a config reload neither loses nor doubles an
// event.
func TestWebhookEventFilter(t *testing.T) {
	rc := newHookReceiver(t, nil, 0)
	extra := append(rc.webhook("/redeemed", "guest.redeemed"), rc.webhook("/all")...)
	cfg := config{AdminExtra: append(extra, "audit_emails")}
	g := startGateway(t, cfg)
	l := g.openRoomWithLink("filter", map[string]any{"name": "Filter"})
	g.browser().mustRedeem(linkPath(t, l), "Ada", "ada@example.com", "filter")
	rc.waitDelivered("/all", 4, 20*time.Second)
	ds := rc.waitDelivered("/redeemed", 1, 20*time.Second)
	if ds[0].Event.Type != "guest.redeemed" || ds[0].Event.GuestEmail != "ada@example.com" || ds[0].Event.GuestName != "Ada" {
		t.Fatalf("filtered delivery %s, want guest.redeemed with name and email (audit_emails)", ds[0].Body)
	}

	g.load(cfg) // a reload: the new config's guest_admin takes over the endpoints
	g.browser().mustRedeem(linkPath(t, l), "Bob", "bob@example.com", "filter")
	rc.waitDelivered("/redeemed", 2, 20*time.Second)
	rc.waitDelivered("/all", 5, 20*time.Second)
	time.Sleep(500 * time.Millisecond)
	filtered, all := rc.delivered("/redeemed"), rc.delivered("/all")
	if got := types(filtered); !slices.Equal(got, []string{"guest.redeemed", "guest.redeemed"}) {
		t.Fatalf("filtered endpoint got %v, want two guest.redeemed", got)
	}
	if got := types(all); !slices.Equal(got, []string{"access.on", "guest.redeemed", "guest.redeemed", "link.created", "room.put"}) {
		t.Fatalf("unfiltered endpoint got %v", got)
	}
	checkDeliveries(t, filtered)
	checkDeliveries(t, all)
}

// TestWebhookHangingEndpointDoesNotDelayGuests: a receiver that takes 30 s to
// answer does not slow down a redemption or the moderator API.
func TestWebhookHangingEndpointDoesNotDelayGuests(t *testing.T) {
	rc := newHookReceiver(t, nil, 30*time.Second)
	g := startGateway(t, config{AdminExtra: rc.webhook("/slow")})
	start := time.Now()
	l := g.openRoomWithLink("slow", map[string]any{"name": "Slow"})
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("making a room, access and a link took %v", took)
	}
	for i := range 3 {
		b := g.browser()
		path := linkPath(t, l)
		entry := b.get(path)
		start := time.Now()
		p := b.post(path, map[string][]string{"name": {"Guest " + strconv.Itoa(i)}, "email": {"g@example.com"}, "csrf": {entry.csrf()}}, nil)
		took := time.Since(start)
		if p.Status != http.StatusSeeOther {
			t.Fatalf("redemption %d: status %d", i, p.Status)
		}
		if took > 2*time.Second {
			t.Fatalf("redemption %d took %v with a hanging webhook endpoint", i, took)
		}
		t.Logf("redemption %d: %v", i, took)
	}
}

// TestWebhookSecretRotation: a secret is rotated without losing an event. With
// the old and the new secret in the webhook block, every delivery passes the
// Standard Webhooks library with either, so the receiver switches to the new
// one at its own pace; once the old one is taken out (a reload), deliveries
// pass with the new one only.
func TestWebhookSecretRotation(t *testing.T) {
	rc := newHookReceiver(t, nil, 0)
	block := func(secrets ...string) []string {
		lines := []string{"webhook " + rc.srv.URL + "/rotate {"}
		for _, s := range secrets {
			lines = append(lines, "\tsecret "+s)
		}
		return append(lines, "\tevents room.put", "}")
	}
	g := startGateway(t, config{AdminExtra: block(hookSecret, hookSecretNew)})
	g.putRoom("rotate", map[string]any{"name": "Rotate"})
	d := rc.waitDelivered("/rotate", 1, 20*time.Second)[0]
	for _, secret := range []string{hookSecret, hookSecretNew} {
		if err := verifyHook(t, secret, d); err != nil {
			t.Errorf("during the rotation, a receiver with %s refuses the delivery: %v", secret[:12], err)
		}
	}
	if n := len(strings.Fields(d.Header.Get("webhook-signature"))); n != 2 {
		t.Errorf("webhook-signature %q: %d signatures, want one per secret", d.Header.Get("webhook-signature"), n)
	}

	g.load(config{AdminExtra: block(hookSecretNew)})
	g.putRoom("rotate", map[string]any{"name": "Rotated"})
	d = rc.waitDelivered("/rotate", 2, 20*time.Second)[1]
	if err := verifyHook(t, hookSecretNew, d); err != nil {
		t.Errorf("after the rotation, the new secret refuses the delivery: %v", err)
	}
	if err := verifyHook(t, hookSecret, d); err == nil {
		t.Errorf("after the rotation, the old secret still accepts the delivery")
	}
}

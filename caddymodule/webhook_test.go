package caddymodule

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/guestgate/guestgate/guestlink"
	badgerstore "github.com/guestgate/guestgate/store/badger"
)

// verifyWebhook checks a webhook delivery the way the README shows a
// receiver doing it; TestReadmeShowsWebhookVerifier keeps the two the same.

// verifyWebhook checks a delivery: the signature over "<timestamp>.<body>"
// and a timestamp within 5 minutes of now.
func verifyWebhook(secret []byte, header http.Header, body []byte, now time.Time) error {
	ts := header.Get("X-Guestgate-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook: no valid timestamp")
	}
	if age := now.Sub(time.Unix(sec, 0)); age > 5*time.Minute || age < -5*time.Minute {
		return errors.New("webhook: timestamp too old or in the future")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(header.Get("X-Guestgate-Signature")), []byte(want)) {
		return errors.New("webhook: bad signature")
	}
	return nil
}

func TestReadmeShowsWebhookVerifier(t *testing.T) {
	src, err := os.ReadFile("webhook_test.go")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(src), "// verifyWebhook checks a delivery")
	end := strings.Index(string(src), "\nfunc TestReadmeShowsWebhookVerifier")
	if start < 0 || end < 0 {
		t.Fatal("verifyWebhook not found in webhook_test.go")
	}
	fn := strings.TrimSpace(string(src[start:end]))
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), fn) {
		t.Errorf("README.md does not show the verifier the tests use; its Webhooks section must contain, verbatim:\n%s", fn)
	}
}

func TestWebhookSignature(t *testing.T) {
	secret := []byte("a-webhook-secret-0123456789")
	body := []byte(`{"id":"e_1","type":"access.off","room":"demo"}`)
	now := time.Unix(1_800_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	header := http.Header{}
	header.Set(HeaderWebhookTimestamp, ts)
	header.Set(HeaderWebhookSignature, signWebhook(secret, ts, body))

	// An independent computation of the documented format.
	mac := hmac.New(sha256.New, secret)
	io.WriteString(mac, "1800000000."+string(body))
	if got, want := header.Get(HeaderWebhookSignature), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	if err := verifyWebhook(secret, header, body, now.Add(time.Minute)); err != nil {
		t.Fatalf("a genuine delivery: %v", err)
	}
	for _, tc := range []struct {
		name   string
		secret []byte
		body   []byte
		ts     string
		now    time.Time
	}{
		{"other secret", []byte("another-secret-0123456789"), body, ts, now},
		{"changed body", secret, []byte(`{"id":"e_1","type":"access.on","room":"demo"}`), ts, now},
		{"changed timestamp", secret, body, "1800000001", now},
		{"replayed later", secret, body, ts, now.Add(10 * time.Minute)},
		{"no timestamp", secret, body, "", now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := header.Clone()
			h.Set(HeaderWebhookTimestamp, tc.ts)
			if err := verifyWebhook(tc.secret, h, tc.body, tc.now); err == nil {
				t.Fatal("verified")
			}
		})
	}
}

func TestWebhookCaddyfileErrors(t *testing.T) {
	for _, tc := range []struct{ name, input, wantErr string }{
		{"no url", "guest_admin {\n\twebhook {\n\t\tsecret s\n\t}\n}", "wrong argument count"},
		{"two urls", "guest_admin {\n\twebhook https://a/ https://b/\n}", "wrong argument count"},
		{"relative url", "guest_admin {\n\twebhook hooks.example.com/x {\n\t\tsecret s\n\t}\n}", `webhook "hooks.example.com/x": must be an absolute http or https URL, at Testfile:2`},
		{"ftp url", "guest_admin {\n\twebhook ftp://hooks.example.com/ {\n\t\tsecret s\n\t}\n}", "must be an absolute http or https URL"},
		{"no secret", "guest_admin {\n\twebhook https://hooks.example.com/\n}", "webhook https://hooks.example.com/: secret is required, at Testfile:2"},
		{"secret without value", "guest_admin {\n\twebhook https://h/ {\n\t\tsecret\n\t}\n}", "wrong argument count or unexpected line ending after 'secret', at Testfile:3"},
		{"two secrets on a line", "guest_admin {\n\twebhook https://h/ {\n\t\tsecret a b\n\t}\n}", "wrong argument count"},
		{"duplicate secret", "guest_admin {\n\twebhook https://h/ {\n\t\tsecret a\n\t\tsecret b\n\t}\n}", "duplicate webhook option 'secret', at Testfile:4"},
		{"events without types", "guest_admin {\n\twebhook https://h/ {\n\t\tsecret a\n\t\tevents\n\t}\n}", "wrong argument count"},
		{"unknown event", "guest_admin {\n\twebhook https://h/ {\n\t\tsecret a\n\t\tevents guest.redeemed guest.joined\n\t}\n}", `unknown event type "guest.joined"; known: room.put,`},
		{"unknown option", "guest_admin {\n\twebhook https://h/ {\n\t\tsecret a\n\t\tretries 3\n\t}\n}", "unrecognized webhook option 'retries', at Testfile:4"},
		{"same url twice", "guest_admin {\n\twebhook https://h/ {\n\t\tsecret a\n\t}\n\twebhook https://h/ {\n\t\tsecret b\n\t}\n}", "duplicate webhook 'https://h/', at Testfile:7"},
		{"credentials stay out of errors", "guest_admin {\n\twebhook https://user:pw@h/x?token=t1 {\n\t\tevents nope\n\t}\n}", "webhook https://h/x: unknown event type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a Admin
			err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "pw") || strings.Contains(err.Error(), "t1") {
				t.Fatalf("error %q shows the URL's credentials", err)
			}
		})
	}
}

func TestWebhookChecks(t *testing.T) {
	base := Admin{APIKeys: []string{"k"}}
	for _, tc := range []struct {
		name    string
		hooks   []Webhook
		wantErr string
	}{
		{"fine", []Webhook{{URL: "https://h/x", Secret: "s", Events: []string{"access.on"}}}, ""},
		{"no secret", []Webhook{{URL: "https://h/x"}}, "secret is required"},
		{"no host", []Webhook{{URL: "https:///x", Secret: "s"}}, "absolute http or https URL"},
		{"bad event", []Webhook{{URL: "https://h/x", Secret: "s", Events: []string{"link.clicked"}}}, `unknown event type "link.clicked"`},
		{"twice", []Webhook{{URL: "https://h/x", Secret: "s"}, {URL: "https://h/x", Secret: "t"}}, "configured twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := base
			a.Webhooks = tc.hooks
			err := a.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.wantErr)
			}
		})
	}
	// The secret's length counts after placeholders are resolved.
	t.Setenv("GUESTGATE_TEST_WEBHOOK_SECRET", "short")
	_, err := newWebhookEndpoints([]Webhook{{URL: "https://h/x", Secret: "{env.GUESTGATE_TEST_WEBHOOK_SECRET}"}}, false)
	if err == nil || !strings.Contains(err.Error(), "secret must be at least 16 bytes after placeholders are resolved, got 5") {
		t.Fatalf("short secret: %v", err)
	}
	t.Setenv("GUESTGATE_TEST_WEBHOOK_SECRET", "long-enough-secret-0123")
	eps, err := newWebhookEndpoints([]Webhook{{URL: "https://h/x", Secret: "{env.GUESTGATE_TEST_WEBHOOK_SECRET}", Events: []string{"guest.left"}}}, true)
	if err != nil || string(eps[0].secret) != "long-enough-secret-0123" || !eps[0].wants("guest.left") || eps[0].wants("guest.redeemed") || !eps[0].emails {
		t.Fatalf("endpoint %+v, %v", eps, err)
	}
	if q := webhookQueue("https://h/x"); len(q) != 19 || q == webhookQueue("https://h/y") {
		t.Fatalf("queue name %q", q)
	}
}

// delivery is one request a test receiver got.
type delivery struct {
	header http.Header
	body   []byte
	status int
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
		rc.got = append(rc.got, delivery{header: r.Header.Clone(), body: body, status: status})
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
func testHub(t *testing.T, logger *zap.Logger) (*webhookHub, *badgerstore.Store) {
	t.Helper()
	store, err := badgerstore.Open(filepath.Join(t.TempDir(), "db"), badgerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := newWebhookHub(store, logger)
	h.backoffBase, h.backoffMax = 10*time.Millisecond, 80*time.Millisecond
	t.Cleanup(func() {
		h.Destruct()
		store.Close()
	})
	return h, store
}

func endpoint(t *testing.T, url, secret string, emails bool, events ...string) *webhookEndpoint {
	t.Helper()
	eps, err := newWebhookEndpoints([]Webhook{{URL: url, Secret: secret, Events: events}}, emails)
	if err != nil {
		t.Fatal(err)
	}
	return eps[0]
}

func TestWebhookHubDeliversSignedEvents(t *testing.T) {
	plain := newReceiver(t, func(int) int { return http.StatusNoContent })
	withEmails := newReceiver(t, func(int) int { return http.StatusOK })
	onlyLeft := newReceiver(t, func(int) int { return http.StatusOK })
	h, _ := testHub(t, zap.NewNop())
	const secret = "a-webhook-secret-0123456789"
	if err := h.register(&webhookReg{endpoints: []*webhookEndpoint{
		endpoint(t, plain.srv.URL+"/hook", secret, false),
		endpoint(t, onlyLeft.srv.URL, secret, false, guestlink.EventGuestLeft),
	}}); err != nil {
		t.Fatal(err)
	}
	if err := h.register(&webhookReg{endpoints: []*webhookEndpoint{endpoint(t, withEmails.srv.URL, secret, true)}}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	events := []guestlink.Event{
		{ID: "e_1", Type: guestlink.EventAccessOn, Time: at, Room: "demo", Actor: "api-key:abcd"},
		{ID: "e_2", Type: guestlink.EventGuestRedeemed, Time: at, Room: "demo", Link: "l_1", Guest: "g_1", Actor: "guest", GuestName: "Ada", GuestEmail: "ada@example.com"},
	}
	for _, e := range events {
		h.publish(e)
	}
	waitFor(t, "both events at both receivers", 5*time.Second, func() bool {
		return len(plain.ok()) == 2 && len(withEmails.ok()) == 2
	})
	for _, rc := range []*receiver{plain, withEmails} {
		for i, d := range rc.ok() {
			if err := verifyWebhook([]byte(secret), d.header, d.body, time.Now()); err != nil {
				t.Errorf("delivery %d: %v", i, err)
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
			if d.header.Get(HeaderWebhookEvent) != want.Type || d.header.Get(HeaderWebhookDelivery) != want.ID {
				t.Errorf("event headers %q %q, want %q %q", d.header.Get(HeaderWebhookEvent), d.header.Get(HeaderWebhookDelivery), want.Type, want.ID)
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
	h.publish(guestlink.Event{ID: "e_3", Type: guestlink.EventGuestLeft, Room: "demo", Guest: "g_1", Actor: "guest"})
	waitFor(t, "guest.left at the filtered receiver", 5*time.Second, func() bool { return len(onlyLeft.ok()) == 1 })
	waitFor(t, "guest.left at the others", 5*time.Second, func() bool { return len(plain.ok()) == 3 && len(withEmails.ok()) == 3 })
	if d := onlyLeft.deliveries(); len(d) != 1 || d[0].header.Get(HeaderWebhookEvent) != guestlink.EventGuestLeft {
		t.Fatalf("the guest.left-only endpoint got %d deliveries", len(d))
	}
}

func TestWebhookHubRetriesWithBackoff(t *testing.T) {
	rc := newReceiver(t, func(n int) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	h, store := testHub(t, zap.NewNop())
	if err := h.register(&webhookReg{endpoints: []*webhookEndpoint{endpoint(t, rc.srv.URL, "a-webhook-secret-0123456789", false)}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	h.publish(guestlink.Event{ID: "e_1", Type: guestlink.EventRoomPut, Room: "demo"})
	waitFor(t, "the event after three failures", 5*time.Second, func() bool { return len(rc.ok()) == 1 })
	d := rc.deliveries()
	if len(d) != 4 {
		t.Fatalf("%d requests, want 3 failures and 1 success", len(d))
	}
	for _, x := range d {
		if x.header.Get(HeaderWebhookDelivery) != "e_1" {
			t.Fatalf("a retry carried delivery id %q", x.header.Get(HeaderWebhookDelivery))
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

func TestWebhookHubDeadEndpoint(t *testing.T) {
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
	ep := endpoint(t, rc.srv.URL, "a-webhook-secret-0123456789", false)
	if err := h.register(&webhookReg{endpoints: []*webhookEndpoint{ep}}); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		h.publish(guestlink.Event{ID: "e_" + strconv.Itoa(i), Type: guestlink.EventRoomPut, Room: "demo"})
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
		ids = append(ids, d.header.Get(HeaderWebhookDelivery))
	}
	// A retried event may come after newer ones.
	slices.Sort(ids)
	if strings.Join(ids, " ") != "e_35 e_36 e_37 e_38 e_39" {
		t.Fatalf("delivered %v, want the newest 5", ids)
	}
	waitFor(t, "the recovery note", time.Second, func() bool {
		return logs.FilterMessage("webhook: endpoint answers again").Len() == 1
	})
}

func TestWebhookHubStopsWithoutLosingEvents(t *testing.T) {
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
	reg := &webhookReg{endpoints: []*webhookEndpoint{endpoint(t, hang.URL, "a-webhook-secret-0123456789", false)}}
	if err := h.register(reg); err != nil {
		t.Fatal(err)
	}
	// publish returns at once although the endpoint hangs.
	for i := range 3 {
		start := time.Now()
		h.publish(guestlink.Event{ID: "e_" + strconv.Itoa(i), Type: guestlink.EventRoomPut, Room: "demo"})
		if took := time.Since(start); took > time.Second {
			t.Fatalf("publish took %v", took)
		}
	}
	waitFor(t, "a delivery in flight", 5*time.Second, func() bool { return calls.Load() == 1 })
	// The last handler goes: the dispatcher stops at once, the hanging
	// delivery is cancelled and not counted as an attempt.
	start := time.Now()
	h.unregister(reg)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("stopping took %v", took)
	}
	items, _, err := store.Due(context.Background(), reg.endpoints[0].queue, time.Now(), 100)
	if err != nil || len(items) != 3 || items[0].Attempts != 0 {
		t.Fatalf("after the stop the queue holds %+v (%v), want the 3 events, none attempted", items, err)
	}
	// Events are not queued while no guest_admin has webhooks.
	h.publish(guestlink.Event{ID: "e_x", Type: guestlink.EventRoomPut, Room: "demo"})
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
			store, err := badgerstore.Open(filepath.Join(b.TempDir(), "db"), badgerstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			h := newWebhookHub(store, zap.NewNop())
			h.maxLen = 1 << 30
			svc := &guestlink.Service{Store: store, Now: time.Now}
			if hooks > 0 {
				eps, err := newWebhookEndpoints([]Webhook{{URL: "http://127.0.0.1:9/", Secret: "a-webhook-secret-0123456789"}}, false)
				if err != nil {
					b.Fatal(err)
				}
				h.regs = []*webhookReg{{endpoints: eps}}
				h.mu.Lock()
				h.updateLocked() // no dispatcher: register would start one
				h.mu.Unlock()
				svc.Events = h.publish
			}
			ctx := context.Background()
			if _, _, err := svc.PutRoom(ctx, "bench", guestlink.RoomSpec{Name: "Bench"}); err != nil {
				b.Fatal(err)
			}
			if _, err := svc.SetGuestAccess(ctx, "bench", true); err != nil {
				b.Fatal(err)
			}
			l, err := svc.CreateLink(ctx, "bench", guestlink.LinkSpec{Name: "Bench"})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, _, _, err := svc.Redeem(ctx, l.Token, guestlink.GuestInput{Name: "Ada", Email: "ada@example.com"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/internal/ratelimit"
	"github.com/guestgate/guestgate/internal/teststore"
)

// rlHandler is a handler with an API key, moderator tokens, rooms "demo" and
// "other", and a budget of 5 failed authentications per minute per client,
// on an injected clock.
func rlHandler(t *testing.T) (*Handler, *time.Time) {
	t.Helper()
	svc, now := teststore.Service(t, epoch)
	h, err := New(Config{
		Service:        svc,
		Authenticators: append(apiKeys(t, testKey), modTokens(t, ModeratorTokenConfig{Keys: []string{modKey}, Now: svc.Now})),
		AuthFailures:   ratelimit.Budget{Events: 5, Window: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"demo", "other"} {
		if r := doFrom(t, h, "192.0.2.99", "PUT", "/api/rooms/"+id, `{"name":"Room `+id+`"}`, "Bearer "+testKey); r.status != 201 {
			t.Fatalf("PUT room %s: %d", id, r.status)
		}
	}
	return h, now
}

// doFrom is do from client address ip, with auth as the whole Authorization
// header ("" sends none).
func doFrom(t *testing.T, h http.Handler, ip, method, path, body, auth string) result {
	t.Helper()
	r := httptest.NewRequest(method, "http://rooms.test"+path, strings.NewReader(body))
	r.RemoteAddr = ip + ":40000"
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	res := result{status: w.Code, header: w.Header()}
	if strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(w.Body.Bytes(), &res.body); err != nil {
			t.Fatalf("%s %s: bad JSON %q", method, path, w.Body.String())
		}
	}
	return res
}

// TestAuthRateLimit protects the budget of failed authentications (once,
// 300 wrong keys got 300 answers 401). Every kind of failure spends the
// client's budget: no credential, an unknown key, another scheme, a forged,
// expired or room-less moderator token. Once the 5 are spent, the client gets
// 429 rate_limited with Retry-After (60 s / 5) for every request that needs a
// credential, the right API key and a valid moderator token included, until the
// bucket refills; the Manage page, which needs no credential, still opens.
// Successes and 403s (a valid token for another room) never spend it, another
// client address keeps its own budget, and the refused requests change nothing.
func TestAuthRateLimit(t *testing.T) {
	h, now := rlHandler(t)
	const a, b = "192.0.2.1", "198.51.100.7"
	good := "Bearer " + hs256(t, claims(*now))

	// Successes and 403s cost nothing.
	for range 50 {
		if r := doFrom(t, h, a, "GET", "/api/rooms/demo", "", "Bearer "+testKey); r.status != 200 {
			t.Fatalf("the API key: %d", r.status)
		}
		if r := doFrom(t, h, a, "GET", "/api/rooms/demo", "", good); r.status != 200 {
			t.Fatalf("a moderator token: %d", r.status)
		}
		if r := doFrom(t, h, a, "GET", "/api/rooms/other", "", good); r.status != 403 {
			t.Fatalf("a moderator token for another room: %d", r.status)
		}
	}

	failures := []struct{ name, auth string }{
		{"no credential", ""},
		{"an unknown key", "Bearer wrong-key-0123456789-abcdef"},
		{"the key under another scheme", "Basic " + testKey},
		{"a forged moderator token", "Bearer " + tamper(hs256(t, claims(*now)))},
		{"an expired moderator token", "Bearer " + hs256(t, with(claims(now.Add(-2*time.Hour)), "exp", now.Add(-time.Hour).Unix()))},
	}
	for _, f := range failures {
		r := doFrom(t, h, a, "PUT", "/api/rooms/demo/guest-access", `{"enabled":true}`, f.auth)
		if code, _ := errCode(r); r.status != 401 || code != "unauthorized" {
			t.Errorf("%s within the budget: %d %q, want 401 unauthorized", f.name, r.status, code)
		}
	}
	limited := func(what, ip, method, path, body, auth string) {
		t.Helper()
		r := doFrom(t, h, ip, method, path, body, auth)
		if code, _ := errCode(r); r.status != 429 || code != "rate_limited" || r.header.Get("Retry-After") != "12" {
			t.Errorf("%s: %d %q Retry-After %q, want 429 rate_limited with Retry-After 12", what, r.status, code, r.header.Get("Retry-After"))
		}
	}
	limited("a 6th unknown key", a, "GET", "/api/rooms/demo", "", "Bearer wrong-key-0123456789-abcdef")
	limited("the right key past the budget", a, "PUT", "/api/rooms/demo/guest-access", `{"enabled":true}`, "Bearer "+testKey)
	limited("a valid moderator token past the budget", a, "GET", "/api/rooms/demo", "", good)
	limited("no credential past the budget", a, "GET", "/api/me", "", "")
	if r := doFrom(t, h, a, "GET", "/", "", ""); r.status != 200 {
		t.Errorf("the Manage page past the budget: %d, want 200", r.status)
	}
	// Another address has its own budget.
	if r := doFrom(t, h, b, "GET", "/api/rooms/demo", "", "Bearer wrong-key-0123456789-abcdef"); r.status != 401 {
		t.Errorf("an unknown key from another address: %d, want 401", r.status)
	}
	if r := doFrom(t, h, b, "GET", "/api/rooms/demo", "", "Bearer "+testKey); r.status != 200 {
		t.Errorf("the API key from another address: %d, want 200", r.status)
	}
	// Nothing the limited client sent took effect.
	if r := doFrom(t, h, b, "GET", "/api/rooms/demo", "", "Bearer "+testKey); r.body["guest_access"] != false {
		t.Errorf("guest access is %v after refused PUTs, want false", r.body["guest_access"])
	}

	// One event's share of the window later, one more attempt: the right key
	// works and costs nothing ...
	*now = now.Add(11 * time.Second)
	limited("the right key before the refill", a, "GET", "/api/rooms/demo", "", "Bearer "+testKey)
	*now = now.Add(time.Second)
	for i := range 3 {
		if r := doFrom(t, h, a, "GET", "/api/rooms/demo", "", "Bearer "+testKey); r.status != 200 {
			t.Errorf("the right key after the refill, request %d: %d, want 200", i+1, r.status)
		}
	}
	// ... and a wrong one spends it again.
	if r := doFrom(t, h, a, "GET", "/api/rooms/demo", "", "Bearer wrong-key-0123456789-abcdef"); r.status != 401 {
		t.Errorf("an unknown key after the refill: %d, want 401", r.status)
	}
	limited("the right key after that failure", a, "GET", "/api/rooms/demo", "", "Bearer "+testKey)
}

// TestAuthRateLimitClientIP: failures count under Config.ClientIP when it is
// set (Caddy passes its client IP, which honours trusted_proxies), not under
// the connection's address; without ClientIP, under the host of RemoteAddr
// whatever its port.
func TestAuthRateLimitClientIP(t *testing.T) {
	svc, _ := teststore.Service(t, epoch)
	budget := ratelimit.Budget{Events: 2, Window: time.Minute}

	byHeader, err := New(Config{Service: svc, Authenticators: apiKeys(t, testKey), AuthFailures: budget,
		ClientIP: func(r *http.Request) string { return r.Header.Get("X-Test-Client") }})
	if err != nil {
		t.Fatal(err)
	}
	send := func(h http.Handler, remote, client string) int {
		r := httptest.NewRequest("GET", "http://rooms.test/api/rooms/demo", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Test-Client", client)
		r.Header.Set("Authorization", "Bearer wrong-key-0123456789-abcdef")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	// One connection address, two clients.
	for _, client := range []string{"203.0.113.1", "203.0.113.2"} {
		for i, want := range []int{401, 401, 429} {
			if got := send(byHeader, "127.0.0.1:1000", client); got != want {
				t.Errorf("ClientIP set, client %s, failure %d: %d, want %d", client, i+1, got, want)
			}
		}
	}

	byRemote, err := New(Config{Service: svc, Authenticators: apiKeys(t, testKey), AuthFailures: budget})
	if err != nil {
		t.Fatal(err)
	}
	// One host on three ports is one client.
	for i, port := range []string{"1000", "1001", "1002"} {
		want := 401
		if i == 2 {
			want = 429
		}
		if got := send(byRemote, "192.0.2.1:"+port, ""); got != want {
			t.Errorf("no ClientIP, port %s: %d, want %d", port, got, want)
		}
	}
}

// TestAuthRateLimitOff: a zero budget and an AdminEndpoint handler (Caddy's
// admin endpoint, which checks no credential) never answer 429.
func TestAuthRateLimitOff(t *testing.T) {
	h, _ := newTestHandler(t, "") // no AuthFailures
	for i := range 100 {
		if r := do(t, h, "GET", "/api/rooms/demo", "", "wrong-key-0123456789"); r.status != 401 {
			t.Fatalf("failure %d without a budget: %d, want 401", i+1, r.status)
		}
	}
	trusted, err := New(Config{Service: h.svc, Authenticators: []Authenticator{AdminEndpoint{}}, AuthFailures: ratelimit.Budget{Events: 1, Window: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if r := do(t, trusted, "GET", "/api/rooms/demo", "", "wrong-key-0123456789"); r.status != 404 {
			t.Fatalf("request %d to an AdminEndpoint handler: %d, want 404 room_not_found", i+1, r.status)
		}
	}
}

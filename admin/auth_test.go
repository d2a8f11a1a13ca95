package admin

import (
	"net/http/httptest"
	"testing"
)

// TestCredentials: each authenticator's credential as clients and audit logs
// see it. GET /api/me reports the kind (the Manage page and the CLI read it),
// every change is recorded under the actor (audit logs and webhook consumers
// match on it), and a handler asks its authenticators in turn, so that the
// moderator token, the second, is reached. The admin endpoint's handler
// (AdminEndpoint) needs no credential and serves no Manage page.
func TestCredentials(t *testing.T) {
	h, now, events := modHandler(t) // API keys, then moderator tokens
	endpoint, err := New(Config{Service: h.svc, Authenticators: []Authenticator{AdminEndpoint{}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		h           *Handler
		cred        string
		kind, actor string
		page        int // the status of GET /
	}{
		{"API key", h, testKey, KindAPIKey, "api-key:" + fingerprint(testKey), 200},
		{"moderator token", h, hs256(t, claims(*now)), KindModerator, "moderator:u-42", 200},
		{"admin endpoint", endpoint, "", KindAdminEndpoint, "admin-endpoint", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := do(t, tc.h, "GET", "/api/me", "", tc.cred); r.status != 200 || r.body["kind"] != tc.kind {
				t.Errorf("GET /api/me: %d kind %v, want 200 %s", r.status, r.body["kind"], tc.kind)
			}
			before := len(events())
			if r := do(t, tc.h, "PUT", "/api/rooms/demo/guest-access", `{"enabled":true}`, tc.cred); r.status != 200 {
				t.Fatalf("PUT guest-access: %d", r.status)
			}
			if evs := events()[before:]; len(evs) != 1 || evs[0].Actor != tc.actor {
				t.Errorf("events %+v, want one by %s", evs, tc.actor)
			}
			w := httptest.NewRecorder()
			tc.h.ServeHTTP(w, httptest.NewRequest("GET", "http://rooms.test/", nil))
			if w.Code != tc.page {
				t.Errorf("GET /: %d, want %d", w.Code, tc.page)
			}
		})
	}
}

// TestAuthenticatorsConfig: a handler needs an authenticator, and every
// authenticator at least one secret to check; AdminEndpoint, which checks
// nothing, is taken only alone, because an API key beside it would check
// nothing either.
func TestAuthenticatorsConfig(t *testing.T) {
	h, _ := newTestHandler(t, "")
	keys := apiKeys(t, testKey)
	for _, tc := range []struct {
		name string
		auth []Authenticator
		ok   bool
	}{
		{"none", nil, false},
		{"API keys", keys, true},
		{"admin endpoint", []Authenticator{AdminEndpoint{}}, true},
		{"admin endpoint after API keys", append(keys[:1:1], AdminEndpoint{}), false},
		{"admin endpoint before API keys", append([]Authenticator{&AdminEndpoint{}}, keys...), false},
	} {
		if _, err := New(Config{Service: h.svc, Authenticators: tc.auth}); (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	if _, err := NewAPIKeys(nil); err == nil {
		t.Error("API keys without a key accepted")
	}
	if _, err := NewModeratorTokens(ModeratorTokenConfig{}); err == nil {
		t.Error("moderator tokens without a key accepted")
	}
}

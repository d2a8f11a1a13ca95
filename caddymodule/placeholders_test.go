package caddymodule

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/guestgate/guestgate/token"
)

// TestPlaceholders: a gated request's replacer answers each identity
// placeholder with its own claim of the guest's session, and leaves every
// other key to the placeholders of Caddy and other handlers.
func TestPlaceholders(t *testing.T) {
	c := &token.Claims{Name: "Ada", Email: "ada@example.com", Room: "demo", LinkID: "l_1", Role: "speaker"}
	c.Subject = "g_1"
	repl := caddy.NewReplacer()
	r := httptest.NewRequest("GET", "/rooms/demo", nil)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	setPlaceholders(r, c)
	for key, want := range map[string]string{
		"http.auth.user.id":        "g_1",
		"http.guest_gateway.name":  "Ada",
		"http.guest_gateway.email": "ada@example.com",
		"http.guest_gateway.room":  "demo",
		"http.guest_gateway.link":  "l_1",
		"http.guest_gateway.role":  "speaker",
	} {
		if got, ok := repl.GetString(key); !ok || got != want {
			t.Errorf("{%s} = %q, %v; want %q", key, got, ok, want)
		}
	}
	if got, ok := repl.Get("http.guest_gateway.token"); ok {
		t.Errorf("{http.guest_gateway.token} answered %v; no such placeholder", got)
	}
}

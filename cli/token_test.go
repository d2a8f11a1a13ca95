package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/admin"
)

// demoModeratorKey is Caddyfile.example's moderator key.
const demoModeratorKey = "demo-moderator-key-change-me-0123456789"

// TestTokenCommand protects "caddy guestgate token", with which a newcomer
// tries the room backend's path on the demo: it prints a token, or the Manage
// page's link with the token in the fragment, that guest_admin's moderator
// tokens accept for the rooms given and no other; the key comes from --key or
// the environment; mistakes are usage errors (exit 2) that say what to fix;
// it needs no Caddy.
func TestTokenCommand(t *testing.T) {
	verifier, err := admin.NewModeratorTokens(admin.ModeratorTokenConfig{Keys: []string{demoModeratorKey}, RequireAudience: true})
	if err != nil {
		t.Fatal(err)
	}
	// accepts reports the rooms tok manages, or nil when refused.
	accepts := func(tok string) []string {
		r := httptest.NewRequest(http.MethodGet, "/api/me", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		c, ok := verifier.Authenticate(r)
		if !ok {
			return nil
		}
		return c.Rooms
	}
	noCaddy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("token called Caddy: %s %s", r.Method, r.URL)
	}))
	defer noCaddy.Close()

	for _, tc := range []struct {
		name       string
		env        string
		args       []string
		wantStatus int
		wantErr    string
		wantRooms  []string
		wantURL    string // the link before the token
	}{
		{"the demo", "", []string{"--room", "demo", "--key", demoModeratorKey}, 0, "", []string{"demo"}, ""},
		{"the key from the environment", demoModeratorKey, []string{"--room", "demo,physics"}, 0, "", []string{"demo", "physics"}, ""},
		{"a link to the Manage page", "", []string{"--room", "demo", "--key", demoModeratorKey, "--url", "http://localhost:8080/guest-admin"},
			0, "", []string{"demo"}, "http://localhost:8080/guest-admin/?room=demo#token="},
		{"no room", demoModeratorKey, nil, 2, "--room is required", nil, ""},
		{"no key", "", []string{"--room", "demo"}, 2, "give --key, or set GUESTGATE_MODERATOR_KEY", nil, ""},
		{"short key", "", []string{"--room", "demo", "--key", "short"}, 2, "at least 32 bytes", nil, ""},
		{"bad room", demoModeratorKey, []string{"--room", "a/b"}, 2, "room", nil, ""},
		{"too long", demoModeratorKey, []string{"--room", "demo", "--ttl", "48h"}, 2, "at most 24h", nil, ""},
		{"relative URL", demoModeratorKey, []string{"--room", "demo", "--url", "/guest-admin/"}, 2, "not an absolute URL", nil, ""},
		{"an argument", demoModeratorKey, []string{"demo"}, 2, "takes no arguments", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(moderatorKeyEnv, tc.env)
			status, err, out := runCLI(t, noCaddy, append([]string{"token"}, tc.args...)...)
			if status != tc.wantStatus || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("exit %d (%v), want %d with %q", status, err, tc.wantStatus, tc.wantErr)
			}
			if status != 0 {
				if strings.Count(out, ".") >= 2 && strings.Contains(out, "eyJ") {
					t.Errorf("a refused command printed a token: %q", out)
				}
				return
			}
			tok := strings.TrimSpace(out)
			if tc.wantURL != "" {
				var ok bool
				if tok, ok = strings.CutPrefix(tok, tc.wantURL); !ok {
					t.Fatalf("printed %q, want the link %s<token>", out, tc.wantURL)
				}
			}
			if got := accepts(tok); strings.Join(got, ",") != strings.Join(tc.wantRooms, ",") {
				t.Errorf("the token manages %v, want %v", got, tc.wantRooms)
			}
		})
	}

	// --json, for scripts.
	t.Setenv(moderatorKeyEnv, demoModeratorKey)
	status, err, out := runCLI(t, noCaddy, "token", "--room", "demo", "--ttl", "30m", "--json")
	var j struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if status != 0 || json.Unmarshal([]byte(out), &j) != nil || accepts(j.Token) == nil ||
		j.ExpiresAt.Before(time.Now().Add(29*time.Minute)) || j.ExpiresAt.After(time.Now().Add(31*time.Minute)) {
		t.Errorf("--json: exit %d (%v), %q", status, err, out)
	}
}

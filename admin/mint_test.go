package admin

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/token"
)

// TestMintModeratorToken protects the tokens "caddy guestgate token" mints
// for a newcomer to try the room backend's path: the moderator API takes them
// for their own rooms only, under the rules every room backend's token meets
// (require_audience included), typed guestgate-moderator+jwt; a token for
// another audience is refused, and a spec the API would refuse is refused
// when minting, with the reason.
func TestMintModeratorToken(t *testing.T) {
	h, now, _ := modHandlerWith(t, func(c *ModeratorTokenConfig) { c.RequireAudience = true })
	for _, tc := range []struct {
		name    string
		key     string
		spec    ModeratorTokenSpec
		mintErr string         // the error contains it; "" for a token
		want    map[string]int // path: status, for a minted token
	}{
		{"one room", modKey, ModeratorTokenSpec{Sub: "u-1", Name: "Ada", Rooms: []string{"demo"}, TTL: time.Hour}, "",
			map[string]int{"/api/rooms/demo/links": 200, "/api/rooms/other/links": 403}},
		{"two rooms as host", oldModKey, ModeratorTokenSpec{Sub: "u-2", Rooms: []string{"demo", "other"}, Role: RoleHost, TTL: 24 * time.Hour}, "",
			map[string]int{"/api/rooms/demo/links": 200, "/api/rooms/other/links": 200, "/api/rooms/third/links": 403}},
		{"another audience", modKey, ModeratorTokenSpec{Sub: "u-3", Rooms: []string{"demo"}, Audience: "https://elsewhere.example", TTL: time.Hour}, "",
			map[string]int{"/api/rooms/demo/links": 401}},
		{"a key no handler has", strings.Repeat("k", 32), ModeratorTokenSpec{Sub: "u-4", Rooms: []string{"demo"}, TTL: time.Hour}, "",
			map[string]int{"/api/rooms/demo/links": 401}},
		{"short key", "short-key", ModeratorTokenSpec{Sub: "u", Rooms: []string{"demo"}, TTL: time.Hour}, "at least 32 bytes", nil},
		{"no room", modKey, ModeratorTokenSpec{Sub: "u", TTL: time.Hour}, "room", nil},
		{"bad room id", modKey, ModeratorTokenSpec{Sub: "u", Rooms: []string{"a/b"}, TTL: time.Hour}, "room", nil},
		{"no sub", modKey, ModeratorTokenSpec{Rooms: []string{"demo"}, TTL: time.Hour}, "sub", nil},
		{"unknown role", modKey, ModeratorTokenSpec{Sub: "u", Rooms: []string{"demo"}, Role: "admin", TTL: time.Hour}, "role", nil},
		{"over 24 h", modKey, ModeratorTokenSpec{Sub: "u", Rooms: []string{"demo"}, TTL: 25 * time.Hour}, "at most 24h", nil},
		{"no lifetime", modKey, ModeratorTokenSpec{Sub: "u", Rooms: []string{"demo"}}, "lifetime", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := MintModeratorToken(tc.key, tc.spec, *now)
			if tc.mintErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.mintErr) {
					t.Fatalf("minting: %v, want an error about %q", err, tc.mintErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			head, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
			var header map[string]any
			if err := json.Unmarshal(head, &header); err != nil || header["typ"] != token.ModeratorType || header["alg"] != "HS256" {
				t.Errorf("header %s, want typ %s and alg HS256", head, token.ModeratorType)
			}
			for path, status := range tc.want {
				if r := do(t, h, "GET", path, "", tok); r.status != status {
					t.Errorf("GET %s: %d, want %d (%v)", path, r.status, status, r.body)
				}
			}
		})
	}
}

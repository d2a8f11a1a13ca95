package admin

import (
	"encoding/json"
	"testing"
	"time"
)

// TestWireNames pins the JSON of every wire type to literal text. The handlers,
// the admin endpoint, the caddy guestgate command and the integration tests
// all use these types, so a renamed field would pass their round trips
// unnoticed while breaking every other client; this test is where it fails.
func TestWireNames(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	three := 3
	guest := GuestJSON{ID: "g_1", Name: "Ada", Email: "ada@example.com", LinkID: "l_1", LinkName: "Press", State: "waiting", Role: "viewer", RedeemedAt: at, UpdatedAt: at, WaitingSince: &at}
	const guestText = `{"id":"g_1","name":"Ada","email":"ada@example.com","link_id":"l_1","link_name":"Press","state":"waiting","role":"viewer","redeemed_at":"2026-05-01T12:00:00Z","updated_at":"2026-05-01T12:00:00Z","waiting_since":"2026-05-01T12:00:00Z"}`
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"error", ErrorJSON{Error: APIError{Code: "invalid", Message: "name is required", Field: "name"}},
			`{"error":{"code":"invalid","message":"name is required","field":"name"}}`},
		{"error with fields", ErrorJSON{Error: APIError{Code: "invalid", Message: "name is required; max_clicks must be at least 1", Field: "name",
			Fields: []FieldError{{Field: "name", Message: "name is required"}, {Field: "max_clicks", Message: "max_clicks must be at least 1"}}}},
			`{"error":{"code":"invalid","message":"name is required; max_clicks must be at least 1","field":"name",` +
				`"fields":[{"field":"name","message":"name is required"},{"field":"max_clicks","message":"max_clicks must be at least 1"}]}}`},
		{"error without field", ErrorJSON{Error: APIError{Code: "room_not_found", Message: "room not found"}},
			`{"error":{"code":"room_not_found","message":"room not found"}}`},
		{"admit all", AdmitAllJSON{Admitted: []GuestJSON{guest}, Count: 1}, `{"admitted":[` + guestText + `],"count":1}`},
		{"guest page", GuestPageJSON{Guests: []GuestJSON{}, NextCursor: ""}, `{"guests":[],"next_cursor":""}`},
		{"stores", StoresJSON{Stores: []StoreJSON{{Store: "/srv/a", GuestAdmin: true, LinkBase: "https://h/guest/", MaxLinks: 3}, {Store: "/srv/b", MaxLinks: 3}}},
			`{"stores":[{"store":"/srv/a","guest_admin":true,"link_base":"https://h/guest/","max_links":3},{"store":"/srv/b","guest_admin":false,"max_links":3}]}`},
		{"room", RoomJSON{ID: "demo", Name: "Demo", Kind: "room", Available: true, Admission: "auto", GuestAccess: true, LobbyMessage: "We start at 10:05", MaxLinks: 3,
			Links: []LinkJSON{{ID: "l_1", Name: "Press", URL: "https://h/guest/t", CreatedAt: at, ExpiresAt: &at, MaxClicks: &three, Clicks: 1, Role: "speaker", NotBefore: &at, Active: true}}, CreatedAt: at, UpdatedAt: at},
			`{"id":"demo","name":"Demo","kind":"room","available":true,"admission":"auto","guest_access":true,"lobby_message":"We start at 10:05","max_links":3,"links":[` +
				`{"id":"l_1","name":"Press","url":"https://h/guest/t","created_at":"2026-05-01T12:00:00Z","expires_at":"2026-05-01T12:00:00Z","max_clicks":3,"clicks":1,"role":"speaker","not_before":"2026-05-01T12:00:00Z","active":true}],` +
				`"created_at":"2026-05-01T12:00:00Z","updated_at":"2026-05-01T12:00:00Z"}`},
		{"restore", RestoreJSON{Store: "/srv/a", Restored: true, ReloadRequired: true, Message: "restored"},
			`{"store":"/srv/a","restored":true,"reload_required":true,"message":"restored"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("JSON\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

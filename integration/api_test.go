package integration

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/internal/atonce"
)

// TestModeratorAPI walks a moderator through the API of docs/DESIGN.md section 3: a room,
// the guest access switch, links up to the limit, and every refusal with its exact
// status and code.
func TestModeratorAPI(t *testing.T) {
	g := startGateway(t, config{})

	// Authentication comes first: no key, a wrong key, a key that is not Bearer.
	for _, tc := range []struct{ name, cred string }{
		{"no key", ""},
		{"wrong key", "integration-test-api-key-WRONG-456789"},
		{"key with a trailing character", apiKey + "x"},
	} {
		status, body := g.apiAs(tc.cred, http.MethodPut, "/api/rooms/demo", map[string]any{"name": "Demo"})
		wantAPIError(t, "PUT room with "+tc.name, status, body, http.StatusUnauthorized, "unauthorized", "")
		status, body = g.apiAs(tc.cred, http.MethodGet, "/api/rooms/demo", nil)
		wantAPIError(t, "GET room with "+tc.name, status, body, http.StatusUnauthorized, "unauthorized", "")
	}
	// The refused PUT must not have made the room.
	status, body := g.api(http.MethodGet, "/api/rooms/demo", nil)
	wantAPIError(t, "GET room after unauthorized PUT", status, body, http.StatusNotFound, "room_not_found", "")

	// Create: 201, then an update: 200.
	var room admin.RoomJSON
	g.mustAPI(http.StatusCreated, http.MethodPut, "/api/rooms/demo", map[string]any{"name": "Demo room"}, &room)
	if room.ID != "demo" || room.Name != "Demo room" || room.Kind != "room" || !room.Available || room.Admission != "auto" || room.GuestAccess {
		t.Errorf("new room = %+v, want demo/Demo room/room/available/auto with guest access off", room)
	}
	g.mustAPI(http.StatusOK, http.MethodPut, "/api/rooms/demo", map[string]any{"name": "Demo room"}, &room)

	// Guest access is off by default: no link.
	status, body = g.api(http.MethodPost, "/api/rooms/demo/links", map[string]any{"name": "Speakers"})
	wantAPIError(t, "link while guest access is off", status, body, http.StatusConflict, "guest_access_off", "")

	g.setAccess("demo", true)
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/demo", nil, &room)
	if !room.GuestAccess || len(room.Links) != 0 {
		t.Errorf("room after switching access on = %+v, want guest_access true and no links", room)
	}

	// Validation: 422 with the field.
	for _, tc := range []struct {
		name  string
		spec  any
		field string
	}{
		{"empty name", map[string]any{"name": ""}, "name"},
		{"blank name", map[string]any{"name": "   "}, "name"},
		{"no name", map[string]any{"max_clicks": 2}, "name"},
		{"81-character name", map[string]any{"name": string(make81())}, "name"},
		{"max_clicks 0", map[string]any{"name": "x", "max_clicks": 0}, "max_clicks"},
		{"max_clicks -1", map[string]any{"name": "x", "max_clicks": -1}, "max_clicks"},
		{"max_clicks a string", `{"name":"x","max_clicks":"3"}`, "max_clicks"},
		{"duration_days 0", map[string]any{"name": "x", "duration_days": 0}, "duration_days"},
		{"duration_days 366", map[string]any{"name": "x", "duration_days": 366}, "duration_days"},
		{"duration_days fractional", `{"name":"x","duration_days":1.5}`, "duration_days"},
	} {
		status, body := g.api(http.MethodPost, "/api/rooms/demo/links", tc.spec)
		wantAPIError(t, "link with "+tc.name, status, body, http.StatusUnprocessableEntity, "invalid", tc.field)
	}

	// Three links, each shape; the 4th is refused.
	two, one := 2, 1
	links := []admin.LinkJSON{
		g.createLink("demo", map[string]any{"name": "Unlimited"}),
		g.createLink("demo", map[string]any{"name": "Two clicks", "max_clicks": two}),
		g.createLink("demo", map[string]any{"name": "One day", "duration_days": one}),
	}
	if l := links[0]; l.MaxClicks != nil || l.ExpiresAt != nil || l.Clicks != 0 || !l.Active || l.Name != "Unlimited" {
		t.Errorf("unlimited link = %+v", l)
	}
	if l := links[1]; l.MaxClicks == nil || *l.MaxClicks != 2 || l.ExpiresAt != nil {
		t.Errorf("two-click link = %+v", l)
	}
	if l := links[2]; l.ExpiresAt == nil || l.ExpiresAt.Sub(l.CreatedAt) != 24*3600e9 {
		t.Errorf("one-day link = %+v, want expires_at = created_at + 24h", l)
	}
	for _, l := range links {
		linkPath(t, l) // the URL is under link_base
	}
	status, body = g.api(http.MethodPost, "/api/rooms/demo/links", map[string]any{"name": "Fourth"})
	wantAPIError(t, "4th link", status, body, http.StatusConflict, "link_limit", "")
	if !strings.Contains(string(body), "at most 3 links; delete one") {
		t.Errorf("the 4th link's error does not say the limit and the way out: %s", body)
	}

	// Validation comes before the limit, but the limit holds for valid input only.
	var listed []admin.LinkJSON
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/demo/links", nil, &listed)
	if len(listed) != 3 {
		t.Fatalf("links listed = %d, want 3", len(listed))
	}

	// Unknown rooms.
	status, body = g.api(http.MethodGet, "/api/rooms/nope", nil)
	wantAPIError(t, "GET unknown room", status, body, http.StatusNotFound, "room_not_found", "")
	status, body = g.api(http.MethodGet, "/api/rooms/DEMO", nil)
	wantAPIError(t, "GET room with other case", status, body, http.StatusNotFound, "room_not_found", "")
	status, body = g.api(http.MethodPut, "/api/rooms/nope/guest-access", map[string]any{"enabled": true})
	wantAPIError(t, "access on unknown room", status, body, http.StatusNotFound, "room_not_found", "")
	status, body = g.api(http.MethodPost, "/api/rooms/nope/links", map[string]any{"name": "x"})
	wantAPIError(t, "link in unknown room", status, body, http.StatusNotFound, "room_not_found", "")
	status, body = g.api(http.MethodGet, "/api/rooms/nope/links", nil)
	wantAPIError(t, "links of unknown room", status, body, http.StatusNotFound, "room_not_found", "")

	// Gallery rooms: no guest access, no links.
	g.mustAPI(http.StatusCreated, http.MethodPut, "/api/rooms/gallery1", map[string]any{"name": "Photos", "kind": "gallery"}, nil)
	status, body = g.api(http.MethodPut, "/api/rooms/gallery1/guest-access", map[string]any{"enabled": true})
	wantAPIError(t, "guest access on in a gallery", status, body, http.StatusUnprocessableEntity, "gallery_room", "")
	status, body = g.api(http.MethodPost, "/api/rooms/gallery1/links", map[string]any{"name": "x"})
	wantAPIError(t, "link in a gallery", status, body, http.StatusUnprocessableEntity, "gallery_room", "")
	// A room that had guest access and becomes a gallery refuses links too.
	g.putRoom("was-room", map[string]any{"name": "Was a room"})
	g.setAccess("was-room", true)
	g.mustAPI(http.StatusOK, http.MethodPut, "/api/rooms/was-room", map[string]any{"name": "Now photos", "kind": "gallery"}, &room)
	if room.GuestAccess {
		t.Errorf("a room turned gallery keeps guest access on")
	}
	status, body = g.api(http.MethodPost, "/api/rooms/was-room/links", map[string]any{"name": "x"})
	wantAPIError(t, "link in a room turned gallery", status, body, http.StatusUnprocessableEntity, "gallery_room", "")

	// Bad room specs and ids.
	status, body = g.api(http.MethodPut, "/api/rooms/demo", map[string]any{"kind": "hall"})
	wantAPIError(t, "room of unknown kind", status, body, http.StatusUnprocessableEntity, "invalid", "kind")
	status, body = g.api(http.MethodPut, "/api/rooms/bad%21id", map[string]any{"name": "x"})
	wantAPIError(t, "room with a bad id", status, body, http.StatusUnprocessableEntity, "invalid", "id")
	status, body = g.api(http.MethodPut, "/api/rooms/"+strings.Repeat("a", 65), map[string]any{"name": "x"})
	wantAPIError(t, "room with a 65-character id", status, body, http.StatusUnprocessableEntity, "invalid", "id")
	status, body = g.api(http.MethodPut, "/api/rooms/demo", map[string]any{"name": "x", "colour": "red"})
	wantAPIError(t, "room with an unknown field", status, body, http.StatusUnprocessableEntity, "invalid", "colour")
	status, body = g.api(http.MethodPut, "/api/rooms/demo", "{not json")
	wantAPIError(t, "room with a body that is not JSON", status, body, http.StatusBadRequest, "bad_json", "")
	status, body = g.api(http.MethodPut, "/api/rooms/demo/guest-access", map[string]any{})
	wantAPIError(t, "guest access without enabled", status, body, http.StatusUnprocessableEntity, "invalid", "enabled")

	// DELETE a link: 204, then its URL shows link-invalid, and a second DELETE 404s.
	victim := links[0]
	b := g.browser()
	wantPage(t, "entry page before delete", b.get(linkPath(t, victim)), http.StatusOK, "")
	status, body = g.api(http.MethodDelete, "/api/rooms/demo/links/"+victim.ID, nil)
	if status != http.StatusNoContent || len(body) != 0 {
		t.Errorf("DELETE link: %d %q, want 204 and no body", status, body)
	}
	wantPage(t, "entry page after delete", b.get(linkPath(t, victim)), http.StatusNotFound, "link-invalid")
	status, body = g.api(http.MethodDelete, "/api/rooms/demo/links/"+victim.ID, nil)
	wantAPIError(t, "DELETE deleted link", status, body, http.StatusNotFound, "link_not_found", "")
	// A link of one room cannot be deleted through another.
	g.putRoom("other", map[string]any{"name": "Other"})
	status, body = g.api(http.MethodDelete, "/api/rooms/other/links/"+links[1].ID, nil)
	wantAPIError(t, "DELETE link through another room", status, body, http.StatusNotFound, "link_not_found", "")
	if got := g.link("demo", links[1].ID); got.ID != links[1].ID {
		t.Errorf("link %s gone after a DELETE through another room", links[1].ID)
	}

	// After a delete there is room for one more link.
	g.createLink("demo", map[string]any{"name": "Replacement"})
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/demo/links", nil, &listed)
	if len(listed) != 3 {
		t.Errorf("links after delete and create = %d, want 3", len(listed))
	}
}

// make81 is a link name of 81 characters (one over the limit), multi-byte so that
// a byte count would be wrong too.
func make81() []rune {
	r := make([]rune, 81)
	for i := range r {
		r[i] = 'é'
	}
	return r
}

// TestConcurrentLinkCreation: ten moderators creating links in one room at once
// get exactly max_links (3) links; the others are refused with link_limit.
func TestConcurrentLinkCreation(t *testing.T) {
	g := startGateway(t, config{})
	g.putRoom("demo", map[string]any{"name": "Demo"})
	g.setAccess("demo", true)

	const n = 10
	answers := atonce.Run(n, func(int) apiAnswer {
		status, body := g.api(http.MethodPost, "/api/rooms/demo/links", map[string]any{"name": "Race"})
		return apiAnswer{status, body}
	})
	statuses, codes := map[int]int{}, map[string]int{}
	for _, a := range answers {
		var e admin.ErrorJSON
		_ = json.Unmarshal(a.body, &e)
		statuses[a.status]++
		codes[e.Error.Code]++
	}
	if statuses[http.StatusCreated] != 3 || statuses[http.StatusConflict] != n-3 || codes["link_limit"] != n-3 {
		t.Errorf("statuses %v, codes %v; want 3 x 201 and %d x 409 link_limit", statuses, codes, n-3)
	}
	var links []admin.LinkJSON
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/demo/links", nil, &links)
	if len(links) != 3 {
		t.Errorf("the room has %d links, want 3", len(links))
	}
}

// TestMaxLinksAndDefaultStore: max_links changes the link limit, and without a
// store subdirective both handlers share the default store under Caddy's data
// directory.
func TestMaxLinksAndDefaultStore(t *testing.T) {
	dataHome := t.TempDir()
	t.Setenv("XDG_DATA_HOME", dataHome)
	g := startGateway(t, config{DefaultStore: true, AdminExtra: []string{"max_links 1"}})
	l := g.openRoomWithLink("demo", map[string]any{"name": "Only"})
	status, body := g.api(http.MethodPost, "/api/rooms/demo/links", map[string]any{"name": "Second"})
	wantAPIError(t, "2nd link with max_links 1", status, body, http.StatusConflict, "link_limit", "")

	// The link the API made is the one the gateway redeems: one store.
	b := g.browser()
	b.mustRedeem(linkPath(t, l), "Ada", "ada@example.com", "demo")
	wantPage(t, "room through the default store", b.get("/rooms/demo"), http.StatusOK, "")
	if n := g.clicks("demo", l.ID); n != 1 {
		t.Errorf("clicks = %d, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(dataHome, "caddy", "guestgate")); err != nil {
		t.Errorf("the default store is not under Caddy's data directory: %v", err)
	}
	if _, err := os.Stat(g.storeDir); err == nil {
		t.Errorf("a store was made at %s though the config names none", g.storeDir)
	}
}

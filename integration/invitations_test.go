package integration

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/guestgate/guestgate/admin"
)

// Invitations (docs/DESIGN.md section 8), through a real Caddy: personal
// links bound to an email, with a role up to moderator.

// invite creates an invitation in room with the fields of spec.
func (g *gateway) invite(room string, spec map[string]any) admin.InvitationJSON {
	g.t.Helper()
	var v admin.InvitationJSON
	g.mustAPI(http.StatusCreated, http.MethodPost, "/api/rooms/"+room+"/invitations", spec, &v)
	return v
}

// invitationPath is the path of an invitation's URL.
func invitationPath(t testing.TB, v admin.InvitationJSON) string {
	t.Helper()
	return guestPath(t, "invitation", v.URL)
}

// TestInvitationEntry: an invitation's entry page names the room and the
// role and fills in the invited name, but never shows the invited email; it
// redeems only for that email (any case, surrounding spaces ignored), a
// wrong one is 422 beside the field and spends nothing; used up, it is 410 on
// another browser while the browser that redeemed it is sent on; it works
// while guest access is off, not in an unavailable room; deleted, its URL is
// 404 link-invalid and the session it made ends.
func TestInvitationEntry(t *testing.T) {
	g := startGateway(t, config{})
	g.putRoom("talk", map[string]any{"name": "Friday talk"}) // guest access stays off
	v := g.invite("talk", map[string]any{"email": "Ada.Lovelace@Example.com", "name": "Ada Lovelace", "role": "speaker"})
	if v.Role != "speaker" || v.MaxUses == nil || *v.MaxUses != 1 || v.Uses != 0 || !v.Active || v.NotBefore != nil {
		t.Fatalf("invitation %+v, want a speaker's, one use, active", v)
	}
	path := invitationPath(t, v)

	b := g.browser()
	entry := b.get(path)
	if entry.Status != http.StatusOK || !strings.Contains(entry.Body, "Friday talk") || !strings.Contains(entry.Body, `id="invited-as"`) ||
		!strings.Contains(entry.Body, `value="Ada Lovelace"`) || strings.Contains(strings.ToLower(entry.Body), "ada.lovelace@example.com") {
		t.Fatalf("the invitation's entry page: %d, want the room, the role and the name, never the email:\n%s", entry.Status, entry.Body)
	}
	if !strings.Contains(entry.Body, "as <strong><bdi>speaker</bdi></strong>") {
		t.Errorf("the entry page does not invite as a speaker:\n%s", entry.Body)
	}

	wrong := b.post(path, url.Values{"name": {"Ada"}, "email": {"ada@example.com"}, "csrf": {entry.csrf()}}, nil)
	if wrong.Status != http.StatusUnprocessableEntity || !strings.Contains(wrong.Body, `id="email-error"`) || wrong.sessionCookie() != nil {
		t.Fatalf("a wrong email: %d, want 422 with the error beside the email field and no session:\n%s", wrong.Status, wrong.Body)
	}
	if strings.Contains(strings.ToLower(wrong.Body), "ada.lovelace@example.com") {
		t.Errorf("the refused form shows the invited email")
	}
	if got := g.invitations("talk")[0]; got.Uses != 0 {
		t.Errorf("a wrong email spent a use: %d", got.Uses)
	}

	ok := b.post(path, url.Values{"name": {"Ada"}, "email": {"  ADA.LOVELACE@example.COM "}, "csrf": {wrong.csrf()}}, nil)
	if ok.Status != http.StatusSeeOther || ok.Header.Get("Location") != "/rooms/talk" || ok.sessionCookie() == nil {
		t.Fatalf("the invited email in another case: %d %q (reason %q), want 303 to the room with a session", ok.Status, ok.Header.Get("Location"), ok.reason())
	}
	claims := claimsOf(t, ok.sessionCookie().Value)
	if claims["role"] != "speaker" || claims["lid"] != v.ID || claims["st"] != "admitted" {
		t.Errorf("the invitee's session %v, want role speaker, lid %s, admitted", claims, v.ID)
	}
	if p, reached := b.reaches("/rooms/talk"); !reached || g.up.last(t).Header.Get("X-Guest-Role") != "speaker" {
		t.Errorf("the invitee's room page: %d (reached %v), want the upstream with X-Guest-Role speaker", p.Status, reached)
	}

	// Used up: the browser that redeemed it is sent on, another one is told.
	if p := b.get(path); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/rooms/talk" {
		t.Errorf("the invitation again in the invitee's browser: %d %q, want 303 to the room", p.Status, p.Header.Get("Location"))
	}
	wantPage(t, "the used-up invitation in another browser", g.browser().get(path), http.StatusGone, "link-used-up")

	// The switch governs shared links only; an unavailable room ends all.
	g.setAccess("talk", true)
	g.setAccess("talk", false)
	if _, reached := b.reaches("/rooms/talk/slides"); !reached {
		t.Errorf("the invitee lost the room when guest access went off")
	}
	more := g.invite("talk", map[string]any{"email": "bob@example.com", "name": "Bob", "max_uses": nil})
	if more.MaxUses != nil {
		t.Errorf("max_uses null: %v, want unlimited", *more.MaxUses)
	}
	g.putRoom("talk", map[string]any{"name": "Friday talk", "available": false})
	wantPage(t, "an invitation of an unavailable room", g.browser().get(invitationPath(t, more)), http.StatusNotFound, "room-unavailable")
	wantPage(t, "the invitee in an unavailable room", b.get("/rooms/talk"), http.StatusNotFound, "room-unavailable")
	g.putRoom("talk", map[string]any{"name": "Friday talk", "available": true})

	// Deleted: the URL is invalid and the session ends.
	g.mustAPI(http.StatusNoContent, http.MethodDelete, "/api/rooms/talk/invitations/"+v.ID, nil, nil)
	wantPage(t, "a deleted invitation", g.browser().get(path), http.StatusNotFound, "link-invalid")
	if p := b.get("/rooms/talk"); p.Status == http.StatusOK {
		t.Errorf("the invitee still reaches the room after the invitation was deleted")
	}
	status, body := g.api(http.MethodDelete, "/api/rooms/talk/invitations/"+v.ID, nil)
	wantAPIError(t, "deleting it twice", status, body, http.StatusNotFound, "invitation_not_found", "")
}

// invitations lists a room's invitations.
func (g *gateway) invitations(room string) []admin.InvitationJSON {
	g.t.Helper()
	var vs []admin.InvitationJSON
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/"+room+"/invitations", nil, &vs)
	return vs
}

// TestInvitationAPIRules: the fields' rules, the per-room limit and gallery
// rooms, as API errors with their codes and fields.
func TestInvitationAPIRules(t *testing.T) {
	g := startGateway(t, config{AdminExtra: []string{"max_invitations 2"}})
	g.putRoom("r", map[string]any{"name": "R"})
	g.putRoom("gallery", map[string]any{"name": "G", "kind": "gallery"})
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no email", map[string]any{"name": "A"}, "email"},
		{"a bad email", map[string]any{"name": "A", "email": "a@b"}, "email"},
		{"no name", map[string]any{"email": "a@b.io"}, "name"},
		{"a role that is none", map[string]any{"name": "A", "email": "a@b.io", "role": "host"}, "role"},
		{"no uses", map[string]any{"name": "A", "email": "a@b.io", "max_uses": 0}, "max_uses"},
		{"a year and an hour", map[string]any{"name": "A", "email": "a@b.io", "duration_hours": 8761}, "duration_hours"},
		{"opening after expiry", map[string]any{"name": "A", "email": "a@b.io", "duration_hours": 1, "not_before": "2099-01-01T00:00:00Z"}, "not_before"},
		{"max_uses a string", map[string]any{"name": "A", "email": "a@b.io", "max_uses": "2"}, "max_uses"},
	} {
		status, body := g.api(http.MethodPost, "/api/rooms/r/invitations", tc.body)
		wantAPIError(t, tc.name, status, body, http.StatusUnprocessableEntity, "invalid", tc.field)
	}
	status, body := g.api(http.MethodPost, "/api/rooms/gallery/invitations", map[string]any{"name": "A", "email": "a@b.io"})
	wantAPIError(t, "a gallery room", status, body, http.StatusUnprocessableEntity, "gallery_room", "")
	g.invite("r", map[string]any{"name": "A", "email": "a@b.io", "role": "moderator", "duration_hours": 8760})
	g.invite("r", map[string]any{"name": "B", "email": "b@b.io"})
	status, body = g.api(http.MethodPost, "/api/rooms/r/invitations", map[string]any{"name": "C", "email": "c@b.io"})
	wantAPIError(t, "a third invitation with max_invitations 2", status, body, http.StatusConflict, "invitation_limit", "")
	if vs := g.invitations("r"); len(vs) != 2 || vs[0].Role != "moderator" || vs[1].Role != "viewer" {
		t.Errorf("invitations %+v, want the moderator's and the viewer's", vs)
	}
}

// TestModeratorInvitee: a moderator invitee skips the lobby, and
// {prefix}/moderate sends them to the Manage page of their room, signed in
// with a token that manages that room only (links, lobby, guest list,
// invitations of viewers and speakers), no other room, no room settings and
// no invitation of a moderator, and that ends when they are removed. A
// viewer, or a speaker, on {prefix}/moderate is 403 not-allowed; without a
// session it is 401.
func TestModeratorInvitee(t *testing.T) {
	g := startGateway(t, config{})
	g.putRoom("class", map[string]any{"name": "Class", "admission": "moderator"})
	g.putRoom("other", map[string]any{"name": "Other"})
	g.setAccess("class", true)
	v := g.invite("class", map[string]any{"email": "teacher@example.com", "name": "Teacher", "role": "moderator"})
	l := g.createLink("class", map[string]any{"name": "Students"})

	mod := g.browser()
	mod.mustRedeem(invitationPath(t, v), "Teacher", "teacher@example.com", "class")
	student := g.browser()
	student.join(linkPath(t, l), "Student", "student@example.com")

	p := mod.get("/guest/moderate")
	loc, err := url.Parse(p.Header.Get("Location"))
	if p.Status != http.StatusSeeOther || err != nil || loc.Path != "/guest-admin/" || loc.Query().Get("room") != "class" || !strings.HasPrefix(loc.Fragment, "token=") {
		t.Fatalf("GET /guest/moderate as a moderator invitee: %d %q, want 303 to /guest-admin/?room=class#token=...", p.Status, p.Header.Get("Location"))
	}
	if p.Header.Get("Cache-Control") != "no-store" || p.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("the redirect with a token: Cache-Control %q, Referrer-Policy %q", p.Header.Get("Cache-Control"), p.Header.Get("Referrer-Policy"))
	}
	tok := strings.TrimPrefix(loc.Fragment, "token=")
	claims := claimsOf(t, tok)
	if claims["aud"] != "guestgate-invitee" || claims["room"] != "class" || claims["role"] != "moderator" {
		t.Errorf("the invitee's moderator token %v", claims)
	}
	if status, body := g.apiAs(tok, http.MethodGet, "/api/me", nil); status != http.StatusOK || !strings.Contains(string(body), `"invitee":true`) {
		t.Errorf("GET /api/me with the invitee's token: %d %s, want invitee true", status, body)
	}

	var lobby []admin.GuestJSON
	if status, body := g.apiAs(tok, http.MethodGet, "/api/rooms/class/lobby", nil); status != http.StatusOK {
		t.Fatalf("the invitee's token on the lobby: %d %s", status, body)
	} else if err := json.Unmarshal(body, &lobby); err != nil || len(lobby) != 1 || lobby[0].Name != "Student" {
		t.Fatalf("the lobby %s, want the student", body)
	}
	for _, tc := range []struct {
		method, path string
		body         any
		want         int
	}{
		{http.MethodPost, "/api/rooms/class/lobby/" + lobby[0].ID + "/admit", nil, http.StatusOK},
		{http.MethodGet, "/api/rooms/class/guests", nil, http.StatusOK},
		{http.MethodPost, "/api/rooms/class/links", map[string]any{"name": "More"}, http.StatusCreated},
		{http.MethodPost, "/api/rooms/class/invitations", map[string]any{"email": "sp2@example.com", "name": "Sp2", "role": "speaker"}, http.StatusCreated},
		{http.MethodPost, "/api/rooms/class/invitations", map[string]any{"email": "me@example.com", "name": "Teacher", "role": "moderator", "duration_hours": 8760}, http.StatusForbidden},
		{http.MethodGet, "/api/rooms/other/links", nil, http.StatusForbidden},
		{http.MethodPut, "/api/rooms/class", map[string]any{"name": "Renamed"}, http.StatusForbidden},
		{http.MethodDelete, "/api/rooms/class", nil, http.StatusForbidden},
	} {
		if status, body := g.apiAs(tok, tc.method, tc.path, tc.body); status != tc.want {
			t.Errorf("the invitee's token: %s %s: %d, want %d: %s", tc.method, tc.path, status, tc.want, body)
		}
	}
	if _, reached := student.reaches("/rooms/class"); !reached {
		t.Errorf("the student admitted by the invitee does not reach the room")
	}

	// Viewers and speakers are not moderators; no session is no session.
	wantPage(t, "a viewer on /guest/moderate", student.get("/guest/moderate"), http.StatusForbidden, "not-allowed")
	sp := g.invite("class", map[string]any{"email": "sp@example.com", "name": "Sp", "role": "speaker"})
	speaker := g.browser()
	speaker.mustRedeem(invitationPath(t, sp), "Sp", "sp@example.com", "class")
	wantPage(t, "a speaker invitee on /guest/moderate", speaker.get("/guest/moderate"), http.StatusForbidden, "not-allowed")
	wantPage(t, "no session on /guest/moderate", g.browser().get("/guest/moderate"), http.StatusUnauthorized, "no-session")

	// Removing the invitee ends the token with the session.
	teacher := ""
	for _, gu := range g.guestList("class") {
		if gu.Name == "Teacher" {
			teacher = gu.ID
		}
	}
	g.mustAPI(http.StatusNoContent, http.MethodDelete, "/api/rooms/class/guests/"+teacher, nil, nil)
	if status, _ := g.apiAs(tok, http.MethodGet, "/api/rooms/class/lobby", nil); status != http.StatusUnauthorized {
		t.Errorf("the removed invitee's token: %d, want 401", status)
	}
}

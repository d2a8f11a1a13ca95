package admin

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// TestLobbyMessageAPI protects PUT and DELETE /api/rooms/{room}/lobby/message
// (docs/DESIGN.md section 10): a message in any language and script is stored
// as typed (trimmed, never rewritten: escaping is the lobby page's job), shown
// in the room's JSON; a message too long or with line breaks or control
// characters is 422 with "text" in field and fields; "" and DELETE clear it.
func TestLobbyMessageAPI(t *testing.T) {
	e := newLobbyEnv(t, 0)
	tests := []struct {
		method, body string
		status       int
		want         string // the room's lobby_message after, on success
		field        string // the field at fault, on 422
	}{
		{"PUT", `{"text":"We start at 10:05"}`, 200, "We start at 10:05", ""},
		{"PUT", `{"text":"  Wir beginnen um 10:05 Uhr. Bitte warten Sie.  "}`, 200, "Wir beginnen um 10:05 Uhr. Bitte warten Sie.", ""},
		{"PUT", `{"text":"נתחיל בעוד חמש דקות"}`, 200, "נתחיל בעוד חמש דקות", ""},
		{"PUT", `{"text":"<script>alert(1)</script> & \"quotes\""}`, 200, `<script>alert(1)</script> & "quotes"`, ""},
		{"PUT", `{"text":"` + strings.Repeat("ä", 280) + `"}`, 200, strings.Repeat("ä", 280), ""},
		{"PUT", `{"text":"` + strings.Repeat("a", 281) + `"}`, 422, "", "text"},
		{"PUT", `{"text":"two\nlines"}`, 422, "", "text"},
		{"PUT", `{"text":"bell\u0007"}`, 422, "", "text"},
		{"PUT", `{}`, 422, "", "text"},
		{"PUT", `{"text":""}`, 200, "", ""},
		{"PUT", `{"text":"again"}`, 200, "again", ""},
		{"DELETE", ``, 200, "", ""},
	}
	for i, tc := range tests {
		r := e.do(tc.method, "/api/rooms/demo/lobby/message", tc.body)
		if r.status != tc.status {
			t.Fatalf("#%d %s %s: %d %v, want %d", i, tc.method, tc.body, r.status, r.body, tc.status)
		}
		if tc.status != 200 {
			code, field := errCode(r)
			if code != "invalid" || field != tc.field {
				t.Errorf("#%d error %s on %q, want invalid on %q", i, code, field, tc.field)
			}
			fields, _ := r.body["error"].(map[string]any)["fields"].([]any)
			if len(fields) != 1 || fields[0].(map[string]any)["field"] != tc.field {
				t.Errorf("#%d fields = %v, want one on %q", i, fields, tc.field)
			}
			continue
		}
		if got := r.body["lobby_message"]; got != tc.want {
			t.Errorf("#%d answered lobby_message %q, want %q", i, got, tc.want)
		}
		if got := e.mustStatus(200, "GET", "/api/rooms/demo", "").body["lobby_message"]; got != tc.want {
			t.Errorf("#%d GET room: lobby_message %q, want %q", i, got, tc.want)
		}
		if got := e.svc.LobbyMessage("demo"); got != tc.want {
			t.Errorf("#%d LobbyMessage = %q, want %q", i, got, tc.want)
		}
	}
	e.mustStatus(404, "PUT", "/api/rooms/missing/lobby/message", `{"text":"hi"}`)
	if r := do(t, e.h, "PUT", "/api/rooms/demo/lobby/message", `{"text":"hi"}`, ""); r.status != 401 {
		t.Errorf("without a key: %d, want 401", r.status)
	}
}

// TestLobbyMessageClearedWhenLobbyEmpties protects the rule that the lobby
// message is for the guests who wait: it stays while anyone waits and when it
// is set in an empty lobby (for the guests to come), and is cleared when the
// lobby empties, whichever way its last guest goes: decided on, admitted with
// everyone, leaving, or dropping out after lobby_timeout.
func TestLobbyMessageClearedWhenLobbyEmpties(t *testing.T) {
	ctx := context.Background()
	message := func(e *lobbyEnv) string {
		t.Helper()
		return e.mustStatus(200, "GET", "/api/rooms/demo", "").body["lobby_message"].(string)
	}
	set := func(e *lobbyEnv) {
		t.Helper()
		e.mustStatus(200, "PUT", "/api/rooms/demo/lobby/message", `{"text":"We start at 10:05"}`)
	}
	tests := []struct {
		name string
		// last empties the lobby of e, whose waiting guests are a and b;
		// before that, b has gone the same way (or, for a timeout, is
		// still there until the timeout passes).
		last func(e *lobbyEnv, a, b string)
	}{
		{"admit", func(e *lobbyEnv, a, b string) {
			e.mustStatus(200, "POST", "/api/rooms/demo/lobby/"+b+"/admit", "")
			if message(e) == "" {
				t.Error("the message was cleared while a guest still waits")
			}
			e.mustStatus(200, "POST", "/api/rooms/demo/lobby/"+a+"/admit", "")
		}},
		{"decline", func(e *lobbyEnv, a, b string) {
			e.mustStatus(200, "POST", "/api/rooms/demo/lobby/"+b+"/deny", "")
			e.mustStatus(200, "POST", "/api/rooms/demo/lobby/"+a+"/deny", "")
		}},
		{"admit all", func(e *lobbyEnv, a, b string) {
			e.mustStatus(200, "POST", "/api/rooms/demo/lobby/admit-all", "")
		}},
		{"remove and leave", func(e *lobbyEnv, a, b string) {
			e.mustStatus(204, "DELETE", "/api/rooms/demo/guests/"+b, "")
			if _, err := e.svc.Decide(ctx, "demo", a, "left"); err != nil {
				t.Fatal(err)
			}
		}},
		{"timeout", func(e *lobbyEnv, a, b string) {
			e.tick(time.Minute)
			if message(e) == "" || len(e.lobbyIDs()) != 2 {
				t.Error("the message or the guests went before the timeout")
			}
			e.tick(2 * time.Minute) // past the default lobby_timeout
			if got := e.lobbyIDs(); len(got) != 0 {
				t.Fatalf("lobby after the timeout = %v", got)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newLobbyEnv(t, 0)
			set(e) // in an empty lobby: kept for the guests to come
			a := e.redeem("Ada", "ada@example.com")
			b := e.redeem("Bo", "bo@example.com")
			if got := message(e); got != "We start at 10:05" {
				t.Fatalf("message after guests came = %q, want it kept", got)
			}
			tc.last(e, a.ID, b.ID)
			if got := message(e); got != "" {
				t.Errorf("message after the lobby emptied = %q, want none", got)
			}
		})
	}

	// Without the Manage page listing the lobby, the next guest after a
	// timeout does not see the old message either.
	e := newLobbyEnv(t, 0)
	e.redeem("Ada", "ada@example.com")
	set(e)
	e.tick(3 * time.Minute)
	e.redeem("Cy", "cy@example.com")
	if got := e.svc.LobbyMessage("demo"); got != "" {
		t.Errorf("the next guest after a timeout sees %q, want none", got)
	}
}

// TestGuestListSaysWhoCannotGetIn protects the guest list's "blocked": an
// admitted or waiting guest who can no longer get in is marked with the
// reason (the room unavailable before guest access off before the link
// deleted), so that the Manage page does not call them "in the room"; guests
// who are out anyway (declined, removed, left) carry none. An invitee is
// judged as the gate judges them: guest access off leaves them in, their
// invitation is their link, and its revocation shuts them out.
func TestGuestListSaysWhoCannotGetIn(t *testing.T) {
	ctx := context.Background()
	e := newLobbyEnv(t, 0)
	admitted := e.redeem("Ada", "ada@example.com")
	e.mustStatus(200, "POST", "/api/rooms/demo/lobby/"+admitted.ID+"/admit", "")
	e.redeem("Bo", "bo@example.com")
	declined := e.redeem("Cy", "cy@example.com")
	e.mustStatus(200, "POST", "/api/rooms/demo/lobby/"+declined.ID+"/deny", "")
	inv, err := e.svc.CreateInvitation(ctx, "demo", guestlink.InvitationSpec{Email: "iva@example.com", Name: "Iva", Role: guestlink.RoleSpeaker})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := e.svc.RedeemInvitation(ctx, inv.Token, guestlink.GuestInput{Name: "Iva", Email: "iva@example.com"}); err != nil {
		t.Fatal(err)
	}
	blockedOf := func() map[string]any {
		t.Helper()
		r := e.mustStatus(200, "GET", "/api/rooms/demo/guests", "")
		out := map[string]any{}
		for _, g := range r.body["guests"].([]any) {
			m := g.(map[string]any)
			out[m["name"].(string)] = m["blocked"]
		}
		return out
	}
	steps := []struct {
		do        func()
		want, iva any // of Ada and Bo, and of the invitee Iva; Cy never has one
	}{
		{func() {}, nil, nil},
		{func() { e.mustStatus(204, "DELETE", "/api/rooms/demo/links/"+e.link.ID, "") }, "link-deleted", nil},
		{func() { e.mustStatus(200, "PUT", "/api/rooms/demo/guest-access", `{"enabled":false}`) }, "guest-access-off", nil},
		{func() { e.mustStatus(204, "DELETE", "/api/rooms/demo/invitations/"+inv.ID, "") }, "guest-access-off", "link-deleted"},
		{func() {
			if _, _, err := e.svc.PutRoom(ctx, "demo", guestlink.RoomSpec{Name: "Demo room", Admission: "moderator", Available: new(false)}); err != nil {
				t.Fatal(err)
			}
		}, "room-unavailable", "room-unavailable"},
	}
	for i, st := range steps {
		st.do()
		got := blockedOf()
		if got["Ada"] != st.want || got["Bo"] != st.want || got["Cy"] != nil || got["Iva"] != st.iva {
			t.Errorf("step %d: blocked = %v, want %v for Ada and Bo, %v for Iva and none for Cy", i, got, st.want, st.iva)
		}
	}
}

// TestListRooms protects GET /api/rooms, the room list of the Manage page's
// picker: every room by id for an API key, only its own rooms for a
// moderator token (none it does not manage, none that does not exist), and
// 401 without a credential.
func TestListRooms(t *testing.T) {
	h, now, _ := modHandler(t) // rooms demo, other, third
	names := func(r result) []string {
		var out []string
		for _, x := range r.list {
			m := x.(map[string]any)
			out = append(out, m["id"].(string)+"="+m["name"].(string))
		}
		return out
	}
	if got, want := names(do(t, h, "GET", "/api/rooms", "", testKey)), []string{"demo=Room demo", "other=Room other", "third=Room third"}; !slices.Equal(got, want) {
		t.Errorf("API key: rooms %v, want %v", got, want)
	}
	tok := hs256(t, with(claims(*now), "room", []string{"third", "demo", "missing"}))
	if got, want := names(do(t, h, "GET", "/api/rooms", "", tok)), []string{"demo=Room demo", "third=Room third"}; !slices.Equal(got, want) {
		t.Errorf("moderator token for third, demo and missing: rooms %v, want %v", got, want)
	}
	if r := do(t, h, "GET", "/api/rooms", "", ""); r.status != 401 {
		t.Errorf("without a credential: %d, want 401", r.status)
	}
}

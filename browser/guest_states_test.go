package browser

import (
	"net/http"
	"testing"
	"time"
)

// TestGuestListStates: the guest list names the states the other tests do
// not reach: a guest removed by a moderator, one who left, and one who left
// the lobby (waiting, but their lobby page stopped asking for longer than
// lobby_timeout, so they are in neither the lobby nor the room). Remove is
// offered only to the last, who may still come back to the lobby; for the
// others it would do nothing. The test waits lobby_timeout out
// once for the three views. Desktop and phone, English, German and Hebrew.
func TestGuestListStates(t *testing.T) {
	s := startServer(t)
	rooms := map[string]string{}
	for _, v := range uxViews {
		roomID := uniqueID("states-" + v.lang)
		rooms[v.name] = roomID
		s.openRoom(t, roomID, "Chemie", "moderator")
		l := s.newLink(t, roomID, map[string]any{"name": "Students"})
		redeemHTTP(t, l.URL, "Lise Meitner", "lise@example.com")
		marie := redeemAs(t, l.URL, "Marie Curie", "marie@example.com")
		s.api(t, http.StatusOK, "POST", "/api/rooms/"+roomID+"/lobby/admit-all", nil, nil)
		var list struct {
			Guests []struct{ ID, Name string }
		}
		s.api(t, http.StatusOK, "GET", "/api/rooms/"+roomID+"/guests", nil, &list)
		for _, g := range list.Guests {
			if g.Name == "Lise Meitner" {
				s.api(t, http.StatusNoContent, "DELETE", "/api/rooms/"+roomID+"/guests/"+g.ID, nil, nil)
			}
		}
		leave(t, marie, s.base)
		redeemHTTP(t, l.URL, "Rosalind Franklin", "rosalind@example.com") // never opens the lobby page again
	}
	time.Sleep(lobbyTimeout + 2*time.Second)

	for _, v := range uxViews {
		t.Run(v.name, func(t *testing.T) {
			roomID := rooms[v.name]
			mod := newSession(t).newTab("moderator-"+v.name, v.view)
			openAsModerator(s, mod, roomID, moderatorToken(t, "mod-s", "Otto Hahn", []string{roomID}, time.Hour))
			mod.wait("the guest list", `document.querySelectorAll("#guests-body tr").length === 3`)
			if n := evalJS[int](mod, `document.querySelectorAll("#lobby-body tr").length`); n != 0 {
				t.Errorf("the lobby lists %d guests, want none: the last one's page stopped asking", n)
			}
			rows := map[string]guestRow{}
			for _, r := range evalJS[[]guestRow](mod, guestRowJS) {
				rows[r.Name] = r
			}
			want := map[string]guestRow{
				"Lise Meitner":      {"Lise Meitner", tr(v.lang, "moderator.guests.state.removed"), "", false},
				"Marie Curie":       {"Marie Curie", tr(v.lang, "moderator.guests.state.left"), "", false},
				"Rosalind Franklin": {"Rosalind Franklin", tr(v.lang, "moderator.guests.state.gone"), "", true},
			}
			for name, w := range want {
				if rows[name] != w {
					t.Errorf("guest list row of %s = %+v, want %+v", name, rows[name], w)
				}
			}
			keepScreenshot(t, mod, "guest-states-"+v.name)
		})
	}
}

// leave ends the session of the guest whose client c is, as the leave page's
// button does.
func leave(t *testing.T, c *http.Client, base string) {
	t.Helper()
	submitForm(t, c, base+"/guest/leave", nil)
}

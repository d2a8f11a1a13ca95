package browser

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// guestRowJS reads the guest list's rows: name, state cell text, the
// blocked badge's reason and whether the row has a Remove button.
const guestRowJS = `Array.from(document.querySelectorAll("#guests-body tr")).map(function (r) {
  var b = r.querySelector(".blocked");
  return {Name: r.querySelector(".guest-name").textContent, State: r.querySelector(".state").firstChild.textContent.trim(),
    Blocked: b ? b.getAttribute("data-blocked") + ": " + b.textContent : "", Remove: !!r.querySelector(".actions-cell button")};
})`

type guestRow struct {
	Name, State, Blocked string
	Remove               bool
}

// TestManagePageTellsTheTruth: the Manage page names guest states for what
// they are, marks admitted guests who can no longer get in with the reason,
// lists a waiting guest once (in the lobby), offers Remove only where it does
// something, explains an unavailable room with its switch and "Create new
// link" disabled, keeps the table still while "Copied" shows, says what is
// wrong with an empty key, lists the rooms for an API key, and keeps the header on one line and Download CSV
// beside Refresh on a phone. Desktop and phone, English, German and Hebrew.
func TestManagePageTellsTheTruth(t *testing.T) {
	s := startServer(t)
	for _, v := range uxViews {
		t.Run(v.name, func(t *testing.T) {
			roomID := uniqueID("truth-" + v.lang)
			s.openRoom(t, roomID, "Physik 101", "moderator")
			kept := s.newLink(t, roomID, map[string]any{"name": "Students"})
			gone := s.newLink(t, roomID, map[string]any{"name": "Press"})
			redeemHTTP(t, kept.URL, "Grace Hopper", "grace@example.com")
			redeemHTTP(t, gone.URL, "Alan Turing", "alan@example.org")
			redeemHTTP(t, kept.URL, "Ada Byron", "ada@example.net")
			s.api(t, http.StatusOK, "POST", "/api/rooms/"+roomID+"/lobby/admit-all", nil, nil)
			s.api(t, http.StatusNoContent, "DELETE", "/api/rooms/"+roomID+"/links/"+gone.ID, nil, nil)
			redeemHTTP(t, kept.URL, "Katherine Johnson", "katherine@example.net")
			var lobby []struct {
				ID, Name string
			}
			s.api(t, http.StatusOK, "GET", "/api/rooms/"+roomID+"/lobby", nil, &lobby)
			s.api(t, http.StatusOK, "POST", "/api/rooms/"+roomID+"/lobby/"+lobby[0].ID+"/deny", nil, nil)
			redeemHTTP(t, kept.URL, "Mary Jackson", "mary@example.com") // waits

			sess := newSession(t)
			mod := sess.newTab("moderator-"+v.name, v.view)
			sess.grantClipboard(mod, s.base)
			openAsModerator(s, mod, roomID, moderatorToken(t, "mod-t", "Dorothy Vaughan", []string{roomID}, time.Hour))
			mod.wait("the lobby and the guest list", `document.querySelectorAll("#lobby-body tr").length === 1 && document.querySelectorAll("#guests-body tr").length === 4`)
			rows := map[string]guestRow{}
			for _, r := range evalJS[[]guestRow](mod, guestRowJS) {
				rows[r.Name] = r
			}
			admitted := tr(v.lang, "moderator.guests.state.admitted")
			want := map[string]guestRow{
				"Grace Hopper":      {"Grace Hopper", admitted, "", true},
				"Alan Turing":       {"Alan Turing", admitted, "link-deleted: " + tr(v.lang, "moderator.guests.blocked.link-deleted"), true},
				"Ada Byron":         {"Ada Byron", admitted, "", true},
				"Katherine Johnson": {"Katherine Johnson", tr(v.lang, "moderator.guests.state.declined"), "", false},
			}
			for name, w := range want {
				if rows[name] != w {
					t.Errorf("guest list row of %s = %+v, want %+v", name, rows[name], w)
				}
			}
			if _, twice := rows["Mary Jackson"]; twice {
				t.Error("the waiting guest is listed in the lobby and again in the guest list")
			}

			// On a phone: the header on one line, Download CSV beside Refresh.
			if v.view.Mobile {
				type layout struct{ Header, Line, Refresh, CSV float64 }
				l := evalJS[layout](mod, `({Header: document.querySelector(".topbar").getBoundingClientRect().height,
					Line: parseFloat(getComputedStyle(document.getElementById("signout")).lineHeight) || 24,
					Refresh: document.getElementById("guests-refresh").getBoundingClientRect().top,
					CSV: document.getElementById("guests-csv").getBoundingClientRect().top})`)
				if l.Header > 64 {
					t.Errorf("the header is %.0f px high on a phone: it wraps", l.Header)
				}
				if l.Refresh != l.CSV {
					t.Errorf("Download CSV is at %.0f, Refresh at %.0f: not beside each other", l.CSV, l.Refresh)
				}
			} else {
				// "Copied" shows without moving the table.
				cols := `Array.from(document.querySelectorAll("#links-table thead th")).map(function (th) { var r = th.getBoundingClientRect(); return Math.round(r.left) + ":" + Math.round(r.width); }).join(" ")`
				before := evalJS[string](mod, cols)
				mod.do("copying the link", chromedp.Click(chromedp.CSS("#links-body button.copy")))
				mod.wait("Copied", `!!document.querySelector("#links-body button.copy.copied")`)
				if after := evalJS[string](mod, cols); after != before {
					t.Errorf("the table's columns moved while Copied shows: %s, before %s", after, before)
				}
			}
			noSidewaysScroll(t, mod, "the Manage page")
			keepScreenshot(t, mod, "manage-truth-"+v.name)

			// The room made unavailable: said, and its controls disabled.
			s.api(t, http.StatusOK, "PUT", "/api/rooms/"+roomID, map[string]any{"name": "Physik 101", "admission": "moderator", "available": false}, nil)
			mod.wait("the unavailable room explained", `!document.getElementById("unavailable-note").hidden && document.getElementById("access-switch").disabled && document.getElementById("create-open").getAttribute("aria-disabled") === "true"`)
			if got, want := mod.text("#create-reason"), tr(v.lang, "moderator.create.disabled_unavailable"); got != want {
				t.Errorf("Create new link's reason = %q, want %q", got, want)
			}
			if got, want := mod.text("#unavailable-note"), tr(v.lang, "moderator.room.unavailable"); got != want {
				t.Errorf("the note = %q, want %q", got, want)
			}
			mod.wait("the guests marked", `Array.from(document.querySelectorAll("#guests-body .blocked")).filter(function (b) { return b.getAttribute("data-blocked") === "room-unavailable"; }).length === 3`)
			if got := mod.text("#links-body .badge"); got != tr(v.lang, "moderator.links.room_unavailable") {
				t.Errorf("the link's badge = %q, want the room's reason", got)
			}
			keepScreenshot(t, mod, "manage-unavailable-"+v.name)

			// An empty key on the sign-in form: asked for, not "not accepted".
			mod.do("signing out", chromedp.Click(chromedp.CSS("#signout")))
			mod.wait("the sign-in form", `!document.getElementById("view-signin").hidden`)
			mod.do("signing in without a key", chromedp.Click(chromedp.CSS("#signin-form button[type=submit]")))
			mod.wait("the key's error", `!document.getElementById("signin-key-error").hidden`)
			if got, want := mod.text("#signin-key-error"), tr(v.lang, "moderator.signin.empty"); got != want || strings.Contains(got, "accepted") {
				t.Errorf("empty key: %q, want %q", got, want)
			}

			// An API key without ?room: a list of the rooms, by name.
			mod.do("opening the page without a room", chromedp.Navigate(s.base+"/guest-admin/"))
			mod.wait("the sign-in form", `!document.getElementById("view-signin").hidden`)
			mod.do("signing in with the API key",
				chromedp.SendKeys(chromedp.CSS("#signin-key"), apiKey),
				chromedp.Click(chromedp.CSS("#signin-form button[type=submit]")))
			label := "Physik 101 (" + roomID + ")"
			mod.wait("the room list", `!document.getElementById("view-picker").hidden && !document.getElementById("picker-select-field").hidden && document.getElementById("picker-input-field").hidden && Array.from(document.getElementById("picker-select").options).some(function (o) { return o.textContent === `+jsString(label)+`; })`)
			mod.setValue("picker-select", roomID)
			mod.do("opening the room", chromedp.Click(chromedp.CSS("#picker-form button[type=submit]")))
			mod.wait("the room's window", `!document.getElementById("view-manage").hidden && document.getElementById("room-subtitle").textContent.indexOf("Physik 101") >= 0`)
		})
	}
}

package browser

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// invitation is what the tests read of an invitation as the API shows it.
type invitation struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
	MaxUses   *int      `json:"max_uses"`
	Active    bool      `json:"active"`
}

func (s *server) invitations(t *testing.T, roomID string) []invitation {
	t.Helper()
	var vs []invitation
	s.api(t, http.StatusOK, "GET", "/api/rooms/"+roomID+"/invitations", nil, &vs)
	return vs
}

// inviteRowJS reads the Invite users table: each row's name, email, role
// key, uses, state text and whether the state is a badge of "later".
const inviteRowJS = `Array.from(document.querySelectorAll("#invites-body tr")).map(function (r) {
  var q = function (s) { return r.querySelector(s); }, b = q(".state .badge");
  return {Name: q("th").textContent, Email: q(".email").textContent, Role: q(".role").getAttribute("data-role"),
    Uses: q(".uses").textContent, State: q(".state").textContent, Later: !!b && b.classList.contains("later")};
})`

type inviteRow struct {
	Name, Email, Role, Uses, State string
	Later                          bool
}

// invite fills in the Invite someone dialog (open already) with the fields
// (input id to value; a checkbox id to "on") and submits it.
func invite(tb *tab, fields map[string]string) {
	tb.t.Helper()
	for id, v := range fields {
		if v == "on" {
			evalJS[bool](tb, `(function(){var c=document.getElementById(`+jsString(id)+`);c.checked=true;c.dispatchEvent(new Event("change",{bubbles:true}));return true})()`)
			continue
		}
		tb.setValue(id, v)
	}
	tb.do("inviting", chromedp.Click(chromedp.CSS("#invite-submit")))
}

// openInviteDialog clicks Invite someone and waits for the empty dialog.
func openInviteDialog(tb *tab) {
	tb.t.Helper()
	tb.do("clicking Invite someone", chromedp.Click(chromedp.CSS("#invite-open")))
	tb.wait("the invite dialog", `document.getElementById("invite-dialog").open && document.activeElement.id === "invite-email"`)
}

// TestInviteUsersOnTheManagePage: the Invite users part of the Manage page
// lists a room's invitations with their uses and a truthful state (one used
// up, one that opens later, not "broken"), whatever the guest access switch
// says; a moderator invites someone in the dialog, where an opening time
// after the invitation's expiry comes back from the API beside "Opens at",
// and "No limit" and a validity in hours reach the API; the copy button puts
// the invitation's URL on the clipboard; Revoke, after confirming, removes it
// from the list, and its URL then answers 404 link-invalid. Desktop and phone,
// English, German and Hebrew.
func TestInviteUsersOnTheManagePage(t *testing.T) {
	s := startServer(t)
	zone, err := time.LoadLocation(browserZone)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range uxViews {
		t.Run(v.name, func(t *testing.T) {
			roomID := uniqueID("invite-" + v.lang)
			s.newRoom(t, roomID, "Seminar", "auto") // guest access off: invitations do not need it
			var used, later invitation
			s.api(t, http.StatusCreated, "POST", "/api/rooms/"+roomID+"/invitations",
				map[string]any{"email": "used@example.org", "name": "Uma Used"}, &used)
			s.api(t, http.StatusCreated, "POST", "/api/rooms/"+roomID+"/invitations",
				map[string]any{"email": "later@example.org", "name": "Leo Later", "role": "speaker", "max_uses": 3,
					"duration_hours": 72, "not_before": time.Now().Add(48 * time.Hour).Format(time.RFC3339)}, &later)
			redeemHTTP(t, used.URL, "Uma Used", "USED@example.org ")

			sess := newSession(t)
			mod := sess.newTab("moderator-"+v.name, v.view)
			sess.grantClipboard(mod, s.base)
			openAsModerator(s, mod, roomID, moderatorToken(t, "mod-i", "Ida Host", []string{roomID}, time.Hour))
			countPosts(mod)
			mod.wait("the invitations", `document.querySelectorAll("#invites-body tr").length === 2`)
			rows := map[string]inviteRow{}
			for _, r := range evalJS[[]inviteRow](mod, inviteRowJS) {
				rows[r.Name] = r
			}
			want := map[string]inviteRow{
				"Uma Used":  {"Uma Used", "used@example.org", "viewer", "1 / 1", tr(v.lang, "moderator.links.used_up"), false},
				"Leo Later": {"Leo Later", "later@example.org", "speaker", "0 / 3", "", true},
			}
			for name, w := range want {
				r := rows[name]
				if w.Later {
					w.State = r.State // the time, checked below
				}
				if r != w {
					t.Errorf("invitation row %s = %+v, want %+v", name, r, w)
				}
			}
			if p := tr(v.lang, "moderator.links.opens", ""); !strings.HasPrefix(rows["Leo Later"].State, p) {
				t.Errorf("the invitation that opens later says %q, want it to start with %q", rows["Leo Later"].State, p)
			}
			// The invitee in the guest list: by invitation, and in (guest
			// access, off, governs the shared links only).
			type listed struct{ Link, Blocked string }
			mod.wait("the invitee in the guest list", `document.querySelectorAll("#guests-body tr").length === 1`)
			g := evalJS[listed](mod, `(function () { var r = document.querySelector("#guests-body tr"), b = r && r.querySelector(".blocked");
				return r ? {Link: r.cells[2].textContent, Blocked: b ? b.getAttribute("data-blocked") : ""} : {}; })()`)
			if w := (listed{tr(v.lang, "moderator.guests.invitation"), ""}); g != w {
				t.Errorf("the invitee in the guest list: %+v, want %+v", g, w)
			}

			// An opening time after the expiry: the API's 422, beside the field.
			openInviteDialog(mod)
			if got := evalJS[string](mod, `document.getElementById("invite-role").value + " " + document.getElementById("invite-uses").value + " " + document.getElementById("invite-duration").value + " " + document.getElementById("invite-unit").value`); got != "viewer 1 1 24" {
				t.Errorf("the dialog starts with role, uses, validity and unit %q, want viewer 1 1 24 (once, for a day)", got)
			}
			opens := time.Now().In(zone).Add(72 * time.Hour)
			invite(mod, map[string]string{"invite-email": "Co@Example.org", "invite-name": "Cora Host",
				"invite-role": "moderator", "invite-unlimited": "on", "invite-unit": "1", "invite-duration": "2",
				"invite-opens": opens.Format("2006-01-02T15:04")})
			mod.wait("the API's answer", `window.__posts === 1 && document.getElementById("invite-submit").getAttribute("aria-busy") !== "true" && !document.getElementById("invite-opens-error").hidden`)
			ids := []string{"invite-email", "invite-name", "invite-role", "invite-uses", "invite-duration", "invite-opens"}
			for id, f := range fieldErrors(mod, "-error", ids...) {
				if id == "invite-opens" {
					if w := tr(v.lang, "moderator.invites.error.not_before"); !f.Shown || f.Text != w || f.Invalid != "true" || !f.Beside {
						t.Errorf("Opens at after the expiry: %+v, want %q shown beside it", f, w)
					}
				} else if f.Shown || f.Invalid != "" {
					t.Errorf("%s is marked wrong: %+v", id, f)
				}
			}
			checkAccessibility(mod, "the invite dialog with an error")
			noSidewaysScroll(t, mod, "the invite dialog")
			keepScreenshot(t, mod, "invite-dialog-error-"+v.name)

			// Without it: a moderator invitation of two hours, without a limit.
			mod.setValue("invite-opens", "")
			mod.do("inviting", chromedp.Click(chromedp.CSS("#invite-submit")))
			mod.wait("the new invitation", `!document.getElementById("invite-dialog").open && document.querySelectorAll("#invites-body tr").length === 3`)
			var cora invitation
			for _, iv := range s.invitations(t, roomID) {
				if iv.Name == "Cora Host" {
					cora = iv
				}
			}
			if left := time.Until(cora.ExpiresAt); cora.Role != "moderator" || cora.MaxUses != nil || !cora.Active ||
				cora.Email != "Co@Example.org" || left > 2*time.Hour || left < 2*time.Hour-time.Minute {
				t.Fatalf("the API's invitation: %+v, want an active moderator invitation of Co@Example.org without a limit for two hours", cora)
			}
			for _, r := range evalJS[[]inviteRow](mod, inviteRowJS) {
				if r.Name == "Cora Host" {
					if w := (inviteRow{"Cora Host", "Co@Example.org", "moderator", tr(v.lang, "moderator.invites.uses_unlimited", 0), tr(v.lang, "moderator.invites.active"), false}); r != w {
						t.Errorf("the new row = %+v, want %+v", r, w)
					}
				}
			}
			checkAccessibility(mod, "the page with invitations")
			noSidewaysScroll(t, mod, "the page with invitations")
			keepScreenshot(t, mod, "invite-users-"+v.name)

			// Copy: the clipboard holds the invitation's URL.
			row := `#invites-body tr[data-invitation="` + cora.ID + `"]`
			mod.do("copying", chromedp.Click(chromedp.CSS(row+" button.copy")))
			mod.wait("Copied", `!!document.querySelector(`+jsString(row+" button.copy.copied")+`)`)
			if clip := evalJS[string](mod, `navigator.clipboard.readText()`); clip != cora.URL {
				t.Errorf("the clipboard holds %q, want the invitation's URL %q", clip, cora.URL)
			}

			// Revoke, after confirming: gone from the list, its URL invalid.
			mod.do("revoking", chromedp.Click(chromedp.CSS(row+" button.delete")))
			mod.wait("the confirmation", `document.getElementById("confirm-dialog").open`)
			if got, w := mod.text("#confirm-body"), tr(v.lang, "moderator.invites.revoke.body", "Cora Host", "Co@Example.org"); got != w {
				t.Errorf("the confirmation says %q, want %q", got, w)
			}
			mod.do("confirming", chromedp.Click(chromedp.CSS("#confirm-ok")))
			mod.wait("the invitation gone", `document.querySelectorAll("#invites-body tr").length === 2 && !document.querySelector(`+jsString(row)+`)`)
			if n := len(s.invitations(t, roomID)); n != 2 {
				t.Errorf("the API lists %d invitations after the revocation, want 2", n)
			}
			guest := sess.newTab("invitee-"+v.name, v.view)
			if st := guest.open(cora.URL); st != http.StatusNotFound {
				t.Errorf("the revoked invitation's URL: status %d, want 404", st)
			}
			if got := evalJS[string](guest, `document.body.dataset.reason || ""`); got != "link-invalid" {
				t.Errorf("the revoked invitation's page: data-reason %q, want link-invalid", got)
			}
		})
	}
}

// TestModeratorInviteePath is the moderator invitee's whole way: a moderator
// invites a co-moderator on the Manage page; in a browser context of their own
// the invitee opens the invitation, is told the room and the role, types the
// email and is in the room, without a lobby; the room's "Manage guest access"
// link (/guest/moderate) signs them in to the Manage page of that room, where
// revoking their own invitation warns that it shuts them out; there they
// admit a guest who waits in the lobby, and the guest's lobby page moves into
// the room by itself.
func TestModeratorInviteePath(t *testing.T) {
	s := startServer(t)
	roomID := uniqueID("invitee")
	viewerURL := guestLink(t, s, roomID, "Office hours", "moderator")
	sess := newSession(t)

	mod := sess.newTab("moderator", view{})
	openAsModerator(s, mod, roomID, moderatorToken(t, "mod-p", "Pat Host", []string{roomID}, time.Hour))
	openInviteDialog(mod)
	invite(mod, map[string]string{"invite-email": "cora@example.org", "invite-name": "Cora Host", "invite-role": "moderator"})
	mod.wait("the invitation", `!document.getElementById("invite-dialog").open && document.querySelectorAll("#invites-body tr").length === 1`)
	vs := s.invitations(t, roomID)
	if len(vs) != 1 || vs[0].Role != "moderator" {
		t.Fatalf("the API's invitations: %+v, want one for a moderator", vs)
	}

	invitee := sess.newTab("invitee", view{})
	invitee.open(vs[0].URL)
	invitee.wantTexts("the invitation's page", map[string]string{
		".eyebrow":    tr("en", "guest.entry.invited"),
		"h1":          "Office hours",
		"#invited-as": "as moderator",
	})
	if got := evalJS[string](invitee, `document.getElementById("name").value + "|" + document.getElementById("email").value`); got != "Cora Host|" {
		t.Errorf("name and email on the invitation's page: %q, want the name filled in and the email empty", got)
	}
	invitee.do("typing the email", chromedp.SendKeys(chromedp.CSS("#email"), "cora@example.org"), chromedp.Click(chromedp.CSS("button[type=submit]")))
	invitee.wait("the room, without a lobby", fmt.Sprintf(`location.pathname === "/rooms/%s" && !!document.getElementById("moderate-link")`, roomID))

	invitee.do("opening Manage guest access", chromedp.Click(chromedp.CSS("#moderate-link")))
	invitee.wait("the Manage page of the room", `!document.getElementById("view-manage").hidden && !document.getElementById("view-lobby").hidden && location.search === "?room=`+roomID+`"`)
	if got, w := invitee.text("#who-name"), "Signed in as Cora Host"; got != w {
		t.Errorf("the invitee's page says %q, want %q", got, w)
	}
	if !invitee.hidden("#change-room") {
		t.Error("the invitee is offered other rooms")
	}
	if offered := evalJS[bool](invitee, `(function (o) { return !o.hidden && !o.disabled; })(document.querySelector('#invite-role option[value="moderator"]'))`); offered {
		t.Error("the invitee is offered to invite moderators")
	}
	if got, w := invitee.text("#invite-role-hint"), tr("en", "moderator.create.role_hint"); got != w {
		t.Errorf("the invitee's role hint says %q, want %q (no word of inviting moderators)", got, w)
	}
	// Revoking their own invitation would shut them out: the confirmation
	// says so (and is cancelled here).
	invitee.wait("the invitee in their own guest list", `Array.from(document.querySelectorAll("#guests-body .guest-name")).some(function (e) { return e.textContent === "Cora Host"; })`)
	invitee.do("clicking Revoke on their own invitation", chromedp.Click(chromedp.CSS("#invites-body button.delete")))
	invitee.wait("the confirmation", `document.getElementById("confirm-dialog").open`)
	if got, w := invitee.text("#confirm-warning"), tr("en", "moderator.invites.revoke.own"); !strings.HasPrefix(got, w) {
		t.Errorf("revoking their own invitation, the invitee is warned %q, want it to start with %q", got, w)
	}
	invitee.do("cancelling", chromedp.Click(chromedp.CSS("#confirm-cancel")))

	viewer := sess.newTab("viewer", view{})
	viewer.open(viewerURL)
	viewer.submitEntry("Vera Viewer", "vera@example.org")
	viewer.wait("the lobby page", `location.pathname.indexOf("/guest/lobby") === 0`)
	invitee.wait("the viewer in the lobby", `document.querySelectorAll("#lobby-body tr").length === 1 && document.querySelector("#lobby-body .guest-name").textContent === "Vera Viewer"`)
	invitee.do("admitting", chromedp.Click(chromedp.CSS("#lobby-body button.btn-primary")))
	viewer.wait("the room, by itself", fmt.Sprintf(`location.pathname === "/rooms/%s" && !!document.getElementById("guest-name")`, roomID))
	keepScreenshot(t, invitee, "invitee-manage-page")
}

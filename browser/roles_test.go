package browser

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// linkRowJS reads the links table: each row's name, role cell, and the state
// badge's class, text and datetime.
const linkRowJS = `Array.from(document.querySelectorAll("#links-body tr")).map(function (r) {
  var b = r.querySelector(".link-state"), role = r.querySelector("td.role");
  return {Name: r.querySelector("th").firstChild.textContent, Role: role.textContent, RoleKey: role.getAttribute("data-role"),
    State: b ? b.textContent : "", StateClass: b ? b.className : "", StateTime: b ? b.getAttribute("datetime") || "" : ""};
})`

type linkRow struct {
	Name, Role, RoleKey, State, StateClass, StateTime string
}

// TestSpeakerLinkOnTheManagePage: a moderator makes a Speaker link in the
// Create new link dialog, and the table says it is one; a guest who redeems it
// in a room where the moderator admits guests goes straight into the room, and
// the room backend is told "speaker"; the guest list names the role. An opening
// time after the link's expiry comes back from the API beside "Opens at", and
// a link that opens later says when (in the moderator's zone, as typed)
// instead of looking broken.
func TestSpeakerLinkOnTheManagePage(t *testing.T) {
	s := startServer(t)
	roomID := uniqueID("roles")
	s.openRoom(t, roomID, "Webinar", "moderator")
	sess := newSession(t)
	mod := sess.newTab("moderator", view{})
	openAsModerator(s, mod, roomID, moderatorToken(t, "mod-r", "Rosalind Franklin", []string{roomID}, time.Hour))
	countPosts(mod)

	openCreate := func() {
		t.Helper()
		mod.do("clicking Create new link", chromedp.Click(chromedp.CSS("#create-open")))
		mod.wait("the create dialog", `document.getElementById("create-dialog").open && document.activeElement.id === "link-name"`)
		if got := mod.text("#link-role option:checked"); got != "Viewer" {
			t.Errorf("the role chosen at first is %q, want Viewer", got)
		}
	}
	openCreate()
	mod.setValue("link-name", "Panel")
	mod.setValue("link-role", "speaker")
	mod.do("creating", chromedp.Click(chromedp.CSS("#create-submit")))
	mod.wait("the new link", `!document.getElementById("create-dialog").open && document.querySelectorAll("#links-body tr").length === 1`)
	rows := evalJS[[]linkRow](mod, linkRowJS)
	if want := (linkRow{Name: "Panel", Role: "Speaker", RoleKey: "speaker"}); len(rows) != 1 || rows[0] != want {
		t.Fatalf("the links table: %+v, want %+v", rows, want)
	}
	panel := s.room(t, roomID).Links[0]
	if panel.Role != "speaker" || panel.NotBefore != nil {
		t.Fatalf("the API's link: role %q, not_before %v; want a speaker link open at once", panel.Role, panel.NotBefore)
	}

	// The guest skips the lobby, and the room backend learns the role.
	guest := sess.newTab("guest", view{})
	guest.open(panel.URL)
	guest.submitEntry("Marie Curie", "marie@example.org")
	guest.wait("the room", `location.pathname === "/rooms/`+roomID+`" && document.querySelector("#guest-name").textContent === "Marie Curie"`)
	guest.open(s.base + "/rooms/" + roomID + "/received-role")
	if got := guest.text("body"); got != "speaker" {
		t.Errorf("the room backend received X-Guest-Role %q, want speaker", got)
	}
	mod.wait("the speaker in the guest list", `Array.from(document.querySelectorAll("#guests-body tr")).some(function (r) { return r.querySelector(".guest-name").textContent === "Marie Curie" && r.querySelector("td.role").textContent === "Speaker"; })`)
	if !mod.hidden("#lobby-wrap") || evalJS[int](mod, `document.querySelectorAll("#lobby-body tr").length`) != 0 {
		t.Error("the speaker is listed in the lobby")
	}

	// An opening time after the expiry: the API's 422, beside the field.
	zone, err := time.LoadLocation(browserZone)
	if err != nil {
		t.Fatal(err)
	}
	opens := time.Now().In(zone).Add(72 * time.Hour).Truncate(time.Minute)
	openCreate()
	mod.setValue("link-name", "Later")
	mod.setValue("link-days", "1")
	mod.setValue("link-opens", opens.Format("2006-01-02T15:04"))
	mod.do("creating a link that opens after it expires", chromedp.Click(chromedp.CSS("#create-submit")))
	mod.wait("the API's answer", `window.__posts === 2 && document.getElementById("create-submit").getAttribute("aria-busy") !== "true" && !document.getElementById("link-opens-error").hidden`)
	ids := []string{"link-name", "link-role", "link-clicks", "link-days", "link-opens"}
	for id, f := range fieldErrors(mod, "-error", ids...) {
		if id == "link-opens" {
			if want := tr("en", "moderator.error.field.not_before"); !f.Shown || f.Text != want || f.Invalid != "true" || !f.Beside {
				t.Errorf("Opens at after the expiry: %+v, want %q shown beside it", f, want)
			}
		} else if f.Shown || f.Invalid != "" {
			t.Errorf("%s is marked wrong: %+v", id, f)
		}
	}
	if at := evalJS[string](mod, `document.activeElement.id`); at != "link-opens" {
		t.Errorf("the focus is in %q, want link-opens", at)
	}
	checkAccessibility(mod, "the dialog with a role and an opening time")
	keepScreenshot(t, mod, "roles-create-opens-error")

	// Without an expiry it opens later, and the table says when.
	mod.setValue("link-days", "")
	mod.do("creating a link that opens later", chromedp.Click(chromedp.CSS("#create-submit")))
	mod.wait("the second link", `!document.getElementById("create-dialog").open && document.querySelectorAll("#links-body tr").length === 2`)
	var later link
	for _, l := range s.room(t, roomID).Links {
		if l.Name == "Later" {
			later = l
		}
	}
	if later.NotBefore == nil || !later.NotBefore.Equal(opens) || later.Role != "viewer" {
		t.Fatalf("the API's link: role %q, not_before %v; want a viewer link opening at %v", later.Role, later.NotBefore, opens)
	}
	for _, r := range evalJS[[]linkRow](mod, linkRowJS) {
		if r.Name != "Later" {
			continue
		}
		// en-US, medium date and short time, in the tab's zone: the time typed.
		shown := opens.Format("Jan 2, 2006, 3:04")
		if r.Role != "Viewer" || !strings.HasPrefix(r.State, "opens ") || !strings.Contains(r.State, shown) ||
			strings.Contains(r.StateClass, "badge-warn") || r.StateTime != later.NotBefore.Format(time.RFC3339) {
			t.Errorf("the link that opens later: %+v, want a viewer link that opens %s (not a warning)", r, shown)
		}
	}
	keepScreenshot(t, mod, "roles-links-table")
}

// TestNotYetOpenPageMovesOn: a guest who opens a link before its opening time
// sees the not-yet-open page, with the time in their own language and zone
// (not the gateway's UTC fallback), and without doing anything is on the entry
// page once the time has come. The bound of the wait is generous; nothing is
// timed beyond it.
func TestNotYetOpenPageMovesOn(t *testing.T) {
	s := startServer(t)
	roomID := uniqueID("opens")
	s.openRoom(t, roomID, "Vortrag", "auto")
	// The browser first, so that its start (slow on a busy machine) does not
	// eat the seconds before the opening.
	guest := newSession(t).newTab("guest", view{Lang: "de-DE,de;q=0.9"})
	opens := time.Now().Add(8 * time.Second).UTC().Truncate(time.Second)
	l := s.newLink(t, roomID, map[string]any{"name": "Publikum", "not_before": opens.Format(time.RFC3339)})

	// Before the time: 403, and the time in German in the tab's zone.
	if st := guest.open(l.URL); st != http.StatusForbidden {
		t.Errorf("the link before its opening time: status %d, want 403", st)
	}
	type page struct{ Reason, Lang, Time, DateTime string }
	got := evalJS[page](guest, `({Reason: document.body.dataset.reason || "", Lang: document.documentElement.lang,
		Time: (document.getElementById("opens-at") || {}).textContent || "", DateTime: (document.getElementById("opens-at") || {getAttribute: function () { return ""; }}).getAttribute("datetime")})`)
	utc := opens.Format("2006-01-02 15:04 UTC")
	if got.Reason != "not-yet-open" || got.Lang != "de" || got.Time == "" || got.Time == utc || strings.Contains(got.Time, "UTC") {
		t.Errorf("the not-yet-open page: %+v, want data-reason not-yet-open, in German, the time not the UTC fallback %q", got, utc)
	}
	if at, err := time.Parse(time.RFC3339, got.DateTime); err != nil || !at.Equal(opens) {
		t.Errorf("the page's opening time %q, want %v", got.DateTime, opens)
	}
	keepScreenshot(t, guest, "not-yet-open-de")

	guest.waitUpTo("the entry page, by itself", `document.body.dataset.page === "entry" && !!document.querySelector("form #name")`, 30*time.Second)
	if href := evalJS[string](guest, `location.href`); href != l.URL {
		t.Errorf("the entry page is at %s, want the link's own URL %s", href, l.URL)
	}
}

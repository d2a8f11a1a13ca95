package browser

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/guestgate/guestgate/admin"
)

// uxViews are the browsers a person may come with: a desktop in English, a
// 360 px phone in German, and a phone in Hebrew (right to left).
var uxViews = []uxView{
	{"desktop-en", "en", view{Lang: "en-US,en;q=0.9"}},
	{"phone-de", "de", view{Lang: "de-DE,de;q=0.9", Width: 360, Height: 740, Mobile: true}},
	{"phone-he", "he", view{Lang: "he-IL,he;q=0.9", Width: 360, Height: 740, Mobile: true}},
}

// uxView is a browser of uxViews.
type uxView struct {
	name string
	lang string // the page language the view asks for
	view view
}

// guestTab makes a room of this test (its id from base) with a guest link,
// and opens the link in a fresh browser as v; it returns the tab and the
// room's id.
func guestTab(t *testing.T, s *server, v uxView, base, roomName, admission string) (*tab, string) {
	t.Helper()
	roomID := uniqueID(base + "-" + v.lang)
	url := guestLink(t, s, roomID, roomName, admission)
	tb := newSession(t).newTab("guest-"+v.name, v.view)
	tb.open(url)
	return tb, roomID
}

// keepScreenshot writes a screenshot of tb as name.png when GUEST_SCREENSHOTS
// names a directory.
func keepScreenshot(t *testing.T, tb *tab, name string) {
	t.Helper()
	if dir := os.Getenv("GUEST_SCREENSHOTS"); dir != "" {
		if err := tb.screenshot(filepath.Join(dir, name+".png")); err != nil {
			t.Error(err)
		}
	}
}

// noSidewaysScroll fails the test when the page is wider than the tab's
// viewport, as newTab set it: a desktop would scroll sideways, and a phone
// widens its viewport to a page that is too wide and shows it zoomed out.
func noSidewaysScroll(t *testing.T, tb *tab, where string) {
	t.Helper()
	type widths struct{ Inner, Scroll float64 }
	w := evalJS[widths](tb, fmt.Sprintf(`({Inner: Math.min(window.innerWidth, %d), Scroll: document.documentElement.scrollWidth})`, tb.width))
	if w.Scroll > w.Inner {
		t.Errorf("%s, %s: the page is %.0f px wide in a %.0f px viewport", tb.name, where, w.Scroll, w.Inner)
	}
}

// fieldErrorJS reads, for each input id, its error element (id + "-error"):
// shown or not, its text, aria-invalid, and whether it sits right under the
// input in the same field.
const fieldErrorJS = `(function (ids, errSuffix) {
  return ids.map(function (id) {
    var i = document.getElementById(id), e = document.getElementById(id + errSuffix);
    var shown = !!e && !e.hidden && e.getBoundingClientRect().height > 0;
    var gap = shown ? e.getBoundingClientRect().top - i.getBoundingClientRect().bottom : -1;
    var field = i.closest(".field");
    return {ID: id, Shown: shown, Text: shown ? e.textContent.trim() : "", Invalid: i.getAttribute("aria-invalid") || "",
      Beside: shown && !!field && field.contains(e) && gap >= 0 && gap <= 48};
  });
})`

type fieldError struct {
	ID, Text, Invalid string
	Shown, Beside     bool
}

// fieldErrors reads the errors of the inputs ids (their error elements are
// id + suffix).
func fieldErrors(tb *tab, suffix string, ids ...string) map[string]fieldError {
	tb.t.Helper()
	list := evalJS[[]fieldError](tb, fieldErrorJS+"("+jsonList(ids)+","+jsString(suffix)+")")
	m := make(map[string]fieldError, len(list))
	for _, f := range list {
		m[f.ID] = f
	}
	return m
}

func jsonList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = jsString(s)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// countPosts makes the page count the POST requests it sends (the ones that
// create a link) in window.__posts.
func countPosts(tb *tab) {
	tb.t.Helper()
	evalJS[bool](tb, `(function(){window.__posts=0;var f=window.fetch;window.fetch=function(u,o){if(o&&o.method==="POST")window.__posts++;return f.apply(this,arguments)};return true})()`)
}

// TestCreateDialogShowsEveryError: in the Create new link dialog, a moderator
// who leaves the name empty and types 0 clicks and 400 days sees all three
// mistakes at once, each beside its field, before anything is sent, with the
// cursor in the first; fixing one leaves the others shown; a value only the
// API can judge (a click limit beyond any integer) comes back from the API
// beside its field; the corrected form creates the link. Desktop and phone,
// English, German and Hebrew.
func TestCreateDialogShowsEveryError(t *testing.T) {
	s := startServer(t)
	for _, v := range uxViews {
		t.Run(v.name, func(t *testing.T) {
			roomID := uniqueID("create-" + v.lang)
			s.openRoom(t, roomID, "Raum "+v.lang, "auto")
			mod := newSession(t).newTab("moderator-"+v.name, v.view)
			openAsModerator(s, mod, roomID, moderatorToken(t, "u-"+v.lang, "Mo", []string{roomID}, time.Hour))
			countPosts(mod)
			mod.do("clicking Create new link", chromedp.Click(chromedp.CSS("#create-open")))
			mod.wait("the create dialog with the focus in Link Name", `document.getElementById("create-dialog").open && document.activeElement.id === "link-name"`)
			mod.setValue("link-clicks", "0")
			mod.setValue("link-days", "400")
			mod.do("creating", chromedp.Click(chromedp.CSS("#create-submit")))
			mod.wait("the errors", `!document.getElementById("link-days-error").hidden`)

			ids := []string{"link-name", "link-clicks", "link-days"}
			want := map[string]string{
				"link-name":   tr(v.lang, "moderator.error.field.name"),
				"link-clicks": tr(v.lang, "moderator.error.field.max_clicks"),
				"link-days":   tr(v.lang, "moderator.error.field.duration_days"),
			}
			check := func(when string, bad ...string) {
				t.Helper()
				got := fieldErrors(mod, "-error", ids...)
				for _, id := range ids {
					f, isBad := got[id], strings.Contains(strings.Join(bad, " "), id)
					if isBad && (!f.Shown || f.Text != want[id] || f.Invalid != "true" || !f.Beside) {
						t.Errorf("%s: %s: %+v, want %q shown beside it", when, id, f, want[id])
					}
					if !isBad && (f.Shown || f.Invalid != "") {
						t.Errorf("%s: %s is marked wrong: %+v", when, id, f)
					}
				}
			}
			check("name empty, 0 clicks, 400 days", ids...)
			if at := evalJS[string](mod, `document.activeElement.id`); at != "link-name" {
				t.Errorf("the focus is in %q, want the first wrong field", at)
			}
			if n := evalJS[int](mod, `window.__posts`); n != 0 {
				t.Errorf("the dialog sent %d requests with fields it could check itself", n)
			}
			if v.view.Mobile {
				type box struct{ Left, Right, Inner float64 }
				b := evalJS[box](mod, `(function(){var r=document.getElementById("create-dialog").getBoundingClientRect();return {Left:r.left,Right:r.right,Inner:window.innerWidth}})()`)
				if b.Left < 0 || b.Right > b.Inner {
					t.Errorf("the dialog with its errors sticks out of the phone: %.0f to %.0f of %.0f", b.Left, b.Right, b.Inner)
				}
			}
			checkAccessibility(mod, "the dialog with three errors")
			keepScreenshot(t, mod, "create-errors-"+v.name)

			mod.setValue("link-name", "Gäste")
			mod.do("creating again", chromedp.Click(chromedp.CSS("#create-submit")))
			mod.wait("the name's error gone", `document.getElementById("link-name-error").hidden`)
			check("a name, 0 clicks, 400 days", "link-clicks", "link-days")
			if at := evalJS[string](mod, `document.activeElement.id`); at != "link-clicks" {
				t.Errorf("the focus is in %q, want link-clicks", at)
			}

			// Beyond any integer: only the API can tell; its answer names the field.
			mod.setValue("link-clicks", "99999999999999999999")
			mod.setValue("link-days", "")
			mod.do("creating with a huge click limit", chromedp.Click(chromedp.CSS("#create-submit")))
			mod.wait("the API's answer", `window.__posts === 1 && document.getElementById("create-submit").getAttribute("aria-busy") !== "true" && !document.getElementById("link-clicks-error").hidden`)
			check("a click limit the API refuses", "link-clicks")

			mod.setValue("link-clicks", "2")
			mod.setValue("link-days", "7")
			mod.do("creating a valid link", chromedp.Click(chromedp.CSS("#create-submit")))
			mod.wait("the new link", `!document.getElementById("create-dialog").open && document.querySelectorAll("#links-body tr").length === 1`)
			if r := s.room(t, roomID); len(r.Links) != 1 || r.Links[0].MaxClicks == nil || *r.Links[0].MaxClicks != 2 {
				t.Errorf("links after the dialog: %+v", r.Links)
			}
		})
	}
}

// TestEntryFormShowsEveryError: a guest who opens a link can type their name
// at once (the field has the focus); one who leaves the name empty and types
// "a@b" sees both mistakes at once, each beside its field, with the cursor in
// the name; "name@example" is refused too; a correct form joins the room.
// Desktop and phone, English, German and Hebrew.
func TestEntryFormShowsEveryError(t *testing.T) {
	s := startServer(t)
	for _, v := range uxViews {
		t.Run(v.name, func(t *testing.T) {
			tb, roomID := guestTab(t, s, v, "entry", "Sprechstunde", "auto")
			tb.wait("the focus in the name field", `document.activeElement && document.activeElement.id === "name"`)

			tb.do("submitting an empty name and a@b",
				chromedp.SendKeys(chromedp.CSS("#email"), "a@b"),
				chromedp.Click(chromedp.CSS("button[type=submit]")))
			tb.wait("both errors with the focus in the name", `!!document.querySelector("#name-error") && !!document.querySelector("#email-error") && document.activeElement && document.activeElement.id === "name"`)
			got := fieldErrors(tb, "-error", "name", "email")
			for id, key := range map[string]string{"name": "guest.error.name.required", "email": "guest.error.email.invalid_email"} {
				if f := got[id]; !f.Shown || f.Text != tr(v.lang, key) || f.Invalid != "true" || !f.Beside {
					t.Errorf("%s: %+v, want %q beside it", id, f, tr(v.lang, key))
				}
			}
			if email := evalJS[string](tb, `document.getElementById("email").value`); email != "a@b" {
				t.Errorf("the email typed is gone: %q", email)
			}
			noSidewaysScroll(t, tb, "the form with two errors")
			checkAccessibility(tb, "the form with two errors")
			keepScreenshot(t, tb, "entry-errors-"+v.name)

			evalJS[bool](tb, `(document.getElementById("email").value = "", true)`)
			tb.do("typing a name and name@example",
				chromedp.SendKeys(chromedp.CSS("#name"), "Lena"),
				chromedp.SendKeys(chromedp.CSS("#email"), "name@example"),
				chromedp.Click(chromedp.CSS("button[type=submit]")))
			tb.wait("the email's error alone with the focus in the email", `!document.querySelector("#name-error") && !!document.querySelector("#email-error") && document.activeElement && document.activeElement.id === "email"`)

			evalJS[bool](tb, `(document.getElementById("email").value = "", true)`)
			tb.do("fixing the email",
				chromedp.SendKeys(chromedp.CSS("#email"), "lena@example.com"),
				chromedp.Click(chromedp.CSS("button[type=submit]")))
			tb.wait("the room", `location.pathname === "/rooms/`+roomID+`"`)
		})
	}
}

// TestWaitingGuestOpensTheRoom: a guest waiting in the lobby who opens the
// room's address (another tab, a bookmark) lands on the lobby page, not on a
// page saying the room is not for guests; admitted, they move on by
// themselves.
func TestWaitingGuestOpensTheRoom(t *testing.T) {
	s := startServer(t)
	for _, v := range uxViews {
		t.Run(v.name, func(t *testing.T) {
			tb, roomID := guestTab(t, s, v, "wait", "Sprechstunde Prof. Weber", "moderator")
			tb.submitEntry("Lena", "lena@example.com")
			tb.wait("the lobby", `location.pathname === "/guest/lobby" && !!document.querySelector("#lobby-status")`)

			if st := tb.open(s.base + "/rooms/" + roomID); st != http.StatusOK {
				t.Errorf("opening the room while waiting: status %d, want the lobby's 200", st)
			}
			type at struct{ Path, Page, Reason, Heading string }
			got := evalJS[at](tb, `({Path: location.pathname, Page: document.body.dataset.page || "", Reason: document.body.dataset.reason || "", Heading: document.querySelector("h1").textContent.trim()})`)
			if want := (at{Path: "/guest/lobby", Page: "lobby", Heading: "Sprechstunde Prof. Weber"}); got != want {
				t.Errorf("opening the room while waiting shows %+v, want %+v", got, want)
			}
			noSidewaysScroll(t, tb, "the lobby")
			keepScreenshot(t, tb, "waiting-opens-room-"+v.name)

			s.api(t, http.StatusOK, "POST", "/api/rooms/"+roomID+"/lobby/admit-all", nil, nil)
			tb.wait("the room greeting the admitted guest", `location.pathname === "/rooms/`+roomID+`" && document.querySelector("#guest-name").textContent === "Lena"`)
		})
	}
}

// TestMessagePagesNameTheRoom: the message pages a guest meets inside a
// session name that session's room, say "moderator" in the guest's language
// and give a next step (a way back to the room where there is one); they fit
// a phone.
func TestMessagePagesNameTheRoom(t *testing.T) {
	s := startServer(t)
	for _, v := range uxViews {
		t.Run(v.name, func(t *testing.T) {
			const name = "Physik <101> für Gäste"
			tb, roomID := guestTab(t, s, v, "msg", name, "auto")
			tb.submitEntry("Jo", "jo@example.com")
			tb.wait("the room", `location.pathname === "/rooms/`+roomID+`"`)

			type msg struct{ Reason, Lang, Room, Heading, Text, Back string }
			read := func() msg {
				return evalJS[msg](tb, `(function(){var q=function(s){var e=document.querySelector(s);return e?e.textContent.trim():""};
				  var b=document.querySelector("a.button");
				  return {Reason: document.body.dataset.reason || "", Lang: document.documentElement.lang, Room: q("#room-name"),
				    Heading: q("h1"), Text: q(".lead"), Back: b ? b.getAttribute("href") : ""}})()`)
			}
			if st := tb.open(s.base + "/"); st != http.StatusForbidden {
				t.Errorf("a page outside the room: status %d", st)
			}
			if got, want := read(), (msg{Reason: "not-allowed", Lang: v.lang, Room: name,
				Heading: tr(v.lang, "guest.message.not-allowed.heading"), Text: tr(v.lang, "guest.message.not-allowed.text"),
				Back: "/rooms/" + roomID}); got != want {
				t.Errorf("outside the room\n got %+v\nwant %+v", got, want)
			}
			noSidewaysScroll(t, tb, "the not-allowed page")
			checkAccessibility(tb, "the not-allowed page")

			s.api(t, http.StatusOK, "PUT", "/api/rooms/"+roomID+"/guest-access", map[string]any{"enabled": false}, nil)
			if st := tb.open(s.base + "/rooms/" + roomID); st != http.StatusForbidden {
				t.Errorf("the room after guest access was turned off: status %d", st)
			}
			got := read()
			if want := (msg{Reason: "guest-access-off", Lang: v.lang, Room: name,
				Heading: tr(v.lang, "guest.message.guest-access-off.heading"), Text: tr(v.lang, "guest.message.guest-access-off.text")}); got != want {
				t.Errorf("guest access off\n got %+v\nwant %+v", got, want)
			}
			moderator := map[string]string{"en": "moderator", "de": "Moderation", "he": "המנחה"}[v.lang]
			if !strings.Contains(got.Text, moderator) {
				t.Errorf("guest access off: %q does not say who turned it off (%q)", got.Text, moderator)
			}
			noSidewaysScroll(t, tb, "the guest-access-off page")
			checkAccessibility(tb, "the guest-access-off page")
			keepScreenshot(t, tb, "message-access-off-"+v.name)
		})
	}
}

// TestMintedModeratorToken: the link "caddy guestgate token --url" prints (a
// token of admin.MintModeratorToken, typed guestgate-moderator+jwt, in the
// fragment) signs a newcomer into the Manage guest access page for the room,
// as a room backend's link does, on a desktop and a phone.
func TestMintedModeratorToken(t *testing.T) {
	s := startServer(t)
	for _, v := range []uxView{uxViews[0], uxViews[2]} {
		t.Run(v.name, func(t *testing.T) {
			roomID := uniqueID("minted-" + v.lang)
			s.newRoom(t, roomID, "Demo room", "auto")
			tok, err := admin.MintModeratorToken(moderatorKey, admin.ModeratorTokenSpec{Sub: "newcomer", Name: "Neu Ling", Rooms: []string{roomID}, TTL: time.Hour}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			mod := newSession(t).newTab("moderator-"+v.name, v.view)
			openAsModerator(s, mod, roomID, tok)
			mod.wantTexts("the window", map[string]string{
				"#who-name":      tr(v.lang, "moderator.signin.signed_in_as", "Neu Ling"),
				"#room-subtitle": tr(v.lang, "moderator.room.subtitle", "Demo room"),
			})
			if href := evalJS[string](mod, `location.href`); strings.Contains(href, "token") {
				t.Errorf("the token stays in the address bar: %s", href)
			}
			noSidewaysScroll(t, mod, "the Manage page")
			keepScreenshot(t, mod, "minted-token-"+v.name)
		})
	}
}

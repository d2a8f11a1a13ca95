package browser

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the browser's time zone, to check the dates it shows

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// browserZone is the time zone every tab runs in (newTab); dates on the page are
// checked against it.
const browserZone = "Asia/Tokyo"

// uniqueID makes a room id of this run.
func uniqueID(base string) string {
	return fmt.Sprintf("%s-%d", base, time.Now().UnixNano()%1_000_000_000)
}

// openAsModerator opens the Manage guest access page for room with a moderator
// token in the URL fragment, as the room backend's "Manage guest access" menu
// would, and waits for the window.
func openAsModerator(s *server, tb *tab, roomID, token string) {
	tb.t.Helper()
	tb.do("opening the page", chromedp.Navigate(s.base+"/guest-admin/?room="+url.QueryEscape(roomID)+"#token="+token))
	tb.wait("the Manage guest access window", `!document.getElementById("view-manage").hidden && document.getElementById("links-count").textContent !== ""`)
}

// keyboardTo presses Tab from the start of the page until the element with id
// has the focus (at most max presses).
func keyboardTo(tb *tab, id string, max int) {
	tb.t.Helper()
	evalJS[bool](tb, `(document.activeElement && document.activeElement.blur(), window.getSelection().removeAllRanges(), true)`)
	for i := 0; i < max; i++ {
		tb.do("pressing Tab", chromedp.KeyEvent(kb.Tab))
		at := evalJS[string](tb, `document.activeElement ? document.activeElement.id : ""`)
		if at == id {
			return
		}
	}
	tb.t.Fatalf("%s: %d presses of Tab did not reach #%s", tb.name, max, id)
}

// TestModeratorAndGuest is the moderator's journey of docs/DESIGN.md section 1,
// with a guest in a second browser context: sign in with a token, switch guest
// access on by keyboard, create a link of 2 clicks and 1 day, copy it; the guest
// joins and is greeted by name; the click count moves to 1 / 2; access off stops
// the guest at their next reload; the link is deleted after confirming.
func TestModeratorAndGuest(t *testing.T) {
	s := startServer(t)
	b := newSession(t)
	roomID := uniqueID("flow")
	s.newRoom(t, roomID, "Physics 101", "auto")
	mod := b.newTab("moderator", view{})
	b.grantClipboard(mod, s.base)

	// Sign in with the token in the fragment; the fragment leaves the address bar.
	token := moderatorToken(t, "u-ada", "Ada Lovelace", []string{roomID}, time.Hour)
	openAsModerator(s, mod, roomID, token)
	href := evalJS[string](mod, `location.href`)
	if strings.Contains(href, "#") || strings.Contains(href, "token") {
		t.Errorf("the token stays in the address bar: %s", href)
	}
	if !strings.HasSuffix(href, "/guest-admin/?room="+roomID) {
		t.Errorf("location after sign-in: %s", href)
	}
	stored := evalJS[string](mod, `Object.keys(sessionStorage).map(function(k){return sessionStorage.getItem(k)}).join(" ")`)
	if stored != token {
		t.Errorf("sessionStorage does not hold the token")
	}
	histLen := evalJS[int](mod, `history.length`)

	// The window as docs/DESIGN.md section 1 describes it.
	mod.wantTexts("the window", map[string]string{
		"#manage-title":  "Manage guest access",
		"#intro":         "Allow link-based access without sign-in. Up to 3 guest links available.",
		"#access-label":  "Enable guest access",
		"#links-count":   "No links added",
		"#create-open":   "Create new link",
		"#create-reason": "Turn on guest access to create links.",
		"#room-subtitle": "Room: Physics 101",
		"#who-name":      "Signed in as Ada Lovelace",
	})
	type controls struct {
		Role, Disabled string
		Checked        bool
	}
	state := evalJS[controls](mod, `({Role: document.getElementById("access-switch").getAttribute("role"), Checked: document.getElementById("access-switch").checked, Disabled: document.getElementById("create-open").getAttribute("aria-disabled")})`)
	if state.Role != "switch" || state.Checked || state.Disabled != "true" {
		t.Errorf("switch and create button at the start: %+v", state)
	}

	// Keyboard only: Tab to the switch (with a visible focus outline), Space turns
	// guest access on.
	keyboardTo(mod, "access-switch", 6)
	outline := evalJS[string](mod, `(function(){var s=getComputedStyle(document.activeElement);return s.outlineStyle+" "+s.outlineWidth})()`)
	if !strings.HasPrefix(outline, "solid ") || outline == "solid 0px" {
		t.Errorf("the focused switch has no visible outline: %q", outline)
	}
	mod.do("pressing Space", chromedp.KeyEvent(" "))
	mod.wait("guest access on", `document.getElementById("access-switch").checked && document.getElementById("create-open").getAttribute("aria-disabled") === "false"`)
	if !s.room(t, roomID).GuestAccess {
		t.Fatal("the switch is on, but guest access is off in the API")
	}
	if !mod.hidden("#create-reason") {
		t.Errorf("a reason is still shown beside Create new link: %q", mod.text("#create-reason"))
	}

	// Create new link opens the dialog; Escape closes it.
	mod.do("clicking Create new link", chromedp.Click(chromedp.CSS("#create-open")))
	mod.wait("the create dialog with the focus in Link Name", `document.getElementById("create-dialog").open && document.activeElement.id === "link-name"`)
	mod.wantTexts("the create dialog", map[string]string{
		"#create-title":          "Create new link",
		"label[for=link-name]":   "Link Name *",
		"label[for=link-clicks]": "# of clicks",
		"#link-clicks-hint":      "Limit how many times this link can be accessed.",
		"label[for=link-days]":   "Duration",
		"#link-days-suffix":      "Day/s",
		"#create-cancel":         "Cancel",
		"#create-submit":         "Create",
	})
	checkAccessibility(mod, "the create dialog")
	// The focus stays in the dialog: Tab from its last control comes back to its first.
	evalJS[bool](mod, `(document.getElementById("create-submit").focus(), true)`)
	mod.do("pressing Tab", chromedp.KeyEvent(kb.Tab))
	inDialog := evalJS[bool](mod, `document.getElementById("create-dialog").contains(document.activeElement)`)
	if !inDialog {
		t.Errorf("Tab from the dialog's last control left the dialog")
	}
	mod.do("pressing Escape", chromedp.KeyEvent(kb.Escape))
	mod.wait("the dialog closed by Escape", `!document.getElementById("create-dialog").open`)

	// An empty name: the API's error shows beside the field, and no link is made.
	mod.do("clicking Create new link", chromedp.Click(chromedp.CSS("#create-open")))
	mod.wait("the create dialog", `document.getElementById("create-dialog").open`)
	mod.do("submitting without a name", chromedp.Click(chromedp.CSS("#create-submit")))
	mod.wait("the name's error", `!document.getElementById("link-name-error").hidden`)
	if got := mod.text("#link-name-error"); got != "Enter a name of 1 to 80 characters." {
		t.Errorf("name error: %q", got)
	}
	invalid := evalJS[string](mod, `document.getElementById("link-name").getAttribute("aria-invalid") + " " + document.activeElement.id`)
	if invalid != "true link-name" {
		t.Errorf("after the error, aria-invalid and focus: %q", invalid)
	}
	// A duration over 365 days: the API names the field.
	mod.do("filling the form",
		chromedp.SendKeys(chromedp.CSS("#link-name"), "Guest speakers"),
		chromedp.SendKeys(chromedp.CSS("#link-clicks"), "2"),
		chromedp.SendKeys(chromedp.CSS("#link-days"), "400"),
		chromedp.Click(chromedp.CSS("#create-submit")))
	mod.wait("the duration's error", `!document.getElementById("link-days-error").hidden`)
	if mod.hidden("#link-name-error") == false {
		t.Errorf("the name's error is still shown")
	}
	mod.setValue("link-days", "")
	mod.do("fixing the duration",
		chromedp.SendKeys(chromedp.CSS("#link-days"), "1"),
		chromedp.Click(chromedp.CSS("#create-submit")))
	mod.wait("the new link in the table", `!document.getElementById("create-dialog").open && document.querySelectorAll("#links-body tr").length === 1`)

	r := s.room(t, roomID)
	if len(r.Links) != 1 || r.Links[0].ExpiresAt == nil || r.Links[0].MaxClicks == nil || *r.Links[0].MaxClicks != 2 {
		t.Fatalf("links in the API: %+v", r.Links)
	}
	l := r.Links[0]
	if d := time.Until(*l.ExpiresAt); d < 23*time.Hour || d > 24*time.Hour+time.Minute {
		t.Errorf("expires_at %v is not a day ahead", l.ExpiresAt)
	}
	zone, err := time.LoadLocation(browserZone)
	if err != nil {
		t.Fatal(err)
	}
	tomorrow := l.ExpiresAt.In(zone).Format("January 2, 2006") // en-US, dateStyle long
	mod.wantTexts("the table", map[string]string{
		"#links-count":          "1 link",
		"#links-body th":        "Guest speakers",
		"#links-body .expires":  tomorrow,
		"#links-body .clicks":   "0 / 2",
		"#links-table thead tr": "Link name\n            Role\n            Expiration date\n            # of clicks\n            Actions",
		"#links-body .role":     "Viewer",
	})
	checkAccessibility(mod, "the window with a link")

	// Copy: the button says Copied, and the clipboard holds the link's URL.
	mod.do("clicking copy", chromedp.Click(chromedp.CSS("#links-body button.copy")))
	mod.wait("the copy button saying Copied", `document.querySelector("#links-body button.copy").textContent.trim() === "Copied"`)
	clip, err := chromedp.Run(mod.ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Errorf("reading the clipboard: %v", err)
	} else if clip != l.URL {
		t.Errorf("clipboard %q, want the link %q", clip, l.URL)
	}

	// The guest, in a browser context of their own, joins through the link.
	guest := b.newTab("guest", view{})
	guest.do("opening the link", chromedp.Navigate(l.URL))
	guest.wait("the entry form", `!!document.querySelector("form input[name=name]")`)
	guest.submitEntry("Grace Hopper", "grace@example.com")
	guest.wait("the demo room", fmt.Sprintf(`location.pathname === "/rooms/%s" && !!document.getElementById("guest-name")`, roomID))
	// room.js decodes the percent-encoded X-Guest-Name after the page loads:
	// wait for the greeting rather than read it before the script ran.
	guest.wait("the room greeting by name", `document.querySelector("h1").textContent === "Welcome, Grace Hopper!"`)

	// The moderator's table counts the click by itself (the page polls).
	mod.wait("1 / 2 in the table", `document.querySelector("#links-body .clicks").textContent === "1 / 2"`)
	mod.wait("the guest in the guest list", `Array.from(document.querySelectorAll("#guests-body .guest-name")).some(function(e){return e.textContent === "Grace Hopper"})`)

	// Guest access off: the guest's next page load gets the message page.
	mod.do("switching guest access off", chromedp.Click(chromedp.CSS("#access-switch")))
	mod.wait("guest access off", `!document.getElementById("access-switch").checked && document.getElementById("create-open").getAttribute("aria-disabled") === "true"`)
	if s.room(t, roomID).GuestAccess {
		t.Fatal("the switch is off, but guest access is on in the API")
	}
	guest.do("reloading", chromedp.Reload())
	guest.wait("the guest-access-off page", `document.body && document.body.getAttribute("data-reason") === "guest-access-off"`)

	// Delete, after a confirmation that says deleted links can't be restored;
	// Escape on the confirmation keeps the link.
	mod.do("clicking delete", chromedp.Click(chromedp.CSS("#links-body button.delete")))
	mod.wait("the confirmation", `document.getElementById("confirm-dialog").open && document.activeElement.id === "confirm-cancel"`)
	if got := mod.text("#confirm-warning"); !strings.Contains(got, "Deleted links can't be restored.") {
		t.Errorf("confirmation warning: %q", got)
	}
	if got := mod.text("#confirm-body"); !strings.Contains(got, "“Guest speakers”") {
		t.Errorf("confirmation body: %q", got)
	}
	mod.do("pressing Escape", chromedp.KeyEvent(kb.Escape))
	mod.wait("the confirmation closed", `!document.getElementById("confirm-dialog").open`)
	if n := len(s.room(t, roomID).Links); n != 1 {
		t.Fatalf("Escape on the confirmation deleted the link (%d links)", n)
	}
	mod.do("clicking delete", chromedp.Click(chromedp.CSS("#links-body button.delete")))
	mod.wait("the confirmation", `document.getElementById("confirm-dialog").open`)
	mod.do("confirming", chromedp.Click(chromedp.CSS("#confirm-ok")))
	mod.wait("no links", `document.getElementById("links-count").textContent === "No links added" && document.querySelectorAll("#links-body tr").length === 0`)
	if n := len(s.room(t, roomID).Links); n != 0 {
		t.Errorf("the API still has %d links", n)
	}
	guest.do("opening the deleted link", chromedp.Navigate(l.URL))
	guest.wait("the link-invalid page", `document.body && document.body.getAttribute("data-reason") === "link-invalid"`)

	histAfter := evalJS[int](mod, `history.length`)
	if histAfter != histLen {
		t.Errorf("the page added history entries (%d, then %d)", histLen, histAfter)
	}
	for _, tb := range []*tab{mod, guest} {
		if d := tb.dialogsSeen(); len(d) > 0 {
			t.Errorf("%s: JavaScript dialogs opened: %q", tb.name, d)
		}
	}
}

// TestLobbyAndHostileName: in a room with admission by a moderator, a guest whose
// name is HTML waits in the lobby; the moderator sees the name as text in the
// lobby panel, admits the guest from the page, and the guest's lobby page moves
// into the room by itself, where the name is text too. No element is made from
// the name and no script runs, on either page.
func TestLobbyAndHostileName(t *testing.T) {
	s := startServer(t)
	b := newSession(t)
	roomID := uniqueID("lobby")
	s.openRoom(t, roomID, "Staff meeting", "moderator")
	l := s.newLink(t, roomID, map[string]any{"name": `<b>VIP</b> link`})

	mod := b.newTab("moderator", view{})
	openAsModerator(s, mod, roomID, moderatorToken(t, "u-host", "Hal Host", []string{roomID}, time.Hour))
	mod.wait("the lobby panel", `!document.getElementById("view-lobby").hidden`)
	if got := mod.text("#lobby-empty"); got != "No one is waiting." {
		t.Errorf("empty lobby: %q", got)
	}
	if got := mod.text("#links-body th"); got != "<b>VIP</b> link" {
		t.Errorf("link name: %q", got)
	}

	const hostile = `<img src=x onerror=alert(1)>`
	guest := b.newTab("guest", view{})
	guest.do("opening the link", chromedp.Navigate(l.URL))
	guest.wait("the entry form", `!!document.querySelector("form input[name=name]")`)
	guest.submitEntry(hostile, "mallory@example.com")
	guest.wait("the lobby page", `location.pathname.indexOf("/guest/lobby") === 0`)

	// The lobby panel shows the guest by itself, name as text.
	mod.wait("the guest in the lobby", `document.querySelectorAll("#lobby-body tr").length === 1`)
	if got := mod.text("#lobby-body .guest-name"); got != hostile {
		t.Errorf("lobby name: %q, want the text %q", got, hostile)
	}
	row := evalJS[string](mod, `document.querySelector("#lobby-body tr").innerText`)
	for _, want := range []string{"mallory@example.com", "<b>VIP</b> link", "less than a minute", "Admit", "Decline"} {
		if !strings.Contains(row, want) {
			t.Errorf("lobby row %q lacks %q", row, want)
		}
	}
	if got := mod.text("#lobby-count"); got != "1 guest waiting" {
		t.Errorf("lobby count: %q", got)
	}
	noImages(mod)

	mod.do("admitting", chromedp.Click(chromedp.CSS("#lobby-body button.btn-primary")))
	// Loaded completely: room.js (deferred) has decoded the name it shows.
	guest.wait("the room, by itself", fmt.Sprintf(`location.pathname === "/rooms/%s" && !!document.getElementById("guest-name") && document.readyState === "complete"`, roomID))
	if got := guest.text("#guest-name"); got != hostile {
		t.Errorf("room greeting name: %q, want the text %q", got, hostile)
	}
	noImages(guest)

	mod.wait("the lobby empty again", `document.querySelectorAll("#lobby-body tr").length === 0 && !document.getElementById("lobby-empty").hidden`)
	mod.wait("the guest in the guest list, admitted", `(function(){var r=document.querySelector("#guests-body tr");return !!r && r.querySelector(".state").textContent === "Admitted"})()`)
	if got := mod.text("#guests-body .guest-name"); got != hostile {
		t.Errorf("guest list name: %q, want the text %q", got, hostile)
	}
	noImages(mod)

	// Remove, after confirming: the guest's next request is refused.
	mod.do("clicking Remove", chromedp.Click(chromedp.CSS("#guests-body button")))
	mod.wait("the confirmation", `document.getElementById("confirm-dialog").open`)
	if got := mod.text("#confirm-body"); !strings.HasPrefix(got, hostile+" is removed") {
		t.Errorf("remove confirmation: %q", got)
	}
	noImages(mod)
	mod.do("confirming", chromedp.Click(chromedp.CSS("#confirm-ok")))
	mod.wait("the guest removed", `document.querySelector("#guests-body .state").textContent === "Removed"`)
	guest.do("reloading", chromedp.Reload())
	guest.wait("the removed page", `document.body && document.body.getAttribute("data-reason") === "removed"`)

	for _, tb := range []*tab{mod, guest} {
		if d := tb.dialogsSeen(); len(d) > 0 {
			t.Errorf("%s: JavaScript dialogs opened: %q", tb.name, d)
		}
	}
}

// noImages fails unless the page has no img element at all (neither the
// moderator page nor the demo room has one of its own).
func noImages(tb *tab) {
	tb.t.Helper()
	if n := evalJS[int](tb, `document.querySelectorAll("img").length`); n != 0 {
		tb.t.Errorf("%s: %d img elements on the page: a name became HTML", tb.name, n)
	}
}

// TestSignIn: without a credential the page asks for one; a wrong API key is
// refused beside the field; a right one opens the room; a token for other rooms
// is refused for this one; an expired session leads back to sign-in, saying so.
func TestSignIn(t *testing.T) {
	s := startServer(t)
	b := newSession(t)
	roomID := uniqueID("signin")
	other := uniqueID("other")
	s.newRoom(t, roomID, "Sign-in room", "auto")
	s.newRoom(t, other, "Other room", "auto")
	tb := b.newTab("moderator", view{})

	tb.do("opening the page", chromedp.Navigate(s.base+"/guest-admin/?room="+roomID))
	tb.wait("the sign-in form", `!document.getElementById("view-signin").hidden`)
	if got := evalJS[string](tb, `document.getElementById("signin-room").value`); got != roomID {
		t.Errorf("room field: %q", got)
	}
	tb.do("signing in with a wrong key",
		chromedp.SendKeys(chromedp.CSS("#signin-key"), "not-the-key-0123456789"),
		chromedp.Click(chromedp.CSS("#signin-form button[type=submit]")))
	tb.wait("the key's error", `!document.getElementById("signin-key-error").hidden`)
	if got := tb.text("#signin-key-error"); got != "This key wasn't accepted. Check it and try again." {
		t.Errorf("wrong key: %q", got)
	}
	tb.setValue("signin-key", "")
	tb.do("signing in with the API key",
		chromedp.SendKeys(chromedp.CSS("#signin-key"), apiKey),
		chromedp.Click(chromedp.CSS("#signin-form button[type=submit]")))
	tb.wait("the window", `!document.getElementById("view-manage").hidden && document.getElementById("links-count").textContent === "No links added"`)
	if got := tb.text("#who-name"); got != "Signed in with an API key" {
		t.Errorf("who: %q", got)
	}
	tb.do("signing out", chromedp.Click(chromedp.CSS("#signout")))
	tb.wait("the sign-in form", `!document.getElementById("view-signin").hidden`)

	// A token of two rooms opened without ?room: a room picker.
	two := moderatorToken(t, "u-pat", "Pat", []string{roomID, other}, time.Hour)
	tb.do("opening with a two-room token", chromedp.Navigate(s.base+"/guest-admin/#token="+two))
	tb.wait("the room picker", `!document.getElementById("view-picker").hidden && document.getElementById("picker-select").options.length === 2`)
	tb.wait("room names in the picker", `document.getElementById("picker-select").options[1].textContent === "Other room (`+other+`)"`)
	tb.setValue("picker-select", other)
	tb.do("picking the other room",
		chromedp.Click(chromedp.CSS("#picker-form button[type=submit]")))
	tb.wait("the other room's window", `!document.getElementById("view-manage").hidden && document.getElementById("room-subtitle").textContent === "Room: Other room"`)

	// A token of one room, for another room: refused, with the reason.
	one := moderatorToken(t, "u-pat", "Pat", []string{other}, time.Hour)
	tb.do("opening another room's page", chromedp.Navigate(s.base+"/guest-admin/?room="+roomID+"#token="+one))
	tb.wait("the refusal", `!document.getElementById("view-picker").hidden && !document.getElementById("picker-message").hidden`)
	if got := tb.text("#picker-message"); got != "You can't manage this room with your current sign-in." {
		t.Errorf("forbidden room: %q", got)
	}

	// A token that runs out while the page is open: back to sign-in, saying so.
	// (guestgate allows 30 s of clock skew: this token expired 20 s ago, so it
	// works for about 10 s more.)
	now := time.Now()
	short := moderatorTokenAt(t, "u-pat", "Pat", []string{roomID}, now.Add(-time.Minute), now.Add(-20*time.Second))
	openAsModerator(s, tb, roomID, short)
	tb.wait("the expired-session message", `!document.getElementById("view-signin").hidden && document.getElementById("signin-message").textContent === "Your session has expired. Please sign in again."`)
	left := evalJS[string](tb, `Object.keys(sessionStorage).join(",")`)
	if left != "" {
		t.Errorf("sessionStorage still holds %q after the session ended", left)
	}
}

// TestLanguages: the page follows Accept-Language: German with German dates,
// Hebrew right to left.
func TestLanguages(t *testing.T) {
	s := startServer(t)
	roomID := uniqueID("lang")
	s.openRoom(t, roomID, "Sprachkurs", "auto")
	l := s.newLink(t, roomID, map[string]any{"name": "Gäste", "duration_days": 7, "max_clicks": 1000})
	token := moderatorToken(t, "u-de", "Dora", []string{roomID}, time.Hour)
	zone, _ := time.LoadLocation(browserZone)
	months := []string{"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"}
	exp := l.ExpiresAt.In(zone)

	for _, tc := range []struct {
		accept, dir, title, count, clicks, date string
	}{
		{"de-DE,de;q=0.9", "ltr", "Gastzugang verwalten", "1 Link", "0 / 1.000", fmt.Sprintf("%d. %s %d", exp.Day(), months[exp.Month()-1], exp.Year())},
		{"he-IL,he;q=0.9", "rtl", "ניהול גישת אורחים", "קישור אחד", "0 / 1,000", ""},
	} {
		t.Run(tc.accept[:2], func(t *testing.T) {
			tb := newSession(t).newTab("moderator-"+tc.accept[:2], view{Lang: tc.accept})
			openAsModerator(s, tb, roomID, token)
			got := evalJS[struct{ Lang, Dir, Title string }](tb, `({Lang: document.documentElement.lang, Dir: document.documentElement.dir, Title: document.getElementById("manage-title").textContent})`)
			if got.Lang != tc.accept[:2] || got.Dir != tc.dir || got.Title != tc.title {
				t.Errorf("html lang/dir and title: %+v", got)
			}
			if c := tb.text("#links-count"); c != tc.count {
				t.Errorf("count: %q, want %q", c, tc.count)
			}
			if c := tb.text("#links-body .clicks"); c != tc.clicks {
				t.Errorf("clicks: %q, want %q", c, tc.clicks)
			}
			if tc.date != "" {
				if d := tb.text("#links-body .expires"); d != tc.date {
					t.Errorf("date: %q, want %q", d, tc.date)
				}
			}
			checkAccessibility(tb, "the window in "+tc.accept)
		})
	}
}

// redeemHTTP joins through a link as a guest without a browser (Go's HTTP client
// with a cookie jar): GET the entry form, POST name and email.
func redeemHTTP(t *testing.T, linkURL, name, email string) {
	t.Helper()
	redeemAs(t, linkURL, name, email)
}

// redeemAs is redeemHTTP, and returns the guest's client, its session in the
// jar.
func redeemAs(t *testing.T, linkURL, name, email string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	submitForm(t, c, linkURL, url.Values{"name": {name}, "email": {email}})
	return c
}

// submitForm fills in the guest page's form at pageURL as its button does: GET
// the page with c, POST fields with the page's anti-CSRF value back to it,
// and follow the answer to a 200.
func submitForm(t *testing.T, c *http.Client, pageURL string, fields url.Values) {
	t.Helper()
	resp, err := c.Get(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]*)"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("GET %s: %d, no form", pageURL, resp.StatusCode)
	}
	form := url.Values{"csrf": {string(m[1])}}
	for k, v := range fields {
		form[k] = v
	}
	resp, err = c.PostForm(pageURL, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d", pageURL, resp.StatusCode)
	}
}

// TestModeratorPageLayout opens a busy window (two links, a guest waiting, a
// guest inside) on a desktop and on a 360 px phone: nothing is cut off or
// scrolls sideways, and the accessibility audit passes. With
// MODERATOR_SCREENSHOTS set to a directory, it saves both screenshots there.
func TestModeratorPageLayout(t *testing.T) {
	s := startServer(t)
	b := newSession(t)
	roomID := uniqueID("layout")
	s.openRoom(t, roomID, "Physics 101", "moderator")
	speakers := s.newLink(t, roomID, map[string]any{"name": "Guest speakers", "max_clicks": 5, "duration_days": 7})
	students := s.newLink(t, roomID, map[string]any{"name": "Students"})
	redeemHTTP(t, speakers.URL, "Grace Hopper", "grace@example.com")
	redeemHTTP(t, students.URL, "Alan Turing", "alan@example.org")
	s.api(t, http.StatusOK, "POST", "/api/rooms/"+roomID+"/lobby/admit-all", nil, nil)
	redeemHTTP(t, students.URL, "Katherine Johnson", "katherine@example.net")

	mod := b.newTab("moderator", view{})
	openAsModerator(s, mod, roomID, moderatorToken(t, "u-ada", "Ada Lovelace", []string{roomID}, time.Hour))
	// The waiting guest is in the lobby, and not a second time in the guest list.
	mod.wait("the waiting guest", `document.querySelectorAll("#lobby-body tr").length === 1 && document.querySelectorAll("#guests-body tr").length === 2`)
	checkAccessibility(mod, "a busy window")
	shots := os.Getenv("MODERATOR_SCREENSHOTS")
	for _, v := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{
		{"desktop", 1280, 900, false},
		{"phone", 360, 740, true},
	} {
		var emu []chromedp.EmulateViewportOption
		if v.mobile {
			emu = append(emu, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2))
		}
		mod.do("sizing the viewport", chromedp.EmulateViewport(v.width, v.height, emu...))
		overflow := evalJS[int](mod, `document.documentElement.scrollWidth - window.innerWidth`)
		if overflow > 0 {
			t.Errorf("%s: the page scrolls sideways by %d px", v.name, overflow)
		}
		checkAccessibility(mod, v.name)
		if shots != "" {
			path := filepath.Join(shots, "moderator-"+v.name+".png")
			if err := mod.screenshot(path); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot: %s", path)
		}
	}
	mod.do("sizing the viewport", chromedp.EmulateViewport(1280, 900))

	// Decline the waiting guest: the lobby empties, the guest list says so.
	mod.do("declining", chromedp.Click(chromedp.CSS("#lobby-body button:not(.btn-primary)")))
	mod.wait("the lobby empty", `document.querySelectorAll("#lobby-body tr").length === 0`)
	mod.wait("Declined in the guest list", `Array.from(document.querySelectorAll("#guests-body tr")).some(function(r){return r.querySelector(".guest-name").textContent === "Katherine Johnson" && r.querySelector(".state").textContent === "Declined"})`)

	// The CSV download: fetched with the token, saved through a blob URL.
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(mod.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads,
		BrowserContextID: chromedp.FromContext(mod.ctx).BrowserContextID,
	}); err != nil {
		t.Fatal(err)
	}
	mod.do("downloading the CSV", chromedp.Click(chromedp.CSS("#guests-csv")))
	csvPath := filepath.Join(downloads, "guests-"+roomID+".csv")
	var csv []byte
	for deadline := time.Now().Add(waitTimeout); ; time.Sleep(100 * time.Millisecond) {
		if b, err := os.ReadFile(csvPath); err == nil && len(b) > 0 {
			csv = b
			break
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(downloads)
			t.Fatalf("no %s after clicking Download CSV (the directory has %v)", csvPath, entries)
		}
	}
	for _, want := range []string{`"guest_id","name","email"`, `"Grace Hopper","grace@example.com"`, `"Katherine Johnson","katherine@example.net"`, `"declined"`} {
		if !strings.Contains(string(csv), want) {
			t.Errorf("the CSV lacks %s:\n%s", want, csv)
		}
	}

	// The room at max_links: Create new link is disabled, saying why.
	s.newLink(t, roomID, map[string]any{"name": "Third"})
	mod.wait("three links, by itself", `document.getElementById("links-count").textContent === "3 links"`)
	mod.wait("Create new link disabled", `document.getElementById("create-open").getAttribute("aria-disabled") === "true"`)
	if got := mod.text("#create-reason"); got != "This room already has 3 links, the most it can have. Delete a link to create a new one." {
		t.Errorf("reason at the limit: %q", got)
	}
	mod.do("clicking the disabled button", chromedp.Click(chromedp.CSS("#create-open")))
	open := evalJS[bool](mod, `document.getElementById("create-dialog").open`)
	if open {
		t.Errorf("the disabled Create new link opened the dialog")
	}

	// A gallery room: guest access is not supported, and the page says so.
	gallery := uniqueID("gallery")
	s.api(t, http.StatusCreated, "PUT", "/api/rooms/"+gallery, map[string]any{"name": "Media gallery", "kind": "gallery"}, nil)
	mod.do("leaving", chromedp.Navigate("about:blank"))
	openAsModerator(s, mod, gallery, moderatorToken(t, "u-ada", "Ada Lovelace", []string{gallery}, time.Hour))
	type galleryPage struct {
		Note, Reason, CreateDisabled string
		SwitchDisabled               bool
	}
	g := evalJS[galleryPage](mod, `({Note: document.getElementById("gallery-note").hidden ? "" : document.getElementById("gallery-note").textContent,
		Reason: document.getElementById("create-reason").textContent,
		CreateDisabled: document.getElementById("create-open").getAttribute("aria-disabled"),
		SwitchDisabled: document.getElementById("access-switch").disabled})`)
	if g.Note != "Guest access is not supported for media gallery rooms." || !g.SwitchDisabled || g.CreateDisabled != "true" ||
		g.Reason != "Guest links can't be created for media gallery rooms." {
		t.Errorf("gallery room: %+v", g)
	}
}

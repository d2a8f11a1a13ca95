package browser

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/text/language"

	"github.com/guestgate/guestgate/i18n"
	"github.com/guestgate/guestgate/internal/testtheme"
)

// tr is the catalogue's message in lang.
func tr(lang, key string, args ...any) string {
	return i18n.Default().T(language.Make(lang), key, args...)
}

// entryPage is what a test reads off the entry page.
type entryPage struct {
	Lang, Dir, Eyebrow, Heading, Button, NameLabel, EmailLabel, Title string
	// Direction is the computed CSS direction of the card.
	Direction string
	// LabelLeft/Right and InputLeft/Right are the name field's label and input
	// edges, to see which side the text starts on.
	LabelLeft, LabelRight, InputLeft, InputRight float64
}

const readEntry = `(function () {
  var q = function (s) { return document.querySelector(s); };
  var t = function (s) { var e = q(s); return e ? e.textContent.trim() : "<none>"; };
  var l = q('label[for="name"]'), i = q('#name');
  var range = document.createRange(); range.selectNodeContents(l);
  var lr = range.getBoundingClientRect(), ir = i.getBoundingClientRect();
  return {
    Lang: document.documentElement.lang, Dir: document.documentElement.dir,
    Eyebrow: t(".eyebrow"), Heading: t("h1"), Button: t("button[type=submit]"),
    NameLabel: t('label[for="name"]'), EmailLabel: t('label[for="email"]'), Title: document.title,
    Direction: getComputedStyle(q(".card")).direction,
    LabelLeft: lr.left, LabelRight: lr.right, InputLeft: ir.left, InputRight: ir.right
  };
})()`

// TestGuestEntryPageLanguages: the entry page speaks the browser's language,
// German and Hebrew (right to left, mirrored), and English for any other.
func TestGuestEntryPageLanguages(t *testing.T) {
	s := startServer(t)
	url := guestLink(t, s, "guest-lang", "Physik 101", "auto")
	for _, tc := range []struct {
		accept, lang, dir string
	}{
		{"de-DE,de;q=0.9", "de", "ltr"},
		{"he-IL,he;q=0.9", "he", "rtl"},
		{"ja-JP,ja;q=0.9", "en", "ltr"},
	} {
		t.Run(tc.lang+"_for_"+tc.accept[:2], func(t *testing.T) {
			tb := newSession(t).newTab("entry-"+tc.accept[:2], view{Lang: tc.accept})
			if st := tb.open(url); st != http.StatusOK {
				t.Fatalf("status %d", st)
			}
			p := evalJS[entryPage](tb, readEntry)
			want := entryPage{
				Lang: tc.lang, Dir: tc.dir, Direction: tc.dir,
				Eyebrow: tr(tc.lang, "guest.entry.invited"), Heading: "Physik 101",
				Button: tr(tc.lang, "guest.entry.submit"), NameLabel: tr(tc.lang, "guest.entry.name"),
				EmailLabel: tr(tc.lang, "guest.entry.email"), Title: tr(tc.lang, "guest.entry.title", "Physik 101"),
			}
			got := p
			got.LabelLeft, got.LabelRight, got.InputLeft, got.InputRight = 0, 0, 0, 0
			if got != want {
				t.Errorf("entry page\n got %+v\nwant %+v", got, want)
			}
			if tc.lang != "en" && p.Button == tr("en", "guest.entry.submit") {
				t.Errorf("the button is in English: %q", p.Button)
			}
			// The label starts where the reading starts: at the input's left edge
			// left to right, at its right edge right to left.
			if tc.dir == "rtl" {
				if d := p.InputRight - p.LabelRight; d < -1 || d > 1 || p.LabelLeft < p.InputLeft+20 {
					t.Errorf("Hebrew label not on the right: label %.0f-%.0f, input %.0f-%.0f", p.LabelLeft, p.LabelRight, p.InputLeft, p.InputRight)
				}
			} else if d := p.LabelLeft - p.InputLeft; d < -1 || d > 1 {
				t.Errorf("label not on the left: label %.0f-%.0f, input %.0f-%.0f", p.LabelLeft, p.LabelRight, p.InputLeft, p.InputRight)
			}
		})
	}
}

// layout is what a test measures on a phone.
type layout struct {
	ScrollWidth, BodyScrollWidth, InnerWidth float64
	Boxes                                    []box
}

type box struct {
	Sel                            string
	Left, Right, Width, Height, FS float64
}

const measure = `(function () {
  var boxes = ["h1", "#name", "#email", "button[type=submit]", ".card"].map(function (s) {
    var e = document.querySelector(s), r = e.getBoundingClientRect();
    return {Sel: s, Left: r.left, Right: r.right, Width: r.width, Height: r.height, FS: parseFloat(getComputedStyle(e).fontSize)};
  });
  return {ScrollWidth: document.documentElement.scrollWidth, BodyScrollWidth: document.body.scrollWidth,
          InnerWidth: window.innerWidth, Boxes: boxes};
})()`

// TestGuestEntryPageOnAPhone: on a 360 px wide phone the entry page does not
// scroll sideways, the fields and the button fit and are big enough to touch,
// and a guest can join with it.
func TestGuestEntryPageOnAPhone(t *testing.T) {
	s := startServer(t)
	// A long room name must wrap, not widen the page.
	url := guestLink(t, s, "guest-phone", "Fortgeschrittene Quantenfeldtheorie für Studierende im Wintersemester", "auto")
	for _, lang := range []string{"en", "he"} {
		t.Run(lang, func(t *testing.T) {
			tb := newSession(t).newTab("phone-"+lang, view{Lang: lang, Width: 360, Height: 740, Mobile: true})
			tb.open(url)
			l := evalJS[layout](tb, measure)
			if l.InnerWidth != 360 || l.ScrollWidth > 360 || l.BodyScrollWidth > 360 {
				t.Errorf("horizontal scrolling at 360 px: inner width %.0f, scroll width %.0f (body %.0f)", l.InnerWidth, l.ScrollWidth, l.BodyScrollWidth)
			}
			for _, b := range l.Boxes {
				if b.Left < 0 || b.Right > 360 {
					t.Errorf("%s sticks out of the screen: %.0f to %.0f", b.Sel, b.Left, b.Right)
				}
				switch b.Sel {
				case "#name", "#email", "button[type=submit]":
					if b.Width < 280 || b.Height < 44 {
						t.Errorf("%s is %.0f x %.0f px, want at least 280 x 44 to type in and touch", b.Sel, b.Width, b.Height)
					}
					if b.FS < 16 {
						t.Errorf("%s has a %.0f px font: phones zoom in on fields under 16 px", b.Sel, b.FS)
					}
				}
			}
			tb.submitEntry("Ada Lovelace", "ada@example.com")
			// The demo room decodes X-Guest-Name in the page.
			tb.wait("the demo room greeting the guest", `location.pathname === "/rooms/guest-phone" && document.querySelector("#guest-name").textContent === "Ada Lovelace"`)
		})
	}
}

// TestGuestInvalidEmailInGerman: an invalid email, in German, shows the German
// error right under the email field, keeps what was typed and puts the cursor
// there.
func TestGuestInvalidEmailInGerman(t *testing.T) {
	s := startServer(t)
	url := guestLink(t, s, "guest-form", "Sprechstunde", "auto")
	tb := newSession(t).newTab("invalid-email-de", view{Lang: "de"})
	tb.open(url)
	tb.submitEntry("Grete Müller", "grete.example.com")
	// autofocus moves the cursor when the browser next renders, which may be
	// after the error is in the DOM: wait for both, as the moderator tests wait
	// for a dialog's focus.
	tb.wait("the email error with the cursor in the email field", `!!document.querySelector("#email-error") && document.activeElement && document.activeElement.id === "email"`)
	type form struct {
		Error, Name, Email, Active, Invalid, DescribedBy string
		NameError                                        bool
		Gap                                              float64
		SameField                                        bool
	}
	f := evalJS[form](tb, `(function () {
	  var e = document.querySelector("#email-error"), i = document.querySelector("#email");
	  return {Error: e.textContent.trim(), Name: document.querySelector("#name").value, Email: i.value,
	    Active: document.activeElement.id, Invalid: i.getAttribute("aria-invalid"), DescribedBy: i.getAttribute("aria-describedby"),
	    NameError: !!document.querySelector("#name-error"),
	    Gap: e.getBoundingClientRect().top - i.getBoundingClientRect().bottom,
	    SameField: e.parentElement === i.parentElement};
	})()`)
	want := tr("de", "guest.error.email.invalid_email")
	if !strings.Contains(want, "gültige E-Mail-Adresse") {
		t.Fatalf("the German catalogue's message is %q", want)
	}
	if f.Error != want || f.Name != "Grete Müller" || f.Email != "grete.example.com" || f.Active != "email" ||
		f.Invalid != "true" || f.DescribedBy != "email-error" || f.NameError || !f.SameField || f.Gap < 0 || f.Gap > 16 {
		t.Errorf("after an invalid email: %+v; want the error %q right under the email field, focused", f, want)
	}
	// Fixing it joins the room.
	evalJS[string](tb, `document.querySelector("#email").value = ""`)
	tb.do("fixing the email",
		chromedp.SendKeys(chromedp.CSS("#email"), "grete@example.com"),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
	)
	tb.wait("the demo room", `location.pathname === "/rooms/guest-form"`)
}

// TestGuestMessagePages: in the browser, every message page a guest meets on the
// way keeps its status and data-reason (docs/DESIGN.md section 1), in German here.
func TestGuestMessagePages(t *testing.T) {
	s := startServer(t)
	url := guestLink(t, s, "guest-msg", "Seminar", "auto")
	tb := newSession(t).newTab("messages-de", view{Lang: "de"})
	check := func(what string, status int64, wantStatus int, reason string) {
		t.Helper()
		type msg struct{ Reason, Lang, Heading string }
		m := evalJS[msg](tb, `({Reason: document.body.dataset.reason || "", Lang: document.documentElement.lang, Heading: document.querySelector("h1").textContent.trim()})`)
		want := msg{Reason: reason, Lang: "de", Heading: tr("de", "guest.message."+reason+".heading")}
		if status != int64(wantStatus) || m != want {
			t.Errorf("%s: %d %+v, want %d %+v", what, status, m, wantStatus, want)
		}
	}
	check("an unknown link", tb.open(s.base+"/guest/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), http.StatusNotFound, "link-invalid")
	check("the room without a session", tb.open(s.base+"/rooms/guest-msg"), http.StatusUnauthorized, "no-session")

	tb.open(url)
	tb.submitEntry("Jo", "jo@example.com")
	tb.wait("the demo room", `location.pathname === "/rooms/guest-msg"`)
	check("a page outside the room", tb.open(s.base+"/"), http.StatusForbidden, "not-allowed")
	if back := tb.text("a.button"); back != tr("de", "guest.message.back") {
		t.Errorf("the way back reads %q", back)
	}
	s.api(t, http.StatusOK, "PUT", "/api/rooms/guest-msg/guest-access", map[string]any{"enabled": false}, nil)
	check("the room after access was turned off", tb.open(s.base+"/rooms/guest-msg"), http.StatusForbidden, "guest-access-off")
	check("the link after access was turned off", tb.open(url), http.StatusForbidden, "guest-access-off")
	// Leaving is a button on its own page (a GET of /guest/leave ends
	// nothing); the real browser's POST carries the form's csrf field and
	// passes the same-origin check.
	if status := tb.open(s.base + "/guest/leave"); status != http.StatusOK {
		t.Errorf("the leave page: %d, want 200", status)
	}
	if h := tb.text("h1"); h != tr("de", "guest.leave.heading") {
		t.Errorf("the leave page's heading reads %q", h)
	}
	tb.do("leaving", chromedp.Click(chromedp.CSS("button[type=submit]")))
	tb.wait("the left page", `document.body.dataset.reason === "left"`)
	check("leaving", http.StatusOK, http.StatusOK, "left")
	check("the room after leaving", tb.open(s.base+"/rooms/guest-msg"), http.StatusUnauthorized, "no-session")
}

// TestGuestLobbyPage: a guest of a moderated room waits on the lobby page, in
// their language, and moves into the room by themselves once admitted.
func TestGuestLobbyPage(t *testing.T) {
	s := startServer(t)
	url := guestLink(t, s, "guest-lobby", "Sprechstunde Prof. Weber", "moderator")
	tb := newSession(t).newTab("lobby-de", view{Lang: "de"})
	tb.open(url)
	tb.submitEntry("Lena <Gast>", "lena@example.com")
	tb.wait("the lobby", `location.pathname === "/guest/lobby" && !!document.querySelector("#lobby-status")`)
	type lobby struct{ Lang, Heading, Eyebrow, Status, Guest, Leave string }
	got := evalJS[lobby](tb, `({Lang: document.documentElement.lang, Heading: document.querySelector("h1").textContent.trim(),
	  Eyebrow: document.querySelector(".eyebrow").textContent.trim(), Status: document.querySelector("#lobby-status").textContent.trim(),
	  Guest: document.querySelector(".lead strong").textContent, Leave: document.querySelector('form[action="/guest/leave"] button').textContent.trim()})`)
	want := lobby{Lang: "de", Heading: "Sprechstunde Prof. Weber", Eyebrow: tr("de", "guest.lobby.eyebrow"),
		Status: tr("de", "guest.lobby.waiting"), Guest: "Lena <Gast>", Leave: tr("de", "guest.lobby.leave")}
	if got != want {
		t.Errorf("lobby page\n got %+v\nwant %+v", got, want)
	}
	if shots := os.Getenv("GUEST_SCREENSHOTS"); shots != "" {
		if err := tb.screenshot(filepath.Join(shots, "guest-lobby-de.png")); err != nil {
			t.Error(err)
		}
	}
	s.api(t, http.StatusOK, "POST", "/api/rooms/guest-lobby/lobby/admit-all", nil, nil)
	tb.wait("the room greeting the admitted guest", `location.pathname === "/rooms/guest-lobby" && document.querySelector("#guest-name").textContent === "Lena <Gast>"`)
}

// TestGuestTheme: a theme's title, logo and accent show on the guest pages.
func TestGuestTheme(t *testing.T) {
	chromium(t)
	dir := t.TempDir()
	logo := testtheme.WritePNG(t, filepath.Join(dir, "logo.png"), 120, 40)
	s, err := guestCaddy(t, fmt.Sprintf("theme {\n\t\t\ttitle \"Acme Academy\"\n\t\t\tlogo %s\n\t\t\taccent \"#126b3a\"\n\t\t}", logo))
	if err != nil {
		t.Fatalf("starting Caddy with a theme: %v", err)
	}
	url := guestLink(t, s, "guest-theme", "Brand new room", "auto")
	for _, v := range []struct {
		name string
		view view
	}{
		{"desktop", view{Lang: "en"}},
		{"phone-he", view{Lang: "he", Width: 360, Height: 740, Mobile: true}},
	} {
		t.Run(v.name, func(t *testing.T) {
			tb := newSession(t).newTab("theme-"+v.name, v.view)
			tb.open(url)
			tb.wait("the logo to load", `document.querySelector("img.logo").complete`)
			type themed struct {
				Site, Title, Button, Link string
				LogoWidth                 int
				ScrollWidth               float64
			}
			got := evalJS[themed](tb, `({Site: document.querySelector(".site-title").textContent.trim(), Title: document.title,
			  Button: getComputedStyle(document.querySelector("button[type=submit]")).backgroundColor,
			  Link: getComputedStyle(document.querySelector(".card")).borderTopColor,
			  LogoWidth: document.querySelector("img.logo").naturalWidth, ScrollWidth: document.documentElement.scrollWidth})`)
			if got.Site != "Acme Academy" || !strings.HasSuffix(got.Title, " · Acme Academy") || got.LogoWidth != 120 ||
				got.Button != "rgb(18, 107, 58)" || got.Link != "rgb(18, 107, 58)" {
				t.Errorf("themed entry page: %+v; want the title, a 120 px logo and the accent rgb(18, 107, 58)", got)
			}
			if v.view.Width == 360 && got.ScrollWidth > 360 {
				t.Errorf("horizontal scrolling with the theme: %.0f", got.ScrollWidth)
			}
			if shots := os.Getenv("GUEST_SCREENSHOTS"); shots != "" {
				if err := tb.screenshot(filepath.Join(shots, "guest-theme-"+v.name+".png")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	// The message pages carry the theme too.
	tb := newSession(t).newTab("theme-message", view{Lang: "de"})
	if st := tb.open(s.base + "/guest/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); st != http.StatusNotFound {
		t.Errorf("unknown link with a theme: %d", st)
	}
	tb.wait("the logo to load", `document.querySelector("img.logo") && document.querySelector("img.logo").complete`)
	if r, site := evalJS[string](tb, `document.body.dataset.reason`), tb.text(".site-title"); r != "link-invalid" || site != "Acme Academy" {
		t.Errorf("themed message page: data-reason %q, site title %q", r, site)
	}
}

// TestGuestThemeRefused: a broken theme stops the config from loading, with an
// error that names the option; it never becomes a 500 for a guest.
func TestGuestThemeRefused(t *testing.T) {
	dir := t.TempDir()
	notImage := testtheme.WriteFile(t, filepath.Join(dir, "logo.png"), "not a picture")
	tpl := filepath.Join(dir, "templates")
	testtheme.WriteFile(t, filepath.Join(tpl, "entry.html"), `{{template "head" .}}<body>{{.Welcome}}</body>`)
	for _, tc := range []struct {
		name, theme string
		want        []string
	}{
		{"logo", "logo " + notImage, []string{"theme logo", notImage, "not a PNG, JPEG, GIF, WebP or SVG image"}},
		{"templates", "templates " + tpl, []string{"theme templates", tpl, "entry.html", "can't evaluate field Welcome"}},
		{"accent", `accent "#f0e68c"`, []string{"theme accent", "#f0e68c", "4.5:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := guestCaddy(t, "theme {\n\t\t\t"+tc.theme+"\n\t\t}")
			if err == nil {
				t.Fatal("the config loaded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestGuestScreenshots keeps screenshots of the entry page on a desktop and on
// a 360 px phone, in English and Hebrew, when GUEST_SCREENSHOTS names a
// directory; it checks that the pages render with their stylesheet either way.
func TestGuestScreenshots(t *testing.T) {
	s := startServer(t)
	url := guestLink(t, s, "guest-shots", "Demo room", "auto")
	shots := os.Getenv("GUEST_SCREENSHOTS")
	b := newSession(t)
	for _, v := range []struct {
		name string
		view view
	}{
		{"entry-desktop-en", view{Lang: "en"}},
		{"entry-360-en", view{Lang: "en", Width: 360, Height: 740, Mobile: true}},
		{"entry-360-he", view{Lang: "he", Width: 360, Height: 740, Mobile: true}},
		{"entry-desktop-de", view{Lang: "de"}},
	} {
		tb := b.newTab(v.name, v.view)
		tb.open(url)
		// The stylesheet applied: the card is white on the grey page.
		if bg := evalJS[string](tb, `getComputedStyle(document.querySelector(".card")).backgroundColor`); bg != "rgb(255, 255, 255)" {
			t.Errorf("%s: the card's background is %q: no stylesheet?", v.name, bg)
		}
		if shots != "" {
			if err := tb.screenshot(filepath.Join(shots, "guest-"+v.name+".png")); err != nil {
				t.Error(err)
			}
		}
	}
}

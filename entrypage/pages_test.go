package entrypage_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/language"

	"github.com/guestgate/guestgate/entrypage"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/i18n"
	"github.com/guestgate/guestgate/internal/teststore"
	"github.com/guestgate/guestgate/internal/testtheme"
	"github.com/guestgate/guestgate/token"
)

// designReasons is the message table of docs/DESIGN.md section 1 (and the two pages of
// our own, bad-request and left): the status of each data-reason is a contract.
var designReasons = map[string]int{
	"link-invalid":     http.StatusNotFound,
	"link-expired":     http.StatusGone,
	"link-used-up":     http.StatusGone,
	"guest-access-off": http.StatusForbidden,
	"room-unavailable": http.StatusNotFound,
	"declined":         http.StatusForbidden,
	"removed":          http.StatusForbidden,
	"not-allowed":      http.StatusForbidden,
	"no-session":       http.StatusUnauthorized,
	"rate-limited":     http.StatusTooManyRequests,
	"bad-request":      http.StatusBadRequest,
	"left":             http.StatusOK,
	"unavailable":      http.StatusServiceUnavailable,
}

var (
	reasonRE  = regexp.MustCompile(`<body[^>]*\sdata-reason="([^"]*)"`)
	htmlTagRE = regexp.MustCompile(`<html lang="([^"]*)" dir="([^"]*)">`)
	h1RE      = regexp.MustCompile(`(?s)<h1>(.*?)</h1>`)
	csrfRE    = regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]*)">`)
)

// languages are the catalogue's languages with an Accept-Language that picks
// each, and one word its pages must hold.
var languages = []struct {
	accept, lang, dir string
}{
	{"", "en", "ltr"},
	{"de-DE,de;q=0.9,en;q=0.5", "de", "ltr"},
	{"he-IL", "he", "rtl"},
	{"ja", "en", "ltr"}, // unsupported: English
}

func TestGuestKeysInEveryLanguage(t *testing.T) {
	cat := i18n.Default()
	en := cat.Messages(language.English, "guest.")
	if len(en) < 40 {
		t.Fatalf("only %d guest.* keys in English", len(en))
	}
	verbs := regexp.MustCompile(`%[a-z]`)
	for _, tag := range cat.Languages() {
		keys := map[string]bool{}
		for _, k := range cat.Keys(tag) {
			keys[k] = true
		}
		for k, enMsg := range en {
			if !keys[k] {
				t.Errorf("%s: key %s is missing", tag, k)
				continue
			}
			msg := cat.T(tag, k)
			if strings.TrimSpace(msg) == "" {
				t.Errorf("%s: key %s is empty", tag, k)
			}
			if got, want := verbs.FindAllString(msg, -1), verbs.FindAllString(enMsg, -1); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s: key %s has verbs %v, English has %v", tag, k, got, want)
			}
			if tag != language.English && msg == enMsg && len(msg) > 6 && k != "guest.entry.name" {
				t.Errorf("%s: key %s is not translated: %q", tag, k, msg)
			}
		}
		for k := range keys {
			if strings.HasPrefix(k, "guest.") && en[k] == "" {
				t.Errorf("%s: key %s is not in English", tag, k)
			}
		}
	}
}

func newPages(t *testing.T, th entrypage.ThemeConfig) *entrypage.Pages {
	t.Helper()
	p, err := entrypage.NewPages("/guest", nil, th)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMessagePagesInEveryLanguage(t *testing.T) {
	p := newPages(t, entrypage.ThemeConfig{})
	cat := i18n.Default()
	for reason, status := range designReasons {
		headings := map[string]string{}
		for _, l := range languages {
			r := httptest.NewRequest(http.MethodGet, "/guest/x", nil)
			if l.accept != "" {
				r.Header.Set("Accept-Language", l.accept)
			}
			w := httptest.NewRecorder()
			if err := p.Message(w, r, reason, ""); err != nil {
				t.Fatal(err)
			}
			body := w.Body.String()
			m := reasonRE.FindStringSubmatch(body)
			if w.Code != status || m == nil || m[1] != reason {
				t.Errorf("%s in %q: status %d data-reason %v, want %d %q", reason, l.accept, w.Code, m, status, reason)
			}
			if tm := htmlTagRE.FindStringSubmatch(body); tm == nil || tm[1] != l.lang || tm[2] != l.dir {
				t.Errorf("%s in %q: <html> is %v, want lang=%s dir=%s", reason, l.accept, tm, l.lang, l.dir)
			}
			if got := w.Header().Get("Content-Language"); got != l.lang {
				t.Errorf("%s in %q: Content-Language %q", reason, l.accept, got)
			}
			if !strings.Contains(w.Header().Get("Vary"), "Accept-Language") {
				t.Errorf("%s: no Vary: Accept-Language", reason)
			}
			want := cat.T(language.Make(l.lang), "guest.message."+reason+".heading")
			if h := h1RE.FindStringSubmatch(body); h == nil || h[1] != want {
				t.Errorf("%s in %q: heading %v, want %q", reason, l.accept, h, want)
			}
			if strings.Contains(body, "guest.message.") || strings.Contains(body, "%!") {
				t.Errorf("%s in %q: a raw key or a format error in the page:\n%s", reason, l.accept, body)
			}
			headings[l.lang] = want
		}
		if headings["en"] == headings["de"] || headings["en"] == headings["he"] {
			t.Errorf("%s: the heading is not translated: %v", reason, headings)
		}
	}
	// An unknown reason is a bad request, never a blank page.
	w := httptest.NewRecorder()
	_ = p.Message(w, httptest.NewRequest(http.MethodGet, "/guest/x", nil), "no-such-reason", "")
	if m := reasonRE.FindStringSubmatch(w.Body.String()); w.Code != http.StatusBadRequest || m == nil || m[1] != "bad-request" {
		t.Errorf("unknown reason: %d %v", w.Code, m)
	}
}

// testGateway is a Gateway on a real Badger store with one room whose link is
// open.
type testGateway struct {
	gw   *entrypage.Gateway
	path string // the link's entry page
}

func newTestGateway(t *testing.T, th entrypage.ThemeConfig) *testGateway {
	t.Helper()
	svc, _ := teststore.Service(t, time.Now())
	l := teststore.RoomWithLinks(t, svc, "demo", guestlink.RoomSpec{Name: "Physics 101 <live>"}, guestlink.LinkSpec{Name: "Guests"})[0]
	gw, _ := newGateway(t, svc, []string{"/rooms/{room}"}, func(c *entrypage.Config) { c.Theme = th })
	return &testGateway{gw: gw, path: "/guest/" + l.Token}
}

// newGateway builds a Gateway over svc with fixed keys and the Caddy module's
// defaults (token_ttl 10m, session_max 12h, the entry pages under /guest,
// rooms at /rooms/{room}), allowing the paths of allow; edit sets the rest of
// its config, if not nil. It returns the Gateway and its session token Issuer.
func newGateway(tb testing.TB, svc *guestlink.Service, allow []string, edit func(*entrypage.Config)) (*entrypage.Gateway, *token.Issuer) {
	tb.Helper()
	tokens, err := token.New(token.Config{
		Keys: [][]byte{bytes.Repeat([]byte{0x42}, 32)}, Issuer: "guestgate", Audience: token.SessionAudience,
		TTL: 10 * time.Minute, MaxAge: 12 * time.Hour, Leeway: 5 * time.Second,
	})
	if err != nil {
		tb.Fatal(err)
	}
	al, err := entrypage.ParseAllowlist(allow)
	if err != nil {
		tb.Fatal(err)
	}
	c := entrypage.Config{
		Service: svc, Tokens: tokens, CSRFKey: bytes.Repeat([]byte{0x43}, 32),
		Prefix: "/guest", RoomPath: "/rooms/{room}", Allow: al,
	}
	if edit != nil {
		edit(&c)
	}
	gw, err := entrypage.New(c)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(gw.Close)
	return gw, tokens
}

// do serves r and returns the recorder; the gate's next handler answers 200.
func (tg *testGateway) do(t *testing.T, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	err := tg.gw.ServeHTTP(w, r, func(w http.ResponseWriter, _ *http.Request) error {
		w.WriteHeader(http.StatusOK)
		return nil
	})
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	return w
}

func TestEntryPageLanguages(t *testing.T) {
	tg := newTestGateway(t, entrypage.ThemeConfig{})
	for _, tc := range []struct {
		accept, lang, dir string
		want              []string
	}{
		{"", "en", "ltr", []string{"You are invited to", "Join session", "<label for=\"email\">Email</label>", "<title>Join Physics 101 &lt;live&gt;</title>"}},
		{"de", "de", "ltr", []string{"Sie sind eingeladen zu", "Sitzung beitreten", "E-Mail-Adresse", "<title>Physics 101 &lt;live&gt; beitreten</title>"}},
		{"he", "he", "rtl", []string{"הוזמנתם אל", "הצטרפות למפגש", "כתובת דוא״ל"}},
		{"ja,zh;q=0.8", "en", "ltr", []string{"Join session"}},
	} {
		r := httptest.NewRequest(http.MethodGet, tg.path, nil)
		if tc.accept != "" {
			r.Header.Set("Accept-Language", tc.accept)
		}
		w := tg.do(t, r)
		body := w.Body.String()
		if w.Code != http.StatusOK {
			t.Fatalf("%q: status %d", tc.accept, w.Code)
		}
		if m := htmlTagRE.FindStringSubmatch(body); m == nil || m[1] != tc.lang || m[2] != tc.dir {
			t.Errorf("%q: <html> %v, want lang=%s dir=%s", tc.accept, m, tc.lang, tc.dir)
		}
		for _, s := range tc.want {
			if !strings.Contains(body, s) {
				t.Errorf("%q: the page lacks %q", tc.accept, s)
			}
		}
		if !strings.Contains(body, "<h1><bdi>Physics 101 &lt;live&gt;</bdi></h1>") {
			t.Errorf("%q: the room's name is not the heading", tc.accept)
		}
	}
}

func TestEntryFormErrorsAreTranslated(t *testing.T) {
	tg := newTestGateway(t, entrypage.ThemeConfig{})
	get := httptest.NewRequest(http.MethodGet, tg.path, nil)
	w := tg.do(t, get)
	m := csrfRE.FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatal("no csrf field")
	}
	cookies := w.Result().Cookies()
	long := strings.Repeat("x", guestlink.MaxGuestNameLen+1)
	for _, tc := range []struct {
		name, email, field, accept, want string
	}{
		{"Ada", "ada.example.com", "email", "de", "Bitte geben Sie eine gültige E-Mail-Adresse ein, etwa name@example.com."},
		{"Ada", "", "email", "he", "נא להזין כתובת דוא״ל."},
		{"", "ada@example.com", "name", "de", "Bitte geben Sie Ihren Namen ein."},
		{long, "ada@example.com", "name", "de", "Ihr Name darf höchstens 100 Zeichen lang sein."},
		{"Ada\x00", "ada@example.com", "name", "he", "השם מכיל תווים שאינם מותרים."},
		{"Ada", "ada@example.com\r\nBcc: x@y", "email", "", "The email address contains characters that are not allowed."},
		{"Ada", strings.Repeat("a", 250) + "@example.com", "email", "en", "The email address must be at most 254 characters."},
	} {
		form := url.Values{"name": {tc.name}, "email": {tc.email}, "csrf": {m[1]}}
		r := httptest.NewRequest(http.MethodPost, tg.path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", "http://example.com")
		if tc.accept != "" {
			r.Header.Set("Accept-Language", tc.accept)
		}
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := tg.do(t, r)
		body := w.Body.String()
		wantErr := `<p class="error" id="` + tc.field + `-error" data-field="` + tc.field + `">` + tc.want + `</p>`
		if w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, wantErr) {
			t.Errorf("%q %q in %q: status %d, want 422 with %s\n%s", tc.name, tc.email, tc.accept, w.Code, wantErr, body)
		}
	}
}

func TestValidationCodesHaveMessages(t *testing.T) {
	cat := i18n.Default()
	for _, in := range []guestlink.GuestInput{
		{Name: "", Email: "a@b.c"},
		{Name: "A\x01", Email: "a@b.c"},
		{Name: strings.Repeat("x", guestlink.MaxGuestNameLen+1), Email: "a@b.c"},
		{Name: "A", Email: ""},
		{Name: "A", Email: strings.Repeat("a", guestlink.MaxEmailLen) + "@b.c"},
		{Name: "A", Email: "a\n@b.c"},
		{Name: "A", Email: "A <a@b.c>"},
	} {
		_, err := in.Normalize()
		v, ok := err.(*guestlink.ValidationError)
		if !ok || v.Code == "" || v.Code == guestlink.CodeInvalid {
			t.Errorf("%+v: error %#v has no specific code", in, err)
			continue
		}
		key := "guest.error." + v.Field + "." + v.Code
		for _, tag := range cat.Languages() {
			if cat.T(tag, key) == key {
				t.Errorf("%s: no message %s", tag, key)
			}
		}
	}
}

func TestLobbyAndUnavailableTextAreTranslated(t *testing.T) {
	p := newPages(t, entrypage.ThemeConfig{})
	r := httptest.NewRequest(http.MethodGet, "/guest/lobby", nil)
	r.Header.Set("Accept-Language", "he")
	if got := p.T(r, "guest.unavailable"); !strings.Contains(got, "השירות") {
		t.Errorf("503 text in Hebrew: %q", got)
	}
}

func TestThemeErrors(t *testing.T) {
	dir := t.TempDir()
	big := testtheme.WritePNG(t, filepath.Join(dir, "big.png"), 8, 8)
	if f, err := os.OpenFile(big, os.O_APPEND|os.O_WRONLY, 0); err == nil {
		_, _ = f.Write(make([]byte, entrypage.MaxLogoBytes))
		f.Close()
	}
	write := func(name, text string) string { return testtheme.WriteFile(t, filepath.Join(dir, name), text) }
	notImage := write("notes.png", "just some text, not a picture\n")
	badSVG := write("logo.svg", "<html>not svg</html>")
	write("tpl-parse/entry.html", "{{template \"head\" .}}<body>{{if}}</body>")
	write("tpl-field/message.html", "{{template \"head\" .}}<body data-reason=\"{{.Reason}}\">{{.Colour}}</body>")
	write("tpl-reason/message.html", "{{template \"head\" .}}<body><h1>{{.Heading}}</h1></body>")
	write("tpl-csrf/entry.html", "{{template \"head\" .}}<body><form method=post action=\"{{.Action}}\"></form></body>")
	write("tpl-func/lobby.html", "{{template \"head\" .}}<body>{{upper .RoomName}}</body>")
	if err := os.MkdirAll(filepath.Join(dir, "tpl-empty"), 0o755); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		th      entrypage.ThemeConfig
		wantErr []string
	}{
		{"missing logo", entrypage.ThemeConfig{Logo: filepath.Join(dir, "nope.png")}, []string{"theme logo", "nope.png", "no such file"}},
		{"logo too big", entrypage.ThemeConfig{Logo: big}, []string{"theme logo", "big.png", "larger than 512 KiB"}},
		{"logo not an image", entrypage.ThemeConfig{Logo: notImage}, []string{"theme logo", "notes.png", "not a PNG, JPEG, GIF, WebP or SVG image", "text/plain"}},
		{"svg without svg", entrypage.ThemeConfig{Logo: badSVG}, []string{"theme logo", "no <svg> element"}},
		{"logo is a directory", entrypage.ThemeConfig{Logo: dir}, []string{"theme logo", "not a regular file"}},
		{"accent not a colour", entrypage.ThemeConfig{Accent: "blue"}, []string{"theme accent \"blue\"", "#1f5fbf"}},
		{"accent too light", entrypage.ThemeConfig{Accent: "#ffcc00"}, []string{"theme accent \"#ffcc00\"", "contrast of 1.", "4.5:1", "darker"}},
		{"accent short and light", entrypage.ThemeConfig{Accent: "#8af"}, []string{"theme accent \"#8af\"", "darker"}},
		{"blank title", entrypage.ThemeConfig{Title: "   "}, []string{"theme title"}},
		{"title with a newline", entrypage.ThemeConfig{Title: "A\nB"}, []string{"theme title", "control characters"}},
		{"templates missing", entrypage.ThemeConfig{Templates: filepath.Join(dir, "none")}, []string{"theme templates", "none", "no such file"}},
		{"templates empty", entrypage.ThemeConfig{Templates: filepath.Join(dir, "tpl-empty")}, []string{"theme templates", "no *.html file"}},
		{"template parse error", entrypage.ThemeConfig{Templates: filepath.Join(dir, "tpl-parse")}, []string{"theme templates", filepath.Join("tpl-parse", "entry.html"), "missing value for if"}},
		{"template unknown field", entrypage.ThemeConfig{Templates: filepath.Join(dir, "tpl-field")}, []string{"theme templates", "tpl-field", "message.html", "can't evaluate field Colour"}},
		{"template unknown function", entrypage.ThemeConfig{Templates: filepath.Join(dir, "tpl-func")}, []string{"theme templates", "lobby.html", "function \"upper\" not defined"}},
		{"template without data-reason", entrypage.ThemeConfig{Templates: filepath.Join(dir, "tpl-reason")}, []string{"theme templates", "message.html", "data-reason"}},
		{"template without csrf", entrypage.ThemeConfig{Templates: filepath.Join(dir, "tpl-csrf")}, []string{"theme templates", "entry.html", "csrf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := entrypage.NewPages("/guest", nil, tc.th)
			if err == nil {
				t.Fatalf("no error, want one with %q", tc.wantErr)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}

func TestCheckAccent(t *testing.T) {
	for in, want := range map[string]string{"#1F5FBF": "#1f5fbf", "#15b": "#1155bb", "#000": "#000000", "#b3261e": "#b3261e"} {
		if got, err := entrypage.CheckAccent(in); err != nil || got != want {
			t.Errorf("CheckAccent(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	// #767676 is the lightest grey that keeps 4.5:1 with white; #777777 is not.
	if _, err := entrypage.CheckAccent("#767676"); err != nil {
		t.Errorf("#767676: %v", err)
	}
	for _, bad := range []string{"#777777", "#fff", "1f5fbf", "#1f5fb", "#1f5fbfa", "#gggggg", "red", ""} {
		if _, err := entrypage.CheckAccent(bad); err == nil {
			t.Errorf("CheckAccent(%q) accepted", bad)
		}
	}
}

func TestThemeIsShownAndServed(t *testing.T) {
	dir := t.TempDir()
	logo := testtheme.WritePNG(t, filepath.Join(dir, "logo.png"), 40, 20)
	tpl := filepath.Join(dir, "templates")
	// An override of message.html that keeps the contract.
	testtheme.WriteFile(t, filepath.Join(tpl, "message.html"), `{{template "head" .}}
<body data-reason="{{.Reason}}" class="custom"><h1>{{.Heading}}</h1><p>{{.T "guest.message.back"}}</p></body></html>`)
	tg := newTestGateway(t, entrypage.ThemeConfig{Title: "Acme Academy", Logo: logo, Accent: "#126b3a", Templates: tpl})

	w := tg.do(t, httptest.NewRequest(http.MethodGet, tg.path, nil))
	body := w.Body.String()
	logoURL := regexp.MustCompile(`<img class="logo" src="(/guest/assets/logo\?v=[0-9a-f]+)" alt="">`).FindStringSubmatch(body)
	cssURL := regexp.MustCompile(`<link rel="stylesheet" href="(/guest/assets/theme\.css\?v=[0-9a-f]+)">`).FindStringSubmatch(body)
	if w.Code != http.StatusOK || logoURL == nil || cssURL == nil ||
		!strings.Contains(body, `<p class="site-title">Acme Academy</p>`) ||
		!strings.Contains(body, "<title>Join Physics 101 &lt;live&gt; · Acme Academy</title>") {
		t.Fatalf("entry page with a theme: %d\n%s", w.Code, body)
	}
	lw := tg.do(t, httptest.NewRequest(http.MethodGet, logoURL[1], nil))
	want, _ := os.ReadFile(logo)
	if lw.Code != http.StatusOK || lw.Header().Get("Content-Type") != "image/png" || !bytes.Equal(lw.Body.Bytes(), want) {
		t.Errorf("logo: %d %q, %d bytes", lw.Code, lw.Header().Get("Content-Type"), lw.Body.Len())
	}
	cw := tg.do(t, httptest.NewRequest(http.MethodGet, cssURL[1], nil))
	if cw.Code != http.StatusOK || !strings.HasPrefix(cw.Header().Get("Content-Type"), "text/css") ||
		!strings.Contains(cw.Body.String(), "--accent: #126b3a;") {
		t.Errorf("theme.css: %d %q %q", cw.Code, cw.Header().Get("Content-Type"), cw.Body.String())
	}
	// The embedded stylesheet is still served next to the theme's.
	if gw := tg.do(t, httptest.NewRequest(http.MethodGet, "/guest/assets/guest.css", nil)); gw.Code != http.StatusOK {
		t.Errorf("guest.css: %d", gw.Code)
	}
	// The overridden message page, in German, keeps status and data-reason.
	r := httptest.NewRequest(http.MethodGet, "/guest/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil)
	r.Header.Set("Accept-Language", "de")
	mw := tg.do(t, r)
	if m := reasonRE.FindStringSubmatch(mw.Body.String()); mw.Code != http.StatusNotFound || m == nil || m[1] != "link-invalid" ||
		!strings.Contains(mw.Body.String(), `class="custom"`) || !strings.Contains(mw.Body.String(), "Zurück zur Sitzung") {
		t.Errorf("overridden message page: %d\n%s", mw.Code, mw.Body.String())
	}
}

func TestSVGLogoIsSandboxed(t *testing.T) {
	dir := t.TempDir()
	svg := testtheme.WriteFile(t, filepath.Join(dir, "logo.svg"), `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>`)
	tg := newTestGateway(t, entrypage.ThemeConfig{Logo: svg})
	w := tg.do(t, httptest.NewRequest(http.MethodGet, "/guest/assets/logo", nil))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "image/svg+xml" || !strings.Contains(w.Header().Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("svg logo: %d %q csp %q", w.Code, w.Header().Get("Content-Type"), w.Header().Get("Content-Security-Policy"))
	}
	// Without a title, the logo carries the alt text.
	page := tg.do(t, httptest.NewRequest(http.MethodGet, tg.path, nil)).Body.String()
	if !strings.Contains(page, `alt="Logo"`) {
		t.Errorf("logo without a title has no alt text:\n%s", page)
	}
	// No theme: no theme assets.
	plain := newTestGateway(t, entrypage.ThemeConfig{})
	for _, p := range []string{"/guest/assets/logo", "/guest/assets/theme.css"} {
		if w := plain.do(t, httptest.NewRequest(http.MethodGet, p, nil)); w.Code != http.StatusNotFound {
			t.Errorf("%s without a theme: %d", p, w.Code)
		}
	}
	page = plain.do(t, httptest.NewRequest(http.MethodGet, plain.path, nil)).Body.String()
	if strings.Contains(page, "theme.css") || strings.Contains(page, `class="site"`) {
		t.Errorf("page without a theme links theme parts:\n%s", page)
	}
}

// TestFormPostFromANoReferrerPage: browsers send "Origin: null" with a form
// posted from a page whose Referrer-Policy is no-referrer (the guest pages'
// policy); with Sec-Fetch-Site same-origin that is this site's own form. A null
// Origin without that, or with another Sec-Fetch-Site, stays refused.
func TestFormPostFromANoReferrerPage(t *testing.T) {
	for _, tc := range []struct {
		name       string
		origin     string
		fetchSite  string
		wantStatus int
	}{
		{"null with same-origin", "null", "same-origin", http.StatusSeeOther},
		{"null alone", "null", "", http.StatusForbidden},
		{"null with cross-site", "null", "cross-site", http.StatusForbidden},
		{"null with same-site", "null", "same-site", http.StatusForbidden},
		{"foreign with same-origin", "http://evil.example", "same-origin", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTestGateway(t, entrypage.ThemeConfig{})
			w := tg.do(t, httptest.NewRequest(http.MethodGet, tg.path, nil))
			m := csrfRE.FindStringSubmatch(w.Body.String())
			if m == nil {
				t.Fatal("no csrf field")
			}
			form := url.Values{"name": {"Ada"}, "email": {"ada@example.com"}, "csrf": {m[1]}}
			r := httptest.NewRequest(http.MethodPost, tg.path, strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Origin", tc.origin)
			if tc.fetchSite != "" {
				r.Header.Set("Sec-Fetch-Site", tc.fetchSite)
			}
			for _, c := range w.Result().Cookies() {
				r.AddCookie(c)
			}
			got := tg.do(t, r)
			if got.Code != tc.wantStatus {
				t.Errorf("status %d, want %d", got.Code, tc.wantStatus)
			}
			if tc.wantStatus == http.StatusForbidden {
				if m := reasonRE.FindStringSubmatch(got.Body.String()); m == nil || m[1] != "not-allowed" {
					t.Errorf("refused post: data-reason %v, want not-allowed", m)
				}
			}
		})
	}
}

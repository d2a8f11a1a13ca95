// Package browser drives a real Chromium (Debian's chromium, through chromedp)
// against a real Caddy running guestgate in this process, with the demo room
// backend of Caddyfile.example (templates + file_server over examples/room) on a
// second port. It checks what the moderator and the guests see and do. One
// test walks examples/livekit instead, with a real livekit-server
// (internal/testlivekit) and fake camera and microphone.
//
// The tests are skipped only when chromium is missing and the CI environment
// variable is unset; in CI a missing chromium fails them. On failure, a
// screenshot of every page of the test is kept under $BROWSER_ARTIFACTS (default
// testdata-out/ beside this file) and its path logged.
//
// Caddy is a process-wide singleton: one Caddy serves every test of this package,
// each test in rooms of its own; the tests do not run in parallel.
package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/internal/testcaddy"
	"github.com/guestgate/guestgate/internal/testcaddy/inproc"
)

const (
	// apiKey and moderatorKey are the test config's secrets.
	apiKey       = "browser-test-api-key-0123456789"
	moderatorKey = "browser-test-moderator-key-0123456789-abcdef"
	// chromiumPath is where Debian's chromium package puts the browser.
	chromiumPath = "/usr/bin/chromium"
	// testTimeout bounds one test's browser work.
	testTimeout = 90 * time.Second
	// waitTimeout bounds one wait for something to show on a page.
	waitTimeout = 15 * time.Second
)

// TestMain keeps Caddy out of the home directory and stops the package's
// Caddy (startServer) after the tests.
func TestMain(m *testing.M) {
	testcaddy.Main(m, func() { _ = inproc.Stop() })
}

// chromium returns the browser binary, or skips the test when there is none and
// CI is unset; in CI a missing browser is a failure.
func chromium(t *testing.T) string {
	t.Helper()
	path := chromiumPath
	if _, err := os.Stat(path); err != nil {
		if p, lerr := exec.LookPath("chromium"); lerr == nil {
			path = p
		} else {
			if os.Getenv("CI") != "" {
				t.Fatalf("chromium is not installed (%s), and CI is set: the browser tests must run in CI", chromiumPath)
			}
			t.Skipf("chromium is not installed (%s); install Debian's chromium package to run the browser tests", chromiumPath)
		}
	}
	return path
}

// ---- the server ----

// server is a Caddy of this package: guestgate on base, the demo room backend
// behind it.
type server struct {
	base   string // http://127.0.0.1:<port>
	client *http.Client
}

// caddyfile is Caddyfile.example's setup on loopback ports: the moderator API and
// page under /guest-admin/, the gateway, and the demo room backend.
var caddyfile = testcaddy.NewCaddyfile(`{
	admin off
	persist_config off
	storage file_system {{.Dir}}/caddy-data
	skip_install_trust
	log {
		output file {{.Dir}}/caddy.log
		format json
	}
}

http://127.0.0.1:{{.Port}} {
	bind 127.0.0.1
	handle_path /guest-admin/* {
		guest_admin {
			store {{.Dir}}/store
			api_key {{.APIKey}}
			moderator_key {{.ModeratorKey}}
			link_base http://127.0.0.1:{{.Port}}/guest/
			room demo "Demo room"
			lobby_timeout {{.LobbyTimeout}}
		}
	}
	guest_gateway {
		store {{.Dir}}/store
		room_path /rooms/{room}
		allow /rooms/{room} /rooms/{room}/* /static/*
		rate_limit off
		{{- lines 2 .GatewayExtra}}
	}
	reverse_proxy 127.0.0.1:{{.RoomPort}}
}

http://127.0.0.1:{{.RoomPort}} {
	bind 127.0.0.1
	root * {{.Examples}}
	@room path_regexp room ^/rooms/[A-Za-z0-9._-]+/?$
	rewrite @room /room.html
	# What the room backend received, for the tests: the guest's role.
	@role path_regexp role ^/rooms/[A-Za-z0-9._-]+/received-role$
	respond @role "{http.request.header.X-Guest-Role}"
	templates
	file_server
}
`)

// site is what the Caddyfile of a server needs.
type site struct {
	Port, RoomPort       int
	Dir, Examples        string
	APIKey, ModeratorKey string
	// GatewayExtra are more subdirectives of guest_gateway (a theme).
	GatewayExtra []string
	// LobbyTimeout is guest_admin's lobby_timeout: lobbyTimeout.
	LobbyTimeout time.Duration
}

// newSite picks the ports and finds the demo room backend.
func newSite(dir string, gatewayExtra ...string) (site, error) {
	ports, err := testcaddy.Ports(2)
	if err != nil {
		return site{}, err
	}
	examples, err := filepath.Abs(filepath.Join("..", "examples", "room"))
	if err != nil {
		return site{}, err
	}
	if _, err := os.Stat(filepath.Join(examples, "room.html")); err != nil {
		return site{}, fmt.Errorf("the demo room backend: %w", err)
	}
	return site{Port: ports[0], RoomPort: ports[1], Dir: dir, Examples: examples,
		APIKey: apiKey, ModeratorKey: moderatorKey, GatewayExtra: gatewayExtra, LobbyTimeout: lobbyTimeout}, nil
}

// lobbyTimeout is the servers' lobby_timeout, the shortest guest_admin
// takes: a test that waits a guest out of the lobby waits this long.
const lobbyTimeout = time.Minute

func (st site) server() *server {
	return &server{base: fmt.Sprintf("http://127.0.0.1:%d", st.Port), client: &http.Client{Timeout: 10 * time.Second}}
}

var (
	srvOnce sync.Once
	srv     *server
	srvErr  error
)

// startServer starts Caddy once for the whole package.
func startServer(t *testing.T) *server {
	t.Helper()
	srvOnce.Do(func() { srv, srvErr = newServer() })
	if srvErr != nil {
		t.Fatalf("starting Caddy: %v", srvErr)
	}
	return srv
}

// newServer starts the package's server; it runs until TestMain stops it, or
// until a test's own Caddy (guestCaddy) replaces it.
func newServer() (*server, error) {
	dir, err := os.MkdirTemp(testcaddy.TempDir(), "server-")
	if err != nil {
		return nil, err
	}
	st, err := newSite(dir)
	if err != nil {
		return nil, err
	}
	text := caddyfile.Render(st)
	if err := inproc.Start(text); err != nil {
		return nil, fmt.Errorf("loading the config: %w\n%s", err, text)
	}
	s := st.server()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := testcaddy.WaitHTTP(ctx, s.client, s.base+"/guest-admin/", 20*time.Millisecond, nil); err != nil {
		return nil, err
	}
	// The Manage page is served: the moderator tests start there.
	resp, err := s.client.Get(s.base + "/guest-admin/")
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /guest-admin/: %d, want 200", resp.StatusCode)
	}
	return s, nil
}

// guestCaddy runs a Caddy of the test's own with more subdirectives in
// guest_gateway (a theme) in place of the package's server, and returns it, or
// the error of a config Caddy refuses. The package's server is started anew by
// the next test that needs it. Caddy is a process-wide singleton, which is why
// this replaces rather than adds.
func guestCaddy(t *testing.T, gatewayExtra ...string) (*server, error) {
	t.Helper()
	st, err := newSite(t.TempDir(), gatewayExtra...)
	if err != nil {
		t.Fatal(err)
	}
	// The package's server (if running) is replaced: make the next startServer
	// start it again.
	srvOnce, srv, srvErr = sync.Once{}, nil, nil
	if err := inproc.Load(t, caddyfile.Render(st)); err != nil {
		return nil, err
	}
	s := st.server()
	testcaddy.WaitReady(t, s.base+"/guest/leave", nil)
	return s, nil
}

// api calls the moderator API with the API key and decodes the answer into out
// (when not nil); it fails the test unless the status is want.
func (s *server) api(t *testing.T, want int, method, path string, body, out any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+"/guest-admin"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// link is what the tests read of a link as the API shows it.
type link struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	URL       string     `json:"url"`
	ExpiresAt *time.Time `json:"expires_at"`
	MaxClicks *int       `json:"max_clicks"`
	Role      string     `json:"role"`
	NotBefore *time.Time `json:"not_before"`
}

// room is what the tests read of a room as the API shows it.
type room struct {
	GuestAccess  bool   `json:"guest_access"`
	LobbyMessage string `json:"lobby_message"`
	Links        []link `json:"links"`
}

func (s *server) room(t *testing.T, id string) room {
	t.Helper()
	var r room
	s.api(t, http.StatusOK, "GET", "/api/rooms/"+id, nil, &r)
	return r
}

// newRoom makes a room of this test (its id unique within the package run).
func (s *server) newRoom(t *testing.T, id, name, admission string) {
	t.Helper()
	s.api(t, http.StatusCreated, "PUT", "/api/rooms/"+id, map[string]any{"name": name, "admission": admission}, nil)
}

// openRoom makes a room of this test with guest access on.
func (s *server) openRoom(t *testing.T, id, name, admission string) {
	t.Helper()
	s.newRoom(t, id, name, admission)
	s.api(t, http.StatusOK, "PUT", "/api/rooms/"+id+"/guest-access", map[string]any{"enabled": true}, nil)
}

// newLink creates a link of spec in a room.
func (s *server) newLink(t *testing.T, room string, spec map[string]any) link {
	t.Helper()
	var l link
	s.api(t, http.StatusCreated, "POST", "/api/rooms/"+room+"/links", spec, &l)
	return l
}

// guestLink makes a room of this test with guest access on and one link, and
// returns the link's URL.
func guestLink(t *testing.T, s *server, id, name, admission string) string {
	t.Helper()
	s.openRoom(t, id, name, admission)
	return s.newLink(t, id, map[string]any{"name": "Guests"}).URL
}

// moderatorToken mints what a room backend gives a moderator: HS256 with the
// moderator key, valid for ttl.
func moderatorToken(t *testing.T, sub, name string, rooms []string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	return moderatorTokenAt(t, sub, name, rooms, now, now.Add(ttl))
}

// moderatorTokenAt mints a moderator token issued at iat, expiring at exp.
func moderatorTokenAt(t *testing.T, sub, name string, rooms []string, iat, exp time.Time) string {
	t.Helper()
	c := jwt.MapClaims{"sub": sub, "name": name, "role": "moderator", "iat": iat.Unix(), "exp": exp.Unix()}
	if len(rooms) == 1 {
		c["room"] = rooms[0]
	} else {
		c["rooms"] = rooms
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(moderatorKey))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// ---- the browser ----

// session is one Chromium of a test, with a fresh profile; its tabs are the
// people of the test.
type session struct {
	t       *testing.T
	ctx     context.Context // the browser's first tab; the tabs derive from it
	tabs    []*tab
	closers []context.CancelFunc // the tabs', run after the screenshots
}

// newSession starts Chromium with a fresh user data directory, stopped when the
// test ends; when the test failed, a screenshot of every tab is kept first
// (screenshotsOnFailure). flags are more of Chromium's command-line options.
func newSession(t *testing.T, flags ...chromedp.ExecAllocatorOption) *session {
	t.Helper()
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	opts = append(opts, flags...)
	ctx, cancelTimeout := context.WithTimeout(context.Background(), testTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	s := &session{t: t, ctx: bctx}
	t.Cleanup(func() { // runs before the browser stops
		s.screenshotsOnFailure()
		for _, c := range s.closers {
			c()
		}
	})
	return s
}

// view is how a tab looks at the pages.
type view struct {
	// Lang is the browser's language (an Accept-Language value, "de" or
	// "he-IL,he;q=0.9"): sent with every request, in navigator.languages and
	// the page's locale. Empty is Chromium's en-US.
	Lang string
	// Width and Height of the viewport in CSS pixels; 0 is 1280 x 900.
	Width, Height int64
	// Mobile emulates a phone: the viewport meta tag counts, touch is on, and
	// the device scale factor is 2.
	Mobile bool
}

// tab is one page in a browser context of its own (its own cookies and
// storage, like a separate person's browser), in the time zone browserZone.
type tab struct {
	t       *testing.T
	name    string
	width   int64 // of the viewport, in CSS pixels
	ctx     context.Context
	mu      sync.Mutex
	dialogs []string // JavaScript dialogs (alert, confirm) that opened
}

// newTab opens a tab as v says, with JavaScript dialogs (alert, confirm,
// prompt) recorded and dismissed.
func (s *session) newTab(name string, v view) *tab {
	s.t.Helper()
	tb := &tab{t: s.t, name: name}
	ctx, cancel := chromedp.NewContext(s.ctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			tb.mu.Lock()
			tb.dialogs = append(tb.dialogs, string(e.Type)+": "+e.Message)
			tb.mu.Unlock()
			go func() {
				_, _ = chromedp.Call(tb.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			}()
		}
	}))
	tb.ctx = ctx
	s.closers = append(s.closers, cancel)
	if err := chromedp.Do(ctx); err != nil {
		s.t.Fatalf("opening tab %s: %v", name, err)
	}
	s.tabs = append(s.tabs, tb)
	if v.Width == 0 {
		v.Width, v.Height = 1280, 900
	}
	tb.width = v.Width
	emulate := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if v.Mobile {
		emulate = []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait}
	}
	tb.do("setting the viewport", chromedp.EmulateViewport(v.Width, v.Height, emulate...))
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: browserZone}); err != nil {
		s.t.Fatalf("tab %s: time zone: %v", name, err)
	}
	// The page acts as if its window had the focus (the clipboard needs it).
	if _, err := chromedp.Call(ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		s.t.Fatalf("tab %s: focus emulation: %v", name, err)
	}
	if v.Lang != "" {
		if err := setLanguage(ctx, v.Lang); err != nil {
			s.t.Fatalf("tab %s: language %s: %v", name, v.Lang, err)
		}
	}
	return tb
}

// setLanguage makes the tab's requests carry acceptLanguage (and navigator.languages
// and the locale follow it), as a browser set to that language would.
func setLanguage(ctx context.Context, acceptLanguage string) error {
	ua, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`))
	if err != nil {
		return err
	}
	// The override takes the languages alone ("de-DE,de") and writes the
	// q-values of its own Accept-Language itself.
	var langs []string
	for l := range strings.SplitSeq(acceptLanguage, ",") {
		lang, _, _ := strings.Cut(l, ";")
		langs = append(langs, strings.TrimSpace(lang))
	}
	if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua, AcceptLanguage: strings.Join(langs, ",")}); err != nil {
		return err
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Accept-Language": acceptLanguage},
	}); err != nil {
		return err
	}
	locale := strings.SplitN(acceptLanguage, ",", 2)[0]
	_, err = chromedp.Call(ctx, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: strings.ReplaceAll(locale, "-", "_")})
	return err
}

// grantClipboard lets origin write and read the clipboard in the tab's
// browser context.
func (s *session) grantClipboard(tb *tab, origin string) {
	s.t.Helper()
	id := chromedp.FromContext(tb.ctx).BrowserContextID
	for _, name := range []string{"clipboard-write", "clipboard-read"} {
		_, err := chromedp.CallBrowser(tb.ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: name == "clipboard-read"},
			Setting:    browser.PermissionSettingGranted, Origin: origin, BrowserContextID: id,
		})
		if err != nil {
			s.t.Fatalf("granting %s: %v", name, err)
		}
	}
}

// artifactsDir is where screenshots of failed tests go.
func artifactsDir() string {
	if d := os.Getenv("BROWSER_ARTIFACTS"); d != "" {
		return d
	}
	return "testdata-out"
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// screenshotsOnFailure keeps a screenshot of every tab of a failed test
// under artifactsDir, named after the test and the tab.
func (s *session) screenshotsOnFailure() {
	if !s.t.Failed() {
		return
	}
	dir, err := filepath.Abs(filepath.Join(artifactsDir(), unsafeName.ReplaceAllString(s.t.Name(), "_")))
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		s.t.Logf("no screenshots: %v", err)
		return
	}
	for _, tb := range s.tabs {
		path := filepath.Join(dir, tb.name+".png")
		if err := tb.screenshot(path); err != nil {
			s.t.Logf("screenshot of %s: %v", tb.name, err)
			continue
		}
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
		cancel()
		s.t.Logf("screenshot of %s (%s): %s", tb.name, href, path)
	}
}

// ---- actions and checks on a tab ----

// do runs actions and fails the test on an error, with the page's text.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %s: %v\npage: %s", tb.name, what, err, tb.state())
	}
}

// open navigates to url and returns the HTTP status of the answer.
func (tb *tab) open(url string) int64 {
	tb.t.Helper()
	resp, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(url))
	if err != nil {
		tb.t.Fatalf("%s: opening %s: %v", tb.name, url, err)
	}
	return resp.Status
}

// state is the tab's address and the start of its text, for failure messages.
func (tb *tab) state() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " :: " + (document.body ? document.body.innerText.slice(0, 800) : "")`))
	return s
}

// evalJS evaluates a JavaScript expression in tb (awaiting a promise) and
// decodes its value.
func evalJS[T any](tb *tab, expr string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("%s: evaluating %s: %v\npage: %s", tb.name, expr, err, tb.state())
	}
	return v
}

// wait waits until the JavaScript expression is truthy. It evaluates it every
// 100 ms and reads an error as "not yet": a page that navigates meanwhile (a
// form post, a redirect, a reload) throws away the context an evaluation runs
// in.
func (tb *tab) wait(what, expr string) {
	tb.t.Helper()
	tb.waitUpTo(what, expr, waitTimeout)
}

// waitUpTo is wait with a bound of its own, for what happens at a set time.
func (tb *tab) waitUpTo(what, expr string, bound time.Duration) {
	tb.t.Helper()
	deadline := time.Now().Add(bound)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		if tb.ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.t.Fatalf("%s: waiting for %s (%s): not true after %v (last error: %v)\npage: %s", tb.name, what, expr, bound, lastErr, tb.state())
}

// submitEntry types name and email into the entry form of a link, as a guest
// does, and submits it.
func (tb *tab) submitEntry(name, email string) {
	tb.t.Helper()
	tb.do("filling the entry form",
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.Click(chromedp.CSS("button[type=submit]")))
}

// wantTexts checks the text (text) of each selector of want on the page,
// where names the part of the page in the messages.
func (tb *tab) wantTexts(where string, want map[string]string) {
	tb.t.Helper()
	for sel, w := range want {
		if got := tb.text(sel); got != w {
			tb.t.Errorf("%s, %s %s: %q, want %q", tb.name, where, sel, got, w)
		}
	}
}

// text is the trimmed textContent of the first element matching sel, or
// "<none>".
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return evalJS[string](tb, fmt.Sprintf(`(function(){var e=document.querySelector(%s);return e?e.textContent.trim():"<none>"})()`, jsString(sel)))
}

// hidden reports whether the element (or an ancestor) is hidden.
func (tb *tab) hidden(sel string) bool {
	tb.t.Helper()
	return evalJS[bool](tb, fmt.Sprintf(`(function(){var e=document.querySelector(%s);return !e || e.closest("[hidden]") !== null})()`, jsString(sel)))
}

// setValue sets the value of the input with id as if typed, firing input.
func (tb *tab) setValue(id, value string) {
	tb.t.Helper()
	evalJS[bool](tb, fmt.Sprintf(`(function(){var e=document.getElementById(%s);e.value=%s;e.dispatchEvent(new Event("input",{bubbles:true}));return true})()`, jsString(id), jsString(value)))
}

// jsString quotes s for JavaScript.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// dialogsSeen are the JavaScript dialogs that opened in the tab so far.
func (tb *tab) dialogsSeen() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.dialogs...)
}

// screenshot writes a full-page PNG of the tab to path.
func (tb *tab) screenshot(path string) error {
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// auditJS lists what a keyboard or screen-reader user, or a reader with low
// vision, would miss on the visible part of the page: a control without a name,
// and text with a contrast under 4.5:1 against its background (WCAG 2 AA).
const auditJS = `(function () {
  var problems = [];
  function shown(el) {
    if (el.closest("[hidden]")) return false;
    var r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) return false;
    var s = getComputedStyle(el);
    return s.visibility !== "hidden" && s.display !== "none";
  }
  function inert(el) {
    var open = document.querySelector("dialog[open]");
    return open && !open.contains(el);
  }
  document.querySelectorAll("input:not([type=hidden]), select, textarea, button").forEach(function (el) {
    if (!shown(el) || inert(el)) return;
    var name = el.getAttribute("aria-label") || "";
    if (!name && el.getAttribute("aria-labelledby")) {
      name = el.getAttribute("aria-labelledby").split(/\s+/).map(function (id) {
        var l = document.getElementById(id); return l ? l.textContent : "";
      }).join(" ");
    }
    if (!name && el.labels && el.labels.length) name = Array.from(el.labels).map(function (l) { return l.textContent; }).join(" ");
    if (!name && el.tagName === "BUTTON") name = el.textContent;
    if (!name.trim()) problems.push("no accessible name: " + el.outerHTML.slice(0, 120));
  });
  function parse(c) {
    var m = /rgba?\(([^)]+)\)/.exec(c);
    if (!m) return null;
    var p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  }
  function over(top, base) {
    return { r: top.r * top.a + base.r * (1 - top.a), g: top.g * top.a + base.g * (1 - top.a), b: top.b * top.a + base.b * (1 - top.a), a: 1 };
  }
  function background(el) {
    var layers = [];
    for (var e = el; e; e = e.parentElement) {
      var c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    var base = { r: 255, g: 255, b: 255, a: 1 };
    for (var i = layers.length - 1; i >= 0; i--) base = over(layers[i], base);
    return base;
  }
  function lum(c) {
    function ch(v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }
    return 0.2126 * ch(c.r) + 0.7152 * ch(c.g) + 0.0722 * ch(c.b);
  }
  document.querySelectorAll("body *").forEach(function (el) {
    var hasText = Array.from(el.childNodes).some(function (n) { return n.nodeType === 3 && n.textContent.trim() !== ""; });
    if (!hasText || !shown(el) || inert(el)) return;
    var bg = background(el);
    var fg = over(parse(getComputedStyle(el).color), bg);
    var a = lum(fg), b = lum(bg);
    var ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) problems.push("contrast " + ratio.toFixed(2) + ": " + el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + " " + JSON.stringify(el.textContent.trim().slice(0, 40)));
  });
  return problems;
})()`

// checkAccessibility fails the test for each problem auditJS finds.
func checkAccessibility(tb *tab, where string) {
	tb.t.Helper()
	for _, p := range evalJS[[]string](tb, auditJS) {
		tb.t.Errorf("%s, %s: %s", tb.name, where, p)
	}
}

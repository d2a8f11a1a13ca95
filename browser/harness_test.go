// Package browser drives a real Chromium (Debian's chromium, through chromedp)
// against a real Caddy running guestgate in this process, with the demo room
// backend of Caddyfile.example (templates + file_server over examples/room) on a
// second port. It checks what the moderator and the guests see and do.
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
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	_ "github.com/guestgate/guestgate/caddymodule"
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

var tmpRoot string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "guestgate-browser-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tmpRoot = dir
	// Nothing Caddy does in these tests may touch the real home directory.
	os.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	code := m.Run()
	_ = caddy.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
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

// server is the Caddy of this package: guestgate on base, the demo room backend
// behind it.
type server struct {
	base   string // http://127.0.0.1:<port>
	log    string
	client *http.Client
}

var (
	srvOnce sync.Once
	srv     *server
	srvErr  error
)

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// caddyfile is Caddyfile.example's setup on loopback ports: the moderator API and
// page under /guest-admin/, the gateway, and the demo room backend.
func caddyfile(port, roomPort int, dir, examples string) string {
	return fmt.Sprintf(`{
	admin off
	persist_config off
	storage file_system %[3]s/caddy-data
	skip_install_trust
	log {
		output file %[3]s/caddy.log
		format json
	}
}

http://127.0.0.1:%[1]d {
	bind 127.0.0.1
	handle_path /guest-admin/* {
		guest_admin {
			store %[3]s/store
			api_key %[5]s
			moderator_key %[6]s
			link_base http://127.0.0.1:%[1]d/guest/
			room demo "Demo room"
		}
	}
	guest_gateway {
		store %[3]s/store
		room_path /rooms/{room}
		allow /rooms/{room} /rooms/{room}/* /static/*
		rate_limit off
	}
	reverse_proxy 127.0.0.1:%[2]d
}

http://127.0.0.1:%[2]d {
	bind 127.0.0.1
	root * %[4]s
	@room path_regexp room ^/rooms/[A-Za-z0-9._-]+/?$
	rewrite @room /room.html
	templates
	file_server
}
`, port, roomPort, dir, examples, apiKey, moderatorKey)
}

// startServer starts Caddy once for the whole package.
func startServer(t *testing.T) *server {
	t.Helper()
	srvOnce.Do(func() { srv, srvErr = newServer() })
	if srvErr != nil {
		t.Fatalf("starting Caddy: %v", srvErr)
	}
	return srv
}

func newServer() (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	roomPort, err := freePort()
	if err != nil {
		return nil, err
	}
	examples, err := filepath.Abs(filepath.Join("..", "examples", "room"))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(examples, "room.html")); err != nil {
		return nil, fmt.Errorf("the demo room backend: %w", err)
	}
	dir := filepath.Join(tmpRoot, "server")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	text := caddyfile(port, roomPort, dir, examples)
	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return nil, fmt.Errorf("adapting the Caddyfile: %w\n%s", err, text)
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		return nil, fmt.Errorf("loading the config: %w", err)
	}
	s := &server{
		base:   fmt.Sprintf("http://127.0.0.1:%d", port),
		log:    filepath.Join(dir, "caddy.log"),
		client: &http.Client{Timeout: 10 * time.Second},
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := s.client.Get(s.base + "/guest-admin/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("Caddy does not answer on %s: %v", s.base, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
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

// link is a link as the API shows it.
type link struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	URL       string     `json:"url"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	MaxClicks *int       `json:"max_clicks"`
	Clicks    int        `json:"clicks"`
}

// room is a room as the API shows it.
type room struct {
	ID          string `json:"id"`
	GuestAccess bool   `json:"guest_access"`
	Links       []link `json:"links"`
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

// session is one browser of a test: a fresh profile, its own process.
type session struct {
	t       *testing.T
	ctx     context.Context // the browser's first tab; tabs in other browser contexts derive from it
	pages   []*tab
	closers []context.CancelFunc // the tabs', run after the screenshots
}

// tab is one page in its own browser context (its own cookies and storage).
type tab struct {
	name    string
	ctx     context.Context
	mu      sync.Mutex
	dialogs []string // JavaScript dialogs (alert, confirm) that opened
}

// newSession starts Chromium with a fresh user data directory, stopped when the
// test ends; on failure it keeps screenshots first.
func newSession(t *testing.T) *session {
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

// newTab opens a page in a new browser context (like a separate person's
// browser) in the time zone browserZone, with JavaScript dialogs (alert,
// confirm, prompt) recorded and dismissed.
func (s *session) newTab(name string) *tab {
	s.t.Helper()
	tb := &tab{name: name}
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
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: browserZone}); err != nil {
		s.t.Fatalf("tab %s: time zone: %v", name, err)
	}
	// The page acts as if its window had the focus (the clipboard needs it).
	if _, err := chromedp.Call(ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		s.t.Fatalf("tab %s: focus emulation: %v", name, err)
	}
	s.pages = append(s.pages, tb)
	return tb
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
	for _, tb := range s.pages {
		ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
		href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			s.t.Logf("screenshot of %s: %v", tb.name, err)
			continue
		}
		path := filepath.Join(dir, tb.name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			s.t.Logf("screenshot of %s: %v", tb.name, err)
			continue
		}
		s.t.Logf("screenshot of %s (%s): %s", tb.name, href, path)
	}
}

// ---- actions and checks on a tab ----

func (tb *tab) run(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		t.Fatalf("%s: %s: %v", tb.name, what, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) and decodes its
// value into out.
func (tb *tab) eval(t *testing.T, expr string, out any) {
	t.Helper()
	raw, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: evaluating %s: %v", tb.name, expr, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s: evaluating %s: decoding %s: %v", tb.name, expr, raw, err)
	}
}

// waitJS waits until the JavaScript expression is truthy. A page that
// navigates meanwhile (a form post, a redirect, a reload) is waited for too.
func (tb *tab) waitJS(t *testing.T, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ctx, cancel := context.WithDeadline(tb.ctx, deadline)
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline))))
		cancel()
		if err == nil {
			return
		}
		if time.Now().Before(deadline) && tb.ctx.Err() == nil {
			// The document went away under the poll (navigation): ask the next one.
			time.Sleep(100 * time.Millisecond)
			continue
		}
		state, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`location.href + " :: " + (document.body ? document.body.innerText.slice(0, 800) : "")`))
		t.Fatalf("%s: waiting for %s (%s): %v\npage: %s", tb.name, what, expr, err, state)
	}
}

// setValue sets the value of the input with id as if typed, firing input.
func (tb *tab) setValue(t *testing.T, id, value string) {
	t.Helper()
	var ok bool
	tb.eval(t, fmt.Sprintf(`(function(){var e=document.getElementById(%q);e.value=%s;e.dispatchEvent(new Event("input",{bubbles:true}));return true})()`, id, jsString(value)), &ok)
}

// jsString quotes s for JavaScript.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// text returns the textContent of the first element matching a CSS selector.
func (tb *tab) text(t *testing.T, sel string) string {
	t.Helper()
	var s string
	tb.eval(t, fmt.Sprintf(`(function(){var e=document.querySelector(%q);return e?e.textContent.trim():"<none>"})()`, sel), &s)
	return s
}

func (tb *tab) dialogsSeen() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.dialogs...)
}

// setLanguage makes the tab's requests carry acceptLanguage (and navigator.languages
// follow it), as a browser set to that language would.
func setLanguage(ctx context.Context, acceptLanguage string) error {
	ua, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`))
	if err != nil {
		return err
	}
	if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua, AcceptLanguage: acceptLanguage}); err != nil {
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
func checkAccessibility(t *testing.T, tb *tab, where string) {
	t.Helper()
	var problems []string
	tb.eval(t, auditJS, &problems)
	for _, p := range problems {
		t.Errorf("%s, %s: %s", tb.name, where, p)
	}
}

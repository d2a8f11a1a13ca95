package browser

// The guest pages' side of the harness: a browser per test with the language and
// the screen size a guest would have, on the package's Caddy (startServer), or
// on a Caddy of the test's own for a themed gateway. Names start with "guest" so
// that they stay clear of the moderator page's harness.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// guestTimeout bounds one guest browser's work in a test.
const guestTimeout = 90 * time.Second

// guestView is how a guest's browser looks at the pages.
type guestView struct {
	// Lang is sent as Accept-Language; empty sends Chromium's default.
	Lang string
	// Width and Height of the viewport in CSS pixels; 0 is 1280 x 900.
	Width, Height int64
	// Mobile emulates a phone: the viewport meta tag counts, touch is on, and
	// the device scale factor is 2.
	Mobile bool
}

// guestTab is one guest's browser: its own Chromium with a fresh profile.
type guestTab struct {
	t    *testing.T
	name string
	ctx  context.Context
}

// guestBrowser starts Chromium for one guest. It stops with the test; when the
// test fails, a screenshot of the page is kept first (guestArtifacts).
func guestBrowser(t *testing.T, name string, v guestView) *guestTab {
	t.Helper()
	exe := chromium(t)
	if v.Width == 0 {
		v.Width, v.Height = 1280, 900
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(int(v.Width), int(v.Height)),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancelTimeout := context.WithTimeout(context.Background(), guestTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
	})
	tb := &guestTab{t: t, name: name, ctx: bctx}
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	scale := 1.0
	var emu []chromedp.EmulateViewportOption
	if v.Mobile {
		scale = 2
		emu = append(emu, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	emu = append(emu, chromedp.EmulateScale(scale))
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(v.Width, v.Height, emu...)); err != nil {
		t.Fatalf("%s: setting the viewport: %v", name, err)
	}
	if v.Lang != "" {
		if _, err := chromedp.Call(bctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Accept-Language": v.Lang},
		}); err != nil {
			t.Fatalf("%s: setting Accept-Language: %v", name, err)
		}
	}
	t.Cleanup(tb.screenshotOnFailure) // runs before the browser stops
	return tb
}

// guestArtifacts is where the screenshots of failed guest-page tests go:
// $BROWSER_ARTIFACTS or testdata-out/ beside this file.
func guestArtifacts(t *testing.T) string {
	dir, err := filepath.Abs(filepath.Join(artifactsDir(), strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())))
	if err != nil {
		return ""
	}
	return dir
}

func (tb *guestTab) screenshotOnFailure() {
	if !tb.t.Failed() {
		return
	}
	dir := guestArtifacts(tb.t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Logf("no screenshot of %s: %v", tb.name, err)
		return
	}
	path := filepath.Join(dir, tb.name+".png")
	if err := tb.screenshot(path); err != nil {
		tb.t.Logf("no screenshot of %s: %v", tb.name, err)
		return
	}
	tb.t.Logf("screenshot of %s: %s", tb.name, path)
}

// screenshot writes a full-page PNG of the tab to path.
func (tb *guestTab) screenshot(path string) error {
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// do runs actions and fails the test on an error, with the page's text.
func (tb *guestTab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %s: %v\npage: %s", tb.name, what, err, tb.state())
	}
}

// open navigates to url and returns the HTTP status of the answer.
func (tb *guestTab) open(url string) int64 {
	tb.t.Helper()
	resp, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(url))
	if err != nil {
		tb.t.Fatalf("%s: opening %s: %v", tb.name, url, err)
	}
	return resp.Status
}

// state is the tab's address and the start of its text, for failure messages.
func (tb *guestTab) state() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " :: " + (document.body ? document.body.innerText.slice(0, 600) : "")`))
	return s
}

// guestEval evaluates a JavaScript expression in tb and decodes its value.
func guestEval[T any](tb *guestTab, expr string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("%s: evaluating %s: %v\npage: %s", tb.name, expr, err, tb.state())
	}
	return v
}

// waitFor waits until the JavaScript expression is truthy. It evaluates it
// every 100 ms and reads an error as "not yet": a page that navigates throws
// away the context an evaluation runs in.
func (tb *guestTab) waitFor(what, expr string) {
	tb.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
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
	tb.t.Fatalf("%s: waiting for %s (%s): not true after 15 s (last error: %v)\npage: %s", tb.name, what, expr, lastErr, tb.state())
}

// text is the trimmed textContent of the first element matching sel, or
// "<none>".
func (tb *guestTab) text(sel string) string {
	tb.t.Helper()
	return guestEval[string](tb, fmt.Sprintf(`(function(){var e=document.querySelector(%s);return e?e.textContent.trim():"<none>"})()`, guestJS(sel)))
}

// guestJS quotes s for JavaScript.
func guestJS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// guestLink makes a room of this test with guest access on and one link, and
// returns the link's URL.
func guestLink(t *testing.T, s *server, id, name, admission string) string {
	t.Helper()
	s.newRoom(t, id, name, admission)
	s.api(t, http.StatusOK, "PUT", "/api/rooms/"+id+"/guest-access", map[string]any{"enabled": true}, nil)
	var l link
	s.api(t, http.StatusCreated, "POST", "/api/rooms/"+id+"/links", map[string]any{"name": "Guests"}, &l)
	return l.URL
}

// guestCaddy runs a Caddy of the test's own with extra lines in guest_gateway
// (a theme) in place of the package's server, and returns it. The package's
// server is started anew by the next test that needs it. Caddy is a
// process-wide singleton, which is why this replaces rather than adds.
func guestCaddy(t *testing.T, gatewayExtra ...string) (*server, error) {
	t.Helper()
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
	dir := t.TempDir()
	text := caddyfile(port, roomPort, dir, examples)
	const anchor = "\t\trate_limit off\n"
	if !strings.Contains(text, anchor) {
		t.Fatalf("the package's Caddyfile has no %q line to add the theme after:\n%s", anchor, text)
	}
	text = strings.Replace(text, anchor, anchor+"\t\t"+strings.Join(gatewayExtra, "\n\t\t")+"\n", 1)
	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return nil, fmt.Errorf("adapting: %w", err)
	}
	// The package's server (if running) is replaced: make the next startServer
	// start it again.
	srvOnce, srv, srvErr = sync.Once{}, nil, nil
	t.Cleanup(func() { _ = caddy.Stop() })
	if err := caddy.Load(cfgJSON, true); err != nil {
		return nil, err
	}
	s := &server{base: fmt.Sprintf("http://127.0.0.1:%d", port), log: filepath.Join(dir, "caddy.log"), client: &http.Client{Timeout: 10 * time.Second}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := s.client.Get(s.base + "/guest/leave")
		if err == nil {
			resp.Body.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("Caddy does not answer on %s: %v", s.base, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

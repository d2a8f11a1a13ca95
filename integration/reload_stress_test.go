package integration

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// droppedConnection reports whether err is a connection the server side reset
// or closed before answering: the TCP handover of a Caddy reload on Linux, not
// an answer of the gateway. Caddy binds each config's listener with
// SO_REUSEPORT and closes the old one after the new one is up; connections the
// kernel queued on the old socket are reset when it closes, and an idle
// keep-alive connection the old server closes can cross a request the client
// is sending on it (https://lwn.net/Articles/542629/). Go's client retries such
// GETs on a reused connection by itself, but not POSTs or fresh connections;
// browsers retry them.
func droppedConnection(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		strings.Contains(err.Error(), "server closed idle connection")
}

// TestReloadStress: 50 config reloads (caddy.Load of two
// alternating configs on the same store, as "caddy reload" does) while guests
// redeem links and browse the room: no lock error in the log, no failed
// request (every answer is one the user flow expects, never a 5xx; a
// connection the listener handover drops is sent again, as a browser does, and
// counted), and no lost state (each link's stored clicks equal the redemptions
// acknowledged with a 303, so no dropped POST was ever half-done).
func TestReloadStress(t *testing.T) {
	const reloads, workers = 50, 4
	g := newGateway(t)
	cfgA := config{AdminExtra: []string{`room demo "Demo room"`}}
	cfgB := config{AdminExtra: cfgA.AdminExtra, Allow: "/rooms/{room} /rooms/{room}/* /static/*", Order: true}
	g.load(cfgA)
	g.setAccess("demo", true)
	open := g.createLink("demo", map[string]any{"name": "Open"})
	limited := g.createLink("demo", map[string]any{"name": "Ten", "max_clicks": 10})
	paths := map[string]string{open.ID: linkPath(t, open), limited.ID: linkPath(t, limited)}

	var (
		stop     atomic.Bool
		mu       sync.Mutex
		granted  = map[string]int{} // link id -> 303s with a session cookie
		answers  = map[string]int{} // "step status" -> count
		failures []string
		wg       sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 50 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	count := func(step string, status int) {
		mu.Lock()
		defer mu.Unlock()
		answers[fmt.Sprintf("%s %d", step, status)]++
	}
	// do sends one request of a guest; want lists the statuses the user flow
	// allows for that step. A connection the server dropped before answering is
	// sent again, as a browser does, up to 4 times, a little later each time
	// (see droppedConnection).
	var dropped atomic.Int64
	do := func(b *browser, step string, req *http.Request, want ...int) (page, bool) {
		var (
			resp *http.Response
			err  error
		)
		for attempt := 0; attempt < 5; attempt++ {
			// A fresh copy each time: the client adds the jar's cookies to the
			// request it is given, and a second copy of a cookie is refused.
			r := req.Clone(req.Context())
			if req.GetBody != nil {
				r.Body, _ = req.GetBody()
			}
			if attempt > 0 {
				dropped.Add(1)
				time.Sleep(time.Duration(attempt) * 20 * time.Millisecond)
			}
			if resp, err = b.client.Do(r); err == nil || !droppedConnection(err) {
				break
			}
		}
		if err != nil {
			fail("%s %s: %v", step, req.URL.Path, err)
			return page{}, false
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			fail("%s %s: reading: %v", step, req.URL.Path, err)
			return page{}, false
		}
		p := page{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
		count(step, p.Status)
		for _, w := range want {
			if p.Status == w {
				return p, true
			}
		}
		fail("%s %s: %d %q, want one of %v", step, req.URL.Path, p.Status, p.reason(), want)
		return p, false
	}
	get := func(path string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, g.base+path, nil)
		return req
	}

	for w := range workers {
		wg.Go(func() {
			for i := 0; !stop.Load() && i < 10000; i++ {
				id := open.ID
				if (w+i)%3 == 0 {
					id = limited.ID
				}
				b := g.browser()
				entry, ok := do(b, "entry", get(paths[id]), http.StatusOK, http.StatusGone)
				if !ok || entry.Status == http.StatusGone {
					continue // the limited link is used up
				}
				form := url.Values{"name": {fmt.Sprintf("Guest %d-%d", w, i)}, "email": {"guest@example.com"}, "csrf": {entry.csrf()}}
				req, _ := http.NewRequest(http.MethodPost, g.base+paths[id], strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				p, ok := do(b, "redeem", req, http.StatusSeeOther, http.StatusGone)
				if !ok || p.Status != http.StatusSeeOther {
					continue
				}
				if p.Header.Get("Location") != "/rooms/demo" || p.sessionCookie() == nil {
					fail("redeem: 303 to %q, session cookie %v", p.Header.Get("Location"), p.sessionCookie() != nil)
					continue
				}
				mu.Lock()
				granted[id]++
				mu.Unlock()
				do(b, "room", get("/rooms/demo"), http.StatusOK)
				do(b, "room page", get("/rooms/demo/chat"), http.StatusOK)
				// Allowed by one config, refused by the other.
				do(b, "static", get("/static/app.css"), http.StatusOK, http.StatusForbidden)
				do(b, "other room", get("/rooms/other"), http.StatusForbidden)
				do(b, "reopen the link", get(paths[id]), http.StatusSeeOther)
			}
		})
	}

	start := time.Now()
	for i := range reloads {
		cfg := cfgA
		if i%2 == 0 {
			cfg = cfgB
		}
		g.load(cfg)
	}
	took := time.Since(start)
	// Let the guests go on a little on the last config, then stop them.
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	for _, f := range failures {
		t.Error(f)
	}
	var steps []string
	total := 0
	for k, n := range answers {
		steps = append(steps, fmt.Sprintf("%s: %d", k, n))
		total += n
	}
	sort.Strings(steps)
	t.Logf("%d reloads in %v while %d guests made %d requests (%d more were dropped by the listener handover and sent again): %s",
		reloads, took.Round(time.Millisecond), workers, total, dropped.Load(), strings.Join(steps, ", "))
	if n := dropped.Load(); n > int64(total)/5 {
		t.Errorf("%d of %d requests were dropped at the connection level", n, total)
	}
	if granted[open.ID] == 0 || answers["room 200"] == 0 {
		t.Errorf("no guest got in during the reloads: the test proves nothing")
	}

	for id, want := range granted {
		if got := g.clicks("demo", id); got != want {
			t.Errorf("link %s: %d clicks stored, %d redemptions acknowledged", id, got, want)
		}
	}
	if got := g.clicks("demo", limited.ID); got > 10 {
		t.Errorf("the 10-click link has %d clicks", got)
	}
	logs := g.logs()
	if !strings.Contains(logs, `"msg"`) {
		t.Fatalf("Caddy's log holds no JSON line; the lock check would prove nothing")
	}
	if lines := lockLines(logs); len(lines) > 0 {
		t.Errorf("Caddy logged lock errors during the reloads:\n%s", strings.Join(lines, "\n"))
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"level":"error"`) {
			t.Errorf("Caddy logged an error during the reloads: %s", line)
		}
	}
}

package integration

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEntryPageSpendsNoClick: opening, reloading and prefetching (GET, HEAD) the
// entry page never spends a click; malformed and unknown tokens show link-invalid.
func TestEntryPageSpendsNoClick(t *testing.T) {
	g := startGateway(t, config{})
	l := g.openRoomWithLink("demo", map[string]any{"name": "Mail", "max_clicks": 1})
	path := linkPath(t, l)

	for i := range 5 {
		b := g.browser() // a mail scanner, a link preview, the guest...
		p := b.get(path)
		if p.Status != http.StatusOK || p.csrf() == "" || !strings.Contains(p.Body, "Room demo") {
			t.Fatalf("GET entry page #%d: %d, csrf %q, want 200 with the form and the room name", i, p.Status, p.csrf())
		}
		if p.sessionCookie() != nil {
			t.Errorf("GET entry page #%d set the session cookie", i)
		}
		h := b.do(b.request(http.MethodHead, path, nil))
		if h.Status != http.StatusOK || h.Body != "" {
			t.Errorf("HEAD entry page #%d: %d with %d body bytes, want 200 and no body", i, h.Status, len(h.Body))
		}
	}
	if n := g.clicks("demo", l.ID); n != 0 {
		t.Fatalf("clicks after 5 GETs and 5 HEADs = %d, want 0", n)
	}
	if !g.link("demo", l.ID).Active {
		t.Errorf("a 1-click link opened 10 times is no longer active")
	}

	// The room's name is text, never markup.
	g.putRoom("demo", map[string]any{"name": `<img src=x onerror=alert(1)> & "Co"`})
	if p := g.browser().get(path); p.Status != http.StatusOK || strings.Contains(p.Body, "<img src=x") || !strings.Contains(p.Body, "&lt;img src=x onerror=alert(1)&gt; &amp;") {
		t.Errorf("entry page of a room named with markup: %d, the name is not escaped", p.Status)
	}

	tok := strings.TrimPrefix(path, "/guest/")
	b := g.browser()
	for _, tc := range []struct{ name, target string }{
		{"one character short", "/guest/" + tok[:31]},
		{"one character long", "/guest/" + tok + "A"},
		{"empty", "/guest/"},
		{"plus (base64, not base64url)", "/guest/" + "+" + tok[1:]},
		{"slash (base64, not base64url)", "/guest/" + tok[:10] + "/" + tok[11:]},
		{"padding", "/guest/" + tok[:31] + "="},
		{"dot", "/guest/" + tok[:31] + "."},
		{"percent-encoded letter", "/guest/" + encodedOtherLast(tok)},
		{"well-formed but unknown", "/guest/" + strings.Repeat("A", 32)},
		{"other case", "/guest/" + swapCase(tok)},
	} {
		wantPage(t, "GET token "+tc.name, b.get(tc.target), http.StatusNotFound, "link-invalid")
		p := b.post(tc.target, url.Values{"name": {"Ada"}, "email": {"ada@example.com"}}, nil)
		wantPage(t, "POST token "+tc.name, p, http.StatusNotFound, "link-invalid")
	}
	if n := g.clicks("demo", l.ID); n != 0 {
		t.Errorf("clicks after bad tokens = %d, want 0", n)
	}
	if n := g.up.count(); n != 0 {
		t.Errorf("the upstream received %d requests, want none", n)
	}
}

// encodedOtherLast is tok with its last character replaced by a
// percent-encoded letter that differs from it ("%41" is "A", "%42" is "B"): it
// decodes to a well-formed token that is not tok. A fixed "%41" would decode
// to tok itself whenever tok ends in "A", one run in 64.
func encodedOtherLast(tok string) string {
	if strings.HasSuffix(tok, "A") {
		return tok[:len(tok)-1] + "%42"
	}
	return tok[:len(tok)-1] + "%41"
}

func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return r
	}, s)
}

// TestEntryFormRefusals: invalid input re-renders the form with the error beside
// the field (422); a missing or wrong anti-CSRF field (403) and cross-site posts
// (403) are refused; none of them spends a click. The same browser then redeems.
func TestEntryFormRefusals(t *testing.T) {
	g := startGateway(t, config{})
	l := g.openRoomWithLink("demo", map[string]any{"name": "Form", "max_clicks": 1})
	path := linkPath(t, l)
	b := g.browser()
	csrf := b.get(path).csrf()
	if csrf == "" {
		t.Fatal("the entry page has no csrf field")
	}

	for _, tc := range []struct {
		name, gName, email, field string
	}{
		{"empty name", "", "ada@example.com", "name"},
		{"blank name", " \t ", "ada@example.com", "name"},
		{"name with a newline", "Ada\nX-Guest-Id: g_x", "ada@example.com", "name"},
		{"empty email", "Ada", "", "email"},
		{"email without @", "Ada", "ada.example.com", "email"},
		{"email with a display name", "Ada", "Ada <ada@example.com>", "email"},
		{"email with CR LF", "Ada", "ada@example.com\r\nBcc: eve@example.com", "email"},
		{"email with LF", "Ada", "ada@exa\nmple.com", "email"},
		{"email with CR", "Ada", "ada\r@example.com", "email"},
	} {
		p := b.post(path, url.Values{"name": {tc.gName}, "email": {tc.email}, "csrf": {csrf}}, nil)
		if p.Status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d (reason %q), want 422", tc.name, p.Status, p.reason())
			continue
		}
		if !strings.Contains(p.Body, `data-field="`+tc.field+`"`) {
			t.Errorf("%s: no element with data-field=%q in the page", tc.name, tc.field)
		}
		other := map[string]string{"name": "email", "email": "name"}[tc.field]
		if strings.Contains(p.Body, `data-field="`+other+`"`) {
			t.Errorf("%s: an error is shown beside %q too", tc.name, other)
		}
		if p.sessionCookie() != nil {
			t.Errorf("%s: the session cookie was set", tc.name)
		}
		if next := p.csrf(); next == "" {
			t.Errorf("%s: the re-rendered form has no csrf field", tc.name)
		} else {
			csrf = next
		}
	}
	if n := g.clicks("demo", l.ID); n != 0 {
		t.Fatalf("clicks after invalid input = %d, want 0", n)
	}

	good := url.Values{"name": {"Ada"}, "email": {"ada@example.com"}}
	with := func(v url.Values, k, val string) url.Values {
		out := url.Values{}
		for kk, vv := range v {
			out[kk] = vv
		}
		out.Set(k, val)
		return out
	}
	// Anti-CSRF field: missing, empty, wrong, from another browser, for another link.
	other := g.browser()
	otherCSRF := other.get(path).csrf()
	l2 := g.createLink("demo", map[string]any{"name": "Second"})
	csrfOtherLink := b.get(linkPath(t, l2)).csrf()
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"missing", good},
		{"empty", with(good, "csrf", "")},
		{"wrong", with(good, "csrf", strings.Repeat("A", 43))},
		{"from another browser", with(good, "csrf", otherCSRF)},
		{"of another link", with(good, "csrf", csrfOtherLink)},
	} {
		p := b.post(path, tc.form, nil)
		if p.Status != http.StatusForbidden || p.sessionCookie() != nil {
			t.Errorf("csrf %s: status %d, session cookie %v, want 403 and no session", tc.name, p.Status, p.sessionCookie() != nil)
		}
	}
	// A browser without the anti-CSRF cookie, sending a valid-looking field.
	fresh := g.browser()
	p := fresh.post(path, with(good, "csrf", csrf), nil)
	if p.Status != http.StatusForbidden || p.sessionCookie() != nil {
		t.Errorf("csrf without the cookie: status %d, want 403", p.Status)
	}
	// Cross-site posts, even with a correct csrf field.
	for _, tc := range []struct {
		name   string
		header http.Header
	}{
		{"Sec-Fetch-Site cross-site", http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"Sec-Fetch-Site same-site", http.Header{"Sec-Fetch-Site": {"same-site"}}},
		{"foreign Origin", http.Header{"Origin": {"http://evil.example"}}},
		{"Origin of another port", http.Header{"Origin": {"http://127.0.0.1:1"}}},
		{"Origin null", http.Header{"Origin": {"null"}}},
	} {
		p := b.post(path, with(good, "csrf", csrf), tc.header)
		if p.Status != http.StatusForbidden || p.sessionCookie() != nil {
			t.Errorf("%s: status %d (reason %q), want 403 and no session", tc.name, p.Status, p.reason())
		}
	}
	if n := g.clicks("demo", l.ID); n != 0 {
		t.Fatalf("clicks after refused posts = %d, want 0", n)
	}

	// The same browser, same-origin, with its csrf field: redeemed.
	p = b.post(path, with(good, "csrf", csrf), http.Header{"Origin": {g.base}, "Sec-Fetch-Site": {"same-origin"}})
	if p.Status != http.StatusSeeOther || p.sessionCookie() == nil {
		t.Fatalf("a good post: status %d (reason %q), want 303 with the session cookie", p.Status, p.reason())
	}
	if n := g.clicks("demo", l.ID); n != 1 {
		t.Errorf("clicks after one good post = %d, want 1", n)
	}
	if n := g.up.count(); n != 0 {
		t.Errorf("the upstream received %d requests, want none", n)
	}
}

// TestConcurrentRedemptions: 50 browsers redeem a 1-click link at once;
// exactly one gets in, the 49 others see link-used-up, and the store counts 1.
// The same with a 3-click link: exactly 3 get in.
func TestConcurrentRedemptions(t *testing.T) {
	g := startGateway(t, config{})
	raceRedemptions(t, g, "demo", 1, 50)
	raceRedemptions(t, g, "trio", 3, 50)
}

// raceRedemptions makes room with a link of maxClicks and lets n browsers, each
// with its own cookie jar, open the entry page and then all submit it at once.
func raceRedemptions(t *testing.T, g *gateway, room string, maxClicks, n int) {
	t.Helper()
	l := g.openRoomWithLink(room, map[string]any{"name": "Race", "max_clicks": maxClicks})
	path := linkPath(t, l)

	browsers := make([]*browser, n)
	forms := make([]string, n)
	for i := range browsers {
		browsers[i] = g.browser()
	}
	var (
		wg      sync.WaitGroup
		ready   sync.WaitGroup
		start   = make(chan struct{})
		results = make([]page, n)
		errs    = make(chan string, n)
	)
	ready.Add(n)
	for i := range n {
		wg.Go(func() {
			b := browsers[i]
			// Step 1: open the entry page and read the form.
			resp, err := b.client.Get(g.base + path)
			if err != nil {
				errs <- err.Error()
				ready.Done()
				return
			}
			var sb strings.Builder
			_, _ = io.Copy(&sb, resp.Body)
			resp.Body.Close()
			forms[i] = page{Body: sb.String()}.csrf()
			ready.Done()
			<-start
			// Step 2: all submit together.
			form := url.Values{"name": {"Guest"}, "email": {"guest@example.com"}, "csrf": {forms[i]}}
			req, _ := http.NewRequest(http.MethodPost, g.base+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err = b.client.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			sb.Reset()
			_, _ = io.Copy(&sb, resp.Body)
			resp.Body.Close()
			results[i] = page{Status: resp.StatusCode, Header: resp.Header, Body: sb.String()}
		})
	}
	ready.Wait()
	close(start)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("request failed: %s", e)
	}
	for i, f := range forms {
		if f == "" {
			t.Fatalf("browser %d found no csrf field", i)
		}
	}

	admitted, usedUp := 0, 0
	other := map[string]int{}
	for i, p := range results {
		switch {
		case p.Status == http.StatusSeeOther && p.sessionCookie() != nil && p.Header.Get("Location") == "/rooms/"+room:
			admitted++
			wantPage(t, "the room for a guest who won the race", browsers[i].get("/rooms/"+room), http.StatusOK, "")
		case p.Status == http.StatusGone && p.reason() == "link-used-up" && p.sessionCookie() == nil:
			usedUp++
		default:
			other[p.Header.Get("Location")+" "+http.StatusText(p.Status)+" "+p.reason()]++
		}
	}
	if admitted != maxClicks || usedUp != n-maxClicks {
		t.Errorf("%d-click link, %d browsers: %d redeemed (303 + cookie), %d link-used-up (410), others %v; want %d and %d",
			maxClicks, n, admitted, usedUp, other, maxClicks, n-maxClicks)
	}
	if c := g.clicks(room, l.ID); c != maxClicks {
		t.Errorf("%d-click link: stored clicks = %d, want %d", maxClicks, c, maxClicks)
	}
	if g.link(room, l.ID).Active {
		t.Errorf("the used-up link is still listed as active")
	}
}

// TestReopenLinkWithLiveSession: a browser that already holds a live session for
// the link is sent straight to the room, spending no second click (DESIGN
// section 1), also when the link has no clicks left for new guests: guests
// admitted through a used-up link stay.
func TestReopenLinkWithLiveSession(t *testing.T) {
	g := startGateway(t, config{})

	t.Run("unlimited link", func(t *testing.T) {
		l := g.openRoomWithLink("demo", map[string]any{"name": "Open"})
		path := linkPath(t, l)
		b := g.browser()
		b.mustRedeem(path, "Ada", "ada@example.com", "demo")
		for i := range 3 {
			p := b.get(path)
			if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/rooms/demo" {
				t.Errorf("reopening #%d: %d Location %q (reason %q), want 303 to /rooms/demo", i, p.Status, p.Header.Get("Location"), p.reason())
			}
		}
		if n := g.clicks("demo", l.ID); n != 1 {
			t.Errorf("clicks = %d, want 1", n)
		}
		// Another browser still gets the form, not the redirect.
		if p := g.browser().get(path); p.Status != http.StatusOK || p.csrf() == "" {
			t.Errorf("another browser: %d, want 200 with the form", p.Status)
		}
		// A session of another link of the same room is not the same link: the
		// entry page shows.
		l2 := g.createLink("demo", map[string]any{"name": "Second"})
		if p := b.get(linkPath(t, l2)); p.Status != http.StatusOK || p.csrf() == "" {
			t.Errorf("session of another link opening this one: %d, want 200 with the form", p.Status)
		}
		if n := g.clicks("demo", l2.ID); n != 0 {
			t.Errorf("clicks of the second link = %d, want 0", n)
		}
	})

	t.Run("used-up link", func(t *testing.T) {
		l := g.openRoomWithLink("solo", map[string]any{"name": "Once", "max_clicks": 1})
		path := linkPath(t, l)
		b := g.browser()
		b.mustRedeem(path, "Ada", "ada@example.com", "solo")
		// The guest is inside ...
		wantPage(t, "room after redeeming", b.get("/rooms/solo"), http.StatusOK, "")
		// ... and a new guest is refused ...
		wantPage(t, "new guest on the used-up link", g.browser().get(path), http.StatusGone, "link-used-up")
		// ... but the admitted guest opening the link again is sent on.
		p := b.get(path)
		if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/rooms/solo" {
			t.Errorf("admitted guest reopening the used-up link: %d Location %q (reason %q), want 303 to /rooms/solo",
				p.Status, p.Header.Get("Location"), p.reason())
		}
		if n := g.clicks("solo", l.ID); n != 1 {
			t.Errorf("clicks = %d, want 1", n)
		}
	})
}

// TestLeave: GET /guest/leave only shows the page with the "Leave session"
// button; its POST clears the session cookie, and the room then answers 401
// no-session.
func TestLeave(t *testing.T) {
	g := startGateway(t, config{})
	_, b := g.guestInside("demo", map[string]any{"name": "Leave"}, "Ada", "ada@example.com")
	wantPage(t, "room before leaving", b.get("/rooms/demo"), http.StatusOK, "")
	if p := b.get("/guest/leave"); p.Status != http.StatusOK || p.sessionCookie() != nil || !strings.Contains(p.Body, `data-page="leave"`) {
		t.Errorf("GET /guest/leave: status %d, session Set-Cookie %v, want 200, the leave page and no cookie change", p.Status, p.sessionCookie())
	}
	wantPage(t, "room after GET /guest/leave", b.get("/rooms/demo"), http.StatusOK, "")
	before := g.up.count()

	p := b.leave()
	if p.Status != http.StatusOK || p.reason() != "left" {
		t.Errorf("leave: status %d data-reason %q, want 200 left", p.Status, p.reason())
	}
	c := p.sessionCookie()
	switch {
	case c == nil:
		t.Fatalf("leave sent no Set-Cookie for guestgate: %q", p.Header.Values("Set-Cookie"))
	case c.Value != "" || c.MaxAge >= 0 && (c.Expires.IsZero() || !c.Expires.Before(time.Now())):
		t.Errorf("leave: Set-Cookie %q does not clear the cookie (want an empty value with Max-Age=0 or a past expiry)", c.Raw)
	case c.Path != "/":
		t.Errorf("leave: Set-Cookie %q has path %q, want / (the path it was set with)", c.Raw, c.Path)
	}
	if v := b.sessionValue(); v != "" {
		t.Errorf("the browser still holds the session cookie after leaving")
	}
	wantPage(t, "room after leaving", b.get("/rooms/demo"), http.StatusUnauthorized, "no-session")
	if n := g.up.count(); n != before {
		t.Errorf("the upstream received %d requests after leaving, want none", n-before)
	}
}

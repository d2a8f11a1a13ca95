package integration

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/teststore"
)

// Rate limits: per client IP, Caddy's client IP (so the
// server's trusted_proxies decide whether X-Forwarded-For counts); a tight
// budget for lookups of unknown or malformed link tokens and rejected form
// posts, a generous one for everything else.

// rlClient is an HTTP client whose connections come from the loopback address
// ip (127.0.0.2, ...), so that a test has a client IP of its own: the harness's
// readiness check and API calls come from 127.0.0.1 and spend that address's
// budgets. Redirects are not followed and there is no cookie jar.
func rlClient(t testing.TB, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16, ResponseHeaderTimeout: 20 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// rlGet sends a GET of path on the gateway with client and extra headers.
func rlGet(t testing.TB, g *gateway, client *http.Client, path string, header http.Header) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, g.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return advDo(t, client, req)
}

// rlDiskUsage is the space the files under dir take on disk, in bytes.
func rlDiskUsage(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("measuring %s: %v", dir, err)
	}
	return n
}

// rlRandomToken returns a random link token: a well-formed one (32 base64url
// characters) or a malformed one (another length, or a character outside
// base64url).
func rlRandomToken(t testing.TB, wellFormed bool) string {
	t.Helper()
	b := make([]byte, 48)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	s := base64.RawURLEncoding.EncodeToString(b) // 64 characters
	if wellFormed {
		return s[:32]
	}
	n, _ := rand.Int(rand.Reader, big.NewInt(4))
	switch n.Int64() {
	case 0:
		return s[:31]
	case 1:
		return s[:33]
	case 2:
		return s[:8]
	default:
		bad := "+!~*$,'()"
		i, _ := rand.Int(rand.Reader, big.NewInt(int64(len(bad))))
		return s[:31] + bad[i.Int64():i.Int64()+1]
	}
}

// TestRateLimitLookupFlood: with the default budgets, a flood of 200 random
// link tokens, well-formed and malformed, from one client gets 404 link-invalid
// for the first 30 (the lookups budget) and then 429 rate-limited with
// Retry-After; the answers are uniform (one status and one body length per
// kind), and the flood writes nothing to the store. A link that exists but
// expired or is used up still gets its true page afterwards, and a valid link
// still opens.
func TestRateLimitLookupFlood(t *testing.T) {
	g := newGateway(t)
	// An expired link, made ten days ago straight in the store.
	past := time.Now().Add(-10 * 24 * time.Hour)
	svc, closeStore := g.openStore(func() time.Time { return past })
	one := 1
	expired := teststore.RoomWithLinks(t, svc, "old", guestlink.RoomSpec{Name: "Old room"}, guestlink.LinkSpec{Name: "One day", DurationDays: &one})[0]
	closeStore()
	g.load(config{})

	usedUp := g.openRoomWithLink("demo", map[string]any{"name": "Once", "max_clicks": 1})
	open := g.createLink("demo", map[string]any{"name": "Open"})
	g.browser().mustRedeem(linkPath(t, usedUp), "Ada", "ada@example.com", "demo")

	links := func() string {
		var r1, r2 admin.RoomJSON
		g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/demo", nil, &r1)
		g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/old", nil, &r2)
		out := fmt.Sprintf("%d links:", len(r1.Links)+len(r2.Links))
		for _, l := range append(r1.Links, r2.Links...) {
			out += fmt.Sprintf(" %s=%d", l.ID, l.Clicks)
		}
		return out
	}
	stateBefore := links()
	diskBefore, writesBefore := rlDiskUsage(t, g.storeDir), badgerCount(t, "badger_put_num_user")

	// The flood: one client (127.0.0.1), keep-alive, no cookies.
	client := &http.Client{Transport: g.tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	type answer struct {
		wellFormed bool
		status     int
		reason     string
		length     int
		retry      string
	}
	var answers []answer
	start := time.Now()
	for i := range 200 {
		wf := i%2 == 0
		p := rlGet(t, g, client, "/guest/"+rlRandomToken(t, wf), nil)
		answers = append(answers, answer{wf, p.Status, p.reason(), len(p.Body), p.Header.Get("Retry-After")})
	}
	took := time.Since(start)
	// The budget is 30 a minute with a burst of 30: one more lookup every 2 s.
	refills := int(took / (2 * time.Second))
	t.Logf("200 lookups in %v (budget refills in that time: %d)", took.Round(time.Millisecond), refills)

	lengths := map[string]map[int]int{}
	invalid := 0
	for i, a := range answers {
		kind := "well-formed"
		if !a.wellFormed {
			kind = "malformed"
		}
		switch {
		case i < 30 && (a.status != http.StatusNotFound || a.reason != "link-invalid"):
			t.Errorf("lookup %d (%s): %d %q, want 404 link-invalid within the budget", i+1, kind, a.status, a.reason)
		case i == 30 && refills == 0 && (a.status != http.StatusTooManyRequests || a.reason != "rate-limited"):
			t.Errorf("lookup 31 (%s): %d %q, want 429 rate-limited", kind, a.status, a.reason)
		case a.status == http.StatusTooManyRequests:
			if a.reason != "rate-limited" || a.retry != "2" {
				t.Errorf("lookup %d: 429 with data-reason %q and Retry-After %q, want rate-limited and 2", i+1, a.reason, a.retry)
			}
		case a.status == http.StatusNotFound && a.reason == "link-invalid":
		default:
			t.Errorf("lookup %d (%s): %d %q, want 404 link-invalid or 429 rate-limited", i+1, kind, a.status, a.reason)
		}
		if a.status == http.StatusNotFound {
			invalid++
		}
		key := fmt.Sprint(a.status)
		if lengths[key] == nil {
			lengths[key] = map[int]int{}
		}
		lengths[key][a.length]++
	}
	if invalid > 30+refills {
		t.Errorf("%d lookups got 404, want at most %d (30 and the refills)", invalid, 30+refills)
	}
	for status, ls := range lengths {
		if len(ls) != 1 {
			t.Errorf("answers with status %s differ in length: %v (length: count); want one page for every token", status, ls)
		}
	}
	t.Logf("answers by status and body length: %v", lengths)

	if w := badgerCount(t, "badger_put_num_user") - writesBefore; w != 0 {
		t.Errorf("the flood wrote %d entries to the store, want none", w)
	}
	diskAfter := rlDiskUsage(t, g.storeDir)
	t.Logf("store on disk: %d bytes before the flood, %d after", diskBefore, diskAfter)
	if diskAfter-diskBefore > 64<<10 {
		t.Errorf("the store grew by %d bytes during the flood", diskAfter-diskBefore)
	}
	if after := links(); after != stateBefore {
		t.Errorf("links and clicks changed during the flood: %s, then %s", stateBefore, after)
	}

	// The budget is spent: another unknown token is still refused with 429 ...
	wantPage(t, "one more unknown token", rlGet(t, g, client, "/guest/"+rlRandomToken(t, true), nil), http.StatusTooManyRequests, "rate-limited")
	// ... but links that exist still get their true page, GET and POST ...
	b := g.browser()
	wantPage(t, "expired link after the flood", b.get("/guest/"+expired.Token), http.StatusGone, "link-expired")
	wantPage(t, "used-up link after the flood", b.get(linkPath(t, usedUp)), http.StatusGone, "link-used-up")
	wantPage(t, "POST to the used-up link after the flood", b.post(linkPath(t, usedUp),
		url.Values{"name": {"Bo"}, "email": {"bo@example.com"}}, nil), http.StatusGone, "link-used-up")
	wantPage(t, "POST to the expired link after the flood", b.post("/guest/"+expired.Token,
		url.Values{"name": {"Bo"}, "email": {"bo@example.com"}}, nil), http.StatusGone, "link-expired")
	// ... and a valid link still opens and redeems from the same address (a
	// store write: the control that shows the write count works).
	writesBefore = badgerCount(t, "badger_put_num_user")
	b.mustRedeem(linkPath(t, open), "Cy", "cy@example.com", "demo")
	if badgerCount(t, "badger_put_num_user") == writesBefore {
		t.Errorf("a redemption wrote nothing by Badger's count: the no-write check above proves nothing")
	}
	wantPage(t, "the room after redeeming past the spent lookups budget", b.get("/rooms/demo"), http.StatusOK, "")
	if n := g.up.count(); n != 1 {
		t.Errorf("the upstream got %d requests, want 1 (the room)", n)
	}
}

// TestRateLimitClassroom: 300 guests behind one address (127.0.0.1) redeem one
// valid link within a minute, each with a full GET and POST of the entry form
// and one request of the room, with the default budgets: none gets a 429.
func TestRateLimitClassroom(t *testing.T) {
	g := startGateway(t, config{})
	l := g.openRoomWithLink("class", map[string]any{"name": "Classroom"})
	path := linkPath(t, l)

	const guests, workers = 300, 20
	var (
		mu       sync.Mutex
		problems []string
		next     = make(chan int)
		wg       sync.WaitGroup
	)
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	// fetch is a request that reports problems instead of failing the test from
	// a goroutine.
	fetch := func(b *browser, req *http.Request) (page, bool) {
		resp, err := b.client.Do(req)
		if err != nil {
			report("%s %s: %v", req.Method, req.URL.Path, err)
			return page{}, false
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			report("%s %s: reading: %v", req.Method, req.URL.Path, err)
			return page{}, false
		}
		return page{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}, true
	}
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := range next {
				b := g.browser()
				req, _ := http.NewRequest(http.MethodGet, g.base+path, nil)
				entry, ok := fetch(b, req)
				if !ok {
					continue
				}
				if entry.Status != http.StatusOK || entry.csrf() == "" {
					report("guest %d: entry page %d %q", i, entry.Status, entry.reason())
					continue
				}
				form := url.Values{"name": {fmt.Sprintf("Pupil %d", i)}, "email": {fmt.Sprintf("pupil%d@example.com", i)}, "csrf": {entry.csrf()}}
				req, _ = http.NewRequest(http.MethodPost, g.base+path, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				p, ok := fetch(b, req)
				if !ok {
					continue
				}
				if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/rooms/class" {
					report("guest %d: entry form %d %q", i, p.Status, p.reason())
					continue
				}
				req, _ = http.NewRequest(http.MethodGet, g.base+"/rooms/class", nil)
				if room, ok := fetch(b, req); ok && room.Status != http.StatusOK {
					report("guest %d: room %d %q", i, room.Status, room.reason())
				}
			}
		})
	}
	for i := range guests {
		next <- i
	}
	close(next)
	wg.Wait()
	took := time.Since(start)
	t.Logf("%d guests redeemed from one address in %v", guests, took.Round(time.Millisecond))
	for _, p := range problems {
		t.Error(p)
	}
	if took > time.Minute {
		t.Errorf("the classroom took %v, more than the minute the budget is about", took)
	}
	if n := g.clicks("class", l.ID); n != guests {
		t.Errorf("clicks = %d, want %d", n, guests)
	}
	if n := g.up.count(); n != guests {
		t.Errorf("the upstream got %d room requests, want %d", n, guests)
	}
}

// TestRateLimitCustomBudgets: rate_limit { requests 20 1m; lookups 3 1m }
// refuses the 21st request without a session, and the 4th rejected entry form
// post, with 429 rate-limited and a Retry-After of one event's share of the
// window.
func TestRateLimitCustomBudgets(t *testing.T) {
	g := startGateway(t, config{GatewayExtra: []string{`rate_limit {
	requests 20 1m
	lookups 3 1m
}`}})
	l := g.openRoomWithLink("demo", map[string]any{"name": "Budget"})

	client := rlClient(t, "127.0.0.2")
	for i := 1; i <= 21; i++ {
		p := rlGet(t, g, client, "/rooms/demo", nil)
		switch {
		case i <= 20:
			wantPage(t, fmt.Sprintf("request %d without a session", i), p, http.StatusUnauthorized, "no-session")
		default:
			wantPage(t, "request 21 without a session", p, http.StatusTooManyRequests, "rate-limited")
			if ra := p.Header.Get("Retry-After"); ra != "3" {
				t.Errorf("request 21: Retry-After %q, want 3 (60 s / 20)", ra)
			}
		}
	}
	// The entry page is a request of the same budget: refused too.
	wantPage(t, "the entry page past the requests budget", rlGet(t, g, client, linkPath(t, l), nil), http.StatusTooManyRequests, "rate-limited")

	// Rejected entry form posts spend the lookups budget (another address).
	poster := g.browser()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	poster.client.Transport = tr
	if poster.get(linkPath(t, l)).csrf() == "" {
		t.Fatal("no entry form")
	}
	bad := url.Values{"name": {"Eve"}, "email": {"eve@example.com"}, "csrf": {"wrong"}}
	for i := 1; i <= 4; i++ {
		p := poster.post(linkPath(t, l), bad, nil)
		if i <= 3 {
			if p.Status != http.StatusForbidden || !strings.Contains(p.Body, `id="form-error"`) {
				t.Errorf("rejected post %d: %d %q, want 403 with the form error", i, p.Status, p.reason())
			}
			continue
		}
		wantPage(t, "rejected post 4", p, http.StatusTooManyRequests, "rate-limited")
		if ra := p.Header.Get("Retry-After"); ra != "20" {
			t.Errorf("rejected post 4: Retry-After %q, want 20 (60 s / 3)", ra)
		}
	}
	if n := g.clicks("demo", l.ID); n != 0 {
		t.Errorf("clicks = %d, want 0", n)
	}
	if n := g.up.count(); n != 0 {
		t.Errorf("the upstream got %d requests, want none", n)
	}
}

// TestRateLimitClientIP: the budgets count Caddy's client IP. With the server's
// trusted_proxies covering the peer, X-Forwarded-For names the client, so two
// forwarded addresses have separate budgets; without trusted_proxies,
// X-Forwarded-For is ignored and the peer has one budget whatever it claims.
func TestRateLimitClientIP(t *testing.T) {
	cfg := config{GatewayExtra: []string{`rate_limit {
	requests 5 1m
}`}}
	xff := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	burst := func(g *gateway, client *http.Client, what string, header http.Header, n int) {
		t.Helper()
		for i := 1; i <= n; i++ {
			wantPage(t, fmt.Sprintf("%s, request %d", what, i), rlGet(t, g, client, "/rooms/demo", header), http.StatusUnauthorized, "no-session")
		}
		wantPage(t, fmt.Sprintf("%s, request %d", what, n+1), rlGet(t, g, client, "/rooms/demo", header), http.StatusTooManyRequests, "rate-limited")
	}

	t.Run("trusted proxies", func(t *testing.T) {
		g := newGateway(t)
		cfg := cfg
		cfg.Global = []string{`servers {
	trusted_proxies static 127.0.0.0/8
}`}
		g.load(cfg)
		proxy := rlClient(t, "127.0.0.4")
		burst(g, proxy, "client 203.0.113.1 through the proxy", xff("203.0.113.1"), 5)
		burst(g, proxy, "client 203.0.113.2 through the proxy", xff("203.0.113.2"), 5)
		// The proxy's own requests are a third client.
		burst(g, proxy, "the proxy itself", nil, 5)
		// The leftmost address is the client's when the proxy appends.
		wantPage(t, "client 203.0.113.1 again, via two proxies", rlGet(t, g, proxy, "/rooms/demo",
			xff("203.0.113.1, 10.0.0.1")), http.StatusTooManyRequests, "rate-limited")
	})

	t.Run("no trusted proxies", func(t *testing.T) {
		g := newGateway(t)
		g.load(cfg)
		peer := rlClient(t, "127.0.0.5")
		for i := 1; i <= 5; i++ {
			wantPage(t, fmt.Sprintf("request %d claiming 203.0.113.%d", i, i), rlGet(t, g, peer, "/rooms/demo",
				xff(fmt.Sprintf("203.0.113.%d", i))), http.StatusUnauthorized, "no-session")
		}
		wantPage(t, "request 6 claiming yet another address", rlGet(t, g, peer, "/rooms/demo", xff("198.51.100.77")),
			http.StatusTooManyRequests, "rate-limited")
		wantPage(t, "request 7 without X-Forwarded-For", rlGet(t, g, peer, "/rooms/demo", nil), http.StatusTooManyRequests, "rate-limited")
		// Another peer address is another client.
		wantPage(t, "another peer", rlGet(t, g, rlClient(t, "127.0.0.6"), "/rooms/demo", nil), http.StatusUnauthorized, "no-session")
	})
}

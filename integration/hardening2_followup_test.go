package integration

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Follow-ups of hardening round two, found by trying to get around its fixes
// through a real Caddy: each test here is the regression test of one way
// around.

// TestFileDownloadEndsWithTheSession: a download that a handler without regard
// for its request's context serves behind the gate (file_server sending a
// 64 MiB file to a guest who reads slowly) ends when the guest is removed,
// over HTTP/1.1, HTTP/2 and HTTP/3: after the removal the guest gets at most
// what was already on its way (socket buffers, flow-control windows, a few
// MiB), never the rest of the file; over HTTP/1.1 and HTTP/2 the client also
// sees the body end short of its Content-Length. Before, the cancelled context stopped the reverse
// proxy only, and file_server sent the whole file.
func TestFileDownloadEndsWithTheSession(t *testing.T) {
	const size = 64 << 20
	g := newGateway(t)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "rooms", "demo"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "rooms", "demo", "recording.bin"), bytes.Repeat([]byte("r"), size), 0o644); err != nil {
		t.Fatal(err)
	}
	g.loadEdited(config{HTTPS: true}, func(text string) string {
		proxy := "\treverse_proxy " + g.up.addr() + "\n"
		if !strings.Contains(text, proxy) {
			t.Fatalf("the Caddyfile has no %q:\n%s", proxy, text)
		}
		return strings.Replace(text, proxy, "\troot * "+root+"\n\tfile_server\n", 1)
	})
	l := g.openRoomWithLink("demo", map[string]any{"name": "Recordings"})

	h2, h3 := tlsClients(t, g)
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: g.tr.TLSClientConfig.Clone()}}
	t.Cleanup(h1.CloseIdleConnections)
	for _, tc := range []struct {
		proto  string
		client *http.Client
	}{{"HTTP/1.1", h1}, {"HTTP/2.0", h2}, {"HTTP/3.0", h3}} {
		tok := h3Session(t, g, linkPath(t, l), "Rita "+tc.proto)
		resp := getAs(t, tc.client, g.base+"/rooms/demo/recording.bin", tok)
		if resp.Proto != tc.proto || resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			t.Fatalf("%s: the download answered %s %d", tc.proto, resp.Proto, resp.StatusCode)
		}
		// A slow reader: 1 KiB every 20 ms, before and for a while after the
		// removal; then whatever is left is read at full speed.
		var got int64
		buf := make([]byte, 1<<10)
		readSlowly := func(d time.Duration) {
			for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
				n, err := resp.Body.Read(buf)
				got += int64(n)
				if err != nil {
					return
				}
			}
		}
		readSlowly(500 * time.Millisecond)
		id := claimsOf(t, tok)["sub"].(string)
		g.mustAPI(http.StatusNoContent, http.MethodDelete, "/api/rooms/demo/guests/"+id, nil, nil)
		readSlowly(1500 * time.Millisecond)
		rest, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got += rest
		t.Logf("%s: %d of %d bytes arrived (%v)", tc.proto, got, size, err)
		if got > size/2 {
			t.Errorf("%s: the guest got %d of the file's %d bytes after the removal, want the download cut short", tc.proto, got, size)
		}
	}
}

// TestIPv6ClientsCountByPrefix: an IPv6 client is counted by its /64, which a
// host or a home network holds whole, so that taking a fresh address of it for
// every guess buys no budget: through a trusted proxy, failed API
// authentications from five addresses of one /64 spend its auth_failures
// budget of 5 and the sixth address is 429, and the same for link lookups and
// requests without a session at the gateway; a client in another /64 keeps its
// own budget. Before, each address had a budget of its own.
func TestIPv6ClientsCountByPrefix(t *testing.T) {
	const wrongKey = "integration-test-api-key-WRONG-456789"
	g := newGateway(t)
	g.load(config{
		Global:       []string{"servers {\n\ttrusted_proxies static 127.0.0.0/8\n}"},
		AdminExtra:   []string{"rate_limit {\n\tauth_failures 5 1h\n}"},
		GatewayExtra: []string{"rate_limit {\n\tlookups 5 1h\n\trequests 12 1h\n}"},
	})
	proxy := rlClient(t, "127.0.0.8")
	addr := func(net string, i int) string { return fmt.Sprintf("%s::%x", net, i+1) }
	const guesser, other = "2001:db8:1:2", "2001:db8:1:3"

	for i := range 6 {
		status, header, body := apiFrom(t, g, proxy, addr(guesser, i), wrongKey, http.MethodGet, "/api/me", "")
		if i < 5 {
			wantAPIError(t, fmt.Sprintf("a wrong key from %s", addr(guesser, i)), status, body, http.StatusUnauthorized, "unauthorized", "")
			continue
		}
		wantAPIError(t, fmt.Sprintf("a wrong key from %s, the sixth address of the /64", addr(guesser, i)), status, body, http.StatusTooManyRequests, "rate_limited", "")
		if header.Get("Retry-After") == "" {
			t.Error("a 429 without Retry-After")
		}
	}
	status, _, body := apiFrom(t, g, proxy, addr(other, 0), wrongKey, http.MethodGet, "/api/me", "")
	wantAPIError(t, "a wrong key from another /64", status, body, http.StatusUnauthorized, "unauthorized", "")

	for _, tc := range []struct {
		what, path, net string
		budget, status  int
		reason          string
	}{
		{"a malformed link token (lookups)", "/guest/not-a-link-token", "2001:db8:2:1", 5, http.StatusNotFound, "link-invalid"},
		{"a request without a session (requests)", "/rooms/demo", "2001:db8:2:2", 12, http.StatusUnauthorized, "no-session"},
	} {
		for i := range tc.budget + 1 {
			status, reason := tc.status, tc.reason
			if i == tc.budget {
				status, reason = http.StatusTooManyRequests, "rate-limited"
			}
			p := rlGet(t, g, proxy, tc.path, http.Header{"X-Forwarded-For": {addr(tc.net, 100*i+7)}})
			wantPage(t, fmt.Sprintf("%s from address %d of one /64", tc.what, i+1), p, status, reason)
		}
		p := rlGet(t, g, proxy, tc.path, http.Header{"X-Forwarded-For": {addr(tc.net+"1", 1)}})
		wantPage(t, tc.what+" from another /64", p, tc.status, tc.reason)
	}
}

// TestGatewayCookiesInOtherSpellings: the gateway's cookies reach the upstream
// in none of the spellings its frameworks read as them: percent-encoded names
// (PHP and Rack decode cookie names), a cookie after a comma (Rack and
// Python's http.cookies split the header at commas), and a Cookie field in the
// request's trailer section. Before, all three carried the guest's session
// token to the upstream.
func TestGatewayCookiesInOtherSpellings(t *testing.T) {
	g, su := newStreamGateway(t)
	g.load(config{})
	_, b := g.guestInside("demo", map[string]any{"name": "Cookies"}, "Ada", "ada@example.com")
	tok := b.sessionValue()

	for _, cookie := range []string{
		"guestgate=" + tok + "; guest%67ate=" + tok + "; keep=1",
		"guestgate=" + tok + "; keep=1; x=2, guestgate=" + tok,
		"guestgate=" + tok + "; keep=1; guestgate%2Dcsrf=z; x=3,__Host-guestgate=" + tok,
	} {
		what := "Cookie: " + strings.ReplaceAll(cookie, tok, "<token>")
		p := g.browser().do(func() *http.Request {
			req := b.request(http.MethodPost, "/rooms/demo/c", strings.NewReader("hello"))
			req.Header.Set("Cookie", cookie)
			return req
		}())
		wantPage(t, what, p, http.StatusOK, "")
		if got := su.last(t).Header.Values("Cookie"); len(got) != 1 || got[0] != "keep=1" {
			t.Errorf("%s: the upstream got Cookie %q, want only keep=1", what, strings.ReplaceAll(strings.Join(got, "|"), tok, "<token>"))
		}
	}

	status := rawChunkedPost(t, g.addr(), "/rooms/demo/upload", []string{"Cookie: guestgate=" + tok, "Trailer: Cookie"},
		[]string{"Cookie: guestgate=" + tok, "X-Checksum: abc123"})
	if status != http.StatusOK {
		t.Fatalf("a chunked POST with a Cookie trailer: %d", status)
	}
	r := su.last(t)
	if v, ok := r.Trailer["Cookie"]; ok {
		t.Errorf("the upstream got the trailer Cookie: %q", strings.ReplaceAll(strings.Join(v, "|"), tok, "<token>"))
	}
	if r.Trailer.Get("X-Checksum") != "abc123" || r.Body != "hello" {
		t.Errorf("the upstream got the body %q and the trailers %v, want hello and X-Checksum: abc123", r.Body, r.Trailer)
	}
}

// TestRenewalVariesByCookie: an answer that renews the session cookie varies by
// Cookie. Its Cache-Control is made private, but a handler ordered before the
// gate that sets Cache-Control when the answer is written (here Caddy's
// header directive with ">", a common way to give static files a long public
// lifetime) acts after the gate and makes it public again; with Vary: Cookie
// a shared cache that honours Vary still hands it to the same guest only.
// Before, that answer went out public, with the new session cookie and no
// Vary.
func TestRenewalVariesByCookie(t *testing.T) {
	g, _ := newStreamGateway(t)
	g.loadEdited(config{GatewayExtra: []string{"signing_key " + advSigningKey}}, func(text string) string {
		return strings.Replace(text, "\tguest_gateway {", "\theader /rooms/demo/static/* >Cache-Control \"public, max-age=31536000\"\n\tguest_gateway {", 1)
	})
	_, b := g.guestInside("demo", map[string]any{"name": "Vary"}, "Ada", "ada@example.com")

	for _, tc := range []struct{ path, what string }{
		{"/rooms/demo/cacheable", "the upstream's public answer"},
		{"/rooms/demo/static/cacheable", "an answer a deferred header op makes public"},
	} {
		now := time.Now().Unix()
		near := resign(t, b.sessionValue(), advSigningKey, func(c jwt.MapClaims) {
			c["auth_time"], c["iat"], c["nbf"], c["exp"] = now-540, now-540, now-540, now+60
		})
		req := b.request(http.MethodGet, tc.path, nil)
		req.Header.Set("Cookie", "guestgate="+near)
		resp, err := (&http.Client{Transport: g.tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		renewed := false
		for _, c := range resp.Cookies() {
			renewed = renewed || c.Name == "guestgate" && c.Value != "" && c.Value != near
		}
		if resp.StatusCode != http.StatusOK || !renewed {
			t.Fatalf("%s: %d, renewed %v; want 200 with a new session cookie", tc.what, resp.StatusCode, renewed)
		}
		vary := strings.ToLower(strings.Join(resp.Header.Values("Vary"), ","))
		if !strings.Contains(vary, "cookie") {
			t.Errorf("%s: the renewal's answer has Cache-Control %q and Vary %q; want Vary: Cookie", tc.what, resp.Header.Get("Cache-Control"), vary)
		}
		t.Logf("%s: Cache-Control %q, Vary %q", tc.what, resp.Header.Get("Cache-Control"), vary)
	}
}

// securityLogFilter returns the body of the "Caddy's log" block of SECURITY.md
// (what goes inside the global log option), so that the test runs exactly what
// the document tells operators to write.
func securityLogFilter(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../SECURITY.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)\\*\\*Caddy's log\\.\\*\\*.*?```\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("SECURITY.md has no \"Caddy's log\" item with a code block")
	}
	lines := strings.Split(strings.TrimRight(string(m[1]), "\n "), "\n")
	if len(lines) < 3 || strings.TrimSpace(lines[0]) != "log {" || strings.TrimSpace(lines[len(lines)-1]) != "}" {
		t.Fatalf("SECURITY.md's log block is not one log { ... }:\n%s", m[1])
	}
	var body []string
	for _, l := range lines[1 : len(lines)-1] {
		body = append(body, strings.TrimPrefix(strings.TrimPrefix(l, "  "), "\t"))
	}
	return strings.Join(body, "\n\t")
}

// TestProxyLogFilter: Caddy's reverse_proxy writes the upstream request's
// headers (the guest's name and email, and the X-Guest-Token holding both)
// into its warning "aborting with incomplete response" at the default log
// level whenever a proxied stream ends early, as when a guest closes a page
// with Server-Sent Events or the gateway cuts the stream at a removal. The
// control shows the line is there; with the log block SECURITY.md gives
// operators, no line of the same run holds the name, the email or a JWT.
// Before, SECURITY.md said those headers were logged at debug level only.
func TestProxyLogFilter(t *testing.T) {
	const name, email = "Zelda Logfilter", "zelda.logfilter@example.com"
	jwtShape := regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)
	run := func(filter bool) (leaks []string, aborted int) {
		g, _ := newStreamGateway(t)
		g.loadEdited(config{}, func(text string) string {
			if !filter {
				return text
			}
			if !strings.Contains(text, "\t\tformat json\n") {
				t.Fatalf("no format json in the Caddyfile:\n%s", text)
			}
			return strings.Replace(text, "\t\tformat json\n", "\t\t"+securityLogFilter(t)+"\n", 1)
		})
		l := g.openRoomWithLink("demo", map[string]any{"name": "Logs"})
		client := &http.Client{Transport: &http.Transport{}}
		t.Cleanup(client.CloseIdleConnections)
		b := g.browser()
		b.mustRedeem(linkPath(t, l), name, email, "demo")
		closed := openSSE(t, client, g.base, "/rooms/demo/events", "guestgate", b.sessionValue())
		closed.body.Close()
		cut := openSSE(t, client, g.base, "/rooms/demo/events", "guestgate", b.sessionValue())
		g.mustAPI(http.StatusNoContent, http.MethodDelete, "/api/rooms/demo/guests/"+claimsOf(t, b.sessionValue())["sub"].(string), nil, nil)
		cut.endsWithin(t, "removal", time.Now(), 3*time.Second)
		time.Sleep(200 * time.Millisecond) // the aborted streams are logged
		for line := range strings.SplitSeq(strings.TrimSpace(g.logs()), "\n") {
			if strings.Contains(line, "aborting with incomplete response") {
				aborted++
			}
			for _, s := range []string{email, url.QueryEscape(email), "Zelda%20Logfilter"} {
				if strings.Contains(line, s) {
					leaks = append(leaks, line)
				}
			}
			if jwtShape.MatchString(line) {
				leaks = append(leaks, line)
			}
		}
		return leaks, aborted
	}
	if leaks, _ := run(false); len(leaks) == 0 {
		t.Error("control: without the filter no log line holds the guest's name, email or identity token; is reverse_proxy's warning gone?")
	} else {
		t.Logf("control: %d lines hold them, the first: %.160s", len(leaks), leaks[0])
	}
	leaks, aborted := run(true)
	if aborted == 0 {
		t.Error("with the filter, reverse_proxy logged no \"aborting with incomplete response\": the run proves nothing")
	}
	for _, line := range leaks {
		t.Errorf("with SECURITY.md's log filter, a log line holds the guest's name, email or a JWT: %.300s", line)
	}
}

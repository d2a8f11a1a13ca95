package integration

import (
	"bufio"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/guestlink"
)

// forgedHeaders are identity headers a client makes up, in the spellings a
// backend might read as X-Guest-*.
var forgedHeaders = []struct{ name, value string }{
	{"X-Guest-Name", "Mallory"},
	{"x-guest-id", "g_aaaaaaaaaaaaaaaa"},
	{"X-Guest-Room", "other"},
	{"X-Guest-Link", "l_aaaaaaaaaaaaaaaa"},
	{"X-GUEST-EMAIL", "boss%40example.com"},
	{"X-Guest-Anything", "forged"},
	{"X_Guest_Name", "Mallory"},
	{"X_GUEST_ID", "g_bbbbbbbbbbbbbbbb"},
	{"X-Guest-Role", "moderator"},
	{"x_guest_role", "speaker"},
}

// forgedLines are forgedHeaders as raw header lines, so that the spelling is sent
// exactly (Go's client would canonicalise some of them).
func forgedLines() []string {
	var out []string
	for _, h := range forgedHeaders {
		out = append(out, h.name+": "+h.value)
	}
	return out
}

// identityHeaders returns the upstream headers whose names could be read as
// X-Guest-* ("-", "_" and "." alike, any case).
func identityHeaders(h http.Header) map[string][]string {
	out := map[string][]string{}
	for k, v := range h {
		n := strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(k))
		if strings.HasPrefix(n, "x-guest-") {
			out[k] = v
		}
	}
	return out
}

// verifyIdentityToken checks the X-Guest-Token the upstream got as a backend
// would: with the key from the gateway's JWKS, EdDSA pinned, and the claims
// matching the other identity headers.
func verifyIdentityToken(t testing.TB, b *browser, h http.Header, room, link, name, email string) {
	t.Helper()
	jwks := b.get("/guest/.well-known/jwks.json")
	var set struct {
		Keys []struct{ Kty, Crv, Kid, X string } `json:"keys"`
	}
	if jwks.Status != http.StatusOK || json.Unmarshal([]byte(jwks.Body), &set) != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS: %d %q", jwks.Status, jwks.Body)
	}
	x, err := base64.RawURLEncoding.DecodeString(set.Keys[0].X)
	if err != nil || set.Keys[0].Kty != "OKP" || set.Keys[0].Crv != "Ed25519" {
		t.Fatalf("JWK %+v", set.Keys[0])
	}
	var c struct {
		jwt.RegisteredClaims
		Room   string `json:"room"`
		LinkID string `json:"lid"`
		Name   string `json:"name"`
		Email  string `json:"email"`
		Role   string `json:"role"`
	}
	_, err = jwt.ParseWithClaims(h.Get("X-Guest-Token"), &c, func(*jwt.Token) (any, error) { return ed25519.PublicKey(x), nil },
		jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithAudience("guestgate-upstream"), jwt.WithIssuer("guestgate"), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("X-Guest-Token does not verify with the JWKS: %v", err)
	}
	if c.Subject != h.Get("X-Guest-Id") || c.Room != room || c.LinkID != link || c.Name != name || c.Email != email ||
		c.Role == "" || c.Role != h.Get("X-Guest-Role") {
		t.Errorf("X-Guest-Token claims %+v do not match the guest", c)
	}
}

// TestGuestReachesRoomWithIdentity: the redeemed guest reaches the room; the
// upstream gets exactly the gateway's identity headers (name and email
// percent-encoded UTF-8), other cookies, and neither the gateway's cookies nor
// anything the client forged.
func TestGuestReachesRoomWithIdentity(t *testing.T) {
	g := startGateway(t, config{})
	l := g.openRoomWithLink("demo", map[string]any{"name": "Speakers"})
	b := g.browser()
	redeemed := b.mustRedeem(linkPath(t, l), "Zoë Ada", "zoe@example.com", "demo")
	if c := redeemed.sessionCookie(); !c.HttpOnly || c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge <= 0 {
		t.Errorf("session cookie %q: want HttpOnly, SameSite=Lax, Path=/, a positive Max-Age and no Secure over plain HTTP", c.Raw)
	}

	for _, path := range []string{"/rooms/demo", "/rooms/demo/", "/rooms/demo/chat/history", "/rooms/demo/a%20b"} {
		req := b.request(http.MethodGet, path, nil)
		req.Header.Set("Cookie", "theme=dark; lang=fr")
		before := g.up.count()
		p := b.do(req)
		if p.Status != http.StatusOK || p.Body != "upstream ok" || g.up.count() != before+1 {
			t.Errorf("GET %s: %d %q, want 200 from the upstream", path, p.Status, p.Body)
			continue
		}
		up := g.up.last(t)
		want := map[string]string{
			"X-Guest-Room":  "demo",
			"X-Guest-Link":  l.ID,
			"X-Guest-Name":  "Zo%C3%AB%20Ada",
			"X-Guest-Email": "zoe%40example.com",
			"X-Guest-Role":  "viewer",
		}
		for k, v := range want {
			if got := up.Header.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("GET %s: upstream %s = %q, want [%q]", path, k, got, v)
			}
		}
		if id := up.Header.Values("X-Guest-Id"); len(id) != 1 || !guestlink.ValidID("g", id[0]) {
			t.Errorf("GET %s: upstream X-Guest-Id = %q, want one guest id", path, id)
		}
		if n := len(identityHeaders(up.Header)); n != 7 {
			t.Errorf("GET %s: upstream identity headers %v, want exactly the 7 of the gateway", path, identityHeaders(up.Header))
		}
		verifyIdentityToken(t, b, up.Header, "demo", l.ID, "Zoë Ada", "zoe@example.com")
		cookies := strings.Join(up.Header.Values("Cookie"), "; ")
		if strings.Contains(cookies, "guestgate") {
			t.Errorf("GET %s: the upstream saw the gateway's cookies: %q", path, cookies)
		}
		if !strings.Contains(cookies, "theme=dark") || !strings.Contains(cookies, "lang=fr") {
			t.Errorf("GET %s: the upstream lost the client's other cookies: %q", path, cookies)
		}
	}

	// The same guest id on every request of the session.
	ids := map[string]bool{}
	for _, r := range g.up.requests() {
		ids[r.Header.Get("X-Guest-Id")] = true
	}
	if len(ids) != 1 {
		t.Errorf("X-Guest-Id changed between requests of one session: %v", ids)
	}

	// Forged identity headers, sent raw in every spelling, never reach the upstream.
	cookie := "Cookie: theme=dark; guestgate=" + b.sessionValue()
	before := g.up.count()
	p := rawGet(t, g.addr(), "/rooms/demo", append(forgedLines(), cookie)...)
	if p.Status != http.StatusOK || g.up.count() != before+1 {
		t.Fatalf("guest with forged headers: %d %q, want 200 from the upstream", p.Status, p.Body)
	}
	up := g.up.last(t)
	if got := up.Header.Values("X-Guest-Name"); len(got) != 1 || got[0] != "Zo%C3%AB%20Ada" {
		t.Errorf("guest with a forged X-Guest-Name: upstream X-Guest-Name = %q, want only the real one", got)
	}
	if got := up.Header.Values("X-Guest-Room"); len(got) != 1 || got[0] != "demo" {
		t.Errorf("guest with a forged X-Guest-Room: upstream X-Guest-Room = %q, want only demo", got)
	}
	if got := up.Header.Get("X-Guest-Id"); got == "g_aaaaaaaaaaaaaaaa" {
		t.Errorf("the forged X-Guest-Id reached the upstream")
	}
	if got := up.Header.Values("X-Guest-Role"); len(got) != 1 || got[0] != "viewer" {
		t.Errorf("guest with a forged X-Guest-Role: upstream X-Guest-Role = %q, want only viewer", got)
	}
	if got := identityHeaders(up.Header); len(got) != 7 {
		t.Errorf("guest with forged headers: upstream identity headers %v, want exactly the gateway's 7", got)
	}
	for k, v := range up.Header {
		for _, vv := range v {
			if strings.Contains(vv, "Mallory") || strings.Contains(vv, "forged") || strings.Contains(vv, "boss") {
				t.Errorf("forged value reached the upstream in %s: %q", k, vv)
			}
		}
	}

	// A Connection header naming the identity headers must not make the proxy drop
	// them as hop-by-hop.
	before = g.up.count()
	p = rawGet(t, g.addr(), "/rooms/demo", cookie, "Connection: X-Guest-Id, X-Guest-Name, x_guest_room")
	if p.Status != http.StatusOK || g.up.count() != before+1 {
		t.Fatalf("guest with a Connection header: %d, want 200 from the upstream", p.Status)
	}
	up = g.up.last(t)
	for _, k := range []string{"X-Guest-Id", "X-Guest-Name", "X-Guest-Room", "X-Guest-Link", "X-Guest-Email"} {
		if up.Header.Get(k) == "" {
			t.Errorf("with Connection: X-Guest-*, the upstream lost %s", k)
		}
	}
}

// TestForgedHeadersPassMode: in unauthenticated pass mode, requests without a
// session reach the upstream stripped of every client-sent X-Guest-* header and of
// the gateway's cookies; a guest's request carries only the gateway's identity.
func TestForgedHeadersPassMode(t *testing.T) {
	g := startGateway(t, config{Unauthenticated: "pass"})
	l := g.openRoomWithLink("demo", map[string]any{"name": "Pass"})

	for _, tc := range []struct{ name, cookie string }{
		{"no cookie", "Cookie: theme=dark"},
		{"a bad session cookie", "Cookie: theme=dark; guestgate=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
		{"a bad session and csrf cookie", "Cookie: guestgate=x; guestgate-csrf=y; theme=dark"},
	} {
		before := g.up.count()
		p := rawGet(t, g.addr(), "/anything/public", append(forgedLines(), tc.cookie)...)
		if p.Status != http.StatusOK || g.up.count() != before+1 {
			t.Errorf("unauthenticated with %s: %d, want 200 from the upstream (pass mode)", tc.name, p.Status)
			continue
		}
		up := g.up.last(t)
		if got := identityHeaders(up.Header); len(got) != 0 {
			t.Errorf("unauthenticated with %s: forged identity headers reached the upstream: %v", tc.name, got)
		}
		cookies := strings.Join(up.Header.Values("Cookie"), "; ")
		if strings.Contains(cookies, "guestgate") || !strings.Contains(cookies, "theme=dark") {
			t.Errorf("unauthenticated with %s: upstream Cookie %q, want theme=dark without the gateway's cookies", tc.name, cookies)
		}
	}

	// A guest in pass mode: only the gateway's identity.
	b := g.browser()
	b.mustRedeem(linkPath(t, l), "Zoë Ada", "zoe@example.com", "demo")
	before := g.up.count()
	p := rawGet(t, g.addr(), "/rooms/demo", append(forgedLines(), "Cookie: guestgate="+b.sessionValue())...)
	if p.Status != http.StatusOK || g.up.count() != before+1 {
		t.Fatalf("guest in pass mode: %d, want 200 from the upstream", p.Status)
	}
	up := g.up.last(t)
	if got := identityHeaders(up.Header); len(got) != 7 || up.Header.Get("X-Guest-Name") != "Zo%C3%AB%20Ada" || up.Header.Get("X-Guest-Room") != "demo" {
		t.Errorf("guest in pass mode: upstream identity headers %v, want exactly the gateway's 7", got)
	}
	// A guest outside the allowlist is still refused in pass mode.
	before = g.up.count()
	wantPage(t, "guest in pass mode outside the room", b.get("/rooms/other"), http.StatusForbidden, "not-allowed")
	if g.up.count() != before {
		t.Errorf("a guest's request outside the room reached the upstream in pass mode")
	}
}

// TestGateRefusesOtherPaths: a guest reaches only the allowed paths of their own
// room; every other path, and every path trick, is refused before the upstream.
func TestGateRefusesOtherPaths(t *testing.T) {
	g := startGateway(t, config{Allow: "/rooms/{room} /rooms/{room}/* /static/*"})
	_, b := g.guestInside("demo", map[string]any{"name": "Paths"}, "Ada", "ada@example.com")
	g.putRoom("other", map[string]any{"name": "Other"})
	cookie := "Cookie: guestgate=" + b.sessionValue()

	// Allowed: these reach the upstream (so the refusals below are the gate's).
	for _, path := range []string{"/rooms/demo", "/rooms/demo/x", "/static/app.css"} {
		before := g.up.count()
		p := rawGet(t, g.addr(), path, cookie)
		if p.Status != http.StatusOK || g.up.count() != before+1 {
			t.Errorf("allowed %s: %d, want 200 from the upstream", path, p.Status)
		}
	}

	for _, target := range []string{
		"/",
		"/admin",
		"/rooms",
		"/rooms/",
		"/rooms/other",
		"/rooms/other/x",
		"/rooms/DEMO",
		"/rooms/Demo/x",
		"/rooms/demox",
		"/rooms/demo.",
		"/rooms/demo-other",
		"/static",
		"/rooms/demo/../other",
		"/rooms/demo/../other/",
		"/rooms/demo/./x",
		"/rooms/demo/.",
		"/rooms/demo/..",
		"/rooms/demo/%2e%2e/other",
		"/rooms/demo/%2E%2E/other",
		"/rooms/demo/.%2e/other",
		"/rooms/demo/%2e/x",
		"/rooms/demo%2fx",
		"/rooms/demo%2Fx",
		"/rooms/demo/..%2fother",
		"/rooms/demo/..%2Fother",
		"/rooms/demo/%2e%2e%2fother",
		"/rooms/demo/..%5cother",
		"/rooms/demo/%5c..%5cother",
		"/rooms/demo\\..\\other",
		"/rooms/demo/..\\other",
		"/rooms/demo//x",
		"//rooms/demo",
		"/rooms/demo/%00",
		"/rooms/demo/x%0d%0aX-Guest-Name:%20Mallory",
		"/rooms/demo/%ff",
		"/rooms/demo/%zz",
		"/static/../rooms/other",
		"/static/%2e%2e/rooms/other",
		"/static/..%2frooms/other",
		"/rooms/%64emo/../other",
		"/rooms/demo/%c0%ae%c0%ae/other",
	} {
		wantRefusedPath(t, g, target, cookie)
	}

	// Other methods do not open other paths either.
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		before := g.up.count()
		p := b.do(b.request(m, "/rooms/other", nil))
		wantPage(t, m+" /rooms/other", p, http.StatusForbidden, "not-allowed")
		if g.up.count() != before {
			t.Errorf("%s /rooms/other reached the upstream", m)
		}
	}
}

// TestNoSession: without a guest cookie (unauthenticated deny, the default) every
// gated path answers 401 no-session and nothing reaches the upstream.
func TestNoSession(t *testing.T) {
	g := startGateway(t, config{})
	g.openRoomWithLink("demo", map[string]any{"name": "x"})
	b := g.browser()
	for _, tc := range []struct{ path, cookie string }{
		{"/", ""},
		{"/rooms/demo", ""},
		{"/rooms/demo/x", ""},
		{"/static/app.css", ""},
		{"/rooms/demo", "theme=dark"},
		{"/rooms/demo", "guestgate="},
		{"/rooms/demo", "guestgate=not-a-jwt"},
		{"/rooms/demo", "guestgate=eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJnX2FhYWFhYWFhYWFhYWFhYWEiLCJyb29tIjoiZGVtbyIsInN0IjoiYWRtaXR0ZWQifQ."},
		{"/rooms/demo", "__Host-guestgate=x"},
	} {
		req := b.request(http.MethodGet, tc.path, nil)
		if tc.cookie != "" {
			req.Header.Set("Cookie", tc.cookie)
		}
		req.Header.Set("X-Guest-Id", "g_aaaaaaaaaaaaaaaa")
		wantPage(t, "GET "+tc.path+" with cookie "+tc.cookie, b.do(req), http.StatusUnauthorized, "no-session")
	}
	if n := g.up.count(); n != 0 {
		t.Errorf("the upstream received %d requests, want none", n)
	}
}

// TestLiveStateEndsSessions: a guest inside the room is refused on the next
// request after guest access is turned off (403 guest-access-off), after the room
// becomes unavailable (404 room-unavailable), and after their link is deleted (404
// link-invalid, and the link URL shows link-invalid).
func TestLiveStateEndsSessions(t *testing.T) {
	g := startGateway(t, config{})
	l, b := g.guestInside("demo", map[string]any{"name": "Live"}, "Ada", "ada@example.com")
	path := linkPath(t, l)

	reaches := func(what string) {
		t.Helper()
		if p, ok := b.reaches("/rooms/demo"); !ok {
			t.Fatalf("%s: %d (reason %q), want 200 from the upstream", what, p.Status, p.reason())
		}
	}
	refused := func(what string, status int, reason string) {
		t.Helper()
		before := g.up.count()
		wantPage(t, what, b.get("/rooms/demo"), status, reason)
		if g.up.count() != before {
			t.Errorf("%s: the request reached the upstream", what)
		}
	}
	reaches("before any change")

	g.setAccess("demo", false)
	refused("after guest access off", http.StatusForbidden, "guest-access-off")
	wantPage(t, "link URL while guest access is off", g.browser().get(path), http.StatusForbidden, "guest-access-off")
	g.setAccess("demo", true)
	reaches("after guest access on again")

	g.putRoom("demo", map[string]any{"name": "Room demo", "available": false})
	refused("after the room became unavailable", http.StatusNotFound, "room-unavailable")
	wantPage(t, "link URL while the room is unavailable", g.browser().get(path), http.StatusNotFound, "room-unavailable")
	g.putRoom("demo", map[string]any{"name": "Room demo", "available": true})
	reaches("after the room is available again")

	g.mustAPI(http.StatusNoContent, http.MethodDelete, "/api/rooms/demo/links/"+l.ID, nil, nil)
	refused("after the link was deleted", http.StatusNotFound, "link-invalid")
	wantPage(t, "the deleted link's URL (same browser)", b.get(path), http.StatusNotFound, "link-invalid")
	wantPage(t, "the deleted link's URL (new browser)", g.browser().get(path), http.StatusNotFound, "link-invalid")
	// A new link does not bring the old session back.
	g.createLink("demo", map[string]any{"name": "New"})
	refused("after a new link was made", http.StatusNotFound, "link-invalid")

	// Deleting the room: the session shows room-unavailable.
	l2 := g.createLink("demo", map[string]any{"name": "Again"})
	b2 := g.browser()
	b2.mustRedeem(linkPath(t, l2), "Bo", "bo@example.com", "demo")
	g.mustAPI(http.StatusNoContent, http.MethodDelete, "/api/rooms/demo", nil, nil)
	before := g.up.count()
	wantPage(t, "after the room was deleted", b2.get("/rooms/demo"), http.StatusNotFound, "room-unavailable")
	// The link died with its room: 404, as link-invalid or room-unavailable.
	if p := g.browser().get(linkPath(t, l2)); p.Status != http.StatusNotFound || (p.reason() != "link-invalid" && p.reason() != "room-unavailable") {
		t.Errorf("link URL after the room was deleted: %d data-reason=%q, want 404 link-invalid or room-unavailable", p.Status, p.reason())
	}
	if g.up.count() != before {
		t.Errorf("a request after the room was deleted reached the upstream")
	}
	status, body := g.api(http.MethodGet, "/api/rooms/demo", nil)
	wantAPIError(t, "GET a deleted room", status, body, http.StatusNotFound, "room_not_found", "")
}

// TestStateChangesBetweenOpenAndSubmit: a guest who opened the entry page before
// the moderator changed something is refused on submit with the right page, and
// spends no click.
func TestStateChangesBetweenOpenAndSubmit(t *testing.T) {
	g := startGateway(t, config{})
	for _, tc := range []struct {
		name   string
		change func(room string, l admin.LinkJSON)
		status int
		reason string
	}{
		{"link deleted", func(room string, l admin.LinkJSON) {
			g.mustAPI(http.StatusNoContent, http.MethodDelete, "/api/rooms/"+room+"/links/"+l.ID, nil, nil)
		}, http.StatusNotFound, "link-invalid"},
		{"guest access off", func(room string, _ admin.LinkJSON) { g.setAccess(room, false) }, http.StatusForbidden, "guest-access-off"},
		{"room unavailable", func(room string, _ admin.LinkJSON) {
			g.putRoom(room, map[string]any{"available": false})
		}, http.StatusNotFound, "room-unavailable"},
		{"used up by someone else", func(room string, l admin.LinkJSON) {
			g.browser().mustRedeem(linkPath(t, l), "Bo", "bo@example.com", room)
		}, http.StatusGone, "link-used-up"},
	} {
		room := strings.ReplaceAll(tc.name, " ", "-")
		l := g.openRoomWithLink(room, map[string]any{"name": "x", "max_clicks": 1})
		b := g.browser()
		entry := b.get(linkPath(t, l))
		if entry.csrf() == "" {
			t.Fatalf("%s: no entry form", tc.name)
		}
		tc.change(room, l)
		p := b.post(linkPath(t, l), map[string][]string{"name": {"Ada"}, "email": {"ada@example.com"}, "csrf": {entry.csrf()}}, nil)
		wantPage(t, "submit after "+tc.name, p, tc.status, tc.reason)
		if p.sessionCookie() != nil {
			t.Errorf("submit after %s set the session cookie", tc.name)
		}
	}
	if n := g.up.count(); n != 0 {
		t.Errorf("the upstream received %d requests, want none", n)
	}
}

// wantRefusedPath checks that a guest's raw GET of target never reaches the
// upstream and answers 403 not-allowed (or 400 when Go's server or Caddy refuses
// the request line before the gate runs).
func wantRefusedPath(t *testing.T, g *gateway, target, cookie string) {
	t.Helper()
	before := g.up.count()
	p := rawGet(t, g.addr(), target, cookie)
	if g.up.count() != before {
		t.Errorf("GET %q reached the upstream (as %q), status %d", target, g.up.last(t).RequestURI, p.Status)
		return
	}
	if p.Status == http.StatusBadRequest && p.reason() == "" {
		t.Logf("GET %q: refused by the server before the gate (400)", target)
		return
	}
	wantPage(t, "GET "+target, p, http.StatusForbidden, "not-allowed")
}

// TestGateRefusesDotSegmentsWithPathParameters: servlet containers (Tomcat,
// Jetty, Spring) and some frameworks drop ";parameters" from each path segment, so
// "..;" and ".;" are dot segments to them: /rooms/demo/..;/other is /rooms/other
// upstream. docs/DESIGN.md section 2, gate step 4: "anything with .. ... is refused".
func TestGateRefusesDotSegmentsWithPathParameters(t *testing.T) {
	g := startGateway(t, config{})
	_, b := g.guestInside("demo", map[string]any{"name": "Params"}, "Ada", "ada@example.com")
	cookie := "Cookie: guestgate=" + b.sessionValue()
	for _, target := range []string{
		"/rooms/demo/..;/other",
		"/rooms/demo/..;jsessionid=x/other",
		"/rooms/demo/.;/x",
		"/rooms/demo/x/..;/..;/other",
	} {
		wantRefusedPath(t, g, target, cookie)
	}
}

// upgrade opens a WebSocket upgrade to target through the gateway with cookie,
// and returns the connection and its reader when the answer is 101; otherwise it
// returns the status and the body.
func upgrade(t *testing.T, g *gateway, target, cookie string) (net.Conn, *bufio.Reader, page) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", g.addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Guest-Name: Mallory\r\n%s\r\n",
		target, g.addr(), cookie)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		t.Fatalf("upgrade %s: %v", target, err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		t.Cleanup(func() { conn.Close() })
		return conn, br, page{Status: resp.StatusCode, Header: resp.Header}
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	conn.Close()
	return nil, nil, page{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

// echo writes msg on an upgraded connection and reads it back.
func echo(t *testing.T, what string, conn net.Conn, br *bufio.Reader, msg string) {
	t.Helper()
	if _, err := io.WriteString(conn, msg+"\n"); err != nil {
		t.Fatalf("%s: writing: %v", what, err)
	}
	line, err := br.ReadString('\n')
	if err != nil || line != msg+"\n" {
		t.Fatalf("%s: read %q, %v; want the echo %q", what, line, err, msg)
	}
}

// TestWebSocketKeptWhenAccessTurnedOff: a guest's WebSocket upgrade goes through
// the gate with the guest's identity; turning guest access off does not cut the
// open connection, but the guest's next new request gets guest-access-off.
func TestWebSocketKeptWhenAccessTurnedOff(t *testing.T) {
	g := startGateway(t, config{Allow: "/rooms/{room} /rooms/{room}/* /ws/{room}"})
	_, b := g.guestInside("demo", map[string]any{"name": "Live"}, "Zoë Ada", "zoe@example.com")
	cookie := "Cookie: guestgate=" + b.sessionValue() + "\r\n"

	// Without a session and outside the room, no upgrade reaches the upstream.
	if _, _, p := upgrade(t, g, "/ws/demo", ""); p.Status != http.StatusUnauthorized || p.reason() != "no-session" {
		t.Errorf("upgrade without a session: %d %q, want 401 no-session", p.Status, p.reason())
	}
	if _, _, p := upgrade(t, g, "/ws/other", cookie); p.Status != http.StatusForbidden || p.reason() != "not-allowed" {
		t.Errorf("upgrade to another room: %d %q, want 403 not-allowed", p.Status, p.reason())
	}
	if n := g.up.count(); n != 0 {
		t.Fatalf("refused upgrades reached the upstream (%d)", n)
	}

	conn, br, p := upgrade(t, g, "/ws/demo", cookie)
	if conn == nil {
		t.Fatalf("guest upgrade: %d %q, want 101", p.Status, p.reason())
	}
	up := g.up.last(t)
	if up.Header.Get("X-Guest-Name") != "Zo%C3%AB%20Ada" || up.Header.Get("X-Guest-Room") != "demo" || strings.Contains(up.Header.Get("Cookie"), "guestgate") {
		t.Errorf("upstream upgrade request: X-Guest-Name %q, X-Guest-Room %q, Cookie %q; want the guest's identity and no gateway cookie",
			up.Header.Get("X-Guest-Name"), up.Header.Get("X-Guest-Room"), up.Header.Get("Cookie"))
	}
	echo(t, "open WebSocket", conn, br, "hello")

	g.setAccess("demo", false)
	echo(t, "open WebSocket after guest access was turned off", conn, br, "still here")
	if _, _, p := upgrade(t, g, "/ws/demo", cookie); p.Status != http.StatusForbidden || p.reason() != "guest-access-off" {
		t.Errorf("new upgrade after guest access off: %d %q, want 403 guest-access-off", p.Status, p.reason())
	}
	wantPage(t, "next page after guest access off", b.get("/rooms/demo"), http.StatusForbidden, "guest-access-off")
	echo(t, "open WebSocket after the refused requests", conn, br, "bye")
}

// TestPlaceholders: the guest's identity is in the placeholders of DESIGN
// section 2, step 6, for the handlers after the gate (here reverse_proxy's
// header_up), and only for a guest.
func TestPlaceholders(t *testing.T) {
	g := startGateway(t, config{Unauthenticated: "pass", ProxyExtra: []string{
		"header_up X-Ph-User {http.auth.user.id}",
		"header_up X-Ph-Name {http.guest_gateway.name}",
		"header_up X-Ph-Email {http.guest_gateway.email}",
		"header_up X-Ph-Room {http.guest_gateway.room}",
		"header_up X-Ph-Link {http.guest_gateway.link}",
		"header_up X-Ph-Role {http.guest_gateway.role}",
	}})
	l, b := g.guestInside("demo", map[string]any{"name": "Speakers", "role": "speaker"}, "Ada Lovelace", "ada@example.com")
	if p := b.get("/rooms/demo"); p.Status != http.StatusOK {
		t.Fatalf("room: %d", p.Status)
	}
	up := g.up.last(t)
	want := map[string]string{
		"X-Ph-User": up.Header.Get("X-Guest-Id"), "X-Ph-Name": "Ada Lovelace", "X-Ph-Email": "ada@example.com",
		"X-Ph-Room": "demo", "X-Ph-Link": l.ID, "X-Ph-Role": "speaker",
	}
	for k, v := range want {
		if got := up.Header.Get(k); got != v || v == "" {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// Without a session (pass mode) the placeholders are unknown: Caddy leaves
	// them as written, and no identity comes through.
	anon := g.browser()
	if p := anon.get("/somewhere"); p.Status != http.StatusOK {
		t.Fatalf("anonymous pass: %d", p.Status)
	}
	up = g.up.last(t)
	for k := range want {
		if got := up.Header.Get(k); got != "" && !strings.HasPrefix(got, "{http.") {
			t.Errorf("anonymous request: %s = %q, want no identity", k, got)
		}
	}
}

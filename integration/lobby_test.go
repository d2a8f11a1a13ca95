package integration

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"html"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/teststore"
	"github.com/guestgate/guestgate/token"
)

// The waiting room: rooms with admission moderator, the lobby page,
// lobby/status with its long poll, the moderator's lobby API and guest list,
// through a real Caddy in front of the recording upstream.

// lobbySigningKey is the session signing key of TestLobbySessionRenewal, so that
// the test can make a token near its expiry the way the gateway would.
const lobbySigningKey = "lobby-test-signing-key-0123456789abcdefABCDEF"

// moderatorRoom makes room id with admission moderator, the given display name,
// guest access on and one link.
func (g *gateway) moderatorRoom(id, name string) admin.LinkJSON {
	g.t.Helper()
	r := g.putRoom(id, map[string]any{"name": name, "admission": "moderator"})
	if r.Admission != "moderator" {
		g.t.Fatalf("room %s: admission %q, want moderator", id, r.Admission)
	}
	g.setAccess(id, true)
	return g.createLink(id, map[string]any{"name": "Lobby link"})
}

// join redeems the link at path in a moderator-admission room and fails the test
// unless the answer is a 303 to the lobby with a session whose st is waiting. It
// returns the session's claims.
func (b *browser) join(path, name, email string) jwt.MapClaims {
	b.t.Helper()
	p := b.redeem(path, name, email)
	c := p.sessionCookie()
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/guest/lobby" || c == nil {
		b.t.Fatalf("redeeming %s in a moderator room: %d Location %q session cookie %v (reason %q), want 303 to /guest/lobby with the session cookie",
			path, p.Status, p.Header.Get("Location"), c != nil, p.reason())
	}
	claims := claimsOf(b.t, c.Value)
	if claims["st"] != "waiting" {
		b.t.Fatalf("the session of a guest sent to the lobby has st=%v, want waiting (claims %v)", claims["st"], claims)
	}
	return claims
}

// lobbyState is the JSON of lobby/status.
type lobbyState struct {
	State  string `json:"state"`
	Reason string `json:"reason"`
	Next   string `json:"next"`
}

// decodeState decodes a lobby/status answer; ok is false if it is not JSON.
func decodeState(p page) (lobbyState, bool) {
	var s lobbyState
	if !strings.HasPrefix(p.Header.Get("Content-Type"), "application/json") {
		return s, false
	}
	return s, json.Unmarshal([]byte(p.Body), &s) == nil
}

// status asks lobby/status with the query (like "?wait=2") and fails the test
// unless the answer is JSON.
func (b *browser) status(query string) (page, lobbyState) {
	b.t.Helper()
	p := b.get("/guest/lobby/status" + query)
	s, ok := decodeState(p)
	if !ok {
		b.t.Fatalf("lobby/status%s: %d %q is not JSON", query, p.Status, p.Body)
	}
	return p, s
}

// lobby lists the room's lobby.
func (g *gateway) lobby(room string) []admin.GuestJSON {
	g.t.Helper()
	var out []admin.GuestJSON
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/"+room+"/lobby", nil, &out)
	return out
}

func entryIDs(gs []admin.GuestJSON) []string {
	var out []string
	for _, e := range gs {
		out = append(out, e.ID)
	}
	return out
}

// guestList is the whole guest list of a room (one page of up to 1000).
func (g *gateway) guestList(room string) []admin.GuestJSON {
	g.t.Helper()
	var out admin.GuestPageJSON
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/"+room+"/guests?limit=1000", nil, &out)
	if out.NextCursor != "" {
		g.t.Fatalf("guest list of %s has more than one page", room)
	}
	return out.Guests
}

// guestState is the state the guest list shows for guest id.
func (g *gateway) guestState(room, id string) string {
	g.t.Helper()
	for _, e := range g.guestList(room) {
		if e.ID == id {
			return e.State
		}
	}
	g.t.Fatalf("guest %s is not in the guest list of %s", id, room)
	return ""
}

// admitAll admits everyone waiting and returns the count and ids admitted.
func (g *gateway) admitAll(room string) (int, []string) {
	g.t.Helper()
	var out admin.AdmitAllJSON
	g.mustAPI(http.StatusOK, http.MethodPost, "/api/rooms/"+room+"/lobby/admit-all", nil, &out)
	return out.Count, entryIDs(out.Admitted)
}

// upstreamSees fetches path with the browser and reports whether it reached the
// upstream as the guest id (X-Guest-Id).
func (b *browser) upstreamSees(path, guestID string) (page, bool) {
	b.t.Helper()
	p, ok := b.reaches(path)
	return p, ok && b.g.up.last(b.t).Header.Get("X-Guest-Id") == guestID
}

// withCookie sends GET path with only the session cookie tok (no jar).
func (b *browser) withCookie(path, tok string) page {
	b.t.Helper()
	req := b.request(http.MethodGet, path, nil)
	req.Header.Set("Cookie", "guestgate="+tok)
	resp, err := b.g.tr.RoundTrip(req)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

// polled is the answer of a lobby/status request made in another goroutine.
type polled struct {
	p    page
	err  error
	done time.Time
}

// pollAsync starts GET lobby/status?wait=N with the browser's cookies in a new
// goroutine; the answer arrives on the channel.
func (b *browser) pollAsync(wait int) <-chan polled {
	req := b.request(http.MethodGet, "/guest/lobby/status?wait="+itoa(wait), nil)
	ch := make(chan polled, 1)
	go func() {
		resp, err := b.client.Do(req)
		if err != nil {
			ch <- polled{err: err, done: time.Now()}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		ch <- polled{p: page{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}, err: err, done: time.Now()}
	}()
	return ch
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestLobbyWaitingSession: in a moderator-admission room the POST sends the guest
// to the lobby with a waiting session; that session opens only the lobby page,
// lobby/status and leave; everything else answers a message page and never
// reaches the upstream. The lobby page names the room and the guest (escaped),
// has a <noscript> refresh and loads lobby.js, which is served.
func TestLobbyWaitingSession(t *testing.T) {
	g := startGateway(t, config{Allow: "/rooms/{room} /rooms/{room}/* /static/* /ws/{room}"})
	l := g.moderatorRoom("demo", "Q&A room")
	g.putRoom("other", map[string]any{"name": "Other"})
	b := g.browser()
	const evil = `<img src=x onerror=alert(1)>`
	claims := b.join(linkPath(t, l), evil, "ada@example.com")
	if claims["room"] != "demo" || claims["lid"] != l.ID || claims["name"] != evil {
		t.Errorf("waiting session claims %v, want room demo, lid %s and the guest's name", claims, l.ID)
	}
	if n := g.clicks("demo", l.ID); n != 1 {
		t.Errorf("clicks after the redemption = %d, want 1", n)
	}

	// Nothing but the lobby: the room's own pages send the guest there (303),
	// every other path answers 403 not-allowed, and none reaches the upstream.
	before := g.up.count()
	for _, path := range []string{"/rooms/demo", "/rooms/demo/", "/rooms/demo/chat"} {
		if p := b.get(path); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/guest/lobby" {
			t.Errorf("waiting guest GET %s: %d to %q, want 303 to /guest/lobby", path, p.Status, p.Header.Get("Location"))
		}
	}
	for _, path := range []string{"/ws/demo", "/static/app.css", "/", "/rooms/other", "/anything"} {
		p := b.get(path)
		wantPage(t, "waiting guest GET "+path, p, http.StatusForbidden, "not-allowed")
		if path == "/rooms/other" && !strings.Contains(p.Body, `href="/guest/lobby"`) {
			t.Errorf("the not-allowed page of a waiting guest does not lead back to the lobby: %s", p.Body)
		}
	}
	p := b.post("/rooms/demo", nil, nil)
	wantPage(t, "waiting guest POST /rooms/demo", p, http.StatusForbidden, "not-allowed")
	// The upgrade path of a WebSocket too.
	p = rawGet(t, g.addr(), "/ws/demo", "Cookie: guestgate="+b.sessionValue(), "Connection: Upgrade", "Upgrade: websocket",
		"Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")
	if p.Status != http.StatusForbidden {
		t.Errorf("waiting guest WebSocket upgrade: %d, want 403", p.Status)
	}
	if n := g.up.count() - before; n != 0 {
		t.Errorf("a waiting session reached the upstream %d times", n)
	}
	if st := claimsOf(t, b.sessionValue())["st"]; st != "waiting" {
		t.Errorf("after the refused requests the session says st=%v, want still waiting", st)
	}

	// The lobby page.
	lobby := b.get("/guest/lobby")
	if lobby.Status != http.StatusOK || !strings.HasPrefix(lobby.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("lobby page: %d %q, want 200 HTML", lobby.Status, lobby.Header.Get("Content-Type"))
	}
	if !strings.Contains(lobby.Body, "Q&amp;A room") {
		t.Errorf("the lobby page does not name the room (escaped):\n%s", lobby.Body)
	}
	if !strings.Contains(lobby.Body, html.EscapeString(evil)) {
		t.Errorf("the lobby page does not show the guest's name, escaped:\n%s", lobby.Body)
	}
	if strings.Contains(lobby.Body, "<img") || strings.Contains(lobby.Body, evil) {
		t.Errorf("the guest's name reaches the lobby page as markup:\n%s", lobby.Body)
	}
	if !strings.Contains(strings.ToLower(lobby.Body), "moderator") {
		t.Errorf("the lobby page does not say a moderator will let the guest in:\n%s", lobby.Body)
	}
	if !regexp.MustCompile(`(?s)<noscript>\s*<meta http-equiv="refresh" content="\d+">\s*</noscript>`).MatchString(lobby.Body) {
		t.Errorf("the lobby page has no <noscript> refresh:\n%s", lobby.Body)
	}
	if !strings.Contains(lobby.Body, `<script src="/guest/assets/lobby.js"></script>`) {
		t.Errorf("the lobby page does not load /guest/assets/lobby.js:\n%s", lobby.Body)
	}
	if !strings.Contains(lobby.Body, `data-status-url="/guest/lobby/status"`) {
		t.Errorf("the lobby page does not give the script its status URL")
	}
	if csp := lobby.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("lobby page CSP %q: want script-src 'self'", csp)
	}
	js := b.get("/guest/assets/lobby.js")
	if js.Status != http.StatusOK || !strings.Contains(js.Header.Get("Content-Type"), "javascript") || !strings.Contains(js.Body, "lobby/status") && !strings.Contains(js.Body, "data-status-url") {
		t.Errorf("GET /guest/assets/lobby.js: %d %q (%d bytes), want 200 JavaScript", js.Status, js.Header.Get("Content-Type"), len(js.Body))
	}
	if !strings.Contains(js.Body, "wait=") {
		t.Errorf("lobby.js does not long-poll lobby/status?wait=")
	}

	// lobby/status answers waiting, as JSON, not cached.
	sp, s := b.status("")
	if sp.Status != http.StatusOK || s.State != "waiting" || s.Next != "" {
		t.Errorf("lobby/status of a waiting guest: %d %+v, want 200 waiting", sp.Status, s)
	}
	if cc := sp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("lobby/status Cache-Control %q, want no-store", cc)
	}
	// Without a session, lobby/status and the lobby say so.
	anon := g.browser()
	if p := anon.get("/guest/lobby/status"); p.Status != http.StatusUnauthorized {
		t.Errorf("lobby/status without a session: %d %q, want 401", p.Status, p.Body)
	}
	wantPage(t, "lobby without a session", anon.get("/guest/lobby"), http.StatusUnauthorized, "no-session")
	if n := g.up.count() - before; n != 0 {
		t.Errorf("the lobby requests reached the upstream %d times", n)
	}
	// Still in the moderator's lobby.
	if got := g.lobby("demo"); len(got) != 1 || got[0].ID != claims["sub"] || got[0].Name != evil {
		t.Errorf("lobby list = %+v, want the one guest %v", got, claims["sub"])
	}
}

// TestLobbyAdmitAllTwenty: 20 guests wait (20 browsers); the lobby lists them
// oldest first; admit-all admits the 20; every one then reaches the room as
// themselves, and lobby/status says admitted with next = the room.
func TestLobbyAdmitAllTwenty(t *testing.T) {
	g := startGateway(t, config{})
	l := g.moderatorRoom("demo", "Demo room")
	const n = 20
	var (
		bs  []*browser
		ids []string
	)
	for i := range n {
		b := g.browser()
		c := b.join(linkPath(t, l), "Guest "+itoa(i), "guest"+itoa(i)+"@example.com")
		bs = append(bs, b)
		ids = append(ids, c["sub"].(string))
	}
	lobby := g.lobby("demo")
	if got := entryIDs(lobby); !slices.Equal(got, ids) {
		t.Fatalf("lobby lists %v, want the 20 guests oldest first %v", got, ids)
	}
	for i, e := range lobby {
		if e.Name != "Guest "+itoa(i) || e.Email != "guest"+itoa(i)+"@example.com" || e.LinkID != l.ID || e.LinkName != "Lobby link" || e.WaitingSince == nil {
			t.Errorf("lobby entry %d = %+v", i, e)
		}
		if i > 0 && e.WaitingSince != nil && lobby[i-1].WaitingSince != nil && e.WaitingSince.Before(*lobby[i-1].WaitingSince) {
			t.Errorf("lobby entry %d waits since %v, before entry %d (%v)", i, e.WaitingSince, i-1, lobby[i-1].WaitingSince)
		}
	}
	if g.up.count() != 0 {
		t.Fatalf("the upstream was reached before anyone was admitted")
	}

	count, admitted := g.admitAll("demo")
	if count != n || !slices.Equal(admitted, ids) {
		t.Fatalf("admit-all: count %d, admitted %v; want %d, oldest first %v", count, admitted, n, ids)
	}
	if got := g.lobby("demo"); len(got) != 0 {
		t.Errorf("lobby after admit-all: %v, want empty", entryIDs(got))
	}

	for i, b := range bs {
		// Half of them see the decision through lobby/status (as the page does),
		// the other half go to the room straight away (a stale waiting cookie is
		// upgraded by the gate).
		if i%2 == 0 {
			p, s := b.status("")
			if p.Status != http.StatusOK || s.State != "admitted" || s.Next != "/rooms/demo" {
				t.Errorf("guest %d: lobby/status %d %+v, want admitted with next /rooms/demo", i, p.Status, s)
			}
			if c := p.sessionCookie(); c == nil || claimsOf(t, c.Value)["st"] != "admitted" {
				t.Errorf("guest %d: lobby/status on admitted did not upgrade the session cookie", i)
			}
		}
		if p, ok := b.upstreamSees("/rooms/demo", ids[i]); !ok {
			t.Errorf("guest %d: /rooms/demo answers %d (reason %q), want 200 from the upstream with X-Guest-Id %s", i, p.Status, p.reason(), ids[i])
		}
		if st := claimsOf(t, b.sessionValue())["st"]; st != "admitted" {
			t.Errorf("guest %d: session st=%v after entering the room, want admitted", i, st)
		}
		if i%2 == 1 {
			p, s := b.status("")
			if p.Status != http.StatusOK || s.State != "admitted" || s.Next != "/rooms/demo" {
				t.Errorf("guest %d: lobby/status after entering %d %+v, want admitted with next /rooms/demo", i, p.Status, s)
			}
		}
		// The lobby page of an admitted guest sends them on.
		if p := b.get("/guest/lobby"); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/rooms/demo" {
			t.Errorf("guest %d: lobby page once admitted: %d Location %q, want 303 to /rooms/demo", i, p.Status, p.Header.Get("Location"))
		}
	}
	seen := map[string]bool{}
	for _, r := range g.up.requests() {
		seen[r.Header.Get("X-Guest-Id")] = true
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("the upstream never saw guest %s", id)
		}
	}
	for _, e := range g.guestList("demo") {
		if e.State != "admitted" {
			t.Errorf("guest list after admit-all: %s is %q", e.ID, e.State)
		}
	}
}

// TestLobbyDeclined: a declined guest's lobby/status says declined, and the lobby
// page and the room answer 403 declined, never the upstream.
func TestLobbyDeclined(t *testing.T) {
	g := startGateway(t, config{})
	l := g.moderatorRoom("demo", "Demo room")
	b := g.browser()
	c := b.join(linkPath(t, l), "Dee", "dee@example.com")
	other := g.browser()
	other.join(linkPath(t, l), "Stays", "stays@example.com")
	id := c["sub"].(string)
	g.mustAPI(http.StatusOK, http.MethodPost, "/api/rooms/demo/lobby/"+id+"/deny", nil, nil)

	p, s := b.status("")
	if p.Status != http.StatusOK || s.State != "declined" || s.Next != "" {
		t.Errorf("lobby/status of a declined guest: %d %+v, want state declined", p.Status, s)
	}
	if c := p.sessionCookie(); c != nil && c.MaxAge >= 0 && claimsOf(t, c.Value)["st"] == "admitted" {
		t.Errorf("lobby/status gave a declined guest an admitted session")
	}
	wantPage(t, "lobby page of a declined guest", b.get("/guest/lobby"), http.StatusForbidden, "declined")
	wantPage(t, "room of a declined guest", b.get("/rooms/demo"), http.StatusForbidden, "declined")
	_, sw := b.status("?wait=1")
	if sw.State != "declined" {
		t.Errorf("long poll of a declined guest: %+v, want declined at once", sw)
	}
	if g.up.count() != 0 {
		t.Errorf("a declined guest reached the upstream")
	}
	if st := g.guestState("demo", id); st != "declined" {
		t.Errorf("guest list: the declined guest is %q", st)
	}
	// Admitting after the decline is refused; the other guest is unaffected.
	status, body := g.api(http.MethodPost, "/api/rooms/demo/lobby/"+id+"/admit", nil)
	wantAPIError(t, "admit after deny", status, body, http.StatusConflict, "already_decided", "")
	if got := g.lobby("demo"); len(got) != 1 || got[0].Name != "Stays" {
		t.Errorf("lobby after the decline: %+v, want only the other guest", got)
	}
	if _, s := other.status(""); s.State != "waiting" {
		t.Errorf("the other guest: %+v, want waiting", s)
	}
}

// TestLobbyLongPoll: lobby/status?wait=N holds the request until a moderator
// decides (then answers at once, with the upgraded cookie on admit) or N seconds
// pass (then answers waiting).
func TestLobbyLongPoll(t *testing.T) {
	g := startGateway(t, config{})
	l := g.moderatorRoom("demo", "Demo room")
	b := g.browser()
	c := b.join(linkPath(t, l), "Ada", "ada@example.com")
	id := c["sub"].(string)

	// Nothing happens: the poll is held for the wait, then says waiting.
	start := time.Now()
	p, s := b.status("?wait=2")
	held := time.Since(start)
	t.Logf("a lobby/status?wait=2 long poll with no decision was held %v (the page asks with wait=25, so a waiting guest's page makes about %.1f requests a minute)",
		held.Round(time.Millisecond), 60/(25.0+2.0))
	if p.Status != http.StatusOK || s.State != "waiting" {
		t.Errorf("long poll with no decision: %d %+v, want 200 waiting", p.Status, s)
	}
	if held < 1900*time.Millisecond || held > 10*time.Second {
		t.Errorf("a wait=2 long poll was held %v, want about 2 s", held)
	}

	// An admit from another goroutine ends the poll at once.
	ch := b.pollAsync(20)
	select {
	case r := <-ch:
		t.Fatalf("lobby/status?wait=20 answered before any decision: %v %d %q", r.err, r.p.Status, r.p.Body)
	case <-time.After(500 * time.Millisecond):
	}
	admitted := make(chan time.Time, 1)
	go func() {
		at := time.Now()
		req, _ := http.NewRequest(http.MethodPost, g.base+"/guest-admin/api/rooms/demo/lobby/"+id+"/admit", nil)
		req.Header.Set("Authorization", "Bearer "+apiKey)
		if resp, err := g.admin.Do(req); err == nil {
			resp.Body.Close()
		}
		admitted <- at
	}()
	var r polled
	select {
	case r = <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("lobby/status?wait=20 did not answer within 30 s")
	}
	at := <-admitted
	delay := r.done.Sub(at)
	t.Logf("lobby update delay: the long poll answered %v after the admit request was sent", delay.Round(time.Microsecond))
	if r.err != nil {
		t.Fatalf("long poll: %v", r.err)
	}
	if delay > 10*time.Second {
		t.Errorf("the long poll answered %v after the admit, want promptly (well before its 20 s)", delay)
	}
	s, ok := decodeState(r.p)
	if !ok || r.p.Status != http.StatusOK || s.State != "admitted" || s.Next != "/rooms/demo" {
		t.Errorf("long poll after the admit: %d %q, want admitted with next /rooms/demo", r.p.Status, r.p.Body)
	}
	up := r.p.sessionCookie()
	if up == nil {
		t.Fatalf("the long poll's admitted answer sets no session cookie")
	}
	if uc := claimsOf(t, up.Value); uc["st"] != "admitted" || uc["sub"] != id {
		t.Errorf("upgraded session claims %v, want st admitted for %s", uc, id)
	}
	if p, ok := b.upstreamSees("/rooms/demo", id); !ok {
		t.Errorf("after the long poll: /rooms/demo %d (reason %q), want the upstream", p.Status, p.reason())
	}

	// A decline also ends a long poll at once.
	d := g.browser()
	dc := d.join(linkPath(t, l), "Dee", "dee@example.com")
	ch = d.pollAsync(20)
	time.Sleep(300 * time.Millisecond)
	at = time.Now()
	g.mustAPI(http.StatusOK, http.MethodPost, "/api/rooms/demo/lobby/"+dc["sub"].(string)+"/deny", nil, nil)
	select {
	case r = <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("lobby/status?wait=20 did not answer a decline within 30 s")
	}
	if s, ok := decodeState(r.p); !ok || s.State != "declined" || r.done.Sub(at) > 10*time.Second {
		t.Errorf("long poll after a decline: %q after %v, want declined promptly", r.p.Body, r.done.Sub(at))
	}
	t.Logf("decline reached the long poll in %v", r.done.Sub(at).Round(time.Microsecond))
}

// TestLobbySessionRenewal: a guest who keeps the lobby open longer than the token
// TTL keeps a live waiting session: lobby/status renews a token near its expiry,
// still waiting. token_ttl 1m (the minimum); instead of waiting a minute, the test
// signs, with the configured key, the guest's own token as it would be 50 s after
// it was issued.
func TestLobbySessionRenewal(t *testing.T) {
	g := startGateway(t, config{GatewayExtra: []string{"signing_key " + lobbySigningKey, "token_ttl 1m", "session_max 1h"}})
	l := g.moderatorRoom("demo", "Demo room")
	b := g.browser()
	real := b.join(linkPath(t, l), "Ada", "ada@example.com")
	exp, _ := real.GetExpirationTime()
	iat, _ := real.GetIssuedAt()
	if exp == nil || iat == nil || exp.Sub(iat.Time) != time.Minute {
		t.Fatalf("the waiting session lives %v, want token_ttl 1m (claims %v)", exp.Sub(iat.Time), real)
	}
	key := []byte(lobbySigningKey)
	verify := func(tok string) jwt.MapClaims {
		t.Helper()
		c := jwt.MapClaims{}
		if _, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"})).ParseWithClaims(tok, c, func(*jwt.Token) (any, error) { return key, nil }); err != nil {
			t.Fatalf("a session cookie does not verify with the configured key: %v", err)
		}
		return c
	}
	verify(b.sessionValue())

	now := time.Now()
	aged := func(issuedAgo, expiresIn time.Duration) string {
		t.Helper()
		c := maps.Clone(real)
		c["iat"], c["nbf"] = now.Add(-issuedAgo).Unix(), now.Add(-issuedAgo).Unix()
		c["auth_time"] = now.Add(-issuedAgo).Unix() // the redemption, when the first token was issued
		c["exp"] = now.Add(expiresIn).Unix()
		return signSession(t, jwt.SigningMethodHS256, key, c, nil)
	}

	// The control: the same token after its expiry is refused, so the renewal
	// below is what keeps the guest.
	expired := aged(75*time.Second, -15*time.Second)
	p := b.withCookie("/guest/lobby/status", expired)
	if p.Status != http.StatusUnauthorized {
		t.Errorf("lobby/status with the token 15 s after its expiry: %d %q, want 401", p.Status, p.Body)
	}

	for _, query := range []string{"", "?wait=1"} {
		old := aged(50*time.Second, 10*time.Second)
		p := b.withCookie("/guest/lobby/status"+query, old)
		s, ok := decodeState(p)
		if p.Status != http.StatusOK || !ok || s.State != "waiting" {
			t.Fatalf("lobby/status%s with a token 10 s from expiry: %d %q, want 200 waiting", query, p.Status, p.Body)
		}
		c := p.sessionCookie()
		if c == nil || c.Value == old {
			t.Fatalf("lobby/status%s with a token 10 s from expiry set no renewed session cookie", query)
		}
		renewed := verify(c.Value)
		rexp, _ := renewed.GetExpirationTime()
		t.Logf("lobby/status%s renewed a waiting token expiring in 10 s: the new one expires in %v", query, time.Until(rexp.Time).Round(time.Second))
		if renewed["st"] != "waiting" || renewed["sub"] != real["sub"] || renewed["lid"] != real["lid"] || renewed["room"] != "demo" {
			t.Errorf("renewed claims %v: want the same waiting guest", renewed)
		}
		if d := time.Until(rexp.Time); d < 50*time.Second || d > 61*time.Second {
			t.Errorf("renewed token expires in %v, want about 1m", d)
		}
		if rexp.Time.Sub(now.Add(10*time.Second)) < 40*time.Second {
			t.Errorf("renewed token expires at %v, not well after the old one (%v)", rexp.Time, now.Add(10*time.Second))
		}
		if c.MaxAge < 50 || c.MaxAge > 61 {
			t.Errorf("renewed cookie Max-Age %d, want about 60", c.MaxAge)
		}
		// The renewed token works: the lobby page and status accept it.
		if p := b.withCookie("/guest/lobby", c.Value); p.Status != http.StatusOK {
			t.Errorf("lobby page with the renewed token: %d (reason %q)", p.Status, p.reason())
		}
		if p := b.withCookie("/guest/lobby/status", c.Value); p.Status != http.StatusOK || !strings.Contains(p.Body, `"waiting"`) {
			t.Errorf("lobby/status with the renewed token: %d %q", p.Status, p.Body)
		}
	}

	// A token with more than half its life left is not renewed on every poll.
	fresh := aged(10*time.Second, 50*time.Second)
	if p := b.withCookie("/guest/lobby/status", fresh); p.Status != http.StatusOK || p.sessionCookie() != nil {
		t.Errorf("lobby/status with a fresh token: %d, cookie set %v; want 200 and no new cookie", p.Status, p.sessionCookie() != nil)
	}
	// Still in the moderator's list, and still waiting.
	if got := g.lobby("demo"); len(got) != 1 || got[0].ID != real["sub"] {
		t.Errorf("lobby after the renewals: %+v", got)
	}
	if g.up.count() != 0 {
		t.Errorf("a waiting guest reached the upstream")
	}
}

// TestLobbyReloadRestart: waiting guests and decisions survive a config reload
// and a full stop and start: the lobby still lists them, their lobby pages work
// with the same cookies, a long poll in flight across the reload is answered by
// an admit made through the new config, and an admit after the restart moves
// them in.
func TestLobbyReloadRestart(t *testing.T) {
	g := newGateway(t)
	cfg1 := config{}
	cfg2 := config{Allow: "/rooms/{room} /rooms/{room}/* /static/*"}
	g.load(cfg1)
	l := g.moderatorRoom("demo", "Demo room")
	var (
		bs  []*browser
		ids []string
	)
	for _, n := range []string{"Ada", "Bo", "Cy", "Dee"} {
		b := g.browser()
		c := b.join(linkPath(t, l), n, strings.ToLower(n)+"@example.com")
		bs = append(bs, b)
		ids = append(ids, c["sub"].(string))
	}
	g.mustAPI(http.StatusOK, http.MethodPost, "/api/rooms/demo/lobby/"+ids[3]+"/deny", nil, nil)
	waiting := ids[:3]
	if got := entryIDs(g.lobby("demo")); !slices.Equal(got, waiting) {
		t.Fatalf("lobby before the reload = %v, want %v", got, waiting)
	}

	// Ada's page is long-polling while the operator reloads.
	ch := bs[0].pollAsync(20)
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	g.load(cfg2)
	t.Logf("the reload with a long poll in flight took %v", time.Since(start).Round(time.Millisecond))
	if p := bs[1].get("/static/x"); p.reason() != "not-allowed" {
		t.Errorf("after the reload a waiting guest gets %d %q on /static/x, want not-allowed", p.Status, p.reason())
	}

	check := func(when string, want []string) {
		t.Helper()
		if got := entryIDs(g.lobby("demo")); !slices.Equal(got, want) {
			t.Errorf("%s: lobby = %v, want %v", when, got, want)
		}
		for i, b := range bs[:3] {
			if !slices.Contains(want, ids[i]) {
				continue
			}
			if p := b.get("/guest/lobby"); p.Status != http.StatusOK || !strings.Contains(p.Body, "Demo room") {
				t.Errorf("%s: guest %d's lobby page: %d (reason %q), want 200", when, i, p.Status, p.reason())
			}
			if _, s := b.status(""); s.State != "waiting" {
				t.Errorf("%s: guest %d's lobby/status: %+v, want waiting", when, i, s)
			}
		}
		wantPage(t, when+": the declined guest's lobby", bs[3].get("/guest/lobby"), http.StatusForbidden, "declined")
	}
	check("after the reload", waiting)

	// Admit Ada through the new config: her poll, held by the old one, answers.
	at := time.Now()
	g.mustAPI(http.StatusOK, http.MethodPost, "/api/rooms/demo/lobby/"+ids[0]+"/admit", nil, nil)
	select {
	case r := <-ch:
		s, _ := decodeState(r.p)
		t.Logf("a long poll held across the reload answered %v after the admit", r.done.Sub(at).Round(time.Millisecond))
		if r.err != nil || s.State != "admitted" || r.done.Sub(at) > 10*time.Second {
			t.Errorf("long poll across the reload: %v %d %q after %v, want admitted promptly", r.err, r.p.Status, r.p.Body, r.done.Sub(at))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the long poll across the reload never answered")
	}
	if p, ok := bs[0].upstreamSees("/rooms/demo", ids[0]); !ok {
		t.Errorf("Ada after the admit: %d (reason %q), want the upstream", p.Status, p.reason())
	}
	waiting = ids[1:3]
	check("after the admit", waiting)

	// A full stop and start on the same store.
	g.stop()
	g.load(cfg2)
	check("after stop and start", waiting)
	if p, ok := bs[0].upstreamSees("/rooms/demo", ids[0]); !ok {
		t.Errorf("the admitted guest after the restart: %d (reason %q), want the upstream", p.Status, p.reason())
	}
	count, admitted := g.admitAll("demo")
	if count != 2 || !slices.Equal(admitted, waiting) {
		t.Errorf("admit-all after the restart: %d %v, want %v", count, admitted, waiting)
	}
	for i, b := range bs[1:3] {
		if p, ok := b.upstreamSees("/rooms/demo", ids[i+1]); !ok {
			t.Errorf("guest %d after admit-all following the restart: %d (reason %q), want the upstream", i+1, p.Status, p.reason())
		}
	}
	wantPage(t, "the declined guest after the restart", bs[3].get("/rooms/demo"), http.StatusForbidden, "declined")
	if lines := lockLines(g.logs()); len(lines) > 0 {
		t.Errorf("Caddy logged lock errors:\n%s", strings.Join(lines, "\n"))
	}
}

// waitingAndAdmitted makes room demo (admission moderator) with a link, and two
// guests through it: w waiting in the lobby, a admitted and seen by the
// upstream. It returns the link, the guests and their ids.
func waitingAndAdmitted(g *gateway) (l admin.LinkJSON, w *browser, wid string, a *browser, aid string) {
	g.t.Helper()
	l = g.moderatorRoom("demo", "Demo room")
	w, a = g.browser(), g.browser()
	wid = w.join(linkPath(g.t, l), "Waiting", "w@example.com")["sub"].(string)
	aid = a.join(linkPath(g.t, l), "Admitted", "a@example.com")["sub"].(string)
	g.mustAPI(http.StatusOK, http.MethodPost, "/api/rooms/demo/lobby/"+aid+"/admit", nil, nil)
	if p, ok := a.upstreamSees("/rooms/demo", aid); !ok {
		g.t.Fatalf("the admitted guest: %d (reason %q), want the upstream", p.Status, p.reason())
	}
	return l, w, wid, a, aid
}

// TestLobbyRemovedGuest: a removed guest is refused at the next request with 403
// removed, whether waiting in the lobby or admitted and inside the room.
func TestLobbyRemovedGuest(t *testing.T) {
	g := startGateway(t, config{})
	l, w, wid, a, aid := waitingAndAdmitted(g)
	admittedCookie := a.sessionValue()

	for _, id := range []string{wid, aid} {
		status, body := g.api(http.MethodDelete, "/api/rooms/demo/guests/"+id, nil)
		if status != http.StatusNoContent {
			t.Fatalf("DELETE guest %s: %d %s, want 204", id, status, body)
		}
	}
	before := g.up.count()
	wantPage(t, "the removed admitted guest in the room", a.get("/rooms/demo"), http.StatusForbidden, "removed")
	wantPage(t, "the removed admitted guest, another room path", a.get("/rooms/demo/chat"), http.StatusForbidden, "removed")
	wantPage(t, "the removed admitted guest's old cookie", a.withCookie("/rooms/demo", admittedCookie), http.StatusForbidden, "removed")
	wantPage(t, "the removed waiting guest's lobby", w.get("/guest/lobby"), http.StatusForbidden, "removed")
	wantPage(t, "the removed waiting guest in the room", w.get("/rooms/demo"), http.StatusForbidden, "removed")
	if _, s := w.status(""); s.State != "removed" {
		t.Errorf("lobby/status of the removed waiting guest: %+v, want removed", s)
	}
	if g.up.count() != before {
		t.Errorf("a removed guest reached the upstream")
	}
	for _, id := range []string{wid, aid} {
		if st := g.guestState("demo", id); st != "removed" {
			t.Errorf("guest list: %s is %q, want removed", id, st)
		}
	}
	if got := g.lobby("demo"); len(got) != 0 {
		t.Errorf("a removed guest is still in the lobby: %+v", got)
	}
	// Reopening the link does not bring a removed guest back without a new click.
	if p := w.get(linkPath(t, l)); p.Status == http.StatusSeeOther {
		t.Errorf("a removed guest reopening the link is sent on to %q", p.Header.Get("Location"))
	}
	status, body := g.api(http.MethodDelete, "/api/rooms/demo/guests/g_aaaaaaaaaaaaaaaa", nil)
	wantAPIError(t, "DELETE an unknown guest", status, body, http.StatusNotFound, "guest_not_found", "")
}

// TestLobbyLeave: a guest who leaves (GET /guest/leave) has the cookie cleared and
// shows "left" in the guest list; the old cookie value, sent by hand, no longer
// opens the room or the lobby (401 no-session).
func TestLobbyLeave(t *testing.T) {
	g := startGateway(t, config{})
	_, w, wid, a, aid := waitingAndAdmitted(g)

	for _, tc := range []struct {
		who string
		b   *browser
		id  string
	}{{"waiting", w, wid}, {"admitted", a, aid}} {
		old := tc.b.sessionValue()
		p := tc.b.leave()
		if p.Status != http.StatusOK || p.reason() != "left" {
			t.Errorf("%s guest leaves: %d data-reason %q, want 200 left", tc.who, p.Status, p.reason())
		}
		if c := p.sessionCookie(); c == nil || c.MaxAge >= 0 {
			t.Errorf("%s guest leaves: the session cookie is not cleared (%v)", tc.who, c)
		}
		if v := tc.b.sessionValue(); v != "" {
			t.Errorf("%s guest leaves: the browser still holds a session", tc.who)
		}
		if st := g.guestState("demo", tc.id); st != "left" {
			t.Errorf("guest list: the %s guest who left is %q, want left", tc.who, st)
		}
		before := g.up.count()
		wantPage(t, tc.who+" guest's old cookie, room", tc.b.withCookie("/rooms/demo", old), http.StatusUnauthorized, "no-session")
		wantPage(t, tc.who+" guest's old cookie, lobby", tc.b.withCookie("/guest/lobby", old), http.StatusUnauthorized, "no-session")
		if p := tc.b.withCookie("/guest/lobby/status", old); p.Status != http.StatusUnauthorized {
			t.Errorf("%s guest's old cookie, lobby/status: %d %q, want 401", tc.who, p.Status, p.Body)
		}
		if g.up.count() != before {
			t.Errorf("the old cookie of a %s guest who left reached the upstream", tc.who)
		}
	}
	if got := g.lobby("demo"); len(got) != 0 {
		t.Errorf("a guest who left is still in the lobby: %+v", got)
	}
	status, body := g.api(http.MethodPost, "/api/rooms/demo/lobby/"+wid+"/admit", nil)
	wantAPIError(t, "admit a guest who left", status, body, http.StatusConflict, "already_decided", "")
}

// TestLobbyTimeoutRequeue: a guest whose lobby page was closed (no status
// request) for longer than lobby_timeout drops out of the moderator's list; when
// the same browser opens the link again while its session lives, it is sent to
// the lobby without spending a click and, once the lobby page loads, is listed
// again. lobby_timeout 2s keeps the test short. A product may instead refuse so
// short a lobby_timeout when the config loads (an open page asks only every
// 25 s); what it must not do is accept it and then not honour it.
func TestLobbyTimeoutRequeue(t *testing.T) {
	g := newGateway(t)
	if err := g.tryLoad(config{AdminExtra: []string{"lobby_timeout 2s"}}); err != nil {
		if !strings.Contains(err.Error(), "lobby_timeout") {
			t.Fatalf("loading a config with lobby_timeout 2s: %v", err)
		}
		t.Logf("lobby_timeout 2s is refused when the config loads, which is a valid answer: %v", err)
		return
	}
	l := g.moderatorRoom("demo", "Demo room")
	b := g.browser()
	id := b.join(linkPath(t, l), "Ada", "ada@example.com")["sub"].(string)
	if got := entryIDs(g.lobby("demo")); !slices.Equal(got, []string{id}) {
		t.Fatalf("lobby right after the redemption = %v, want [%s]", got, id)
	}
	// The page is closed: no status request.
	time.Sleep(2500 * time.Millisecond)
	if got := g.lobby("demo"); len(got) != 0 {
		t.Errorf("lobby 2.5 s after the page was closed (lobby_timeout 2s) = %v, want empty", entryIDs(got))
	}
	if count, _ := g.admitAll("demo"); count != 0 {
		t.Errorf("admit-all admitted %d guests whose page was closed, want 0", count)
	}
	if st := g.guestState("demo", id); st != "waiting" {
		t.Fatalf("the guest who dropped out is %q, want still waiting", st)
	}

	// The same browser comes back through the link.
	p := b.get(linkPath(t, l))
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/guest/lobby" {
		t.Fatalf("reopening the link: %d Location %q (reason %q), want 303 to /guest/lobby", p.Status, p.Header.Get("Location"), p.reason())
	}
	if n := g.clicks("demo", l.ID); n != 1 {
		t.Errorf("clicks after coming back = %d, want still 1", n)
	}
	if lp := b.get("/guest/lobby"); lp.Status != http.StatusOK {
		t.Fatalf("the lobby page on coming back: %d (reason %q)", lp.Status, lp.reason())
	}
	if got := entryIDs(g.lobby("demo")); !slices.Equal(got, []string{id}) {
		t.Errorf("lobby after the guest came back and loaded the lobby page = %v, want [%s] (queued again)", got, id)
	}
	if _, s := b.status(""); s.State != "waiting" {
		t.Errorf("lobby/status on coming back: %+v, want waiting", s)
	}
	if got := entryIDs(g.lobby("demo")); !slices.Equal(got, []string{id}) {
		t.Errorf("lobby after the guest's page also asked lobby/status = %v, want [%s]", got, id)
	}
	if n := g.clicks("demo", l.ID); n != 1 {
		t.Errorf("clicks at the end = %d, want 1", n)
	}
}

// TestLobbyTimeoutRequeueInStore: the same without waiting, with the default
// lobby_timeout (2m) and with lobby_timeout 1m (the configured value must take
// effect: a guest gone for 90 s is listed under the default, not under 1m). The
// store is prepared before Caddy starts with guests who redeemed in the past (an
// injected clock), and the browser holds the session cookie the gateway issued
// then (signed with the configured key, token_ttl 10m).
func TestLobbyTimeoutRequeueInStore(t *testing.T) {
	for _, tc := range []struct {
		name    string
		extra   []string
		goneAgo time.Duration
		seenAgo time.Duration // the guest still listed
	}{
		{"default", nil, 3 * time.Minute, 30 * time.Second},
		{"lobby_timeout 1m", []string{"lobby_timeout 1m"}, 90 * time.Second, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testRequeueInStore(t, tc.extra, tc.goneAgo, tc.seenAgo)
		})
	}
}

func testRequeueInStore(t *testing.T, adminExtra []string, goneAgo, seenAgo time.Duration) {
	g := newGateway(t)
	past := time.Now().Add(-goneAgo).UTC().Truncate(time.Second)
	clock := past
	svc, closeStore := g.openStore(func() time.Time { return clock })
	ctx := context.Background()
	l := teststore.RoomWithLinks(t, svc, "demo", guestlink.RoomSpec{Name: "Demo room", Admission: guestlink.AdmissionModerator},
		guestlink.LinkSpec{Name: "Lobby link"})[0]
	_, _, gone, err := svc.Redeem(ctx, l.Token, guestlink.GuestInput{Name: "Gone", Email: "gone@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	clock = time.Now().Add(-seenAgo).UTC()
	_, _, recent, err := svc.Redeem(ctx, l.Token, guestlink.GuestInput{Name: "Recent", Email: "recent@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	closeStore()
	g.load(config{GatewayExtra: []string{"signing_key " + lobbySigningKey}, AdminExtra: adminExtra})

	// The cookie the gateway set at the redemption (token_ttl 10m).
	tok := signSession(t, jwt.SigningMethodHS256, []byte(lobbySigningKey), jwt.MapClaims{
		"iss": "guestgate", "aud": []string{token.SessionAudience}, "sub": gone.ID, "room": "demo", "lid": l.ID,
		"name": gone.Name, "email": gone.Email, "st": "waiting", "auth_time": past.Unix(),
		"iat": past.Unix(), "nbf": past.Unix(), "exp": past.Add(10 * time.Minute).Unix(), "jti": "requeue-test-jti-0001",
	}, nil)
	b := g.browser()
	u, _ := url.Parse(g.base + "/")
	b.jar.SetCookies(u, []*http.Cookie{{Name: "guestgate", Value: tok, Path: "/"}})

	// Only the guest seen a minute ago is listed; admit-all leaves the other.
	if got := entryIDs(g.lobby("demo")); !slices.Equal(got, []string{recent.ID}) {
		t.Fatalf("lobby = %v, want only the guest seen %v ago [%s] (the other was seen %v ago)", got, seenAgo, recent.ID, goneAgo)
	}
	g.mustAPI(http.StatusOK, http.MethodPost, "/api/rooms/demo/lobby/"+recent.ID+"/deny", nil, nil)
	if count, _ := g.admitAll("demo"); count != 0 {
		t.Errorf("admit-all admitted %d guests whose page was closed %v ago, want 0", count, goneAgo)
	}
	if st := g.guestState("demo", gone.ID); st != "waiting" {
		t.Fatalf("the guest who dropped out is %q, want still waiting", st)
	}

	// The same browser comes back through the link: sent to the lobby, no click.
	p := b.get("/guest/" + l.Token)
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/guest/lobby" {
		t.Fatalf("reopening the link: %d Location %q (reason %q), want 303 to /guest/lobby", p.Status, p.Header.Get("Location"), p.reason())
	}
	if n := g.clicks("demo", l.ID); n != 2 {
		t.Errorf("clicks after coming back = %d, want still 2", n)
	}
	if lp := b.get("/guest/lobby"); lp.Status != http.StatusOK || !strings.Contains(lp.Body, "Gone") {
		t.Fatalf("the lobby page on coming back: %d (reason %q)", lp.Status, lp.reason())
	}
	if got := entryIDs(g.lobby("demo")); !slices.Equal(got, []string{gone.ID}) {
		t.Errorf("lobby after the guest came back = %v, want [%s] (queued again)", got, gone.ID)
	}
	if count, ids := g.admitAll("demo"); count != 1 || !slices.Equal(ids, []string{gone.ID}) {
		t.Errorf("admit-all after the guest came back: %d %v, want the guest", count, ids)
	}
	if p, ok := b.upstreamSees("/rooms/demo", gone.ID); !ok {
		t.Errorf("the requeued guest after admit-all: %d (reason %q), want the upstream", p.Status, p.reason())
	}
}

// TestLobbyGuestList: the guest list, in JSON and CSV through Caddy, shows every
// redemption newest first with its state; the CSV defuses formulas.
func TestLobbyGuestList(t *testing.T) {
	g := startGateway(t, config{})
	l := g.moderatorRoom("demo", "Demo room")
	names := []string{"Waits", "=1+2", "@Declined", "-Removed", "+Left"}
	var (
		bs  []*browser
		ids []string
	)
	for i, n := range names {
		b := g.browser()
		bs = append(bs, b)
		ids = append(ids, b.join(linkPath(t, l), n, "g"+itoa(i)+"@example.com")["sub"].(string))
	}
	g.mustAPI(http.StatusOK, http.MethodPost, "/api/rooms/demo/lobby/"+ids[1]+"/admit", nil, nil)
	g.mustAPI(http.StatusOK, http.MethodPost, "/api/rooms/demo/lobby/"+ids[2]+"/deny", nil, nil)
	if status, body := g.api(http.MethodDelete, "/api/rooms/demo/guests/"+ids[3], nil); status != http.StatusNoContent {
		t.Fatalf("DELETE guest: %d %s", status, body)
	}
	bs[4].leave()
	states := []string{"waiting", "admitted", "declined", "removed", "left"}

	list := g.guestList("demo")
	if len(list) != len(names) {
		t.Fatalf("guest list has %d guests, want %d", len(list), len(names))
	}
	for i, e := range list {
		j := len(names) - 1 - i // newest first
		if e.ID != ids[j] || e.Name != names[j] || e.State != states[j] || e.LinkID != l.ID || e.LinkName != "Lobby link" || e.RedeemedAt.IsZero() {
			t.Errorf("guest list %d = %+v, want %s %q %s", i, e, ids[j], names[j], states[j])
		}
	}
	// Pages through Caddy.
	var page1 admin.GuestPageJSON
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/demo/guests?limit=3", nil, &page1)
	if len(page1.Guests) != 3 || page1.NextCursor == "" {
		t.Fatalf("first page of 3: %+v", page1)
	}
	var page2 admin.GuestPageJSON
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/demo/guests?limit=3&cursor="+page1.NextCursor, nil, &page2)
	if got := append(entryIDs(page1.Guests), entryIDs(page2.Guests)...); page2.NextCursor != "" || !slices.Equal(got, entryIDs(list)) {
		t.Errorf("two pages of 3 = %v (next %q), want %v", got, page2.NextCursor, entryIDs(list))
	}
	status, body := g.api(http.MethodGet, "/api/rooms/demo/guests?limit=0", nil)
	wantAPIError(t, "guests?limit=0", status, body, http.StatusUnprocessableEntity, "invalid", "limit")
	status, body = g.api(http.MethodGet, "/api/rooms/demo/guests?cursor=nope", nil)
	wantAPIError(t, "guests?cursor=nope", status, body, http.StatusUnprocessableEntity, "invalid", "cursor")

	// CSV.
	req, _ := http.NewRequest(http.MethodGet, g.base+"/guest-admin/api/rooms/demo/guests?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := g.admin.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
	recs, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil || len(recs) != 1+len(names) {
		t.Fatalf("CSV: %v, %d records:\n%s", err, len(recs), raw)
	}
	if !slices.Equal(recs[0], []string{"guest_id", "name", "email", "link_id", "link_name", "redeemed_at", "state", "role"}) {
		t.Errorf("CSV header %q", recs[0])
	}
	for i, rec := range recs[1:] {
		j := len(names) - 1 - i
		want := names[j]
		if strings.ContainsAny(want[:1], "=+-@") {
			want = "'" + want
		}
		if rec[0] != ids[j] || rec[1] != want || rec[6] != states[j] {
			t.Errorf("CSV row %d = %q, want id %s name %q state %s", i+1, rec, ids[j], want, states[j])
		}
	}
	for i, line := range strings.Split(strings.TrimRight(string(raw), "\r\n"), "\r\n") {
		if !strings.HasPrefix(line, `"`) || strings.Contains(line, `,=`) || strings.Contains(line, `"=`) || strings.Contains(line, `"+`) || strings.Contains(line, `"-`) || strings.Contains(line, `"@`) {
			t.Errorf("CSV line %d is not quoted and defused: %s", i, line)
		}
	}
}

package integration

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/internal/atonce"
	"github.com/guestgate/guestgate/internal/testcaddy"
	"github.com/guestgate/guestgate/internal/testpg"
)

// Several gateways on one PostgreSQL database (docs/DESIGN.md section 6):
// three caddy processes of the built binary, each with its own port and its
// own Caddy data, share one database, one upstream and one webhook receiver,
// as instances behind a load balancer do. A test sends each browser to one
// instance or another, as a load balancer would; the cookie jar, which
// ignores ports, carries a session from one instance to the next as one host
// name in front of them would. TestCluster starts them once and runs its
// subtests on them in order, each in rooms of its own; the last ones stop the
// database and kill an instance. Without PostgreSQL the test skips, unless CI
// is set (internal/testpg).

// dsnVar is the environment variable of the processes that holds the DSN,
// with its password: the Caddyfiles name it ({env.X}), so that the password
// is in no file, and the test checks that it is in no log line.
const dsnVar = "GUESTGATE_TEST_DSN"

// clusterMaxStale is the store's max_stale in the cluster's Caddyfiles: short,
// so that the outage test sees admitted guests served from the live state and
// then refused.
const clusterMaxStale = 5 * time.Second

// propagationLimit is what the tests assert of a change's way from one
// instance to the others (measured in milliseconds, and logged): generous,
// for a loaded machine, and far below what a lost change would take (never).
const propagationLimit = 3 * time.Second

// clusterProcs are the processes of a cluster and what they share.
type clusterProcs struct {
	// root is the test that started them: a process started again lives
	// until it ends.
	root  *testing.T
	pg    *testpg.Cluster
	db    string // the database's name
	bin   string
	up    *upstream
	hooks *hookReceiver
	insts []*instance
	// ended holds the logs of the processes that were killed and replaced.
	ended []string
}

// instance is one Caddy process of the cluster.
type instance struct {
	gw       *gateway // with the test's t of the start
	cfg      config
	file     string // its Caddyfile
	env      []string
	adminURL string
	proc     *testcaddy.Process
}

// cluster is a test's handle on the cluster: gws are the instances'
// gateways, reporting to the test's t.
type cluster struct {
	*clusterProcs
	t   *testing.T
	gws []*gateway
}

// startCluster starts a PostgreSQL cluster with an empty database and three
// instances on it; they are stopped when t ends, and their logs checked.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	bin := testcaddy.Binary(t)
	pg := testpg.Start(t, "fsync=off")
	dsn := pg.CreateDB()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cp := &clusterProcs{root: t, pg: pg, db: strings.TrimPrefix(u.Path, "/"), bin: bin, up: newUpstream(t), hooks: newHookReceiver(t, nil, 0)}
	var ports []int
	for range 3 {
		g := newGateway(t)
		g.up = cp.up
		// render writes "store" and storeDir: here the module and its DSN.
		g.storeDir = fmt.Sprintf("postgres {env.%s} {\n\t\t\tmax_stale %v\n\t\t}", dsnVar, clusterMaxStale)
		ports = append(ports, g.port)
		adminPort := testcaddy.FreePort(t, ports...)
		ports = append(ports, adminPort)
		dir := t.TempDir()
		in := &instance{
			gw: g,
			cfg: config{
				Admin:        fmt.Sprintf("127.0.0.1:%d", adminPort),
				Global:       []string{"debug"},
				AdminExtra:   append([]string{"max_links 3"}, cp.hooks.webhook("/events")...),
				GatewayExtra: []string{"rate_limit off"},
			},
			file:     filepath.Join(dir, "Caddyfile"),
			env:      append(testcaddy.Env(dir), dsnVar+"="+dsn),
			adminURL: fmt.Sprintf("http://127.0.0.1:%d", adminPort),
		}
		g.writeCaddyfile(in.file, in.cfg)
		cp.insts = append(cp.insts, in)
	}
	start := time.Now()
	for _, in := range cp.insts {
		cp.start(in)
	}
	t.Logf("three instances on one database answer %v after their start", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { cp.checkLogs(t) })
	return cp.in(t)
}

// in is the cluster as test t sees it.
func (cp *clusterProcs) in(t *testing.T) *cluster {
	c := &cluster{clusterProcs: cp, t: t}
	for _, in := range cp.insts {
		g := *in.gw
		g.t = t
		c.gws = append(c.gws, &g)
	}
	return c
}

// start runs the instance's process and waits until it answers.
func (cp *clusterProcs) start(in *instance) {
	cp.root.Helper()
	in.proc, _ = testcaddy.Run(cp.root, cp.bin, in.file, in.env, in.gw.base+"/")
}

// restart starts instance i again after its process was killed.
func (c *cluster) restart(i int) {
	c.t.Helper()
	in := c.insts[i]
	c.ended = append(c.ended, in.proc.Log())
	c.gws[i].tr.CloseIdleConnections()
	c.start(in)
}

// checkLogs fails the test if a log line of any instance holds the
// database's password. The logs must show the store at work, or the check
// proves nothing.
func (cp *clusterProcs) checkLogs(t *testing.T) {
	logs := slices.Clone(cp.ended)
	for _, in := range cp.insts {
		logs = append(logs, in.proc.Log())
	}
	all := strings.Join(logs, "\n")
	for line := range strings.SplitSeq(all, "\n") {
		if strings.Contains(line, cp.pg.Password()) {
			t.Errorf("a log line holds the database's password: %s", line)
		}
	}
	if !strings.Contains(all, "applied the database schema") {
		t.Error("the instances' logs hold no line of the store: the password check proves nothing")
	}
	t.Logf("the instances' logs: %d lines, %d of them on a lost database, none with the password",
		strings.Count(all, "\n"), strings.Count(all, "lost the database"))
}

// on is the browser b, with its cookies, sending its requests to g.
func (b *browser) on(g *gateway) *browser {
	c := *b
	c.t, c.g = g.t, g
	return &c
}

// waitPage asks for path with b every 2 ms until want accepts the answer,
// for at most limit, and returns how long after since that was, the answer
// and whether it came.
func waitPage(b *browser, path string, since time.Time, limit time.Duration, want func(page) bool) (time.Duration, page, bool) {
	for {
		p := b.get(path)
		if want(p) {
			return time.Since(since), p, true
		}
		if time.Since(since) > limit {
			return time.Since(since), p, false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// refusedWith accepts a message page with status and reason.
func refusedWith(status int, reason string) func(page) bool {
	return func(p page) bool { return p.Status == status && p.reason() == reason }
}

// served accepts the upstream's answer.
func served(p page) bool { return p.Status == http.StatusOK && p.Body == "upstream ok" }

// reachedFromOthers measures, on every instance but the one of index from,
// how long after since b's request for path is answered as want accepts;
// it fails the test when one is not within propagationLimit. It returns
// the times by instance (from's stays 0).
func (c *cluster) reachedFromOthers(what string, b *browser, path string, from int, since time.Time, want func(page) bool) []time.Duration {
	c.t.Helper()
	took := make([]time.Duration, len(c.gws))
	var wg sync.WaitGroup
	for i, g := range c.gws {
		if i == from {
			continue
		}
		wg.Go(func() {
			d, p, ok := waitPage(b.on(g), path, since, propagationLimit, want)
			took[i] = d
			if !ok {
				c.t.Errorf("%s through instance %d: instance %d still answers %d (reason %q) %v later", what, from, i, p.Status, p.reason(), d.Round(time.Millisecond))
			}
		})
	}
	wg.Wait()
	return took
}

// admittedGuest makes room id through g with guest access on, admission auto
// and one link, and a guest redeemed through g, whom g lets in at once and
// every other instance within propagationLimit. It returns the link, the
// guest's browser and id.
func (c *cluster) admittedGuest(g *gateway, id string) (admin.LinkJSON, *browser, string) {
	c.t.Helper()
	l, b := g.guestInside(id, map[string]any{"name": "Guests"}, "Ada", "ada@example.com")
	p, ok := b.reaches("/rooms/" + id)
	if !ok {
		c.t.Fatalf("%s does not let in the guest it redeemed: %d (reason %q)", g.base, p.Status, p.reason())
	}
	guest := c.up.last(c.t).Header.Get("X-Guest-Id")
	for i, other := range c.gws {
		if other.port == g.port {
			continue
		}
		if took, p, ok := waitPage(b.on(other), "/rooms/"+id, time.Now(), propagationLimit, served); !ok {
			c.t.Fatalf("instance %d does not let in a guest redeemed through another: %d (reason %q) after %v", i, p.Status, p.reason(), took)
		}
	}
	return l, b, guest
}

// TestCluster runs three instances on one database and holds them to the
// promises of docs/DESIGN.md section 6, in the subtests below.
func TestCluster(t *testing.T) {
	c := startCluster(t)
	for _, st := range []struct {
		name string
		run  func(c *cluster)
	}{
		{"SessionOnEveryInstance", testClusterSession},
		{"RedemptionsExact", testClusterRedemptions},
		{"LinkLimitExact", testClusterLinkLimit},
		{"ChangesReachTheOthers", testClusterChanges},
		{"LobbyWokenThroughAnother", testClusterLobby},
		{"WebSocketClosedThroughAnother", testClusterWebSocket},
		{"WebhooksOnceEach", testClusterWebhooks},
		{"ReloadKeepsStore", testClusterReload},
		{"ConnectionsCut", testClusterConnectionsCut},
		{"PasswordChangedByReload", testClusterPasswordByReload},
		{"ReloadWhileDatabaseDown", testClusterReloadInOutage},
		{"DatabaseStoppedAndStarted", testClusterOutage},
		{"InstanceKilledMidBurst", testClusterKill},
	} {
		t.Run(st.name, func(t *testing.T) { st.run(c.in(t)) })
	}
}

// testClusterSession: a session made on one instance opens the room on the
// others, because the instances share their keys, the first writer winning
// in the store: the entry page comes from instance 0 and its form is posted
// to instance 1 (the CSRF key), the session instance 1 set opens the room on
// all three (the session signing key), and the identity token each gives the
// upstream verifies with the JWKS of another (the identity key), which is
// the same on every instance.
func testClusterSession(c *cluster) {
	t := c.t
	l := c.gws[0].openRoomWithLink("s1", map[string]any{"name": "Across"})
	path := linkPath(t, l)
	b := c.gws[0].browser()
	entry := b.get(path)
	if entry.Status != http.StatusOK || entry.csrf() == "" {
		t.Fatalf("the entry page on instance 0: %d (reason %q), want 200 with a csrf field", entry.Status, entry.reason())
	}
	p := b.on(c.gws[1]).post(path, url.Values{"name": {"Ada"}, "email": {"ada@example.com"}, "csrf": {entry.csrf()}}, nil)
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/rooms/s1" || p.sessionCookie() == nil {
		t.Fatalf("the form of instance 0 posted to instance 1: %d Location %q (reason %q), want 303 to /rooms/s1 with a session",
			p.Status, p.Header.Get("Location"), p.reason())
	}
	var jwks []string
	for i, g := range c.gws {
		on := b.on(g)
		// The room was made through instance 0 a moment ago.
		if _, p, ok := waitPage(on, "/rooms/s1", time.Now(), propagationLimit, served); !ok {
			t.Errorf("instance %d: the session made on instance 1 gets %d (reason %q), want the room", i, p.Status, p.reason())
			continue
		}
		verifyIdentityToken(t, b.on(c.gws[(i+1)%len(c.gws)]), c.up.last(t).Header, "s1", l.ID, "Ada", "ada@example.com")
		jwks = append(jwks, on.get("/guest/.well-known/jwks.json").Body)
	}
	for i := range jwks {
		if jwks[i] != jwks[0] {
			t.Errorf("the JWKS of instance %d differs from instance 0's:\n%s\n%s", i, jwks[i], jwks[0])
		}
	}
}

// testClusterRedemptions: 60 guests submit the entry form of a link with max
// clicks 1 at once, spread over the three instances: exactly one gets its
// 303 and session, the others link-used-up, and every instance shows one
// stored click and one guest.
func testClusterRedemptions(c *cluster) {
	t := c.t
	const n = 60
	l := c.gws[0].openRoomWithLink("x1", map[string]any{"name": "Race", "max_clicks": 1})
	path := linkPath(t, l)
	browsers, forms := make([]*browser, n), make([]string, n)
	for i := range n {
		browsers[i] = c.gws[i%len(c.gws)].browser()
		if forms[i] = browsers[i].get(path).csrf(); forms[i] == "" {
			t.Fatalf("browser %d found no entry form", i)
		}
	}
	results := atonce.Run(n, func(i int) page {
		return browsers[i].post(path, url.Values{"name": {"Guest"}, "email": {"guest@example.com"}, "csrf": {forms[i]}}, nil)
	})
	admitted, usedUp, other := 0, 0, map[string]int{}
	for _, p := range results {
		switch {
		case p.Status == http.StatusSeeOther && p.Header.Get("Location") == "/rooms/x1" && p.sessionCookie() != nil:
			admitted++
		case p.Status == http.StatusGone && p.reason() == "link-used-up":
			usedUp++
		default:
			other[fmt.Sprintf("%d %s", p.Status, p.reason())]++
		}
	}
	if admitted != 1 || usedUp != n-1 {
		t.Errorf("%d redemptions of a 1-click link over three instances: %d redeemed, %d link-used-up, others %v; want 1 and %d",
			n, admitted, usedUp, other, n-1)
	}
	for i, g := range c.gws {
		if clicks, guests := g.clicks("x1", l.ID), len(g.guestList("x1")); clicks != 1 || guests != 1 {
			t.Errorf("instance %d: %d stored clicks, %d guests; want 1 and 1", i, clicks, guests)
		}
	}
}

// testClusterLinkLimit: 9 link creations at once for a room with max_links
// 3, spread over the three instances: exactly 3 are created, the others
// refused with link_limit, and every instance lists 3 links.
func testClusterLinkLimit(c *cluster) {
	t := c.t
	const n = 9
	c.gws[0].putRoom("x2", map[string]any{"name": "Links"})
	c.gws[0].setAccess("x2", true)
	answers := atonce.Run(n, func(i int) apiAnswer {
		status, body := c.gws[i%len(c.gws)].api(http.MethodPost, "/api/rooms/x2/links", map[string]any{"name": fmt.Sprintf("l%d", i)})
		return apiAnswer{status, body}
	})
	created := 0
	for _, a := range answers {
		if a.status == http.StatusCreated {
			created++
			continue
		}
		wantAPIError(t, "a link past max_links", a.status, a.body, http.StatusConflict, "link_limit", "")
	}
	if created != 3 {
		t.Errorf("%d of %d concurrent creations made a link, want 3 (max_links)", created, n)
	}
	for i, g := range c.gws {
		var links []admin.LinkJSON
		g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/x2/links", nil, &links)
		if len(links) != 3 {
			t.Errorf("instance %d lists %d links, want 3", i, len(links))
		}
	}
}

// testClusterChanges: each change that ends a guest's session (guest access
// off, the link deleted, the guest removed, the room made unavailable),
// made through one instance, refuses the guest on the other two. The time
// from the moderator API's answer until the other instance refuses is
// measured, three rounds of each kind, each through another instance, and
// logged; the test fails beyond propagationLimit.
func testClusterChanges(c *cluster) {
	t := c.t
	var all []time.Duration
	for kind, tc := range []struct {
		name   string
		change func(g *gateway, room string, l admin.LinkJSON, guest string)
		status int
		reason string
	}{
		{"guest access off", func(g *gateway, room string, _ admin.LinkJSON, _ string) { g.setAccess(room, false) },
			http.StatusForbidden, "guest-access-off"},
		{"link deleted", func(g *gateway, room string, l admin.LinkJSON, _ string) {
			g.mustAPI(http.StatusNoContent, http.MethodDelete, "/api/rooms/"+room+"/links/"+l.ID, nil, nil)
		}, http.StatusNotFound, "link-invalid"},
		{"guest removed", func(g *gateway, room string, _ admin.LinkJSON, guest string) {
			g.mustAPI(http.StatusNoContent, http.MethodDelete, "/api/rooms/"+room+"/guests/"+guest, nil, nil)
		}, http.StatusForbidden, "removed"},
		{"room unavailable", func(g *gateway, room string, _ admin.LinkJSON, _ string) {
			g.putRoom(room, map[string]any{"name": "Room", "available": false})
		}, http.StatusNotFound, "room-unavailable"},
	} {
		var took []time.Duration
		for round := range 3 {
			room := fmt.Sprintf("p%d-%d", kind, round)
			from := round % len(c.gws)
			l, b, guest := c.admittedGuest(c.gws[from], room)
			tc.change(c.gws[from], room, l, guest)
			for i, d := range c.reachedFromOthers(tc.name, b, "/rooms/"+room, from, time.Now(), refusedWith(tc.status, tc.reason)) {
				if i != from {
					took = append(took, d)
				}
			}
		}
		all = append(all, took...)
		t.Logf("%s: another instance refuses the guest %v after the API's answer (3 rounds, two instances each; max %v)",
			tc.name, roundAll(took), slices.Max(took).Round(time.Millisecond))
	}
	slices.Sort(all)
	t.Logf("all kinds: median %v, max %v (polled every 2 ms)", all[len(all)/2].Round(time.Millisecond), all[len(all)-1].Round(time.Millisecond))
}

// roundAll rounds ds to milliseconds, for logs.
func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// testClusterLobby: a waiting guest's lobby long poll on one instance answers
// when a moderator decides through another: within a second (asserted
// within propagationLimit), admitted with the session that opens the room
// on the third, or declined.
func testClusterLobby(c *cluster) {
	t := c.t
	for round, tc := range []struct {
		action, state string
	}{
		{"admit", "admitted"},
		{"deny", "declined"},
		{"admit", "admitted"},
	} {
		room := fmt.Sprintf("lobby%d", round)
		joined, waiting, decided := c.gws[round%3], c.gws[(round+1)%3], c.gws[(round+2)%3]
		l := joined.moderatorRoom(room, "Lobby")
		b := joined.browser()
		guest := b.join(linkPath(t, l), "Wanda", "wanda@example.com")["sub"].(string)
		ch := b.on(waiting).pollAsync(25)
		time.Sleep(300 * time.Millisecond) // the poll is waiting
		decided.mustAPI(http.StatusOK, http.MethodPost, "/api/rooms/"+room+"/lobby/"+guest+"/"+tc.action, nil, nil)
		at := time.Now()
		var r polled
		select {
		case r = <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the long poll has not answered 10 s after the decision", tc.action)
		}
		took := r.done.Sub(at)
		t.Logf("%s through instance %d: the long poll on instance %d answered %v after the API's answer", tc.action, (round+2)%3, (round+1)%3, took.Round(time.Millisecond))
		if took > propagationLimit {
			t.Errorf("%s: the long poll answered %v after the decision, want within 1 s", tc.action, took)
		}
		if s, ok := decodeState(r.p); r.err != nil || !ok || s.State != tc.state {
			t.Errorf("%s: the long poll answered %v %d %q, want %s", tc.action, r.err, r.p.Status, r.p.Body, tc.state)
		}
		if tc.state == "admitted" {
			if p, ok := b.on(joined).upstreamSees("/rooms/"+room, guest); !ok {
				t.Errorf("the admitted guest in the room through instance %d: %d (reason %q)", round%3, p.Status, p.reason())
			}
		}
	}
}

// testClusterWebSocket: a guest removed through one instance loses the
// WebSockets it holds open through the other two within a second (asserted
// within propagationLimit).
func testClusterWebSocket(c *cluster) {
	t := c.t
	_, b, guest := c.admittedGuest(c.gws[0], "ws1")
	cookie := "Cookie: guestgate=" + b.sessionValue() + "\r\n"
	closed := make([]chan time.Time, len(c.gws))
	for i, g := range c.gws[1:] {
		conn, br, p := upgrade(t, g, "/rooms/ws1/socket", cookie)
		if conn == nil {
			t.Fatalf("the guest's WebSocket through instance %d: %d (reason %q), want 101", i+1, p.Status, p.reason())
		}
		echo(t, fmt.Sprintf("the WebSocket through instance %d", i+1), conn, br, "hello")
		ch := make(chan time.Time, 1)
		closed[i+1] = ch
		go func() {
			_, _ = io.Copy(io.Discard, br) // until the connection ends
			ch <- time.Now()
		}()
	}
	c.gws[0].mustAPI(http.StatusNoContent, http.MethodDelete, "/api/rooms/ws1/guests/"+guest, nil, nil)
	removed := time.Now()
	for i, ch := range closed[1:] {
		select {
		case at := <-ch:
			took := at.Sub(removed)
			t.Logf("the WebSocket through instance %d closed %v after the removal through instance 0", i+1, took.Round(time.Millisecond))
			if took > propagationLimit {
				t.Errorf("the WebSocket through instance %d closed %v after the removal, want within 1 s", i+1, took)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("the WebSocket through instance %d is still open 10 s after the removal through instance 0", i+1)
		}
	}
}

// testClusterWebhooks: events made through the three instances in turn, one
// after the other, reach the webhook receiver once each, signed, in the
// order they were made, although every instance queued some: one instance
// delivers an endpoint's queue at a time.
func testClusterWebhooks(c *cluster) {
	t := c.t
	const room = "wh"
	var (
		guests   []*browser
		guestIDs []string
	)
	redeem := func(g *gateway) {
		var links []admin.LinkJSON
		g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/"+room+"/links", nil, &links)
		b := g.browser()
		b.mustRedeem(linkPath(t, links[0]), "Ada", "ada@example.com", room)
		// Guest access went on through another instance a moment ago.
		if _, p, ok := waitPage(b, "/rooms/"+room, time.Now(), propagationLimit, served); !ok {
			t.Fatalf("the guest redeemed through %s: %d (reason %q)", g.base, p.Status, p.reason())
		}
		guests, guestIDs = append(guests, b), append(guestIDs, c.up.last(t).Header.Get("X-Guest-Id"))
	}
	steps := []struct {
		event string
		do    func(g *gateway)
	}{
		{"room.put", func(g *gateway) { g.putRoom(room, map[string]any{"name": "Hooks"}) }},
		{"access.on", func(g *gateway) { g.setAccess(room, true) }},
		{"link.created", func(g *gateway) { g.createLink(room, map[string]any{"name": "Guests"}) }},
		{"guest.redeemed", redeem},
		{"guest.redeemed", redeem},
		{"guest.redeemed", redeem},
		{"guest.removed", func(g *gateway) {
			g.mustAPI(http.StatusNoContent, http.MethodDelete, "/api/rooms/"+room+"/guests/"+guestIDs[0], nil, nil)
		}},
		{"guest.left", func(g *gateway) { guests[1].on(g).leave() }},
		{"access.off", func(g *gateway) { g.setAccess(room, false) }},
		{"room.deleted", func(g *gateway) { g.mustAPI(http.StatusNoContent, http.MethodDelete, "/api/rooms/"+room, nil, nil) }},
	}
	var want []string
	for i, st := range steps {
		st.do(c.gws[i%len(c.gws)])
		want = append(want, st.event)
	}
	last := time.Now()
	ofRoom := func() []hookDelivery {
		return slices.DeleteFunc(c.hooks.delivered("/events"), func(d hookDelivery) bool { return d.Event.Room != room })
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(ofRoom()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the last of %d events made through three instances in turn reached the receiver %v after it was made",
		len(want), time.Since(last).Round(time.Millisecond))
	time.Sleep(1500 * time.Millisecond) // more than a poll: room for a second delivery to show
	ds := ofRoom()
	var got []string
	for _, d := range ds {
		got = append(got, d.Event.Type)
	}
	if !slices.Equal(got, want) {
		t.Errorf("the receiver got %v,\nwant once each, in order, %v", got, want)
	}
	checkDeliveries(t, ds)
}

// testClusterReload: a config reload of one instance (Caddy's /load, with
// /static/* allowed now) keeps its store: it takes effect, no connection to
// the database closes, and a change through another instance reaches the
// reloaded one, as does a write through it the others.
func testClusterReload(c *cluster) {
	t := c.t
	_, b, _ := c.admittedGuest(c.gws[0], "rl")
	reloaded := b.on(c.gws[1])
	wantPage(t, "/static before the reload", reloaded.get("/static/app.css"), http.StatusForbidden, "not-allowed")
	before := c.backends()

	cfg := c.insts[1].cfg
	cfg.Allow = "/rooms/{room} /rooms/{room}/* /static/*"
	start := time.Now()
	if status, body := c.reload(1, cfg); status != http.StatusOK {
		t.Fatalf("POST /load: %d %s", status, body)
	}
	t.Logf("the reload of instance 1 took %v", time.Since(start).Round(time.Millisecond))
	// The old server closes the connections it kept alive, as a client
	// finds out on its next request: start afresh, as a browser would.
	for _, g := range c.gws {
		g.tr.CloseIdleConnections()
	}
	if p, ok := reloaded.reaches("/static/app.css"); !ok {
		t.Fatalf("/static after the reload: %d (reason %q), want the upstream: the reload did not take effect", p.Status, p.reason())
	}
	after := c.backends()
	for pid := range before {
		if !after[pid] {
			t.Errorf("the reload closed database connection %s: the store was opened again", pid)
		}
	}
	t.Logf("database connections: %d before the reload, %d after", len(before), len(after))

	c.gws[0].setAccess("rl", false)
	took := c.reachedFromOthers("guest access off after a reload", b, "/rooms/rl", 0, time.Now(), refusedWith(http.StatusForbidden, "guest-access-off"))
	t.Logf("guest access off through instance 0 reached the reloaded instance 1 in %v", took[1].Round(time.Millisecond))
	c.gws[1].setAccess("rl", true)
	took = c.reachedFromOthers("guest access on through the reloaded instance", b, "/rooms/rl", 1, time.Now(), served)
	t.Logf("guest access on through the reloaded instance 1 reached the others in %v", roundAll(took))
}

// testClusterPasswordByReload: an operator changes the database password
// of a running instance by a reload, as the README's rotation does with a
// {file.…} placeholder and "caddy reload --force" (the Caddyfile is the same
// as before, which Caddy would not load again otherwise). The open store takes the new password for its new
// connections once the new config is in force; after every connection of the
// role was cut, the instance's writes and its listener work with it. When
// the connections are cut before the reload, the instance serves as in an
// outage, and the reload still runs; a reload with a password the database
// refuses fails and changes nothing.
func testClusterPasswordByReload(c *cluster) {
	t := c.t
	const role = "gg_rotated"
	c.pg.SQL(c.db, "CREATE ROLE "+role+" LOGIN PASSWORD 'first-pw'; GRANT USAGE ON SCHEMA public TO "+role+
		"; GRANT ALL ON ALL TABLES IN SCHEMA public TO "+role+"; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "+role)
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	useDSN := func(password string) {
		dsn := fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", role, password, c.pg.Port(), c.db)
		if err := os.WriteFile(dsnFile, []byte(dsn), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	g := c.gws[2]
	orig := g.storeDir
	reload := func(what string) {
		t.Helper()
		if status, body := c.load(2, c.insts[2].cfg, true); status != http.StatusOK {
			t.Fatalf("%s: POST /load: %d %s", what, status, body)
		}
		for _, g := range c.gws {
			g.tr.CloseIdleConnections()
		}
	}
	defer func() {
		g.storeDir = orig
		reload("back to the cluster's DSN")
	}()
	g.storeDir = fmt.Sprintf("postgres {file.%s} {\n\t\t\tmax_stale %v\n\t\t}", dsnFile, clusterMaxStale)
	useDSN("first-pw")
	reload("the role's DSN")
	_, b, _ := c.admittedGuest(c.gws[0], "pw")

	c.pg.SQL("postgres", "ALTER ROLE "+role+" PASSWORD 'second-pw'")
	useDSN("second-pw")
	reload("the new password")
	c.pg.SQL("postgres", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '"+role+"'")

	g.setAccess("pw", false) // a new connection of the pool
	if _, p, ok := waitPage(b.on(c.gws[0]), "/rooms/pw", time.Now(), propagationLimit, refusedWith(http.StatusForbidden, "guest-access-off")); !ok {
		t.Errorf("guest access off through the instance with the new password: instance 0 answers %d (reason %q)", p.Status, p.reason())
	}
	c.gws[0].setAccess("pw", true)
	// Within the bound of a cut listener (catch-up after its reconnect).
	if took, p, ok := waitPage(b.on(g), "/rooms/pw", time.Now(), 3*time.Second, served); !ok {
		t.Errorf("guest access on through instance 0: the instance with the new password answers %d (reason %q)", p.Status, p.reason())
	} else {
		t.Logf("a change through instance 0 reached the instance with the new password %v after it was made", took.Round(time.Millisecond))
	}

	// The connections cut between the ALTER ROLE and the reload: until the
	// reload, the instance serves as in an outage (503, not 500), and the
	// reload, which reads the store's secrets with the old password, runs.
	c.pg.SQL("postgres", "ALTER ROLE "+role+" PASSWORD 'third-pw'")
	c.pg.SQL("postgres", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '"+role+"'")
	status, body := g.api(http.MethodGet, "/api/rooms/pw", nil)
	wantAPIError(t, "the API between the ALTER ROLE and the reload", status, body, http.StatusServiceUnavailable, "store_unavailable", "")
	useDSN("third-pw")
	reload("the new password, the old one refused")
	if status, body := g.api(http.MethodGet, "/api/rooms/pw", nil); status != http.StatusOK {
		t.Errorf("the API after the reload with the new password: %d %s", status, body)
	}
	// A reload with a password the server refuses fails, and the running
	// configuration keeps the one that works.
	useDSN("mistyped-pw")
	if status, body := c.load(2, c.insts[2].cfg, true); status == http.StatusOK {
		t.Errorf("a reload with a password the database refuses: POST /load answers 200 %s", body)
	}
	c.pg.SQL("postgres", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '"+role+"'")
	// A call that meets a cut connection may answer 503 once; the next
	// ones connect again, with the password that works.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		status, body := g.api(http.MethodGet, "/api/rooms/pw", nil)
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the API after the refused reload and a cut: %d %s", status, body)
			break
		}
	}
	for _, pw := range []string{"first-pw", "second-pw", "third-pw", "mistyped-pw"} {
		if strings.Contains(c.insts[2].proc.Log(), pw) {
			t.Errorf("instance 2's log holds the password %q", pw)
		}
	}
}

// testClusterReloadInOutage: a config reload while PostgreSQL is down, as an
// operator makes for another site of the same Caddy, takes effect: the
// instance keeps its open store, with the keys it read before, and keeps
// serving the admitted guest within max_stale. A room the new config names
// that the store lacks cannot be made then; it is made once the database is
// back, without another reload.
func testClusterReloadInOutage(c *cluster) {
	t := c.t
	_, b, _ := c.admittedGuest(c.gws[0], "ro")
	cfg := c.insts[2].cfg
	cfg.AdminExtra = append(slices.Clone(cfg.AdminExtra), "room ro", `room ro-new "Made in the outage"`)

	c.pg.Stop()
	stopped, started := time.Now(), false
	defer func() {
		if !started { // for the subtests after this one
			c.pg.Start()
		}
	}()
	if status, body := c.reload(2, cfg); status != http.StatusOK {
		t.Fatalf("a reload while the database is down: POST /load answers %d %s, want 200", status, body)
	}
	t.Logf("the reload with the database down took %v", time.Since(stopped).Round(time.Millisecond))
	c.gws[2].tr.CloseIdleConnections()
	p, ok := b.on(c.gws[2]).reaches("/rooms/ro")
	if since := time.Since(stopped); since < clusterMaxStale && !ok {
		t.Errorf("%v into the outage, the reloaded instance refuses the admitted guest: %d (reason %q)", since.Round(time.Millisecond), p.Status, p.reason())
	}

	c.pg.Start()
	started = true
	back := time.Now()
	for {
		status, _ := c.gws[0].api(http.MethodGet, "/api/rooms/ro-new", nil)
		if status == http.StatusOK {
			t.Logf("the configured room was made %v after the database was back", time.Since(back).Round(time.Millisecond))
			break
		}
		if time.Since(back) > 20*time.Second {
			t.Fatalf("20 s after the database was back, the room the reload configured is not there (%d)", status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, p, ok := waitPage(b.on(c.gws[2]), "/rooms/ro", back, 10*time.Second, served); !ok {
		t.Errorf("after the outage, the reloaded instance refuses the admitted guest: %d (reason %q)", p.Status, p.reason())
	}
}

// reload writes cfg as instance i's Caddyfile and loads it through the
// instance's admin API, as "caddy reload" does; it returns the API's answer,
// and keeps cfg as the instance's config if it took.
func (c *cluster) reload(i int, cfg config) (int, []byte) { return c.load(i, cfg, false) }

// load is reload, forced as "caddy reload --force" does: Caddy loads a
// config that is the same as the running one again (one whose placeholders
// read a file that changed).
func (c *cluster) load(i int, cfg config, force bool) (int, []byte) {
	c.t.Helper()
	in := c.insts[i]
	c.gws[i].writeCaddyfile(in.file, cfg)
	text, err := os.ReadFile(in.file)
	if err != nil {
		c.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, in.adminURL+"/load", bytes.NewReader(text))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/caddyfile")
	if force {
		req.Header.Set("Cache-Control", "must-revalidate")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("POST /load: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		in.cfg = cfg
	}
	return resp.StatusCode, body
}

// backends returns the database's connections, by process id.
func (c *cluster) backends() map[string]bool {
	c.t.Helper()
	out := map[string]bool{}
	for pid := range strings.FieldsSeq(c.pg.SQL("postgres", "SELECT pid FROM pg_stat_activity WHERE datname = '"+c.db+"' AND pid <> pg_backend_pid()")) {
		out[pid] = true
	}
	return out
}

// testClusterConnectionsCut: every connection to the database is cut
// (pg_terminate_backend), as a failover or a pooler's restart does, three
// times; each time a change made right after through one instance succeeds
// and reaches the other two within 3 s (docs/DESIGN.md section 6), their
// listeners reconnected.
func testClusterConnectionsCut(c *cluster) {
	t := c.t
	_, b, _ := c.admittedGuest(c.gws[0], "cut")
	for round := range 3 {
		on := round%2 == 1
		want := refusedWith(http.StatusForbidden, "guest-access-off")
		if on {
			want = served
		}
		from := round % len(c.gws)
		c.pg.TerminateBackends()
		cut := time.Now()
		c.gws[from].setAccess("cut", on)
		wrote := time.Since(cut)
		took := c.reachedFromOthers(fmt.Sprintf("guest access on=%v after the connections were cut", on), b, "/rooms/cut", from, cut, want)
		t.Logf("round %d: every connection cut; guest access on=%v through instance %d answered after %v and reached the others %v after the cut",
			round, on, from, wrote.Round(time.Millisecond), roundAll(took))
	}
}

// testClusterOutage: PostgreSQL stopped and started under traffic on every
// instance, of an admitted guest's requests (every 50 ms) and new guests'
// redemptions (every 100 ms) of a link with max clicks 60. While it is down,
// new guests get 503 unavailable with Retry-After and moderator writes 503
// store_unavailable; the admitted guest is served from the live state
// until max_stale after the last sync (5 s here) and refused 503
// unavailable after it; no answer clears a session cookie. After the start
// everything recovers by itself (measured and logged); the redemptions go on
// until the link is used up: exactly 60 clicks and guests are stored.
func testClusterOutage(c *cluster) {
	t := c.t
	const limit = 60
	_, inside, _ := c.admittedGuest(c.gws[0], "o1")
	l := c.gws[0].openRoomWithLink("o2", map[string]any{"name": "New", "max_clicks": limit})
	path := linkPath(t, l)

	type result struct {
		at, done time.Time // when the request was sent, and answered
		inst     int
		new      bool // a new guest's redemption, not the admitted guest's request
		p        page
	}
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
		stop    = make(chan struct{})
		usedUp  atomic.Int32
		// startedAt is when PostgreSQL was started again (Unix ns, 0
		// before); back counts the instances that served the admitted
		// guest since.
		startedAt atomic.Int64
		back      atomic.Int32
	)
	record := func(r result) {
		mu.Lock()
		defer mu.Unlock()
		results = append(results, r)
	}
	every := func(d time.Duration, f func() bool) {
		for {
			select {
			case <-stop:
				return
			case <-time.After(d):
			}
			if !f() {
				return
			}
		}
	}
	for i, g := range c.gws {
		wg.Go(func() {
			b := inside.on(g)
			recovered := false
			every(50*time.Millisecond, func() bool {
				at := time.Now()
				p := b.get("/rooms/o1")
				record(result{at, time.Now(), i, false, p})
				if since := startedAt.Load(); !recovered && since != 0 && at.UnixNano() > since && served(p) {
					recovered = true
					back.Add(1)
				}
				return true
			})
		})
		wg.Go(func() {
			every(100*time.Millisecond, func() bool {
				b, at := g.browser(), time.Now()
				p := b.get(path)
				if p.Status == http.StatusOK && p.csrf() != "" {
					p = b.post(path, url.Values{"name": {"Guest"}, "email": {"guest@example.com"}, "csrf": {p.csrf()}}, nil)
				}
				record(result{at, time.Now(), i, true, p})
				if p.Status == http.StatusGone && p.reason() == "link-used-up" {
					usedUp.Add(1)
					return false
				}
				return true
			})
		})
	}

	time.Sleep(time.Second)
	stopAt := time.Now()
	c.pg.Stop()
	stopped := time.Now()
	t.Logf("PostgreSQL stopped (pg_ctl stop -m fast took %v)", stopped.Sub(stopAt).Round(time.Millisecond))
	status, body := c.gws[1].api(http.MethodPut, "/api/rooms/o1/guest-access", map[string]any{"enabled": true})
	wantAPIError(t, "a moderator write while the database is down", status, body, http.StatusServiceUnavailable, "store_unavailable", "")
	time.Sleep(time.Until(stopped.Add(clusterMaxStale + 2*time.Second)))
	startAt := time.Now()
	c.pg.Start()
	started := time.Now()
	startedAt.Store(started.UnixNano())
	t.Logf("PostgreSQL down for %v; started again in %v", startAt.Sub(stopped).Round(time.Millisecond), started.Sub(startAt).Round(time.Millisecond))

	deadline := time.Now().Add(30 * time.Second)
	for (usedUp.Load() < int32(len(c.gws)) || back.Load() < int32(len(c.gws))) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if usedUp.Load() < int32(len(c.gws)) {
		t.Errorf("30 s after the start, %d of the instances answered link-used-up", usedUp.Load())
	}

	// What each answer may be, by when its request was sent (and, in the
	// outage, answered); the first ten answers that may not be are shown.
	staleAfter := stopped.Add(clusterMaxStale + 500*time.Millisecond)
	var (
		acked         int
		staleRefused  [3]int
		newRefused    [3]int
		recovered     [3]time.Time // the admitted guest's first request served after the start
		redeemedAgain [3]time.Time // the first redemption after it
		wrong         int
	)
	bad := func(format string, args ...any) {
		if wrong++; wrong <= 10 {
			t.Errorf(format, args...)
		}
	}
	for _, r := range results {
		p := r.p
		when := r.at.Sub(stopAt).Round(time.Millisecond)
		for _, ck := range (&http.Response{Header: p.Header}).Cookies() {
			if ck.Name == "guestgate" && (ck.Value == "" || ck.MaxAge < 0 || (!ck.Expires.IsZero() && ck.Expires.Before(r.at))) {
				bad("instance %d, %v from the stop: an answer clears the session cookie: %v", r.inst, when, ck)
			}
		}
		unavailable := p.Status == http.StatusServiceUnavailable && p.reason() == "unavailable"
		if unavailable && p.Header.Get("Retry-After") == "" {
			bad("instance %d, %v from the stop: an unavailable page without Retry-After", r.inst, when)
		}
		switch {
		case !r.new && r.at.Before(stopAt.Add(clusterMaxStale-2*time.Second)):
			if !served(p) {
				bad("instance %d, %v from the stop: the admitted guest gets %d (reason %q), want the room within max_stale", r.inst, when, p.Status, p.reason())
			}
		case !r.new && r.at.After(staleAfter) && r.done.Before(startAt):
			staleRefused[r.inst]++
			if !unavailable {
				bad("instance %d, %v from the stop: the admitted guest gets %d (reason %q), want 503 unavailable after max_stale", r.inst, when, p.Status, p.reason())
			}
		case !r.new && r.at.After(started):
			if served(p) && recovered[r.inst].IsZero() {
				recovered[r.inst] = r.at
			} else if !served(p) && !unavailable {
				bad("instance %d, %v from the stop, after the start: the admitted guest gets %d (reason %q)", r.inst, when, p.Status, p.reason())
			}
		case !r.new:
			if !served(p) && !unavailable {
				bad("instance %d, %v from the stop: the admitted guest gets %d (reason %q)", r.inst, when, p.Status, p.reason())
			}
		case r.at.After(stopped) && r.done.Before(startAt):
			newRefused[r.inst]++
			if !unavailable {
				bad("instance %d, %v from the stop: a new guest gets %d (reason %q), want 503 unavailable", r.inst, when, p.Status, p.reason())
			}
		default:
			redeemed := p.Status == http.StatusSeeOther && p.Header.Get("Location") == "/rooms/o2" && p.sessionCookie() != nil
			if redeemed {
				acked++
				if r.at.After(started) && redeemedAgain[r.inst].IsZero() {
					redeemedAgain[r.inst] = r.at
				}
			} else if !unavailable && !(p.Status == http.StatusGone && p.reason() == "link-used-up") {
				bad("instance %d, %v from the stop: a new guest gets %d (reason %q)", r.inst, when, p.Status, p.reason())
			}
		}
	}
	if wrong > 10 {
		t.Errorf("... and %d more answers that may not be", wrong-10)
	}
	for i := range c.gws {
		if staleRefused[i] == 0 || newRefused[i] == 0 {
			t.Errorf("instance %d: %d requests of the admitted guest after max_stale, %d of new guests in the outage: the test saw too little",
				i, staleRefused[i], newRefused[i])
		}
		if recovered[i].IsZero() || redeemedAgain[i].IsZero() {
			t.Errorf("instance %d did not recover: the admitted guest served again: %v, a new guest redeemed: %v", i, !recovered[i].IsZero(), !redeemedAgain[i].IsZero())
			continue
		}
		t.Logf("instance %d after the start: admitted guest served again after %v, a new guest redeemed after %v",
			i, recovered[i].Sub(started).Round(time.Millisecond), redeemedAgain[i].Sub(started).Round(time.Millisecond))
		if d := max(recovered[i].Sub(started), redeemedAgain[i].Sub(started)); d > 10*time.Second {
			t.Errorf("instance %d recovered %v after the start, want within a few seconds", i, d)
		}
	}
	for i, g := range c.gws {
		if clicks, guests := g.clicks("o2", l.ID), len(g.guestList("o2")); clicks != limit || guests != limit {
			t.Errorf("instance %d after the outage: %d stored clicks, %d guests; want %d and %d", i, clicks, guests, limit, limit)
		}
	}
	if acked > limit {
		t.Errorf("%d redemptions acknowledged, more than the %d clicks of the link", acked, limit)
	}
	t.Logf("%d answers in all; %d of the %d stored redemptions were acknowledged", len(results), acked, limit)
	p, ok := inside.on(c.gws[2]).reaches("/rooms/o1")
	if !ok {
		t.Errorf("the admitted guest after the outage, with the cookie it had: %d (reason %q)", p.Status, p.reason())
	}
}

// testClusterKill: an instance killed with SIGKILL at a random moment of a
// redemption burst spread over the three (40 guests, a link with max clicks
// 20), three rounds: the stored clicks are at least the 303s acknowledged by
// any instance and at most 20, with one guest stored per click; the other
// instances answer on; the killed one, started again, shows the same.
func testClusterKill(c *cluster) {
	t := c.t
	const (
		rounds  = 3
		maxN    = 20
		clients = 40
		victim  = 2
	)
	for round := range rounds {
		room := fmt.Sprintf("kill%d", round)
		l := c.gws[0].openRoomWithLink(room, map[string]any{"name": "Crash", "max_clicks": maxN})
		path := linkPath(t, l)
		var (
			granted, cut atomic.Int32
			acked        = make(chan struct{}, clients)
			wg           sync.WaitGroup
			start        = make(chan struct{})
		)
		tr := &http.Transport{DisableKeepAlives: true, ResponseHeaderTimeout: 10 * time.Second}
		for i := range clients {
			base := c.gws[i%len(c.gws)].base
			wg.Go(func() {
				<-start
				switch redeemOnce(tr, base, path, room) {
				case "granted":
					granted.Add(1)
					acked <- struct{}{}
				case "cut":
					cut.Add(1)
				}
			})
		}
		aim, jitter := rand.IntN(maxN/2), time.Duration(rand.IntN(3000))*time.Microsecond
		close(start)
		burst := time.Now()
		for range aim {
			select {
			case <-acked:
			case <-time.After(10 * time.Second):
			}
		}
		time.Sleep(jitter)
		killedAfter := time.Since(burst)
		if err := c.insts[victim].proc.Kill(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		tr.CloseIdleConnections()
		stored := c.gws[0].clicks(room, l.ID)
		if guests := len(c.gws[0].guestList(room)); stored < int(granted.Load()) || stored > maxN || guests != stored {
			t.Errorf("round %d (killed after %v): %d stored clicks and %d guests, want as many, between the %d acknowledged redemptions and %d",
				round, killedAfter, stored, guests, granted.Load(), maxN)
		}
		c.restart(victim)
		if again := c.gws[victim].clicks(room, l.ID); again != stored {
			t.Errorf("round %d: the restarted instance shows %d clicks, the others %d", round, again, stored)
		}
		t.Logf("round %d: instance %d killed %.1f ms into the burst (aimed after %d acknowledged): %d acknowledged, %d stored, %d cut off",
			round, victim, float64(killedAfter.Microseconds())/1000, aim, granted.Load(), stored, cut.Load())
	}
	c.admittedGuest(c.gws[victim], "kill-after")
}

// redeemOnce opens the entry page of the link at path on the instance at
// base and submits it, as a new guest on its own connection, and says how
// it went: "granted" (303 to the room with a session), "cut" (the
// connection failed: the instance died), or the status and reason.
func redeemOnce(tr http.RoundTripper, base, path, room string) string {
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Transport: tr, Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	read := func(resp *http.Response, err error) (page, bool) {
		if err != nil {
			return page{}, false
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return page{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}, err == nil
	}
	p, ok := read(client.Get(base + path))
	if !ok {
		return "cut"
	}
	if p.Status != http.StatusOK || p.csrf() == "" {
		return fmt.Sprintf("GET %d %s", p.Status, p.reason())
	}
	form := url.Values{"name": {"Guest"}, "email": {"guest@example.com"}, "csrf": {p.csrf()}}
	if p, ok = read(client.PostForm(base+path, form)); !ok {
		return "cut"
	}
	if p.Status == http.StatusSeeOther && p.Header.Get("Location") == "/rooms/"+room && p.sessionCookie() != nil {
		return "granted"
	}
	return fmt.Sprintf("POST %d %s", p.Status, p.reason())
}

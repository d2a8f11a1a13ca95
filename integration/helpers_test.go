// Package integration runs guestgate inside a real Caddy (in-process, and once as
// the built binary) in front of a recording httptest upstream, on a real Badger
// directory, and checks what users see: status codes, the data-reason of message
// pages, the headers the upstream receives and the click counts in the store.
//
// Caddy is a process-wide singleton: the tests of this package must not run in
// parallel with each other (none calls t.Parallel).
package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
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

	"github.com/guestgate/guestgate/admin"
	_ "github.com/guestgate/guestgate/caddymodule"
)

// apiKey is the API key of every test config (at least 16 characters).
const apiKey = "integration-test-api-key-0123456789"

// origEnv is the environment the test binary started with, before TestMain points
// Caddy's data and config directories at a temporary directory. Subprocesses that
// are not Caddy (go build) get it unchanged.
var origEnv []string

func TestMain(m *testing.M) {
	origEnv = os.Environ()
	tmp, err := os.MkdirTemp("", "guestgate-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Nothing Caddy does in these tests may touch the real home directory.
	os.Setenv("XDG_DATA_HOME", filepath.Join(tmp, "data"))
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(tmp, "config"))
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// seenRequest is one request as the upstream received it.
type seenRequest struct {
	Method     string
	Path       string // decoded
	RequestURI string // as sent on the wire
	Header     http.Header
	Trailer    http.Header // after the body was read (streamUpstream only)
	Body       string      // streamUpstream only
}

// upstream is the room backend: it records every request and answers 200.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []seenRequest
}

func newUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.reqs = append(u.reqs, seenRequest{Method: r.Method, Path: r.URL.Path, RequestURI: r.RequestURI, Header: r.Header.Clone()})
		u.mu.Unlock()
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			echoUpgraded(w)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "upstream ok")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// echoUpgraded answers an upgrade request with 101 and then echoes every byte
// it reads (the test only needs a stream that stays open, not WebSocket framing).
func echoUpgraded(w http.ResponseWriter) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	if rw.Flush() != nil {
		return
	}
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 4096)
	for {
		n, err := rw.Read(buf)
		if n > 0 {
			if _, werr := conn.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// addr is host:port of the upstream.
func (u *upstream) addr() string { return strings.TrimPrefix(u.srv.URL, "http://") }

// requests returns a copy of what the upstream has received so far.
func (u *upstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.reqs...)
}

// count is the number of requests received so far.
func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// last returns the last request received; it fails the test if there is none.
func (u *upstream) last(t testing.TB) seenRequest {
	t.Helper()
	reqs := u.requests()
	if len(reqs) == 0 {
		t.Fatal("the upstream received no request")
	}
	return reqs[len(reqs)-1]
}

// config is what changes between the Caddyfiles of the tests.
type config struct {
	// Allow is the allow subdirective's patterns; empty uses the default
	// (/rooms/{room} /rooms/{room}/*).
	Allow string
	// Unauthenticated is "deny", "pass" or empty (the default).
	Unauthenticated string
	// AdminRooms are "room" subdirective lines for guest_admin.
	AdminRooms []string
	// Admin is the admin global option; empty means "off".
	Admin string
	// Order adds "order guest_gateway before reverse_proxy" (as in DESIGN section
	// 4) to the global options.
	Order bool
	// GatewayExtra and AdminExtra are more subdirective lines for guest_gateway
	// and guest_admin.
	GatewayExtra, AdminExtra []string
	// DefaultStore leaves out the store subdirectives (both handlers then use
	// "guestgate" under Caddy's data directory).
	DefaultStore bool
	// ProxyExtra are lines inside the reverse_proxy block (header_up, say).
	ProxyExtra []string
}

// gateway is a Caddy running guestgate in this process.
type gateway struct {
	t        testing.TB
	port     int
	base     string // http://127.0.0.1:<port>
	storeDir string
	dataDir  string
	logPath  string
	up       *upstream
	tr       *http.Transport
	admin    *http.Client
}

// newGateway prepares the directories, the upstream and a port; start loads a config.
func newGateway(t testing.TB) *gateway {
	t.Helper()
	dir := t.TempDir()
	g := &gateway{
		t:        t,
		storeDir: filepath.Join(dir, "store"),
		dataDir:  filepath.Join(dir, "caddy-data"),
		logPath:  filepath.Join(dir, "caddy.log"),
		up:       newUpstream(t),
		tr:       &http.Transport{MaxIdleConnsPerHost: 64, ResponseHeaderTimeout: 20 * time.Second},
	}
	g.port = freePort(t)
	g.base = fmt.Sprintf("http://127.0.0.1:%d", g.port)
	g.admin = &http.Client{Transport: g.tr, Timeout: 20 * time.Second}
	t.Cleanup(g.tr.CloseIdleConnections)
	return g
}

// startGateway returns a gateway running cfg, stopped when the test ends.
func startGateway(t testing.TB, cfg config) *gateway {
	t.Helper()
	g := newGateway(t)
	g.load(cfg)
	return g
}

// caddyfile renders the Caddyfile of cfg for this gateway.
func (g *gateway) caddyfile(cfg config) string {
	return renderCaddyfile(cfg, g.port, g.storeDir, g.dataDir, g.up.addr(), fmt.Sprintf("output file %s\n\t\tformat json", g.logPath))
}

// renderCaddyfile is the Caddyfile of every test: the moderator API under
// /guest-admin/, the gateway and the upstream. logBlock, if not empty, is the body
// of the global log option.
func renderCaddyfile(cfg config, port int, storeDir, dataDir, upstreamAddr, logBlock string) string {
	var b strings.Builder
	admin := cfg.Admin
	if admin == "" {
		admin = "off"
	}
	fmt.Fprintf(&b, "{\n\tadmin %s\n\tpersist_config off\n\tstorage file_system %s\n\tskip_install_trust\n", admin, dataDir)
	if cfg.Order {
		b.WriteString("\torder guest_gateway before reverse_proxy\n")
	}
	if logBlock != "" {
		fmt.Fprintf(&b, "\tlog {\n\t\t%s\n\t}\n", logBlock)
	}
	b.WriteString("}\n\n")
	fmt.Fprintf(&b, "http://127.0.0.1:%d {\n\tbind 127.0.0.1\n", port)
	store := "store " + storeDir
	if cfg.DefaultStore {
		store = "# default store"
	}
	fmt.Fprintf(&b, "\thandle_path /guest-admin/* {\n\t\tguest_admin {\n\t\t\t%s\n\t\t\tapi_key %s\n\t\t\tlink_base http://127.0.0.1:%d/guest/\n", store, apiKey, port)
	for _, r := range cfg.AdminRooms {
		fmt.Fprintf(&b, "\t\t\troom %s\n", r)
	}
	for _, line := range cfg.AdminExtra {
		fmt.Fprintf(&b, "\t\t\t%s\n", line)
	}
	b.WriteString("\t\t}\n\t}\n")
	fmt.Fprintf(&b, "\tguest_gateway {\n\t\t%s\n", store)
	if cfg.Allow != "" {
		fmt.Fprintf(&b, "\t\tallow %s\n", cfg.Allow)
	}
	if cfg.Unauthenticated != "" {
		fmt.Fprintf(&b, "\t\tunauthenticated %s\n", cfg.Unauthenticated)
	}
	for _, line := range cfg.GatewayExtra {
		fmt.Fprintf(&b, "\t\t%s\n", line)
	}
	b.WriteString("\t}\n")
	if len(cfg.ProxyExtra) == 0 {
		fmt.Fprintf(&b, "\treverse_proxy %s\n}\n", upstreamAddr)
		return b.String()
	}
	fmt.Fprintf(&b, "\treverse_proxy %s {\n", upstreamAddr)
	for _, line := range cfg.ProxyExtra {
		fmt.Fprintf(&b, "\t\t%s\n", line)
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// load adapts cfg and loads it into Caddy (a start, or a reload when a config is
// already running), and makes sure Caddy is stopped when the test ends.
func (g *gateway) load(cfg config) {
	g.t.Helper()
	if err := g.tryLoad(cfg); err != nil {
		g.t.Fatalf("loading the config: %v\nCaddyfile:\n%s", err, g.caddyfile(cfg))
	}
}

func (g *gateway) tryLoad(cfg config) error {
	g.t.Helper()
	text := g.caddyfile(cfg)
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		g.t.Fatal("the caddyfile adapter is not registered")
	}
	cfgJSON, warnings, err := adapter.Adapt([]byte(text), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return fmt.Errorf("adapting: %w", err)
	}
	for _, w := range warnings {
		g.t.Logf("Caddyfile warning: %s", w.String())
	}
	g.t.Cleanup(func() { _ = caddy.Stop() }) // Stop is a no-op when nothing runs
	if err := caddy.Load(cfgJSON, true); err != nil {
		return err
	}
	g.waitReady()
	return nil
}

// stop stops Caddy (a full stop, as when the process ends).
func (g *gateway) stop() {
	g.t.Helper()
	if err := caddy.Stop(); err != nil {
		g.t.Fatalf("stopping Caddy: %v", err)
	}
	g.tr.CloseIdleConnections()
}

// waitReady waits until the gateway answers HTTP at all.
func (g *gateway) waitReady() {
	g.t.Helper()
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get(g.base + "/guest/leave")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("Caddy does not answer on %s: %v", g.base, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logs returns the JSON log lines Caddy wrote so far.
func (g *gateway) logs() string {
	b, err := os.ReadFile(g.logPath)
	if err != nil && !os.IsNotExist(err) {
		g.t.Fatalf("reading Caddy's log: %v", err)
	}
	return string(b)
}

// lockError matches a log line or message about a lock (Badger's directory lock,
// flock), but not words such as "block".
var lockError = regexp.MustCompile(`(?i)\b(lock|locked|locking|flock)\b|directory lock|already open`)

// lockLines returns the lines of s that mention a lock.
func lockLines(s string) []string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if lockError.MatchString(line) {
			out = append(out, line)
		}
	}
	return out
}

// ---- moderator API ----

// linkJSON is a link as the API shows it.
type linkJSON struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	URL       string     `json:"url"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	MaxClicks *int       `json:"max_clicks"`
	Clicks    int        `json:"clicks"`
	Active    bool       `json:"active"`
}

// roomJSON is a room as the API shows it.
type roomJSON struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Kind        string     `json:"kind"`
	Available   bool       `json:"available"`
	Admission   string     `json:"admission"`
	GuestAccess bool       `json:"guest_access"`
	Links       []linkJSON `json:"links"`
}

// apiAs calls the moderator API with the given bearer credential ("" sends none)
// and returns the status and body. body is sent as JSON unless it is a string,
// which is sent as is.
func (g *gateway) apiAs(cred, method, path string, body any) (int, []byte) {
	g.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			g.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, g.base+"/guest-admin"+path, r)
	if err != nil {
		g.t.Fatal(err)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := g.admin.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp.StatusCode, out
}

// api calls the moderator API with the API key.
func (g *gateway) api(method, path string, body any) (int, []byte) {
	g.t.Helper()
	return g.apiAs(apiKey, method, path, body)
}

// mustAPI calls the API and fails the test unless it answers want; the body is
// decoded into out if out is not nil.
func (g *gateway) mustAPI(want int, method, path string, body, out any) {
	g.t.Helper()
	status, b := g.api(method, path, body)
	if status != want {
		g.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			g.t.Fatalf("%s %s: decoding %s: %v", method, path, b, err)
		}
	}
}

// wantAPIError checks an API error answer: status, code and (if not empty) field.
func wantAPIError(t testing.TB, what string, status int, body []byte, wantStatus int, wantCode, wantField string) {
	t.Helper()
	var e admin.ErrorJSON
	if err := json.Unmarshal(body, &e); err != nil {
		t.Errorf("%s: body %q is not an API error: %v", what, body, err)
		return
	}
	if status != wantStatus || e.Error.Code != wantCode || e.Error.Field != wantField {
		t.Errorf("%s: got %d code=%q field=%q (%s), want %d code=%q field=%q",
			what, status, e.Error.Code, e.Error.Field, bytes.TrimSpace(body), wantStatus, wantCode, wantField)
	}
}

// putRoom creates or updates a room.
func (g *gateway) putRoom(id string, spec map[string]any) roomJSON {
	g.t.Helper()
	var r roomJSON
	status, b := g.api(http.MethodPut, "/api/rooms/"+id, spec)
	if status != http.StatusCreated && status != http.StatusOK {
		g.t.Fatalf("PUT room %s: status %d: %s", id, status, b)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		g.t.Fatalf("PUT room %s: %v", id, err)
	}
	return r
}

// setAccess switches guest access of a room.
func (g *gateway) setAccess(id string, on bool) {
	g.t.Helper()
	g.mustAPI(http.StatusOK, http.MethodPut, "/api/rooms/"+id+"/guest-access", map[string]any{"enabled": on}, nil)
}

// createLink creates a link (201) in a room.
func (g *gateway) createLink(room string, spec map[string]any) linkJSON {
	g.t.Helper()
	var l linkJSON
	g.mustAPI(http.StatusCreated, http.MethodPost, "/api/rooms/"+room+"/links", spec, &l)
	return l
}

// openRoomWithLink makes room id with guest access on and one link of spec.
func (g *gateway) openRoomWithLink(id string, spec map[string]any) linkJSON {
	g.t.Helper()
	g.putRoom(id, map[string]any{"name": "Room " + id})
	g.setAccess(id, true)
	return g.createLink(id, spec)
}

// link returns the link with id of a room, as the API lists it now.
func (g *gateway) link(room, id string) linkJSON {
	g.t.Helper()
	var links []linkJSON
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/"+room+"/links", nil, &links)
	for _, l := range links {
		if l.ID == id {
			return l
		}
	}
	g.t.Fatalf("room %s has no link %s (links: %+v)", room, id, links)
	return linkJSON{}
}

// clicks is the stored click count of a link.
func (g *gateway) clicks(room, id string) int {
	g.t.Helper()
	return g.link(room, id).Clicks
}

// linkPath is the path of a link URL (/guest/<token>).
func linkPath(t testing.TB, l linkJSON) string {
	t.Helper()
	u, err := url.Parse(l.URL)
	if err != nil || !strings.HasPrefix(u.Path, "/guest/") {
		t.Fatalf("link URL %q is not under /guest/", l.URL)
	}
	return u.Path
}

// ---- guests ----

// browser is one guest's browser: its own cookie jar, redirects not followed.
type browser struct {
	t      testing.TB
	g      *gateway
	jar    *cookiejar.Jar
	client *http.Client
}

func (g *gateway) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		g.t.Fatal(err)
	}
	return &browser{
		t: g.t, g: g, jar: jar,
		client: &http.Client{
			Transport:     g.tr,
			Jar:           jar,
			Timeout:       20 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// page is an answer as a browser sees it.
type page struct {
	Status int
	Header http.Header
	Body   string
}

// reason is the data-reason of a message page, "" if there is none.
func (p page) reason() string {
	m := reasonRE.FindStringSubmatch(p.Body)
	if m == nil {
		return ""
	}
	return m[1]
}

// csrf is the value of the entry form's hidden csrf field, "" if there is none.
func (p page) csrf() string {
	m := csrfRE.FindStringSubmatch(p.Body)
	if m == nil {
		return ""
	}
	return m[1]
}

// sessionCookie returns the Set-Cookie of the session cookie in p, or nil.
func (p page) sessionCookie() *http.Cookie {
	for _, c := range (&http.Response{Header: p.Header}).Cookies() {
		if c.Name == "guestgate" {
			return c
		}
	}
	return nil
}

var (
	reasonRE = regexp.MustCompile(`<body[^>]*\sdata-reason="([^"]*)"`)
	csrfRE   = regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]*)">`)
)

// do sends req from the browser and reads the whole answer.
func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

// request builds a request to path (a path on the gateway, sent as is).
func (b *browser) request(method, path string, body io.Reader) *http.Request {
	b.t.Helper()
	req, err := http.NewRequest(method, b.g.base+path, body)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	return req
}

// get fetches path.
func (b *browser) get(path string) page {
	b.t.Helper()
	return b.do(b.request(http.MethodGet, path, nil))
}

// post submits the entry form of the link at path with the given fields.
func (b *browser) post(path string, form url.Values, header http.Header) page {
	b.t.Helper()
	req := b.request(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	return b.do(req)
}

// redeem opens the link at path and submits the entry form with name and email,
// as a browser does; it returns the answer to the POST.
func (b *browser) redeem(path, name, email string) page {
	b.t.Helper()
	entry := b.get(path)
	if entry.Status != http.StatusOK || entry.csrf() == "" {
		b.t.Fatalf("GET %s: status %d (reason %q), want 200 with a csrf field", path, entry.Status, entry.reason())
	}
	return b.post(path, url.Values{"name": {name}, "email": {email}, "csrf": {entry.csrf()}}, nil)
}

// mustRedeem redeems and fails the test unless the answer is a 303 to the room
// with the session cookie.
func (b *browser) mustRedeem(path, name, email, room string) page {
	b.t.Helper()
	p := b.redeem(path, name, email)
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/rooms/"+room || p.sessionCookie() == nil {
		b.t.Fatalf("redeeming %s: status %d Location %q session cookie %v (reason %q), want 303 to /rooms/%s with the guestgate cookie",
			path, p.Status, p.Header.Get("Location"), p.sessionCookie() != nil, p.reason(), room)
	}
	return p
}

// leave leaves the session as a browser does: GET /guest/leave shows a page
// with a "Leave session" button, whose form posts its csrf field. It returns
// the answer to the POST.
func (b *browser) leave() page {
	b.t.Helper()
	p := b.get("/guest/leave")
	if p.Status != http.StatusOK || p.csrf() == "" {
		b.t.Fatalf("GET /guest/leave: status %d (reason %q), want 200 with a csrf field", p.Status, p.reason())
	}
	return b.post("/guest/leave", url.Values{"csrf": {p.csrf()}}, nil)
}

// sessionValue is the browser's current session cookie value, "" if none.
func (b *browser) sessionValue() string {
	u, _ := url.Parse(b.g.base + "/")
	for _, c := range b.jar.Cookies(u) {
		if c.Name == "guestgate" {
			return c.Value
		}
	}
	return ""
}

// wantPage checks status and data-reason of a page ("" reason: not checked).
func wantPage(t testing.TB, what string, p page, status int, reason string) {
	t.Helper()
	if p.Status != status || (reason != "" && p.reason() != reason) {
		t.Errorf("%s: got %d data-reason=%q, want %d data-reason=%q", what, p.Status, p.reason(), status, reason)
	}
}

// ---- raw requests ----

// rawGet sends "GET <target> HTTP/1.1" on a new connection exactly as given (no
// client-side cleaning) with extra header lines, and returns the answer.
func rawGet(t testing.TB, addr, target string, headerLines ...string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", target, addr)
	for _, h := range headerLines {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatalf("writing to %s: %v", addr, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %q: reading the answer: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

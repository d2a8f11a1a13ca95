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
	"crypto/tls"
	"encoding/json"
	"expvar"
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

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/testcaddy"
	"github.com/guestgate/guestgate/internal/testcaddy/inproc"
	badgerstore "github.com/guestgate/guestgate/store/badger"
)

// apiKey is the API key of every test config (at least 16 characters).
const apiKey = "integration-test-api-key-0123456789"

func TestMain(m *testing.M) { testcaddy.Main(m, printAPITally) }

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

// caddyfile is the Caddyfile of every test: the moderator API under
// /guest-admin/, the gateway and the upstream behind it. A test's config
// fills in what differs.
var caddyfile = testcaddy.NewCaddyfile(`{
	admin {{or .Admin "off"}}
	persist_config off
	storage file_system {{.DataDir}}
	skip_install_trust
	{{- if .Order}}
	order guest_gateway before reverse_proxy
	{{- end}}
	{{- lines 1 .Global}}
	{{- with .LogFile}}
	log {
		output file {{.}}
		format json
		{{- with $.LogLevel}}
		level {{.}}
		{{- end}}
	}
	{{- end}}
}

{{if .HTTPS}}https{{else}}http{{end}}://127.0.0.1:{{.Port}} {
	{{- if .HTTPS}}
	tls internal
	{{- end}}
	bind 127.0.0.1
	handle_path /guest-admin/* {
		guest_admin {
			{{.Store}}
			api_key {{.APIKey}}
			link_base http://127.0.0.1:{{.Port}}/guest/
			{{- lines 3 .AdminExtra}}
		}
	}
	guest_gateway {
		{{.Store}}
		{{- with .Allow}}
		allow {{.}}
		{{- end}}
		{{- with .Unauthenticated}}
		unauthenticated {{.}}
		{{- end}}
		{{- lines 2 .GatewayExtra}}
	}
	reverse_proxy {{.Upstream}}
	{{- if .ProxyExtra}} {
		{{- lines 2 .ProxyExtra}}
	}
	{{- end}}
}
`)

// config is what differs between the Caddyfiles of the tests. The lists hold
// lines of Caddyfile; a block is one entry, written as a raw string.
type config struct {
	// Admin is the admin global option; empty means "off".
	Admin string
	// Order adds "order guest_gateway before reverse_proxy" (docs/DESIGN.md
	// section 4) to the global options.
	Order bool
	// Global are more global options.
	Global []string
	// LogLevel is the level of Caddy's log; empty is Caddy's default (INFO).
	LogLevel string
	// HTTPS serves the site over HTTPS (tls internal: HTTP/1.1, HTTP/2 and
	// HTTP/3 on one port) instead of HTTP; the gateway's clients trust the
	// test's CA.
	HTTPS bool
	// DefaultStore leaves out the store subdirectives (both handlers then use
	// "guestgate" under Caddy's data directory).
	DefaultStore bool
	// AdminExtra are more subdirectives of guest_admin (room, max_links, ...).
	AdminExtra []string
	// Allow is the allow subdirective's patterns; empty uses the default
	// (/rooms/{room} /rooms/{room}/*).
	Allow string
	// Unauthenticated is "deny", "pass" or empty (the default).
	Unauthenticated string
	// GatewayExtra are more subdirectives of guest_gateway.
	GatewayExtra []string
	// ProxyExtra are lines inside the reverse_proxy block (header_up, say).
	ProxyExtra []string
}

// gateway is a Caddy running guestgate: in this process (load), or run by a
// test as the built binary on a Caddyfile of writeCaddyfile.
type gateway struct {
	t        testing.TB
	port     int
	base     string // http://127.0.0.1:<port>, https:// once a config had HTTPS
	https    bool   // a config with HTTPS was loaded
	storeDir string
	dataDir  string
	logPath  string
	up       *upstream
	tr       *http.Transport
	admin    *http.Client
}

// newGateway prepares the directories, the upstream and a port; load starts
// Caddy.
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
	g.port = testcaddy.FreePort(t)
	g.base = fmt.Sprintf("http://127.0.0.1:%d", g.port)
	g.admin = checkedClient(t, &http.Client{Transport: g.tr, Timeout: 20 * time.Second})
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

// addr is host:port of the gateway.
func (g *gateway) addr() string { return fmt.Sprintf("127.0.0.1:%d", g.port) }

// openStore opens the gateway's store directly, while no Caddy holds it, and
// returns a Service over it with the clock now, for what the API cannot make
// (links made in the past, say), and the function that closes the store,
// which the test calls before it loads a config.
func (g *gateway) openStore(now func() time.Time) (*guestlink.Service, func()) {
	g.t.Helper()
	s, err := badgerstore.Open(g.storeDir, badgerstore.Options{})
	if err != nil {
		g.t.Fatalf("opening the store directly: %v", err)
	}
	return &guestlink.Service{Store: s, Now: now}, func() {
		g.t.Helper()
		if err := s.Close(); err != nil {
			g.t.Fatalf("closing the store: %v", err)
		}
	}
}

// caddyfile is the Caddyfile of cfg for Caddy in this process, which logs to
// g.logPath (logs).
func (g *gateway) caddyfile(cfg config) string {
	return g.render(cfg, g.logPath)
}

// writeCaddyfile writes the Caddyfile of cfg for the built binary to path;
// the process logs to its stderr (testcaddy.Process.Log).
func (g *gateway) writeCaddyfile(path string, cfg config) {
	g.t.Helper()
	if err := os.WriteFile(path, []byte(g.render(cfg, "")), 0o600); err != nil {
		g.t.Fatal(err)
	}
}

func (g *gateway) render(cfg config, logFile string) string {
	store := "store " + g.storeDir
	if cfg.DefaultStore {
		store = "# default store"
	}
	return caddyfile.Render(struct {
		config
		Port                                      int
		DataDir, Store, Upstream, APIKey, LogFile string
	}{cfg, g.port, g.dataDir, store, g.up.addr(), apiKey, logFile})
}

// load loads cfg into Caddy (a start, or a reload when a config is already
// running) and waits until it answers; Caddy is stopped when the test ends.
func (g *gateway) load(cfg config) {
	g.t.Helper()
	if err := g.tryLoad(cfg); err != nil {
		g.t.Fatalf("loading the config: %v\nCaddyfile:\n%s", err, g.caddyfile(cfg))
	}
}

// loadEdited is load of cfg's Caddyfile as edit changes it (a file_server in
// place of the reverse proxy, a handler before the gateway), for the few tests
// whose site the config cannot say.
func (g *gateway) loadEdited(cfg config, edit func(caddyfile string) string) {
	g.t.Helper()
	text := edit(g.caddyfile(cfg))
	if err := g.loadText(cfg, text); err != nil {
		g.t.Fatalf("loading the config: %v\nCaddyfile:\n%s", err, text)
	}
}

// tryLoad is load that returns the error of a config Caddy refuses.
func (g *gateway) tryLoad(cfg config) error {
	g.t.Helper()
	return g.loadText(cfg, g.caddyfile(cfg))
}

// loadText loads text, the Caddyfile of cfg as it is or edited.
func (g *gateway) loadText(cfg config, text string) error {
	g.t.Helper()
	if err := inproc.Load(g.t, text); err != nil {
		return err
	}
	inproc.WaitOneListener(g.t, g.addr())
	// The first config with HTTPS moves the gateway's clients to HTTPS, with
	// the test's CA (whose root Caddy wrote while loading); they are set
	// before any request of them runs, so that no request races the change.
	switch {
	case cfg.HTTPS && !g.https:
		g.https = true
		g.base = fmt.Sprintf("https://127.0.0.1:%d", g.port)
		g.tr.TLSClientConfig = testcaddy.TLSConfig(g.t, g.dataDir)
	case !cfg.HTTPS && g.https:
		g.t.Fatal("a gateway that served HTTPS cannot go back to HTTP: its clients speak HTTPS")
	}
	var tlsConfig *tls.Config
	if g.https {
		tlsConfig = g.tr.TLSClientConfig
	}
	testcaddy.WaitReady(g.t, g.base+"/guest/leave", tlsConfig)
	// A keep-alive connection to the server of the config before may be
	// closed by its shutdown just as a request takes it (an EOF): the
	// requests after a load start on connections of their own.
	g.tr.CloseIdleConnections()
	return nil
}

// stop stops Caddy (a full stop, as when the process ends).
func (g *gateway) stop() {
	g.t.Helper()
	if err := inproc.Stop(); err != nil {
		g.t.Fatalf("stopping Caddy: %v", err)
	}
	g.tr.CloseIdleConnections()
}

// logs returns the JSON log lines Caddy wrote so far.
func (g *gateway) logs() string {
	b, err := os.ReadFile(g.logPath)
	if err != nil && !os.IsNotExist(err) {
		g.t.Fatalf("reading Caddy's log: %v", err)
	}
	return string(b)
}

// badgerCount is one of Badger's expvar counters, global to the process and
// summed over every Badger database of this process: badger_get_num_user
// (reads) or badger_put_num_user (entries written). A test that reads one
// has only the gateway's store open.
func badgerCount(t testing.TB, metric string) int64 {
	t.Helper()
	v, ok := expvar.Get(metric).(*expvar.Int)
	if !ok {
		t.Fatalf("Badger's expvar metric %s is missing: a count of it proves nothing", metric)
	}
	return v.Value()
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

// apiAs calls the moderator API with the given bearer credential ("" sends none)
// and returns the status and body. body is sent as JSON unless it is a string,
// which is sent as is.
func (g *gateway) apiAs(cred, method, path string, body any) (int, []byte) {
	g.t.Helper()
	var text string
	switch b := body.(type) {
	case nil:
	case string:
		text = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			g.t.Fatal(err)
		}
		text = string(j)
	}
	status, _, out := apiFrom(g.t, g, g.admin, "", cred, method, path, text)
	return status, out
}

// apiFrom calls the moderator API from client with the bearer credential cred
// ("" sends none) and, if xff is not empty, X-Forwarded-For: xff. It returns
// the status, the header and the body.
func apiFrom(t testing.TB, g *gateway, client *http.Client, xff, cred, method, path, body string) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.base+"/guest-admin"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := checkedClient(t, client).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
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

// apiAnswer is an answer of the API kept to be checked later.
type apiAnswer struct {
	status int
	body   []byte
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
func (g *gateway) putRoom(id string, spec map[string]any) admin.RoomJSON {
	g.t.Helper()
	var r admin.RoomJSON
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
func (g *gateway) createLink(room string, spec map[string]any) admin.LinkJSON {
	g.t.Helper()
	var l admin.LinkJSON
	g.mustAPI(http.StatusCreated, http.MethodPost, "/api/rooms/"+room+"/links", spec, &l)
	return l
}

// openRoomWithLink makes room id with guest access on and one link of spec.
func (g *gateway) openRoomWithLink(id string, spec map[string]any) admin.LinkJSON {
	g.t.Helper()
	g.putRoom(id, map[string]any{"name": "Room " + id})
	g.setAccess(id, true)
	return g.createLink(id, spec)
}

// guestInside makes room id with guest access on and one link of spec, and
// returns the link and the browser of a guest, name and email, who redeemed
// it and is inside the room.
func (g *gateway) guestInside(id string, spec map[string]any, name, email string) (admin.LinkJSON, *browser) {
	g.t.Helper()
	l := g.openRoomWithLink(id, spec)
	b := g.browser()
	b.mustRedeem(linkPath(g.t, l), name, email, id)
	return l, b
}

// link returns the link with id of a room, as the API lists it now.
func (g *gateway) link(room, id string) admin.LinkJSON {
	g.t.Helper()
	var links []admin.LinkJSON
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/"+room+"/links", nil, &links)
	for _, l := range links {
		if l.ID == id {
			return l
		}
	}
	g.t.Fatalf("room %s has no link %s (links: %+v)", room, id, links)
	return admin.LinkJSON{}
}

// clicks is the stored click count of a link.
func (g *gateway) clicks(room, id string) int {
	g.t.Helper()
	return g.link(room, id).Clicks
}

// linkPath is the path of a link URL (/guest/<token>).
func linkPath(t testing.TB, l admin.LinkJSON) string {
	t.Helper()
	return guestPath(t, "link", l.URL)
}

// guestPath is the path of the URL of a link or an invitation (what), which
// must be under /guest/.
func guestPath(t testing.TB, what, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || !strings.HasPrefix(u.Path, "/guest/") {
		t.Fatalf("%s URL %q is not under /guest/", what, raw)
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

// reaches fetches path and reports whether the answer came from the
// upstream: 200, and one more request counted there.
func (b *browser) reaches(path string) (page, bool) {
	b.t.Helper()
	before := b.g.up.count()
	p := b.get(path)
	return p, p.Status == http.StatusOK && b.g.up.count() == before+1
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

// rawRequest sends one request on a new connection exactly as given (method,
// target and header lines are not cleaned by any client) and reads the
// answer. A body gets its Content-Length, as does any POST, unless a line
// sets Transfer-Encoding: then body goes as the chunks it holds.
func rawRequest(t testing.TB, addr, method, target string, lines []string, body string) page {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, addr)
	chunked := false
	for _, h := range lines {
		b.WriteString(h + "\r\n")
		chunked = chunked || strings.HasPrefix(strings.ToLower(h), "transfer-encoding:")
	}
	if !chunked && (body != "" || method == http.MethodPost) {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatalf("%s %q: writing: %v", method, target, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %q: reading the answer: %v", method, target, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(out)}
}

// rawGet is rawRequest of a GET with header lines.
func rawGet(t testing.TB, addr, target string, lines ...string) page {
	t.Helper()
	return rawRequest(t, addr, http.MethodGet, target, lines, "")
}

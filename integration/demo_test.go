package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/internal/testcaddy"
)

// The demo's secrets, as Caddyfile.example and the README publish them.
const (
	demoAPIKey       = "demo-api-key-change-me"
	demoModeratorKey = "demo-moderator-key-change-me-0123456789"
)

// TestDemoCaddyfile runs the README's demo: Caddyfile.example itself, as the
// built binary, with only its ports, store and the backend's directory moved
// so that it runs beside other tests. It protects what a newcomer meets: the
// demo listens on loopback only (its keys are public), /guest-admin without
// the slash leads to the Manage page with its query, the README's curl walk
// works with the demo key, and "caddy guestgate token" mints, with the demo's
// moderator key, a link to the Manage page whose token the moderator API
// takes for the room demo, and for nothing an API key alone may do.
func TestDemoCaddyfile(t *testing.T) {
	bin := testcaddy.Binary(t)
	dir := t.TempDir()
	env := append(testcaddy.Env(dir), "GUESTGATE_STORE="+filepath.Join(dir, "store"))
	example, err := os.ReadFile(filepath.Join("..", "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}

	// The example as it is: every listener on loopback.
	orig := filepath.Join(dir, "Caddyfile.example")
	if err := os.WriteFile(orig, example, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "adapt", "--config", orig).Output()
	if err != nil {
		t.Fatalf("caddy adapt Caddyfile.example: %v", err)
	}
	var cfg struct {
		Admin struct {
			Listen string `json:"listen"`
		} `json:"admin"`
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string `json:"listen"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("caddy adapt: %v\n%s", err, out)
	}
	if len(cfg.Apps.HTTP.Servers) != 2 {
		t.Errorf("Caddyfile.example has %d servers, want the gateway and the demo backend", len(cfg.Apps.HTTP.Servers))
	}
	for name, srv := range cfg.Apps.HTTP.Servers {
		for _, l := range srv.Listen {
			if host, _, err := net.SplitHostPort(l); err != nil || host != "127.0.0.1" {
				t.Errorf("server %s listens on %q, want 127.0.0.1 only", name, l)
			}
		}
		if len(srv.Listen) == 0 {
			t.Errorf("server %s listens on every interface", name)
		}
	}
	if cfg.Admin.Listen != "localhost:2019" {
		t.Errorf("admin endpoint on %q, want localhost:2019", cfg.Admin.Listen)
	}

	// The same example on ports of this test.
	ports, err := testcaddy.Ports(3)
	if err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Abs(filepath.Join("..", "examples", "room"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(example)
	for _, r := range [][2]string{
		{"localhost:8080", fmt.Sprintf("localhost:%d", ports[0])},
		{":9000", fmt.Sprintf(":%d", ports[1])},
		{"localhost:2019", fmt.Sprintf("localhost:%d", ports[2])},
		{"root * examples/room", "root * " + examples},
	} {
		if !strings.Contains(text, r[0]) {
			t.Fatalf("Caddyfile.example no longer has %q; update this test", r[0])
		}
		text = strings.ReplaceAll(text, r[0], r[1])
	}
	moved := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(moved, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://localhost:%d", ports[0])
	proc, _ := testcaddy.Run(t, bin, moved, env, base+"/guest-admin/")
	defer func() {
		if t.Failed() {
			t.Logf("caddy's output:\n%s", proc.Log())
		}
	}()
	client := checkedClient(t, &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }})
	call := func(method, path, auth, body string) (int, http.Header, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}

	// Nobody on the network reaches it: on the machine's other addresses
	// nothing listens.
	addrs, _ := net.InterfaceAddrs()
	others := 0
	for _, a := range addrs {
		ip, ok := a.(*net.IPNet)
		if !ok || ip.IP.IsLoopback() || ip.IP.IsLinkLocalUnicast() {
			continue
		}
		others++
		hostPort := net.JoinHostPort(ip.IP.String(), fmt.Sprint(ports[0]))
		if c, err := net.DialTimeout("tcp", hostPort, 2*time.Second); err == nil {
			c.Close()
			t.Errorf("the demo answers on %s, an address other machines may reach", hostPort)
		}
	}
	t.Logf("checked %d non-loopback addresses", others)

	// The Manage page's address without its slash.
	for path, want := range map[string]string{
		"/guest-admin?room=demo": "/guest-admin/?room=demo",
		"/guest-admin":           "/guest-admin/",
	} {
		if status, h, _ := call(http.MethodGet, path, "", ""); status != http.StatusPermanentRedirect || h.Get("Location") != want {
			t.Errorf("GET %s: %d to %q, want 308 to %s", path, status, h.Get("Location"), want)
		}
	}

	// The README's curl walk with the demo key.
	if status, _, b := call(http.MethodPut, "/guest-admin/api/rooms/demo/guest-access", demoAPIKey, `{"enabled": true}`); status != http.StatusOK {
		t.Fatalf("switching guest access on: %d %s", status, b)
	}
	status, _, b := call(http.MethodPost, "/guest-admin/api/rooms/demo/links", demoAPIKey, `{"name": "Audience", "max_clicks": 5, "duration_days": 7}`)
	var l admin.LinkJSON
	if status != http.StatusCreated || json.Unmarshal(b, &l) != nil || !strings.HasPrefix(l.URL, base+"/guest/") {
		t.Fatalf("creating a link: %d %s", status, b)
	}
	if status, _, _ := call(http.MethodGet, strings.TrimPrefix(l.URL, base), "", ""); status != http.StatusOK {
		t.Errorf("the link's entry page: %d", status)
	}

	// The demo's roles: with a viewer link and a speaker link, the viewer
	// reads and chats, the speaker also reaches the stage, and the demo room
	// shows each the role it received.
	status, _, b = call(http.MethodPost, "/guest-admin/api/rooms/demo/links", demoAPIKey, `{"name": "Panel", "role": "speaker"}`)
	var sl admin.LinkJSON
	if status != http.StatusCreated || json.Unmarshal(b, &sl) != nil || sl.Role != "speaker" {
		t.Fatalf("creating a speaker link: %d %s", status, b)
	}
	site := &gateway{t: t, base: base, tr: &http.Transport{}}
	defer site.tr.CloseIdleConnections()
	viewer, speaker := site.browser(), site.browser()
	viewer.mustRedeem(strings.TrimPrefix(l.URL, base), "Vera", "vera@example.com", "demo")
	speaker.mustRedeem(strings.TrimPrefix(sl.URL, base), "Sam", "sam@example.com", "demo")
	chat := func(b *browser) page {
		req := b.request(http.MethodPost, "/rooms/demo/chat", strings.NewReader("hello, room"))
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		return b.do(req)
	}
	for _, tc := range []struct {
		who     string
		b       *browser
		do      func(*browser) page
		status  int
		content string
	}{
		{"viewer's room page", viewer, func(b *browser) page { return b.get("/rooms/demo") }, http.StatusOK, `<strong id="guest-role">viewer</strong>`},
		{"viewer's chat", viewer, chat, http.StatusOK, "hello, room"},
		{"viewer on the stage", viewer, func(b *browser) page { return b.get("/stage/demo/") }, http.StatusForbidden, `data-reason="not-allowed"`},
		{"viewer posting to the room", viewer, func(b *browser) page {
			return b.post("/rooms/demo", url.Values{"x": {"1"}}, nil)
		}, http.StatusForbidden, `data-reason="not-allowed"`},
		{"speaker's room page", speaker, func(b *browser) page { return b.get("/rooms/demo") }, http.StatusOK, `<strong id="guest-role">speaker</strong>`},
		{"speaker's chat", speaker, chat, http.StatusOK, "hello, room"},
		{"speaker on the stage", speaker, func(b *browser) page { return b.get("/stage/demo/") }, http.StatusOK, "Only speakers reach this page"},
	} {
		p := tc.do(tc.b)
		if p.Status != tc.status || !strings.Contains(p.Body, tc.content) {
			t.Errorf("%s: %d, want %d with %q:\n%.400s", tc.who, p.Status, tc.status, tc.content, p.Body)
		}
	}
	if p := chat(speaker); p.Header.Get("X-Demo-Role") != "speaker" {
		t.Errorf("the demo chat answered the speaker with X-Demo-Role %q", p.Header.Get("X-Demo-Role"))
	}

	// A moderator token, minted as the README says.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "guestgate", "token", "--room", "demo", "--key", demoModeratorKey, "--url", base+"/guest-admin/")
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("caddy guestgate token: %v\n%s", err, stderr.String())
	}
	link, err := url.Parse(strings.TrimSpace(stdout.String()))
	if err != nil || link.Path != "/guest-admin/" || link.Query().Get("room") != "demo" || !strings.HasPrefix(link.Fragment, "token=") {
		t.Fatalf("caddy guestgate token printed %q, want %s/guest-admin/?room=demo#token=...", stdout.String(), base)
	}
	tok := strings.TrimPrefix(link.Fragment, "token=")
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{http.MethodGet, "/guest-admin/api/me", "", http.StatusOK},
		{http.MethodGet, "/guest-admin/api/rooms/demo/links", "", http.StatusOK},
		{http.MethodGet, "/guest-admin/api/rooms/other/links", "", http.StatusForbidden},
		{http.MethodPut, "/guest-admin/api/rooms/demo", `{"name": "Renamed"}`, http.StatusForbidden},
	} {
		if status, _, b := call(tc.method, tc.path, tok, tc.body); status != tc.want {
			t.Errorf("the minted token: %s %s: %d, want %d: %s", tc.method, tc.path, status, tc.want, b)
		}
	}
	_, _, b = call(http.MethodGet, "/guest-admin/api/me", tok, "")
	var me struct {
		Kind  string   `json:"kind"`
		Rooms []string `json:"rooms"`
	}
	if json.Unmarshal(b, &me) != nil || me.Kind != "moderator" || len(me.Rooms) != 1 || me.Rooms[0] != "demo" {
		t.Errorf("GET /api/me with the minted token: %s, want a moderator of demo", b)
	}
	if err := proc.Stop(20 * time.Second); err != nil {
		t.Error(err)
	}
}

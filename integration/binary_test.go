package integration

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/internal/testcaddy"
)

// TestBinaryRunReloadRestart builds the real binary, runs it as a process with an
// admin endpoint, redeems a link, reloads with "caddy reload", stops it with
// SIGTERM and starts it again on the same store: state and guest session survive
// and no lock error is printed.
func TestBinaryRunReloadRestart(t *testing.T) {
	bin := testcaddy.Binary(t)
	dir := t.TempDir()
	env := testcaddy.Env(dir)

	g := newGateway(t) // run as a process below, not in this one
	adminAddr := fmt.Sprintf("127.0.0.1:%d", testcaddy.FreePort(t, g.port))
	cfg1, cfg2 := filepath.Join(dir, "Caddyfile"), filepath.Join(dir, "Caddyfile.changed")
	g.writeCaddyfile(cfg1, config{Admin: adminAddr})
	g.writeCaddyfile(cfg2, config{Admin: adminAddr, Allow: "/rooms/{room} /rooms/{room}/* /static/*"})

	proc, took := testcaddy.Run(t, bin, cfg1, env, g.base+"/")
	t.Logf("caddy run: first answer %v after start", took.Round(time.Millisecond))

	// A room, a link, a guest inside.
	l, guest := g.guestInside("demo", map[string]any{"name": "Binary", "max_clicks": 5}, "Zoë Ada", "zoe@example.com")
	inside := func(what string) {
		t.Helper()
		if p, ok := guest.reaches("/rooms/demo"); !ok {
			t.Fatalf("%s: the guest's room answers %d (reason %q), want 200 from the upstream", what, p.Status, p.reason())
		}
		if name := g.up.last(t).Header.Get("X-Guest-Name"); name != "Zo%C3%AB%20Ada" {
			t.Errorf("%s: upstream X-Guest-Name = %q", what, name)
		}
	}
	inside("before the reload")
	wantPage(t, "static before the reload", guest.get("/static/app.css"), http.StatusForbidden, "not-allowed")
	if n := g.clicks("demo", l.ID); n != 1 {
		t.Fatalf("clicks = %d, want 1", n)
	}

	// caddy reload through the admin endpoint.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reload := exec.CommandContext(ctx, bin, "reload", "--config", cfg2, "--adapter", "caddyfile", "--address", adminAddr)
	reload.Env = env
	start := time.Now()
	if out, err := reload.CombinedOutput(); err != nil {
		t.Fatalf("caddy reload: %v\n%s\nserver:\n%s", err, out, proc.Log())
	}
	t.Logf("caddy reload took %v", time.Since(start).Round(time.Millisecond))

	if p := guest.get("/static/app.css"); p.Status != http.StatusOK {
		t.Errorf("static after the reload: %d (reason %q), want 200: the reload did not take effect", p.Status, p.reason())
	}
	inside("after the reload")
	if n := g.clicks("demo", l.ID); n != 1 {
		t.Errorf("clicks after the reload = %d, want 1", n)
	}
	g.browser().mustRedeem(linkPath(t, l), "Bo", "bo@example.com", "demo")
	if n := g.clicks("demo", l.ID); n != 2 {
		t.Errorf("clicks after a redemption following the reload = %d, want 2", n)
	}
	if !strings.Contains(proc.Log(), "load") {
		t.Errorf("caddy's stderr shows no sign of the reload; the lock check would prove nothing:\n%s", proc.Log())
	}
	if lines := lockLines(proc.Log()); len(lines) > 0 {
		t.Errorf("caddy printed lock errors around the reload:\n%s", strings.Join(lines, "\n"))
	}

	// SIGTERM, then start again on the same store.
	if err := proc.Stop(20 * time.Second); err != nil {
		t.Fatalf("%v\n%s", err, proc.Log())
	}
	if lines := lockLines(proc.Log()); len(lines) > 0 {
		t.Errorf("caddy printed lock errors while stopping:\n%s", strings.Join(lines, "\n"))
	}
	g.tr.CloseIdleConnections()
	proc2, took := testcaddy.Run(t, bin, cfg2, env, g.base+"/")
	t.Logf("caddy run (restart): first answer %v after start", took.Round(time.Millisecond))

	var r admin.RoomJSON
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/demo", nil, &r)
	if !r.GuestAccess || len(r.Links) != 1 || r.Links[0].ID != l.ID || r.Links[0].Clicks != 2 {
		t.Errorf("after the restart the room is %+v, want guest access on and link %s with 2 clicks", r, l.ID)
	}
	inside("after the restart")
	g.browser().mustRedeem(linkPath(t, l), "Cy", "cy@example.com", "demo")
	if n := g.clicks("demo", l.ID); n != 3 {
		t.Errorf("clicks after a redemption following the restart = %d, want 3", n)
	}
	if lines := lockLines(proc2.Log()); len(lines) > 0 {
		t.Errorf("caddy printed lock errors after the restart:\n%s", strings.Join(lines, "\n"))
	}
	if err := proc2.Stop(20 * time.Second); err != nil {
		t.Fatalf("%v\n%s", err, proc2.Log())
	}
	// Link and session tokens are never logged (STYLE).
	for _, out := range []string{proc.Log(), proc2.Log()} {
		if strings.Contains(out, strings.TrimPrefix(linkPath(t, l), "/guest/")) || strings.Contains(out, guest.sessionValue()) {
			t.Errorf("caddy's output holds a link or session token")
		}
	}
}

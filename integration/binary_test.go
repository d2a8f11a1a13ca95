package integration

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a process writing and a test reading.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// caddyProcess is the built caddy binary running as a child process.
type caddyProcess struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's result, valid after done
}

// buildCaddy builds ./cmd/caddy of this module into dir and returns its path.
func buildCaddy(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD = %q: not inside the module", gomod)
	}
	bin := filepath.Join(dir, "caddy")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/caddy")
	build.Dir = filepath.Dir(gomod)
	build.Env = origEnv
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/caddy: %v\n%s", err, out)
	}
	t.Logf("built %s in %v", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// startCaddy runs "caddy run" on the Caddyfile at path, waits for the first HTTP
// answer from base and returns the process with the time that took. The process
// is killed when the test ends if it still runs.
func startCaddy(t *testing.T, bin, path, base string, env []string) (*caddyProcess, time.Duration) {
	t.Helper()
	p := &caddyProcess{stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	p.cmd.Env = env
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting caddy: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Errorf("caddy (pid %d) did not exit after SIGKILL", p.cmd.Process.Pid)
			}
		}
	})

	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			return p, time.Since(start)
		}
		select {
		case <-p.done:
			t.Fatalf("caddy exited before answering: %v\n%s", p.err, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy gave no answer on %s within 30s: %v\n%s", base, err, p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// terminate sends SIGTERM and waits (bounded) for the process to exit.
func (p *caddyProcess) terminate(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("caddy did not exit within 20s of SIGTERM\n%s", p.stderr.String())
	}
	if p.err != nil {
		t.Errorf("caddy exited after SIGTERM with %v", p.err)
	}
}

// TestBinaryRunReloadRestart builds the real binary, runs it as a process with an
// admin endpoint, redeems a link, reloads with "caddy reload", stops it with
// SIGTERM and starts it again on the same store: state and guest session survive
// and no lock error is printed.
func TestBinaryRunReloadRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the caddy binary")
	}
	dir := t.TempDir()
	bin := buildCaddy(t, dir)

	g := newGateway(t) // run as a process below, not in this one
	port, adminPort := g.port, freePort(t)
	for adminPort == port {
		adminPort = freePort(t)
	}
	adminAddr := fmt.Sprintf("127.0.0.1:%d", adminPort)

	write := func(name string, cfg config) string {
		t.Helper()
		path := filepath.Join(dir, name)
		text := renderCaddyfile(cfg, port, g.storeDir, g.dataDir, g.up.addr(), "")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cfg1 := write("Caddyfile", config{Admin: adminAddr})
	cfg2 := write("Caddyfile.changed", config{Admin: adminAddr, Allow: "/rooms/{room} /rooms/{room}/* /static/*"})
	env := append(append([]string(nil), origEnv...),
		"XDG_DATA_HOME="+filepath.Join(dir, "xdg-data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "xdg-config"),
	)

	proc, took := startCaddy(t, bin, cfg1, g.base, env)
	t.Logf("caddy run: first answer %v after start", took.Round(time.Millisecond))

	// A room, a link, a guest inside.
	l := g.openRoomWithLink("demo", map[string]any{"name": "Binary", "max_clicks": 5})
	guest := g.browser()
	guest.mustRedeem(linkPath(t, l), "Zoë Ada", "zoe@example.com", "demo")
	inside := func(what string) {
		t.Helper()
		before := g.up.count()
		p := guest.get("/rooms/demo")
		if p.Status != http.StatusOK || g.up.count() != before+1 {
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
		t.Fatalf("caddy reload: %v\n%s\nserver:\n%s", err, out, proc.stderr.String())
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
	if !strings.Contains(proc.stderr.String(), "load") {
		t.Errorf("caddy's stderr shows no sign of the reload; the lock check would prove nothing:\n%s", proc.stderr.String())
	}
	if lines := lockLines(proc.stderr.String()); len(lines) > 0 {
		t.Errorf("caddy printed lock errors around the reload:\n%s", strings.Join(lines, "\n"))
	}

	// SIGTERM, then start again on the same store.
	proc.terminate(t)
	if lines := lockLines(proc.stderr.String()); len(lines) > 0 {
		t.Errorf("caddy printed lock errors while stopping:\n%s", strings.Join(lines, "\n"))
	}
	g.tr.CloseIdleConnections()
	proc2, took := startCaddy(t, bin, cfg2, g.base, env)
	t.Logf("caddy run (restart): first answer %v after start", took.Round(time.Millisecond))

	var r roomJSON
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/demo", nil, &r)
	if !r.GuestAccess || len(r.Links) != 1 || r.Links[0].ID != l.ID || r.Links[0].Clicks != 2 {
		t.Errorf("after the restart the room is %+v, want guest access on and link %s with 2 clicks", r, l.ID)
	}
	inside("after the restart")
	g.browser().mustRedeem(linkPath(t, l), "Cy", "cy@example.com", "demo")
	if n := g.clicks("demo", l.ID); n != 3 {
		t.Errorf("clicks after a redemption following the restart = %d, want 3", n)
	}
	if lines := lockLines(proc2.stderr.String()); len(lines) > 0 {
		t.Errorf("caddy printed lock errors after the restart:\n%s", strings.Join(lines, "\n"))
	}
	proc2.terminate(t)
	// Link and session tokens are never logged (STYLE).
	for _, out := range []string{proc.stderr.String(), proc2.stderr.String()} {
		if strings.Contains(out, strings.TrimPrefix(linkPath(t, l), "/guest/")) || strings.Contains(out, guest.sessionValue()) {
			t.Errorf("caddy's output holds a link or session token")
		}
	}
}

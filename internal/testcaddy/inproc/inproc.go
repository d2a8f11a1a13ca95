// Package inproc loads Caddyfiles into the Caddy of the test process, with
// Caddy's standard modules and guestgate's: the part of the harness
// (internal/testcaddy) that imports Caddy, kept apart so that the rest of
// the harness stays plain Go.
//
// Caddy is a process-wide singleton: a package whose tests use inproc must
// not run them in parallel with each other.
package inproc

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile" // the caddyfile adapter
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/guestgate/guestgate/caddymodule"
)

// Load adapts the Caddyfile text and loads it: a start, or a reload when a
// config runs already. The adapter's warnings go to the test's log, and Caddy
// is stopped when the test ends. Load returns once the config is running; a
// test then waits for its site to answer (testcaddy.WaitReady).
func Load(t testing.TB, caddyfile string) error {
	t.Helper()
	cfg, warnings, err := adapt(caddyfile)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		t.Logf("Caddyfile warning: %s", w.String())
	}
	t.Cleanup(func() { _ = caddy.Stop() }) // a no-op when nothing runs
	return caddy.Load(cfg, true)
}

// Start is Load for a Caddy that outlives the test that starts it (one
// server for all the tests of a package): it is not stopped when a test
// ends, but by Stop, from the package's TestMain.
func Start(caddyfile string) error {
	cfg, _, err := adapt(caddyfile)
	if err != nil {
		return err
	}
	return caddy.Load(cfg, true)
}

// WaitOneListener waits until one socket listens on the TCP address addr
// (host:port), that of the running config. On a reload Caddy opens a socket
// of the new config beside the old one (SO_REUSEPORT) and closes the old one
// while the old servers shut down, after Load returns: a connection the
// kernel queued on the old socket is then reset. A test that reloads on the
// same port calls it before its next request.
//
// Caddy lowers its count of the address's listeners (ListenerUsage) just
// before it closes the old socket (deleteListener.Close), and a connection
// that lands on that socket in between is reset: so on Linux it also waits
// until the kernel lists one listening socket on the port (/proc/net/tcp and
// tcp6).
func WaitOneListener(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n := caddy.ListenerUsage("tcp", addr); n != 1; n = caddy.ListenerUsage("tcp", addr) {
		if time.Now().After(deadline) {
			t.Fatalf("%d sockets listen on %s 10 s after the load, want 1", n, addr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	for n, ok := kernelListeners(port); ok && n > 1; n, ok = kernelListeners(port) {
		if time.Now().After(deadline) {
			t.Fatalf("the kernel lists %d sockets listening on %s 10 s after the load, want 1", n, addr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// kernelListeners counts the TCP sockets in state LISTEN on port (decimal)
// in /proc/net/tcp and /proc/net/tcp6; ok is false where there is no /proc.
func kernelListeners(port string) (n int, ok bool) {
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0, false
	}
	local := fmt.Sprintf(":%04X", p)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		ok = true
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			// sl local_address rem_address st ...; st 0A is LISTEN.
			if len(fields) > 3 && strings.HasSuffix(fields[1], local) && fields[3] == "0A" {
				n++
			}
		}
	}
	return n, ok
}

// Stop stops Caddy, as when the process ends; a no-op when nothing runs.
func Stop() error { return caddy.Stop() }

func adapt(caddyfile string) ([]byte, []caddyconfig.Warning, error) {
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		return nil, nil, fmt.Errorf("the caddyfile adapter is not registered")
	}
	cfg, warnings, err := adapter.Adapt([]byte(caddyfile), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return nil, nil, fmt.Errorf("adapting: %w", err)
	}
	return cfg, warnings, nil
}

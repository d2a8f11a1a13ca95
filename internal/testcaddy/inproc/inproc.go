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
func WaitOneListener(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n := caddy.ListenerUsage("tcp", addr); n != 1; n = caddy.ListenerUsage("tcp", addr) {
		if time.Now().After(deadline) {
			t.Fatalf("%d sockets listen on %s 10 s after the load, want 1", n, addr)
		}
		time.Sleep(5 * time.Millisecond)
	}
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

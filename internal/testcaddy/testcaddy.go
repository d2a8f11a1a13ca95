// Package testcaddy is the harness of guestgate's whole-server tests
// (integration/, browser/) and of the whole-process benchmark (bench/), after
// Caddy's own caddytest package: free ports on 127.0.0.1, an environment that
// keeps Caddy out of the real home directory, Caddyfiles written as Caddyfiles
// with placeholders, the caddy binary of this module built once and run as a
// child process, and waits until a server answers, over HTTP or over HTTPS
// with the test's own CA.
//
// Loading a config into the Caddy of the test process itself is the job of
// the subpackage inproc, the one part of the harness that imports Caddy. This
// package is plain Go, so that a program (bench) and a harness of another
// kind (internal/testpg) use it without linking Caddy in.
package testcaddy

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var (
	origEnv []string // the environment before Main changed it
	tempDir string   // made by Main, removed when the tests end
)

// Main runs the tests of m in an isolated environment, then exits with their
// status: XDG_DATA_HOME and XDG_CONFIG_HOME point into a temporary directory
// (TempDir), so that nothing Caddy does in the tests (its storage, its
// autosaved config, its local CA) touches the real home directory. The
// functions atExit run after the tests, before the directory is removed: to
// stop a Caddy that the tests share, say. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testcaddy.Main(m) }
func Main(m *testing.M, atExit ...func()) {
	os.Exit(run(m, atExit))
}

func run(m *testing.M, atExit []func()) int {
	origEnv = os.Environ()
	dir, err := os.MkdirTemp("", "guestgate-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testcaddy:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	tempDir = dir
	os.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	code := m.Run()
	for _, f := range atExit {
		f()
	}
	return code
}

// TempDir is the directory Main made for the tests of this binary, removed
// when they end; "" outside Main.
func TempDir() string { return tempDir }

// OriginalEnv is the environment the program started with, before Main
// changed it: the one to run Go itself in (go build reads its settings under
// the real XDG_CONFIG_HOME).
func OriginalEnv() []string {
	if origEnv == nil {
		return os.Environ()
	}
	return origEnv
}

// Env is the environment of a Caddy child process: PATH, and HOME,
// XDG_DATA_HOME and XDG_CONFIG_HOME inside dir, so that the process keeps
// its own data and config apart from the test's and from the real home
// directory.
func Env(dir string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"XDG_DATA_HOME=" + filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and is
// none of taken (ports the test chose before and does not listen on yet); it
// fails the test when there is none.
func FreePort(t testing.TB, taken ...int) int {
	t.Helper()
	ports, err := Ports(1, taken...)
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	return ports[0]
}

// Ports is FreePort for a program, and for n ports at once: n distinct TCP
// ports on 127.0.0.1, none of taken, that were free a moment ago.
//
// The ports come from below the kernel's ephemeral range where it is known
// (Linux), not from a listener on port 0: the kernel hands a port it has
// just freed to the next listener on port 0 or outgoing connection, so a
// port chosen that way can be taken by the test's own upstream or client
// before Caddy binds it.
func Ports(n int, taken ...int) ([]int, error) {
	lo, hi := fixedPortRange()
	var ports []int
	for range 100 * n {
		port, err := candidatePort(lo, hi)
		if err != nil {
			return nil, err
		}
		if port == 0 || slices.Contains(taken, port) || slices.Contains(ports, port) {
			continue
		}
		if ports = append(ports, port); len(ports) == n {
			return ports, nil
		}
	}
	return nil, fmt.Errorf("no %d free ports found in %d tries", n, 100*n)
}

// fixedPortRange is the range FreePort draws from: from 10000 to the start of
// the kernel's ephemeral range, or nothing (0, 0) where that is not known.
func fixedPortRange() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	var first, last int
	if _, err := fmt.Sscan(string(b), &first, &last); err != nil || first <= 11000 {
		return 0, 0
	}
	return 10000, first
}

// candidatePort returns a port of [lo, hi) that could be listened on a
// moment ago, or 0 if the one drawn could not; with no range, a port the
// kernel offers on port 0.
func candidatePort(lo, hi int) (int, error) {
	if hi == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	port := lo + rand.IntN(hi-lo)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return 0, nil // in use: draw again
	}
	l.Close()
	return port, nil
}

// Package testlivekit starts a throwaway LiveKit server for tests: one
// livekit-server process on 127.0.0.1 and free ports (HTTP and WebSocket
// signalling, ICE over TCP and over one UDP port), without Redis, with a
// fresh API key pair, stopped when the test ends.
//
// The binary is $GUESTGATE_LIVEKIT_SERVER, else livekit-server on PATH, else
// the "server" that `go install
// github.com/livekit/livekit-server/cmd/server@v1.13.5` puts into
// $(go env GOPATH)/bin. Where there is none, Start skips the test, unless the
// environment variable CI is set: then it fails, so that a CI run without
// LiveKit cannot pass by skipping.
package testlivekit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/internal/testcaddy"
)

// Server is a running LiveKit server.
type Server struct {
	// URL is where clients connect: ws://127.0.0.1:<port>.
	URL string
	// APIKey and APISecret are the server's only key pair; the secret is 64
	// hex digits.
	APIKey, APISecret string
	// Version is what the binary says of itself ("livekit-server version
	// 1.13.5").
	Version string
}

// ErrNotInstalled is Binary's error when no LiveKit server is found.
var ErrNotInstalled = errors.New("livekit-server is not installed; go install github.com/livekit/livekit-server/cmd/server@v1.13.5")

// Binary finds the LiveKit server binary and returns its path and version.
func Binary() (path, version string, err error) {
	var candidates []string
	if p := os.Getenv("GUESTGATE_LIVEKIT_SERVER"); p != "" {
		candidates = append(candidates, p)
	}
	if p, err := exec.LookPath("livekit-server"); err == nil {
		candidates = append(candidates, p)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for dir := range strings.SplitSeq(strings.TrimSpace(string(out)), string(os.PathListSeparator)) {
			candidates = append(candidates, filepath.Join(dir, "bin", "server"))
		}
	}
	for _, p := range candidates {
		// "server" is a common name: only a binary that says it is
		// livekit-server is taken.
		out, err := exec.Command(p, "--version").Output()
		if err == nil && strings.HasPrefix(string(out), "livekit-server version ") {
			return p, strings.TrimSpace(string(out)), nil
		}
	}
	return "", "", ErrNotInstalled
}

// Start starts a LiveKit server, stopped when t ends. It skips t when there
// is no LiveKit server binary, unless CI is set.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, version, err := Binary()
	switch {
	case errors.Is(err, ErrNotInstalled) && os.Getenv("CI") == "":
		t.Skipf("%v", err)
	case err != nil:
		t.Fatalf("LiveKit is needed (CI is set): %v", err)
	}
	ports, err := testcaddy.Ports(3)
	if err != nil {
		t.Fatal(err)
	}
	udp := freeUDPPort(t)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	s := &Server{URL: fmt.Sprintf("ws://127.0.0.1:%d", ports[0]), APIKey: "APIguestgate", APISecret: hex.EncodeToString(secret), Version: version}
	config := fmt.Sprintf(`port: %d
bind_addresses: ["127.0.0.1"]
rtc:
  tcp_port: %d
  udp_port: %d
  use_external_ip: false
  node_ip: 127.0.0.1
  enable_loopback_candidate: true
keys:
  %s: %s
logging:
  level: info
`, ports[0], ports[1], udp, s.APIKey, s.APISecret)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config-body", config)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("livekit-server log:\n%s", log.String())
		}
	})
	// The server answers "OK" on / once it serves.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[0]))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("livekit-server exited: %v\n%s", err, log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("livekit-server did not answer within 30s:\n%s", log.String())
		}
	}
	t.Logf("%s at %s", version, s.URL)
	return s
}

// freeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

package testcaddy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ErrExited is the error of a wait for a server whose process ended.
var ErrExited = errors.New("the server's process exited")

// WaitHTTP asks url with client every interval until an answer comes, of any
// status (the server is up), and returns nil. It gives up when ctx ends, and
// with ErrExited when exited (if not nil) is closed: a process that ended
// will never answer.
func WaitHTTP(ctx context.Context, client *http.Client, url string, interval time.Duration, exited <-chan struct{}) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%w before answering on %s", ErrExited, url)
		case <-ctx.Done():
			return fmt.Errorf("no answer on %s: %w (last: %v)", url, ctx.Err(), err)
		case <-time.After(interval):
		}
	}
}

// WaitReady waits up to 10 s until url answers (the Caddy a test has just
// loaded is serving), or fails the test. tlsConfig is the client's for an
// https URL (TLSConfig), nil for http. The client is one of its own without
// keep-alives, so that no connection of the wait stays open into the test.
func WaitReady(t testing.TB, url string, tlsConfig *tls.Config) {
	t.Helper()
	client := &http.Client{
		Timeout:   time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsConfig.Clone(), DisableKeepAlives: true}, // the transport may change its config
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := WaitHTTP(ctx, client, url, 20*time.Millisecond, nil); err != nil {
		t.Fatalf("Caddy does not answer: %v", err)
	}
}

// TLSConfig is a client TLS config that trusts only the local CA of the Caddy
// whose storage is dataDir: "tls internal" issues the test's certificates
// from that CA, so an HTTPS test checks them as a browser would instead of
// skipping verification. Caddy writes the CA's root when it loads a config
// that uses it: call TLSConfig after the load.
func TLSConfig(t testing.TB, dataDir string) *tls.Config {
	t.Helper()
	path := filepath.Join(dataDir, "pki", "authorities", "local", "root.crt")
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the root of Caddy's local CA: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no PEM certificate", path)
	}
	return &tls.Config{RootCAs: roots}
}

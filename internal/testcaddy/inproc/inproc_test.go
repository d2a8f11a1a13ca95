package inproc

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/guestgate/guestgate/internal/testcaddy"
)

func TestMain(m *testing.M) { testcaddy.Main(m) }

// TestLoadOverHTTPS: a Caddyfile loads, the site answers over HTTPS with a
// certificate of the test's own CA (testcaddy.TLSConfig), which a client
// without that CA refuses; a Caddyfile Caddy refuses is an error of Load.
func TestLoadOverHTTPS(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "caddy-data")
	port := testcaddy.FreePort(t)
	url := fmt.Sprintf("https://127.0.0.1:%d/", port)
	err := Load(t, fmt.Sprintf(`{
	admin off
	persist_config off
	storage file_system %s
	skip_install_trust
}

https://127.0.0.1:%d {
	tls internal
	bind 127.0.0.1
	respond "hello"
}
`, dataDir, port))
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig := testcaddy.TLSConfig(t, dataDir)
	testcaddy.WaitReady(t, url, tlsConfig)

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "hello" {
		t.Errorf("GET %s: %d %q, want 200 hello", url, resp.StatusCode, body)
	}
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("a client without the test's CA got %d: the certificate is not the local CA's", resp.StatusCode)
	}

	if err := Load(t, "https://127.0.0.1 {\n\tguest_gateway {\n\t\tno_such_subdirective\n\t}\n}\n"); err == nil {
		t.Error("a Caddyfile with an unknown subdirective loaded")
	}
}

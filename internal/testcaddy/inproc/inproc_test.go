package inproc

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

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

// TestReloadLeavesOneListener: after a reload on the same port,
// WaitOneListener returns once the old config's socket is closed, and the
// site answers with the new config on new connections.
func TestReloadLeavesOneListener(t *testing.T) {
	port := testcaddy.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	site := func(body string) string {
		return fmt.Sprintf("{\n\tadmin off\n\tpersist_config off\n}\n\nhttp://%s {\n\tbind 127.0.0.1\n\trespond %q\n}\n", addr, body)
	}
	if err := Load(t, site("one")); err != nil {
		t.Fatal(err)
	}
	WaitOneListener(t, addr)
	if err := Load(t, site("two")); err != nil {
		t.Fatal(err)
	}
	WaitOneListener(t, addr)
	if n := caddy.ListenerUsage("tcp", addr); n != 1 {
		t.Fatalf("%d sockets on %s after WaitOneListener", n, addr)
	}
	if n, ok := kernelListeners(fmt.Sprint(port)); ok && n != 1 {
		t.Fatalf("the kernel lists %d sockets listening on %s after WaitOneListener", n, addr)
	}
	for i := range 20 {
		tr := &http.Transport{DisableKeepAlives: true}
		resp, err := (&http.Client{Timeout: 5 * time.Second, Transport: tr}).Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("request %d after the reload: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "two" {
			t.Fatalf("request %d after the reload: %q, want the new config's two", i, body)
		}
	}
}

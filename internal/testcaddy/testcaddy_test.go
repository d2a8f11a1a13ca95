package testcaddy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestCaddyfileLines: {{lines N .X}} puts each entry of a list on lines of
// its own under the line before, indented by N tabs, a multi-line entry (a
// block written as a raw string) line by line; an empty list writes nothing.
func TestCaddyfileLines(t *testing.T) {
	c := NewCaddyfile("site {\n\tgateway {\n\t\tstore x\n\t\t{{- lines 2 .}}\n\t}\n}\n")
	for _, tc := range []struct {
		name string
		list []string
		want string
	}{
		{"none", nil, "site {\n\tgateway {\n\t\tstore x\n\t}\n}\n"},
		{"lines", []string{"allow /a", "rate_limit off"}, "site {\n\tgateway {\n\t\tstore x\n\t\tallow /a\n\t\trate_limit off\n\t}\n}\n"},
		{"a block", []string{"theme {\n\ttitle \"Acme\"\n}"}, "site {\n\tgateway {\n\t\tstore x\n\t\ttheme {\n\t\t\ttitle \"Acme\"\n\t\t}\n\t}\n}\n"},
	} {
		if got := c.Render(tc.list); got != tc.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.name, got, tc.want)
		}
	}
}

// TestPorts: the ports of Ports are distinct, none of those it was told are
// taken, can be listened on, and, where the kernel's ephemeral range is
// known, lie below it, so that no listener on port 0 or outgoing connection
// of the test takes one before Caddy binds it.
func TestPorts(t *testing.T) {
	first := FreePort(t)
	lo, hi := fixedPortRange()
	for range 20 {
		ports, err := Ports(3, first)
		if err != nil {
			t.Fatal(err)
		}
		if len(ports) != 3 || ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] || slices.Contains(ports, first) {
			t.Fatalf("Ports(3, %d) = %v, want 3 distinct ports other than %d", first, ports, first)
		}
		for _, p := range ports {
			if hi != 0 && (p < lo || p >= hi) {
				t.Fatalf("port %d is outside [%d, %d), below the ephemeral range", p, lo, hi)
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(first))
	if err != nil {
		t.Fatalf("listening on the free port %d: %v", first, err)
	}
	l.Close()
}

// TestWaitHTTP: the wait ends with the first answer of any status, with
// ErrExited when the server's process ended, and with the context's error
// when nothing answers in time.
func TestWaitHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	nobody := "http://127.0.0.1:" + strconv.Itoa(FreePort(t)) + "/"
	exited := make(chan struct{})
	close(exited)
	client := &http.Client{Timeout: time.Second}
	for _, tc := range []struct {
		name    string
		url     string
		exited  <-chan struct{}
		wantErr error
	}{
		{"an answer of 503", srv.URL, nil, nil},
		{"a process that exited", nobody, exited, ErrExited},
		{"no answer in time", nobody, nil, context.DeadlineExceeded},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := WaitHTTP(ctx, client, tc.url, 10*time.Millisecond, tc.exited)
		cancel()
		if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.wantErr)
		}
	}
}

// TestProcess: Wait gives up on a process that exits without answering;
// Stop reports a process that SIGTERM ended with an error status; Kill ends
// one that still runs; Log holds what it wrote.
func TestProcess(t *testing.T) {
	p, err := Start(exec.Command("sh", "-c", "echo starting; exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = p.Wait(ctx, &http.Client{Timeout: time.Second}, "http://127.0.0.1:"+strconv.Itoa(FreePort(t))+"/", 10*time.Millisecond)
	if !errors.Is(err, ErrExited) {
		t.Errorf("waiting on a process that exited: %v, want ErrExited", err)
	}
	if p.Err() == nil || p.Log() != "starting\n" {
		t.Errorf("exit status %v and log %q, want exit status 3 and \"starting\\n\"", p.Err(), p.Log())
	}

	p, err = Start(exec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(10 * time.Second); err == nil {
		t.Error("Stop of a process that SIGTERM kills (sleep) reported no error")
	}

	p, err = Start(exec.Command("sh", "-c", "trap '' TERM; sleep 60"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the trap is set
	if err := p.Stop(200 * time.Millisecond); err == nil {
		t.Error("Stop of a process that ignores SIGTERM reported no error")
	}
	select {
	case <-p.Done():
	default:
		t.Error("the process that ignored SIGTERM still runs after Stop")
	}
}

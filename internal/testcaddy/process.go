package testcaddy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is a caddy binary running as a child process.
type Process struct {
	// Cmd is the command as started (its Process is the child).
	Cmd  *exec.Cmd
	log  *Buffer       // the output, unless the caller directed it elsewhere
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
}

// Command is "caddy run" of bin on the Caddyfile at path, in the environment
// env (Env).
func Command(bin, caddyfile string, env []string) *exec.Cmd {
	cmd := exec.Command(bin, "run", "--config", caddyfile, "--adapter", "caddyfile")
	cmd.Env = env
	return cmd
}

// Start starts cmd and watches for its end. The output that cmd does not
// send elsewhere (Stdout and Stderr nil) is kept for Log. Should this program
// die without stopping the process, the kernel kills it.
func Start(cmd *exec.Cmd) (*Process, error) {
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	if cmd.Stdout == nil && cmd.Stderr == nil {
		p.log = &Buffer{}
		cmd.Stdout, cmd.Stderr = p.log, p.log
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// A child of the process that keeps its output open does not hold up
	// Wait for long.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Run runs "caddy run" of bin on the Caddyfile at path in the environment env
// and waits (up to 30 s) until url answers; it returns the process and the
// time from its start to that answer. The process is killed when the test
// ends if it still runs.
func Run(t testing.TB, bin, caddyfile string, env []string, url string) (*Process, time.Duration) {
	t.Helper()
	started := time.Now()
	p, err := Start(Command(bin, caddyfile, env))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Kill(); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Wait(ctx, &http.Client{Timeout: time.Second}, url, 10*time.Millisecond); err != nil {
		t.Fatalf("caddy: %v\n%s", err, p.Log())
	}
	return p, time.Since(started)
}

// Wait is WaitHTTP for the server this process runs: it gives up when the
// process exits, with its exit status in the error.
func (p *Process) Wait(ctx context.Context, client *http.Client, url string, interval time.Duration) error {
	err := WaitHTTP(ctx, client, url, interval, p.done)
	if errors.Is(err, ErrExited) {
		return fmt.Errorf("%w (%v)", err, p.err)
	}
	return err
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit status as Wait of os/exec reports it; valid
// once Done is closed.
func (p *Process) Err() error { return p.err }

// Log is what the process wrote so far to stdout and stderr (Caddy's log),
// when Start kept it.
func (p *Process) Log() string {
	if p.log == nil {
		return ""
	}
	return p.log.String()
}

// Stop ends the process with SIGTERM (Caddy then closes its listeners and
// stores cleanly) and waits up to timeout. It reports a process that needed
// SIGKILL after that, and one that exited with an error.
func (p *Process) Stop(timeout time.Duration) error {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.Kill()
		return fmt.Errorf("caddy (pid %d) did not exit within %v of SIGTERM", p.Cmd.Process.Pid, timeout)
	}
	if p.err != nil {
		return fmt.Errorf("caddy (pid %d) exited after SIGTERM with %w", p.Cmd.Process.Pid, p.err)
	}
	return nil
}

// Kill ends the process with SIGKILL, if it still runs, and waits up to 10 s
// for it to be gone.
func (p *Process) Kill() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.Cmd.Process.Kill()
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("caddy (pid %d) did not exit after SIGKILL", p.Cmd.Process.Pid)
	}
}

// Buffer is a bytes.Buffer that others write (a process, a logger on other
// goroutines) while a test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

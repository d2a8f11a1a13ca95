package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// moduleRoot returns the directory of this module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the guestgate module: run from its directory")
	}
	return filepath.Dir(gomod), nil
}

// buildCaddy builds ./cmd/caddy of the module at root into dir.
func buildCaddy(ctx context.Context, root, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, "caddy")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/caddy")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/caddy: %w\n%s", err, out)
	}
	return bin, nil
}

// describeSource says which commit the binary was built from.
func describeSource(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "(commit unknown: not a git checkout)"
	}
	rev := strings.TrimSpace(string(out))
	cmd = exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no")
	cmd.Dir = root
	if st, err := cmd.Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		rev += " with uncommitted changes"
	}
	return rev
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ---- configs ----

// setup is one kind of site in front of the upstream.
type setup int

const (
	setupPlain setup = iota
	setupGated
	setupForwardAuth
)

// siteConfig is what a Caddyfile needs.
type siteConfig struct {
	setup     setup
	port      int
	adminPort int
	dataDir   string
	storeDir  string // gated only
	upstream  string // host:port
	auth      string // host:port of the forward_auth endpoint
}

// caddyfile renders the config. The three setups differ only in what stands in
// front of reverse_proxy: nothing, guest_gateway (with guest_admin under
// /guest-admin/), or forward_auth; the plain and forward_auth sites answer
// /guest-admin/ themselves so that the routes are the same.
func (c siteConfig) caddyfile() string {
	var b strings.Builder
	fmt.Fprintf(&b, "{\n\tadmin 127.0.0.1:%d\n\tpersist_config off\n\tstorage file_system %s\n\tskip_install_trust\n\tauto_https off\n}\n\n", c.adminPort, c.dataDir)
	fmt.Fprintf(&b, "http://127.0.0.1:%d {\n\tbind 127.0.0.1\n", c.port)
	switch c.setup {
	case setupGated:
		fmt.Fprintf(&b, "\thandle_path /guest-admin/* {\n\t\tguest_admin {\n\t\t\tstore %s\n\t\t\tapi_key %s\n\t\t\tlink_base http://127.0.0.1:%d/guest/\n\t\t}\n\t}\n", c.storeDir, apiKey, c.port)
		fmt.Fprintf(&b, "\tguest_gateway {\n\t\tstore %s\n\t\tsigning_key %s\n\t\tallow /rooms/{room} /rooms/{room}/*\n\t}\n", c.storeDir, signingKey)
	default:
		b.WriteString("\thandle_path /guest-admin/* {\n\t\trespond \"no moderator API here\" 404\n\t}\n")
	}
	if c.setup == setupForwardAuth {
		fmt.Fprintf(&b, "\tforward_auth %s {\n\t\turi /auth\n\t\tcopy_headers X-Guest-Id X-Guest-Room X-Guest-Link X-Guest-Name X-Guest-Email\n\t}\n", c.auth)
	}
	fmt.Fprintf(&b, "\treverse_proxy %s\n}\n", c.upstream)
	return b.String()
}

// ---- processes ----

// caddyProc is the built binary running "caddy run".
type caddyProc struct {
	name  string
	cmd   *exec.Cmd
	log   string // path of its stdout and stderr
	base  string // http://127.0.0.1:<port>
	addr  string // 127.0.0.1:<port>
	admin string // http://127.0.0.1:<admin port>
	done  chan struct{}
	err   error // Wait's result, valid after done
}

// procs tracks every running child, so that an error or a signal kills them all.
type procs struct {
	mu  sync.Mutex
	set map[*caddyProc]bool
	// cpus, if set, is the taskset CPU list every Caddy runs on.
	cpus string
}

func (ps *procs) add(p *caddyProc) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.set == nil {
		ps.set = map[*caddyProc]bool{}
	}
	ps.set[p] = true
}

func (ps *procs) remove(p *caddyProc) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	delete(ps.set, p)
}

// killAll kills every child still running and waits (bounded) for each.
func (ps *procs) killAll() {
	ps.mu.Lock()
	list := make([]*caddyProc, 0, len(ps.set))
	for p := range ps.set {
		list = append(list, p)
	}
	ps.mu.Unlock()
	for _, p := range list {
		p.kill()
		ps.remove(p)
	}
}

// start writes cfg's Caddyfile into dir and runs it; it returns once Caddy
// answers HTTP on its site (any status), with the time from the process start to
// that first answer, polled every 2 ms.
func (ps *procs) start(ctx context.Context, bin, dir, name string, cfg siteConfig) (*caddyProc, time.Duration, error) {
	path := filepath.Join(dir, name+".Caddyfile")
	if err := os.WriteFile(path, []byte(cfg.caddyfile()), 0o600); err != nil {
		return nil, 0, err
	}
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, 0, err
	}
	defer logf.Close()
	home := filepath.Join(dir, "home")
	p := &caddyProc{
		name: name, log: logPath, done: make(chan struct{}),
		addr:  fmt.Sprintf("127.0.0.1:%d", cfg.port),
		base:  fmt.Sprintf("http://127.0.0.1:%d", cfg.port),
		admin: fmt.Sprintf("http://127.0.0.1:%d", cfg.adminPort),
	}
	p.cmd = exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	if ps.cpus != "" {
		// taskset execs Caddy in place: the process (and its PID, for VmRSS) is Caddy's.
		p.cmd = exec.Command("taskset", append([]string{"-c", ps.cpus}, p.cmd.Args...)...)
	}
	p.cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"XDG_DATA_HOME=" + filepath.Join(home, "data"), "XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
	}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	// If this program dies without cleaning up, the kernel kills Caddy too.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("starting %s: %w", name, err)
	}
	ps.add(p)
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()

	poll := &http.Client{
		Timeout:   250 * time.Millisecond,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	deadline := started.Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/", nil)
		resp, err := poll.Do(req)
		if err == nil {
			took := time.Since(started)
			resp.Body.Close()
			return p, took, nil
		}
		select {
		case <-p.done:
			ps.remove(p)
			return nil, 0, fmt.Errorf("%s exited before answering: %v\n%s", name, p.err, tail(logPath))
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return nil, 0, fmt.Errorf("%s gave no answer within 60s: %v\n%s", name, err, tail(logPath))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stop ends p with SIGTERM (Caddy closes the store cleanly), or SIGKILL after 20 s.
func (ps *procs) stop(p *caddyProc) error {
	defer ps.remove(p)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(20 * time.Second):
		p.kill()
		return fmt.Errorf("%s did not stop within 20s of SIGTERM", p.name)
	}
}

func (p *caddyProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// rss returns the process's VmRSS, in bytes.
func (p *caddyProc) rss() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc/<pid>/status")
}

// cpuTime returns the CPU time the process's threads have run, summed from
// /proc/<pid>/task/*/schedstat (nanoseconds, finer than the 10 ms ticks of
// /proc/<pid>/stat).
func (p *caddyProc) cpuTime() (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", p.cmd.Process.Pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no schedstat for pid %d: %v", p.cmd.Process.Pid, err)
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that just exited
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", t, err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// waitIdle waits until p has used under 3% of one CPU for 2 s in a row (Badger
// has finished the compactions a bulk load left), or until limit; it returns
// how long that took.
func (p *caddyProc) waitIdle(ctx context.Context, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	last, err := p.cpuTime()
	if err != nil {
		return 0, err
	}
	quiet := 0
	for time.Since(start) < limit {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-p.done:
			return 0, fmt.Errorf("%s exited: %v", p.name, p.err)
		case <-time.After(time.Second):
		}
		now, err := p.cpuTime()
		if err != nil {
			return 0, err
		}
		if now-last <= 30*time.Millisecond { // 3 % of the second just waited
			quiet++
		} else {
			quiet = 0
		}
		last = now
		if quiet >= 2 {
			return time.Since(start), nil
		}
	}
	return time.Since(start), fmt.Errorf("%s still busy after %v", p.name, limit)
}

// fetch downloads url into path (a pprof profile).
func fetch(ctx context.Context, url, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// tail returns the end of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// diskUsage is the disk space the regular files under dir take, in bytes
// (allocated blocks: Badger preallocates its value log sparsely).
func diskUsage(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			} else {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/guestgate/guestgate/internal/testcaddy"
)

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

// siteCaddyfile is the Caddyfile of every setup. The three differ only in what
// stands in front of reverse_proxy: nothing, guest_gateway (with guest_admin
// under /guest-admin/), or forward_auth; the plain and forward_auth sites
// answer /guest-admin/ themselves so that the routes are the same.
var siteCaddyfile = testcaddy.NewCaddyfile(`{
	admin 127.0.0.1:{{.AdminPort}}
	persist_config off
	storage file_system {{.DataDir}}
	skip_install_trust
	auto_https off
}

http://127.0.0.1:{{.Port}} {
	bind 127.0.0.1
	{{- if .Gated}}
	handle_path /guest-admin/* {
		guest_admin {
			store {{.StoreDir}}
			api_key {{.APIKey}}
			link_base http://127.0.0.1:{{.Port}}/guest/
		}
	}
	guest_gateway {
		store {{.StoreDir}}
		signing_key {{.SigningKey}}
		allow /rooms/{room} /rooms/{room}/*
	}
	{{- else}}
	handle_path /guest-admin/* {
		respond "no moderator API here" 404
	}
	{{- end}}
	{{- with .ForwardAuth}}
	forward_auth {{.}} {
		uri /auth
		copy_headers X-Guest-Id X-Guest-Room X-Guest-Link X-Guest-Name X-Guest-Email
	}
	{{- end}}
	reverse_proxy {{.Upstream}}
}
`)

// caddyfile renders the config.
func (c siteConfig) caddyfile() string {
	forwardAuth := ""
	if c.setup == setupForwardAuth {
		forwardAuth = c.auth
	}
	return siteCaddyfile.Render(struct {
		Port, AdminPort                                              int
		DataDir, StoreDir, Upstream, ForwardAuth, APIKey, SigningKey string
		Gated                                                        bool
	}{c.port, c.adminPort, c.dataDir, c.storeDir, c.upstream, forwardAuth, apiKey, signingKey, c.setup == setupGated})
}

// ---- processes ----

// caddyProc is the built binary running "caddy run".
type caddyProc struct {
	*testcaddy.Process
	name  string
	log   string // path of its stdout and stderr
	base  string // http://127.0.0.1:<port>
	addr  string // 127.0.0.1:<port>
	admin string // http://127.0.0.1:<admin port>
}

// procs tracks every running child, so that an error or a signal kills them all.
type procs struct {
	mu  sync.Mutex
	set map[*caddyProc]bool
	// cpus, if set, is the taskset CPU list every Caddy runs on.
	cpus string
	// gogc, if set, is the GOGC of every Caddy.
	gogc string
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
		_ = p.Kill()
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
	cmd := testcaddy.Command(bin, path, testcaddy.Env(filepath.Join(dir, "home")))
	if ps.gogc != "" {
		cmd.Env = append(cmd.Env, "GOGC="+ps.gogc)
	}
	if ps.cpus != "" {
		// taskset execs Caddy in place: the process (and its PID, for VmRSS) is Caddy's.
		pinned := exec.Command("taskset", append([]string{"-c", ps.cpus}, cmd.Args...)...)
		pinned.Env = cmd.Env
		cmd = pinned
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	started := time.Now()
	proc, err := testcaddy.Start(cmd)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	p := &caddyProc{
		Process: proc, name: name, log: logPath,
		addr:  fmt.Sprintf("127.0.0.1:%d", cfg.port),
		base:  fmt.Sprintf("http://127.0.0.1:%d", cfg.port),
		admin: fmt.Sprintf("http://127.0.0.1:%d", cfg.adminPort),
	}
	ps.add(p)
	poll := &http.Client{
		Timeout:   250 * time.Millisecond,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	wctx, cancel := context.WithDeadline(ctx, started.Add(60*time.Second))
	defer cancel()
	if err := p.Wait(wctx, poll, p.base+"/", 2*time.Millisecond); err != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		if errors.Is(err, testcaddy.ErrExited) {
			ps.remove(p)
		}
		return nil, 0, fmt.Errorf("%s: %w\n%s", name, err, tail(logPath))
	}
	return p, time.Since(started), nil
}

// stop ends p with SIGTERM (Caddy closes the store cleanly), or SIGKILL after 20 s.
func (ps *procs) stop(p *caddyProc) error {
	defer ps.remove(p)
	if err := p.Stop(20 * time.Second); err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	return nil
}

// rss returns the process's VmRSS, in bytes.
func (p *caddyProc) rss() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
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

// goMem is what the Go runtime of a Caddy process says of its memory.
type goMem struct {
	NumGC     uint32 // collections so far
	HeapAlloc uint64 // bytes of allocated heap objects
}

// goMem reads the memory statistics of p's Go runtime from its admin
// endpoint (expvar's memstats).
func (p *caddyProc) goMem(ctx context.Context) (goMem, error) {
	var v struct{ Memstats goMem }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.admin+"/debug/vars", nil)
	if err != nil {
		return goMem{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return goMem{}, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return goMem{}, fmt.Errorf("%s: /debug/vars: %w", p.name, err)
	}
	return v.Memstats, nil
}

// cpuTime returns the CPU time the process's threads have run, summed from
// /proc/<pid>/task/*/schedstat (nanoseconds, finer than the 10 ms ticks of
// /proc/<pid>/stat).
func (p *caddyProc) cpuTime() (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", p.Cmd.Process.Pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no schedstat for pid %d: %v", p.Cmd.Process.Pid, err)
	}
	return schedstats(tasks)
}

// treeCPU returns the CPU time that process pid and its children have run (a
// PostgreSQL server: the postmaster and its single-threaded backends), from
// their /proc/<pid>/schedstat; a child that exited is no longer counted.
func treeCPU(pid int) (time.Duration, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return 0, err
	}
	var paths []string
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue // a process that just exited
		}
		// "pid (comm) state ppid ...", where comm may hold anything.
		id, _, _ := strings.Cut(string(b), " ")
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 2 {
			continue
		}
		if id == strconv.Itoa(pid) || f[1] == strconv.Itoa(pid) {
			paths = append(paths, filepath.Join(filepath.Dir(st), "schedstat"))
		}
	}
	if len(paths) == 0 {
		return 0, fmt.Errorf("no process %d", pid)
	}
	return schedstats(paths)
}

// schedstats sums the CPU time (the first field, in nanoseconds) of the
// schedstat files at paths, skipping those of threads that just exited.
func schedstats(paths []string) (time.Duration, error) {
	var sum time.Duration
	for _, t := range paths {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
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
		case <-p.Done():
			return 0, fmt.Errorf("%s exited: %v", p.name, p.Err())
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

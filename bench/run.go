package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/guestgate/guestgate/internal/testcaddy"
	"github.com/guestgate/guestgate/token"
)

// upstreamBody is what the upstream answers: 200 and these 12 bytes.
const upstreamBody = "upstream ok\n"

// roomPath is the path every proxy cell asks for.
const roomPath = "/rooms/bench/x"

// bench is one run.
type bench struct {
	o        options
	progress io.Writer
	dir      string
	bin      string
	procs    procs
	iss      *token.Issuer
	rep      *report

	up       *http.Server
	upAddr   string
	upTotal  atomic.Int64 // requests the upstream received
	upGuests atomic.Int64 // of which with an X-Guest-Id header
	auth     *http.Server
	authAddr string
}

// run does every part the options ask for and returns the report; the report
// is returned also with an error, holding what was measured until then.
func (b *bench) run(ctx context.Context) (rep *report, err error) {
	b.rep = &report{o: b.o, started: time.Now()}
	b.procs.cpus, b.procs.gogc = b.o.caddyCPUs, b.o.gogc
	defer b.procs.killAll()
	if b.iss, err = newIssuer(); err != nil {
		return nil, err
	}
	b.dir, err = os.MkdirTemp("", "guestgate-bench-")
	if err != nil {
		return nil, err
	}
	if b.o.keep {
		b.logf("keeping %s", b.dir)
	} else {
		defer os.RemoveAll(b.dir)
	}
	b.rep.machine, b.rep.loadavg[0] = machine(), loadavg()
	root, err := testcaddy.ModuleRoot(ctx)
	if err != nil {
		return nil, err
	}
	b.bin = b.o.bin
	if b.bin == "" {
		b.logf("building ./cmd/caddy")
		start := time.Now()
		buildCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		b.bin, err = testcaddy.Build(buildCtx, b.dir)
		cancel()
		if err != nil {
			return nil, err
		}
		b.logf("built in %v", time.Since(start).Round(time.Millisecond))
		b.rep.source = describeSource(ctx, root)
	} else {
		b.rep.source = "prebuilt " + b.bin
	}
	if out, err := exec.CommandContext(ctx, b.bin, "version").Output(); err == nil {
		b.rep.caddyVersion = strings.Fields(string(out) + " ?")[0]
	}
	if err := b.startServers(); err != nil {
		return nil, err
	}
	defer b.up.Close()
	defer b.auth.Close()

	// Each of o.rounds rounds starts a fresh Caddy per setup, runs the proxy
	// cells interleaved (see interleave) and stops them; the table shows
	// medians over the rounds. Memory, start, redemptions and profiles are
	// taken in the first round.
	parts := []struct {
		name string
		fn   func(context.Context, int) (*proxyTarget, error)
	}{
		{"plain", b.plain}, {"gated", b.gated}, {"forward", b.forward},
	}
	for round := 1; round <= b.o.rounds; round++ {
		var targets []*proxyTarget
		for _, p := range parts {
			if !b.o.part(p.name) {
				continue
			}
			t, err := p.fn(ctx, round)
			if err != nil {
				return b.rep, fmt.Errorf("%s (round %d): %w", p.name, round, err)
			}
			targets = append(targets, t)
		}
		cells, err := b.interleave(ctx, round, targets, b.o.conc)
		b.rep.proxy = append(b.rep.proxy, cells...)
		if err != nil {
			return b.rep, fmt.Errorf("proxy cells (round %d): %w", round, err)
		}
		for _, t := range targets {
			if err := t.finish(ctx); err != nil {
				return b.rep, fmt.Errorf("%s (round %d): %w", t.setup, round, err)
			}
		}
	}
	if b.o.part("sizes") {
		if err := b.sizes(ctx); err != nil {
			return b.rep, fmt.Errorf("sizes: %w", err)
		}
	}
	if b.o.part("postgres") {
		if err := b.postgres(ctx); err != nil {
			return b.rep, fmt.Errorf("postgres: %w", err)
		}
	}
	b.rep.finished, b.rep.loadavg[1] = time.Now(), loadavg()
	if fails := b.rep.failures(); len(fails) > 0 {
		return b.rep, fmt.Errorf("checks failed: %s", strings.Join(fails, "; "))
	}
	return b.rep, nil
}

// machine describes this machine in one line.
func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s/%s, %s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// loadavg is the machine's load average over 1, 5 and 15 minutes, as
// /proc/loadavg says; "?" where it cannot be read.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// startServers starts the upstream and the forward_auth endpoint on 127.0.0.1.
func (b *bench) startServers() error {
	upL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	b.upAddr = upL.Addr().String()
	b.up = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.upTotal.Add(1)
		if r.Header.Get("X-Guest-Id") != "" {
			b.upGuests.Add(1)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, upstreamBody)
	})}
	go func() { _ = b.up.Serve(upL) }()

	authL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	b.authAddr = authL.Addr().String()
	b.auth = &http.Server{Handler: http.HandlerFunc(b.authorize)}
	go func() { _ = b.auth.Serve(authL) }()
	return nil
}

// authorize is the forward_auth endpoint: the guest check operators build
// today. It verifies the guestgate session JWT of the cookie (golang-jwt, HS256,
// through package token as the gateway does) and answers 200 with the X-Guest-*
// headers, or 401. It reads no live state (room, link, guest), so it does less
// than the gateway.
func (b *bench) authorize(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie("guestgate")
	if err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	claims, err := b.iss.Verify(c.Value, time.Now())
	if err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h := w.Header()
	h.Set("X-Guest-Id", claims.Subject)
	h.Set("X-Guest-Room", claims.Room)
	h.Set("X-Guest-Link", claims.LinkID)
	h.Set("X-Guest-Name", url.PathEscape(claims.Name))
	h.Set("X-Guest-Email", url.PathEscape(claims.Email))
	w.WriteHeader(http.StatusOK)
}

// startNew starts Caddy as name with a config of setup s on fresh ports
// (newConfig).
func (b *bench) startNew(ctx context.Context, s setup, storeDir, name string) (*caddyProc, time.Duration, error) {
	cfg, err := b.newConfig(s, storeDir)
	if err != nil {
		return nil, 0, err
	}
	return b.procs.start(ctx, b.bin, b.dir, name, cfg)
}

// newConfig returns a config of setup s with fresh ports.
func (b *bench) newConfig(s setup, storeDir string) (siteConfig, error) {
	ports, err := testcaddy.Ports(2)
	if err != nil {
		return siteConfig{}, err
	}
	return siteConfig{
		setup: s, port: ports[0], adminPort: ports[1], dataDir: filepath.Join(b.dir, "caddy-data"),
		storeDir: storeDir, upstream: b.upAddr, auth: b.authAddr,
	}, nil
}

// settle sends a few requests (each must answer want), waits a moment and
// returns the RSS: the "idle" memory of a process that has served a little.
func (b *bench) settle(ctx context.Context, p *caddyProc, req []byte, want int) (int64, error) {
	k := &rawConn{addr: p.addr, local: workerIP(0)}
	defer k.close()
	for range 20 {
		resp, _, err := k.do(req, false)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != want {
			return 0, fmt.Errorf("%s: warm-up request answered %d, want %d", p.name, resp.StatusCode, want)
		}
	}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(500 * time.Millisecond):
	}
	return p.rss()
}

// proxyTarget is one setup's Caddy, started, warmed up and ready for the
// proxy cells.
type proxyTarget struct {
	setup string // setupNames[...]
	p     *caddyProc
	reqs  [][]byte // worker w sends reqs[(w*stride+i) % len], i = 0, 1, ...
	// finish runs after the round's cells: memory, profiles, redemptions, and
	// stopping the process.
	finish func(context.Context) error
}

// interleave runs the proxy cells of one round. All setups' Caddy processes
// are up at once (the idle ones use next to no CPU); at each concurrency the
// measured time is cut into slices of about a second, and every slice runs
// each setup in turn, in an order that rotates from slice to slice. A drift in
// the machine's speed (these machines are shared) thus hits every setup
// alike, instead of whichever one ran during it; each cell sums its slices.
func (b *bench) interleave(ctx context.Context, round int, ts []*proxyTarget, concs []int) ([]cell, error) {
	slices := max(1, int(b.o.duration/time.Second))
	dur, warmup := b.o.duration/time.Duration(slices), b.o.warmup/time.Duration(slices)
	var out []cell
	for _, c := range concs {
		acc := make([]cell, len(ts))
		for s := range slices {
			for k := range ts {
				i := (k + s) % len(ts)
				t := ts[i]
				before, beforeGuests := b.upTotal.Load(), b.upGuests.Load()
				spec := loadSpec{
					setup: t.setup, addr: t.p.addr, reqs: t.reqs, want: http.StatusOK, conc: c,
					warmup: warmup, dur: dur, maxRequests: 50_000_000, cpu: t.p.cpuTime,
				}
				res, err := runLoad(ctx, spec)
				if err == nil && res.OK+res.Bad+res.Errors == 0 {
					// Not one answer came in the slice: on a machine busy
					// enough, a quick run's slice is shorter than a request
					// (a guest's first, which signs its identity token).
					// Measure once more, four times as long.
					b.logf("%s c=%d: no answer in a %v slice; measuring %v", t.setup, c, dur, 4*dur)
					spec.warmup, spec.dur = 4*warmup, 4*dur
					before, beforeGuests = b.upTotal.Load(), b.upGuests.Load()
					res, err = runLoad(ctx, spec)
				}
				if err != nil {
					return out, err
				}
				if res.OK == 0 {
					return out, fmt.Errorf("%s c=%d: no request answered 200 (other answers: %v)", t.setup, c, res.BadCodes)
				}
				got, gotGuests := b.upTotal.Load()-before, b.upGuests.Load()-beforeGuests
				if got < res.OK {
					return out, fmt.Errorf("%s c=%d: %d answers 200 but the upstream saw %d requests", t.setup, c, res.OK, got)
				}
				if t.setup != setupNames[setupPlain] && gotGuests < res.OK {
					return out, fmt.Errorf("%s c=%d: %d answers 200 but only %d upstream requests carried X-Guest-Id", t.setup, c, res.OK, gotGuests)
				}
				res.Round = round
				acc[i].add(res)
			}
		}
		for _, x := range acc {
			b.logf("round %d  %-22s c=%-3d %9.0f req/s  p50 %7.3f ms  p99 %7.3f ms  bad %d errors %d  caddy %.2f CPU %.1f us/req  load %.2f CPU", round, x.Setup, c, x.RPS, ms(x.P50), ms(x.P99), x.Bad, x.Errors, x.CaddyCPU, x.CaddyUS, x.LoadCPU)
			if x.Renewals > 0 {
				b.logf("warning: %s c=%d: %d answers renewed the session", x.Setup, c, x.Renewals)
			}
			out = append(out, x)
		}
	}
	return out, nil
}

var setupNames = map[setup]string{
	setupPlain:       "plain reverse_proxy",
	setupGated:       "guest_gateway",
	setupForwardAuth: "forward_auth",
}

// plain starts plain Caddy for the proxy cells and, in round 1, measures its
// start and memory.
func (b *bench) plain(ctx context.Context, round int) (*proxyTarget, error) {
	p, took, err := b.startNew(ctx, setupPlain, "", "plain")
	if err != nil {
		return nil, err
	}
	b.logf("plain caddy answered %v after start", took.Round(time.Microsecond))
	req := b.proxyRequest(p.addr, roomPath, "")
	rss, err := b.settle(ctx, p, req, http.StatusOK)
	if err != nil {
		return nil, err
	}
	if round == 1 {
		b.rep.start = append(b.rep.start, startRow{"plain caddy", took})
		b.rep.plainRSS = rss
		b.rep.memory = append(b.rep.memory, memRow{"plain caddy, idle", rss})
	}
	return &proxyTarget{setup: setupNames[setupPlain], p: p, reqs: [][]byte{req}, finish: func(ctx context.Context) error {
		if rss, err := p.rss(); err == nil && round == 1 {
			b.rep.memory = append(b.rep.memory, memRow{"plain caddy, after the proxy cells", rss})
		}
		if b.o.pprofDir != "" && round == 1 {
			if err := b.profile(ctx, p, "plain", req); err != nil {
				return err
			}
		}
		return b.procs.stop(p)
	}}, nil
}

// gated starts Caddy with guest_gateway in front and redeems a guest cookie
// over HTTP for the proxy cells; in round 1 it also measures start and memory,
// and after the cells profiles if asked and runs the redemption bursts.
func (b *bench) gated(ctx context.Context, round int) (*proxyTarget, error) {
	p, took, err := b.startNew(ctx, setupGated, filepath.Join(b.dir, fmt.Sprintf("store-gated-%d", round)), "gated")
	if err != nil {
		return nil, err
	}
	b.logf("gated caddy (empty store) answered %v after start", took.Round(time.Microsecond))
	if round == 1 {
		b.rep.start = append(b.rep.start, startRow{"guest_gateway, empty store", took})
	}
	a := newAPI(p.base)
	session, err := benchGuest(ctx, a, p.addr)
	if err != nil {
		a.close()
		return nil, err
	}
	req := b.proxyRequest(p.addr, roomPath, session)
	rss, err := b.settle(ctx, p, req, http.StatusOK)
	if err != nil {
		a.close()
		return nil, err
	}
	if round == 1 {
		b.rep.memory = append(b.rep.memory, memRow{"guest_gateway, 1 room, idle", rss})
		b.rep.gatedIdleRSS = rss
	}
	return &proxyTarget{setup: setupNames[setupGated], p: p, reqs: [][]byte{req}, finish: func(ctx context.Context) error {
		defer a.close()
		if round > 1 {
			return b.procs.stop(p)
		}
		if rss, err := p.rss(); err == nil {
			b.rep.memory = append(b.rep.memory, memRow{"guest_gateway, after the proxy cells", rss})
		}
		if b.o.pprofDir != "" {
			if err := b.profile(ctx, p, "gated", req); err != nil {
				return err
			}
		}
		if err := b.redemptions(ctx, p, a); err != nil {
			return err
		}
		if rss, err := p.rss(); err == nil {
			b.rep.memory = append(b.rep.memory, memRow{"guest_gateway, after the redemption bursts", rss})
		}
		return b.procs.stop(p)
	}}, nil
}

// benchGuest opens room "bench" through a with guest access on and one link,
// redeems a guest over HTTP through addr, and returns the guest's session.
func benchGuest(ctx context.Context, a *api, addr string) (string, error) {
	links, err := a.openRoom(ctx, "bench", 1, 0)
	if err != nil {
		return "", err
	}
	r, err := redeem(addr, links[0].Path, 0)
	if err != nil {
		return "", fmt.Errorf("redeeming the bench guest: %w", err)
	}
	if r.status != http.StatusSeeOther {
		return "", fmt.Errorf("redeeming the bench guest: status %d, want 303", r.status)
	}
	return r.session, nil
}

// profile takes a CPU and an allocation profile (both pprofSeconds long, the
// allocation one as a delta) from Caddy's admin endpoint while one setup
// (kind: "plain" or "gated") runs req at the highest concurrency, and writes
// them with their top listings into pprofDir/kind. The gated profile also gets
// cpu-diff-top.txt against the plain one when that was taken first.
func (b *bench) profile(ctx context.Context, p *caddyProc, kind string, req []byte) error {
	conc := b.o.conc[len(b.o.conc)-1]
	b.logf("profiling %s at c=%d for %ds", kind, conc, b.o.pprofSeconds)
	return b.profileDuring(ctx, p, kind, func(ctx context.Context, dur time.Duration) error {
		_, err := runLoad(ctx, loadSpec{
			setup: "profile", addr: p.addr, reqs: [][]byte{req}, want: http.StatusOK, conc: conc,
			warmup: 500 * time.Millisecond, dur: dur, maxRequests: 50_000_000,
		})
		return err
	})
}

// profileDuring is profile with any load: load runs for the given duration,
// from a second before the profiles start until after they end.
func (b *bench) profileDuring(ctx context.Context, p *caddyProc, kind string, load func(context.Context, time.Duration) error) error {
	dir := filepath.Join(b.o.pprofDir, kind)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	secs := b.o.pprofSeconds
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loadDone := make(chan error, 1)
	go func() { loadDone <- load(loadCtx, time.Duration(secs)*time.Second+2*time.Second) }()
	time.Sleep(time.Second)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	profiles := []struct{ name, url string }{
		{"cpu.pprof", fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", p.admin, secs)},
		{"allocs.pprof", fmt.Sprintf("%s/debug/pprof/allocs?seconds=%d", p.admin, secs)},
	}
	for i, pr := range profiles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fetch(ctx, pr.url, filepath.Join(dir, pr.name), time.Duration(secs)*time.Second+30*time.Second)
		}()
	}
	wg.Wait()
	if err := <-loadDone; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("load during profiling: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("fetching profiles: %w", err)
	}
	binCopy := filepath.Join(dir, "caddy")
	if err := copyFile(b.bin, binCopy); err != nil {
		return err
	}
	tops := []struct {
		out  string
		args []string
	}{
		{"cpu-top.txt", []string{"-top", "-nodecount=15", binCopy, filepath.Join(dir, "cpu.pprof")}},
		{"cpu-top-cum.txt", []string{"-top", "-cum", "-nodecount=40", binCopy, filepath.Join(dir, "cpu.pprof")}},
		{"allocs-space-top.txt", []string{"-top", "-nodecount=15", "-sample_index=alloc_space", binCopy, filepath.Join(dir, "allocs.pprof")}},
		{"allocs-objects-top.txt", []string{"-top", "-nodecount=15", "-sample_index=alloc_objects", binCopy, filepath.Join(dir, "allocs.pprof")}},
	}
	if base := filepath.Join(b.o.pprofDir, "plain", "cpu.pprof"); kind != "plain" && fileExists(base) {
		tops = append(tops, struct {
			out  string
			args []string
		}{"cpu-diff-top.txt", []string{"-top", "-cum", "-nodecount=60", "-diff_base", base, binCopy, filepath.Join(dir, "cpu.pprof")}})
	}
	for _, t := range tops {
		out, err := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof"}, t.args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go tool pprof %s: %w\n%s", t.out, err, out)
		}
		if err := os.WriteFile(filepath.Join(dir, t.out), out, 0o644); err != nil {
			return err
		}
	}
	if kind != "plain" {
		b.rep.profiles = b.o.pprofDir
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o755)
}

// redemptions runs the spread burst and the hot-link burst on a gated Caddy.
func (b *bench) redemptions(ctx context.Context, p *caddyProc, a *api) error {
	paths, err := b.spreadLinks(ctx, a)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("spread: %d rooms x 3 links", b.o.spreadRooms)
	spread, err := redeemBurst(ctx, name, []string{p.addr}, paths, b.o.clients, b.o.spreadMax, b.o.duration, 1_000)
	if err != nil {
		return err
	}
	checkSpread(&spread)
	b.logf("%s: %d admitted, %.0f/s, codes %v", name, spread.Admitted, spread.Rate, spread.Codes)
	b.rep.bursts = append(b.rep.bursts, spread)
	hot, err := b.hotBurst(ctx, []string{p.addr}, a, 1_000_000)
	if err != nil {
		return err
	}
	b.rep.bursts = append(b.rep.bursts, hot)
	return nil
}

// spreadLinks opens the rooms of the spread burst through a and returns the
// paths of their links.
func (b *bench) spreadLinks(ctx context.Context, a *api) ([]string, error) {
	var paths []string
	for r := range b.o.spreadRooms {
		links, err := a.openRoom(ctx, fmt.Sprintf("spread-%03d", r), 3, 0)
		if err != nil {
			return nil, err
		}
		for _, l := range links {
			paths = append(paths, l.Path)
		}
	}
	return paths, nil
}

// checkSpread sets the check of a spread burst: every guest redeemed.
func checkSpread(spread *burst) {
	spread.Check = "no 5xx"
	if spread.Server > 0 || spread.Errors > 0 || spread.Refused > 0 {
		spread.Check = fmt.Sprintf("FAILED: %d 5xx, %d refused, %d errors", spread.Server, spread.Refused, spread.Errors)
	}
}

// hotBurst opens room "hot" through a with one link of hotMax clicks, lets
// hotAttempts guests, numbered from firstGuest, try it through addrs, and
// checks that exactly hotMax got a 303 and the API counts hotMax clicks.
func (b *bench) hotBurst(ctx context.Context, addrs []string, a *api, firstGuest int64) (burst, error) {
	hotLinks, err := a.openRoom(ctx, "hot", 1, b.o.hotMax)
	if err != nil {
		return burst{}, err
	}
	name := fmt.Sprintf("hot link: max %d, %d guests", b.o.hotMax, b.o.hotAttempts)
	hotCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	hot, err := redeemBurst(hotCtx, name, addrs, []string{hotLinks[0].Path}, b.o.clients, int64(b.o.hotAttempts), 0, firstGuest)
	if err != nil {
		return hot, err
	}
	hot.MaxClicks = b.o.hotMax
	if hot.Clicks, err = a.clicks(ctx, "hot", hotLinks[0].ID); err != nil {
		return hot, err
	}
	hot.Check = fmt.Sprintf("exact: 303s = clicks = %d, no 5xx", b.o.hotMax)
	if hot.Admitted != int64(b.o.hotMax) || hot.Clicks != b.o.hotMax || hot.Server > 0 || hot.Errors > 0 {
		hot.Check = fmt.Sprintf("FAILED: %d 303s, clicks %d, want %d; %d 5xx, %d errors", hot.Admitted, hot.Clicks, b.o.hotMax, hot.Server, hot.Errors)
	}
	b.logf("%s: %d admitted, %.0f/s, clicks %d, codes %v", name, hot.Admitted, hot.Rate, hot.Clicks, hot.Codes)
	return hot, nil
}

// forward starts Caddy with forward_auth in front for the proxy cells.
func (b *bench) forward(ctx context.Context, round int) (*proxyTarget, error) {
	p, took, err := b.startNew(ctx, setupForwardAuth, "", "forward_auth")
	if err != nil {
		return nil, err
	}
	b.logf("forward_auth caddy answered %v after start", took.Round(time.Microsecond))
	tok, err := mint(b.iss, guestRef{ID: "g_benchforwardauth0", Room: "bench", Link: "l_benchforwardauth0", Name: "Zoë Bench", Email: "zoe@example.com", RedeemedAt: time.Now()}, time.Now())
	if err != nil {
		return nil, err
	}
	req := b.proxyRequest(p.addr, roomPath, tok)
	if _, err := b.settle(ctx, p, req, http.StatusOK); err != nil {
		return nil, err
	}
	return &proxyTarget{setup: setupNames[setupForwardAuth], p: p, reqs: [][]byte{req}, finish: func(context.Context) error {
		return b.procs.stop(p)
	}}, nil
}

// sizes loads a store per size (rooms and links through the API, guests
// offline), then measures the start, the memory and the gate at the highest
// concurrency with many distinct guests.
func (b *bench) sizes(ctx context.Context) error {
	for _, rooms := range b.o.sizes {
		row, err := b.size(ctx, rooms)
		b.rep.growth = append(b.rep.growth, row)
		if err != nil {
			return fmt.Errorf("%d rooms: %w", rooms, err)
		}
	}
	return nil
}

func (b *bench) size(ctx context.Context, rooms int) (growthRow, error) {
	row := growthRow{Rooms: rooms, Links: 3 * rooms, Guests: rooms * b.o.guestsPerRoom}
	storeDir := filepath.Join(b.dir, fmt.Sprintf("store-%d", rooms))
	cfg, err := b.newConfig(setupGated, storeDir)
	if err != nil {
		return row, err
	}
	name := fmt.Sprintf("loaded-%d", rooms)
	p, took, err := b.procs.start(ctx, b.bin, b.dir, name+"-empty", cfg)
	if err != nil {
		return row, err
	}
	row.StartEmpty = took
	a := newAPI(p.base)
	b.logf("%s: loading %d rooms x 3 links through the API", name, rooms)
	links, rate, err := a.loadRooms(ctx, rooms, 32)
	a.close()
	if err != nil {
		return row, err
	}
	row.APIRate = rate
	b.logf("%s: %.0f API requests/s", name, rate)
	if err := b.procs.stop(p); err != nil {
		return row, err
	}
	b.logf("%s: redeeming %d guests offline", name, row.Guests)
	guests, rate, err := loadGuests(ctx, storeDir, links, b.o.guestsPerRoom, 64, b.o.cookies)
	if err != nil {
		return row, err
	}
	row.GuestRate = rate
	b.logf("%s: %.0f guests/s offline", name, rate)

	// A bulk load leaves Badger compactions to do, which a gateway that took
	// the same guests over time would have done while running: let Caddy do
	// them once, so that the measured start sees the store as a running
	// gateway leaves it.
	p, _, err = b.procs.start(ctx, b.bin, b.dir, name+"-settle", cfg)
	if err != nil {
		return row, err
	}
	if row.Settle, err = p.waitIdle(ctx, 3*time.Minute); err != nil {
		return row, err
	}
	if err := b.procs.stop(p); err != nil {
		return row, err
	}
	row.StoreBytes = diskUsage(storeDir)
	b.logf("%s: compactions settled in %v; store %.1f MB on disk", name, row.Settle.Round(time.Millisecond), mb(row.StoreBytes))

	p, took, err = b.procs.start(ctx, b.bin, b.dir, name, cfg)
	if err != nil {
		return row, err
	}
	row.StartLoaded = took
	b.logf("%s: caddy answered %v after start", name, took.Round(time.Microsecond))
	now := time.Now()
	reqs := make([][]byte, 0, len(guests))
	for _, g := range guests {
		tok, err := mint(b.iss, g, now)
		if err != nil {
			return row, err
		}
		reqs = append(reqs, b.proxyRequest(p.addr, "/rooms/"+g.Room+"/x", tok))
	}
	if len(reqs) == 0 {
		return row, errors.New("no guest to send")
	}
	if row.RSSIdle, err = b.settle(ctx, p, reqs[0], http.StatusOK); err != nil {
		return row, err
	}
	conc := b.o.clients
	row.Cookies = len(reqs)
	one := &proxyTarget{setup: fmt.Sprintf("guest_gateway, %d rooms", rooms), p: p, reqs: reqs}
	cells, err := b.interleave(ctx, 1, []*proxyTarget{one}, []int{conc})
	if err != nil {
		return row, err
	}
	row.Gate = cells[0]
	if row.RSSAfter, err = p.rss(); err != nil {
		return row, err
	}
	return row, b.procs.stop(p)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mb(n int64) float64         { return float64(n) / (1 << 20) }

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testLog writes progress lines to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestQuickRun runs the whole benchmark in quick mode, as CI does, so that it
// keeps building, starting Caddy and measuring. It checks that every part
// produced its rows and that the correctness checks hold (exact click limit,
// no 5xx, identity headers upstream); it asserts no timing.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the caddy binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	o := defaultOptions(true)
	o.rounds = 2 // exercises the medians over rounds
	b := &bench{o: o, progress: testLog{t}}
	rep, err := b.run(ctx)
	var out bytes.Buffer
	if rep != nil {
		rep.print(&out)
		t.Logf("table:\n%s", out.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []setup{setupPlain, setupGated, setupForwardAuth} {
		for _, c := range o.conc {
			if n := len(rep.rounds(setupNames[s], c)); n != o.rounds {
				t.Errorf("%s c=%d: %d cells, want one per round (%d)", setupNames[s], c, n, o.rounds)
			}
			x, ok := rep.find(setupNames[s], c)
			if !ok {
				t.Errorf("no cell for %s at c=%d", setupNames[s], c)
				continue
			}
			if x.OK == 0 || x.RPS <= 0 || x.P50 <= 0 || x.P99 < x.P50 || x.CaddyCPU <= 0 || x.CaddyUS <= 0 || x.LoadCPU <= 0 {
				t.Errorf("%s c=%d: %+v", setupNames[s], c, x)
			}
			if ratio, _, _, _, ok := rep.compare(setupNames[s], c); !ok || ratio <= 0 {
				t.Errorf("%s c=%d: no ratio against plain", setupNames[s], c)
			}
		}
	}
	if len(rep.bursts) != 2 {
		t.Fatalf("%d redemption bursts, want spread and hot", len(rep.bursts))
	}
	if s := rep.bursts[0]; s.Admitted == 0 || s.Server > 0 {
		t.Errorf("spread burst: %+v", s)
	}
	if h := rep.bursts[1]; h.Admitted != int64(o.hotMax) || h.Clicks != o.hotMax || h.Attempts != int64(o.hotAttempts) || h.Codes[http.StatusGone] == 0 {
		t.Errorf("hot link burst: %+v, want %d admitted and clicks out of %d guests, the rest 410", h, o.hotMax, o.hotAttempts)
	}
	if len(rep.growth) != len(o.sizes) {
		t.Fatalf("%d growth rows, want %d", len(rep.growth), len(o.sizes))
	}
	for _, g := range rep.growth {
		if g.Gate.OK == 0 || g.RSSIdle <= 0 || g.StartLoaded <= 0 || g.StoreBytes <= 0 || g.Cookies == 0 {
			t.Errorf("growth row %+v", g)
		}
	}
	if rep.plainRSS <= 0 || rep.gatedIdleRSS <= 0 {
		t.Errorf("RSS plain %d, gated %d", rep.plainRSS, rep.gatedIdleRSS)
	}
	for _, h := range []string{"PROXY", "REDEMPTIONS", "MEMORY", "START", "GROWTH", "TARGETS"} {
		if !strings.Contains(out.String(), "\n"+h) {
			t.Errorf("the table has no %s section", h)
		}
	}
	checkPostgres(t, rep, o, out.String())
	if n := len(b.procs.set); n != 0 {
		t.Errorf("%d Caddy processes still tracked after the run", n)
	}
}

// checkPostgres checks the postgres part of a quick run: the disk's commit
// rates, the gate on both stores with a ratio, exact hot links on Badger, on
// one and on three PostgreSQL instances, every change seen by the two other
// instances, and the rows of memory and start. Without PostgreSQL the part
// is skipped, unless CI is set (then the run failed before).
func checkPostgres(t *testing.T, rep *report, o options, table string) {
	t.Helper()
	pg := rep.pg
	if pg == nil {
		t.Fatal("the run has no postgres part")
	}
	if pg.skipped != "" {
		t.Logf("the postgres part was skipped: %s", pg.skipped)
		return
	}
	if len(pg.commits) != 6 {
		t.Errorf("%d commit cells, want 1, 4 and 12 connections with synchronous_commit on and off", len(pg.commits))
	}
	for _, c := range pg.commits {
		if c.Commits == 0 || c.Rate <= 0 || c.P99 < c.P50 {
			t.Errorf("commit cell %+v", c)
		}
	}
	for _, s := range []string{gateBadger, gatePostgres} {
		if n := len((&report{proxy: pg.gate}).rounds(s, o.conc[len(o.conc)-1])); n != o.rounds {
			t.Errorf("%s: %d gate cells, want one per round (%d)", s, n, o.rounds)
		}
	}
	if ratio, _, ok := pg.gateRatio(); !ok || ratio <= 0 {
		t.Error("no gate ratio of PostgreSQL against Badger")
	}
	for _, g := range pg.gc {
		if g.HeapAlloc == 0 {
			t.Errorf("no heap size of %s", g.Setup)
		}
	}
	setups := []string{"Badger, 1 instance", "PostgreSQL, 1 instance", "PostgreSQL, 3 instances"}
	if len(pg.bursts) != 2*len(setups) {
		t.Fatalf("%d redemption bursts, want spread and hot for %v", len(pg.bursts), setups)
	}
	for i, s := range setups {
		spread, hot := pg.bursts[2*i], pg.bursts[2*i+1]
		if spread.Setup != s || hot.Setup != s {
			t.Errorf("bursts %d and %d are of %q and %q, want %q", 2*i, 2*i+1, spread.Setup, hot.Setup, s)
		}
		if spread.Admitted == 0 || spread.Server > 0 || spread.Refused > 0 {
			t.Errorf("%s, spread burst: %+v", s, spread)
		}
		if hot.Admitted != int64(o.hotMax) || hot.Clicks != o.hotMax || hot.Attempts != int64(o.hotAttempts) || hot.Codes[http.StatusGone] == 0 {
			t.Errorf("%s, hot link burst: %+v, want %d admitted and clicks out of %d guests, the rest 410", s, hot, o.hotMax, o.hotAttempts)
		}
	}
	if len(pg.propagation) != 2*o.pgChanges || pg.lost != 0 {
		t.Errorf("propagation: %d times, %d lost; want %d (two other instances per change), none lost", len(pg.propagation), pg.lost, 2*o.pgChanges)
	}
	if len(pg.memory) != 4 || len(pg.start) != 4 {
		t.Errorf("postgres part: %d memory rows, %d start rows; want 4 and 4", len(pg.memory), len(pg.start))
	}
	for _, m := range pg.memory {
		if m.RSS <= 0 {
			t.Errorf("memory row %+v", m)
		}
	}
	for _, h := range []string{"POSTGRESQL", "TARGETS of several gateways on one PostgreSQL"} {
		if !strings.Contains(table, "\n"+h) {
			t.Errorf("the table has no %s section", h)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	if h.quantile(0.5) != 0 {
		t.Error("empty histogram: quantile not 0")
	}
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, 1000 * time.Microsecond}} {
		got := h.quantile(c.q)
		if d := got - c.want; d < -c.want/100 || d > c.want/100 {
			t.Errorf("quantile(%v) = %v, want %v within 1%%", c.q, got, c.want)
		}
	}
	var small histogram
	small.record(100)
	if got := small.quantile(0.5); got != 100 {
		t.Errorf("exact bucket: %v, want 100ns", got)
	}
	var merged histogram
	merged.merge(&h)
	merged.merge(&small)
	if merged.n != 1001 {
		t.Errorf("merged count %d, want 1001", merged.n)
	}
}

func TestBuckets(t *testing.T) {
	prev := -1
	for _, ns := range []int64{0, 1, 255, 256, 257, 511, 512, 1 << 20, 1<<20 + 1, 1 << 40, 1<<62 + 12345} {
		i := bucketOf(ns)
		if i < prev || i >= len(histogram{}.counts) {
			t.Fatalf("bucketOf(%d) = %d (previous %d)", ns, i, prev)
		}
		if mid := bucketMid(i); ns >= 256 && (mid < float64(ns)*0.99 || mid > float64(ns)*1.01) {
			t.Errorf("bucketMid(bucketOf(%d)) = %v, more than 1%% off", ns, mid)
		}
		prev = i
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-quick", "-sizes", "1000,10000,30000", "-only", "plain,sizes,postgres", "-duration", "2s", "-rounds", "3", "-pg-changes", "7", "-gogc", "400"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.quick || len(o.sizes) != 3 || o.sizes[2] != 30000 || o.duration != 2*time.Second || !o.part("sizes") || !o.part("postgres") || o.part("gated") || o.rounds != 3 || o.pgChanges != 7 || o.gogc != "400" {
		t.Errorf("options %+v", o)
	}
	for _, bad := range [][]string{{"-sizes", "10,x"}, {"-only", "everything"}, {"-hot-max", "10", "-hot-attempts", "5"}, {"extra"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

// TestProxyRequest checks the two request shapes of the proxy cells: one
// User-Agent either way, and with -browser the site cookie kept beside the
// session.
func TestProxyRequest(t *testing.T) {
	for _, browser := range []bool{false, true} {
		b := &bench{o: options{browser: browser}}
		for _, session := range []string{"", "tok"} {
			raw := b.proxyRequest("127.0.0.1:1", roomPath, session)
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
			if err != nil {
				t.Fatalf("browser=%v session=%q: %v", browser, session, err)
			}
			if n := len(req.Header.Values("User-Agent")); n != 1 {
				t.Errorf("browser=%v: %d User-Agent headers", browser, n)
			}
			c, err := req.Cookie("guestgate")
			if (session != "") != (err == nil) || (err == nil && c.Value != session) {
				t.Errorf("browser=%v session=%q: session cookie %v, %v", browser, session, c, err)
			}
			_, err = req.Cookie("_pk_id.1.dc78")
			if browser != (err == nil) {
				t.Errorf("browser=%v session=%q: site cookie present = %v", browser, session, err == nil)
			}
			if browser && req.Header.Get("Accept-Language") == "" {
				t.Errorf("browser request without Accept-Language")
			}
		}
	}
}

// TestForEach: every index once when all succeed; the first error is returned
// and stops the indices not yet started.
func TestForEach(t *testing.T) {
	var mu sync.Mutex
	seen := map[int64]int{}
	err := forEach(context.Background(), 4, 100, func(_ context.Context, i int64) error {
		mu.Lock()
		seen[i]++
		mu.Unlock()
		return nil
	})
	if err != nil || len(seen) != 100 {
		t.Fatalf("forEach over 100: %v, %d indices", err, len(seen))
	}
	for i, n := range seen {
		if n != 1 || i < 0 || i >= 100 {
			t.Fatalf("index %d called %d times", i, n)
		}
	}
	boom := errors.New("boom")
	var calls atomic.Int64
	err = forEach(context.Background(), 1, 1000, func(_ context.Context, i int64) error {
		calls.Add(1)
		if i == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() >= 1000 {
		t.Errorf("forEach with an error at 3: %v after %d calls, want boom and a stop", err, calls.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := forEach(ctx, 2, 10, func(context.Context, int64) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("forEach on a canceled context: %v", err)
	}
}

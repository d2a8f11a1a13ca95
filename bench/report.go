package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// report holds everything measured in one run.
type report struct {
	o                 options
	started, finished time.Time
	machine           string
	source            string
	caddyVersion      string
	loadavg           [2]string // the machine's load average at the start and the end

	proxy        []cell
	bursts       []burst
	memory       []memRow
	start        []startRow
	growth       []growthRow
	plainRSS     int64
	gatedIdleRSS int64
	profiles     string
	pg           *pgReport // nil: the postgres part did not run
}

type memRow struct {
	What string
	RSS  int64
}

type startRow struct {
	What string
	Took time.Duration
}

// growthRow is one loaded-store size.
type growthRow struct {
	Rooms, Links, Guests int
	APIRate              float64 // moderator API requests/s while loading rooms and links
	GuestRate            float64 // offline redemptions/s
	StoreBytes           int64
	StartEmpty           time.Duration
	Settle               time.Duration // until Caddy went idle after the bulk load (compactions)
	StartLoaded          time.Duration
	RSSIdle, RSSAfter    int64
	Cookies              int
	Gate                 cell
}

// rounds returns the proxy cells of setup at concurrency c, one per round.
func (r *report) rounds(setup string, c int) []cell {
	var out []cell
	for _, x := range r.proxy {
		if x.Setup == setup && x.Conc == c {
			out = append(out, x)
		}
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// find returns the proxy cell of setup at concurrency c: with several rounds,
// the medians of req/s, p50 and p99, and the sums of the counts.
func (r *report) find(setup string, c int) (cell, bool) {
	xs := r.rounds(setup, c)
	if len(xs) == 0 {
		return cell{}, false
	}
	agg := cell{Setup: setup, Conc: c, BadCodes: map[int]int64{}}
	var rps, p50, p99, caddyCPU, caddyUS, loadCPU []float64
	for _, x := range xs {
		rps, p50, p99 = append(rps, x.RPS), append(p50, float64(x.P50)), append(p99, float64(x.P99))
		caddyCPU, caddyUS, loadCPU = append(caddyCPU, x.CaddyCPU), append(caddyUS, x.CaddyUS), append(loadCPU, x.LoadCPU)
		agg.OK += x.OK
		agg.Bad += x.Bad
		agg.Errors += x.Errors
		agg.Renewals += x.Renewals
		for k, n := range x.BadCodes {
			agg.BadCodes[k] += n
		}
	}
	agg.RPS, agg.P50, agg.P99 = median(rps), time.Duration(median(p50)), time.Duration(median(p99))
	agg.CaddyCPU, agg.CaddyUS, agg.LoadCPU = median(caddyCPU), median(caddyUS), median(loadCPU)
	return agg, true
}

// compare returns the medians, over the rounds, of setup's req/s ratio and p50
// and p99 deltas (ms) against plain in the same round.
//
// cpuRatio is the median of Caddy's CPU time per answer against plain's.
func (r *report) compare(setup string, c int) (ratio, d50, d99, cpuRatio float64, ok bool) {
	plain := map[int]cell{}
	for _, p := range r.rounds(setupNames[setupPlain], c) {
		plain[p.Round] = p
	}
	var rs, a, b, cpu []float64
	for _, x := range r.rounds(setup, c) {
		p, found := plain[x.Round]
		if !found || p.RPS <= 0 {
			continue
		}
		rs = append(rs, x.RPS/p.RPS)
		if p.CaddyUS > 0 {
			cpu = append(cpu, x.CaddyUS/p.CaddyUS)
		}
		a = append(a, ms(x.P50)-ms(p.P50))
		b = append(b, ms(x.P99)-ms(p.P99))
	}
	if len(rs) == 0 {
		return 0, 0, 0, 0, false
	}
	return median(rs), median(a), median(b), median(cpu), true
}

// failures lists the correctness checks that failed (never timings).
func (r *report) failures() []string {
	var out []string
	for _, c := range r.proxy {
		if c.Bad > 0 || c.Errors > 0 {
			out = append(out, fmt.Sprintf("%s c=%d: %d unexpected answers %v, %d errors", c.Setup, c.Conc, c.Bad, c.BadCodes, c.Errors))
		}
	}
	for _, g := range r.growth {
		if g.Gate.Bad > 0 || g.Gate.Errors > 0 {
			out = append(out, fmt.Sprintf("%d rooms: %d unexpected answers %v, %d errors", g.Rooms, g.Gate.Bad, g.Gate.BadCodes, g.Gate.Errors))
		}
	}
	bursts := r.bursts
	if r.pg != nil {
		bursts = append(slices.Clone(bursts), r.pg.bursts...)
		for _, c := range r.pg.gate {
			if c.Bad > 0 || c.Errors > 0 {
				out = append(out, fmt.Sprintf("%s c=%d: %d unexpected answers %v, %d errors", c.Setup, c.Conc, c.Bad, c.BadCodes, c.Errors))
			}
		}
		if r.pg.lost > 0 {
			out = append(out, fmt.Sprintf("PostgreSQL, 3 instances: %d changes not shown by another instance within %v", r.pg.lost, propagationLimit))
		}
	}
	for _, b := range bursts {
		if strings.HasPrefix(b.Check, "FAILED") {
			out = append(out, strings.TrimPrefix(b.Setup+", ", ", ")+b.Case+": "+b.Check)
		}
	}
	return out
}

// targetRooms is the largest store the memory and start targets name:
// 10,000 rooms, 30,000 links, 100,000 guests.
const targetRooms = 10_000

func (r *report) print(w io.Writer) {
	o := r.o
	fmt.Fprintf(w, "guestgate whole-process benchmark, %s\n", r.started.Format(time.RFC3339))
	fmt.Fprintf(w, "machine:  %s\n", r.machine)
	if r.loadavg[0] != "" {
		fmt.Fprintf(w, "loadavg:  %s at the start (1, 5, 15 min), %s at the end; the machine is shared\n", r.loadavg[0], cmp.Or(r.loadavg[1], "-"))
	}
	fmt.Fprintf(w, "binary:   caddy %s, guestgate %s\n", r.caddyVersion, r.source)
	mode := "full"
	if o.quick {
		mode = "quick (smoke run: numbers are not meaningful)"
	}
	slices := max(1, int(o.duration/time.Second))
	fmt.Fprintf(w, "run:      %s; each load cell %v measured after %v warm-up, in %d slices interleaved with the other setups'\n", mode, o.duration, o.warmup, slices)
	if o.caddyCPUs != "" {
		fmt.Fprintf(w, "cpus:     every Caddy pinned to CPU %s with taskset; the load generator runs where the bench was started\n", o.caddyCPUs)
	}
	if o.gogc != "" {
		fmt.Fprintf(w, "gogc:     every Caddy runs with GOGC=%s\n", o.gogc)
	}
	fmt.Fprintf(w, "load:     closed-loop workers, one keep-alive HTTP/1.1 connection each from its own 127.0.x.y address;\n")
	request := "a minimal request (Host, User-Agent; the session cookie when gated)"
	if o.browser {
		request = "a browser's headers (about 0.8 kB) and a site cookie besides the session"
	}
	fmt.Fprintf(w, "          GET %s with %s;\n", roomPath, request)
	fmt.Fprintf(w, "          upstream answers 200 %q; the load generator, the upstream and the\n", upstreamBody)
	fmt.Fprintf(w, "          forward_auth endpoint run in this process, on the same CPUs as Caddy: read the ratios\n\n")

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	plainName := setupNames[setupPlain]
	if len(r.proxy) > 0 {
		fmt.Fprintln(w, "PROXY: requests/s and latency (ratios and deltas against plain reverse_proxy at the same concurrency)")
		if o.rounds > 1 {
			fmt.Fprintf(w, "%d rounds, setups in turn; every figure is the median over the rounds, ratios and deltas taken within each round\n", o.rounds)
		}
		fmt.Fprintln(tw, "setup\tconc\treq/s\treq/s min-max\tp50 ms\tp99 ms\tnon-200\terrors\treq/s vs plain\tp50 - plain ms\tp99 - plain ms\tCaddy CPUs\tCaddy us/req\tus/req vs plain\tload CPUs\t")
		for _, s := range []string{plainName, setupNames[setupGated], setupNames[setupForwardAuth]} {
			for _, c := range o.conc {
				x, ok := r.find(s, c)
				if !ok {
					continue
				}
				lo, hi := x.RPS, x.RPS
				for _, y := range r.rounds(s, c) {
					lo, hi = min(lo, y.RPS), max(hi, y.RPS)
				}
				ratio, d50, d99, cpu := "-", "-", "-", "-"
				if q, a, b, u, ok := r.compare(s, c); ok && s != plainName {
					ratio, d50, d99 = fmt.Sprintf("%.3f", q), fmt.Sprintf("%+.3f", a), fmt.Sprintf("%+.3f", b)
					if u > 0 {
						cpu = fmt.Sprintf("%.3f", u)
					}
				}
				fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f-%.0f\t%.3f\t%.3f\t%d\t%d\t%s\t%s\t%s\t%.2f\t%.1f\t%s\t%.2f\t\n", x.Setup, x.Conc, x.RPS, lo, hi, ms(x.P50), ms(x.P99), x.Bad, x.Errors, ratio, d50, d99, x.CaddyCPU, x.CaddyUS, cpu, x.LoadCPU)
			}
		}
		tw.Flush()
		fmt.Fprintln(w, "  forward_auth: Caddy's forward_auth to a Go endpoint in this process that verifies the same HS256 JWT (golang-jwt)")
		fmt.Fprintln(w, "  and copies X-Guest-*; it reads no live state, so it does less than the gateway.")
		fmt.Fprintln(w)
	}

	if len(r.bursts) > 0 {
		fmt.Fprintf(w, "REDEMPTIONS over HTTP: GET entry page (csrf) + POST form, %d concurrent guests, each on a new connection\n", o.clients)
		fmt.Fprintln(w, "from its own address; SyncWrites on; rate = 303s / time until the last 303")
		fmt.Fprintln(tw, "case\tguests\t303\tredemptions/s\tp50 ms\tp99 ms\t4xx\t5xx\terrors\tclicks (API)\tcheck\t")
		for _, b := range r.bursts {
			clicks := "-"
			if b.MaxClicks > 0 {
				clicks = fmt.Sprint(b.Clicks)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.3f\t%.3f\t%d\t%d\t%d\t%s\t%s\t\n", b.Case, b.Attempts, b.Admitted, b.Rate, ms(b.P50), ms(b.P99), b.Refused, b.Server, b.Errors, clicks, b.Check)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}

	if len(r.memory) > 0 || len(r.growth) > 0 {
		fmt.Fprintln(w, "MEMORY: VmRSS of the Caddy process (idle = after start and 20 requests, then 0.5 s)")
		fmt.Fprintln(tw, "process\tVmRSS MB\tvs plain idle MB\t")
		rows := append([]memRow(nil), r.memory...)
		for _, g := range r.growth {
			rows = append(rows,
				memRow{fmt.Sprintf("guest_gateway, %d rooms, %d links, %d guests, idle", g.Rooms, g.Links, g.Guests), g.RSSIdle},
				memRow{fmt.Sprintf("guest_gateway, %d rooms, after c=%d over %d guests", g.Rooms, g.Gate.Conc, g.Cookies), g.RSSAfter})
		}
		for _, m := range rows {
			d := "-"
			if r.plainRSS > 0 {
				d = fmt.Sprintf("%+.1f", mb(m.RSS-r.plainRSS))
			}
			fmt.Fprintf(tw, "%s\t%.1f\t%s\t\n", m.What, mb(m.RSS), d)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}

	if len(r.start) > 0 || len(r.growth) > 0 {
		fmt.Fprintln(w, "START: from the process start to the first HTTP answer (polled every 2 ms)")
		fmt.Fprintln(tw, "process\tms\t")
		for _, s := range r.start {
			fmt.Fprintf(tw, "%s\t%.1f\t\n", s.What, ms(s.Took))
		}
		for _, g := range r.growth {
			fmt.Fprintf(tw, "guest_gateway, %d rooms, %d links, %d guests\t%.1f\t\n", g.Rooms, g.Links, g.Guests, ms(g.StartLoaded))
		}
		tw.Flush()
		fmt.Fprintln(w)
	}

	if len(r.growth) > 0 {
		fmt.Fprintln(w, "GROWTH: guest_gateway on a loaded store; rooms and links loaded through the moderator API, guests pre-loaded")
		fmt.Fprintln(w, "offline (store/badger opened directly, guestlink.Service.Redeem, 64 goroutines, SyncWrites on) while Caddy is")
		fmt.Fprintln(w, "stopped; then Caddy runs once until idle (settle: the compactions the bulk load left) and is started again to")
		fmt.Fprintln(w, "measure; the gate cell sends the cookies of that many distinct guests, spread over the store")
		fmt.Fprintln(tw, "rooms\tlinks\tguests\tAPI load req/s\toffline guests/s\tsettle s\tstore MB\tstart ms\tRSS idle MB\tRSS - plain MB\tconc\tguests sent\treq/s\tp50 ms\tp99 ms\tRSS after MB\t")
		for _, g := range r.growth {
			d := "-"
			if r.plainRSS > 0 {
				d = fmt.Sprintf("%+.1f", mb(g.RSSIdle-r.plainRSS))
			}
			fmt.Fprintf(tw, "%d\t%d\t%d\t%.0f\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t%d\t%d\t%.0f\t%.3f\t%.3f\t%.1f\t\n",
				g.Rooms, g.Links, g.Guests, g.APIRate, g.GuestRate, g.Settle.Seconds(), mb(g.StoreBytes), ms(g.StartLoaded), mb(g.RSSIdle), d,
				g.Gate.Conc, g.Cookies, g.Gate.RPS, ms(g.Gate.P50), ms(g.Gate.P99), mb(g.RSSAfter))
		}
		tw.Flush()
		fmt.Fprintln(w)
	}

	r.printPostgres(w, tw)
	r.printTargets(w, tw)
	if r.profiles != "" {
		fmt.Fprintf(w, "profiles at c=%d (%ds): %s/{plain,gated,badger,postgres,badger-redeem,postgres-redeem}/{cpu,allocs}.pprof (badger and postgres: the postgres part's gate cells; *-redeem: a spread burst of its own), top lists in cpu-top.txt, allocs-space-top.txt, allocs-objects-top.txt; cpu-diff-top.txt against plain\n", o.conc[len(o.conc)-1], o.pprofSeconds, r.profiles)
	}
	if !r.finished.IsZero() {
		fmt.Fprintf(w, "total time %v\n", r.finished.Sub(r.started).Round(time.Second))
	}
}

// target is one line of a TARGETS table.
type target struct{ what, got, verdict string }

func verdict(met bool, by string) string {
	if met {
		return "met"
	}
	return "MISSED by " + by
}

// printTargetTable prints ts under title, if there are any.
func printTargetTable(w io.Writer, tw *tabwriter.Writer, title string, ts []target) {
	if len(ts) == 0 {
		return
	}
	fmt.Fprintln(w, title)
	fmt.Fprintln(tw, "target\tthis run\tverdict\t")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", t.what, t.got, t.verdict)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// printTargets compares the run with the gateway's targets (docs/PERFORMANCE.md).
// It only reports; nothing here fails the run.
func (r *report) printTargets(w io.Writer, tw *tabwriter.Writer) {
	var ts []target
	gatedName := setupNames[setupGated]
	top := r.o.conc[len(r.o.conc)-1]
	if ratio, d, _, _, ok := r.compare(gatedName, top); ok {
		ts = append(ts, target{fmt.Sprintf("gated/plain req/s at c=%d >= 0.95", top), fmt.Sprintf("%.3f", ratio), verdict(ratio >= 0.95, fmt.Sprintf("%.3f", 0.95-ratio))})
		ts = append(ts, target{fmt.Sprintf("gated p50 - plain p50 at c=%d <= +0.1 ms", top), fmt.Sprintf("%+.3f ms", d), verdict(d <= 0.1, fmt.Sprintf("%.3f ms", d-0.1))})
	}
	for i, b := range r.bursts {
		want := 1000.0
		what := "redemptions/s spread over links >= 1000"
		if i > 0 {
			want, what = 500, "redemptions/s on one hot link >= 500"
		}
		ts = append(ts, target{what, fmt.Sprintf("%.0f/s", b.Rate), verdict(b.Rate >= want, fmt.Sprintf("%.0f/s", want-b.Rate))})
		if b.MaxClicks > 0 {
			ts = append(ts, target{"hot link admits exactly max clicks, no 5xx", fmt.Sprintf("%d of %d, clicks %d, %d 5xx", b.Admitted, b.MaxClicks, b.Clicks, b.Server), verdict(!strings.HasPrefix(b.Check, "FAILED"), "see above")})
		}
	}
	if r.plainRSS > 0 && r.gatedIdleRSS > 0 {
		d := mb(r.gatedIdleRSS - r.plainRSS)
		ts = append(ts, target{"idle RSS - plain <= 10 MB", fmt.Sprintf("%+.1f MB", d), verdict(d <= 10, fmt.Sprintf("%.1f MB", d-10))})
	}
	for _, g := range r.growth {
		if g.Rooms > targetRooms {
			continue // growth beyond the sizes: the GROWTH table shows it, no target applies
		}
		if r.plainRSS > 0 {
			d := mb(g.RSSIdle - r.plainRSS)
			ts = append(ts, target{fmt.Sprintf("RSS - plain with %d rooms, %d links, %d guests <= 60 MB", g.Rooms, g.Links, g.Guests), fmt.Sprintf("%+.1f MB", d), verdict(d <= 60, fmt.Sprintf("%.1f MB", d-60))})
		}
		ts = append(ts, target{fmt.Sprintf("start to first answer with %d rooms, %d guests <= 1 s", g.Rooms, g.Guests), fmt.Sprintf("%.0f ms", ms(g.StartLoaded)), verdict(g.StartLoaded <= time.Second, (g.StartLoaded - time.Second).Round(time.Millisecond).String())})
	}
	printTargetTable(w, tw, "TARGETS of the gate's cost, on this run (the per-request gate cost is measured by go test -bench Gate ./entrypage/)", ts)
	if r.pg != nil {
		printTargetTable(w, tw, "TARGETS of several gateways on one PostgreSQL, on this run", r.pg.targets())
	}
}

// printPostgres prints the postgres part, if it ran or was skipped.
func (r *report) printPostgres(w io.Writer, tw *tabwriter.Writer) {
	pg := r.pg
	if pg == nil {
		return
	}
	if pg.skipped != "" {
		fmt.Fprintf(w, "POSTGRESQL: skipped: %s\n\n", pg.skipped)
		return
	}
	fmt.Fprintf(w, "POSTGRESQL %s: guest_gateway on one database of a throwaway cluster on this machine's disk, the server's\n", pg.version)
	fmt.Fprintln(w, "defaults (fsync, synchronous_commit on), beside guest_gateway on Badger (SyncWrites on), in this run")
	if len(pg.commits) > 0 {
		fmt.Fprintln(w, "disk: one-row INSERTs, each its own transaction, from N connections in turn (a gateway's pool holds at most 4 here)")
		fmt.Fprintln(tw, "connections\tcommits/s sync on\tp50 ms\tp99 ms\tcommits/s sync off\tp50 ms\tp99 ms\ton/off\t")
		for i := 0; i+1 < len(pg.commits); i += 2 {
			on, off := pg.commits[i], pg.commits[i+1]
			fmt.Fprintf(tw, "%d\t%.0f\t%.3f\t%.3f\t%.0f\t%.3f\t%.3f\t%.2f\t\n", on.Conns, on.Rate, ms(on.P50), ms(on.P99), off.Rate, ms(off.P50), ms(off.P99), on.Rate/off.Rate)
		}
		tw.Flush()
	}
	if len(pg.gate) > 0 {
		gate := &report{proxy: pg.gate}
		top := r.o.conc[len(r.o.conc)-1]
		fmt.Fprintf(w, "gate: the guest's proxied GET at c=%d, the two stores interleaved as the proxy cells are (medians over %d rounds)\n", top, r.o.rounds)
		fmt.Fprintln(tw, "store\treq/s\tp50 ms\tp99 ms\tnon-200\terrors\tCaddy CPUs\tCaddy us/req\t")
		for _, s := range []string{gateBadger, gatePostgres} {
			if x, ok := gate.find(s, top); ok {
				fmt.Fprintf(tw, "%s\t%.0f\t%.3f\t%.3f\t%d\t%d\t%.2f\t%.1f\t\n", s, x.RPS, ms(x.P50), ms(x.P99), x.Bad, x.Errors, x.CaddyCPU, x.CaddyUS)
			}
		}
		tw.Flush()
		if rps, cpu, ok := pg.gateRatio(); ok {
			fmt.Fprintf(w, "PostgreSQL against Badger: req/s %.3f, Caddy us/req %.3f\n", rps, cpu)
		}
		for _, g := range pg.gc {
			fmt.Fprintf(w, "  %s: %d garbage collections during the cells, heap %.1f MB after\n", g.Setup, g.Cycles, mb(int64(g.HeapAlloc)))
		}
	}
	if len(pg.bursts) > 0 {
		fmt.Fprintf(w, "redemptions over HTTP as above; the spread bursts of the three setups in one-second slices in turn, then the hot links one\n")
		fmt.Fprintln(w, "after the other; with 3 instances the guests go round robin over them; vs Badger = rate / Badger's in the same case;")
		fmt.Fprintln(w, "CPUs: what Caddy, PostgreSQL and this process (the guests) used together; CPU per 303 in us (a hot link's includes its 410s)")
		fmt.Fprintln(tw, "setup\tcase\tguests\t303\tredemptions/s\tvs Badger\tp50 ms\tp99 ms\t4xx\t5xx\terrors\tclicks (API)\tcheck\tCPUs\tCaddy us/303\tPostgreSQL us/303\tguests us/303\t")
		for i, b := range pg.bursts {
			clicks, vs := "-", "-"
			if b.MaxClicks > 0 {
				clicks = fmt.Sprint(b.Clicks)
			}
			if base := pg.bursts[i%2]; i >= 2 && base.Rate > 0 {
				vs = fmt.Sprintf("%.2f", b.Rate/base.Rate)
			}
			per := func(d time.Duration) float64 {
				return float64(d) / float64(time.Microsecond) / float64(max(b.Admitted, 1))
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f\t%s\t%.3f\t%.3f\t%d\t%d\t%d\t%s\t%s\t%.2f\t%.0f\t%.0f\t%.0f\t\n", b.Setup, b.Case, b.Attempts, b.Admitted, b.Rate, vs, ms(b.P50), ms(b.P99), b.Refused, b.Server, b.Errors, clicks, b.Check,
				(b.CPU.Caddy+b.CPU.DB+b.CPU.Load).Seconds()/b.Elapsed.Seconds(), per(b.CPU.Caddy), per(b.CPU.DB), per(b.CPU.Load))
		}
		tw.Flush()
		if len(pg.commits) == 6 {
			fmt.Fprintf(w, "what the disk allows (commits/s with synchronous_commit on, above): a hot link commits one redemption at a time, as its row\n")
			fmt.Fprintf(w, "stays locked until the commit is flushed: at most %.0f/s (1 connection); one instance at most %.0f/s (4), three at most %.0f/s (12)\n",
				pg.commits[0].Rate, pg.commits[2].Rate, pg.commits[4].Rate)
		}
	}
	if len(pg.propagation) > 0 || pg.lost > 0 {
		fmt.Fprintf(w, "propagation: guest access turned off and on %d times through one of 3 instances in turn, from the API's answer until each\n", r.o.pgChanges)
		fmt.Fprintf(w, "other instance's gate refuses or serves the guest (polled every ms): %d times, p50 %.1f ms, p99 %.1f ms, max %.1f ms, %d lost\n",
			len(pg.propagation), ms(pg.propagationQuantile(0.5)), ms(pg.propagationQuantile(0.99)), ms(pg.propagationQuantile(1)), pg.lost)
	}
	if len(pg.memory) > 0 || len(pg.start) > 0 {
		fmt.Fprintln(tw, "process\tVmRSS MB\tstart ms\t")
		for _, m := range pg.memory {
			fmt.Fprintf(tw, "%s\t%.1f\t-\t\n", m.What, mb(m.RSS))
		}
		for _, s := range pg.start {
			fmt.Fprintf(tw, "%s\t-\t%.1f\t\n", s.What, ms(s.Took))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
}

// targets compares the postgres part with its targets: redemptions on one and
// on three instances, exact; the gate against Badger's; propagation.
func (pg *pgReport) targets() []target {
	var ts []target
	for i, b := range pg.bursts {
		if !strings.HasPrefix(b.Setup, "PostgreSQL") {
			continue
		}
		want, what := 1000.0, "redemptions/s spread over links >= 1000"
		if i%2 == 1 {
			want, what = 400, "redemptions/s on one hot link >= 400"
		}
		ts = append(ts, target{b.Setup + ": " + what, fmt.Sprintf("%.0f/s", b.Rate), verdict(b.Rate >= want, fmt.Sprintf("%.0f/s", want-b.Rate))})
		if b.MaxClicks > 0 {
			ts = append(ts, target{b.Setup + ": hot link admits exactly max clicks, no 5xx", fmt.Sprintf("%d of %d, clicks %d, %d 5xx", b.Admitted, b.MaxClicks, b.Clicks, b.Server), verdict(!strings.HasPrefix(b.Check, "FAILED"), "see above")})
		}
	}
	if rps, _, ok := pg.gateRatio(); ok {
		ts = append(ts, target{"gate req/s on PostgreSQL / on Badger >= 0.97", fmt.Sprintf("%.3f", rps), verdict(rps >= 0.97, fmt.Sprintf("%.3f", 0.97-rps))})
	}
	if len(pg.propagation) > 0 {
		p99 := pg.propagationQuantile(0.99)
		ts = append(ts, target{"a change seen by another instance's gate, p99 <= 250 ms", fmt.Sprintf("%.1f ms (%d times, %d lost)", ms(p99), len(pg.propagation), pg.lost),
			verdict(p99 <= 250*time.Millisecond && pg.lost == 0, fmt.Sprintf("%.1f ms", ms(p99-250*time.Millisecond)))})
	}
	return ts
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/guestgate/guestgate/internal/testpg"
)

// The postgres part: guest_gateway on one PostgreSQL database beside
// guest_gateway on Badger, in the same run. It starts a throwaway PostgreSQL
// cluster (internal/testpg) on this machine's disk with the server's defaults
// (fsync and synchronous_commit on), and measures
//
//   - the disk: one-row INSERTs, each its own transaction, from 1, 4 and 12
//     connections (a gateway's pool holds at most 4 on this machine, three
//     gateways' 12), with synchronous_commit on and off;
//   - the gate: the returning guest's proxied GET at the highest concurrency,
//     Badger and PostgreSQL interleaved as the proxy cells are;
//   - redemptions: the spread burst on Badger, on one PostgreSQL instance and
//     on three on one database (guests round robin over the three), in
//     one-second slices in turn; then the hot link on each, exact;
//   - propagation: guest access turned off or on through one of the three,
//     from the API's answer until each other instance's gate answers so;
//   - idle memory and start.

// pgReport is what the postgres part measured.
type pgReport struct {
	skipped     string // why the part did not run: PostgreSQL is not installed
	version     string // the server's
	commits     []commitCell
	gate        []cell // gateBadger's and gatePostgres's, round after round
	gc          [2]gcRow
	bursts      []burst // setup by setup: spread, then hot
	propagation []time.Duration
	lost        int // changes an instance had not shown after propagationLimit
	memory      []memRow
	start       []startRow
}

// gcRow is what Go's collector did in a process during the gate cells.
type gcRow struct {
	Setup     string
	Cycles    uint32 // collections
	HeapAlloc uint64 // bytes, after the cells
}

// Names of the stores in the gate cells.
const (
	gateBadger   = "guest_gateway on Badger"
	gatePostgres = "guest_gateway on PostgreSQL"
)

// propagationLimit is how long a change may take to reach another instance
// before the bench calls it lost: beyond the store's poll, which catches what
// a lost notification missed.
const propagationLimit = 10 * time.Second

// storeSetup is guest_gateway on one store: one instance, or several on one
// database.
type storeSetup struct {
	name    string
	procs   []*caddyProc
	apis    []*api
	addrs   []string
	session string // the bench guest's, redeemed through the first instance
	next    int64  // the number of the next guest of a burst (its address)
}

func (s *storeSetup) stop(b *bench) error {
	var errs []error
	for i, p := range s.procs {
		s.apis[i].close()
		errs = append(errs, b.procs.stop(p))
	}
	return errors.Join(errs...)
}

// postgres runs the postgres part. Without PostgreSQL it records why and
// returns nil, unless CI is set (testpg.Skippable).
func (b *bench) postgres(ctx context.Context) error {
	pg := &pgReport{}
	b.rep.pg = pg
	b.logf("postgres: starting a PostgreSQL cluster")
	c, err := testpg.New()
	if testpg.Skippable(err) {
		pg.skipped = err.Error()
		b.logf("postgres: skipped: %v", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer c.Close()
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&pg.version); err != nil {
		return err
	}
	for _, db := range []string{"gg_one", "gg_three", "gg_bench"} {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			return err
		}
	}
	if pg.commits, err = b.commitRates(ctx, c.DSN("gg_bench")); err != nil {
		return fmt.Errorf("commit rates: %w", err)
	}

	var setups []*storeSetup
	defer func() {
		for _, s := range setups {
			_ = s.stop(b)
		}
	}()
	for _, st := range []struct {
		key, name, store, start string
		n                       int
	}{
		{"badger", "Badger, 1 instance", filepath.Join(b.dir, "store-pg-badger"), "guest_gateway on Badger, empty store", 1},
		{"pg-one", "PostgreSQL, 1 instance", "postgres " + c.DSN("gg_one"), "guest_gateway on PostgreSQL, empty database (applies the schema)", 1},
		{"pg-three", "PostgreSQL, 3 instances", "postgres " + c.DSN("gg_three"), "guest_gateway on PostgreSQL, the first of three on one database", 3},
	} {
		s, err := b.startStore(ctx, st.key, st.name, st.store, st.start, st.n)
		if s != nil {
			setups = append(setups, s)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
	}
	badger, one, three := setups[0], setups[1], setups[2]
	for _, s := range setups[:2] {
		rss, err := b.settle(ctx, s.procs[0], b.proxyRequest(s.addrs[0], roomPath, s.session), http.StatusOK)
		if err != nil {
			return err
		}
		pg.memory = append(pg.memory, memRow{"guest_gateway on " + s.name + ", 1 room, idle", rss})
	}

	gate := []*proxyTarget{
		{setup: gateBadger, p: badger.procs[0], reqs: [][]byte{b.proxyRequest(badger.addrs[0], roomPath, badger.session)}},
		{setup: gatePostgres, p: one.procs[0], reqs: [][]byte{b.proxyRequest(one.addrs[0], roomPath, one.session)}},
	}
	var before [2]goMem
	for i, t := range gate {
		if before[i], err = t.p.goMem(ctx); err != nil {
			return err
		}
	}
	for round := 1; round <= b.o.rounds; round++ {
		cells, err := b.interleave(ctx, round, gate, b.o.conc[len(b.o.conc)-1:])
		pg.gate = append(pg.gate, cells...)
		if err != nil {
			return fmt.Errorf("gate cells: %w", err)
		}
	}
	for i, t := range gate {
		after, err := t.p.goMem(ctx)
		if err != nil {
			return err
		}
		pg.gc[i] = gcRow{t.setup, after.NumGC - before[i].NumGC, after.HeapAlloc}
	}

	if b.o.pprofDir != "" {
		for i, kind := range []string{"badger", "postgres"} {
			if err := b.profile(ctx, gate[i].p, kind, gate[i].reqs[0]); err != nil {
				return err
			}
		}
	}
	dbPID, err := c.PID()
	if err != nil {
		return err
	}
	if pg.bursts, err = b.storeBursts(ctx, setups, dbPID); err != nil {
		return err
	}
	for _, s := range setups[:2] {
		if rss, err := s.procs[0].rss(); err == nil {
			pg.memory = append(pg.memory, memRow{"guest_gateway on " + s.name + ", after the gate cells and bursts", rss})
		}
	}
	if pg.propagation, pg.lost, err = b.propagate(ctx, three); err != nil {
		return fmt.Errorf("propagation: %w", err)
	}
	return nil
}

// startStore starts n instances of guest_gateway on store (a Badger directory,
// or "postgres <dsn>"), one after the other, named key-1, key-2, ..., and
// redeems the bench guest through the first. The first start's time is
// recorded as startWhat, and a second instance's, if any, too.
func (b *bench) startStore(ctx context.Context, key, name, store, startWhat string, n int) (*storeSetup, error) {
	s := &storeSetup{name: name, next: 1_000}
	for i := range n {
		p, took, err := b.startNew(ctx, setupGated, store, fmt.Sprintf("%s-%d", key, i+1))
		if err != nil {
			return s, err
		}
		s.procs, s.apis, s.addrs = append(s.procs, p), append(s.apis, newAPI(p.base)), append(s.addrs, p.addr)
		switch i {
		case 0:
			b.rep.pg.start = append(b.rep.pg.start, startRow{startWhat, took})
		case 1:
			b.rep.pg.start = append(b.rep.pg.start, startRow{"guest_gateway on PostgreSQL, another instance on the same database", took})
		}
		b.logf("%s: instance %d answered %v after start", name, i+1, took.Round(time.Microsecond))
	}
	var err error
	s.session, err = benchGuest(ctx, s.apis[0], s.addrs[0])
	return s, err
}

// cpuNow returns the CPU time so far of s's Caddy processes, of the database
// server of postmaster dbPID and of this process.
func (s *storeSetup) cpuNow(dbPID int) (cpuTimes, error) {
	var c cpuTimes
	for _, p := range s.procs {
		t, err := p.cpuTime()
		if err != nil {
			return c, err
		}
		c.Caddy += t
	}
	var err1, err2 error
	c.DB, err1 = treeCPU(dbPID)
	c.Load, err2 = selfCPU()
	return c, errors.Join(err1, err2)
}

// measured runs run and sets the CPU times of the burst it returns.
func (s *storeSetup) measured(dbPID int, run func() (burst, error)) (burst, error) {
	before, err := s.cpuNow(dbPID)
	if err != nil {
		return burst{}, err
	}
	r, err := run()
	if err != nil {
		return r, err
	}
	after, err := s.cpuNow(dbPID)
	r.CPU = after.minus(before)
	return r, err
}

// storeBursts runs the spread burst on every setup, in one-second slices in
// turn (rotating the order, as interleave does), then the hot link on each,
// and measures the CPU time the setup's Caddy processes, the PostgreSQL
// server of postmaster dbPID and this process ran during each.
func (b *bench) storeBursts(ctx context.Context, setups []*storeSetup, dbPID int) ([]burst, error) {
	paths := make([][]string, len(setups))
	for i, s := range setups {
		var err error
		if paths[i], err = b.spreadLinks(ctx, s.apis[0]); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	slices := max(1, int(b.o.duration/time.Second))
	dur := b.o.duration / time.Duration(slices)
	spread := make([]burst, len(setups))
	name := fmt.Sprintf("spread: %d rooms x 3 links", b.o.spreadRooms)
	for sl := range slices {
		for k := range setups {
			i := (k + sl) % len(setups)
			s := setups[i]
			r, err := s.measured(dbPID, func() (burst, error) {
				return redeemBurst(ctx, name, s.addrs, paths[i], b.o.clients, b.o.spreadMax, dur, s.next)
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.name, err)
			}
			s.next += r.Attempts
			spread[i].add(r)
		}
	}
	var out []burst
	for i, s := range setups {
		spread[i].Setup = s.name
		checkSpread(&spread[i])
		b.logf("%s, %s: %d admitted, %.0f/s, codes %v", s.name, name, spread[i].Admitted, spread[i].Rate, spread[i].Codes)
		hot, err := s.measured(dbPID, func() (burst, error) { return b.hotBurst(ctx, s.addrs, s.apis[0], s.next) })
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		hot.Setup = s.name
		out = append(out, spread[i], hot)
	}
	if b.o.pprofDir != "" {
		// Where a spread redemption's CPU goes in Caddy, on Badger and on one
		// PostgreSQL instance: a burst of its own while the profiles run.
		for i, kind := range []string{"badger-redeem", "postgres-redeem"} {
			s := setups[i]
			b.logf("profiling %s during a spread burst for %ds", kind, b.o.pprofSeconds)
			err := b.profileDuring(ctx, s.procs[0], kind, func(ctx context.Context, dur time.Duration) error {
				r, err := redeemBurst(ctx, name, s.addrs[:1], paths[i], b.o.clients, b.o.spreadMax, dur, s.next)
				s.next += r.Attempts
				return err
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// propagate turns guest access to room "bench" off and on, o.pgChanges
// times, each time through the next instance of s, and measures from the
// API's answer until each other instance's gate refuses (403) or serves (200)
// the bench guest. It returns the times and how many an instance had not
// shown after propagationLimit.
func (b *bench) propagate(ctx context.Context, s *storeSetup) ([]time.Duration, int, error) {
	conns := make([]*rawConn, len(s.procs))
	reqs := make([][]byte, len(s.procs))
	for i, addr := range s.addrs {
		conns[i], reqs[i] = &rawConn{addr: addr, local: workerIP(i)}, b.proxyRequest(addr, roomPath, s.session)
		defer conns[i].close()
		// The guest was redeemed through the first instance: every one lets
		// it in before the first change.
		if _, ok, err := waitGate(ctx, conns[i], reqs[i], http.StatusOK, time.Now()); err != nil || !ok {
			return nil, 0, fmt.Errorf("%s instance %d does not let the bench guest in (%v)", s.name, i+1, err)
		}
	}
	var (
		took []time.Duration
		lost int
		mu   sync.Mutex
	)
	for n := range b.o.pgChanges {
		from, on := n%len(s.procs), n%2 == 1
		want := http.StatusForbidden
		if on {
			want = http.StatusOK
		}
		if err := s.apis[from].call(ctx, http.MethodPut, "/api/rooms/bench/guest-access", map[string]any{"enabled": on}, nil, http.StatusOK); err != nil {
			return took, lost, err
		}
		at := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, len(s.procs))
		for i := range s.procs {
			if i == from {
				continue
			}
			wg.Go(func() {
				d, ok, err := waitGate(ctx, conns[i], reqs[i], want, at)
				mu.Lock()
				defer mu.Unlock()
				errs[i] = err
				if ok {
					took = append(took, d)
				} else {
					lost++
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return took, lost, err
		}
	}
	b.logf("%s: %d changes, %d times, %d lost", s.name, b.o.pgChanges, len(took), lost)
	return took, lost, nil
}

// waitGate sends req on k every millisecond until the answer is want, for at
// most propagationLimit after since, and returns how long after since that was
// and whether it came.
func waitGate(ctx context.Context, k *rawConn, req []byte, want int, since time.Time) (time.Duration, bool, error) {
	for ctx.Err() == nil {
		resp, _, err := k.do(req, false)
		if err != nil {
			return 0, false, err
		}
		if resp.StatusCode == want {
			return time.Since(since), true, nil
		}
		if time.Since(since) > propagationLimit {
			return 0, false, nil
		}
		time.Sleep(time.Millisecond)
	}
	return 0, false, ctx.Err()
}

// commitCell is the commit rate of one-row INSERTs, each its own transaction,
// from Conns connections.
type commitCell struct {
	Conns    int
	Sync     bool // synchronous_commit
	Commits  int64
	Duration time.Duration
	Rate     float64
	P50, P99 time.Duration
	hist     histogram
}

// commitRates measures the commit rate of the database of dsn from 1, 4 and
// 12 connections, with synchronous_commit on and off, in slices in turn as
// interleave does; each variant runs half the duration of a load cell.
func (b *bench) commitRates(ctx context.Context, dsn string) ([]commitCell, error) {
	const most = 12
	var cells []*commitCell
	for _, n := range []int{1, 4, most} {
		cells = append(cells, &commitCell{Conns: n, Sync: true}, &commitCell{Conns: n})
	}
	conns := map[bool][]*pgx.Conn{}
	defer func() {
		for _, cs := range conns {
			for _, c := range cs {
				c.Close(context.WithoutCancel(ctx))
			}
		}
	}()
	for _, sync := range []bool{true, false} {
		for range most {
			c, err := pgx.Connect(ctx, dsn)
			if err != nil {
				return nil, err
			}
			conns[sync] = append(conns[sync], c)
			if !sync {
				if _, err := c.Exec(ctx, "SET synchronous_commit = off"); err != nil {
					return nil, err
				}
			}
		}
	}
	if _, err := conns[true][0].Exec(ctx, "CREATE TABLE commits (n bigint)"); err != nil {
		return nil, err
	}
	slices := max(1, int(b.o.duration/time.Second))
	dur := b.o.duration / 2 / time.Duration(slices)
	for sl := range slices {
		for k := range cells {
			x := cells[(k+sl)%len(cells)]
			var (
				mu  sync.Mutex
				wg  sync.WaitGroup
				err error
			)
			start := time.Now()
			end := start.Add(dur)
			for _, c := range conns[x.Sync][:x.Conns] {
				wg.Go(func() {
					var h histogram
					var n int64
					for time.Now().Before(end) && ctx.Err() == nil {
						t0 := time.Now()
						if _, e := c.Exec(ctx, "INSERT INTO commits VALUES ($1)", n); e != nil {
							mu.Lock()
							err = e
							mu.Unlock()
							return
						}
						h.record(time.Since(t0))
						n++
					}
					mu.Lock()
					x.hist.merge(&h)
					x.Commits += n
					mu.Unlock()
				})
			}
			wg.Wait()
			if err != nil {
				return nil, err
			}
			x.Duration += time.Since(start)
		}
	}
	out := make([]commitCell, len(cells))
	for i, x := range cells {
		x.Rate = float64(x.Commits) / x.Duration.Seconds()
		x.P50, x.P99 = x.hist.quantile(0.5), x.hist.quantile(0.99)
		out[i] = *x
		b.logf("commits: %2d connections, synchronous_commit %-3s: %6.0f/s  p50 %.3f ms  p99 %.3f ms", x.Conns, onOff(x.Sync), x.Rate, ms(x.P50), ms(x.P99))
	}
	return out, nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// gateRatio returns the medians, over the rounds, of PostgreSQL's req/s
// against Badger's in the same round, and of Caddy's CPU time per answer.
func (pg *pgReport) gateRatio() (rps, cpu float64, ok bool) {
	var rs, us []float64
	for _, x := range pg.gate {
		if x.Setup != gatePostgres {
			continue
		}
		i := slices.IndexFunc(pg.gate, func(y cell) bool { return y.Setup == gateBadger && y.Round == x.Round })
		if i < 0 || pg.gate[i].RPS <= 0 {
			continue
		}
		rs = append(rs, x.RPS/pg.gate[i].RPS)
		if pg.gate[i].CaddyUS > 0 {
			us = append(us, x.CaddyUS/pg.gate[i].CaddyUS)
		}
	}
	return median(rs), median(us), len(rs) > 0
}

// propagationQuantile is the q-quantile of the propagation times.
func (pg *pgReport) propagationQuantile(q float64) time.Duration {
	var h histogram
	for _, d := range pg.propagation {
		h.record(d)
	}
	return h.quantile(q)
}

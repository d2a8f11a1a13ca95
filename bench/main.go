// Command bench is guestgate's whole-process benchmark: it builds
// ./cmd/caddy, starts an upstream and a forward_auth endpoint in this process,
// runs Caddy processes (plain reverse_proxy, guest_gateway in front and
// forward_auth in front, up together and loaded in turn, one-second slices at a
// time; then guest_gateway on loaded stores, and on PostgreSQL beside Badger),
// drives them with a closed-loop load generator and prints one table.
//
// Run it from the module root:
//
//	go run ./bench                 # full run, 5 s per cell
//	go run ./bench -quick          # smoke run, well under a minute
//	go run ./bench -sizes 1000,10000,30000 -pprof /tmp/gg-prof
//
// Everything binds to 127.0.0.1; every Caddy it started is killed when it ends,
// on an error or on SIGINT/SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options of one run.
type options struct {
	// duration is the measured window of one load cell; warmup runs before it.
	duration, warmup time.Duration
	// conc are the concurrencies of the proxy cells.
	conc []int
	// rounds is how many times the proxy cells of every setup run, in turn.
	rounds int
	// sizes are the room counts of the loaded-store runs; each room has 3 links
	// and guestsPerRoom guests.
	sizes         []int
	guestsPerRoom int
	// clients is the concurrency of redemptions and of the loaded-store cell.
	clients int
	// spreadRooms rooms x 3 unlimited links take the spread redemptions, at most
	// spreadMax of them within duration.
	spreadRooms int
	spreadMax   int64
	// hotMax is the hot link's max clicks; hotAttempts guests try it.
	hotMax, hotAttempts int
	// cookies is the number of distinct guests whose cookies the loaded-store
	// cell sends.
	cookies int
	// pgChanges is how many changes the postgres part's propagation makes.
	pgChanges int
	// bin is a prebuilt binary; empty builds ./cmd/caddy.
	bin string
	// caddyCPUs, if set, pins every Caddy process to these CPUs with taskset.
	caddyCPUs string
	// gogc, if set, is the GOGC of every Caddy process.
	gogc string
	// browser makes the proxy cells send a browser's headers (see
	// browserHeaders) instead of a minimal request.
	browser bool
	// pprofDir, if set, receives CPU and allocation profiles of c=max runs of
	// the plain and the gated setup (pprofSeconds long) and their top listings.
	pprofDir     string
	pprofSeconds int
	// only limits the run to these parts: plain, gated, forward, sizes,
	// postgres.
	only map[string]bool
	// keep leaves the temporary directory (configs, logs, stores) in place.
	keep  bool
	quick bool
}

func (o options) part(name string) bool { return len(o.only) == 0 || o.only[name] }

// defaultOptions is the full run; quick shrinks it to a smoke run.
func defaultOptions(quick bool) options {
	o := options{
		duration: 5 * time.Second, warmup: time.Second, conc: []int{1, 16, 64}, rounds: 1,
		sizes: []int{10000}, guestsPerRoom: 10, clients: 64,
		spreadRooms: 100, spreadMax: 200000, hotMax: 2000, hotAttempts: 3000,
		cookies: 1000, pgChanges: 100, pprofSeconds: 5, quick: quick,
	}
	if quick {
		o.duration, o.warmup = 300*time.Millisecond, 100*time.Millisecond
		o.sizes = []int{100}
		o.spreadRooms, o.spreadMax = 10, 500
		o.hotMax, o.hotAttempts = 50, 75
		o.cookies = 100
		o.pgChanges = 10
	}
	return o
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive whole number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "a very short run (300 ms cells, small data) for CI smoke tests")
	duration := fs.Duration("duration", 0, "measured time of each load cell (default 5s, quick 300ms)")
	warmup := fs.Duration("warmup", 0, "unmeasured warm-up before each cell (default 1s, quick 100ms)")
	conc := fs.String("conc", "", "concurrencies of the proxy cells (default 1,16,64)")
	rounds := fs.Int("rounds", 1, "run the proxy cells of plain, gated and forward_auth this many times in turn; the table shows medians")
	sizes := fs.String("sizes", "", "room counts of the loaded-store runs, each room with 3 links and -guests-per-room guests (default 10000, quick 100); e.g. 1000,10000,30000")
	perRoom := fs.Int("guests-per-room", 0, "guests per room in the loaded-store runs (default 10)")
	hotMax := fs.Int("hot-max", 0, "max clicks of the hot link (default 2000, quick 50)")
	hotAttempts := fs.Int("hot-attempts", 0, "guests trying the hot link (default 3000, quick 75)")
	bin := fs.String("bin", "", "use this caddy binary instead of building ./cmd/caddy")
	pprofDir := fs.String("pprof", "", "directory for CPU and allocation profiles of the plain and the gated setup at the highest concurrency")
	pprofSeconds := fs.Int("pprof-seconds", 5, "length of the profiles")
	pgChanges := fs.Int("pg-changes", 0, "changes of guest access whose propagation across three instances on PostgreSQL is timed (default 100, quick 10)")
	only := fs.String("only", "", "run only these parts, comma-separated: plain, gated, forward, sizes, postgres")
	keep := fs.Bool("keep", false, "keep the temporary directory (configs, logs, stores)")
	browser := fs.Bool("browser", false, "proxy cells send the headers a browser sends (Accept, Accept-Language, a long User-Agent, client hints, Referer) and a site cookie besides the session; the default is a minimal request")
	caddyCPUs := fs.String("caddy-cpus", "", "run every Caddy process on these CPUs (taskset -c list, e.g. 1); start the bench itself on the others (taskset -c 0 go run ./bench -caddy-cpus 1) so the load generator does not compete with Caddy")
	gogc := fs.String("gogc", "", "run every Caddy process with this GOGC (default Go's, 100)")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o := defaultOptions(*quick)
	if *duration > 0 {
		o.duration = *duration
	}
	if *warmup > 0 {
		o.warmup = *warmup
	}
	var err error
	if *conc != "" {
		if o.conc, err = parseInts(*conc); err != nil {
			return o, fmt.Errorf("-conc: %w", err)
		}
	}
	if *sizes != "" {
		if o.sizes, err = parseInts(*sizes); err != nil {
			return o, fmt.Errorf("-sizes: %w", err)
		}
	}
	o.rounds = max(*rounds, 1)
	if *perRoom > 0 {
		o.guestsPerRoom = *perRoom
	}
	if *hotMax > 0 {
		o.hotMax = *hotMax
	}
	if *hotAttempts > 0 {
		o.hotAttempts = *hotAttempts
	}
	if *pgChanges > 0 {
		o.pgChanges = *pgChanges
	}
	if o.hotAttempts < o.hotMax {
		return o, errors.New("-hot-attempts must be at least -hot-max")
	}
	o.bin, o.pprofDir, o.pprofSeconds, o.keep = *bin, *pprofDir, max(*pprofSeconds, 1), *keep
	o.caddyCPUs, o.browser, o.gogc = *caddyCPUs, *browser, *gogc
	if *only != "" {
		o.only = map[string]bool{}
		for p := range strings.SplitSeq(*only, ",") {
			switch p = strings.TrimSpace(p); p {
			case "plain", "gated", "forward", "sizes", "postgres":
				o.only[p] = true
			default:
				return o, fmt.Errorf("-only: unknown part %q (plain, gated, forward, sizes, postgres)", p)
			}
		}
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &bench{o: o, progress: os.Stderr}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "bench: signal: stopping")
		cancel()
		select {
		case <-sigs:
		case <-time.After(15 * time.Second):
		}
		b.procs.killAll()
		os.Exit(130)
	}()
	rep, err := b.run(ctx)
	if rep != nil {
		rep.print(os.Stdout)
	}
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// logf writes a progress line to the progress writer.
func (b *bench) logf(format string, args ...any) {
	if b.progress != nil {
		fmt.Fprintf(b.progress, "%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
}

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ioTimeout bounds every read and write of one request on a connection.
const ioTimeout = 15 * time.Second

// ---- latency histogram ----

// histogram counts durations in log-linear buckets: exact below 256 ns, then 128
// buckets per power of two (under 0.8% error), up to the largest int64.
type histogram struct {
	counts [256 + 55*128]uint64
	n      uint64
}

func bucketOf(ns int64) int {
	if ns < 256 {
		return int(max(ns, 0))
	}
	e := 63 - bits.LeadingZeros64(uint64(ns)) // 8 .. 62
	m := ns >> (e - 7)                        // 128 .. 255
	return 256 + (e-8)*128 + int(m-128)
}

// bucketMid is the middle of bucket i, in ns.
func bucketMid(i int) float64 {
	if i < 256 {
		return float64(i)
	}
	e := (i-256)/128 + 8
	m := int64((i-256)%128 + 128)
	lo := m << (e - 7)
	return float64(lo) + float64(int64(1)<<(e-7))/2
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(int64(d))]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the q-quantile (0 < q <= 1); 0 for an empty histogram.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(bucketMid(i))
		}
	}
	return 0
}

// ---- a minimal HTTP/1.1 client ----

// rawConn is one keep-alive HTTP/1.1 connection from a chosen local address. It
// writes prepared request bytes and parses the answer with net/http, which costs
// the load generator far less CPU than http.Client (the generator shares the
// machine with the server it measures).
type rawConn struct {
	addr  string
	local net.IP // nil: any
	c     net.Conn
	br    *bufio.Reader
}

func (k *rawConn) close() {
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

func (k *rawConn) dial() error {
	d := net.Dialer{Timeout: 5 * time.Second}
	if k.local != nil {
		d.LocalAddr = &net.TCPAddr{IP: k.local}
	}
	c, err := d.Dial("tcp", k.addr)
	if err != nil {
		return err
	}
	k.c = c
	if k.br == nil {
		k.br = bufio.NewReaderSize(c, 16<<10)
	} else {
		k.br.Reset(c)
	}
	return nil
}

// do sends req and reads the answer. With keepBody the body is returned,
// otherwise it is discarded. On any error the connection is closed (the next
// call dials again).
func (k *rawConn) do(req []byte, keepBody bool) (*http.Response, []byte, error) {
	if k.c == nil {
		if err := k.dial(); err != nil {
			return nil, nil, err
		}
	}
	_ = k.c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := k.c.Write(req); err != nil {
		k.close()
		return nil, nil, err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		k.close()
		return nil, nil, err
	}
	var body []byte
	if keepBody {
		body, err = io.ReadAll(resp.Body)
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	if err != nil {
		k.close()
		return nil, nil, err
	}
	if resp.Close {
		k.close()
	}
	return resp, body, nil
}

// getRequest is a raw GET of path on host with extra header lines ("Name: value").
func getRequest(host, path string, headers ...string) []byte {
	s := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n"
	agent := false
	for _, h := range headers {
		s += h + "\r\n"
		agent = agent || strings.HasPrefix(h, "User-Agent:")
	}
	if !agent {
		s += "User-Agent: guestgate-bench\r\n"
	}
	return []byte(s + "\r\n")
}

// browserHeaders are what a current desktop browser sends with a same-site
// request for a page of the room, and a site cookie (analytics) that the
// gateway must keep while it strips its own: about 0.8 kB.
var browserHeaders = []string{
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8",
	"Accept-Encoding: gzip, deflate, br, zstd",
	"Accept-Language: de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7",
	"Cache-Control: max-age=0",
	`Sec-Ch-Ua: "Chromium";v="142", "Not_A Brand";v="24"`,
	"Sec-Ch-Ua-Mobile: ?0",
	`Sec-Ch-Ua-Platform: "Linux"`,
	"Sec-Fetch-Dest: document",
	"Sec-Fetch-Mode: navigate",
	"Sec-Fetch-Site: same-origin",
	"Sec-Fetch-User: ?1",
	"Upgrade-Insecure-Requests: 1",
	"Referer: http://127.0.0.1/rooms/bench/",
}

// siteCookie is the site's own cookie that browser requests carry.
const siteCookie = "_pk_id.1.dc78=4f1c2a9be0d3c7a1.1795988591."

// proxyRequest is the request of a proxy cell: minimal, or with a browser's
// headers; session, if set, is the guest's session cookie.
func (b *bench) proxyRequest(host, path, session string) []byte {
	var h []string
	cookies := ""
	if b.o.browser {
		h = append(h, browserHeaders...)
		cookies = siteCookie
	}
	if session != "" {
		if cookies != "" {
			cookies += "; "
		}
		cookies += "guestgate=" + session
	}
	if cookies != "" {
		h = append(h, "Cookie: "+cookies)
	}
	return getRequest(host, path, h...)
}

// workerIP is the local address of proxy worker w: 127.0.1.x, one address per
// worker, so that per-client budgets see every worker as one client.
func workerIP(w int) net.IP { return net.IPv4(127, 0, 1+byte(w/250), 1+byte(w%250)) }

// guestIP is the local address of the n-th simulated guest: 127.A.B.C with A
// from 10 on, so that every guest of a redemption run is a client of its own.
func guestIP(n int64) net.IP {
	const per = 254 * 254
	return net.IPv4(127, byte(10+(n/per)%200), byte(1+(n/254)%254), byte(1+n%254))
}

// ---- closed-loop load ----

// cell is the result of one load run at one concurrency.
type cell struct {
	Setup    string
	Conc     int
	Round    int
	Duration time.Duration // measured window
	OK       int64         // answers with the wanted status in the window
	Bad      int64         // answers with another status in the window
	Errors   int64         // network errors in the window
	Renewals int64         // answers carrying Set-Cookie (a renewed session)
	RPS      float64       // OK / Duration
	// CaddyCPU and LoadCPU are the CPUs (1 = one CPU fully busy) that the
	// Caddy process and this process (load generator, upstream, auth
	// endpoint) used during the window; CaddyUS is Caddy's CPU time per OK
	// answer in microseconds. Zero when the cell had no CPU probe.
	CaddyCPU, LoadCPU, CaddyUS float64

	hist                *histogram    // latencies of the OK answers
	caddyTime, loadTime time.Duration // CPU time used in the window
	P50, P99            time.Duration // latency of the OK answers
	BadCodes            map[int]int64
}

// loadSpec says what a closed-loop run sends.
type loadSpec struct {
	setup string
	addr  string
	reqs  [][]byte // worker w sends reqs[(w*stride+i) % len], i = 0, 1, ...
	want  int
	conc  int
	// warmup runs unmeasured before the window of length dur.
	warmup, dur time.Duration
	// maxRequests bounds the whole run (warm-up included).
	maxRequests int64
	// cpu, if set, returns the Caddy process's CPU time so far; it is read at
	// the start and the end of the window.
	cpu func() (time.Duration, error)
}

// runLoad runs conc closed-loop workers, each on its own keep-alive connection
// from its own local address, for spec.warmup + spec.dur, and measures the
// answers that complete inside the window.
func runLoad(ctx context.Context, spec loadSpec) (cell, error) {
	const (
		phaseWarmup = iota
		phaseMeasure
		phaseStop
	)
	var (
		phase    atomic.Int32
		sent     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		total    histogram
		res      = cell{Setup: spec.setup, Conc: spec.conc, BadCodes: map[int]int64{}}
		fatalErr error
	)
	stride := max(1, len(spec.reqs)/spec.conc)
	for w := range spec.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := new(histogram)
			var ok, bad, errs, renewals, consecutiveErrs int64
			badCodes := map[int]int64{}
			k := &rawConn{addr: spec.addr, local: workerIP(w)}
			defer k.close()
			for i := w * stride; phase.Load() != phaseStop && sent.Add(1) <= spec.maxRequests; i++ {
				req := spec.reqs[i%len(spec.reqs)]
				start := time.Now()
				resp, _, err := k.do(req, false)
				took := time.Since(start)
				measuring := phase.Load() == phaseMeasure
				if err != nil {
					consecutiveErrs++
					if measuring {
						errs++
					}
					if consecutiveErrs > 100 {
						mu.Lock()
						fatalErr = fmt.Errorf("%s c=%d: worker %d: %d network errors in a row, last: %w", spec.setup, spec.conc, w, consecutiveErrs, err)
						mu.Unlock()
						return
					}
					time.Sleep(time.Millisecond)
					continue
				}
				consecutiveErrs = 0
				if !measuring {
					continue
				}
				if resp.StatusCode != spec.want {
					bad++
					badCodes[resp.StatusCode]++
					continue
				}
				if len(resp.Header["Set-Cookie"]) > 0 {
					renewals++
				}
				ok++
				h.record(took)
			}
			mu.Lock()
			total.merge(h)
			res.OK += ok
			res.Bad += bad
			res.Errors += errs
			res.Renewals += renewals
			for c, n := range badCodes {
				res.BadCodes[c] += n
			}
			mu.Unlock()
		}()
	}
	var start, end time.Time
	sleep := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	var caddy0, caddy1, self0, self1 time.Duration
	var cpuErr error
	probe := func(caddy, self *time.Duration) {
		if spec.cpu == nil || cpuErr != nil {
			return
		}
		var err1, err2 error
		*caddy, err1 = spec.cpu()
		*self, err2 = selfCPU()
		cpuErr = errors.Join(err1, err2)
	}
	if sleep(spec.warmup) {
		probe(&caddy0, &self0)
		start = time.Now()
		phase.Store(phaseMeasure)
		sleep(spec.dur)
		end = time.Now()
		probe(&caddy1, &self1)
	}
	phase.Store(phaseStop)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if fatalErr != nil {
		return res, fatalErr
	}
	if start.IsZero() {
		return res, errors.New("the run was cut short")
	}
	if spec.cpu != nil && cpuErr != nil {
		return res, fmt.Errorf("reading CPU time: %w", cpuErr)
	}
	res.Duration, res.hist = end.Sub(start), &total
	res.caddyTime, res.loadTime = caddy1-caddy0, self1-self0
	res.derive()
	return res, nil
}

// derive computes the rates, quantiles and CPU shares from the counts, the
// histogram and the CPU times.
func (c *cell) derive() {
	secs := c.Duration.Seconds()
	if secs <= 0 {
		return
	}
	c.RPS = float64(c.OK) / secs
	if c.hist != nil {
		c.P50, c.P99 = c.hist.quantile(0.50), c.hist.quantile(0.99)
	}
	c.CaddyCPU, c.LoadCPU = c.caddyTime.Seconds()/secs, c.loadTime.Seconds()/secs
	if c.OK > 0 {
		c.CaddyUS = float64(c.caddyTime) / float64(time.Microsecond) / float64(c.OK)
	}
}

// add merges o, a slice of the same setup and concurrency, into c.
func (c *cell) add(o cell) {
	if c.hist == nil {
		c.hist = new(histogram)
	}
	if o.hist != nil {
		c.hist.merge(o.hist)
	}
	if c.BadCodes == nil {
		c.BadCodes = map[int]int64{}
	}
	for k, n := range o.BadCodes {
		c.BadCodes[k] += n
	}
	c.Setup, c.Conc, c.Round = o.Setup, o.Conc, o.Round
	c.Duration += o.Duration
	c.OK, c.Bad, c.Errors, c.Renewals = c.OK+o.OK, c.Bad+o.Bad, c.Errors+o.Errors, c.Renewals+o.Renewals
	c.caddyTime, c.loadTime = c.caddyTime+o.caddyTime, c.loadTime+o.loadTime
	c.derive()
}

// selfCPU returns the user + system CPU time this process has used.
func selfCPU() (time.Duration, error) {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0, err
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano()), nil
}

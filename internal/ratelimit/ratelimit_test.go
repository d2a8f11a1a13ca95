package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var epoch = time.Date(2026, 4, 16, 10, 0, 0, 0, time.UTC)

// clock is an injected clock the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) tick(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestAllow protects the budget the guest pages rely on: a client gets exactly
// Events at once (the burst), then nothing until the bucket refills at
// Events per Window; clients are counted apart; a zero Budget is no limiter at
// all, and a nil Limiter allows everything.
func TestAllow(t *testing.T) {
	c := &clock{t: epoch}
	l := New(Budget{Events: 3, Window: time.Minute}, c.now)
	for i := 1; i <= 3; i++ {
		if !l.Allow("192.0.2.1") {
			t.Fatalf("event %d of a burst of 3 refused", i)
		}
	}
	if l.Allow("192.0.2.1") {
		t.Fatal("event 4 of a burst of 3 allowed")
	}
	if !l.Allow("192.0.2.2") {
		t.Fatal("another client refused")
	}
	c.tick(19 * time.Second)
	if l.Allow("192.0.2.1") {
		t.Fatal("allowed before one event's share of the window (20s) passed")
	}
	c.tick(time.Second)
	if !l.Allow("192.0.2.1") {
		t.Fatal("refused after one event's share of the window passed")
	}
	if l.Allow("192.0.2.1") {
		t.Fatal("a second event allowed after one refill")
	}

	if New(Budget{}, c.now) != nil || New(Budget{Events: 3}, c.now) != nil || New(Budget{Window: time.Minute}, c.now) != nil {
		t.Error("a budget without events or window made a limiter")
	}
	var off *Limiter
	for range 100 {
		if !off.Allow("192.0.2.1") {
			t.Fatal("a nil Limiter refused")
		}
	}
	if a, ok := off.Begin("192.0.2.1"); !ok {
		t.Fatal("a nil Limiter refused an attempt")
	} else {
		a.Fail() // a nil Attempt: nothing happens
	}
	if off.Budget().On() {
		t.Error("a nil Limiter has a budget")
	}
}

// TestRetryAfter: Retry-After is one event's share of the window in whole
// seconds, rounded up, at least 1.
func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		b    Budget
		want string
	}{
		{Budget{30, time.Minute}, "2"},
		{Budget{20, time.Minute}, "3"},
		{Budget{3, time.Minute}, "20"},
		{Budget{7, time.Minute}, "9"},
		{Budget{3000, time.Minute}, "1"},
		{Budget{1, time.Hour}, "3600"},
	} {
		if got := tc.b.RetryAfter(); got != tc.want {
			t.Errorf("%d per %v: Retry-After %s, want %s", tc.b.Events, tc.b.Window, got, tc.want)
		}
	}
}

// TestAttempts protects what the moderator API's failed-authentication budget
// relies on: an attempt that fails spends one event, one that succeeds costs
// nothing (an operator with the right key is never limited by its own use), an
// attempt in flight holds its event so that parallel attempts cannot overshoot
// the budget, and a refused Begin holds nothing.
func TestAttempts(t *testing.T) {
	c := &clock{t: epoch}
	l := New(Budget{Events: 3, Window: time.Minute}, c.now)
	const ip = "192.0.2.1"

	for i := range 1000 {
		a, ok := l.Begin(ip)
		if !ok {
			t.Fatalf("successful attempt %d refused", i+1)
		}
		a.Succeed()
	}
	for i := 1; i <= 3; i++ {
		a, ok := l.Begin(ip)
		if !ok {
			t.Fatalf("failed attempt %d of 3 refused after 1000 successes", i)
		}
		a.Fail()
		a.Fail()    // only the first end counts
		a.Succeed() // likewise
	}
	if _, ok := l.Begin(ip); ok {
		t.Fatal("an attempt allowed after 3 failures")
	}
	if _, ok := l.Begin(ip); ok {
		t.Fatal("a refused Begin gave its client an event")
	}
	if _, ok := l.Begin("192.0.2.2"); !ok {
		t.Fatal("another client refused")
	}

	// Attempts in flight hold their events.
	c.tick(time.Minute) // full again
	var held []*Attempt
	for i := 1; i <= 3; i++ {
		a, ok := l.Begin(ip)
		if !ok {
			t.Fatalf("attempt %d in flight of 3 refused", i)
		}
		held = append(held, a)
	}
	if _, ok := l.Begin(ip); ok {
		t.Fatal("a 4th attempt allowed while 3 are in flight")
	}
	held[0].Succeed()
	a, ok := l.Begin(ip)
	if !ok {
		t.Fatal("refused after an attempt in flight succeeded")
	}
	held = append(held[1:], a)
	for _, a := range held {
		a.Fail()
	}
	if _, ok := l.Begin(ip); ok {
		t.Fatal("an attempt allowed after 3 more failures")
	}
	c.tick(20 * time.Second)
	if _, ok := l.Begin(ip); !ok {
		t.Fatal("refused after one event's share of the window")
	}
}

// TestAttemptsInParallel: 200 failing attempts at once from one client, at one
// instant of the injected clock, get exactly the budget's 30 through.
func TestAttemptsInParallel(t *testing.T) {
	c := &clock{t: epoch}
	l := New(Budget{Events: 30, Window: time.Minute}, c.now)
	var (
		through atomic.Int32
		start   = make(chan struct{})
		wg      sync.WaitGroup
	)
	for range 200 {
		wg.Go(func() {
			<-start
			a, ok := l.Begin("192.0.2.1")
			if !ok {
				return
			}
			through.Add(1)
			a.Fail()
		})
	}
	close(start)
	wg.Wait()
	if n := through.Load(); n != 30 {
		t.Errorf("%d of 200 parallel failing attempts got through, want 30", n)
	}
}

// TestTableBounded: the table never holds more than its bound; clients idle for
// a whole window go first (forgetting them changes nothing, their bucket is
// full), then the least recently seen half; a client with an attempt in flight
// is never dropped, so its Fail still counts.
func TestTableBounded(t *testing.T) {
	c := &clock{t: epoch}
	l := New(Budget{Events: 2, Window: time.Minute}, c.now)
	l.maxClients = 8
	ip := func(i int) string { return fmt.Sprintf("198.51.100.%d", i) }

	busy, ok := l.Begin("192.0.2.1") // in flight throughout
	if !ok {
		t.Fatal("Begin refused")
	}
	l.Allow("192.0.2.1")
	for i := range 7 {
		l.Allow(ip(i))
	}
	c.tick(time.Minute) // all idle for a window
	l.Allow(ip(100))    // the table is full: the idle go, the busy client stays
	if n := len(l.clients); n != 2 {
		t.Errorf("after evicting idle clients the table holds %d, want 2 (the busy one and the new one)", n)
	}
	for i := range 20 {
		c.tick(time.Second)
		l.Allow(ip(i))
		if n := len(l.clients); n > l.maxClients {
			t.Fatalf("the table holds %d clients, over its bound of %d", n, l.maxClients)
		}
	}
	if _, ok := l.clients["192.0.2.1"]; !ok {
		t.Fatal("the client with an attempt in flight was dropped")
	}
	// Its bucket is full again (2); the failure spends one, leaving one.
	busy.Fail()
	if _, ok := l.Begin("192.0.2.1"); !ok {
		t.Fatal("Begin refused with one event left")
	}
	if _, ok := l.Begin("192.0.2.1"); ok {
		t.Error("the failure of the attempt that was in flight did not count")
	}
}

// TestIPv6ByPrefix: an IPv6 client counts by its /64, which a host or a home or
// office network holds whole and may take any address of, so that rotating
// addresses within it buys a guesser no budget; another /64, IPv4 addresses
// and IPv4-mapped IPv6 addresses count apart, as before.
func TestIPv6ByPrefix(t *testing.T) {
	c := &clock{t: epoch}
	l := New(Budget{Events: 3, Window: time.Minute}, c.now)
	for i, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:ffff"} {
		if !l.Allow(ip) {
			t.Fatalf("event %d of a burst of 3 refused (%s)", i+1, ip)
		}
	}
	for _, ip := range []string{"2001:db8:1:2::3", "2001:DB8:1:2:0:0:0:4", "2001:db8:1:2::5%eth0"} {
		if l.Allow(ip) {
			t.Errorf("%s allowed after its /64 spent its burst", ip)
		}
	}
	if a, _ := l.Begin("2001:db8:1:2::6"); a != nil {
		t.Error("Begin held an event of a spent /64")
	}
	for _, ip := range []string{"2001:db8:1:3::1", "192.0.2.1", "192.0.2.2", "::ffff:192.0.2.3", "not an address"} {
		if !l.Allow(ip) {
			t.Errorf("%s refused: it is another client", ip)
		}
	}
}

// Package ratelimit is guestgate's per-client rate limiter: one token bucket
// (golang.org/x/time/rate) per client IP (for IPv6, per /64) for one Budget, in
// a bounded table. The guest pages (entrypage) count lookups and requests with
// Allow; the moderator API (admin) counts failed authentications with Begin,
// which lets a request hold an event while its outcome is unknown and give it
// back when it succeeds.
// The clock is injected.
package ratelimit

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Budget is a rate limit: Events per Window for one client IP, with a burst of
// Events. A zero Budget is off.
type Budget struct {
	Events int
	Window time.Duration
}

// On reports whether b limits anything.
func (b Budget) On() bool { return b.Events > 0 && b.Window > 0 }

// RetryAfter is the whole seconds until one more event is allowed (at least 1),
// for a Retry-After header.
func (b Budget) RetryAfter() string {
	s := math.Ceil(b.Window.Seconds() / float64(b.Events))
	return strconv.Itoa(max(int(s), 1))
}

// RemoteHost is the host part of r.RemoteAddr: the client a budget counts by
// when the caller has no better address (the Caddy glue passes Caddy's client
// IP, which honours trusted_proxies).
func RemoteHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// clientKey is the entry of the table that the client at address ip counts
// against: the address itself, but an IPv6 address's /64. A host, or a home or
// office network, gets a whole /64 and may use any address in it, so counting
// IPv6 addresses one by one would give one guesser 2^64 budgets; a /64 is what
// one IPv4 address behind NAT is. IPv4 (also written as IPv4-mapped IPv6) and
// anything that is no IP address count as they are.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// maxClients bounds the limiter table; past it, idle entries are dropped and,
// if none is idle, the oldest half goes (a reset budget, never unbounded memory).
const maxClients = 100_000

// Limiter keeps one token bucket per client IP for one Budget. A nil Limiter
// allows everything.
type Limiter struct {
	budget     Budget
	now        func() time.Time
	maxClients int

	mu      sync.Mutex
	clients map[string]*client
}

type client struct {
	lim     *rate.Limiter
	seen    time.Time
	pending int // events held by attempts in flight (Begin)
}

// New returns a Limiter for b that reads the time from now, or nil if b is off.
func New(b Budget, now func() time.Time) *Limiter {
	if !b.On() {
		return nil
	}
	return &Limiter{budget: b, now: now, maxClients: maxClients, clients: make(map[string]*client)}
}

// Budget is the budget l enforces; the zero Budget for a nil Limiter.
func (l *Limiter) Budget() Budget {
	if l == nil {
		return Budget{}
	}
	return l.budget
}

// Allow spends one event of ip's budget (its /64's for IPv6, see clientKey) and
// reports whether it was there. A nil Limiter allows everything.
func (l *Limiter) Allow(ip string) bool {
	if l == nil {
		return true
	}
	now := l.now()
	key := clientKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.client(key, now).lim.AllowN(now, 1)
}

// Begin holds one event of ip's budget for an attempt whose outcome is not known
// yet, such as an authentication: Fail spends it, Succeed gives it back. ok is
// false, and nothing is held, when ip's budget less the events held by its
// attempts in flight has no event left; so under any concurrency no more
// attempts get through than the budget has events. A nil Limiter holds nothing
// and always lets the attempt go on.
func (l *Limiter) Begin(ip string) (a *Attempt, ok bool) {
	if l == nil {
		return nil, true
	}
	now := l.now()
	key := clientKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.client(key, now)
	if c.lim.TokensAt(now)-float64(c.pending) < 1 {
		return nil, false
	}
	c.pending++
	return &Attempt{l: l, c: c}, true
}

// Attempt is an event held by Begin. Calling Fail or Succeed on a nil Attempt
// does nothing, and only the first call on an Attempt counts.
type Attempt struct {
	l    *Limiter
	c    *client
	done bool
}

// Fail spends the held event: the attempt counts against the budget.
func (a *Attempt) Fail() { a.end(true) }

// Succeed gives the held event back: the attempt costs nothing.
func (a *Attempt) Succeed() { a.end(false) }

func (a *Attempt) end(spend bool) {
	if a == nil {
		return
	}
	now := a.l.now()
	a.l.mu.Lock()
	defer a.l.mu.Unlock()
	if a.done {
		return
	}
	a.done = true
	a.c.pending--
	if spend {
		a.c.lim.AllowN(now, 1)
	}
}

// client returns the entry of key (clientKey), made if needed, and marks it seen
// at now. l.mu must be held.
func (l *Limiter) client(key string, now time.Time) *client {
	c, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= l.maxClients {
			l.evict(now)
		}
		c = &client{lim: rate.NewLimiter(rate.Limit(float64(l.budget.Events)/l.budget.Window.Seconds()), l.budget.Events)}
		l.clients[key] = c
	}
	c.seen = now
	return c
}

// evict drops clients idle for a whole window (their bucket is full again, so
// forgetting them changes nothing); if that frees too little, the least recently
// seen half. Clients with attempts in flight stay. l.mu must be held.
func (l *Limiter) evict(now time.Time) {
	for ip, c := range l.clients {
		if c.pending == 0 && now.Sub(c.seen) >= l.budget.Window {
			delete(l.clients, ip)
		}
	}
	if len(l.clients) < l.maxClients*3/4 {
		return
	}
	seen := make([]time.Time, 0, len(l.clients))
	for _, c := range l.clients {
		seen = append(seen, c.seen)
	}
	slices.SortFunc(seen, time.Time.Compare)
	cut := seen[len(seen)/2]
	for ip, c := range l.clients {
		if c.pending == 0 && !c.seen.After(cut) {
			delete(l.clients, ip)
		}
	}
}

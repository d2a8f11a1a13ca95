package entrypage

import (
	"math"
	"net/http"
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

// Default budgets. Lookups (unknown or malformed link tokens, rejected form posts)
// are tight, to stop guessing; requests (guest pages and requests without a
// session) are generous, so that a classroom of 300 guests behind one NAT address
// redeeming one link within a minute never meets them.
var (
	DefaultLookups  = Budget{Events: 30, Window: time.Minute}
	DefaultRequests = Budget{Events: 3000, Window: time.Minute}
)

func (b Budget) on() bool { return b.Events > 0 && b.Window > 0 }

// retryAfter is the whole seconds until one more event is allowed.
func (b Budget) retryAfter() string {
	s := math.Ceil(b.Window.Seconds() / float64(b.Events))
	return strconv.Itoa(max(int(s), 1))
}

// maxClients bounds the limiter table; past it, idle entries are dropped and,
// if none is idle, the oldest half goes (a reset budget, never unbounded memory).
const maxClients = 100_000

// limiter keeps one token bucket per client IP for one budget.
type limiter struct {
	budget Budget
	now    func() time.Time

	mu      sync.Mutex
	clients map[string]*client
}

type client struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(b Budget, now func() time.Time) *limiter {
	if !b.on() {
		return nil
	}
	return &limiter{budget: b, now: now, clients: make(map[string]*client)}
}

// allow spends one event of ip's budget and reports whether it was there. A nil
// limiter allows everything.
func (l *limiter) allow(ip string) bool {
	if l == nil {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.clients[ip]
	if !ok {
		if len(l.clients) >= maxClients {
			l.evict(now)
		}
		c = &client{lim: rate.NewLimiter(rate.Limit(float64(l.budget.Events)/l.budget.Window.Seconds()), l.budget.Events)}
		l.clients[ip] = c
	}
	c.seen = now
	return c.lim.AllowN(now, 1)
}

// evict drops clients idle for a whole window (their bucket is full again, so
// forgetting them changes nothing); if that frees too little, the least recently
// seen half.
func (l *limiter) evict(now time.Time) {
	for ip, c := range l.clients {
		if now.Sub(c.seen) >= l.budget.Window {
			delete(l.clients, ip)
		}
	}
	if len(l.clients) < maxClients*3/4 {
		return
	}
	seen := make([]time.Time, 0, len(l.clients))
	for _, c := range l.clients {
		seen = append(seen, c.seen)
	}
	slices.SortFunc(seen, time.Time.Compare)
	cut := seen[len(seen)/2]
	for ip, c := range l.clients {
		if !c.seen.After(cut) {
			delete(l.clients, ip)
		}
	}
}

// rateLimited answers 429 with the rate-limited page and Retry-After.
func (g *Gateway) rateLimited(w http.ResponseWriter, r *http.Request, b Budget) error {
	w.Header().Set("Retry-After", b.retryAfter())
	return g.pages.Message(w, r, ReasonRateLimited, "")
}

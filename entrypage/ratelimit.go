package entrypage

import (
	"net/http"
	"time"

	"github.com/guestgate/guestgate/internal/ratelimit"
)

// Budget is a rate limit: Events per Window for one client IP, with a burst of
// Events. A zero Budget is off.
type Budget = ratelimit.Budget

// Default budgets. Lookups (unknown or malformed link tokens, rejected form posts)
// are tight, to stop guessing; requests (guest pages and requests without a
// session) are generous, so that a classroom of 300 guests behind one NAT address
// redeeming one link within a minute never meets them.
var (
	DefaultLookups  = Budget{Events: 30, Window: time.Minute}
	DefaultRequests = Budget{Events: 3000, Window: time.Minute}
)

// limiter keeps one token bucket per client IP for one budget (the shared
// internal/ratelimit table); a nil limiter allows everything.
type limiter struct {
	*ratelimit.Limiter
	budget Budget
}

func newLimiter(b Budget, now func() time.Time) *limiter {
	if !b.On() {
		return nil
	}
	return &limiter{Limiter: ratelimit.New(b, now), budget: b}
}

// allow spends one event of ip's budget and reports whether it was there.
func (l *limiter) allow(ip string) bool {
	return l == nil || l.Allow(ip)
}

// rateLimited answers 429 with the rate-limited page and Retry-After.
func (g *Gateway) rateLimited(w http.ResponseWriter, r *http.Request, b Budget) error {
	w.Header().Set("Retry-After", b.RetryAfter())
	return g.pages.Message(w, r, ReasonRateLimited, "")
}

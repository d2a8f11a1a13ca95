package entrypage_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/entrypage"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/testpg"
	"github.com/guestgate/guestgate/internal/teststore"
	"github.com/guestgate/guestgate/store/postgres"
	"github.com/guestgate/guestgate/token"
)

// gateBench is a Gateway on a real Badger store in a temporary directory, with
// one room ("bench", guest access on), one link and one admitted guest, and the
// X-Guest-Token identity signer as Caddy configures it. Rate limits are off (a
// zero Budget) and no Caddy placeholders or metrics are set: those live in
// caddymodule.
type gateBench struct {
	gw     *entrypage.Gateway
	tokens *token.Issuer
	claims token.Claims // the guest's claims, as the entry form issues them
}

// newGateBench builds the gateway. The clock is fixed one minute after the
// redemption, so a token issued at the redemption needs no renewal (half of
// token_ttl is left) and no Set-Cookie is written. The clock is the real time
// at the start, because Badger's TTL on guest records (retention) counts in
// real time. edit, if not nil, sets more of the gateway's config.
func newGateBench(b *testing.B, edit func(*entrypage.Config)) *gateBench {
	b.Helper()
	return newGateBenchOn(b, teststore.Open(b), edit)
}

// newGateBenchOn is newGateBench on store, which is empty.
func newGateBenchOn(b *testing.B, store guestlink.Store, edit func(*entrypage.Config)) *gateBench {
	b.Helper()
	redeemedAt := time.Now().Truncate(time.Second)
	now := redeemedAt
	svc := &guestlink.Service{Store: store, Now: func() time.Time { return now }}
	l := teststore.RoomWithLinks(b, svc, "bench", guestlink.RoomSpec{Name: "Bench room"}, guestlink.LinkSpec{Name: "Bench link"})[0]
	_, _, g, err := svc.Redeem(context.Background(), l.Token, guestlink.GuestInput{Name: "Zoë Bench", Email: "zoe@example.com"})
	if err != nil {
		b.Fatalf("Redeem: %v", err)
	}
	if g.State != guestlink.StateAdmitted {
		b.Fatalf("guest state %q, want admitted", g.State)
	}
	now = redeemedAt.Add(time.Minute)

	// The identity token (X-Guest-Token) is on in every Caddy config.
	identity, err := token.NewIdentity(bytes.Repeat([]byte{0x44}, 32), "guestgate")
	if err != nil {
		b.Fatal(err)
	}
	gw, tokens := newGateway(b, svc, []string{"/rooms/{room}", "/rooms/{room}/*", "/static/*", "/ws/{room}"},
		func(c *entrypage.Config) {
			c.Identity = identity
			if edit != nil {
				edit(c)
			}
		})
	c := token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: g.ID},
		Room:             g.RoomID, LinkID: g.LinkID, Name: g.Name, Email: g.Email,
		State: g.State, AuthTime: g.RedeemedAt.Unix(),
	}
	return &gateBench{gw: gw, tokens: tokens, claims: c}
}

// issue returns a fresh session token of the guest (a new jti each call), issued
// at the redemption like the entry form does.
func (gb *gateBench) issue(b *testing.B) string {
	tok, _, err := gb.tokens.Issue(gb.claims, time.Unix(gb.claims.AuthTime, 0))
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// nopWriter is a ResponseWriter that keeps nothing; its header map is reused.
type nopWriter struct {
	h      http.Header
	status int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(status int)      { w.status = status }

// gateRequest is one reusable request through the gate.
type gateRequest struct {
	r      *http.Request
	w      *nopWriter
	cookie []string
	passed int
	next   func(http.ResponseWriter, *http.Request) error
}

func newGateRequest(b *testing.B, path string) *gateRequest {
	b.Helper()
	u, err := url.Parse("http://127.0.0.1" + path)
	if err != nil {
		b.Fatal(err)
	}
	gr := &gateRequest{w: &nopWriter{h: http.Header{}}, cookie: make([]string, 1)}
	gr.r = (&http.Request{
		Method: http.MethodGet, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Host: "127.0.0.1", RemoteAddr: "127.0.0.1:40000", RequestURI: path,
	}).WithContext(context.Background())
	gr.next = func(w http.ResponseWriter, r *http.Request) error {
		gr.passed++
		return nil
	}
	return gr
}

// set puts back what the gate changes (it strips the cookie and adds
// X-Guest-*) and makes the request carry Cookie header value cookie, without
// allocating.
func (gr *gateRequest) set(cookie string) {
	clear(gr.r.Header)
	clear(gr.w.h)
	gr.w.status = 0
	if cookie != "" {
		gr.cookie[0] = cookie
		gr.r.Header["Cookie"] = gr.cookie
	}
}

// serve runs the request through the gate and fails unless it reached next.
func (gr *gateRequest) serve(b *testing.B, gw *entrypage.Gateway) {
	before := gr.passed
	if err := gw.ServeHTTP(gr.w, gr.r, gr.next); err != nil {
		b.Fatal(err)
	}
	if gr.passed != before+1 {
		b.Fatalf("the gate refused a valid session: status %d", gr.w.status)
	}
}

// cookieValues returns the Cookie header values "guestgate=<tok>", built before
// the timer starts.
func cookieValues(toks ...string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = "guestgate=" + t
	}
	return out
}

// BenchmarkGateReturningCookie is the whole gate decision (docs/DESIGN.md section 2,
// steps 1 to 7) for a valid session cookie the gateway has seen before: the same
// cookie value on every request, as a guest's browser sends it while the room is
// open. next is a no-op; the store is a real Badger directory.
func BenchmarkGateReturningCookie(b *testing.B) {
	gb := newGateBench(b, nil)
	gr := newGateRequest(b, "/rooms/bench/chat")
	cookie := cookieValues(gb.issue(b))[0]
	gr.set(cookie)
	gr.serve(b, gb.gw) // the first sight of the cookie is not measured
	b.ReportAllocs()
	for b.Loop() {
		gr.set(cookie)
		gr.serve(b, gb.gw)
	}
}

// BenchmarkGateOnStores is BenchmarkGateReturningCookie on each store in one
// process: Badger, and PostgreSQL on a throwaway cluster (skipped where
// PostgreSQL is not installed, unless CI is set). The gate reads only the
// store's in-memory live state, so the two should cost the same here. bench/
// compares whole Caddy processes instead, where the Badger process's larger
// heap spaces Go's collections out (docs/PERFORMANCE.md).
func BenchmarkGateOnStores(b *testing.B) {
	c := testpg.Start(b)
	pg, err := postgres.Open(context.Background(), c.CreateDB(), postgres.Options{})
	if err != nil {
		b.Fatalf("opening the PostgreSQL store: %v", err)
	}
	b.Cleanup(func() { pg.Close() })
	stores := []struct {
		name  string
		store guestlink.Store
	}{{"badger", teststore.Open(b)}, {"postgres", pg}}
	for _, st := range stores {
		gb := newGateBenchOn(b, st.store, nil)
		gr := newGateRequest(b, "/rooms/bench/chat")
		cookie := cookieValues(gb.issue(b))[0]
		gr.set(cookie)
		gr.serve(b, gb.gw)
		b.Run(st.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				gr.set(cookie)
				gr.serve(b, gb.gw)
			}
		})
	}
}

// BenchmarkGateRoleRules is BenchmarkGateReturningCookie for a viewer under
// the role rules of docs/DESIGN.md section 7, posting to the chat (a write
// path): the rules' whole decision, with the allocations of the gate without
// rules.
func BenchmarkGateRoleRules(b *testing.B) {
	roles, err := entrypage.ParseRoleRules(map[string]entrypage.RoleRule{
		guestlink.RoleViewer:  {Methods: []string{"GET", "HEAD", "OPTIONS"}, Write: []string{"/rooms/{room}/chat"}},
		guestlink.RoleSpeaker: {Allow: []string{"/stage/{room}/*"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	gb := newGateBench(b, func(c *entrypage.Config) { c.Roles = roles })
	gb.claims.Role = guestlink.RoleViewer
	gr := newGateRequest(b, "/rooms/bench/chat")
	gr.r.Method = http.MethodPost
	cookie := cookieValues(gb.issue(b))[0]
	gr.set(cookie)
	gr.serve(b, gb.gw)
	b.ReportAllocs()
	for b.Loop() {
		gr.set(cookie)
		gr.serve(b, gb.gw)
	}
}

// BenchmarkGateReturningCookieParallel is BenchmarkGateReturningCookie from
// GOMAXPROCS goroutines at once, each with its own request and cookie value.
func BenchmarkGateReturningCookieParallel(b *testing.B) {
	gb := newGateBench(b, nil)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		gr := newGateRequest(b, "/rooms/bench/chat")
		cookie := cookieValues(gb.issue(b))[0]
		for pb.Next() {
			gr.set(cookie)
			before := gr.passed
			if err := gb.gw.ServeHTTP(gr.w, gr.r, gr.next); err != nil || gr.passed != before+1 {
				b.Errorf("the gate refused a valid session: status %d, error %v", gr.w.status, err)
				return
			}
		}
	})
}

// BenchmarkGateFirstSeenCookie is the gate decision for a valid session cookie
// the gateway has never seen: a token with a new jti on every request (as after a
// renewal, or a guest's first request after the entry form), so that no cache
// keyed by the cookie value can answer. The tokens are issued before the timer
// starts.
func BenchmarkGateFirstSeenCookie(b *testing.B) {
	gb := newGateBench(b, nil)
	gr := newGateRequest(b, "/rooms/bench/chat")
	toks := make([]string, b.N)
	for i := range toks {
		toks[i] = gb.issue(b)
	}
	cookies := cookieValues(toks...)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		gr.set(cookies[i])
		gr.serve(b, gb.gw)
	}
}

// BenchmarkGateHarness is the cost of the benchmarks' own request reset and
// no-op next handler, without the gate: subtract it from the numbers above.
func BenchmarkGateHarness(b *testing.B) {
	gr := newGateRequest(b, "/rooms/bench/chat")
	b.ReportAllocs()
	for b.Loop() {
		gr.set("guestgate=x")
		_ = gr.next(gr.w, gr.r)
	}
}

// BenchmarkGateNoSession is the refusal of a request without a session cookie
// (401 no-session page), the path every unauthenticated request takes.
func BenchmarkGateNoSession(b *testing.B) {
	gb := newGateBench(b, nil)
	gr := newGateRequest(b, "/rooms/bench/chat")
	b.ReportAllocs()
	for b.Loop() {
		gr.set("")
		if err := gb.gw.ServeHTTP(gr.w, gr.r, gr.next); err != nil {
			b.Fatal(err)
		}
		if gr.w.status != http.StatusUnauthorized {
			b.Fatalf("status %d, want 401", gr.w.status)
		}
	}
}

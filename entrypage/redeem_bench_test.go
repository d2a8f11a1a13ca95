//go:build unix

package entrypage_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/guestgate/guestgate/entrypage"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/teststore"
	"github.com/guestgate/guestgate/token"
)

// redeemBench is a Gateway on a real Badger store in a temporary directory
// with one room ("bench", guest access on, no lobby) and one link without a
// click limit, configured as the Caddy module configures it for a guest's
// redemption: the X-Guest-Token identity signer on and every entry form post
// observed (OnRedeem). Rate limits are off (a zero Budget): they count by
// client address, and the benchmarks have one.
type redeemBench struct {
	gw   *entrypage.Gateway
	svc  *guestlink.Service
	path string // the link's entry page, /guest/<token>
}

func newRedeemBench(b *testing.B) *redeemBench {
	b.Helper()
	svc, _ := teststore.Service(b, time.Now().Truncate(time.Second))
	l := teststore.RoomWithLinks(b, svc, "bench", guestlink.RoomSpec{Name: "Bench room"}, guestlink.LinkSpec{Name: "Bench link"})[0]
	identity, err := token.NewIdentity(bytes.Repeat([]byte{0x44}, 32), "guestgate")
	if err != nil {
		b.Fatal(err)
	}
	gw, _ := newGateway(b, svc, []string{"/rooms/{room}", "/rooms/{room}/*"}, func(c *entrypage.Config) {
		c.Identity = identity
		c.OnRedeem = func(string, time.Duration) {}
	})
	return &redeemBench{gw: gw, svc: svc, path: "/guest/" + l.Token}
}

// reportCPU reports, as cpu-ns/op, the CPU time (user and system) the
// process spent per iteration since it was called: what a redemption costs
// in CPU, where ns/op is mostly the wait for Badger's synchronous commit.
// Badger's own goroutines count too. Call it before the loop and the
// function it returns after.
func reportCPU(b *testing.B) func() {
	start := cpuTime(b)
	return func() { b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op") }
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// request is a guest's request for rb's entry page, as a browser on its first
// visit sends it: no Accept-Language, a cookie header when cookie is not "".
func (rb *redeemBench) request(method, cookie, form string) *http.Request {
	r := &http.Request{
		Method: method, URL: &url.URL{Path: rb.path}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Host: "127.0.0.1", RemoteAddr: "127.0.0.1:40000", RequestURI: rb.path, Body: http.NoBody,
	}
	if cookie != "" {
		r.Header["Cookie"] = []string{cookie}
	}
	if form != "" {
		r.Header["Content-Type"] = []string{"application/x-www-form-urlencoded"}
		r.Body, r.ContentLength = readCloser{strings.NewReader(form)}, int64(len(form))
	}
	return r.WithContext(context.Background())
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// serve answers r with a bodiless writer and returns its status and headers.
func (rb *redeemBench) serve(b *testing.B, r *http.Request) (int, http.Header) {
	w := &nopWriter{h: http.Header{}}
	if err := rb.gw.ServeHTTP(w, r, nil); err != nil {
		b.Error(err)
	}
	return w.status, w.h
}

// BenchmarkEntryPageGet is a new guest's GET of a link's entry page: the
// link read, a new anti-CSRF cookie, the form's CSRF field and the page
// rendered, the first half of every redemption. "bench" sends no
// Accept-Language, as the bench's load generator; "browser" sends a German
// browser's.
func BenchmarkEntryPageGet(b *testing.B) {
	for _, tc := range []struct{ name, accept string }{
		{"bench", ""},
		{"browser", "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rb := newRedeemBench(b)
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				r := rb.request(http.MethodGet, "", "")
				if tc.accept != "" {
					r.Header["Accept-Language"] = []string{tc.accept}
				}
				if status, h := rb.serve(b, r); status != http.StatusOK || h.Get("Set-Cookie") == "" {
					b.Fatalf("entry page: status %d, Set-Cookie %q", status, h.Get("Set-Cookie"))
				}
			}
		})
	}
}

// BenchmarkEntryFormPost is the second half of a redemption: the post of the
// entry form (name, email and the CSRF field of a page fetched before the
// timer starts) that spends a click of the unlimited link, stores a new
// guest, signs the session and identity tokens and answers 303 to the room.
// With "badger" its time is mostly the wait for Badger's synchronous commit,
// and cpu-ns/op is what it costs; with "memory" the store's redemption is
// answered from memory, without a write, leaving the gateway's own share.
func BenchmarkEntryFormPost(b *testing.B) {
	for _, memory := range []bool{false, true} {
		b.Run(map[bool]string{false: "badger", true: "memory"}[memory], func(b *testing.B) {
			rb := newRedeemBench(b)
			if memory {
				rb.redeemInMemory(b)
			}
			cookie, form := rb.entryForm(b)
			b.ReportAllocs()
			b.ResetTimer()
			defer reportCPU(b)()
			for b.Loop() {
				rb.post(b, cookie, form)
			}
		})
	}
}

// redeemInMemory makes the store's redemptions of rb's link answer as the
// store does, without a write: memoryRedeem.
func (rb *redeemBench) redeemInMemory(b *testing.B) {
	room, link, err := rb.svc.OpenLink(context.Background(), strings.TrimPrefix(rb.path, "/guest/"))
	if err != nil {
		b.Fatal(err)
	}
	rb.svc.Store = &memoryRedeem{Store: rb.svc.Store, room: room, link: link}
}

// memoryRedeem is a store whose redemptions of one link are answered from
// memory as the store answers them, and not stored.
type memoryRedeem struct {
	guestlink.Store
	room guestlink.Room
	link guestlink.Link
}

func (s *memoryRedeem) Redeem(_ context.Context, _ string, g guestlink.Guest, now time.Time) (guestlink.Room, guestlink.Link, guestlink.Guest, error) {
	return s.room, s.link, guestlink.LinkGuest(s.room, s.link, g, now), nil
}

// entryForm gets the entry page and returns the anti-CSRF cookie it set,
// as a Cookie header value, and the form a guest posts from it.
func (rb *redeemBench) entryForm(b *testing.B) (cookie, form string) {
	b.Helper()
	page := &bodyWriter{nopWriter: nopWriter{h: http.Header{}}}
	if err := rb.gw.ServeHTTP(page, rb.request(http.MethodGet, "", ""), nil); err != nil {
		b.Fatal(err)
	}
	m := csrfRE.FindStringSubmatch(page.body.String())
	cookies := (&http.Response{Header: page.h}).Cookies()
	if m == nil || len(cookies) != 1 {
		b.Fatalf("entry page without a csrf field or cookie: %v %v", m, cookies)
	}
	return cookies[0].Name + "=" + cookies[0].Value, url.Values{"name": {"Zoë Bench"}, "email": {"zoe@example.com"}, "csrf": {m[1]}}.Encode()
}

// post posts form with cookie and fails unless the guest is sent to the room
// with a session cookie.
func (rb *redeemBench) post(b *testing.B, cookie, form string) {
	status, h := rb.serve(b, rb.request(http.MethodPost, cookie, form))
	if status != http.StatusSeeOther || !strings.HasPrefix(h.Get("Set-Cookie"), "guestgate=") {
		b.Errorf("entry form: status %d, Set-Cookie %q", status, h.Get("Set-Cookie"))
	}
}

// bodyWriter is a nopWriter that keeps the body.
type bodyWriter struct {
	nopWriter
	body bytes.Buffer
}

func (w *bodyWriter) Write(p []byte) (int, error) { return w.body.Write(p) }

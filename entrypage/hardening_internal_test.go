package entrypage

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/token"
)

// Unit tests of the gate's hardening (the integration tests in
// integration/hardening2_test.go drive the same code through a real Caddy).

// TestMakePrivate: an answer that carries a renewed session cookie keeps no
// directive that lets a shared cache store it, gets a bare private, and keeps
// what only concerns the browser; it varies by Cookie, so that a shared cache
// that stores it anyway (a handler before the gate made it public again)
// hands it to the same guest only.
func TestMakePrivate(t *testing.T) {
	for _, tc := range []struct {
		in             []string
		want           string
		vary, wantVary []string
	}{
		{nil, "private", nil, []string{"Cookie"}},
		{[]string{"public, max-age=3600"}, "private, max-age=3600", []string{"Accept-Encoding"}, []string{"Accept-Encoding", "Cookie"}},
		{[]string{"PUBLIC", "s-maxage=600, max-age=60"}, "private, max-age=60", []string{"Origin, cookie"}, []string{"Origin, cookie"}},
		{[]string{"private, max-age=60"}, "private, max-age=60", []string{"*"}, []string{"*"}},
		{[]string{`private="Set-Cookie", max-age=60`}, "private, max-age=60", []string{"Cookies"}, []string{"Cookies", "Cookie"}},
		{[]string{"no-store"}, "private, no-store", nil, []string{"Cookie"}},
		{[]string{" , public ,, immutable"}, "private, immutable", nil, []string{"Cookie"}},
	} {
		h := http.Header{"Cdn-Cache-Control": {"max-age=86400"}, "Surrogate-Control": {"max-age=60"}}
		for _, v := range tc.in {
			h.Add("Cache-Control", v)
		}
		if tc.vary != nil {
			h["Vary"] = tc.vary
		}
		makePrivate(h)
		if got := h.Values("Cache-Control"); len(got) != 1 || got[0] != tc.want {
			t.Errorf("Cache-Control %q: got %q, want %q", tc.in, got, tc.want)
		}
		if got := h.Values("Vary"); !slices.Equal(got, tc.wantVary) {
			t.Errorf("Vary %q: got %q, want %q", tc.vary, got, tc.wantVary)
		}
		if h.Get("CDN-Cache-Control") != "" || h.Get("Surrogate-Control") != "" {
			t.Errorf("Cache-Control %q: the CDN fields stay: %v", tc.in, h)
		}
	}
}

// TestPrivateWriterOnlyOnFinalAnswer: an informational answer (103 Early
// Hints) goes out untouched; the final one is made private, once, whether the
// handler calls WriteHeader or only Write.
func TestPrivateWriterOnlyOnFinalAnswer(t *testing.T) {
	rec := &recordingWriter{h: http.Header{"Cache-Control": {"public"}}}
	w := &privateWriter{ResponseWriter: rec}
	w.WriteHeader(http.StatusEarlyHints)
	if rec.ccAt[0] != "public" {
		t.Errorf("the 103 went out with Cache-Control %q", rec.ccAt[0])
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("x"))
	if rec.ccAt[1] != "private" {
		t.Errorf("the 200 went out with Cache-Control %q, want private", rec.ccAt[1])
	}
	rec = &recordingWriter{h: http.Header{"Cache-Control": {"public, max-age=5"}}}
	w = &privateWriter{ResponseWriter: rec}
	_, _ = w.Write([]byte("x"))
	if got := rec.h.Get("Cache-Control"); got != "private, max-age=5" {
		t.Errorf("after Write alone, Cache-Control is %q", got)
	}
}

type recordingWriter struct {
	h    http.Header
	ccAt []string
}

func (w *recordingWriter) Header() http.Header         { return w.h }
func (w *recordingWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *recordingWriter) WriteHeader(code int)        { w.ccAt = append(w.ccAt, w.h.Get("Cache-Control")) }

// TestCookieNamesAsBrowsersReadThem: the gateway reads a cookie whose name has
// whitespace around it, as browsers and net/http do, and strips every spelling
// of its cookies (any case, any whitespace, percent-encoded, after a comma)
// while keeping the others as sent.
func TestCookieNamesAsBrowsersReadThem(t *testing.T) {
	for _, tc := range []struct {
		line, read string
		ok         bool
	}{
		{"guestgate=tok", "tok", true},
		{"guestgate =tok", "tok", true},
		{"a=1;\tguestgate\t=\t\"tok\" ", "tok", true},
		{"GUESTGATE=tok", "", false},
		{"guestgate=one; guestgate =two", "", false},
	} {
		r := &http.Request{Header: http.Header{"Cookie": {tc.line}}}
		if v, ok := readCookie(r, CookieName); v != tc.read || ok != tc.ok {
			t.Errorf("readCookie(%q) = %q, %v; want %q, %v", tc.line, v, ok, tc.read, tc.ok)
		}
	}
	for _, tc := range []struct {
		lines []string
		want  string
	}{
		{[]string{"guestgate =tok; keep=1"}, "keep=1"},
		{[]string{"GuestGate=x; keep=1; __HOST-GUESTGATE=y"}, "keep=1"},
		{[]string{"keep=1", "\tguestgate-csrf\t=x ;  guestgate"}, "keep=1"},
		{[]string{"guestgatex=1; xguestgate=2"}, "guestgatex=1; xguestgate=2"},
		// Spellings that PHP, Rack or Python's http.cookies read as guestgate.
		{[]string{"guest%67ate=tok; keep=1; __Host%2Dguestgate=tok"}, "keep=1"},
		{[]string{"x=1, guestgate=tok; keep=1", "keep=2,GUESTGATE-CSRF=y"}, "keep=1"},
		{[]string{"list=a,b; bad=%zz; guest%gate=1"}, "list=a,b; bad=%zz; guest%gate=1"},
	} {
		r := &http.Request{Header: http.Header{"Cookie": tc.lines}}
		stripCookie(r, CookieName, SecureCookieName, csrfCookieName, secureCSRFCookie)
		if got := strings.Join(r.Header["Cookie"], "|"); got != tc.want {
			t.Errorf("stripCookie(%q) left %q, want %q", tc.lines, got, tc.want)
		}
	}
}

// TestScrubTrailers: identity names, in every spelling the header filter
// knows, and Cookie (which would carry the gateway's cookies past stripCookie)
// leave the declared trailers at once and the received ones when the body
// ends; other trailers stay.
func TestScrubTrailers(t *testing.T) {
	r := &http.Request{Trailer: http.Header{"X-Guest-Id": nil, "Cookie": nil, "X-Checksum": nil}}
	body := &trailerBody{Reader: strings.NewReader("hello"), r: r, arrive: http.Header{
		"X-Guest-Id": {"g_victim"}, "X_guest_token": {"forged"}, "X-Guest.Name": {"Victim"}, "X-Checksum": {"abc"},
		"Cookie": {"guestgate=tok"},
	}}
	r.Body = body
	scrubTrailers(r)
	for _, k := range []string{"X-Guest-Id", "Cookie"} {
		if _, ok := r.Trailer[k]; ok {
			t.Errorf("the declared %s trailer stays: %v", k, r.Trailer)
		}
	}
	if b, err := io.ReadAll(r.Body); err != nil || string(b) != "hello" {
		t.Fatalf("reading the body: %q %v", b, err)
	}
	if len(r.Trailer) != 1 || r.Trailer.Get("X-Checksum") != "abc" {
		t.Errorf("trailers after the body: %v, want only X-Checksum: abc", r.Trailer)
	}
	r = &http.Request{Body: http.NoBody}
	scrubTrailers(r)
	if r.Body != http.NoBody {
		t.Errorf("a request without a body got a wrapped body")
	}
}

// trailerBody fills r.Trailer with arrive just before it returns io.EOF, as
// net/http's server does.
type trailerBody struct {
	io.Reader
	r      *http.Request
	arrive http.Header
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err == io.EOF {
		for k, v := range b.arrive {
			b.r.Trailer[k] = v
		}
	}
	return n, err
}
func (b *trailerBody) Close() error { return nil }

// TestLogPath: a path under the prefix that is not one of the gateway's own
// pages is a link token (or a mistyped one) and is never logged.
func TestLogPath(t *testing.T) {
	g := &Gateway{prefix: "/guest"}
	for in, want := range map[string]string{
		"/guest/3rEtOF46Ly-BV79_9UtxE4fiOaoZI-ok": "/guest/<link token>",
		"/guest/3rEtOF46Ly/x":                     "/guest/<link token>",
		"/guest/lobby":                            "/guest/lobby",
		"/guest/lobby/status":                     "/guest/lobby/status",
		"/guest/leave":                            "/guest/leave",
		"/guest/assets/guest.css":                 "/guest/assets/guest.css",
		"/guest/.well-known/jwks.json":            "/guest/.well-known/jwks.json",
		"/rooms/demo":                             "/rooms/demo",
		"/guestx/abc":                             "/guestx/abc",
	} {
		if got := g.LogPath(in); got != want {
			t.Errorf("LogPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEndsConnections: what the live state says about a guest's open
// connections: removal (or declined, or left), a deleted or unavailable room
// end them; guest access off and a deleted link do not, even for a guest who
// was removed meanwhile the state says so; nor does a store outage.
func TestEndsConnections(t *testing.T) {
	for _, tc := range []struct {
		state string
		err   error
		ends  bool
	}{
		{guestlink.StateAdmitted, nil, false},
		{guestlink.StateAdmitted, guestlink.ErrGuestAccessOff, false},
		{guestlink.StateAdmitted, guestlink.ErrLinkNotFound, false},
		{guestlink.StateRemoved, guestlink.ErrGuestAccessOff, true},
		{guestlink.StateRemoved, guestlink.ErrGuestRemoved, true},
		{guestlink.StateDeclined, guestlink.ErrGuestDeclined, true},
		{guestlink.StateLeft, guestlink.ErrGuestLeft, true},
		{"", guestlink.ErrRoomUnavailable, true},
		{"", guestlink.ErrGuestNotFound, true},
		{"", context.DeadlineExceeded, false},
	} {
		if got := endsConnections(tc.state, tc.err); got != tc.ends {
			t.Errorf("endsConnections(%q, %v) = %v, want %v", tc.state, tc.err, got, tc.ends)
		}
	}
}

// fakeLive is a Store whose live state the test sets: Check answers from it,
// Generation grows with every change; no room has a lobby message. Every other method is the nil
// interface's (the watcher calls none).
type fakeLive struct {
	guestlink.Store
	gen    atomic.Uint64
	mu     sync.Mutex
	states map[string]checkAnswer
}

type checkAnswer struct {
	state string
	err   error
}

func (f *fakeLive) Generation() uint64 { return f.gen.Load() }

// LobbyMessage is none: the rooms of fakeLive have no lobby message.
func (f *fakeLive) LobbyMessage(string) string { return "" }

func (f *fakeLive) Check(_ context.Context, _, _, guest string, _ time.Time) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.states[guest]
	return a.state, a.err
}

func (f *fakeLive) set(guest, state string, err error) {
	f.mu.Lock()
	f.states[guest] = checkAnswer{state, err}
	f.mu.Unlock()
	f.gen.Add(1)
}

// TestWatcher: the watcher stops a registration when its session must end
// (removal; the session's end) and a lobby wait at any change of the verdict,
// and leaves the others alone; it stops running once nothing is registered.
func TestWatcher(t *testing.T) {
	st := &fakeLive{states: map[string]checkAnswer{
		"g_kept": {guestlink.StateAdmitted, nil}, "g_removed": {guestlink.StateAdmitted, nil},
		"g_waiting": {guestlink.StateWaiting, nil}, "g_late": {guestlink.StateAdmitted, nil},
	}}
	var now atomic.Pointer[time.Time]
	start := time.Now()
	now.Store(&start)
	w := newWatcher(&guestlink.Service{Store: st, Now: func() time.Time { return *now.Load() }})
	w.tick = 2 * time.Millisecond

	stopped := map[string]chan struct{}{}
	reg := func(guest string, lobby bool, end time.Time) *watched {
		ch := make(chan struct{})
		stopped[guest] = ch
		var once sync.Once
		c := &token.Claims{Room: "r", LinkID: "l"}
		c.Subject = guest
		e := &watched{c: c, lobby: lobby, end: end, stop: func() { once.Do(func() { close(ch) }) }}
		w.add(e, st.Generation())
		return e
	}
	isStopped := func(guest string) bool {
		select {
		case <-stopped[guest]:
			return true
		default:
			return false
		}
	}
	waitStopped := func(guest string) {
		t.Helper()
		select {
		case <-stopped[guest]:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s was not stopped", guest)
		}
	}
	kept := reg("g_kept", false, start.Add(time.Hour))
	removed := reg("g_removed", false, start.Add(time.Hour))
	waiting := reg("g_waiting", true, time.Time{})
	late := reg("g_late", false, start.Add(time.Minute))

	st.set("g_kept", guestlink.StateAdmitted, guestlink.ErrGuestAccessOff)
	st.set("g_removed", guestlink.StateRemoved, guestlink.ErrGuestRemoved)
	waitStopped("g_removed")
	st.set("g_waiting", guestlink.StateWaiting, guestlink.ErrGuestAccessOff)
	waitStopped("g_waiting")
	later := start.Add(time.Minute)
	now.Store(&later)
	waitStopped("g_late")
	time.Sleep(20 * w.tick)
	if isStopped("g_kept") {
		t.Error("a guest whose room's guest access went off had a registration stopped")
	}

	for _, e := range []*watched{removed, waiting, late} {
		w.remove(e)
	}
	w.done(kept)
	if !isStopped("g_kept") {
		t.Error("done did not stop the request's registration")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(w.tick) {
		w.mu.Lock()
		running := w.running
		w.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the watcher still runs with nothing registered")
		}
	}
}

// readFromRecorder is a ResponseWriter with ReadFrom (as net/http's own, which
// uses sendfile): it records the body and how many ReadFrom calls carried it.
type readFromRecorder struct {
	*httptest.ResponseRecorder
	calls int
}

func (r *readFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.calls++
	return r.Body.ReadFrom(src)
}

// cutAfter is a body that cuts w once n bytes of it have been read.
type cutAfter struct {
	io.Reader
	w    *cutWriter
	n    int
	read int
}

func (c *cutAfter) Read(p []byte) (int, error) {
	k, err := c.Reader.Read(p)
	if c.read += k; c.read >= c.n {
		c.w.cut.Store(true)
	}
	return k, err
}

// TestCutWriter: the writer of a guest's request passes everything through
// until the watcher cuts it, and fails every write after, also between the
// chunks of one ReadFrom (a file that file_server copies), while keeping the
// underlying writer's ReadFrom (sendfile) for the chunks.
func TestCutWriter(t *testing.T) {
	body := strings.Repeat("f", 3*cutChunk+10)
	for _, tc := range []struct {
		name      string
		readFrom  bool // the underlying writer has ReadFrom
		cutAt     int  // cut once this much of the body was read; 0: never
		wantBytes int
		wantErr   error
	}{
		{"whole body, ReadFrom", true, 0, len(body), nil},
		{"whole body, Write only", false, 0, len(body), nil},
		{"cut in the first chunk, ReadFrom", true, 1, cutChunk, errCut},
		{"cut in the second chunk, ReadFrom", true, cutChunk + 1, 2 * cutChunk, errCut},
	} {
		rec := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
		var inner http.ResponseWriter = rec.ResponseRecorder
		if tc.readFrom {
			inner = rec
		}
		w := &cutWriter{ResponseWriter: inner}
		// Without WriterTo, as file_server's io.CopyN hands over a file.
		var src io.Reader = struct{ io.Reader }{strings.NewReader(body)}
		if tc.cutAt > 0 {
			src = &cutAfter{Reader: src, w: w, n: tc.cutAt}
		}
		n, err := io.Copy(w, src)
		if int(n) != tc.wantBytes || err != tc.wantErr || rec.Body.Len() != tc.wantBytes {
			t.Errorf("%s: io.Copy = %d, %v with %d bytes written, want %d, %v", tc.name, n, err, rec.Body.Len(), tc.wantBytes, tc.wantErr)
		}
		if tc.readFrom && rec.calls == 0 {
			t.Errorf("%s: the underlying ReadFrom was never used", tc.name)
		}
		if _, err := w.Write([]byte("x")); (err != nil) != (tc.cutAt > 0) {
			t.Errorf("%s: a Write after the copy: %v", tc.name, err)
		}
	}
}

// TestUnavailablePage: a store that cannot be reached is the 503 page
// data-reason "unavailable" with Retry-After (docs/DESIGN.md section 6),
// whichever error wraps guestlink.ErrStoreUnavailable.
func TestUnavailablePage(t *testing.T) {
	err := fmt.Errorf("reading the link: %w", guestlink.ErrStoreUnavailable)
	if got := reasonFor(err); got != ReasonUnavailable {
		t.Fatalf("reasonFor(%v) = %q", err, got)
	}
	p, perr := NewPages("/guest", nil, ThemeConfig{})
	if perr != nil {
		t.Fatal(perr)
	}
	w := httptest.NewRecorder()
	if err := p.Message(w, httptest.NewRequest(http.MethodGet, "/guest/x", nil), ReasonUnavailable, ""); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), `data-reason="unavailable"`) {
		t.Errorf("the unavailable page: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
}

package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/guestgate/guestgate/token"
)

// payload is what a gated request carries that a plain one does not: the
// session cookie in, and the six identity headers out to the upstream.
type payload struct {
	plainIn, gatedIn   []byte      // the requests as the load generator sends them
	plainOut, gatedOut http.Header // the headers reverse_proxy sends upstream
}

func newPayload(tb testing.TB) payload {
	tb.Helper()
	iss, err := newIssuer()
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	g := guestRef{ID: "g_x5six3penxzbect4", Room: "bench", Link: "l_q7syjunfb2plpewr", Name: "Bench Guest", Email: "guest@example.com", RedeemedAt: now}
	cookie, err := mint(iss, g, now)
	if err != nil {
		tb.Fatal(err)
	}
	claims, err := iss.Verify(cookie, now)
	if err != nil {
		tb.Fatal(err)
	}
	id, err := token.NewIdentity(bytes.Repeat([]byte{7}, 32), "guestgate")
	if err != nil {
		tb.Fatal(err)
	}
	identity, err := id.Token(claims, now)
	if err != nil {
		tb.Fatal(err)
	}
	const host = "127.0.0.1:8080"
	p := payload{
		plainIn: getRequest(host, roomPath),
		gatedIn: getRequest(host, roomPath, "Cookie: guestgate="+cookie),
		plainOut: http.Header{
			"User-Agent": {"guestgate-bench"}, "X-Forwarded-For": {"127.0.1.1"},
			"X-Forwarded-Host": {host}, "X-Forwarded-Proto": {"http"},
		},
	}
	p.gatedOut = p.plainOut.Clone()
	for k, v := range map[string]string{
		"X-Guest-Id": g.ID, "X-Guest-Room": g.Room, "X-Guest-Link": g.Link,
		"X-Guest-Name": url.PathEscape(g.Name), "X-Guest-Email": url.PathEscape(g.Email), "X-Guest-Token": identity,
	} {
		p.gatedOut[k] = []string{v}
	}
	return p
}

// BenchmarkPayload measures, without the gate, what Caddy spends per request
// on the bytes a gated request carries: reading the request with the session
// cookie, cloning the upstream headers (reverse_proxy clones them per
// request), and the context that reverse_proxy's "upstream roundtrip" debug
// line gets: Caddy v2.11.9 builds it with logger.With on every proxied
// request, which JSON-encodes the upstream request and its headers even when
// debug logging is off. Compare each gated sub-benchmark with its plain twin.
func BenchmarkPayload(b *testing.B) {
	p := newPayload(b)
	for _, c := range []struct {
		name string
		in   []byte
	}{{"read/plain", p.plainIn}, {"read/gated", p.gatedIn}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			r := bytes.NewReader(c.in)
			br := bufio.NewReader(r)
			for b.Loop() {
				r.Reset(c.in)
				br.Reset(r)
				if _, err := http.ReadRequest(br); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The upstream headers, plain and gated, for the clone and the log context.
	upstream := []struct {
		name string
		h    http.Header
	}{{"plain", p.plainOut}, {"gated", p.gatedOut}}
	for _, c := range upstream {
		b.Run("clone/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(c.h.Clone()) == 0 {
					b.Fatal("empty clone")
				}
			}
		})
	}
	// Caddy's default log: JSON lines at INFO; the debug line itself is not
	// written, only its context is built, as in reverseProxy.
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zapcore.InfoLevel))
	for _, c := range upstream {
		b.Run("upstream-log-context/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:9000"+roomPath, nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Header, req.RemoteAddr = c.h, "127.0.1.1:40000"
			for b.Loop() {
				l := logger.With(zap.String("upstream", "127.0.0.1:9000"), zap.Duration("duration", time.Millisecond),
					zap.Object("request", caddyhttp.LoggableHTTPRequest{Request: req}))
				if ce := l.Check(zapcore.DebugLevel, "upstream roundtrip"); ce != nil {
					b.Fatal("debug enabled")
				}
			}
		})
	}
}

// TestPayloadSizes pins the sizes the performance notes quote: the session
// cookie and X-Guest-Token are each about 0.45 kB, and the identity headers
// add under 1 kB upstream.
func TestPayloadSizes(t *testing.T) {
	p := newPayload(t)
	extraIn := len(p.gatedIn) - len(p.plainIn)
	extraOut := 0
	for k, v := range p.gatedOut {
		if _, ok := p.plainOut[k]; !ok {
			extraOut += len(k) + len(v[0]) + 4
		}
	}
	t.Logf("a gated request carries %d bytes more in and %d bytes more upstream", extraIn, extraOut)
	if extraIn < 300 || extraIn > 700 || extraOut < 500 || extraOut > 1000 {
		t.Errorf("payload %d bytes in, %d bytes out: outside the sizes the notes quote", extraIn, extraOut)
	}
}

package entrypage

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/guestgate/guestgate/token"
)

// watchRequest registers a guest's request with the gateway's watcher (watch.go)
// for as long as the next handler runs: it returns r with a context that the
// watcher cancels when the guest's session must end, a ResponseWriter that the
// watcher cuts then (cutWriter), and, for an upgrade, one whose hijacked
// connection is registered too, for as long as it is open. A WebSocket over HTTP/2 or HTTP/3 (extended CONNECT, RFC 8441 and
// RFC 9220) is not hijacked: the reverse proxy tunnels it in the request's own
// stream, which the cancelled context ends. done must be called when the next
// handler has returned. gen is the generation the session was checked at.
func (g *Gateway) watchRequest(w http.ResponseWriter, r *http.Request, e *watched, c *token.Claims, gen uint64) (http.ResponseWriter, *http.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	e.c, e.end, e.stop = c, g.tokens.SessionEnd(c), cancel
	e.out.ResponseWriter = w
	w = &e.out
	g.watch.add(e, gen)
	if isUpgrade(r) {
		w = &watchedWriter{ResponseWriter: w, g: g, c: c, gen: gen}
	}
	return w, r.WithContext(ctx)
}

// isUpgrade reports whether r asks to switch protocols (a WebSocket, say).
func isUpgrade(r *http.Request) bool {
	if r.Header.Get("Upgrade") == "" {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// isExtendedConnect reports whether r is the extended CONNECT of a WebSocket
// over HTTP/2 (RFC 8441: the :protocol pseudo-header, which Go's server puts
// into the header map) or HTTP/3 (RFC 9220: quic-go puts it into r.Proto), the
// two forms Caddy's reverse proxy tunnels.
func isExtendedConnect(r *http.Request) bool {
	return r.Method == http.MethodConnect &&
		(r.ProtoMajor == 2 && r.Header.Get(":protocol") == "websocket" || r.ProtoMajor == 3 && r.Proto == "websocket")
}

// errCut is what a write to a guest's response returns once the guest's
// session has ended.
var errCut = errors.New("entrypage: the guest's session has ended")

// cutChunk is how much of a body cutWriter.ReadFrom hands on at a time.
const cutChunk = 64 << 10

// cutWriter is the ResponseWriter the gate hands a guest's request to. Once the
// watcher has cut it (the guest was removed, the room is gone, session_max), its
// every write fails: the reverse proxy stops at the cancelled context already,
// but a handler that never looks at its context, such as file_server sending a
// large file, stops at its next write, and net/http then ends the response (an
// HTTP/1 connection closes, an HTTP/2 or HTTP/3 stream ends). A write already
// under way is not interrupted.
type cutWriter struct {
	http.ResponseWriter
	cut atomic.Bool
}

func (w *cutWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *cutWriter) Write(b []byte) (int, error) {
	if w.cut.Load() {
		return 0, errCut
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom hands the body to the underlying writer's ReadFrom (sendfile, for a
// file) cutChunk bytes at a time, looking at cut in between.
func (w *cutWriter) ReadFrom(src io.Reader) (n int64, err error) {
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{w}, src)
	}
	for {
		if w.cut.Load() {
			return n, errCut
		}
		k, err := rf.ReadFrom(io.LimitReader(src, cutChunk))
		n += k
		if err != nil || k < cutChunk {
			return n, err
		}
	}
}

// Flush and Hijack are there for handlers that assert http.Flusher or
// http.Hijacker on their writer instead of using an http.ResponseController.
func (w *cutWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *cutWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// watchedWriter hands out hijacked connections that close when the guest's
// session must end.
type watchedWriter struct {
	http.ResponseWriter
	g   *Gateway
	c   *token.Claims
	gen uint64
}

func (w *watchedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack takes over the connection and registers it with the watcher.
func (w *watchedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return conn, brw, err
	}
	wc := &watchedConn{Conn: conn, watch: w.g.watch}
	wc.entry = &watched{c: w.c, end: w.g.tokens.SessionEnd(w.c), stop: func() { wc.Close() }}
	w.g.watch.add(wc.entry, w.gen)
	return wc, brw, nil
}

// watchedConn is a hijacked connection whose Close also unregisters it.
type watchedConn struct {
	net.Conn
	watch *watcher
	entry *watched
	once  sync.Once
	err   error
}

func (c *watchedConn) Close() error {
	c.once.Do(func() {
		c.watch.remove(c.entry)
		c.err = c.Conn.Close()
	})
	return c.err
}

// CloseWrite half-closes the connection when the underlying one can (a TCP
// connection can), as the reverse proxy's tunnel expects.
func (c *watchedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

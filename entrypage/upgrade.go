package entrypage

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/token"
)

// Open connections follow the product's rule (DESIGN section 1): switching guest
// access off or deleting a link never cuts a guest's open WebSocket or stream;
// their next request is refused. Two events do close a guest's upgraded
// connections at once: a moderator removing the guest, and the session reaching
// session_max. Every connection the next handler hijacks for a guest is watched
// for those two, and closed within a second of either. A WebSocket over HTTP/2
// or HTTP/3 (extended CONNECT, RFC 8441 and RFC 9220) is not hijacked: the
// reverse proxy tunnels it in the request's own stream, so for a CONNECT the
// watcher ends the request's context instead, which makes the proxy close the
// tunnel.

// watchTunnel prepares a guest's request for the next handler: an upgrade gets
// a ResponseWriter whose hijacked connections are watched, a CONNECT a context
// that ends on the same two events. done must be called when the next handler
// has returned.
func (g *Gateway) watchTunnel(w http.ResponseWriter, r *http.Request, c *token.Claims, state string) (http.ResponseWriter, *http.Request, func()) {
	switch {
	case isUpgrade(r):
		return &watchedWriter{ResponseWriter: w, g: g, c: c, state: state}, r, func() {}
	case r.Method == http.MethodConnect:
		ctx, cancel := context.WithDeadline(r.Context(), g.tokens.SessionEnd(c))
		go g.watch(ctx, cancel, c, state)
		return w, r.WithContext(ctx), cancel
	}
	return w, r, func() {}
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

// watchedWriter hands out hijacked connections that close when the guest is
// removed or the session ends.
type watchedWriter struct {
	http.ResponseWriter
	g     *Gateway
	c     *token.Claims
	state string
}

func (w *watchedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack takes over the connection and starts watching it.
func (w *watchedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return conn, brw, err
	}
	ctx, cancel := context.WithDeadline(context.Background(), w.g.tokens.SessionEnd(w.c))
	wc := &watchedConn{Conn: conn, stop: cancel}
	go w.g.watch(ctx, func() { wc.Close() }, w.c, w.state)
	return wc, brw, nil
}

// watch calls stop (closing the hijacked connection, or ending the CONNECT
// request's context) when the guest is removed (or leaves) or ctx's deadline,
// the session's end, passes; it returns when ctx ends otherwise (the connection
// closed, or the request returned).
func (g *Gateway) watch(ctx context.Context, stop func(), c *token.Claims, state string) {
	defer stop()
	for {
		guest, err := g.svc.Store.WaitGuest(ctx, c.Room, c.Subject, state)
		if ctx.Err() != nil || err != nil {
			return // session over, connection closed, or guest gone
		}
		switch guest.State {
		case guestlink.StateRemoved, guestlink.StateLeft, guestlink.StateDeclined:
			return
		}
		state = guest.State
	}
}

// watchedConn is a hijacked connection whose Close also ends its watcher.
type watchedConn struct {
	net.Conn
	once sync.Once
	stop context.CancelFunc
	err  error
}

func (c *watchedConn) Close() error {
	c.once.Do(func() {
		c.stop()
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

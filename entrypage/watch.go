package entrypage

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/token"
)

// What is open when the live state changes (docs/DESIGN.md section 1). Switching
// guest access off or deleting a link never cuts what a guest has open: a
// WebSocket, a Server-Sent Events stream, a long download; their next request is
// refused. Three events do cut all of it within a second: the guest is removed (or
// declined, or left, or the invitation they came in with is revoked), the room
// is deleted or made unavailable, and the session reaches session_max.
//
// The gate registers every request it lets through with the gateway's watcher for
// as long as the next handler runs, and every connection that handler hijacks for
// as long as it is open; the lobby registers each long poll. One goroutine per
// gateway runs while anything is registered: every watchTick it reads the
// Service's Generation, and for each registration made at an older generation (or
// whose session end has come) it asks Service.Check again, which answers from
// memory. A registration whose session must end is stopped: a request's context is
// cancelled (the reverse proxy then aborts the response, which ends an HTTP/1
// connection or resets an HTTP/2 or HTTP/3 stream, WebSockets over extended
// CONNECT included) and its writer is cut (a handler that ignores its context
// fails its next write), a hijacked connection is closed, a lobby long poll
// answers. The cost on the hot path is a context and a map entry per request;
// nothing runs per request in the background.

// watchTick is how often the watcher looks at the generation: the
// bound, plus one Check per registration, on how late an open connection ends.
const watchTick = 100 * time.Millisecond

// watcher holds the registrations of one gateway.
type watcher struct {
	svc  *guestlink.Service
	tick time.Duration

	mu      sync.Mutex
	entries map[*watched]struct{}
	running bool
}

// watched is one registration: a request, a hijacked connection or a lobby
// long poll of the guest's session.
type watched struct {
	// c holds the session's room, link and guest.
	c *token.Claims
	// end is the session's end (auth_time + session_max); zero for none.
	end time.Time
	// lobby marks a lobby long poll: it is stopped at any change of the
	// session's verdict (admitted, declined, guest access off, link deleted),
	// not only at the three events that end connections.
	lobby bool
	// message is the lobby message the long poll started with: a change
	// stops it too, so the page shows the new one.
	message string
	// stop ends what is registered; it may be called more than once.
	stop func()
	// out is the writer a registered request's handler writes to
	// (watchRequest); stopping the request cuts it too. Unused otherwise.
	out cutWriter

	// gen is the generation the session was last checked at; fired says
	// stop was called. Both are guarded by the watcher's mu.
	gen   uint64
	fired bool
}

func newWatcher(svc *guestlink.Service) *watcher {
	return &watcher{svc: svc, tick: watchTick, entries: make(map[*watched]struct{})}
}

// add registers e, whose session was checked at generation gen; remove
// must be called once it is over.
func (w *watcher) add(e *watched, gen uint64) {
	e.gen = gen
	w.mu.Lock()
	w.entries[e] = struct{}{}
	if !w.running {
		w.running = true
		go w.run()
	}
	w.mu.Unlock()
}

// remove unregisters e.
func (w *watcher) remove(e *watched) {
	w.mu.Lock()
	delete(w.entries, e)
	w.mu.Unlock()
}

// done unregisters the request e and ends its context.
func (w *watcher) done(e *watched) {
	w.remove(e)
	e.stop()
}

// run checks the registrations every tick until none is left.
func (w *watcher) run() {
	t := time.NewTicker(w.tick)
	defer t.Stop()
	var due []*watched
	for range t.C {
		gen := w.svc.Generation()
		now := w.svc.Now()
		due = due[:0]
		w.mu.Lock()
		if len(w.entries) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		for e := range w.entries {
			if !e.fired && (e.gen != gen || (!e.end.IsZero() && !now.Before(e.end))) {
				e.gen = gen
				due = append(due, e)
			}
		}
		w.mu.Unlock()
		for i, e := range due {
			if e.over(context.Background(), w.svc, now) {
				w.mu.Lock()
				e.fired = true
				w.mu.Unlock()
				e.out.cut.Store(true)
				e.stop()
			}
			due[i] = nil
		}
	}
}

// over reports whether e must be stopped at now; ctx bounds the store read
// that Check may make for a guest the store does not hold in memory.
func (e *watched) over(ctx context.Context, svc *guestlink.Service, now time.Time) bool {
	if !e.end.IsZero() && !now.Before(e.end) {
		return true
	}
	state, err := svc.Check(ctx, e.c.Room, e.c.LinkID, e.c.Subject, now)
	if e.lobby {
		return err != nil || state != guestlink.StateWaiting || svc.LobbyMessage(e.c.Room) != e.message
	}
	return endsConnections(state, err) || revoked(e.c.LinkID, err)
}

// revoked reports whether the live state err of a session made with link or
// invitation linkID says that its invitation was revoked: an invitation is
// one person's credential, and revoking it removes whoever joined with it
// (README, "Invitations"), open connections and LiveKit participation
// included, where deleting a shared guest link does not.
func revoked(linkID string, err error) bool {
	return guestlink.IsInvitation(linkID) && errors.Is(err, guestlink.ErrLinkNotFound)
}

// endsConnections reports whether the live state (state, err) of Service.Check
// ends a guest's open connections: the guest was removed, declined or left,
// or the room is gone or unavailable. Guest access switched off and a deleted
// link do not; neither does a store that cannot be reached.
func endsConnections(state string, err error) bool {
	switch state {
	case guestlink.StateRemoved, guestlink.StateDeclined, guestlink.StateLeft:
		return true
	}
	return errors.Is(err, guestlink.ErrRoomUnavailable) || errors.Is(err, guestlink.ErrGuestNotFound) ||
		errors.Is(err, guestlink.ErrGuestRemoved) || errors.Is(err, guestlink.ErrGuestDeclined) || errors.Is(err, guestlink.ErrGuestLeft)
}

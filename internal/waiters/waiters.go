// Package waiters is the in-process registry behind a Store's WaitGuest: one
// channel per guest ("<room>/<guest id>", Key) that somebody waits on, closed
// when the store learns that the guest changed (its own committed write, or,
// for a store that several processes share, another process's change it
// read) and then dropped from the registry, so that the next waiter gets a
// fresh channel. Waiters of one guest share its channel; the entry counts
// them and is dropped when the last one leaves, so a guest nobody waits on
// any more holds no memory.
package waiters

import (
	"context"
	"strings"
	"sync"

	"github.com/guestgate/guestgate/guestlink"
)

// Registry holds the channels. The zero value is ready to use.
type Registry struct {
	mu sync.Mutex
	m  map[string]*entry
}

// entry is the channel of one guest and the number of waiters holding it.
type entry struct {
	ch   chan struct{}
	refs int
}

// Key is the registry key of guest guestID of room roomID.
func Key(roomID, guestID string) string { return roomID + "/" + guestID }

// Watch registers a waiter for key and returns the channel that is closed at
// the next change of the guest, and the function that unregisters the waiter;
// it must be called exactly once, whether the channel was closed or not. A
// waiter registers before it reads the guest, so that a change committed
// after the read closes its channel: no wake-up is lost.
func (w *Registry) Watch(key string) (<-chan struct{}, func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[string]*entry)
	}
	e := w.m[key]
	if e == nil {
		e = &entry{ch: make(chan struct{})}
		w.m[key] = e
	}
	e.refs++
	return e.ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		// A signalled entry is already gone (or replaced by a newer one).
		if w.m[key] != e {
			return
		}
		if e.refs--; e.refs == 0 {
			delete(w.m, key)
		}
	}
}

// Signal wakes every waiter of the given keys.
func (w *Registry) Signal(keys ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, k := range keys {
		if e := w.m[k]; e != nil {
			close(e.ch)
			delete(w.m, k)
		}
	}
}

// SignalPrefix wakes every waiter whose key starts with prefix ("" wakes all;
// Key(room, "") the waiters of a room's guests).
func (w *Registry) SignalPrefix(prefix string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, e := range w.m {
		if strings.HasPrefix(k, prefix) {
			close(e.ch)
			delete(w.m, k)
		}
	}
}

// Len returns the number of guests waited on.
func (w *Registry) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.m)
}

// Wait is a Store's WaitGuest on the registry: it returns the guest that
// read returns as soon as its State differs from state (at once if it
// already does), or, when ctx is done first, the guest read then with a nil
// error; read's error ends it. It waits in the caller's goroutine, on the
// entry of key, and leaves nothing behind when it returns. read must answer
// after ctx is done (give it a context without ctx's cancellation).
func (w *Registry) Wait(ctx context.Context, key, state string, read func() (guestlink.Guest, error)) (guestlink.Guest, error) {
	for {
		// Register before reading, so that a change committed after the read
		// closes this channel: no wake-up is lost.
		changed, release := w.Watch(key)
		g, err := read()
		if err != nil || g.State != state {
			release()
			return g, err
		}
		select {
		case <-changed:
			release()
		case <-ctx.Done():
			release()
			return read()
		}
	}
}

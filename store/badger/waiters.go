package badger

import (
	"strings"
	"sync"
)

// waiters is the in-process registry behind WaitGuest: one channel per guest
// ("<room>/<guest id>") that somebody waits on, closed when a committed
// transaction of this Store changed the guest (SetGuestState, AdmitAll,
// DeleteRoom) and then dropped from the registry, so that the next waiter gets a
// fresh channel. Waiters of one guest share its channel; the entry counts them
// and is dropped when the last one leaves, so a guest nobody waits on any more
// holds no memory. The zero value is ready to use.
type waiters struct {
	mu sync.Mutex
	m  map[string]*waitEntry
}

// waitEntry is the channel of one guest and the number of waiters holding it.
type waitEntry struct {
	ch   chan struct{}
	refs int
}

// waitKey is the registry key of guest guestID of room roomID.
func waitKey(roomID, guestID string) string { return roomID + "/" + guestID }

// watch registers a waiter for key and returns the channel that is closed at the
// next change of the guest, and the function that unregisters the waiter; it
// must be called exactly once, whether the channel was closed or not.
func (w *waiters) watch(key string) (<-chan struct{}, func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[string]*waitEntry)
	}
	e := w.m[key]
	if e == nil {
		e = &waitEntry{ch: make(chan struct{})}
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

// signal wakes every waiter of the given keys.
func (w *waiters) signal(keys ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, k := range keys {
		if e := w.m[k]; e != nil {
			close(e.ch)
			delete(w.m, k)
		}
	}
}

// signalPrefix wakes every waiter whose key starts with prefix ("" wakes all).
func (w *waiters) signalPrefix(prefix string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, e := range w.m {
		if strings.HasPrefix(k, prefix) {
			close(e.ch)
			delete(w.m, k)
		}
	}
}

// len returns the number of guests waited on.
func (w *waiters) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.m)
}

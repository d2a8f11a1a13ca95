// Package mirror is the in-memory copy of the state that decides a guest
// session on every request, so that the gate's check (guestlink.Store's Check)
// never reads the store: for each room whether it is available, a gallery and
// open to guests; which links exist; and the room, link, state and purge time
// of the guests that sent a request since the store was opened, or that
// another process sharing the store stored since, for KeepGuests after it put
// each one in.
//
// A Store fills it with Reset when it opens (rooms and links; guests stored
// before are read on their first Check, one read per guest and process, so
// that start-up time and memory follow the rooms and the active guests, not
// the guest records kept for retention), and keeps it current with Update
// after every write that changes what it holds, from its own writes and, for
// a store that several processes share, from the other processes' changes and
// the guests they store. Every Update and Reset raises the Generation.
package mirror

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// Mirror is the copy. It is safe for concurrent use; the zero value is not
// ready, use New.
type Mirror struct {
	mu     sync.RWMutex
	gen    atomic.Uint64
	rooms  map[string]room
	links  map[string]map[string]struct{} // room -> link ids
	guests map[string]guest               // guest id -> guest
	writes int                            // updates since the last sweep
	// drops counts the changes that forgot guests (DropGuest, DropRoom,
	// Reset, a sweep): Check keeps a guest it read only if none came
	// meanwhile, since its read may be older than what was forgotten.
	drops uint64
}

type room struct {
	available, access, gallery bool
	message                    string // the lobby message
}

type guest struct {
	room, link, state string
	purgeAt           int64 // Unix nanoseconds; 0 keeps
	putAt             int64 // when the mirror put it in, Unix nanoseconds
}

// sweepEvery is how many updates pass between sweeps of purged guests.
const sweepEvery = 1024

// KeepGuests is how long the mirror keeps a guest after it put the guest in
// (a redemption, a change, a read): a guest whose session is longer is read
// from the store again on its next request. A day is longer than a session
// lasts by default (session_max, 12 h), so that at the defaults no live
// session's guest is dropped, and far shorter than a guest record is kept
// (retention, 30 days), so that the mirror's memory and its sweeps follow the
// guests of a day rather than of a month.
const KeepGuests = 24 * time.Hour

// New returns an empty mirror.
func New() *Mirror {
	m := &Mirror{}
	m.clear()
	return m
}

func (m *Mirror) clear() {
	m.rooms, m.links, m.guests = map[string]room{}, map[string]map[string]struct{}{}, map[string]guest{}
}

// Tx changes a mirror inside Update or Reset.
type Tx struct {
	m   *Mirror
	now int64 // Unix nanoseconds
}

// PutRoom sets room r.
func (tx Tx) PutRoom(r guestlink.Room) {
	tx.m.rooms[r.ID] = room{available: r.Available, access: r.GuestAccess, gallery: r.Kind == guestlink.KindGallery, message: r.LobbyMessage}
}

// DropRoom forgets room id with its links and guests.
func (tx Tx) DropRoom(id string) {
	tx.m.drops++
	delete(tx.m.rooms, id)
	delete(tx.m.links, id)
	for gid, g := range tx.m.guests {
		if g.room == id {
			delete(tx.m.guests, gid)
		}
	}
}

// PutLink records that link linkID of room roomID exists.
func (tx Tx) PutLink(roomID, linkID string) {
	set := tx.m.links[roomID]
	if set == nil {
		set = map[string]struct{}{}
		tx.m.links[roomID] = set
	}
	set[linkID] = struct{}{}
}

// DropLink records that link linkID of room roomID is gone.
func (tx Tx) DropLink(roomID, linkID string) {
	delete(tx.m.links[roomID], linkID)
	if len(tx.m.links[roomID]) == 0 {
		delete(tx.m.links, roomID)
	}
}

// PutGuest sets guest g (a guest the mirror does not hold yet is put in too:
// a new redemption sends its first request soon).
func (tx Tx) PutGuest(g guestlink.Guest) {
	tx.m.guests[g.ID] = toGuest(g, tx.now)
}

// AddGuest puts guest g in unless the mirror holds it already: a store that
// knows g from its own write (a redemption) but did not read it back leaves
// the state of a later read in place.
func (tx Tx) AddGuest(g guestlink.Guest) {
	if _, held := tx.m.guests[g.ID]; !held {
		tx.m.guests[g.ID] = toGuest(g, tx.now)
	}
}

// DropGuest forgets guest guestID.
func (tx Tx) DropGuest(guestID string) {
	tx.m.drops++
	delete(tx.m.guests, guestID)
}

func toGuest(g guestlink.Guest, now int64) guest {
	var purge int64
	if !g.PurgeAt.IsZero() {
		purge = g.PurgeAt.UnixNano()
	}
	return guest{room: g.RoomID, link: g.LinkID, state: g.State, purgeAt: purge, putAt: now}
}

// Update applies fn's changes under the mirror's lock and raises the
// generation. A store that reads the changed records inside fn makes updates
// apply in the order they read, so a later read always wins.
func (m *Mirror) Update(fn func(Tx)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now().UnixNano()
	fn(Tx{m, now})
	m.gen.Add(1)
	if m.writes++; m.writes >= sweepEvery {
		m.writes = 0
		m.sweep(now)
	}
}

// Reset replaces everything the mirror holds with what fn puts into an empty
// one (the rooms and links of the whole store; guests are read again on their
// first Check), and raises the generation. fn's error leaves the mirror as it
// was.
func (m *Mirror) Reset(fn func(Tx) error) error {
	fresh := New()
	if err := fn(Tx{fresh, time.Now().UnixNano()}); err != nil {
		return err
	}
	m.mu.Lock()
	m.rooms, m.links, m.guests = fresh.rooms, fresh.links, fresh.guests
	m.drops++
	m.gen.Add(1)
	m.mu.Unlock()
	return nil
}

// sweep drops guests whose records have been purged (retention), and those
// put in more than KeepGuests ago.
func (m *Mirror) sweep(now int64) {
	for id, g := range m.guests {
		if (g.purgeAt != 0 && now >= g.purgeAt) || now-g.putAt >= int64(KeepGuests) {
			delete(m.guests, id)
			m.drops++
		}
	}
}

// Guests returns the ids of the guests the mirror holds, for a store that
// reloads the mirror (Reset forgets them) and reads them again at once rather
// than on each one's next Check.
func (m *Mirror) Guests() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ids := make([]string, 0, len(m.guests))
	for id := range m.guests {
		ids = append(ids, id)
	}
	return ids
}

// Generation counts the changes the mirror has seen: it grows with every
// Update and Reset, so a cache of decisions can tell it is stale.
func (m *Mirror) Generation() uint64 { return m.gen.Load() }

// LobbyMessage is the lobby message of room roomID (Store's LobbyMessage);
// "" for a room the mirror does not hold.
func (m *Mirror) LobbyMessage(roomID string) string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.rooms[roomID].message
}

// Load reads a guest the mirror does not hold from the store: ok is false
// when there is none (or it cannot be read).
type Load func(roomID, guestID string) (g guestlink.Guest, ok bool)

// Check is guestlink.CheckSession's verdict for the session of guest guestID,
// who came in through link linkID of room roomID, at now, with the guest's
// state, which is returned whenever the guest was found, also with an error
// (Store's Check). The order is that of Store's Session: a missing room
// (ErrRoomUnavailable), then a missing guest, one of another room or link, or
// one purged at now (ErrGuestNotFound), then CheckSession. A guest the mirror
// does not hold is read with load, outside the lock, and kept unless an update
// put it in meanwhile (which then read it later, so it wins) or one forgot a
// guest meanwhile (the read may be older: the verdict is the read's, and the
// next Check reads again).
func (m *Mirror) Check(roomID, linkID, guestID string, now time.Time, load Load) (string, error) {
	m.mu.RLock()
	r, roomOK := m.rooms[roomID]
	_, linkOK := m.links[roomID][linkID]
	g, guestOK := m.guests[guestID]
	drops := m.drops
	m.mu.RUnlock()
	if !roomOK {
		return "", guestlink.ErrRoomUnavailable
	}
	if !guestOK && load != nil {
		if lg, ok := load(roomID, guestID); ok {
			g, guestOK = toGuest(lg, time.Now().UnixNano()), true
			m.mu.Lock()
			if cur, held := m.guests[guestID]; held {
				g = cur
			} else if m.drops == drops {
				m.guests[guestID] = g
			}
			m.mu.Unlock()
		}
	}
	if !guestOK || g.room != roomID || g.link != linkID || (g.purgeAt != 0 && now.UnixNano() >= g.purgeAt) {
		return "", guestlink.ErrGuestNotFound
	}
	kind := guestlink.KindRoom
	if r.gallery {
		kind = guestlink.KindGallery
	}
	rm := guestlink.Room{Available: r.available, GuestAccess: r.access, Kind: kind}
	return g.state, guestlink.CheckSession(rm, linkOK, guestlink.Guest{State: g.state, LinkID: linkID})
}

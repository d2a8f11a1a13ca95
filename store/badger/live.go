package badger

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/guestgate/guestgate/guestlink"
)

// live mirrors, in memory, the state that decides a guest session on every request
// without a store read (docs/PERFORMANCE.md): for each room whether it is
// available, a gallery and open to guests; which links exist; and the room, link,
// state and purge time of the guests that sent a request since the store was
// opened. Rooms and links are read at Open; a guest is read on its first Check (one
// store read per guest and process), so that start-up time and memory follow the
// rooms and the active guests, not the guest records kept for retention. Every
// write path of the Store refreshes the records it changed by reading them back
// from Badger after its commit, under mu, so that refreshes and first reads apply
// in the order they read and a write is visible to the next Check. A clustered
// store would refresh the same mirror from another instance's change feed.
type live struct {
	mu     sync.RWMutex
	gen    atomic.Uint64
	rooms  map[string]liveRoom
	links  map[string]map[string]struct{} // room -> link ids
	guests map[string]liveGuest           // guest id -> guest
	writes int                            // refreshes since the last sweep
}

type liveRoom struct {
	available, access, gallery bool
}

type liveGuest struct {
	room, link, state string
	purgeAt           int64 // Unix nanoseconds; 0 keeps
}

// sweepEvery is how many refreshes pass between sweeps of purged guests.
const sweepEvery = 1024

func newLive() *live {
	return &live{rooms: map[string]liveRoom{}, links: map[string]map[string]struct{}{}, guests: map[string]liveGuest{}}
}

func toLiveRoom(r guestlink.Room) liveRoom {
	return liveRoom{available: r.Available, access: r.GuestAccess, gallery: r.Kind == guestlink.KindGallery}
}

func toLiveGuest(g guestlink.Guest) liveGuest {
	var purge int64
	if !g.PurgeAt.IsZero() {
		purge = g.PurgeAt.UnixNano()
	}
	return liveGuest{room: g.RoomID, link: g.LinkID, state: g.State, purgeAt: purge}
}

// load fills the mirror's rooms and links from the database and forgets every
// guest (at Open and after Restore).
func (l *live) load(db *badgerdb.DB) error {
	fresh := newLive()
	err := db.View(func(txn *badgerdb.Txn) error {
		for _, prefix := range []string{prefixRoom, prefixLink} {
			opts := badgerdb.DefaultIteratorOptions
			opts.Prefix = []byte(prefix)
			opts.PrefetchValues = prefix == prefixRoom
			it := txn.NewIterator(opts)
			for it.Rewind(); it.Valid(); it.Next() {
				item := it.Item()
				if err := fresh.applyItem(string(item.Key()), item); err != nil {
					it.Close()
					return err
				}
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.rooms, l.links, l.guests = fresh.rooms, fresh.links, fresh.guests
	l.gen.Add(1)
	l.mu.Unlock()
	return nil
}

// applyItem puts one stored record into the mirror (the caller holds mu, or
// owns a mirror nobody else sees).
func (l *live) applyItem(key string, item *badgerdb.Item) error {
	switch {
	case strings.HasPrefix(key, prefixRoom):
		var r guestlink.Room
		if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &r) }); err != nil {
			return err
		}
		l.rooms[strings.TrimPrefix(key, prefixRoom)] = toLiveRoom(r)
	case strings.HasPrefix(key, prefixLink):
		room, link, ok := strings.Cut(strings.TrimPrefix(key, prefixLink), "/")
		if !ok {
			return nil
		}
		set := l.links[room]
		if set == nil {
			set = map[string]struct{}{}
			l.links[room] = set
		}
		set[link] = struct{}{}
	case strings.HasPrefix(key, prefixGuest):
		var g guestlink.Guest
		if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &g) }); err != nil {
			return err
		}
		l.guests[g.ID] = toLiveGuest(g)
	}
	return nil
}

// refresh reads keys back from the database and puts what it finds into the
// mirror, removing what is gone. A guest the mirror does not hold yet is put in
// too (a new redemption will send its first request soon). It runs after the write committed; holding mu
// across the read makes later refreshes win.
func (l *live) refresh(db *badgerdb.DB, keys ...[]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = db.View(func(txn *badgerdb.Txn) error {
		for _, k := range keys {
			key := string(k)
			item, err := txn.Get(k)
			if err == nil {
				if err := l.applyItem(key, item); err == nil {
					continue
				}
			}
			l.forget(key)
		}
		return nil
	})
	l.gen.Add(1)
	if l.writes++; l.writes >= sweepEvery {
		l.writes = 0
		l.sweep(time.Now().UnixNano())
	}
}

// forget removes the record of key from the mirror.
func (l *live) forget(key string) {
	switch {
	case strings.HasPrefix(key, prefixRoom):
		delete(l.rooms, strings.TrimPrefix(key, prefixRoom))
	case strings.HasPrefix(key, prefixLink):
		if room, link, ok := strings.Cut(strings.TrimPrefix(key, prefixLink), "/"); ok {
			delete(l.links[room], link)
			if len(l.links[room]) == 0 {
				delete(l.links, room)
			}
		}
	case strings.HasPrefix(key, prefixGuest):
		if _, id, ok := strings.Cut(strings.TrimPrefix(key, prefixGuest), "/"); ok {
			delete(l.guests, id)
		}
	}
}

// dropRoom forgets a room with its links and guests (DeleteRoom).
func (l *live) dropRoom(room string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.rooms, room)
	delete(l.links, room)
	for id, g := range l.guests {
		if g.room == room {
			delete(l.guests, id)
		}
	}
	l.gen.Add(1)
}

// sweep drops guests whose records Badger's TTL has removed.
func (l *live) sweep(now int64) {
	for id, g := range l.guests {
		if g.purgeAt != 0 && now >= g.purgeAt {
			delete(l.guests, id)
		}
	}
}

// check is guestlink.CheckSession on the mirror, with the guest's state, in the
// order Session decides: a missing room, then a missing guest (or one of another
// room or link, or purged), then CheckSession.
func (l *live) check(db *badgerdb.DB, roomID, linkID, guestID string, now time.Time) (string, error) {
	l.mu.RLock()
	r, roomOK := l.rooms[roomID]
	_, linkOK := l.links[roomID][linkID]
	g, guestOK := l.guests[guestID]
	l.mu.RUnlock()
	if roomOK && !guestOK {
		g, guestOK = l.readGuest(db, roomID, guestID)
	}
	if !roomOK {
		return "", guestlink.ErrRoomUnavailable
	}
	if !guestOK || g.room != roomID || g.link != linkID || (g.purgeAt != 0 && now.UnixNano() >= g.purgeAt) {
		return "", guestlink.ErrGuestNotFound
	}
	kind := guestlink.KindRoom
	if r.gallery {
		kind = guestlink.KindGallery
	}
	room := guestlink.Room{Available: r.available, GuestAccess: r.access, Kind: kind}
	return g.state, guestlink.CheckSession(room, linkOK, guestlink.Guest{State: g.state})
}

// readGuest reads a guest the mirror does not hold from the database and keeps
// it. It holds mu while it reads, like refresh, so a write that commits
// meanwhile is applied after it, never overwritten by it.
func (l *live) readGuest(db *badgerdb.DB, roomID, guestID string) (liveGuest, bool) {
	if !guestlink.ValidRoomID(roomID) || !validPart(guestID) {
		return liveGuest{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if g, ok := l.guests[guestID]; ok {
		return g, true
	}
	var g guestlink.Guest
	err := db.View(func(txn *badgerdb.Txn) error {
		found, err := getJSON(txn, guestKey(roomID, guestID), &g)
		if err == nil && !found {
			err = guestlink.ErrGuestNotFound
		}
		return err
	})
	if err != nil {
		return liveGuest{}, false
	}
	lg := toLiveGuest(g)
	l.guests[g.ID] = lg
	return lg, true
}

// Check is the gate's live-state check, from memory, without a store read:
// guestlink.CheckSession's verdict for the session of guest guestID, who came in
// through link linkID of room roomID, at now, and the guest's state, which is
// returned whenever the guest was found, also with an error (a removed guest of
// a room whose guest access is off). Errors are those of Session.
func (s *Store) Check(ctx context.Context, roomID, linkID, guestID string, now time.Time) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return s.live.check(s.db, roomID, linkID, guestID, now)
}

// Generation counts the changes the mirror has seen: it grows with every write
// of a room, link or guest, so a cache of decisions can tell it is stale.
func (s *Store) Generation() uint64 { return s.live.gen.Load() }

// guestsChanged tells WaitGuest callers and the mirror that the guests with
// these wait keys ("<room>/<guest>") changed.
func (s *Store) guestsChanged(keys ...string) {
	s.waiters.signal(keys...)
	gk := make([][]byte, 0, len(keys))
	for _, k := range keys {
		gk = append(gk, []byte(prefixGuest+k))
	}
	s.live.refresh(s.db, gk...)
}

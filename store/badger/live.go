package badger

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/guestlink/mirror"
)

// The store keeps the state that decides a guest session on every request in a
// guestlink/mirror, so that Check never reads the database: rooms and links are
// read at Open (loadMirror), a guest on its first Check, and every write path
// refreshes the records it changed by reading them back after its commit, under
// the mirror's lock, so that refreshes apply in the order they read and a write
// is visible to the next Check.

// loadMirror fills the mirror's rooms and links from the database and forgets
// every guest (at Open and after Restore).
func (s *Store) loadMirror() error {
	return s.mirror.Reset(func(tx mirror.Tx) error {
		return s.db.View(func(txn *badgerdb.Txn) error {
			for _, prefix := range []string{prefixRoom, prefixLink, prefixInv} {
				opts := badgerdb.DefaultIteratorOptions
				opts.Prefix = []byte(prefix)
				opts.PrefetchValues = prefix == prefixRoom
				it := txn.NewIterator(opts)
				for it.Rewind(); it.Valid(); it.Next() {
					if err := applyItem(tx, string(it.Item().Key()), it.Item()); err != nil {
						it.Close()
						return err
					}
				}
				it.Close()
			}
			return nil
		})
	})
}

// applyItem puts one stored room, link, invitation or guest record into the
// mirror.
func applyItem(tx mirror.Tx, key string, item *badgerdb.Item) error {
	switch {
	case strings.HasPrefix(key, prefixRoom):
		var r guestlink.Room
		if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &r) }); err != nil {
			return err
		}
		tx.PutRoom(r)
	case strings.HasPrefix(key, prefixLink), strings.HasPrefix(key, prefixInv):
		// An invitation is a link to the mirror: the sessions made with it
		// hold while it exists.
		if room, link, ok := strings.Cut(key[strings.IndexByte(key, '/')+1:], "/"); ok {
			tx.PutLink(room, link)
		}
	case strings.HasPrefix(key, prefixGuest):
		var g guestlink.Guest
		if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &g) }); err != nil {
			return err
		}
		tx.PutGuest(g)
	}
	return nil
}

// forget removes the record of key from the mirror.
func forget(tx mirror.Tx, key string) {
	switch {
	case strings.HasPrefix(key, prefixRoom):
		tx.DropRoom(strings.TrimPrefix(key, prefixRoom))
	case strings.HasPrefix(key, prefixLink), strings.HasPrefix(key, prefixInv):
		if room, link, ok := strings.Cut(key[strings.IndexByte(key, '/')+1:], "/"); ok {
			tx.DropLink(room, link)
		}
	case strings.HasPrefix(key, prefixGuest):
		if _, id, ok := strings.Cut(strings.TrimPrefix(key, prefixGuest), "/"); ok {
			tx.DropGuest(id)
		}
	}
}

// refresh reads keys back from the database and puts what it finds into the
// mirror, removing what is gone. It runs after the write committed.
func (s *Store) refresh(keys ...[]byte) {
	// Not beside a Restore's drop and load, as Badger's reads must not run
	// beside a DropAll; the Restore reloads the mirror after them.
	s.restoreMu.RLock()
	defer s.restoreMu.RUnlock()
	s.mirror.Update(func(tx mirror.Tx) {
		_ = s.db.View(func(txn *badgerdb.Txn) error {
			for _, k := range keys {
				key := string(k)
				if item, err := txn.Get(k); err == nil {
					if err := applyItem(tx, key, item); err == nil {
						continue
					}
				}
				forget(tx, key)
			}
			return nil
		})
	})
}

// dropRoom forgets a room with its links and guests (DeleteRoom).
func (s *Store) dropRoom(room string) {
	s.mirror.Update(func(tx mirror.Tx) { tx.DropRoom(room) })
}

// readGuest reads a guest the mirror does not hold from the database.
func (s *Store) readGuest(roomID, guestID string) (guestlink.Guest, bool) {
	if !guestlink.ValidRoomID(roomID) || !validPart(guestID) {
		return guestlink.Guest{}, false
	}
	var g guestlink.Guest
	err := s.view(context.Background(), func(txn *badgerdb.Txn) error {
		found, err := getJSON(txn, guestKey(roomID, guestID), &g)
		if err == nil && !found {
			err = guestlink.ErrGuestNotFound
		}
		return err
	})
	return g, err == nil
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
	return s.mirror.Check(roomID, linkID, guestID, now, s.readGuest)
}

// Generation counts the changes the mirror has seen: it grows with every write
// of a room, link or guest, so a cache of decisions can tell it is stale.
func (s *Store) Generation() uint64 { return s.mirror.Generation() }

// guestsChanged tells WaitGuest callers and the mirror that the guests with
// these wait keys ("<room>/<guest>") changed.
func (s *Store) guestsChanged(keys ...string) {
	s.waiters.Signal(keys...)
	gk := make([][]byte, 0, len(keys))
	for _, k := range keys {
		gk = append(gk, []byte(prefixGuest+k))
	}
	s.refresh(gk...)
}

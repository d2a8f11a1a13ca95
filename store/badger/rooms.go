package badger

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/guestgate/guestgate/guestlink"
)

// MaxSecretSize is the largest secret Secret makes, in bytes.
const MaxSecretSize = 1024

// deleteRoomRounds bounds how often DeleteRoom falls back to deleting guests in
// batches when its final transaction is still too big.
const deleteRoomRounds = 10

// PutRoom creates room id from spec, or updates it, at now, in one transaction.
// spec should be normalized (RoomSpec.Normalize); it is normalized again here,
// which changes nothing in a normalized spec, so that an invalid id or spec is a
// *guestlink.ValidationError rather than a bad record. spec.Apply decides the
// result: the guest access switch is kept, and switched off when the room becomes
// a gallery. created is true when the room did not exist.
func (s *Store) PutRoom(ctx context.Context, id string, spec guestlink.RoomSpec, now time.Time) (guestlink.Room, bool, error) {
	return s.putRoom(ctx, id, spec, now, true)
}

// MakeRoom creates room id from spec at now unless it exists, as PutRoom
// does; a room that exists is returned as it is, and nothing is written.
// Concurrent calls for one id conflict on the room's key, and the retry finds
// the room made.
func (s *Store) MakeRoom(ctx context.Context, id string, spec guestlink.RoomSpec, now time.Time) (guestlink.Room, bool, error) {
	return s.putRoom(ctx, id, spec, now, false)
}

// putRoom creates room id from spec at now, or, if it exists, updates it
// when update is set and returns it unchanged otherwise.
func (s *Store) putRoom(ctx context.Context, id string, spec guestlink.RoomSpec, now time.Time, update bool) (guestlink.Room, bool, error) {
	spec, err := spec.Normalize(id)
	if err != nil {
		return guestlink.Room{}, false, err
	}
	var room guestlink.Room
	var created, wrote bool
	err = s.update(ctx, func(txn *badgerdb.Txn) error {
		var cur guestlink.Room
		found, err := getJSON(txn, roomKey(id), &cur)
		if err != nil {
			return err
		}
		created, wrote = !found, !found || update
		if !wrote {
			room = cur
			return nil
		}
		room = spec.Apply(cur, id, now)
		return setJSON(txn, roomKey(id), room)
	})
	if err != nil {
		return guestlink.Room{}, false, err
	}
	if wrote {
		s.refresh(roomKey(id))
	}
	return room, created, nil
}

// Room returns room id, or guestlink.ErrRoomNotFound.
func (s *Store) Room(ctx context.Context, id string) (guestlink.Room, error) {
	var room guestlink.Room
	err := s.view(ctx, func(txn *badgerdb.Txn) error {
		var err error
		room, err = getRoom(txn, id)
		return err
	})
	return room, err
}

// getRoom reads room id in txn; guestlink.ErrRoomNotFound if it does not exist.
func getRoom(txn *badgerdb.Txn, id string) (guestlink.Room, error) {
	var r guestlink.Room
	if !guestlink.ValidRoomID(id) {
		return r, guestlink.ErrRoomNotFound
	}
	found, err := getJSON(txn, roomKey(id), &r)
	if err != nil {
		return guestlink.Room{}, err
	}
	if !found {
		return guestlink.Room{}, guestlink.ErrRoomNotFound
	}
	return r, nil
}

// DeleteRoom removes room id with all its links, their token index entries and all
// its guests with their guest list index keys, in one transaction;
// guestlink.ErrRoomNotFound if it does not exist. Its links stop resolving at
// once, and guest sessions of the room fail (Session returns
// guestlink.ErrRoomUnavailable). WaitGuest callers of the room's guests are woken.
//
// A room with very many guests (some 12,000; see memTableSize) does not fit in one
// Badger transaction (ErrTxnTooBig). DeleteRoom then deletes the room's guests in
// batches of one transaction each, while the room and its links stay in place,
// and then deletes the rest (links, tokens, guests that came in meanwhile, the
// room) in one final transaction. If it stops half way (an error, a crash), the
// room is still there with some of its guests gone, and DeleteRoom can be called
// again.
func (s *Store) DeleteRoom(ctx context.Context, id string) error {
	err := s.deleteRoom(ctx, id)
	switch {
	case err == nil:
		s.dropRoom(id)
	case !errors.Is(err, guestlink.ErrRoomNotFound):
		// Part of the room may be gone (batched deletion): read it all again.
		_ = s.loadMirror()
	}
	return err
}

func (s *Store) deleteRoom(ctx context.Context, id string) error {
	// Wake the WaitGuest callers of the room's guests, whatever was deleted: they
	// read again and see what is left (spurious wake-ups are harmless).
	defer s.waiters.SignalPrefix(id + "/")
	del := func(txn *badgerdb.Txn) error { return deleteRoom(txn, id) }
	err := s.update(ctx, del)
	for round := 0; errors.Is(err, badgerdb.ErrTxnTooBig); round++ {
		if round == deleteRoomRounds {
			return fmt.Errorf("guestgate store: deleting room %s: too many guests arriving: %w", id, err)
		}
		for {
			n, err := s.deleteGuestBatch(ctx, id)
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
		}
		err = s.update(ctx, del)
	}
	return err
}

// deleteRoom deletes room id, its links and invitations, their tokens and its
// guests in txn.
func deleteRoom(txn *badgerdb.Txn, id string) error {
	if _, err := getRoom(txn, id); err != nil {
		return err
	}
	if err := deleteAllOfRoom(txn, linkKind, id); err != nil {
		return err
	}
	if err := deleteAllOfRoom(txn, invitationKind, id); err != nil {
		return err
	}
	for _, prefix := range [][]byte{guestPrefix(id), newestPrefix(id)} {
		for _, k := range keysWithPrefix(txn, prefix, 0) {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
	}
	return txn.Delete(roomKey(id))
}

// deleteGuestBatch deletes as many guest list index keys and then guests of room
// id as fit in one transaction and returns how many keys it deleted;
// guestlink.ErrRoomNotFound if the room is gone.
func (s *Store) deleteGuestBatch(ctx context.Context, id string) (int, error) {
	var n int
	err := s.update(ctx, func(txn *badgerdb.Txn) error {
		n = 0
		if _, err := getRoom(txn, id); err != nil {
			return err
		}
		for _, prefix := range [][]byte{newestPrefix(id), guestPrefix(id)} {
			for _, k := range keysWithPrefix(txn, prefix, max(int(s.db.MaxBatchCount())-n, 1)) {
				err := txn.Delete(k)
				if errors.Is(err, badgerdb.ErrTxnTooBig) {
					return nil // commit what fits
				}
				if err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, err
}

// SetGuestAccess switches the guest access of room id on or off at now and returns
// the updated room (UpdatedAt is now). Switching it on in a gallery room is
// refused with guestlink.ErrGalleryRoom (guestlink.CheckGuestAccess: the product
// supports no guest access for media gallery rooms); guestlink.ErrRoomNotFound if
// the room does not exist. Turning it off makes every link of the room inactive at
// once, since Redeem and Session read the switch in their own transactions.
func (s *Store) SetGuestAccess(ctx context.Context, id string, on bool, now time.Time) (guestlink.Room, error) {
	room, _, err := s.changeRoom(ctx, id, func(r guestlink.Room) (guestlink.Room, bool, error) {
		r, err := r.WithGuestAccess(on, now)
		return r, true, err
	})
	return room, err
}

// SetLobbyMessage sets room id's lobby message to text at now in one
// transaction and returns the room; guestlink.ErrRoomNotFound.
func (s *Store) SetLobbyMessage(ctx context.Context, id, text string, now time.Time) (guestlink.Room, error) {
	room, _, err := s.changeRoom(ctx, id, func(r guestlink.Room) (guestlink.Room, bool, error) {
		r.LobbyMessage, r.UpdatedAt = text, now
		return r, true, nil
	})
	return room, err
}

// ClearLobbyMessage clears room id's lobby message at now if it is text, in
// one transaction, and returns the room and whether it cleared it;
// guestlink.ErrRoomNotFound. A message written meanwhile makes the
// transaction conflict and run again, and then stay.
func (s *Store) ClearLobbyMessage(ctx context.Context, id, text string, now time.Time) (guestlink.Room, bool, error) {
	return s.changeRoom(ctx, id, func(r guestlink.Room) (guestlink.Room, bool, error) {
		if r.LobbyMessage != text {
			return r, false, nil
		}
		r.LobbyMessage, r.UpdatedAt = "", now
		return r, true, nil
	})
}

// changeRoom reads room id and writes what change makes of it, in one
// transaction, when change says to write; it returns the room, as written
// or as read, and whether it wrote. guestlink.ErrRoomNotFound, or change's
// error, which writes nothing.
func (s *Store) changeRoom(ctx context.Context, id string, change func(guestlink.Room) (guestlink.Room, bool, error)) (guestlink.Room, bool, error) {
	var (
		room  guestlink.Room
		wrote bool
	)
	err := s.update(ctx, func(txn *badgerdb.Txn) error {
		r, err := getRoom(txn, id)
		if err != nil {
			return err
		}
		if room, wrote, err = change(r); err != nil || !wrote {
			return err
		}
		return setJSON(txn, roomKey(id), room)
	})
	if err != nil {
		return guestlink.Room{}, false, err
	}
	if wrote {
		s.refresh(roomKey(id))
	}
	return room, wrote, nil
}

// Rooms lists every room, by id.
func (s *Store) Rooms(ctx context.Context) ([]guestlink.Room, error) {
	var rooms []guestlink.Room
	err := s.view(ctx, func(txn *badgerdb.Txn) error {
		opts := badgerdb.DefaultIteratorOptions
		opts.Prefix = []byte(prefixRoom)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var r guestlink.Room
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &r) }); err != nil {
				return err
			}
			rooms = append(rooms, r)
		}
		return nil
	})
	return rooms, err
}

// LobbyMessage is room roomID's lobby message, from the mirror.
func (s *Store) LobbyMessage(roomID string) string { return s.mirror.LobbyMessage(roomID) }

// Secret returns the secret called name, size random bytes from crypto/rand made
// and stored the first time it is asked for, in one transaction (concurrent first
// calls all get the same bytes). name must be non-empty and hold no '/'; size is
// 1 to MaxSecretSize. A stored secret of another size is an error, never silently
// replaced.
func (s *Store) Secret(ctx context.Context, name string, size int) ([]byte, error) {
	if !validPart(name) {
		return nil, fmt.Errorf("guestgate store: invalid secret name %q", name)
	}
	if size < 1 || size > MaxSecretSize {
		return nil, fmt.Errorf("guestgate store: secret size %d out of range 1-%d", size, MaxSecretSize)
	}
	var secret []byte
	err := s.update(ctx, func(txn *badgerdb.Txn) error {
		item, err := txn.Get(secretKey(name))
		switch {
		case err == nil:
			secret, err = item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("guestgate store: reading secret %s: %w", name, err)
			}
			if len(secret) != size {
				return fmt.Errorf("guestgate store: stored secret %s is %d bytes, not %d", name, len(secret), size)
			}
			return nil
		case errors.Is(err, badgerdb.ErrKeyNotFound):
			secret = make([]byte, size)
			if _, err := rand.Read(secret); err != nil {
				return fmt.Errorf("guestgate store: making secret %s: %w", name, err)
			}
			return txn.Set(secretKey(name), secret)
		default:
			return fmt.Errorf("guestgate store: reading secret %s: %w", name, err)
		}
	})
	if err != nil {
		return nil, err
	}
	return secret, nil
}

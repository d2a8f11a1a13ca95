package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/guestlink/mirror"
	"github.com/guestgate/guestgate/internal/waiters"
)

// PutRoom creates room id from spec, or updates it, at now, in one
// transaction that locks the room's row (if any) and applies spec.Apply to
// it: the guest access switch and CreatedAt are kept, a gallery has guest
// access off. spec is normalized again, so that an invalid id or spec is a
// *guestlink.ValidationError. created is true when the room did not exist.
func (s *Store) PutRoom(ctx context.Context, id string, spec guestlink.RoomSpec, now time.Time) (guestlink.Room, bool, error) {
	spec, err := spec.Normalize(id)
	if err != nil {
		return guestlink.Room{}, false, err
	}
	var created bool
	room, err := s.writeRoom(ctx, "writing a room", id, func(tx pgx.Tx) (guestlink.Room, error) {
		cur, err := scanRoom(tx.QueryRow(ctx, "SELECT "+roomCols+" FROM gg_rooms WHERE id = $1 FOR NO KEY UPDATE", id))
		created = errors.Is(err, pgx.ErrNoRows)
		if err != nil && !created {
			return guestlink.Room{}, err
		}
		room := spec.Apply(cur, id, now)
		if created {
			// A concurrent creation of the same id wins the primary key: the
			// next attempt finds its room and updates it.
			inserted, err := insertRoom(ctx, tx, room)
			if err != nil {
				return guestlink.Room{}, err
			}
			if !inserted {
				return guestlink.Room{}, errRetry
			}
			return room, nil
		}
		_, err = tx.Exec(ctx, "UPDATE gg_rooms SET name = $2, kind = $3, available = $4, admission = $5, guest_access = $6, updated_at = $7 WHERE id = $1",
			room.ID, room.Name, room.Kind, room.Available, room.Admission, room.GuestAccess, ns(room.UpdatedAt))
		return room, err
	})
	if err != nil {
		return guestlink.Room{}, false, err
	}
	return room, created, nil
}

// MakeRoom creates room id from spec at now unless it exists, in one
// transaction: INSERT ... ON CONFLICT DO NOTHING, which waits for a
// concurrent creation of the same id to commit, then a read of the room that
// won. Only a creation records a change.
func (s *Store) MakeRoom(ctx context.Context, id string, spec guestlink.RoomSpec, now time.Time) (guestlink.Room, bool, error) {
	spec, err := spec.Normalize(id)
	if err != nil {
		return guestlink.Room{}, false, err
	}
	var (
		room    guestlink.Room
		created bool
		gen     int64
	)
	err = s.tx(ctx, "making a room", func(tx pgx.Tx) error {
		room, created = spec.Apply(guestlink.Room{}, id, now), false
		inserted, err := insertRoom(ctx, tx, room)
		if err != nil {
			return err
		}
		if !inserted {
			room, err = scanRoom(tx.QueryRow(ctx, "SELECT "+roomCols+" FROM gg_rooms WHERE id = $1", id))
			if errors.Is(err, pgx.ErrNoRows) {
				return errRetry // deleted since the insert found it
			}
			return err
		}
		created = true
		gen, err = bump(ctx, tx, change{kindRoom, id, ""})
		return err
	})
	if err != nil {
		return guestlink.Room{}, false, err
	}
	if created {
		s.applyOwn(gen, func(tx mirror.Tx) { tx.PutRoom(room) })
	}
	return room, created, nil
}

// insertRoom inserts room in tx unless a room of its id exists (it waits
// for a concurrent insert of the id to commit); inserted says whether it did.
func insertRoom(ctx context.Context, tx pgx.Tx, room guestlink.Room) (inserted bool, err error) {
	tag, err := tx.Exec(ctx, "INSERT INTO gg_rooms ("+roomCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
		room.ID, room.Name, room.Kind, room.Available, room.Admission, room.GuestAccess, ns(room.CreatedAt), ns(room.UpdatedAt), room.LobbyMessage)
	return err == nil && tag.RowsAffected() == 1, err
}

// writeRoom runs write, which changes room id and returns the room as it
// left it, in one transaction that also records the change in the change
// log, then puts the room into the live state. A write that finds no row
// (pgx.ErrNoRows) is guestlink.ErrRoomNotFound.
func (s *Store) writeRoom(ctx context.Context, op, id string, write func(pgx.Tx) (guestlink.Room, error)) (guestlink.Room, error) {
	var (
		room guestlink.Room
		gen  int64
	)
	err := s.tx(ctx, op, func(tx pgx.Tx) error {
		r, err := write(tx)
		if errors.Is(err, pgx.ErrNoRows) {
			return guestlink.ErrRoomNotFound
		}
		if err != nil {
			return err
		}
		room = r
		gen, err = bump(ctx, tx, change{kindRoom, id, ""})
		return err
	})
	if err != nil {
		return guestlink.Room{}, err
	}
	s.applyOwn(gen, func(tx mirror.Tx) { tx.PutRoom(room) })
	return room, nil
}

// Room returns room id, or guestlink.ErrRoomNotFound.
func (s *Store) Room(ctx context.Context, id string) (guestlink.Room, error) {
	if err := s.begin(ctx); err != nil {
		return guestlink.Room{}, err
	}
	if !validKey(id) {
		return guestlink.Room{}, guestlink.ErrRoomNotFound
	}
	r, err := scanRoom(s.pool.QueryRow(ctx, "SELECT "+roomCols+" FROM gg_rooms WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return guestlink.Room{}, guestlink.ErrRoomNotFound
	}
	if err != nil {
		return guestlink.Room{}, s.dbError(ctx, "reading a room", err)
	}
	return r, nil
}

// DeleteRoom removes room id with its links, invitations and guests in one
// transaction; guestlink.ErrRoomNotFound if it does not exist. Its links and
// invitations stop resolving at once, and its guests' sessions fail on every instance
// (guestlink.ErrRoomUnavailable). WaitGuest callers of its guests are woken.
//
// The links and invitations are deleted before the room, so that the
// transaction takes its row locks in the order a redemption does (the link
// or invitation, then the room's key for the guest's foreign key) and the
// two never deadlock.
func (s *Store) DeleteRoom(ctx context.Context, id string) error {
	if !validKey(id) {
		return guestlink.ErrRoomNotFound
	}
	var gen int64
	err := s.tx(ctx, "deleting a room", func(tx pgx.Tx) error {
		for _, table := range []string{"gg_links", "gg_invitations"} {
			if _, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE room_id = $1", id); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, "DELETE FROM gg_rooms WHERE id = $1", id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return guestlink.ErrRoomNotFound
		}
		gen, err = bump(ctx, tx, change{kindRoomDeleted, id, ""})
		return err
	})
	if err != nil {
		return err
	}
	s.applyOwn(gen, func(tx mirror.Tx) { tx.DropRoom(id) })
	s.waiters.SignalPrefix(waiters.Key(id, ""))
	return nil
}

// SetGuestAccess switches the guest access of room id on or off at now, in
// one transaction that locks the room's row, and returns the updated room.
// Switching it on in a gallery is guestlink.ErrGalleryRoom
// (guestlink.CheckGuestAccess); guestlink.ErrRoomNotFound if the room does
// not exist. Turning it off stops redemptions at once (they read the switch
// in their own statement) and every instance's gate within the propagation
// bound.
func (s *Store) SetGuestAccess(ctx context.Context, id string, on bool, now time.Time) (guestlink.Room, error) {
	if !validKey(id) {
		return guestlink.Room{}, guestlink.ErrRoomNotFound
	}
	return s.writeRoom(ctx, "switching guest access", id, func(tx pgx.Tx) (guestlink.Room, error) {
		r, err := scanRoom(tx.QueryRow(ctx, "SELECT "+roomCols+" FROM gg_rooms WHERE id = $1 FOR NO KEY UPDATE", id))
		if err != nil {
			return guestlink.Room{}, err
		}
		room, err := r.WithGuestAccess(on, now)
		if err != nil {
			return guestlink.Room{}, err
		}
		_, err = tx.Exec(ctx, "UPDATE gg_rooms SET guest_access = $2, updated_at = $3 WHERE id = $1", id, on, ns(now))
		return room, err
	})
}

// SetLobbyMessage sets room id's lobby message to text at now, in one
// transaction that locks the room's row, and returns the room;
// guestlink.ErrRoomNotFound. Every instance's mirror takes the change, which
// wakes the lobby pages waiting there.
func (s *Store) SetLobbyMessage(ctx context.Context, id, text string, now time.Time) (guestlink.Room, error) {
	if !validKey(id) {
		return guestlink.Room{}, guestlink.ErrRoomNotFound
	}
	return s.writeRoom(ctx, "setting the lobby message", id, func(tx pgx.Tx) (guestlink.Room, error) {
		return scanRoom(tx.QueryRow(ctx, "UPDATE gg_rooms SET lobby_message = $2, updated_at = $3 WHERE id = $1 RETURNING "+roomCols, id, text, ns(now)))
	})
}

// ClearLobbyMessage clears room id's lobby message at now if it is text, in
// one conditional UPDATE, and returns the room and whether it cleared it;
// guestlink.ErrRoomNotFound. Every instance's mirror takes a clearing.
func (s *Store) ClearLobbyMessage(ctx context.Context, id, text string, now time.Time) (guestlink.Room, bool, error) {
	if !validKey(id) {
		return guestlink.Room{}, false, guestlink.ErrRoomNotFound
	}
	room, err := s.writeRoom(ctx, "clearing the lobby message", id, func(tx pgx.Tx) (guestlink.Room, error) {
		return scanRoom(tx.QueryRow(ctx, "UPDATE gg_rooms SET lobby_message = '', updated_at = $3 WHERE id = $1 AND lobby_message = $2 RETURNING "+roomCols, id, text, ns(now)))
	})
	if !errors.Is(err, guestlink.ErrRoomNotFound) {
		return room, err == nil, err
	}
	// No row changed: the room is gone, or holds another message now.
	room, err = s.Room(ctx, id)
	return room, false, err
}

// Rooms lists every room, by id.
func (s *Store) Rooms(ctx context.Context) ([]guestlink.Room, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	rooms, err := collect(scanRoom)(s.pool.Query(ctx, "SELECT "+roomCols+" FROM gg_rooms ORDER BY id"))
	if err != nil {
		return nil, s.dbError(ctx, "listing rooms", err)
	}
	return rooms, nil
}

// LobbyMessage is room roomID's lobby message, from the mirror.
func (s *Store) LobbyMessage(roomID string) string { return s.mirror.LobbyMessage(roomID) }

// Secret returns the secret called name, size random bytes from crypto/rand
// made and stored the first time any instance asks for it: the first writer
// wins (INSERT ... ON CONFLICT DO NOTHING, then a read), so that every
// instance signs with the same keys. name must be non-empty and hold no '/';
// size is 1 to MaxSecretSize. A stored secret of another size is an error,
// never silently replaced. While the database cannot be reached, a secret
// this Store has read before is returned as it last read it: a config reload in
// an outage keeps the keys it would have read (only a restore or a move
// changes a stored secret, and the reload of the live state that follows one
// reads the secrets given before again).
func (s *Store) Secret(ctx context.Context, name string, size int) ([]byte, error) {
	if !validKey(name) || strings.Contains(name, "/") {
		return nil, fmt.Errorf("guestgate store: invalid secret name %q", name)
	}
	if size < 1 || size > MaxSecretSize {
		return nil, fmt.Errorf("guestgate store: secret size %d out of range 1-%d", size, MaxSecretSize)
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("guestgate store: making secret %s: %w", name, err)
	}
	secret, err := s.readSecret(ctx, name, fresh)
	if errors.Is(err, guestlink.ErrStoreUnavailable) {
		if v, ok := s.secrets.Load(name); ok && len(v.([]byte)) == size {
			return bytes.Clone(v.([]byte)), nil
		}
	}
	if err != nil {
		return nil, err
	}
	if len(secret) != size {
		return nil, fmt.Errorf("guestgate store: stored secret %s is %d bytes, not %d", name, len(secret), size)
	}
	s.secrets.Store(name, bytes.Clone(secret))
	return secret, nil
}

// readSecret stores fresh as secret name unless there is one, and reads the
// one stored.
func (s *Store) readSecret(ctx context.Context, name string, fresh []byte) ([]byte, error) {
	if _, err := s.pool.Exec(ctx, "INSERT INTO gg_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", name, fresh); err != nil {
		return nil, s.dbError(ctx, "storing secret "+name, err)
	}
	var secret []byte
	if err := s.pool.QueryRow(ctx, "SELECT value FROM gg_secrets WHERE name = $1", name).Scan(&secret); err != nil {
		return nil, s.dbError(ctx, "reading secret "+name, err)
	}
	return secret, nil
}

// Stats counts rooms, links and waiting guests (not purged) in one statement.
func (s *Store) Stats(ctx context.Context) (guestlink.Stats, error) {
	if err := s.begin(ctx); err != nil {
		return guestlink.Stats{}, err
	}
	var st guestlink.Stats
	err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM gg_rooms), (SELECT count(*) FROM gg_links),
		(SELECT count(*) FROM gg_guests WHERE state = 'waiting' AND `+notPurged("$1")+`)`, ns(s.now())).
		Scan(&st.Rooms, &st.Links, &st.GuestsWaiting)
	if err != nil {
		return guestlink.Stats{}, s.dbError(ctx, "counting", err)
	}
	return st, nil
}

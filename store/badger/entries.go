package badger

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/guestgate/guestgate/guestlink"
)

// A token opens one of two kinds of record: a guest link or an invitation.
// They share the token index and the shape of every write: an addition that
// counts the room's records of its kind under a limit, a deletion with the
// token's index entry, a lookup by token, and a redemption that spends one
// click or use and stores the guest in the same transaction. kind describes
// one of them to the functions below, which are written once for both.
type kind[T any] struct {
	// what names the kind in errors ("link", "invitation").
	what string
	// key is the record's key, prefix that of a room's records of the kind.
	key    func(roomID, id string) []byte
	prefix func(roomID string) []byte
	// notFound is the error for a record that is not there.
	notFound error
	// defaultLimit is a room's most records of the kind when the caller of
	// addRecord gives no limit (<= 0); check says whether a room may take
	// one more (guestlink.CheckNewLink, guestlink.CheckNewInvitation).
	defaultLimit int
	check        func(r guestlink.Room, count, limit int) error
	// owns reports whether an id (from the token index) is of this kind.
	owns func(id string) bool
	// token returns a record's token, room its room's id; created and id
	// its creation time and id, which order a room's records.
	token   func(T) string
	room    func(T) string
	created func(T) time.Time
	id      func(T) string
}

var (
	linkKind = kind[guestlink.Link]{
		what: "link", key: linkKey, prefix: linkPrefix, notFound: guestlink.ErrLinkNotFound,
		defaultLimit: guestlink.DefaultMaxLinks, check: guestlink.CheckNewLink,
		owns:    func(id string) bool { return !guestlink.IsInvitation(id) },
		token:   func(l guestlink.Link) string { return l.Token },
		room:    func(l guestlink.Link) string { return l.RoomID },
		created: func(l guestlink.Link) time.Time { return l.CreatedAt },
		id:      func(l guestlink.Link) string { return l.ID },
	}
	invitationKind = kind[guestlink.Invitation]{
		what: "invitation", key: invKey, prefix: invPrefix, notFound: guestlink.ErrInvitationNotFound,
		defaultLimit: guestlink.DefaultMaxInvitations, check: guestlink.CheckNewInvitation,
		owns:    guestlink.IsInvitation,
		token:   func(v guestlink.Invitation) string { return v.Token },
		room:    func(v guestlink.Invitation) string { return v.RoomID },
		created: func(v guestlink.Invitation) time.Time { return v.CreatedAt },
		id:      func(v guestlink.Invitation) string { return v.ID },
	}
)

// listOfRoom lists the records of the kind of room roomID, oldest first (by
// creation, then by id); guestlink.ErrRoomNotFound if the room does not
// exist.
func listOfRoom[T any](s *Store, ctx context.Context, k kind[T], roomID string) ([]T, error) {
	var out []T
	err := s.view(ctx, func(txn *badgerdb.Txn) error {
		if _, err := getRoom(txn, roomID); err != nil {
			return err
		}
		var err error
		out, err = valuesWithPrefix[T](txn, k.prefix(roomID))
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b T) int {
		return cmp.Or(k.created(a).Compare(k.created(b)), cmp.Compare(k.id(a), k.id(b)))
	})
	return out, nil
}

// addRecord stores rec and its token in the token index, in one transaction
// that re-reads rec's room, counts its records of the kind and applies
// k.check to the room, the count and limit (k.defaultLimit if limit <= 0);
// it returns rec as stored. It writes the
// room back unchanged: counting reads only the records that exist, so two
// additions would not see each other's new record and could both commit past
// the limit; both writing the room key they read makes the later one
// conflict, retry and count again.
func addRecord[T any](s *Store, ctx context.Context, k kind[T], rec T, limit int) (T, error) {
	var zero T
	if limit <= 0 {
		limit = k.defaultLimit
	}
	roomID, id, tok := k.room(rec), k.id(rec), k.token(rec)
	if !validPart(id) || !k.owns(id) || tok == "" {
		return zero, fmt.Errorf("guestgate store: %s without a valid id or token", k.what)
	}
	err := s.update(ctx, func(txn *badgerdb.Txn) error {
		r, err := getRoom(txn, roomID)
		if err != nil {
			return err
		}
		if err := k.check(r, len(keysWithPrefix(txn, k.prefix(roomID), 0)), limit); err != nil {
			return err
		}
		for _, key := range [][]byte{k.key(roomID, id), tokenKey(tok)} {
			taken, err := exists(txn, key)
			if err != nil {
				return err
			}
			if taken {
				return fmt.Errorf("guestgate store: %s id or token already in use", k.what)
			}
		}
		if err := setJSON(txn, k.key(roomID, id), rec); err != nil {
			return err
		}
		if err := txn.Set(tokenKey(tok), tokenValue(roomID, id)); err != nil {
			return err
		}
		return setJSON(txn, roomKey(roomID), r)
	})
	if err != nil {
		return zero, err
	}
	s.refresh(k.key(roomID, id))
	return rec, nil
}

// removeRecord deletes record id of room roomID and its token index entry in one
// transaction; k.notFound if there is none.
func removeRecord[T any](s *Store, ctx context.Context, k kind[T], roomID, id string) error {
	if !guestlink.ValidRoomID(roomID) || !validPart(id) {
		return k.notFound
	}
	defer s.refresh(k.key(roomID, id))
	return s.update(ctx, func(txn *badgerdb.Txn) error {
		var rec T
		found, err := getJSON(txn, k.key(roomID, id), &rec)
		if err != nil {
			return err
		}
		if !found {
			return k.notFound
		}
		if err := txn.Delete(k.key(roomID, id)); err != nil {
			return err
		}
		return txn.Delete(tokenKey(k.token(rec)))
	})
}

// deleteAllOfRoom deletes every record of the kind of room roomID, with its
// token index entry, in txn (DeleteRoom).
func deleteAllOfRoom[T any](txn *badgerdb.Txn, k kind[T], roomID string) error {
	recs, err := valuesWithPrefix[T](txn, k.prefix(roomID))
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if err := txn.Delete(k.key(roomID, k.id(rec))); err != nil {
			return err
		}
		if err := txn.Delete(tokenKey(k.token(rec))); err != nil {
			return err
		}
	}
	return nil
}

// findByToken reads the record of the kind whose token is token, and its room, in
// one read-only transaction (byToken).
func findByToken[T any](s *Store, ctx context.Context, k kind[T], token string) (guestlink.Room, T, error) {
	var (
		room guestlink.Room
		rec  T
	)
	err := s.view(ctx, func(txn *badgerdb.Txn) error {
		var err error
		room, rec, err = byToken(txn, k, token)
		return err
	})
	if err != nil {
		var zero T
		return guestlink.Room{}, zero, err
	}
	return room, rec, nil
}

// byToken reads the token index, the record and its room in txn; k.notFound
// if the token is unknown or another kind's, or the record or its room is
// gone.
func byToken[T any](txn *badgerdb.Txn, k kind[T], token string) (guestlink.Room, T, error) {
	var (
		room guestlink.Room
		rec  T
		zero T
	)
	item, err := txn.Get(tokenKey(token))
	if errors.Is(err, badgerdb.ErrKeyNotFound) {
		return room, rec, k.notFound
	}
	if err != nil {
		return room, rec, fmt.Errorf("guestgate store: reading token index: %w", err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return room, rec, fmt.Errorf("guestgate store: reading token index: %w", err)
	}
	roomID, id, ok := parseTokenValue(v)
	if !ok {
		return room, rec, fmt.Errorf("guestgate store: malformed token index entry %q", v)
	}
	if !k.owns(id) {
		return room, rec, k.notFound
	}
	found, err := getJSON(txn, k.key(roomID, id), &rec)
	if err != nil {
		return guestlink.Room{}, zero, err
	}
	if !found || k.token(rec) != token {
		return guestlink.Room{}, zero, k.notFound
	}
	found, err = getJSON(txn, roomKey(roomID), &room)
	if err != nil {
		return guestlink.Room{}, zero, err
	}
	if !found {
		return guestlink.Room{}, zero, k.notFound
	}
	return room, rec, nil
}

// redeemToken spends one click or use of the record with token for guest g at now
// and stores the guest, in one transaction that reads the record by token,
// applies open, then writes spend(record) and the guest that admit makes of g
// (guestlink.LinkGuest, guestlink.InvitationGuest). A refusal is returned with
// the room and record read, and changes nothing.
// Redemptions of one token are serialized inside the process, so a hot link
// costs no retries among them; conflicts with other writers are retried and
// re-checked.
func redeemToken[T any](s *Store, ctx context.Context, k kind[T], token string, g guestlink.Guest, now time.Time,
	open func(guestlink.Room, T, time.Time) error, spend func(T) T, admit func(guestlink.Room, T, guestlink.Guest, time.Time) guestlink.Guest,
) (guestlink.Room, T, guestlink.Guest, error) {
	var (
		room  guestlink.Room
		rec   T
		spent T
		guest guestlink.Guest
	)
	if !validPart(g.ID) {
		return room, rec, guest, errors.New("guestgate store: guest without a valid id")
	}
	if !g.PurgeAt.IsZero() && !g.PurgeAt.After(now) {
		return room, rec, guest, errors.New("guestgate store: guest to be purged before it is stored")
	}
	mu := s.linkLock(token)
	mu.Lock()
	defer mu.Unlock()
	err := s.update(ctx, func(txn *badgerdb.Txn) error {
		var err error
		room, rec, err = byToken(txn, k, token)
		if err != nil {
			return err
		}
		if err := open(room, rec, now); err != nil {
			return err
		}
		taken, err := exists(txn, guestKey(room.ID, g.ID))
		if err != nil {
			return err
		}
		if taken {
			return errors.New("guestgate store: guest id already in use")
		}
		spent = spend(rec)
		guest = admit(room, rec, g, now)
		if err := setJSON(txn, k.key(room.ID, k.id(spent)), spent); err != nil {
			return err
		}
		if _, err := writeGuest(txn, room.ID, guest, now); err != nil {
			return err
		}
		return writeNewest(txn, room.ID, guest, now)
	})
	if err != nil {
		return room, rec, guestlink.Guest{}, err
	}
	s.refresh(guestKey(room.ID, guest.ID))
	return room, spent, guest, nil
}

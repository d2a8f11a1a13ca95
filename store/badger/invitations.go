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

// Invitations lists the invitations of room roomID, oldest first (by
// CreatedAt, then by ID); guestlink.ErrRoomNotFound if the room does not exist.
func (s *Store) Invitations(ctx context.Context, roomID string) ([]guestlink.Invitation, error) {
	var out []guestlink.Invitation
	err := s.view(ctx, func(txn *badgerdb.Txn) error {
		if _, err := getRoom(txn, roomID); err != nil {
			return err
		}
		var err error
		out, err = invitations(txn, roomID)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b guestlink.Invitation) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// AddInvitation stores v with its token in the token index, in one
// transaction that re-reads the room, counts its invitations and applies
// guestlink.CheckNewInvitation (maxInvitations <= 0 means
// guestlink.DefaultMaxInvitations). As AddLink, it writes the room back so
// that two racing additions conflict and one counts again.
func (s *Store) AddInvitation(ctx context.Context, v guestlink.Invitation, maxInvitations int) (guestlink.Invitation, error) {
	if maxInvitations <= 0 {
		maxInvitations = guestlink.DefaultMaxInvitations
	}
	if !validPart(v.ID) || !guestlink.IsInvitation(v.ID) || v.Token == "" {
		return guestlink.Invitation{}, errors.New("guestgate store: invitation without a valid id or token")
	}
	err := s.update(ctx, func(txn *badgerdb.Txn) error {
		r, err := getRoom(txn, v.RoomID)
		if err != nil {
			return err
		}
		existing := keysWithPrefix(txn, invPrefix(v.RoomID), 0)
		if err := guestlink.CheckNewInvitation(r, len(existing), maxInvitations); err != nil {
			return err
		}
		for _, k := range [][]byte{invKey(v.RoomID, v.ID), tokenKey(v.Token)} {
			taken, err := exists(txn, k)
			if err != nil {
				return err
			}
			if taken {
				return errors.New("guestgate store: invitation id or token already in use")
			}
		}
		if err := setJSON(txn, invKey(v.RoomID, v.ID), v); err != nil {
			return err
		}
		if err := txn.Set(tokenKey(v.Token), tokenValue(v.RoomID, v.ID)); err != nil {
			return err
		}
		return setJSON(txn, roomKey(v.RoomID), r)
	})
	if err != nil {
		return guestlink.Invitation{}, err
	}
	s.refresh(invKey(v.RoomID, v.ID))
	return v, nil
}

// DeleteInvitation removes invitation id of room roomID and its token index
// entry in one transaction: its token no longer resolves, and the sessions of
// guests who came in with it fail (guestlink.ErrLinkNotFound).
// guestlink.ErrInvitationNotFound if there is no such invitation.
func (s *Store) DeleteInvitation(ctx context.Context, roomID, id string) error {
	if !guestlink.ValidRoomID(roomID) || !validPart(id) {
		return guestlink.ErrInvitationNotFound
	}
	defer s.refresh(invKey(roomID, id))
	return s.update(ctx, func(txn *badgerdb.Txn) error {
		var v guestlink.Invitation
		found, err := getJSON(txn, invKey(roomID, id), &v)
		if err != nil {
			return err
		}
		if !found {
			return guestlink.ErrInvitationNotFound
		}
		if err := txn.Delete(invKey(roomID, id)); err != nil {
			return err
		}
		return txn.Delete(tokenKey(v.Token))
	})
}

// InvitationByToken finds the invitation whose token is token, and its room,
// in one read-only transaction; guestlink.ErrInvitationNotFound if the token
// is unknown or a link's.
func (s *Store) InvitationByToken(ctx context.Context, token string) (guestlink.Room, guestlink.Invitation, error) {
	var (
		room guestlink.Room
		v    guestlink.Invitation
	)
	err := s.view(ctx, func(txn *badgerdb.Txn) error {
		var err error
		room, v, err = invitationByToken(txn, token)
		return err
	})
	if err != nil {
		return guestlink.Room{}, guestlink.Invitation{}, err
	}
	return room, v, nil
}

// invitationByToken reads the token index, the invitation and its room in txn.
func invitationByToken(txn *badgerdb.Txn, token string) (guestlink.Room, guestlink.Invitation, error) {
	var (
		room guestlink.Room
		v    guestlink.Invitation
	)
	item, err := txn.Get(tokenKey(token))
	if errors.Is(err, badgerdb.ErrKeyNotFound) {
		return room, v, guestlink.ErrInvitationNotFound
	}
	if err != nil {
		return room, v, fmt.Errorf("guestgate store: reading token index: %w", err)
	}
	val, err := item.ValueCopy(nil)
	if err != nil {
		return room, v, fmt.Errorf("guestgate store: reading token index: %w", err)
	}
	roomID, id, ok := parseTokenValue(val)
	if !ok {
		return room, v, fmt.Errorf("guestgate store: malformed token index entry %q", val)
	}
	if !guestlink.IsInvitation(id) {
		return room, v, guestlink.ErrInvitationNotFound
	}
	found, err := getJSON(txn, invKey(roomID, id), &v)
	if err != nil {
		return guestlink.Room{}, guestlink.Invitation{}, err
	}
	if !found || v.Token != token {
		return guestlink.Room{}, guestlink.Invitation{}, guestlink.ErrInvitationNotFound
	}
	found, err = getJSON(txn, roomKey(roomID), &room)
	if err != nil {
		return guestlink.Room{}, guestlink.Invitation{}, err
	}
	if !found {
		return guestlink.Room{}, guestlink.Invitation{}, guestlink.ErrInvitationNotFound
	}
	return room, v, nil
}

// RedeemInvitation spends one use of the invitation with token for guest g
// at now and stores the guest (guestlink.InvitationGuest), in one transaction
// that reads the token index, the invitation and its room and applies
// guestlink.CheckInvitationOpen; a refusal is returned with the room and
// invitation read, and changes nothing. Redemptions of one invitation are
// serialized in the process, as a link's; an invitation with MaxUses N is
// redeemed exactly N times.
func (s *Store) RedeemInvitation(ctx context.Context, token string, g guestlink.Guest, now time.Time) (guestlink.Room, guestlink.Invitation, guestlink.Guest, error) {
	if !validPart(g.ID) {
		return guestlink.Room{}, guestlink.Invitation{}, guestlink.Guest{}, errors.New("guestgate store: guest without a valid id")
	}
	if !g.PurgeAt.IsZero() && !g.PurgeAt.After(now) {
		return guestlink.Room{}, guestlink.Invitation{}, guestlink.Guest{}, errors.New("guestgate store: guest to be purged before it is stored")
	}
	mu := s.linkLock(token)
	mu.Lock()
	defer mu.Unlock()

	var (
		room  guestlink.Room
		v     guestlink.Invitation
		used  guestlink.Invitation
		guest guestlink.Guest
	)
	err := s.update(ctx, func(txn *badgerdb.Txn) error {
		var err error
		room, v, err = invitationByToken(txn, token)
		if err != nil {
			return err
		}
		if err := guestlink.CheckInvitationOpen(room, v, now); err != nil {
			return err
		}
		taken, err := exists(txn, guestKey(room.ID, g.ID))
		if err != nil {
			return err
		}
		if taken {
			return errors.New("guestgate store: guest id already in use")
		}
		used = v
		used.Uses++
		guest = guestlink.InvitationGuest(room, v, g, now)
		if err := setJSON(txn, invKey(room.ID, v.ID), used); err != nil {
			return err
		}
		if _, err := writeGuest(txn, room.ID, guest, now); err != nil {
			return err
		}
		return writeNewest(txn, room.ID, guest, now)
	})
	if err != nil {
		return room, v, guestlink.Guest{}, err
	}
	s.refresh(guestKey(room.ID, guest.ID))
	return room, used, guest, nil
}

package badger

import (
	"context"
	"errors"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/guestgate/guestgate/guestlink"
)

// Guest returns guest guestID of room roomID, or guestlink.ErrGuestNotFound.
func (s *Store) Guest(ctx context.Context, roomID, guestID string) (guestlink.Guest, error) {
	var g guestlink.Guest
	err := s.view(ctx, func(txn *badgerdb.Txn) error {
		var err error
		g, err = getGuest(txn, roomID, guestID)
		return err
	})
	if err != nil {
		return guestlink.Guest{}, err
	}
	return g, nil
}

// getGuest reads a guest in txn; guestlink.ErrGuestNotFound if it does not exist.
func getGuest(txn *badgerdb.Txn, roomID, guestID string) (guestlink.Guest, error) {
	var g guestlink.Guest
	if !guestlink.ValidRoomID(roomID) || !validPart(guestID) {
		return g, guestlink.ErrGuestNotFound
	}
	found, err := getJSON(txn, guestKey(roomID, guestID), &g)
	if err != nil {
		return guestlink.Guest{}, err
	}
	if !found {
		return guestlink.Guest{}, guestlink.ErrGuestNotFound
	}
	return g, nil
}

// Session reads, in one read-only transaction, the live state that decides
// whether the session of guest guestID, who came in through link linkID of room
// roomID, still opens the room (docs/DESIGN.md section 2, gate step 3), and returns
// guestlink.CheckSession's verdict with the room and the guest:
// guestlink.ErrRoomUnavailable when the room is not available or was deleted (a
// deleted room shows "room-unavailable"), guestlink.ErrGuestAccessOff,
// guestlink.ErrLinkNotFound when the link was deleted, guestlink.ErrGuestRemoved or
// guestlink.ErrGuestDeclined; nil when the session is good. A guest that does not
// exist in the room, or that came in through another link, is
// guestlink.ErrGuestNotFound. The room and guest are returned whenever they were
// read, errors or not.
func (s *Store) Session(ctx context.Context, roomID, linkID, guestID string) (guestlink.Room, guestlink.Guest, error) {
	var (
		room  guestlink.Room
		guest guestlink.Guest
	)
	err := s.view(ctx, func(txn *badgerdb.Txn) error {
		room, guest = guestlink.Room{}, guestlink.Guest{}
		r, err := getRoom(txn, roomID)
		if errors.Is(err, guestlink.ErrRoomNotFound) {
			return guestlink.ErrRoomUnavailable
		}
		if err != nil {
			return err
		}
		room = r
		linkFound := false
		if validPart(linkID) {
			key := linkKey(roomID, linkID)
			if guestlink.IsInvitation(linkID) {
				key = invKey(roomID, linkID)
			}
			if linkFound, err = exists(txn, key); err != nil {
				return err
			}
		}
		g, err := getGuest(txn, roomID, guestID)
		if err != nil {
			return err
		}
		if g.LinkID != linkID {
			return guestlink.ErrGuestNotFound
		}
		guest = g
		return guestlink.CheckSession(r, linkFound, g)
	})
	return room, guest, err
}

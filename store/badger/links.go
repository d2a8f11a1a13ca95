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

// Links lists the links of room roomID, oldest first (by CreatedAt, then by ID);
// guestlink.ErrRoomNotFound if the room does not exist. A room without links
// gives an empty list and a nil error.
func (s *Store) Links(ctx context.Context, roomID string) ([]guestlink.Link, error) {
	var out []guestlink.Link
	err := s.view(ctx, func(txn *badgerdb.Txn) error {
		if _, err := getRoom(txn, roomID); err != nil {
			return err
		}
		var err error
		out, err = links(txn, roomID)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b guestlink.Link) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// AddLink stores l, a link made by guestlink.LinkSpec.NewLink, with its token in
// the token index, in one transaction that re-reads the room and counts its links
// and applies guestlink.CheckNewLink: guestlink.ErrGalleryRoom in a gallery room,
// guestlink.ErrGuestAccessOff while guest access is off, guestlink.ErrLinkLimit
// when the room already has maxLinks links (the product's "up to 3 guest links",
// configurable with max_links; maxLinks <= 0 means guestlink.DefaultMaxLinks).
// guestlink.ErrRoomNotFound if the room does not exist. It returns l as stored.
func (s *Store) AddLink(ctx context.Context, l guestlink.Link, maxLinks int) (guestlink.Link, error) {
	if maxLinks <= 0 {
		maxLinks = guestlink.DefaultMaxLinks
	}
	if !validPart(l.ID) || l.Token == "" {
		return guestlink.Link{}, fmt.Errorf("guestgate store: link without a valid id or token")
	}
	err := s.update(ctx, func(txn *badgerdb.Txn) error {
		r, err := getRoom(txn, l.RoomID)
		if err != nil {
			return err
		}
		existing := keysWithPrefix(txn, linkPrefix(l.RoomID), 0)
		if err := guestlink.CheckNewLink(r, len(existing), maxLinks); err != nil {
			return err
		}
		for _, k := range [][]byte{linkKey(l.RoomID, l.ID), tokenKey(l.Token)} {
			taken, err := exists(txn, k)
			if err != nil {
				return err
			}
			if taken {
				return errors.New("guestgate store: link id or token already in use")
			}
		}
		if err := setJSON(txn, linkKey(l.RoomID, l.ID), l); err != nil {
			return err
		}
		if err := txn.Set(tokenKey(l.Token), tokenValue(l.RoomID, l.ID)); err != nil {
			return err
		}
		// Write the room back unchanged. Counting links reads only the links that
		// exist, so two AddLink transactions would not see each other's new link
		// and could both commit past the limit; both writing the room key they
		// read makes the later one conflict, retry and count again.
		return setJSON(txn, roomKey(l.RoomID), r)
	})
	if err != nil {
		return guestlink.Link{}, err
	}
	s.refresh(linkKey(l.RoomID, l.ID))
	return l, nil
}

// DeleteLink removes link linkID of room roomID and its token index entry in one
// transaction, at once and for good: its token no longer resolves, and sessions of
// guests who came in through it fail (Session returns guestlink.ErrLinkNotFound).
// guestlink.ErrLinkNotFound if there is no such link. The guests it admitted stay
// in the guest list.
func (s *Store) DeleteLink(ctx context.Context, roomID, linkID string) error {
	if !guestlink.ValidRoomID(roomID) || !validPart(linkID) {
		return guestlink.ErrLinkNotFound
	}
	defer s.refresh(linkKey(roomID, linkID))
	return s.update(ctx, func(txn *badgerdb.Txn) error {
		var l guestlink.Link
		found, err := getJSON(txn, linkKey(roomID, linkID), &l)
		if err != nil {
			return err
		}
		if !found {
			return guestlink.ErrLinkNotFound
		}
		if err := txn.Delete(linkKey(roomID, linkID)); err != nil {
			return err
		}
		return txn.Delete(tokenKey(l.Token))
	})
}

// LinkByToken finds the link whose token is token, and its room, in one read-only
// transaction. guestlink.ErrLinkNotFound if the token is unknown, or if the link or
// its room is gone (a link whose room was deleted is deleted too). It does not
// apply guestlink.CheckLinkOpen and never writes: opening a link spends no click.
func (s *Store) LinkByToken(ctx context.Context, token string) (guestlink.Room, guestlink.Link, error) {
	var (
		room guestlink.Room
		link guestlink.Link
	)
	err := s.view(ctx, func(txn *badgerdb.Txn) error {
		var err error
		room, link, err = linkByToken(txn, token)
		return err
	})
	if err != nil {
		return guestlink.Room{}, guestlink.Link{}, err
	}
	return room, link, nil
}

// linkByToken reads the token index, the link and its room in txn.
func linkByToken(txn *badgerdb.Txn, token string) (guestlink.Room, guestlink.Link, error) {
	var (
		room guestlink.Room
		link guestlink.Link
	)
	item, err := txn.Get(tokenKey(token))
	if errors.Is(err, badgerdb.ErrKeyNotFound) {
		return room, link, guestlink.ErrLinkNotFound
	}
	if err != nil {
		return room, link, fmt.Errorf("guestgate store: reading token index: %w", err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return room, link, fmt.Errorf("guestgate store: reading token index: %w", err)
	}
	roomID, linkID, ok := parseTokenValue(v)
	if !ok {
		return room, link, fmt.Errorf("guestgate store: malformed token index entry %q", v)
	}
	found, err := getJSON(txn, linkKey(roomID, linkID), &link)
	if err != nil {
		return guestlink.Room{}, guestlink.Link{}, err
	}
	if !found || link.Token != token {
		return guestlink.Room{}, guestlink.Link{}, guestlink.ErrLinkNotFound
	}
	found, err = getJSON(txn, roomKey(roomID), &room)
	if err != nil {
		return guestlink.Room{}, guestlink.Link{}, err
	}
	if !found {
		return guestlink.Room{}, guestlink.Link{}, guestlink.ErrLinkNotFound
	}
	return room, link, nil
}

// Redeem spends one click of the link with token for guest g at now and stores the
// guest, in one transaction that reads the token index, the link and its room and
// applies guestlink.CheckLinkOpen to them: guestlink.ErrRoomUnavailable,
// guestlink.ErrGuestAccessOff, guestlink.ErrLinkNotYetOpen,
// guestlink.ErrLinkExpired or guestlink.ErrLinkUsedUp,
// returned unchanged. guestlink.ErrLinkNotFound if the token does not resolve (see
// LinkByToken). The room and link read are returned with those errors too, so that
// callers can show the right page.
//
// g must have its ID, Name and Email set; the stored guest gets RoomID, LinkID and
// LinkName from the link, Role the link's (guestlink.RoleOrViewer), State
// guestlink.InitialState(room, role) (waiting when a moderator admits viewers) and RedeemedAt = UpdatedAt = LastSeen = now (the
// redemption counts as seen), and keeps g.PurgeAt: when it is set, the guest
// record and its guest list index key expire then (a Badger TTL of PurgeAt - now;
// a PurgeAt not after now is refused with an error before anything is spent).
// On success Redeem returns the room, the link after the click (Clicks one
// higher) and the guest.
//
// Redemptions of one link are serialized inside the process, so a hot link costs
// no retries among them; conflicts with other writers (DeleteLink, SetGuestAccess,
// DeleteRoom) are retried and re-checked. A link with MaxClicks N is
// redeemed exactly N times.
func (s *Store) Redeem(ctx context.Context, token string, g guestlink.Guest, now time.Time) (guestlink.Room, guestlink.Link, guestlink.Guest, error) {
	if !validPart(g.ID) {
		return guestlink.Room{}, guestlink.Link{}, guestlink.Guest{}, errors.New("guestgate store: guest without a valid id")
	}
	if !g.PurgeAt.IsZero() && !g.PurgeAt.After(now) {
		return guestlink.Room{}, guestlink.Link{}, guestlink.Guest{}, errors.New("guestgate store: guest to be purged before it is stored")
	}
	mu := s.linkLock(token)
	mu.Lock()
	defer mu.Unlock()

	var (
		room    guestlink.Room
		link    guestlink.Link
		clicked guestlink.Link
		guest   guestlink.Guest
	)
	err := s.update(ctx, func(txn *badgerdb.Txn) error {
		var err error
		room, link, err = linkByToken(txn, token)
		if err != nil {
			return err
		}
		if err := guestlink.CheckLinkOpen(room, link, now); err != nil {
			return err
		}
		gk := guestKey(room.ID, g.ID)
		taken, err := exists(txn, gk)
		if err != nil {
			return err
		}
		if taken {
			return errors.New("guestgate store: guest id already in use")
		}
		clicked = link
		clicked.Clicks++
		guest = g
		guest.RoomID, guest.LinkID, guest.LinkName = room.ID, link.ID, link.Name
		guest.Role = guestlink.RoleOrViewer(link.Role)
		guest.State = guestlink.InitialState(room, guest.Role)
		guest.RedeemedAt, guest.UpdatedAt, guest.LastSeen = now, now, now
		if err := setJSON(txn, linkKey(room.ID, link.ID), clicked); err != nil {
			return err
		}
		if _, err := writeGuest(txn, room.ID, guest, now); err != nil {
			return err
		}
		return writeNewest(txn, room.ID, guest, now)
	})
	if err != nil {
		return room, link, guestlink.Guest{}, err
	}
	s.refresh(guestKey(room.ID, guest.ID))
	return room, clicked, guest, nil
}

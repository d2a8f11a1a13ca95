package badger

import (
	"context"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// Links lists the links of room roomID, oldest first (by CreatedAt, then by ID);
// guestlink.ErrRoomNotFound if the room does not exist. A room without links
// gives an empty list and a nil error.
func (s *Store) Links(ctx context.Context, roomID string) ([]guestlink.Link, error) {
	return listOfRoom(s, ctx, linkKind, roomID)
}

// AddLink stores l, a link made by guestlink.LinkSpec.NewLink, with its token in
// the token index, in one transaction that re-reads the room and counts its links
// and applies guestlink.CheckNewLink: guestlink.ErrGalleryRoom in a gallery room,
// guestlink.ErrGuestAccessOff while guest access is off, guestlink.ErrLinkLimit
// when the room already has maxLinks links (the product's "up to 3 guest links",
// configurable with max_links; maxLinks <= 0 means guestlink.DefaultMaxLinks).
// guestlink.ErrRoomNotFound if the room does not exist. It returns l as stored.
func (s *Store) AddLink(ctx context.Context, l guestlink.Link, maxLinks int) (guestlink.Link, error) {
	return addRecord(s, ctx, linkKind, l, maxLinks)
}

// DeleteLink removes link linkID of room roomID and its token index entry in one
// transaction, at once and for good: its token no longer resolves, and sessions of
// guests who came in through it fail (Session returns guestlink.ErrLinkNotFound).
// guestlink.ErrLinkNotFound if there is no such link. The guests it admitted stay
// in the guest list.
func (s *Store) DeleteLink(ctx context.Context, roomID, linkID string) error {
	return removeRecord(s, ctx, linkKind, roomID, linkID)
}

// LinkByToken finds the link whose token is token, and its room, in one read-only
// transaction. guestlink.ErrLinkNotFound if the token is unknown, or if the link or
// its room is gone (a link whose room was deleted is deleted too). It does not
// apply guestlink.CheckLinkOpen and never writes: opening a link spends no click.
func (s *Store) LinkByToken(ctx context.Context, token string) (guestlink.Room, guestlink.Link, error) {
	return findByToken(s, ctx, linkKind, token)
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
// g must have its ID, Name and Email set; the stored guest is
// guestlink.LinkGuest's: RoomID, LinkID and LinkName from the link, Role the
// link's (guestlink.RoleOrViewer), State guestlink.InitialState(room, role)
// (waiting when a moderator admits viewers) and RedeemedAt = UpdatedAt =
// LastSeen = now (the redemption counts as seen). It keeps g.PurgeAt: when it
// is set, the guest record and its guest list index key expire then (a Badger
// TTL of PurgeAt - now; a PurgeAt not after now is refused with an error
// before anything is spent).
// On success Redeem returns the room, the link after the click (Clicks one
// higher) and the guest.
//
// Redemptions of one link are serialized inside the process, so a hot link costs
// no retries among them; conflicts with other writers (DeleteLink, SetGuestAccess,
// DeleteRoom) are retried and re-checked. A link with MaxClicks N is
// redeemed exactly N times.
func (s *Store) Redeem(ctx context.Context, token string, g guestlink.Guest, now time.Time) (guestlink.Room, guestlink.Link, guestlink.Guest, error) {
	return redeemToken(s, ctx, linkKind, token, g, now, guestlink.CheckLinkOpen,
		func(l guestlink.Link) guestlink.Link {
			l.Clicks++
			return l
		},
		guestlink.LinkGuest)
}

package badger

import (
	"context"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// Invitations lists the invitations of room roomID, oldest first (by
// CreatedAt, then by ID); guestlink.ErrRoomNotFound if the room does not exist.
func (s *Store) Invitations(ctx context.Context, roomID string) ([]guestlink.Invitation, error) {
	return listOfRoom(s, ctx, invitationKind, roomID)
}

// AddInvitation stores v with its token in the token index, in one
// transaction that re-reads the room, counts its invitations and applies
// guestlink.CheckNewInvitation (maxInvitations <= 0 means
// guestlink.DefaultMaxInvitations). As AddLink, it writes the room back so
// that two racing additions conflict and one counts again.
func (s *Store) AddInvitation(ctx context.Context, v guestlink.Invitation, maxInvitations int) (guestlink.Invitation, error) {
	return addRecord(s, ctx, invitationKind, v, maxInvitations)
}

// DeleteInvitation removes invitation id of room roomID and its token index
// entry in one transaction: its token no longer resolves, and the sessions of
// guests who came in with it fail (guestlink.ErrLinkNotFound).
// guestlink.ErrInvitationNotFound if there is no such invitation.
func (s *Store) DeleteInvitation(ctx context.Context, roomID, id string) error {
	return removeRecord(s, ctx, invitationKind, roomID, id)
}

// InvitationByToken finds the invitation whose token is token, and its room,
// in one read-only transaction; guestlink.ErrInvitationNotFound if the token
// is unknown or a link's.
func (s *Store) InvitationByToken(ctx context.Context, token string) (guestlink.Room, guestlink.Invitation, error) {
	return findByToken(s, ctx, invitationKind, token)
}

// RedeemInvitation spends one use of the invitation with token for guest g
// at now and stores the guest (guestlink.InvitationGuest), in one transaction
// that reads the token index, the invitation and its room and applies
// guestlink.CheckInvitationOpen; a refusal is returned with the room and
// invitation read, and changes nothing. Redemptions of one invitation are
// serialized in the process, as a link's; an invitation with MaxUses N is
// redeemed exactly N times.
func (s *Store) RedeemInvitation(ctx context.Context, token string, g guestlink.Guest, now time.Time) (guestlink.Room, guestlink.Invitation, guestlink.Guest, error) {
	return redeemToken(s, ctx, invitationKind, token, g, now, guestlink.CheckInvitationOpen,
		func(v guestlink.Invitation) guestlink.Invitation {
			v.Uses++
			return v
		},
		guestlink.InvitationGuest)
}

package postgres

import (
	"context"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/guestlink/mirror"
)

// Invitations lists the invitations of room roomID, oldest first (by
// CreatedAt, then by ID); guestlink.ErrRoomNotFound if the room does not
// exist.
func (s *Store) Invitations(ctx context.Context, roomID string) ([]guestlink.Invitation, error) {
	return listOfRoom(ctx, s, "listing invitations", roomID, "SELECT "+invCols+" FROM gg_invitations WHERE room_id = $1 ORDER BY created_at, id", scanInv)
}

// AddInvitation stores v, an invitation made by
// guestlink.InvitationSpec.NewInvitation, as AddLink a link: in one
// transaction whose first statement raises the room's invitation_count only
// while it is below maxInvitations and the room is no gallery (guest access
// does not matter), so that the cap holds across instances. When that UPDATE
// changes nothing, guestlink.CheckNewInvitation on the room says why
// (guestlink.ErrGalleryRoom, guestlink.ErrInvitationLimit);
// guestlink.ErrRoomNotFound if the room does not exist. maxInvitations <= 0
// means guestlink.DefaultMaxInvitations. Links and invitations are counted
// apart. It returns v as stored.
func (s *Store) AddInvitation(ctx context.Context, v guestlink.Invitation, maxInvitations int) (guestlink.Invitation, error) {
	if err := s.addCounted(ctx, countedInvitations, v.RoomID, v.ID, v.Token, maxInvitations, invitationRow(v)); err != nil {
		return guestlink.Invitation{}, err
	}
	return v, nil
}

// invitationRow is the values of invCols and token_hash for v.
func invitationRow(v guestlink.Invitation) []any {
	return []any{v.RoomID, v.ID, v.Token, v.Email, v.Name, guestlink.RoleOrViewer(v.Role), nullCount(v.MaxUses), v.Uses,
		ns(v.CreatedAt), ns(v.ExpiresAt), nullNS(v.NotBefore), tokenHash(v.Token)}
}

// DeleteInvitation removes invitation id of room roomID and lowers the
// room's invitation_count, in one transaction, at once and for good: its
// token no longer resolves, and the sessions of the guests who came in with
// it fail on every instance (guestlink.ErrLinkNotFound).
// guestlink.ErrInvitationNotFound if there is no such invitation. Its guests
// stay in the guest list.
func (s *Store) DeleteInvitation(ctx context.Context, roomID, id string) error {
	return s.deleteCounted(ctx, countedInvitations, roomID, id)
}

// invitationByToken is the statement that reads an invitation by its token,
// with its room.
var invitationByToken = "SELECT " + invColsV + ", " + roomColsR +
	" FROM gg_invitations v JOIN gg_rooms r ON r.id = v.room_id WHERE v.token_hash = $1 AND v.token = $2"

// InvitationByToken finds the invitation whose token is token, and its room,
// in one statement; guestlink.ErrInvitationNotFound if there is none (a
// link's token is in gg_links, not here). It does not apply
// guestlink.CheckInvitationOpen and never writes.
func (s *Store) InvitationByToken(ctx context.Context, token string) (guestlink.Room, guestlink.Invitation, error) {
	return byToken(ctx, s, "reading an invitation", invitationByToken, invitationDest, guestlink.ErrInvitationNotFound, token)
}

// redeemInvitationStmt spends one use and stores the guest, in one statement
// that is its own transaction, as redeemStmt does for a link: its UPDATE
// raises the uses of the invitation with token ($1, $2) only while it is open
// at now ($3) by guestlink.CheckInvitationOpen (its room available and not a
// gallery, open already, not expired, not used up; guest access does not
// matter), and its INSERT stores the guest ($4 id, $5 name, $6 email, $10
// purge time) with the invitation's room, id and role, the link name $12
// (guestlink.InvitationLinkName) and the state the room's admission gives
// that role (guestlink.InitialState: $8 when the admission is $7 and the
// role $11, else $9): redeemStmt's parameters, and $12. As redeemStmt, it
// returns whether it spent, three columns for the INSERT, then the
// invitation after the use and its room, or the invitation and its room as
// the statement's snapshot has them when it is not open; no row for an
// unknown token. Concurrent redemptions of one invitation wait on its row lock and
// re-check the conditions on the row as the one before them left it.
var redeemInvitationStmt = `WITH c AS (UPDATE gg_invitations AS v SET uses = v.uses + 1
		FROM gg_rooms AS r
		WHERE v.token_hash = $1 AND v.token = $2 AND r.id = v.room_id
			AND r.available AND r.kind <> 'gallery'
			AND (v.not_before IS NULL OR v.not_before <= $3)
			AND v.expires_at > $3
			AND (v.max_uses IS NULL OR v.uses < v.max_uses)
		RETURNING v.room_id AS c_room, v.id AS c_inv, r.admission AS c_admission, ` +
	invColsV + ", " + roomColsR + `),
	g AS (INSERT INTO gg_guests (` + guestCols + `)
		SELECT c_room, $4::text, c_inv, $12::text, $5::text, $6::text,
			CASE WHEN c_admission = $7::text AND role = $11::text THEN $8::text ELSE $9::text END, $3, $3, $3, $10::bigint, role
		FROM c)
	SELECT true AS spent, * FROM c
	UNION ALL
	SELECT false, v.room_id, v.id, r.admission, ` + invColsV + ", " + roomColsR + `
		FROM gg_invitations v JOIN gg_rooms r ON r.id = v.room_id
		WHERE v.token_hash = $1 AND v.token = $2 AND NOT EXISTS (SELECT 1 FROM c)`

// RedeemInvitation spends one use of the invitation with token for guest g
// at now and stores the guest, in one statement that is its own transaction
// (redeemInvitationStmt), as Redeem does for a link. When the UPDATE changes
// nothing, the same statement's read of the invitation and its room says why, in
// guestlink.CheckInvitationOpen's order: guestlink.ErrRoomUnavailable,
// guestlink.ErrGalleryRoom, guestlink.ErrLinkNotYetOpen,
// guestlink.ErrLinkExpired or guestlink.ErrLinkUsedUp, returned with the room
// and invitation read; guestlink.ErrInvitationNotFound if the token does not
// resolve.
//
// g must have its ID, Name and Email set (the caller compared the email);
// the stored guest is guestlink.InvitationGuest's and keeps g.PurgeAt (a
// PurgeAt not after now is refused before anything is spent). An invitation
// with MaxUses N is redeemed exactly N times, by all instances together. As
// a link's, a redemption does not go through the change log.
func (s *Store) RedeemInvitation(ctx context.Context, token string, g guestlink.Guest, now time.Time) (guestlink.Room, guestlink.Invitation, guestlink.Guest, error) {
	room, v, err := redemption(ctx, s, "redeeming an invitation", redeemInvitationStmt, 3, invitationDest,
		guestlink.CheckInvitationOpen, guestlink.ErrInvitationNotFound, token, g, now, guestlink.InvitationLinkName)
	if err != nil {
		return room, v, guestlink.Guest{}, err
	}
	// v is the invitation after the use: the UPDATE's RETURNING.
	guest := guestlink.InvitationGuest(room, v, g, now)
	s.mirror.Update(func(tx mirror.Tx) { tx.AddGuest(guest) })
	return room, v, guest, nil
}

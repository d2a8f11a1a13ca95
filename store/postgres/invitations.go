package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/guestlink/mirror"
)

// Invitations lists the invitations of room roomID, oldest first (by
// CreatedAt, then by ID); guestlink.ErrRoomNotFound if the room does not
// exist.
func (s *Store) Invitations(ctx context.Context, roomID string) ([]guestlink.Invitation, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if !validKey(roomID) {
		return nil, guestlink.ErrRoomNotFound
	}
	out, err := collect(scanInv)(s.pool.Query(ctx, "SELECT "+invCols+" FROM gg_invitations WHERE room_id = $1 ORDER BY created_at, id", roomID))
	if err != nil {
		return nil, s.dbError(ctx, "listing invitations", err)
	}
	if len(out) == 0 {
		if _, err := s.Room(ctx, roomID); err != nil {
			return nil, err
		}
		out = []guestlink.Invitation{}
	}
	return out, nil
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
	if maxInvitations <= 0 {
		maxInvitations = guestlink.DefaultMaxInvitations
	}
	if !validKey(v.ID) || !guestlink.IsInvitation(v.ID) || !validKey(v.Token) {
		return guestlink.Invitation{}, errors.New("guestgate store: invitation without a valid id or token")
	}
	if !validKey(v.RoomID) {
		return guestlink.Invitation{}, guestlink.ErrRoomNotFound
	}
	var gen int64
	err := s.tx(ctx, "adding an invitation", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE gg_rooms SET invitation_count = invitation_count + 1
			WHERE id = $1 AND invitation_count < $2 AND kind <> 'gallery'`, v.RoomID, maxInvitations)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var (
				r     guestlink.Room
				count int
			)
			dest, done := roomDest(&r)
			err := tx.QueryRow(ctx, "SELECT "+roomCols+", invitation_count FROM gg_rooms WHERE id = $1", v.RoomID).Scan(append(dest, &count)...)
			if errors.Is(err, pgx.ErrNoRows) {
				return guestlink.ErrRoomNotFound
			}
			if err != nil {
				return err
			}
			done()
			if err := guestlink.CheckNewInvitation(r, count, maxInvitations); err != nil {
				return err
			}
			return errRetry // the room changed between the two statements
		}
		_, err = tx.Exec(ctx, "INSERT INTO gg_invitations ("+invCols+", token_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
			invitationRow(v)...)
		if isUniqueViolation(err) {
			return errors.New("guestgate store: invitation id or token already in use")
		}
		if err != nil {
			return err
		}
		gen, err = bump(ctx, tx, change{kindInvitation, v.RoomID, v.ID})
		return err
	})
	if err != nil {
		return guestlink.Invitation{}, err
	}
	// An invitation is a link to the live state: the sessions made with it
	// hold while it exists.
	s.applyOwn(gen, func(tx mirror.Tx) { tx.PutLink(v.RoomID, v.ID) })
	return v, nil
}

// invitationRow is the values of invCols and token_hash for v.
func invitationRow(v guestlink.Invitation) []any {
	var maxUses *int
	if v.MaxUses > 0 {
		maxUses = &v.MaxUses
	}
	return []any{v.RoomID, v.ID, v.Token, v.Email, v.Name, guestlink.RoleOrViewer(v.Role), maxUses, v.Uses,
		ns(v.CreatedAt), ns(v.ExpiresAt), nullNS(v.NotBefore), tokenHash(v.Token)}
}

// DeleteInvitation removes invitation id of room roomID and lowers the
// room's invitation_count, in one transaction, at once and for good: its
// token no longer resolves, and the sessions of the guests who came in with
// it fail on every instance (guestlink.ErrLinkNotFound).
// guestlink.ErrInvitationNotFound if there is no such invitation. Its guests
// stay in the guest list.
func (s *Store) DeleteInvitation(ctx context.Context, roomID, id string) error {
	if !validKey(roomID) || !validKey(id) {
		return guestlink.ErrInvitationNotFound
	}
	var gen int64
	err := s.tx(ctx, "deleting an invitation", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM gg_invitations WHERE room_id = $1 AND id = $2", roomID, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return guestlink.ErrInvitationNotFound
		}
		if _, err := tx.Exec(ctx, "UPDATE gg_rooms SET invitation_count = invitation_count - 1 WHERE id = $1", roomID); err != nil {
			return err
		}
		gen, err = bump(ctx, tx, change{kindInvitation, roomID, id})
		return err
	})
	if err != nil {
		return err
	}
	s.applyOwn(gen, func(tx mirror.Tx) { tx.DropLink(roomID, id) })
	return nil
}

// invitationByToken is the statement that reads an invitation by its token,
// with its room.
var invitationByToken = "SELECT " + invColsV + ", " + roomColsR +
	" FROM gg_invitations v JOIN gg_rooms r ON r.id = v.room_id WHERE v.token_hash = $1 AND v.token = $2"

// scanInvitationAndRoom reads a row of the columns of before, then invCols,
// then roomCols.
func scanInvitationAndRoom(row pgx.Row, before ...any) (guestlink.Room, guestlink.Invitation, error) {
	var (
		r guestlink.Room
		v guestlink.Invitation
	)
	vdest, vdone := invitationDest(&v)
	rdest, rdone := roomDest(&r)
	if err := row.Scan(append(append(before, vdest...), rdest...)...); err != nil {
		return guestlink.Room{}, guestlink.Invitation{}, err
	}
	vdone()
	rdone()
	return r, v, nil
}

// InvitationByToken finds the invitation whose token is token, and its room,
// in one statement; guestlink.ErrInvitationNotFound if there is none (a
// link's token is in gg_links, not here). It does not apply
// guestlink.CheckInvitationOpen and never writes.
func (s *Store) InvitationByToken(ctx context.Context, token string) (guestlink.Room, guestlink.Invitation, error) {
	if err := s.begin(ctx); err != nil {
		return guestlink.Room{}, guestlink.Invitation{}, err
	}
	if !validKey(token) {
		return guestlink.Room{}, guestlink.Invitation{}, guestlink.ErrInvitationNotFound
	}
	r, v, err := scanInvitationAndRoom(s.pool.QueryRow(ctx, invitationByToken, tokenHash(token), token))
	if errors.Is(err, pgx.ErrNoRows) {
		return guestlink.Room{}, guestlink.Invitation{}, guestlink.ErrInvitationNotFound
	}
	if err != nil {
		return guestlink.Room{}, guestlink.Invitation{}, s.dbError(ctx, "reading an invitation", err)
	}
	return r, v, nil
}

// redeemInvitationStmt spends one use and stores the guest, in one statement
// that is its own transaction, as redeemStmt does for a link: its UPDATE
// raises the uses of the invitation with token ($1, $2) only while it is open
// at now ($3) by guestlink.CheckInvitationOpen (its room available and not a
// gallery, open already, not expired, not used up; guest access does not
// matter), and its INSERT stores the guest ($4 id, $5 name, $6 email, $12
// purge time) with the invitation's room, id and role, the link name $7
// (guestlink.InvitationLinkName) and the state the room's admission gives
// that role (guestlink.InitialState: $10 when the admission is $8 and the
// role $9, else $11). It returns three columns for the INSERT, then the
// invitation after the use and its room; no row when the invitation is not
// open. Concurrent redemptions of one invitation wait on its row lock and
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
		SELECT c_room, $4::text, c_inv, $7::text, $5::text, $6::text,
			CASE WHEN c_admission = $8::text AND role = $9::text THEN $10::text ELSE $11::text END, $3, $3, $3, $12::bigint, role
		FROM c)
	SELECT * FROM c`

// RedeemInvitation spends one use of the invitation with token for guest g
// at now and stores the guest, in one statement that is its own transaction
// (redeemInvitationStmt), as Redeem does for a link. When the UPDATE changes
// nothing, a read of the invitation and its room says why, in
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
	if !validKey(g.ID) {
		return guestlink.Room{}, guestlink.Invitation{}, guestlink.Guest{}, errors.New("guestgate store: guest without a valid id")
	}
	if !g.PurgeAt.IsZero() && !g.PurgeAt.After(now) {
		return guestlink.Room{}, guestlink.Invitation{}, guestlink.Guest{}, errors.New("guestgate store: guest to be purged before it is stored")
	}
	if !validKey(token) {
		return guestlink.Room{}, guestlink.Invitation{}, guestlink.Guest{}, guestlink.ErrInvitationNotFound
	}
	var (
		room guestlink.Room
		v    guestlink.Invitation
	)
	hash := tokenHash(token)
	waiting := guestlink.InitialState(guestlink.Room{Admission: guestlink.AdmissionModerator}, guestlink.RoleViewer)
	admitted := guestlink.InitialState(guestlink.Room{}, guestlink.RoleViewer)
	err := s.one(ctx, "redeeming an invitation", func(q *pgxpool.Pool) error {
		var (
			err    error
			ignore [3]string // the INSERT's columns
		)
		room, v, err = scanInvitationAndRoom(q.QueryRow(ctx, redeemInvitationStmt, hash, token, ns(now), g.ID, g.Name, g.Email,
			guestlink.InvitationLinkName, guestlink.AdmissionModerator, guestlink.RoleViewer, waiting, admitted, nullNS(g.PurgeAt)),
			&ignore[0], &ignore[1], &ignore[2])
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			room, v, err = scanInvitationAndRoom(q.QueryRow(ctx, invitationByToken, hash, token))
			if errors.Is(err, pgx.ErrNoRows) {
				return guestlink.ErrInvitationNotFound
			}
			if err != nil {
				return err
			}
			if err := guestlink.CheckInvitationOpen(room, v, now); err != nil {
				return err
			}
			return errRetry // the invitation or room changed between the two statements
		case isUniqueViolation(err):
			return errors.New("guestgate store: guest id already in use")
		case isForeignKeyViolation(err):
			return errRetry // the room was deleted meanwhile: the next attempt says so
		}
		return err
	})
	if err != nil {
		return room, v, guestlink.Guest{}, err
	}
	// v is the invitation after the use: the UPDATE's RETURNING.
	guest := guestlink.InvitationGuest(room, v, g, now)
	s.mirror.Update(func(tx mirror.Tx) { tx.AddGuest(guest) })
	return room, v, guest, nil
}

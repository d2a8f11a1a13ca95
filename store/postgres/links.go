package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/guestlink/mirror"
)

// Links lists the links of room roomID, oldest first (by CreatedAt, then by
// ID); guestlink.ErrRoomNotFound if the room does not exist.
func (s *Store) Links(ctx context.Context, roomID string) ([]guestlink.Link, error) {
	return listOfRoom(ctx, s, "listing links", roomID, "SELECT "+linkCols+" FROM gg_links WHERE room_id = $1 ORDER BY created_at, id", scanLink)
}

// listOfRoom reads the rows of query, whose $1 is roomID, with scan: an empty
// list when there are none, guestlink.ErrRoomNotFound if the room does not
// exist.
func listOfRoom[T any](ctx context.Context, s *Store, op, roomID, query string, scan func(pgx.Row) (T, error)) ([]T, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if !validKey(roomID) {
		return nil, guestlink.ErrRoomNotFound
	}
	out, err := collect(scan)(s.pool.Query(ctx, query, roomID))
	if err != nil {
		return nil, s.dbError(ctx, op, err)
	}
	if len(out) == 0 {
		if _, err := s.Room(ctx, roomID); err != nil {
			return nil, err
		}
		out = []T{}
	}
	return out, nil
}

// AddLink stores l, a link made by guestlink.LinkSpec.NewLink, in one
// transaction whose first statement raises the room's link_count only while
// it is below maxLinks, guest access is on and the room is no gallery: the
// cap holds across instances without reading and counting. When that UPDATE
// changes nothing, guestlink.CheckNewLink on the room says why
// (guestlink.ErrGalleryRoom, guestlink.ErrGuestAccessOff,
// guestlink.ErrLinkLimit); guestlink.ErrRoomNotFound if the room does not
// exist. maxLinks <= 0 means guestlink.DefaultMaxLinks. It returns l as
// stored.
func (s *Store) AddLink(ctx context.Context, l guestlink.Link, maxLinks int) (guestlink.Link, error) {
	if err := s.addCounted(ctx, countedLinks, l.RoomID, l.ID, l.Token, maxLinks, linkRow(l)); err != nil {
		return guestlink.Link{}, err
	}
	return l, nil
}

// linkRow is the values of linkCols and token_hash for l.
func linkRow(l guestlink.Link) []any {
	return []any{l.RoomID, l.ID, l.Name, l.Token, nullCount(l.MaxClicks), l.Clicks, ns(l.CreatedAt), nullNS(l.ExpiresAt),
		guestlink.RoleOrViewer(l.Role), nullNS(l.NotBefore), tokenHash(l.Token)}
}

// A link and an invitation are each counted in their room's row under a
// limit (link_count, invitation_count), so that the cap holds across
// instances without reading and counting. counted describes one of the two
// to addCounted and deleteCounted, which are written once for both.
type counted struct {
	// kind is the change log's kind (kindLink, kindInvitation), which also
	// names the record in errors; invitation says whether its ids are
	// invitation ids (guestlink.IsInvitation).
	kind       string
	invitation bool
	// adding and deleting name the two operations in errors.
	adding, deleting string
	// table holds the records; counter is the room's column that counts
	// them; cond is what else the room must be to take one more.
	table, counter, cond string
	// insert stores one record and its token hash, with the values of
	// linkRow or invitationRow.
	insert string
	// defaultLimit is the limit when the caller gives none (<= 0); check
	// says why a room took no more; notFound is the error for a record that
	// is not there.
	defaultLimit int
	check        func(r guestlink.Room, count, limit int) error
	notFound     error
}

var (
	countedLinks = counted{
		kind: kindLink, adding: "adding a link", deleting: "deleting a link",
		table: "gg_links", counter: "link_count", cond: "guest_access AND kind <> 'gallery'",
		insert:       "INSERT INTO gg_links (" + linkCols + ", token_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
		defaultLimit: guestlink.DefaultMaxLinks, check: guestlink.CheckNewLink, notFound: guestlink.ErrLinkNotFound,
	}
	countedInvitations = counted{
		kind: kindInvitation, invitation: true, adding: "adding an invitation", deleting: "deleting an invitation",
		table: "gg_invitations", counter: "invitation_count", cond: "kind <> 'gallery'",
		insert:       "INSERT INTO gg_invitations (" + invCols + ", token_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
		defaultLimit: guestlink.DefaultMaxInvitations, check: guestlink.CheckNewInvitation, notFound: guestlink.ErrInvitationNotFound,
	}
)

// addCounted stores record id of the kind k, with token, of room roomID,
// inserting row, in one transaction whose first statement raises the room's
// counter only while it is below limit (k.defaultLimit if limit <= 0) and
// k.cond holds for the room. When that UPDATE changes nothing, k.check on the
// room and its count says why (it returns an error then; if not, the room
// changed between the two statements and the transaction runs again);
// guestlink.ErrRoomNotFound if the room does not exist. An id or token that
// is not valid for the kind is an error before anything is written. The
// change goes to the change log, and into the live state as a link: an
// invitation is a link to the live state, whose sessions hold while it
// exists.
func (s *Store) addCounted(ctx context.Context, k counted, roomID, id, token string, limit int, row []any) error {
	if limit <= 0 {
		limit = k.defaultLimit
	}
	if !validKey(id) || guestlink.IsInvitation(id) != k.invitation || !validKey(token) {
		return errors.New("guestgate store: " + k.kind + " without a valid id or token")
	}
	if !validKey(roomID) {
		return guestlink.ErrRoomNotFound
	}
	c, counter := change{k.kind, roomID, id}, k.counter
	var gen int64
	err := s.tx(ctx, k.adding, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE gg_rooms SET "+counter+" = "+counter+" + 1 WHERE id = $1 AND "+counter+" < $2 AND "+k.cond, roomID, limit)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var (
				r     guestlink.Room
				count int
			)
			dest, done := roomDest(&r)
			err := tx.QueryRow(ctx, "SELECT "+roomCols+", "+counter+" FROM gg_rooms WHERE id = $1", roomID).Scan(append(dest, &count)...)
			if errors.Is(err, pgx.ErrNoRows) {
				return guestlink.ErrRoomNotFound
			}
			if err != nil {
				return err
			}
			done()
			if err := k.check(r, count, limit); err != nil {
				return err
			}
			return errRetry // the room changed between the two statements
		}
		_, err = tx.Exec(ctx, k.insert, row...)
		if isUniqueViolation(err) {
			return errors.New("guestgate store: " + c.kind + " id or token already in use")
		}
		if err != nil {
			return err
		}
		gen, err = bump(ctx, tx, c)
		return err
	})
	if err != nil {
		return err
	}
	s.applyOwn(gen, func(tx mirror.Tx) { tx.PutLink(c.room, c.item) })
	return nil
}

// DeleteLink removes link linkID of room roomID and lowers the room's
// link_count, in one transaction, at once and for good: its token no longer
// resolves, and the sessions of the guests who came in through it fail on
// every instance (guestlink.ErrLinkNotFound). guestlink.ErrLinkNotFound if
// there is no such link. The guests it admitted stay in the guest list.
func (s *Store) DeleteLink(ctx context.Context, roomID, linkID string) error {
	return s.deleteCounted(ctx, countedLinks, roomID, linkID)
}

// deleteCounted deletes record id of the kind k of room roomID from k.table
// and lowers the room's k.counter, in one transaction that records the
// change as k.kind, and drops it from the live state; k.notFound if there is
// no such record.
func (s *Store) deleteCounted(ctx context.Context, k counted, roomID, id string) error {
	if !validKey(roomID) || !validKey(id) {
		return k.notFound
	}
	var gen int64
	err := s.tx(ctx, k.deleting, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM "+k.table+" WHERE room_id = $1 AND id = $2", roomID, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return k.notFound
		}
		if _, err := tx.Exec(ctx, "UPDATE gg_rooms SET "+k.counter+" = "+k.counter+" - 1 WHERE id = $1", roomID); err != nil {
			return err
		}
		gen, err = bump(ctx, tx, change{k.kind, roomID, id})
		return err
	})
	if err != nil {
		return err
	}
	s.applyOwn(gen, func(tx mirror.Tx) { tx.DropLink(roomID, id) })
	return nil
}

// linkByToken is the statement that reads a link by its token, with its room.
var linkByToken = "SELECT " + linkColsL + ", " + roomColsR +
	" FROM gg_links l JOIN gg_rooms r ON r.id = l.room_id WHERE l.token_hash = $1 AND l.token = $2"

// scanWithRoom reads a row of the columns of before, then those of dest (a
// link's or an invitation's), then roomCols.
func scanWithRoom[T any](row pgx.Row, dest func(*T) ([]any, func()), before ...any) (guestlink.Room, T, error) {
	var (
		r guestlink.Room
		v T
	)
	vdest, vdone := dest(&v)
	rdest, rdone := roomDest(&r)
	if err := row.Scan(append(append(before, vdest...), rdest...)...); err != nil {
		var zero T
		return guestlink.Room{}, zero, err
	}
	vdone()
	rdone()
	return r, v, nil
}

// LinkByToken finds the link whose token is token, and its room, in one
// statement; guestlink.ErrLinkNotFound if there is none. It does not apply
// guestlink.CheckLinkOpen and never writes: opening a link spends no click.
func (s *Store) LinkByToken(ctx context.Context, token string) (guestlink.Room, guestlink.Link, error) {
	return byToken(ctx, s, "reading a link", linkByToken, linkDest, guestlink.ErrLinkNotFound, token)
}

// byToken reads the link or invitation whose token is token, and its room,
// with stmt (linkByToken, invitationByToken), whose $1 is the token's hash
// and $2 the token, and which returns the columns of dest, then roomCols;
// notFound if there is none.
func byToken[T any](ctx context.Context, s *Store, op, stmt string, dest func(*T) ([]any, func()), notFound error, token string) (guestlink.Room, T, error) {
	var zero T
	if err := s.begin(ctx); err != nil {
		return guestlink.Room{}, zero, err
	}
	if !validKey(token) {
		return guestlink.Room{}, zero, notFound
	}
	r, v, err := scanWithRoom(s.pool.QueryRow(ctx, stmt, tokenHash(token), token), dest)
	if errors.Is(err, pgx.ErrNoRows) {
		return guestlink.Room{}, zero, notFound
	}
	if err != nil {
		return guestlink.Room{}, zero, s.dbError(ctx, op, err)
	}
	return r, v, nil
}

// redeemStmt spends one click and stores the guest, in one statement that is its
// own transaction: its UPDATE raises the clicks of the link with token ($1,
// $2) only while the link is open at now ($3) by guestlink.CheckLinkOpen (its
// room available, guest access on, not a gallery, open already, not expired,
// not used up), and its INSERT stores the guest ($4 id, $5 name, $6 email,
// $10 purge time) with the link's room, name and role and the state the
// room's admission gives that role (guestlink.InitialState: $8 when the
// admission is $7 and the role $11, else $9). It returns whether it spent
// the click, four columns for the INSERT, then the link after the click and
// its room; or, when the link is not open, false and the link and room as the
// statement's snapshot has them, which is what the UPDATE judged the room by,
// so that the refusal is explained without a second statement that could see
// another state; no row when the token is unknown. Concurrent redemptions of
// one link wait on its row lock, held until this statement's commit, and
// re-check the conditions on the row as the one before them left it.
var redeemStmt = `WITH c AS (UPDATE gg_links AS l SET clicks = l.clicks + 1
		FROM gg_rooms AS r
		WHERE l.token_hash = $1 AND l.token = $2 AND r.id = l.room_id
			AND r.available AND r.guest_access AND r.kind <> 'gallery'
			AND (l.not_before IS NULL OR l.not_before <= $3)
			AND (l.expires_at IS NULL OR l.expires_at > $3)
			AND (l.max_clicks IS NULL OR l.clicks < l.max_clicks)
		RETURNING l.room_id AS c_room, l.id AS c_link, l.name AS c_link_name, r.admission AS c_admission, ` +
	linkColsL + ", " + roomColsR + `),
	g AS (INSERT INTO gg_guests (` + guestCols + `)
		SELECT c_room, $4::text, c_link, c_link_name, $5::text, $6::text,
			CASE WHEN c_admission = $7::text AND role = $11::text THEN $8::text ELSE $9::text END, $3, $3, $3, $10::bigint, role
		FROM c)
	SELECT true AS spent, * FROM c
	UNION ALL
	SELECT false, l.room_id, l.id, l.name, r.admission, ` + linkColsL + ", " + roomColsR + `
		FROM gg_links l JOIN gg_rooms r ON r.id = l.room_id
		WHERE l.token_hash = $1 AND l.token = $2 AND NOT EXISTS (SELECT 1 FROM c)`

// Redeem spends one click of the link with token for guest g at now and
// stores the guest, in one statement that is its own transaction (redeemStmt):
// the click is one conditional UPDATE, the guest's INSERT goes with it. When
// the UPDATE changes nothing, the same statement's read of the link and its
// room says why, in guestlink.CheckLinkOpen's
// order: guestlink.ErrRoomUnavailable, guestlink.ErrGuestAccessOff,
// guestlink.ErrLinkNotYetOpen, guestlink.ErrLinkExpired or guestlink.ErrLinkUsedUp, returned with the room
// and link read; guestlink.ErrLinkNotFound if the token does not resolve.
//
// g must have its ID, Name and Email set; the stored guest is
// guestlink.LinkGuest's: RoomID, LinkID and LinkName from the link, Role the
// link's, State guestlink.InitialState(room, role) and RedeemedAt =
// UpdatedAt = LastSeen = now, and it keeps g.PurgeAt (a PurgeAt not after now
// is refused before anything is spent). A link with MaxClicks N is
// redeemed exactly N times, by all instances together. A redemption does not
// go through the change log: other instances read the new guest with their
// next read of the live state (readNewGuests), or on its first Check before
// that.
func (s *Store) Redeem(ctx context.Context, token string, g guestlink.Guest, now time.Time) (guestlink.Room, guestlink.Link, guestlink.Guest, error) {
	room, link, err := redemption(ctx, s, "redeeming a link", redeemStmt, 4, linkDest, guestlink.CheckLinkOpen, guestlink.ErrLinkNotFound, token, g, now)
	if err != nil {
		return room, link, guestlink.Guest{}, err
	}
	guest := guestlink.LinkGuest(room, link, g, now)
	s.mirror.Update(func(tx mirror.Tx) { tx.AddGuest(guest) })
	return room, link, guest, nil
}

// redemption redeems the link or invitation with token for guest g at now
// with stmt (redeemStmt, redeemInvitationStmt), which takes the parameters
// redeemStmt documents, then extra, and returns whether it spent, lead
// columns for its INSERT, then those of dest and roomCols. When it did not
// spend, open says why from the row it returned; notFound if it returned
// none. On a refusal it returns what it read.
func redemption[T any](ctx context.Context, s *Store, op, stmt string, lead int, dest func(*T) ([]any, func()),
	open func(guestlink.Room, T, time.Time) error, notFound error, token string, g guestlink.Guest, now time.Time, extra ...any) (guestlink.Room, T, error) {
	var (
		room guestlink.Room
		v    T
	)
	if !validKey(g.ID) {
		return room, v, errors.New("guestgate store: guest without a valid id")
	}
	if !g.PurgeAt.IsZero() && !g.PurgeAt.After(now) {
		return room, v, errors.New("guestgate store: guest to be purged before it is stored")
	}
	if !validKey(token) {
		return room, v, notFound
	}
	hash := tokenHash(token)
	waiting := guestlink.InitialState(guestlink.Room{Admission: guestlink.AdmissionModerator}, guestlink.RoleViewer)
	admitted := guestlink.InitialState(guestlink.Room{}, guestlink.RoleViewer)
	args := append([]any{hash, token, ns(now), g.ID, g.Name, g.Email,
		guestlink.AdmissionModerator, waiting, admitted, nullNS(g.PurgeAt), guestlink.RoleViewer}, extra...)
	ignore := make([]any, lead) // the INSERT's columns
	for i := range ignore {
		ignore[i] = new(string)
	}
	err := s.one(ctx, op, func(q *pgxpool.Pool) error {
		var (
			err   error
			spent bool
		)
		room, v, err = scanWithRoom(q.QueryRow(ctx, stmt, args...), dest, append([]any{&spent}, ignore...)...)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return notFound
		case err == nil && !spent:
			if err := open(room, v, now); err != nil {
				return err
			}
			// The UPDATE saw a newer version of the row than the
			// statement's snapshot (a concurrent redemption's).
			return errRetry
		case isUniqueViolation(err):
			return errors.New("guestgate store: guest id already in use")
		case isForeignKeyViolation(err):
			return errRetry // the room was deleted meanwhile: the next attempt says so
		}
		return err
	})
	return room, v, err
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation.
func isUniqueViolation(err error) bool { return sqlState(err) == "23505" }

// isForeignKeyViolation reports whether err is PostgreSQL's
// foreign_key_violation.
func isForeignKeyViolation(err error) bool { return sqlState(err) == "23503" }

// sqlState is the SQLSTATE of err, "" if it is not PostgreSQL's.
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

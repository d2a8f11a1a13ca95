package postgres

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/guestlink/mirror"
	"github.com/guestgate/guestgate/internal/waiters"
)

// Guest returns guest guestID of room roomID, or guestlink.ErrGuestNotFound
// (also once its purge time has passed).
func (s *Store) Guest(ctx context.Context, roomID, guestID string) (guestlink.Guest, error) {
	if err := s.begin(ctx); err != nil {
		return guestlink.Guest{}, err
	}
	if !validKey(roomID) || !validKey(guestID) {
		return guestlink.Guest{}, guestlink.ErrGuestNotFound
	}
	g, err := scanGuest(s.pool.QueryRow(ctx, "SELECT "+guestCols+" FROM gg_guests WHERE room_id = $1 AND id = $2 AND "+notPurged("$3"),
		roomID, guestID, ns(s.now())))
	if errors.Is(err, pgx.ErrNoRows) {
		return guestlink.Guest{}, guestlink.ErrGuestNotFound
	}
	if err != nil {
		return guestlink.Guest{}, s.dbError(ctx, "reading a guest", err)
	}
	return g, nil
}

// Session reads the live state that decides whether the session of guest
// guestID, who came in through link linkID of room roomID, still opens the
// room, and returns guestlink.CheckSession's verdict with the room and the
// guest: guestlink.ErrRoomUnavailable when the room is not available or does
// not exist, guestlink.ErrGuestAccessOff (not for a guest who came in by an
// invitation: linkID is then the invitation's id), guestlink.ErrLinkNotFound
// when the link or invitation was deleted, guestlink.ErrGuestRemoved, guestlink.ErrGuestDeclined,
// guestlink.ErrGuestLeft; guestlink.ErrGuestNotFound for a guest that is not
// in the room or came in through another link. The room and guest are
// returned whenever they were read.
func (s *Store) Session(ctx context.Context, roomID, linkID, guestID string) (guestlink.Room, guestlink.Guest, error) {
	if err := s.begin(ctx); err != nil {
		return guestlink.Room{}, guestlink.Guest{}, err
	}
	if !validKey(roomID) {
		return guestlink.Room{}, guestlink.Guest{}, guestlink.ErrRoomUnavailable
	}
	var (
		r         guestlink.Room
		linkFound bool
	)
	links := "gg_links"
	if guestlink.IsInvitation(linkID) {
		links = "gg_invitations"
	}
	dest, done := roomDest(&r)
	err := s.pool.QueryRow(ctx, "SELECT "+roomCols+", EXISTS (SELECT 1 FROM "+links+" WHERE room_id = $1 AND id = $2) FROM gg_rooms WHERE id = $1",
		roomID, linkID).Scan(append(dest, &linkFound)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return guestlink.Room{}, guestlink.Guest{}, guestlink.ErrRoomUnavailable
	}
	if err != nil {
		return guestlink.Room{}, guestlink.Guest{}, s.dbError(ctx, "reading a session", err)
	}
	done()
	g, err := s.Guest(ctx, roomID, guestID)
	if err != nil {
		return r, guestlink.Guest{}, err
	}
	if g.LinkID != linkID {
		return r, guestlink.Guest{}, guestlink.ErrGuestNotFound
	}
	return r, g, guestlink.CheckSession(r, linkFound, g)
}

// SetGuestState moves guest guestID of room roomID to state to at now by
// guestlink.Transition, in one transaction that locks the guest's row, and
// returns the guest as it is afterwards with Transition's error unchanged
// (guestlink.ErrAlreadyDecided, with the guest as it was). A change is
// recorded in the change log, so that every instance's gate and WaitGuest
// callers learn it. guestlink.ErrGuestNotFound if there is no such guest, or
// if the guest's PurgeAt is not after now: the record is then deleted.
func (s *Store) SetGuestState(ctx context.Context, roomID, guestID, to string, now time.Time) (guestlink.Guest, error) {
	if !validKey(roomID) || !validKey(guestID) {
		return guestlink.Guest{}, guestlink.ErrGuestNotFound
	}
	var (
		out             guestlink.Guest
		terr            error
		changed, purged bool
		gen             int64
	)
	err := s.tx(ctx, "changing a guest's state", func(tx pgx.Tx) error {
		out, terr, changed, purged = guestlink.Guest{}, nil, false, false
		g, err := scanGuest(tx.QueryRow(ctx, "SELECT "+guestCols+" FROM gg_guests WHERE room_id = $1 AND id = $2 AND "+notPurged("$3")+" FOR NO KEY UPDATE",
			roomID, guestID, ns(s.now())))
		if errors.Is(err, pgx.ErrNoRows) {
			return guestlink.ErrGuestNotFound
		}
		if err != nil {
			return err
		}
		out, changed, terr = guestlink.Transition(g, to, now)
		if !changed {
			return nil
		}
		if purgeDue(out, now) {
			purged = true
			_, err := tx.Exec(ctx, "DELETE FROM gg_guests WHERE room_id = $1 AND id = $2", roomID, guestID)
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE gg_guests SET state = $3, updated_at = $4 WHERE room_id = $1 AND id = $2",
			roomID, guestID, out.State, ns(out.UpdatedAt)); err != nil {
			return err
		}
		gen, err = bump(ctx, tx, change{kindGuest, roomID, guestID})
		return err
	})
	if err != nil {
		return guestlink.Guest{}, err
	}
	if changed {
		if purged {
			s.mirror.Update(func(tx mirror.Tx) { tx.DropGuest(guestID) })
		} else {
			s.applyOwn(gen, func(tx mirror.Tx) { tx.PutGuest(out) })
		}
		s.waiters.Signal(waiters.Key(roomID, guestID))
	}
	if purged {
		return guestlink.Guest{}, guestlink.ErrGuestNotFound
	}
	return out, terr
}

// purgeDue reports whether g's record is past its purge time at now.
func purgeDue(g guestlink.Guest, now time.Time) bool {
	return !g.PurgeAt.IsZero() && !g.PurgeAt.After(now)
}

// AdmitAll admits, at now, every guest of room roomID who is waiting and was
// seen at or after seenSince, in one transaction that locks their rows, and
// returns them as admitted, oldest first (by RedeemedAt, then ID); an empty,
// non-nil slice when there were none. A guest admitted or decided meanwhile
// by another call is left as that call left it. guestlink.ErrRoomNotFound if
// the room does not exist. A waiting guest whose PurgeAt is not after now is
// deleted, not admitted.
func (s *Store) AdmitAll(ctx context.Context, roomID string, seenSince, now time.Time) ([]guestlink.Guest, error) {
	if !validKey(roomID) {
		return nil, guestlink.ErrRoomNotFound
	}
	var (
		admitted []guestlink.Guest
		gone     []string
		gen      int64
	)
	err := s.tx(ctx, "admitting guests", func(tx pgx.Tx) error {
		admitted, gone = []guestlink.Guest{}, nil
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM gg_rooms WHERE id = $1)", roomID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return guestlink.ErrRoomNotFound
		}
		waiting, err := collectGuests(tx.Query(ctx, "SELECT "+guestCols+" FROM gg_guests WHERE room_id = $1 AND state = 'waiting' AND last_seen >= $2 AND "+
			notPurged("$3")+" ORDER BY id FOR NO KEY UPDATE", roomID, ns(seenSince), ns(s.now())))
		if err != nil {
			return err
		}
		var ids []string
		for _, g := range waiting {
			next, changed, err := guestlink.Transition(g, guestlink.StateAdmitted, now)
			switch {
			case err != nil || !changed:
				continue // cannot happen for a waiting guest
			case purgeDue(next, now):
				gone = append(gone, g.ID)
			default:
				admitted = append(admitted, next)
				ids = append(ids, g.ID)
			}
		}
		if len(gone) > 0 {
			if _, err := tx.Exec(ctx, "DELETE FROM gg_guests WHERE room_id = $1 AND id = ANY($2)", roomID, gone); err != nil {
				return err
			}
		}
		if len(ids) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, "UPDATE gg_guests SET state = $3, updated_at = $4 WHERE room_id = $1 AND id = ANY($2)",
			roomID, ids, guestlink.StateAdmitted, ns(now)); err != nil {
			return err
		}
		changes := make([]change, len(ids))
		for i, id := range ids {
			changes[i] = change{kindGuest, roomID, id}
		}
		gen, err = bump(ctx, tx, changes...)
		return err
	})
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(admitted)+len(gone))
	for _, g := range admitted {
		keys = append(keys, waiters.Key(roomID, g.ID))
	}
	for _, id := range gone {
		keys = append(keys, waiters.Key(roomID, id))
	}
	if len(gone) > 0 {
		s.mirror.Update(func(tx mirror.Tx) {
			for _, id := range gone {
				tx.DropGuest(id)
			}
		})
	}
	if len(admitted) > 0 {
		s.applyOwn(gen, func(tx mirror.Tx) {
			for _, g := range admitted {
				tx.PutGuest(g)
			}
		})
	}
	s.waiters.Signal(keys...)
	return sortOldest(admitted), nil
}

// sortOldest sorts gs oldest first: by RedeemedAt, then by ID.
func sortOldest(gs []guestlink.Guest) []guestlink.Guest {
	slices.SortFunc(gs, func(a, b guestlink.Guest) int {
		return cmp.Or(a.RedeemedAt.Compare(b.RedeemedAt), cmp.Compare(a.ID, b.ID))
	})
	return gs
}

// roomExists fails with guestlink.ErrRoomNotFound unless room roomID exists.
func (s *Store) roomExists(ctx context.Context, roomID string) error {
	var exists bool
	if validKey(roomID) {
		if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM gg_rooms WHERE id = $1)", roomID).Scan(&exists); err != nil {
			return s.dbError(ctx, "reading a room", err)
		}
	}
	if !exists {
		return guestlink.ErrRoomNotFound
	}
	return nil
}

// Lobby returns the guests of room roomID who are waiting and were seen at or
// after seenSince, oldest first (by RedeemedAt, then ID); an empty, non-nil
// slice when there are none. guestlink.ErrRoomNotFound if the room does not
// exist.
func (s *Store) Lobby(ctx context.Context, roomID string, seenSince time.Time) ([]guestlink.Guest, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := s.roomExists(ctx, roomID); err != nil {
		return nil, err
	}
	gs, err := collectGuests(s.pool.Query(ctx, "SELECT "+guestCols+" FROM gg_guests WHERE room_id = $1 AND state = 'waiting' AND last_seen >= $2 AND "+
		notPurged("$3")+" ORDER BY redeemed_at, id", roomID, ns(seenSince), ns(s.now())))
	if err != nil {
		return nil, s.dbError(ctx, "listing the lobby", err)
	}
	if gs == nil {
		gs = []guestlink.Guest{}
	}
	return gs, nil
}

// Guests returns one page of the guest list of room roomID: every guest
// record of the room, whatever its state, newest first (by RedeemedAt, then
// by ID). limit is the page size, 1 to 1000 (<= 0 means 100, more means
// 1000); cursor is "" for the first page and the next cursor returned with
// the previous page for the following ones; next is "" on the last page. A
// page that starts at a cursor is stable under concurrent redemptions (newer
// guests sort before it) and deletions. A cursor Guests did not make is a
// *guestlink.ValidationError for the field "cursor"; guestlink.ErrRoomNotFound
// if the room does not exist.
func (s *Store) Guests(ctx context.Context, roomID string, limit int, cursor string) ([]guestlink.Guest, string, error) {
	limit = guestlink.GuestPageSize(limit)
	after, afterID, err := parseCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	if err := s.begin(ctx); err != nil {
		return nil, "", err
	}
	if err := s.roomExists(ctx, roomID); err != nil {
		return nil, "", err
	}
	q := "SELECT " + guestCols + " FROM gg_guests WHERE room_id = $1 AND " + notPurged("$2")
	args := []any{roomID, ns(s.now()), limit + 1}
	if afterID != "" {
		q += " AND (redeemed_at < $4 OR (redeemed_at = $4 AND id > $5))"
		args = append(args, after, afterID)
	}
	gs, err := collectGuests(s.pool.Query(ctx, q+" ORDER BY redeemed_at DESC, id LIMIT $3", args...))
	if err != nil {
		return nil, "", s.dbError(ctx, "listing guests", err)
	}
	next := ""
	if len(gs) > limit {
		gs = gs[:limit]
		last := gs[limit-1]
		next = encodeCursor(ns(last.RedeemedAt), last.ID)
	}
	if gs == nil {
		gs = []guestlink.Guest{}
	}
	return gs, next, nil
}

// encodeCursor is the Guests cursor after the guest redeemed at redeemedAt
// (Unix nanoseconds) with id: base64url of "<redeemedAt>/<id>".
func encodeCursor(redeemedAt int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(redeemedAt, 10) + "/" + id))
}

// parseCursor returns what a Guests cursor holds (id "" for the empty
// cursor). Anything but a cursor made by encodeCursor is a
// *guestlink.ValidationError for the field "cursor".
func parseCursor(cursor string) (redeemedAt int64, id string, err error) {
	if cursor == "" {
		return 0, "", nil
	}
	bad := &guestlink.ValidationError{Field: "cursor", Message: "not a cursor returned by the guest list"}
	b, err := base64.RawURLEncoding.Strict().DecodeString(cursor)
	// The decoder skips CR and LF; re-encoding refuses them and any other variant.
	if err != nil || base64.RawURLEncoding.EncodeToString(b) != cursor {
		return 0, "", bad
	}
	num, id, ok := strings.Cut(string(b), "/")
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || strconv.FormatInt(n, 10) != num || !validKey(id) {
		return 0, "", bad
	}
	return n, id, nil
}

// SeenGuest returns guest guestID of room roomID and records that their lobby
// page asked for their status at now: when the guest is waiting and was last
// seen guestlink.SeenInterval or longer before now, LastSeen becomes now, in
// one conditional UPDATE, and the guest is returned as written; otherwise
// nothing is written. guestlink.ErrGuestNotFound if there is no such guest,
// or if the write was due and the guest's PurgeAt is not after now (the
// record is then deleted). A visit does not go through the change log: the
// gate does not decide on it.
func (s *Store) SeenGuest(ctx context.Context, roomID, guestID string, now time.Time) (guestlink.Guest, error) {
	if err := s.begin(ctx); err != nil {
		return guestlink.Guest{}, err
	}
	if !validKey(roomID) || !validKey(guestID) {
		return guestlink.Guest{}, guestlink.ErrGuestNotFound
	}
	g, err := scanGuest(s.pool.QueryRow(ctx, "UPDATE gg_guests SET last_seen = $3 WHERE room_id = $1 AND id = $2 AND state = 'waiting' AND last_seen <= $4 AND "+
		notPurged("$3")+" AND "+notPurged("$5")+" RETURNING "+guestCols,
		roomID, guestID, ns(now), ns(now.Add(-guestlink.SeenInterval)), ns(s.now())))
	if err == nil {
		return g, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return guestlink.Guest{}, s.dbError(ctx, "recording a visit", err)
	}
	g, err = s.Guest(ctx, roomID, guestID)
	if err != nil || !seenDue(g, now) || !purgeDue(g, now) {
		return g, err
	}
	if _, err := s.pool.Exec(ctx, "DELETE FROM gg_guests WHERE room_id = $1 AND id = $2 AND purge_at <= $3", roomID, guestID, ns(now)); err != nil {
		return guestlink.Guest{}, s.dbError(ctx, "deleting a purged guest", err)
	}
	s.mirror.Update(func(tx mirror.Tx) { tx.DropGuest(guestID) })
	s.waiters.Signal(waiters.Key(roomID, guestID))
	return guestlink.Guest{}, guestlink.ErrGuestNotFound
}

// seenDue reports whether SeenGuest writes LastSeen = now for g.
func seenDue(g guestlink.Guest, now time.Time) bool {
	return g.State == guestlink.StateWaiting && now.Sub(g.LastSeen) >= guestlink.SeenInterval
}

// WaitGuest returns guest guestID of room roomID as soon as its State differs
// from state (at once if it already does), or, when ctx is done first, the
// guest as it is then with a nil error. guestlink.ErrGuestNotFound if there is
// no such guest, also when it is deleted while waiting; ErrClosed when the
// Store is closed.
//
// It is woken by this Store's own changes of the guest and by those of every
// other instance, which the listener reads from the change log (within the
// propagation bound); it waits in the caller's goroutine on an in-process
// registry and leaves nothing behind when it returns. Its reads after ctx
// ended are bounded by loadTimeout.
func (s *Store) WaitGuest(ctx context.Context, roomID, guestID, state string) (guestlink.Guest, error) {
	if !validKey(roomID) || !validKey(guestID) {
		return guestlink.Guest{}, guestlink.ErrGuestNotFound
	}
	// The reads must succeed after ctx is done, to return the current guest.
	read := func() (guestlink.Guest, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		return s.Guest(rctx, roomID, guestID)
	}
	return s.waiters.Wait(ctx, waiters.Key(roomID, guestID), state, read)
}

package postgres

import (
	"crypto/sha256"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/guestgate/guestgate/guestlink"
)

// The columns of the records, in the order the scan functions read them.
const (
	roomCols  = "id, name, kind, available, admission, guest_access, created_at, updated_at, lobby_message"
	linkCols  = "room_id, id, name, token, max_clicks, clicks, created_at, expires_at, role, not_before"
	guestCols = "room_id, id, link_id, link_name, name, email, state, redeemed_at, updated_at, last_seen, purge_at, role"
	invCols   = "room_id, id, token, email, name, role, max_uses, uses, created_at, expires_at, not_before"
)

// Column lists with a table alias, for joins.
var (
	roomColsR = qualify("r", roomCols)
	linkColsL = qualify("l", linkCols)
	invColsV  = qualify("v", invCols)
)

// qualify prefixes every column of cols with alias.
func qualify(alias, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, p := range parts {
		parts[i] = alias + "." + p
	}
	return strings.Join(parts, ", ")
}

// notPurged is the condition that a guest record is not past its purge time
// $n (Unix nanoseconds): reads treat a purged record as gone.
func notPurged(n string) string { return "(purge_at IS NULL OR purge_at > " + n + ")" }

// roomDest returns the scan destinations of roomCols into r, and the function
// that completes r after the scan.
func roomDest(r *guestlink.Room) ([]any, func()) {
	var created, updated int64
	return []any{&r.ID, &r.Name, &r.Kind, &r.Available, &r.Admission, &r.GuestAccess, &created, &updated, &r.LobbyMessage}, func() {
		r.CreatedAt, r.UpdatedAt = fromNS(created), fromNS(updated)
	}
}

// linkDest is roomDest for linkCols.
func linkDest(l *guestlink.Link) ([]any, func()) {
	var (
		maxClicks *int32
		created   int64
		expires   *int64
		notBefore *int64
	)
	return []any{&l.RoomID, &l.ID, &l.Name, &l.Token, &maxClicks, &l.Clicks, &created, &expires, &l.Role, &notBefore}, func() {
		l.MaxClicks = fromNullCount(maxClicks)
		l.CreatedAt, l.ExpiresAt, l.NotBefore = fromNS(created), fromNullNS(expires), fromNullNS(notBefore)
	}
}

// invitationDest is roomDest for invCols.
func invitationDest(v *guestlink.Invitation) ([]any, func()) {
	var (
		maxUses          *int32
		created, expires int64
		notBefore        *int64
	)
	return []any{&v.RoomID, &v.ID, &v.Token, &v.Email, &v.Name, &v.Role, &maxUses, &v.Uses, &created, &expires, &notBefore}, func() {
		v.MaxUses = fromNullCount(maxUses)
		v.CreatedAt, v.ExpiresAt, v.NotBefore = fromNS(created), fromNS(expires), fromNullNS(notBefore)
	}
}

// guestDest is roomDest for guestCols.
func guestDest(g *guestlink.Guest) ([]any, func()) {
	var (
		redeemed, updated, seen int64
		purge                   *int64
	)
	return []any{&g.RoomID, &g.ID, &g.LinkID, &g.LinkName, &g.Name, &g.Email, &g.State, &redeemed, &updated, &seen, &purge, &g.Role}, func() {
		g.RedeemedAt, g.UpdatedAt, g.LastSeen, g.PurgeAt = fromNS(redeemed), fromNS(updated), fromNS(seen), fromNullNS(purge)
	}
}

// scanner returns the function that reads one row into a T through dest.
func scanner[T any](dest func(*T) ([]any, func())) func(pgx.Row) (T, error) {
	return func(row pgx.Row) (T, error) {
		var v T
		d, done := dest(&v)
		if err := row.Scan(d...); err != nil {
			var zero T
			return zero, err
		}
		done()
		return v, nil
	}
}

// Readers of one row of roomCols, linkCols, guestCols and invCols.
var (
	scanRoom  = scanner(roomDest)
	scanLink  = scanner(linkDest)
	scanInv   = scanner(invitationDest)
	scanGuest = scanner(guestDest)
)

// collect returns the function that reads every row of a Query's result
// with scan, or returns the Query's error.
func collect[T any](scan func(pgx.Row) (T, error)) func(pgx.Rows, error) ([]T, error) {
	return func(rows pgx.Rows, err error) ([]T, error) {
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
	}
}

// collectGuests reads every row of guestCols.
var collectGuests = collect(scanGuest)

// scanPair reads a row of two text columns (a room id and a link id).
func scanPair(row pgx.Row) ([2]string, error) {
	var p [2]string
	err := row.Scan(&p[0], &p[1])
	return p, err
}

// ns is t in Unix nanoseconds, clamped to what an int64 holds (the years 1678
// to 2262), so that a zero time compares as the earliest.
func ns(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// nullNS is ns(t), or NULL for the zero time.
func nullNS(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := ns(t)
	return &n
}

func fromNS(n int64) time.Time { return time.Unix(0, n).UTC() }

func fromNullNS(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return fromNS(*n)
}

// nullCount is the column value of a limit of uses (a link's MaxClicks, an
// invitation's MaxUses): NULL, no limit, for n <= 0.
func nullCount(n int) *int {
	if n <= 0 {
		return nil
	}
	return &n
}

// fromNullCount is the limit of uses of a column value of nullCount's.
func fromNullCount(n *int32) int {
	if n == nil {
		return 0
	}
	return int(*n)
}

// tokenHash is the key of a token in gg_links.token_hash and
// gg_invitations.token_hash.
func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// validKey reports whether s may name a stored record: a room, link or guest
// id that a caller passed in (from a session, a path). Anything else names
// none, and is not sent to the database (which refuses NUL and invalid UTF-8
// in text).
func validKey(s string) bool {
	return s != "" && len(s) <= 256 && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

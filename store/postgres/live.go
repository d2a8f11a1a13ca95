package postgres

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/guestlink/mirror"
	"github.com/guestgate/guestgate/internal/waiters"
)

// The live state across instances.
//
// A write that changes what the gate decides ends its transaction with bump:
// one statement that raises gg_generation.gen (its row lock orders these
// writes, so the numbers follow commit order and have no gaps), records each
// change (kind, room, item) under the new number in gg_changes, and sends
// NOTIFY gg_changes with the number, which PostgreSQL delivers at commit.
// After its commit the writing Store applies its own result to its mirror
// (applyOwn), so that its next Check sees it.
//
// Each Store's listener holds a connection of its own (not from the pool)
// that LISTENs on gg_changes. After a notification with a number above what
// it applied, and at the latest every PollInterval, it reads, in one
// REPEATABLE READ transaction, the current generation, the changes since the
// one it applied and the rows they name, and the guests stored since its
// last read (readNewGuests: redemptions do not go through the log), and
// applies them in one Mirror.Update; it wakes the WaitGuest callers of every
// guest whose change it read. When
// the log no longer holds the changes after the one it applied (pruned while
// the Store was cut off, or a database restored), it reloads the mirror
// (reload). A connection it loses is opened again with backoff, and the
// listener catches up at once.
//
// The mirror's changes from the database are serialized by applyMu: the
// listener holds it from its read to its apply, and applyOwn holds it and
// skips the write's own result when the listener already applied a
// generation at or after the write's (it read the write's rows, or later
// ones). So a later read always wins.

// Kinds of change in gg_changes.
const (
	kindRoom        = "room"         // the room's record changed
	kindRoomDeleted = "room-deleted" // the room, its links and guests are gone
	kindLink        = "link"         // a link was added or deleted
	kindInvitation  = "invitation"   // an invitation was added or deleted
	kindGuest       = "guest"        // a guest's state changed
	kindReset       = "reset"        // read everything again
)

// notifyChannel is the channel of NOTIFY and LISTEN.
const notifyChannel = "gg_changes"

// Listener and log limits.
const (
	// minBackoff and maxBackoff bound the pause between two attempts to
	// connect the listener (doubling, with jitter).
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
	// syncTimeout bounds one read of the change log.
	syncTimeout = 5 * time.Second
	// maxBatch is the most changes one read applies; a Store further behind
	// reloads instead.
	maxBatch = 10000
	// changeRetention is how long gg_changes keeps a change: a Store cut off
	// for longer reloads its mirror when it is back.
	changeRetention = 10 * time.Minute
)

// change is one row of gg_changes.
type change struct {
	kind, room, item string
}

// bump raises the generation, records changes under it and notifies, in tx,
// and returns the new generation. It must be the last statement of tx before
// the commit: the generation's row stays locked until then.
func bump(ctx context.Context, tx pgx.Tx, changes ...change) (int64, error) {
	kinds, rooms, items := make([]string, len(changes)), make([]string, len(changes)), make([]string, len(changes))
	for i, c := range changes {
		kinds[i], rooms[i], items[i] = c.kind, c.room, c.item
	}
	var gen int64
	err := tx.QueryRow(ctx, `WITH g AS (UPDATE gg_generation SET gen = gen + 1 RETURNING gen),
		c AS (INSERT INTO gg_changes (gen, kind, room_id, item_id)
			SELECT g.gen, u.kind, u.room_id, u.item_id FROM g, unnest($1::text[], $2::text[], $3::text[]) AS u (kind, room_id, item_id))
		SELECT gen, pg_notify('`+notifyChannel+`', gen::text) FROM g`, kinds, rooms, items).Scan(&gen, nil)
	return gen, err
}

// applyOwn applies fn, the result of this Store's own write committed under
// generation gen, to the mirror, unless the listener already applied gen or
// a later one (see applyMu). The mirror's generation grows either way.
func (s *Store) applyOwn(gen int64, fn func(mirror.Tx)) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if s.synced.Load() >= gen {
		fn = func(mirror.Tx) {}
	}
	s.mirror.Update(fn)
}

// querier is what reload and catchUp read through: the pool at Open, the
// listener's connection afterwards.
type querier interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// snapshot is the isolation of the listener's reads: one consistent view of
// the log and the rows it names.
var snapshot = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// linkRows are the (room_id, id) rows of everything the live state holds as
// a link: the links, and the invitations, whose sessions hold while they
// exist as a link's do.
const linkRows = "(SELECT room_id, id FROM gg_links UNION ALL SELECT room_id, id FROM gg_invitations)"

// reload replaces the mirror with the rooms, links and invitations of the
// database, the guests it held read again and the guests stored since the
// last read (readNewGuests), as of one snapshot, whose generation becomes
// synced. It wakes every WaitGuest caller (any guest may have
// changed). The caller holds no lock.
func (s *Store) reload(ctx context.Context, db querier) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	var (
		gen  int64
		seen string
	)
	held := s.mirror.Guests()
	var kept []string // the secrets Secret gives in an outage
	s.secrets.Range(func(name, _ any) bool {
		kept = append(kept, name.(string))
		return true
	})
	err := pgx.BeginTxFunc(ctx, db, snapshot, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, genAndSnapshot).Scan(&gen, &seen); err != nil {
			return err
		}
		rooms, err := collect(scanRoom)(tx.Query(ctx, "SELECT "+roomCols+" FROM gg_rooms"))
		if err != nil {
			return err
		}
		links, err := collect(scanPair)(tx.Query(ctx, "SELECT room_id, id FROM "+linkRows+" AS l"))
		if err != nil {
			return err
		}
		guests, err := collectGuests(tx.Query(ctx, "SELECT "+guestCols+" FROM gg_guests WHERE id = ANY($1)", held))
		if err != nil {
			return err
		}
		fed, err := readNewGuests(ctx, tx, s.seen)
		if err != nil {
			return err
		}
		secrets, err := readSecrets(ctx, tx, kept)
		if err != nil {
			return err
		}
		// Secret gives them from now on, as the gate decides from the
		// state read with them.
		for _, name := range kept {
			if v, ok := secrets[name]; ok {
				s.secrets.Store(name, v)
			} else {
				s.secrets.Delete(name)
			}
		}
		return s.mirror.Reset(func(mt mirror.Tx) error {
			for _, r := range rooms {
				mt.PutRoom(r)
			}
			for _, l := range links {
				mt.PutLink(l[0], l[1])
			}
			for _, g := range append(guests, fed...) {
				mt.PutGuest(g)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	s.seen = seen
	s.synced.Store(gen)
	s.markSynced()
	s.waiters.SignalPrefix("")
	return nil
}

// readSecrets reads the secrets of names in tx: a reload follows a load (a
// restore, a move) that may have replaced them, and Secret gives them while
// the database cannot be reached.
func readSecrets(ctx context.Context, tx pgx.Tx, names []string) (map[string][]byte, error) {
	secrets := make(map[string][]byte, len(names))
	if len(names) == 0 {
		return secrets, nil
	}
	rows, err := tx.Query(ctx, "SELECT name, value FROM gg_secrets WHERE name = ANY($1)", names)
	if err != nil {
		return nil, err
	}
	var (
		name  string
		value []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &value}, func() error {
		secrets[name] = value
		return nil
	})
	return secrets, err
}

// markSynced records that the mirror holds the database's changes as of now.
func (s *Store) markSynced() { s.lastSync.Store(int64(time.Since(s.epoch))) }

// sinceSync is the time since the last successful read of the change log.
func (s *Store) sinceSync() time.Duration {
	return time.Since(s.epoch) - time.Duration(s.lastSync.Load())
}

// logged is a change with its generation, as gg_changes holds it.
type logged struct {
	gen int64
	change
}

// scanChange reads a row of gg_changes (gen, kind, room_id, item_id).
func scanChange(row pgx.Row) (logged, error) {
	var c logged
	err := row.Scan(&c.gen, &c.kind, &c.room, &c.item)
	return c, err
}

// catchUp reads, in one snapshot, the changes after the generation the mirror
// holds and the rows they name, and applies them in one Mirror.Update; it
// reloads instead when the log no longer holds them all, or holds more than
// maxBatch. It wakes the WaitGuest callers of the guests it read and of the
// rooms deleted.
func (s *Store) catchUp(ctx context.Context, db querier) error {
	s.applyMu.Lock()
	var (
		current int64
		behind  bool
		apply   func(mirror.Tx)
		keys    []string // waiters of guests that changed
		deleted []string // rooms deleted
		fed     []guestlink.Guest
		seen    string
	)
	synced := s.synced.Load()
	err := pgx.BeginTxFunc(ctx, db, snapshot, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, genAndSnapshot).Scan(&current, &seen); err != nil {
			return err
		}
		var err error
		if fed, err = readNewGuests(ctx, tx, s.seen); err != nil {
			return err
		}
		if current == synced {
			return nil
		}
		if current < synced || current-synced > maxBatch {
			behind = true
			return nil
		}
		changes, err := collect(scanChange)(tx.Query(ctx, "SELECT gen, kind, room_id, item_id FROM gg_changes WHERE gen > $1 AND gen <= $2 ORDER BY gen", synced, current))
		if err != nil {
			return err
		}
		if len(changes) == 0 || changes[0].gen != synced+1 {
			behind = true // pruned
			return nil
		}
		var rooms, linkRooms, linkIDs, guestRooms, guestIDs []string
		for _, c := range changes {
			switch c.kind {
			case kindRoom:
				rooms = append(rooms, c.room)
			case kindRoomDeleted:
				rooms, deleted = append(rooms, c.room), append(deleted, c.room)
			case kindLink, kindInvitation:
				linkRooms, linkIDs = append(linkRooms, c.room), append(linkIDs, c.item)
			case kindGuest:
				guestRooms, guestIDs = append(guestRooms, c.room), append(guestIDs, c.item)
				keys = append(keys, waiters.Key(c.room, c.item))
			default: // kindReset, or a kind of a newer version
				behind = true
				return nil
			}
		}
		read, err := readChanged(ctx, tx, rooms, deleted, [2][]string{linkRooms, linkIDs}, [2][]string{guestRooms, guestIDs})
		apply = read
		return err
	})
	if err == nil && behind {
		s.applyMu.Unlock()
		s.log.Info("the change log no longer holds what this instance missed: reloading the live state")
		return s.reload(ctx, db)
	}
	defer s.applyMu.Unlock()
	if err != nil {
		return err
	}
	if apply != nil || len(fed) > 0 {
		s.mirror.Update(func(mt mirror.Tx) {
			if apply != nil {
				apply(mt)
			}
			// After the changes: a room deleted drops its guests, and one
			// made again may hold new ones. A change read with a guest
			// says more, and AddGuest leaves it.
			for _, g := range fed {
				mt.AddGuest(g)
			}
		})
	}
	if apply != nil {
		s.synced.Store(current)
	}
	s.seen = seen
	s.markSynced()
	s.waiters.Signal(keys...)
	for _, r := range deleted {
		s.waiters.SignalPrefix(waiters.Key(r, ""))
	}
	return nil
}

// readNewGuests reads in tx, a snapshot read of the live state, the guests
// stored by the transactions that seen, the snapshot of the last such read,
// could not see: those at or after its xmax, and those in progress then.
// Whatever the order of the commits, every guest is read once, by the first
// read whose snapshot sees it committed. tx's own snapshot, which
// genAndSnapshot reads with the generation, is where the next read goes on;
// with seen "" (the first read of a Store) it reads none. So every instance
// learns of the guests stored through the others within a poll, without a
// redemption going through the change log.
func readNewGuests(ctx context.Context, tx pgx.Tx, seen string) ([]guestlink.Guest, error) {
	if seen == "" {
		return nil, nil
	}
	return collectGuests(tx.Query(ctx, newGuestsStmt, seen))
}

// genAndSnapshot reads, first in a snapshot read of the live state, the
// generation it holds and its snapshot (as text), for the next
// readNewGuests: one round trip for both.
const genAndSnapshot = "SELECT gen, pg_current_snapshot()::text FROM gg_generation"

// newGuestsStmt is readNewGuests' query, with $1 the last read's snapshot:
// the rows at or after its xmax, and those of its xip (all below its xmax,
// so the two parts never read a row twice). They are two index scans joined
// by UNION ALL rather than one OR, and the xip part is bounded by the
// snapshot's xmin too: when most rows share one transaction id (an import, a
// move, the migration that added txid), the planner estimates the OR, and
// an unbounded xip lookup, as the whole table, and scans all of it at every
// poll. Rows of a dump restored into another cluster may carry ids that
// cluster has not reached yet: they wait until it has.
const newGuestsStmt = "SELECT " + guestCols + ` FROM gg_guests
	WHERE txid >= pg_snapshot_xmax($1::pg_snapshot) AND txid < pg_snapshot_xmax(pg_current_snapshot())
	UNION ALL
	SELECT ` + guestCols + ` FROM gg_guests
	WHERE txid = ANY(ARRAY(SELECT pg_snapshot_xip($1::pg_snapshot)))
		AND txid >= pg_snapshot_xmin($1::pg_snapshot) AND txid < pg_snapshot_xmax($1::pg_snapshot)`

// readChanged reads in tx the rows that changes name (rooms changed, rooms
// deleted, links and invitations added or deleted and guests changed, as
// lists of room ids and lists of their ids) and returns the function
// that puts them into the mirror: a room deleted is dropped with its links
// and guests and, if it was made again, put back with its links; every
// other room, link and guest is put in as it is, or dropped if it is gone.
func readChanged(ctx context.Context, tx pgx.Tx, rooms, deleted []string, links, guests [2][]string) (func(mirror.Tx), error) {
	found, err := collect(scanRoom)(tx.Query(ctx, "SELECT "+roomCols+" FROM gg_rooms WHERE id = ANY($1)", rooms))
	if err != nil {
		return nil, err
	}
	relinked, err := collect(scanPair)(tx.Query(ctx, "SELECT room_id, id FROM "+linkRows+" AS l WHERE room_id = ANY($1)", deleted))
	if err != nil {
		return nil, err
	}
	linked, err := collect(scanPair)(tx.Query(ctx, `SELECT l.room_id, l.id FROM `+linkRows+` AS l
		JOIN unnest($1::text[], $2::text[]) AS c (room_id, id) ON l.room_id = c.room_id AND l.id = c.id`, links[0], links[1]))
	if err != nil {
		return nil, err
	}
	gs, err := collectGuests(tx.Query(ctx, "SELECT "+qualify("g", guestCols)+` FROM gg_guests g
		JOIN unnest($1::text[], $2::text[]) AS c (room_id, id) ON g.room_id = c.room_id AND g.id = c.id`, guests[0], guests[1]))
	if err != nil {
		return nil, err
	}
	return func(mt mirror.Tx) {
		for _, id := range deleted {
			mt.DropRoom(id)
		}
		seen := map[string]bool{}
		for _, r := range found {
			mt.PutRoom(r)
			seen[r.ID] = true
		}
		for _, id := range rooms {
			if !seen[id] {
				mt.DropRoom(id)
			}
		}
		for _, l := range relinked {
			mt.PutLink(l[0], l[1])
		}
		exists := map[[2]string]bool{}
		for _, l := range linked {
			exists[l] = true
		}
		for i := range links[0] {
			if l := [2]string{links[0][i], links[1][i]}; exists[l] {
				mt.PutLink(l[0], l[1])
			} else {
				mt.DropLink(l[0], l[1])
			}
		}
		present := map[[2]string]bool{}
		for _, g := range gs {
			mt.PutGuest(g)
			present[[2]string{g.RoomID, g.ID}] = true
		}
		for i, id := range guests[1] {
			if !present[[2]string{guests[0][i], id}] {
				mt.DropGuest(id)
			}
		}
	}, nil
}

// listen keeps the listener's connection (listenOn) until Close, connecting
// again with backoff when it is lost, and logs when the database is lost and
// when it is back.
func (s *Store) listen() {
	defer s.bg.Done()
	backoff := minBackoff
	var lostAt time.Time
	// refusedSaid: the log said, in this outage, that the server refuses
	// the login, which it does until a reload gives the role's new password.
	refusedSaid := false
	for {
		err := s.listenOn(func() {
			if !lostAt.IsZero() {
				s.log.Info("the database is back: the live state is current again", "after", time.Since(lostAt).Round(time.Millisecond))
				lostAt, refusedSaid = time.Time{}, false
			}
			backoff = minBackoff
		})
		s.listening.Store(false)
		if s.ctx.Err() != nil {
			return
		}
		// What cut the listener's connection (a restart, a failover, a
		// pooler's restart) most likely cut the pool's too: let the pool
		// connect afresh rather than find out call by call.
		s.pool.Reset()
		switch {
		case lostAt.IsZero():
			lostAt, refusedSaid = time.Now(), loginRefused(err)
			s.log.Warn("lost the database: new guests and the moderator API fail, admitted guests are served from the live state for at most max_stale",
				"error", s.dbError(context.Background(), "listening for changes", err).Error(), "max_stale", s.tuned.Load().maxStale)
		case !refusedSaid && loginRefused(err):
			// The outage began otherwise (a restart that cut the
			// connections after an ALTER ROLE): say why it goes on.
			refusedSaid = true
			s.log.Warn("the database refuses the store's login: the outage lasts until the instance has the role's password (a reload with the new DSN)",
				"error", s.dbError(context.Background(), "listening for changes", err).Error())
		}
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listenOn connects the listener, LISTENs, catches up, calls up, and then
// catches up after every notification of a generation the mirror does not
// hold, and at least every PollInterval, until the connection fails (the
// error) or the Store closes (nil).
func (s *Store) listenOn(up func()) error {
	cc := s.connConf.Copy()
	cc.Password = s.tuned.Load().password
	cctx, cancel := context.WithTimeout(s.ctx, cc.ConnectTimeout)
	conn, err := pgx.ConnectConfig(cctx, cc)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(ctx)
	}()
	sync := func() error {
		ctx, cancel := context.WithTimeout(s.ctx, syncTimeout)
		defer cancel()
		return s.catchUp(ctx, conn)
	}
	if _, err := conn.Exec(s.ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	if err := sync(); err != nil {
		return err
	}
	s.listening.Store(true)
	up()
	next := time.Now().Add(s.tuned.Load().poll)
	for {
		wctx, cancel := context.WithDeadline(s.ctx, next)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case s.ctx.Err() != nil:
			return nil
		case err == nil:
			if gen, perr := strconv.ParseInt(n.Payload, 10, 64); perr == nil && gen <= s.synced.Load() {
				continue // read already
			}
		case !errors.Is(err, context.DeadlineExceeded) && !pgconn.Timeout(err):
			return err
		}
		if err := sync(); err != nil {
			return err
		}
		next = time.Now().Add(s.tuned.Load().poll)
	}
}

// readGuest reads a guest the mirror does not hold, for Check, within
// loadTimeout; guestlink.ErrGuestNotFound if there is none.
func (s *Store) readGuest(ctx context.Context, roomID, guestID string) (guestlink.Guest, error) {
	if !validKey(roomID) || !validKey(guestID) {
		return guestlink.Guest{}, guestlink.ErrGuestNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	g, err := scanGuest(s.pool.QueryRow(ctx, "SELECT "+guestCols+" FROM gg_guests WHERE room_id = $1 AND id = $2", roomID, guestID))
	if errors.Is(err, pgx.ErrNoRows) {
		return guestlink.Guest{}, guestlink.ErrGuestNotFound
	}
	if err != nil {
		return guestlink.Guest{}, s.dbError(ctx, "reading a guest", err)
	}
	return g, nil
}

// Check is the gate's live-state check, from memory: guestlink.CheckSession's
// verdict for the session of guest guestID, who came in through link linkID
// of room roomID, at now, and the guest's state, which is returned whenever
// the guest was found, also with an error. Errors are those of Session. A
// guest this instance does not hold yet (stored before it opened, or since
// its last read of the live state) is read from the database once; when
// that read fails, and whenever the live state was last read from the
// database more than MaxStale ago, the error wraps
// guestlink.ErrStoreUnavailable.
func (s *Store) Check(ctx context.Context, roomID, linkID, guestID string, now time.Time) (string, error) {
	if s.closed.Load() {
		return "", ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if t := s.tuned.Load(); s.sinceSync() > t.maxStale {
		return "", t.errStale
	}
	state, err := s.mirror.Check(roomID, linkID, guestID, now, nil)
	if !errors.Is(err, guestlink.ErrGuestNotFound) {
		return state, err
	}
	// Not held (or not there): read it.
	var loadErr error
	state, err = s.mirror.Check(roomID, linkID, guestID, now, func(roomID, guestID string) (guestlink.Guest, bool) {
		g, err := s.readGuest(ctx, roomID, guestID)
		if err != nil && !errors.Is(err, guestlink.ErrGuestNotFound) {
			loadErr = err
		}
		return g, err == nil
	})
	if loadErr != nil {
		return "", loadErr
	}
	return state, err
}

// Generation counts the changes of the live state this Store has seen, its
// own and the other instances': a cache of decisions can tell it is stale.
func (s *Store) Generation() uint64 { return s.mirror.Generation() }

// Live is the state of a Store's listener, for metrics.
type Live struct {
	// Listening is true while the listener's connection is up.
	Listening bool
	// SinceSync is the time since the last successful read of the change log:
	// the most the live state may lag behind the database (Check answers
	// guestlink.ErrStoreUnavailable once it passes MaxStale).
	SinceSync time.Duration
	// Generation is the database's generation the live state holds every
	// change up to.
	Generation int64
	// Unreachable counts the operations that failed because the database
	// could not be reached; Failed those it refused (an error other than the
	// domain's). Both only grow.
	Unreachable, Failed int64
}

// Live returns the state of the Store's listener.
func (s *Store) Live() Live {
	return Live{Listening: s.listening.Load(), SinceSync: s.sinceSync(), Generation: s.synced.Load(),
		Unreachable: s.unreachable.Load(), Failed: s.failed.Load()}
}

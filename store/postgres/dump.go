package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/guestgate/guestgate/guestlink"
)

// loadLock is the key of the transaction-level advisory lock that a Load
// holds, so that two loads of one database never run at once.
const loadLock int64 = 0x67675f6c6f616473 // "gg_loads"

// copyBatch is how many rows Load sends with one COPY.
const copyBatch = 1000

// The dump's queries, in the order of guestlink.Dumper: rooms, links and
// invitations (each room's oldest first), guests (purged ones left out, at
// the time $1) by room and redemption, secrets, queue items (queue by queue,
// oldest first).
var dumpQueries = []struct {
	sql  string
	scan func(pgx.Row) (guestlink.Record, error)
	// atNow is true for the query that takes the time $1.
	atNow bool
}{
	{"SELECT " + roomCols + " FROM gg_rooms ORDER BY id", func(row pgx.Row) (guestlink.Record, error) {
		r, err := scanRoom(row)
		return guestlink.Record{Room: &r}, err
	}, false},
	{"SELECT " + linkCols + " FROM gg_links ORDER BY room_id, created_at, id", func(row pgx.Row) (guestlink.Record, error) {
		l, err := scanLink(row)
		return guestlink.Record{Link: &l}, err
	}, false},
	{"SELECT " + invCols + " FROM gg_invitations ORDER BY room_id, created_at, id", func(row pgx.Row) (guestlink.Record, error) {
		v, err := scanInv(row)
		return guestlink.Record{Invitation: &v}, err
	}, false},
	{"SELECT " + guestCols + " FROM gg_guests WHERE " + notPurged("$1") + " ORDER BY room_id, redeemed_at, id", func(row pgx.Row) (guestlink.Record, error) {
		g, err := scanGuest(row)
		return guestlink.Record{Guest: &g}, err
	}, true},
	{"SELECT name, value FROM gg_secrets ORDER BY name", func(row pgx.Row) (guestlink.Record, error) {
		var s guestlink.Secret
		err := row.Scan(&s.Name, &s.Value)
		return guestlink.Record{Secret: &s}, err
	}, false},
	{"SELECT queue, body, attempts, next_at FROM gg_queue ORDER BY queue, id", func(row pgx.Row) (guestlink.Record, error) {
		var (
			it   guestlink.QueuedItem
			next int64
		)
		err := row.Scan(&it.Queue, &it.Body, &it.Attempts, &next)
		it.NextAt = fromNS(next)
		return guestlink.Record{Item: &it}, err
	}, false},
}

// emitError carries an error of Dump's emit through the transaction, so that
// it is returned as it is rather than as the database's.
type emitError struct{ err error }

func (e *emitError) Error() string { return e.err.Error() }

// Dump hands out every record of the database (guestlink.Dumper) from one
// REPEATABLE READ, read-only transaction: a consistent snapshot, taken while
// every instance keeps serving.
func (s *Store) Dump(ctx context.Context, emit func(guestlink.Record) error) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	now := ns(s.now())
	err := pgx.BeginTxFunc(ctx, s.pool, snapshot, func(tx pgx.Tx) error {
		for _, q := range dumpQueries {
			var args []any
			if q.atNow { // guests: not purged at now
				args = []any{now}
			}
			rows, err := tx.Query(ctx, q.sql, args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				rec, err := q.scan(rows)
				if err == nil {
					if err = emit(rec); err != nil {
						err = &emitError{err}
					}
				}
				if err != nil {
					rows.Close()
					return err
				}
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	var ee *emitError
	switch {
	case errors.As(err, &ee):
		return ee.err
	case err != nil:
		return s.dbError(ctx, "dumping the store", err)
	}
	return nil
}

// Load replaces the database's contents with the records that next returns
// (guestlink.Dumper), in one transaction: input that next finds truncated or
// corrupt, or a record the schema refuses, rolls it back and changes
// nothing. The transaction holds the tables in EXCLUSIVE mode, so that every
// instance's writes wait until it ends while their reads go on (the gate
// serves from each instance's live state anyway). It sets each room's
// link_count and invitation_count to its links and invitations, gives the queue items new ids in the records'
// order, and records a reset in the change log, after which every instance
// reads its live state again. Unless force, guestlink.ErrStoreNotEmpty if
// the database holds a room (and so any link, invitation or guest);
// guestlink.ErrStoreBusy while another Load of the database runs. Loading
// gives no chance of a retry: a deadlock with another instance's write fails
// it, and it may simply be run again.
func (s *Store) Load(ctx context.Context, next func() (guestlink.Record, error), force bool) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return s.dbError(ctx, "loading", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = tx.Rollback(rctx)
		cancel()
	}()
	ld := &loader{ctx: ctx, tx: tx, queues: map[string]bool{}}
	if err := ld.prepare(force); err != nil {
		return s.loadError(ctx, err)
	}
	for {
		rec, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err // the input's: nothing was committed
		}
		if err := ld.add(rec); err != nil {
			return s.loadError(ctx, err)
		}
	}
	if err := ld.finish(); err != nil {
		return s.loadError(ctx, err)
	}
	if _, err := bump(ctx, tx, change{kind: kindReset}); err != nil {
		return s.loadError(ctx, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return s.loadError(ctx, err)
	}
	// This instance's live state follows at once; the others' (and this
	// one's, if this read fails) with the reset in the change log.
	if err := s.reload(ctx, s.pool); err != nil {
		s.log.Warn("reading the live state after a load failed; the listener reads it again", "error", s.dbError(ctx, "reading the live state", err).Error())
	}
	s.log.Info("loaded the store", "force", force)
	return nil
}

// loadError is Load's error for err: the domain's as it is, the database's
// through dbError.
func (s *Store) loadError(ctx context.Context, err error) error {
	if fromDB(err) {
		return s.dbError(ctx, "loading", err)
	}
	return err
}

// loader sends a Load's records to the database in batches of one table.
type loader struct {
	ctx context.Context
	tx  pgx.Tx
	// table, cols and rows are the batch being gathered.
	table string
	cols  []string
	rows  [][]any
	// queues are the queues that have a row in gg_queues.
	queues map[string]bool
}

// prepare takes the load's locks, refuses a database with records unless
// force, and deletes what the database holds.
func (ld *loader) prepare(force bool) error {
	ctx, tx := ld.ctx, ld.tx
	var got bool
	if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", loadLock).Scan(&got); err != nil {
		return err
	}
	if !got {
		return guestlink.ErrStoreBusy
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE gg_rooms, gg_links, gg_invitations, gg_guests, gg_secrets, gg_queues, gg_queue IN EXCLUSIVE MODE"); err != nil {
		return err
	}
	if !force {
		var held bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT FROM gg_rooms)").Scan(&held); err != nil {
			return err
		}
		if held {
			return guestlink.ErrStoreNotEmpty
		}
	}
	// Links, invitations and guests go with their rooms (ON DELETE CASCADE).
	for _, table := range []string{"gg_rooms", "gg_secrets", "gg_queue", "gg_queues"} {
		if _, err := tx.Exec(ctx, "DELETE FROM "+table); err != nil {
			return err
		}
	}
	return nil
}

// add gathers one record into the batch of its table, sending the batch
// first when it is of another table or full.
func (ld *loader) add(rec guestlink.Record) error {
	switch {
	case rec.Room != nil:
		r := rec.Room
		return ld.row("gg_rooms", []string{"id", "name", "kind", "available", "admission", "guest_access", "created_at", "updated_at", "lobby_message"},
			r.ID, r.Name, r.Kind, r.Available, r.Admission, r.GuestAccess, ns(r.CreatedAt), ns(r.UpdatedAt), r.LobbyMessage)
	case rec.Link != nil:
		return ld.row("gg_links", append(strings.Split(linkCols, ", "), "token_hash"), linkRow(*rec.Link)...)
	case rec.Invitation != nil:
		v := rec.Invitation
		if !guestlink.IsInvitation(v.ID) {
			return fmt.Errorf("guestgate store: load: %w: invitation id %q is not an invitation's", guestlink.ErrBadBackup, v.ID)
		}
		return ld.row("gg_invitations", append(strings.Split(invCols, ", "), "token_hash"), invitationRow(*v)...)
	case rec.Guest != nil:
		g := rec.Guest
		// txid 0, no transaction's: the instances, which read everything
		// again after a load, take a loaded guest in on its first request,
		// not all of them at once with their next read of new guests
		// (readNewGuests).
		return ld.row("gg_guests", []string{"room_id", "id", "link_id", "link_name", "name", "email", "state", "redeemed_at", "updated_at", "last_seen", "purge_at", "role", "txid"},
			g.RoomID, g.ID, g.LinkID, g.LinkName, g.Name, g.Email, g.State, ns(g.RedeemedAt), ns(g.UpdatedAt), ns(g.LastSeen), nullNS(g.PurgeAt),
			guestlink.RoleOrViewer(g.Role), uint64(0))
	case rec.Secret != nil:
		return ld.row("gg_secrets", []string{"name", "value"}, rec.Secret.Name, rec.Secret.Value)
	case rec.Item != nil:
		it := rec.Item
		if !guestlink.ValidQueueName(it.Queue) {
			return fmt.Errorf("guestgate store: load: %w: queue name %q is not valid", guestlink.ErrBadBackup, it.Queue)
		}
		if !ld.queues[it.Queue] {
			// The queue's row comes before its items (a foreign key); its
			// length is counted at the end.
			if err := ld.send(); err != nil {
				return err
			}
			if _, err := ld.tx.Exec(ld.ctx, "INSERT INTO gg_queues (queue, len) VALUES ($1, 0)", it.Queue); err != nil {
				return err
			}
			ld.queues[it.Queue] = true
		}
		body := it.Body
		if body == nil {
			body = []byte{}
		}
		return ld.row("gg_queue", []string{"queue", "body", "attempts", "next_at"}, it.Queue, body, it.Attempts, ns(it.NextAt))
	}
	return fmt.Errorf("guestgate store: load: %w: an empty record", guestlink.ErrBadBackup)
}

// row adds one row of table to the batch.
func (ld *loader) row(table string, cols []string, vals ...any) error {
	if ld.table != table || len(ld.rows) >= copyBatch {
		if err := ld.send(); err != nil {
			return err
		}
		ld.table, ld.cols = table, cols
	}
	ld.rows = append(ld.rows, vals)
	return nil
}

// send copies the batch into its table.
func (ld *loader) send() error {
	if len(ld.rows) == 0 {
		return nil
	}
	if err := ld.ctx.Err(); err != nil {
		return err
	}
	_, err := ld.tx.CopyFrom(ld.ctx, pgx.Identifier{ld.table}, ld.cols, pgx.CopyFromRows(ld.rows))
	ld.rows = ld.rows[:0]
	return err
}

// finish sends the last batch and sets the counts that the schema keeps:
// each room's link_count and invitation_count and each queue's len.
func (ld *loader) finish() error {
	if err := ld.send(); err != nil {
		return err
	}
	for _, q := range []string{
		`UPDATE gg_rooms r SET link_count = c.n
			FROM (SELECT room_id, count(*) AS n FROM gg_links GROUP BY room_id) c WHERE r.id = c.room_id`,
		`UPDATE gg_rooms r SET invitation_count = c.n
			FROM (SELECT room_id, count(*) AS n FROM gg_invitations GROUP BY room_id) c WHERE r.id = c.room_id`,
	} {
		if _, err := ld.tx.Exec(ld.ctx, q); err != nil {
			return err
		}
	}
	_, err := ld.tx.Exec(ld.ctx, `UPDATE gg_queues q SET len = c.n
		FROM (SELECT queue, count(*) AS n FROM gg_queue GROUP BY queue) c WHERE q.queue = c.queue`)
	return err
}

// Interface guards
var _ guestlink.Dumper = (*Store)(nil)

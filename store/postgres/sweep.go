package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// sweepLock is the key of the advisory lock that one instance at a time
// sweeps under; the others skip their turn.
const sweepLock int64 = 0x67675f7377656570 // "gg_sweep"

// sweep deletes purged guest records and prunes the change log every
// SweepInterval until Close.
func (s *Store) sweep() {
	defer s.bg.Done()
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		if _, _, err := s.sweepOnce(s.ctx); err != nil && s.ctx.Err() == nil {
			s.log.Debug("sweeping purged guests", "error", err.Error())
		}
	}
}

// sweepOnce deletes, in one transaction and unless another instance is
// sweeping (pg_try_advisory_xact_lock), the guest records whose purge time
// passed (reads treat them as gone already) and the changes older than
// changeRetention. It returns how many of each it deleted.
func (s *Store) sweepOnce(ctx context.Context) (guests, changes int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = s.tx(ctx, "sweeping", func(tx pgx.Tx) error {
		guests, changes = 0, 0
		var mine bool
		if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", sweepLock).Scan(&mine); err != nil || !mine {
			return err
		}
		tag, err := tx.Exec(ctx, "DELETE FROM gg_guests WHERE purge_at <= $1", ns(s.now()))
		if err != nil {
			return err
		}
		guests = tag.RowsAffected()
		tag, err = tx.Exec(ctx, "DELETE FROM gg_changes WHERE gen <= (SELECT max(gen) FROM gg_changes WHERE at < now() - make_interval(secs => $1))",
			s.keepChanges.Seconds())
		changes = tag.RowsAffected()
		return err
	})
	return guests, changes, err
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/guestgate/guestgate/guestlink"
)

// Durable queues (guestlink.Queuer), for webhook deliveries: gg_queue holds
// the items, gg_queues each queue's length. Every change of a queue's items
// locks the queue's row in gg_queues first, so that the changes of one queue
// are serialized across instances, the bound holds without a count, and item
// ids, from an identity column, grow in the order of enqueuing. An item id is
// the identity as 20 decimal digits, so that ids sort as strings too.
const (
	// queueIDLen is the length of an item id.
	queueIDLen = 20
)

func queueID(n int64) string { return fmt.Sprintf("%020d", n) }

// parseQueueID returns the identity of an item id, ok false if id has not the
// shape of one.
func parseQueueID(id string) (int64, bool) {
	if len(id) != queueIDLen {
		return 0, false
	}
	n, err := strconv.ParseInt(id, 10, 64)
	return n, err == nil && n > 0 && queueID(n) == id
}

// Enqueue appends body to queue in one transaction, dropping the oldest items
// when the queue would hold more than maxLen (guestlink.DefaultQueueLen if
// maxLen <= 0); it returns how many it dropped.
func (s *Store) Enqueue(ctx context.Context, queue string, body []byte, maxLen int) (int, error) {
	maxLen, err := guestlink.QueueLen(queue, maxLen)
	if err != nil {
		return 0, err
	}
	var dropped int
	err = s.tx(ctx, "enqueuing", func(tx pgx.Tx) error {
		dropped = 0
		var n int
		if err := tx.QueryRow(ctx, `INSERT INTO gg_queues (queue, len) VALUES ($1, 1)
			ON CONFLICT (queue) DO UPDATE SET len = gg_queues.len + 1 RETURNING len`, queue).Scan(&n); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO gg_queue (queue, body, next_at) VALUES ($1, $2, $3)", queue, body, ns(time.Now())); err != nil {
			return err
		}
		if over := n - maxLen; over > 0 {
			tag, err := tx.Exec(ctx, "DELETE FROM gg_queue WHERE queue = $1 AND id IN (SELECT id FROM gg_queue WHERE queue = $1 ORDER BY id LIMIT $2)", queue, over)
			if err != nil {
				return err
			}
			dropped = int(tag.RowsAffected())
			if _, err := tx.Exec(ctx, "UPDATE gg_queues SET len = len - $2 WHERE queue = $1", queue, dropped); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return dropped, nil
}

// Due returns up to limit (guestlink.DefaultDueLimit if limit <= 0) items of
// queue due at now, oldest first, and the earliest due time of the items not
// due yet (the zero time if there are none).
func (s *Store) Due(ctx context.Context, queue string, now time.Time, limit int) ([]guestlink.QueueItem, time.Time, error) {
	limit, err := guestlink.DueLimit(queue, limit)
	if err != nil {
		return nil, time.Time{}, err
	}
	if err := s.begin(ctx); err != nil {
		return nil, time.Time{}, err
	}
	items, err := collect(func(row pgx.Row) (guestlink.QueueItem, error) {
		var (
			it   guestlink.QueueItem
			id   int64
			next int64
		)
		err := row.Scan(&id, &it.Body, &it.Attempts, &next)
		it.ID, it.NextAt = queueID(id), fromNS(next)
		return it, err
	})(s.pool.Query(ctx, "SELECT id, body, attempts, next_at FROM gg_queue WHERE queue = $1 AND next_at <= $2 ORDER BY id LIMIT $3", queue, ns(now), limit))
	if err != nil {
		return nil, time.Time{}, s.dbError(ctx, "reading a queue", err)
	}
	var next *int64
	if err := s.pool.QueryRow(ctx, "SELECT min(next_at) FROM gg_queue WHERE queue = $1 AND next_at > $2", queue, ns(now)).Scan(&next); err != nil {
		return nil, time.Time{}, s.dbError(ctx, "reading a queue", err)
	}
	return items, fromNullNS(next), nil
}

// Retry records a failed attempt of an item: attempts and when it is due
// again. guestlink.ErrQueueItemNotFound if the item is gone.
func (s *Store) Retry(ctx context.Context, queue, id string, attempts int, next time.Time) error {
	n, ok := parseQueueID(id)
	if !guestlink.ValidQueueName(queue) || !ok {
		return guestlink.ErrQueueItemNotFound
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, "UPDATE gg_queue SET attempts = $3, next_at = $4 WHERE queue = $1 AND id = $2", queue, n, attempts, ns(next))
	if err != nil {
		return s.dbError(ctx, "retrying a queue item", err)
	}
	if tag.RowsAffected() == 0 {
		return guestlink.ErrQueueItemNotFound
	}
	return nil
}

// Ack removes an item; an item that is already gone is not an error. It
// locks the queue's row before the item's, as Enqueue does.
func (s *Store) Ack(ctx context.Context, queue, id string) error {
	n, ok := parseQueueID(id)
	if !guestlink.ValidQueueName(queue) || !ok {
		return nil
	}
	return s.tx(ctx, "acknowledging a queue item", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "SELECT FROM gg_queues WHERE queue = $1 FOR NO KEY UPDATE", queue)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		tag, err = tx.Exec(ctx, "DELETE FROM gg_queue WHERE queue = $1 AND id = $2", queue, n)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE gg_queues SET len = len - 1 WHERE queue = $1", queue)
		return err
	})
}

// Queues lists the queues that hold items, sorted.
func (s *Store) Queues(ctx context.Context) ([]string, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	names, err := collect(func(row pgx.Row) (string, error) {
		var name string
		err := row.Scan(&name)
		return name, err
	})(s.pool.Query(ctx, "SELECT queue FROM gg_queues WHERE len > 0 ORDER BY queue"))
	if err != nil {
		return nil, s.dbError(ctx, "listing queues", err)
	}
	return names, nil
}

// LeaseQueue takes or renews the lease of queue for holder until until, in
// one statement: the insert of the lease, or, when the queue has one, its
// update under the row's lock, only if holder holds it or it has run out.
// until becomes a duration on this Store's clock, and the lease's end a time
// on the database's, which judges every instance's leases.
func (s *Store) LeaseQueue(ctx context.Context, queue, holder string, until time.Time) (bool, error) {
	if err := guestlink.CheckQueueName(queue); err != nil {
		return false, err
	}
	if holder == "" {
		return false, errors.New("guestgate store: a queue's lease needs a holder")
	}
	if err := s.begin(ctx); err != nil {
		return false, err
	}
	term := until.Sub(s.now()).Microseconds()
	tag, err := s.pool.Exec(ctx, `INSERT INTO gg_queue_leases AS l (queue, holder, until)
		VALUES ($1, $2, now() + make_interval(secs => $3::float8 / 1e6))
		ON CONFLICT (queue) DO UPDATE SET holder = excluded.holder, until = excluded.until
		WHERE l.holder = excluded.holder OR l.until <= now()`, queue, holder, term)
	if err != nil {
		return false, s.dbError(ctx, "leasing a queue", err)
	}
	return tag.RowsAffected() == 1, nil
}

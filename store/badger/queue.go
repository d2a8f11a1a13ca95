package badger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/guestgate/guestgate/guestlink"
)

// Durable queues (guestlink.Queuer), for webhook deliveries. Key layout, beside
// the one in the package documentation:
//
//	q/<queue>/<item id>   queueRecord (JSON: body, attempts, next_at)
//	qmeta/<queue>         queueMeta (JSON: len, head, last)
//
// An item id is 16 lowercase hex digits of the enqueue time in Unix nanoseconds
// followed by 8 random hex digits, so that key order is enqueue order. Within a
// queue the time part is kept strictly increasing (after the meta record's last
// id), even if the wall clock steps back. Queue names are 1 to 64 characters of
// [A-Za-z0-9._-], so '/' separates safely.
//
// The meta record holds the queue's length, so that the bound costs no count,
// and its oldest and newest ids, so that no read starts at the front of the
// prefix: a removed item leaves a deletion marker that iterators step over
// until compaction, and a queue whose items come and go would otherwise make
// every read step over all the items it ever delivered. Every change of a
// queue's items reads and writes its meta record, so two changes of one queue
// would conflict and one be retried: inside the process they are serialized
// instead (Store.queueLock), which keeps many goroutines on one queue from
// conflicting until the retries give up.
const (
	prefixQueue     = "q/"
	prefixQueueMeta = "qmeta/"
	// queueIDLen is the length of an item id: 16 + 8 hex digits.
	queueIDLen = 24
)

func queuePrefix(queue string) []byte           { return []byte(prefixQueue + queue + "/") }
func queueKey(queue, id string) []byte          { return []byte(prefixQueue + queue + "/" + id) }
func queueMetaKey(queue string) []byte          { return []byte(prefixQueueMeta + queue) }
func queueIDOf(queue string, key []byte) string { return string(key[len(prefixQueue)+len(queue)+1:]) }

// queueRecord is the stored form of a queue item.
type queueRecord struct {
	Body     []byte    `json:"body"`
	Attempts int       `json:"attempts"`
	NextAt   time.Time `json:"next_at"`
}

// queueMeta is the stored state of one queue.
type queueMeta struct {
	// Len is the number of items.
	Len int `json:"len"`
	// Head is the id of the oldest item, "" when the queue is empty.
	Head string `json:"head,omitempty"`
	// Last is the id of the newest item ever enqueued (also after it is gone).
	Last string `json:"last,omitempty"`
}

// validQueueID reports whether id has the shape of an item id.
func validQueueID(id string) bool {
	if len(id) != queueIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// newQueueID returns an item id for an item enqueued at now, after the item id
// last ("" for none).
func newQueueID(now time.Time, last string) string {
	n := uint64(max(now.UnixNano(), 0))
	if len(last) == queueIDLen {
		if prev, err := strconv.ParseUint(last[:16], 16, 64); err == nil && prev >= n {
			n = prev + 1
		}
	}
	var r [4]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails
	return fmt.Sprintf("%016x%s", n, hex.EncodeToString(r[:]))
}

// readQueueMeta reads the meta record of queue in txn (the zero queueMeta if
// there is none); it counts as a read for conflict detection.
func readQueueMeta(txn *badgerdb.Txn, queue string) (queueMeta, error) {
	var m queueMeta
	_, err := getJSON(txn, queueMetaKey(queue), &m)
	return m, err
}

// liveKeysFrom returns up to limit keys of queue from the item id from on (the
// oldest first), reading no values.
func liveKeysFrom(txn *badgerdb.Txn, queue, from string, limit int) [][]byte {
	opts := badgerdb.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = queuePrefix(queue)
	it := txn.NewIterator(opts)
	defer it.Close()
	var keys [][]byte
	for it.Seek(queueKey(queue, from)); it.Valid() && len(keys) < limit; it.Next() {
		keys = append(keys, it.Item().KeyCopy(nil))
	}
	return keys
}

// Enqueue appends body to queue in one transaction, dropping the oldest items
// when the queue would hold more than maxLen (guestlink.DefaultQueueLen if
// maxLen <= 0); it returns how many it dropped. Its cost is one small
// transaction: a read and a write of the meta record and the item's write, plus,
// when the queue is full, a seek to its oldest items and their deletion.
func (s *Store) Enqueue(ctx context.Context, queue string, body []byte, maxLen int) (int, error) {
	maxLen, err := guestlink.QueueLen(queue, maxLen)
	if err != nil {
		return 0, err
	}
	val, err := json.Marshal(queueRecord{Body: body, NextAt: time.Now().UTC()})
	if err != nil {
		return 0, fmt.Errorf("guestgate store: encoding a queue item: %w", err)
	}
	var dropped int
	mu := s.queueLock(queue)
	mu.Lock()
	defer mu.Unlock()
	err = s.update(ctx, func(txn *badgerdb.Txn) error {
		dropped = 0
		m, err := readQueueMeta(txn, queue)
		if err != nil {
			return err
		}
		id := newQueueID(time.Now(), m.Last)
		if over := m.Len + 1 - maxLen; over > 0 && m.Head != "" {
			// The oldest over items go, and the one after them is the new head.
			keys := liveKeysFrom(txn, queue, m.Head, over+1)
			for _, k := range keys[:min(over, len(keys))] {
				if err := txn.Delete(k); err != nil {
					return err
				}
				dropped++
			}
			m.Len -= dropped
			m.Head = ""
			if len(keys) > over {
				m.Head = queueIDOf(queue, keys[over])
			}
		}
		if err := txn.Set(queueKey(queue, id), val); err != nil {
			return err
		}
		m.Len++
		m.Last = id
		if m.Head == "" {
			m.Head = id
		}
		return setJSON(txn, queueMetaKey(queue), m)
	})
	if err != nil {
		return 0, err
	}
	return dropped, nil
}

// Due returns up to limit (guestlink.DefaultDueLimit if limit <= 0) items of
// queue due at now, oldest first, and the earliest due time of the items it
// passed over.
func (s *Store) Due(ctx context.Context, queue string, now time.Time, limit int) ([]guestlink.QueueItem, time.Time, error) {
	limit, err := guestlink.DueLimit(queue, limit)
	if err != nil {
		return nil, time.Time{}, err
	}
	var (
		items []guestlink.QueueItem
		next  time.Time
	)
	err = s.view(ctx, func(txn *badgerdb.Txn) error {
		items, next = nil, time.Time{}
		m, err := readQueueMeta(txn, queue)
		if err != nil || m.Len == 0 {
			return err
		}
		opts := badgerdb.DefaultIteratorOptions
		opts.Prefix = queuePrefix(queue)
		opts.PrefetchSize = min(limit, opts.PrefetchSize)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(queueKey(queue, m.Head)); it.Valid() && len(items) < limit; it.Next() {
			var rec queueRecord
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &rec) }); err != nil {
				return fmt.Errorf("guestgate store: decoding %s: %w", it.Item().Key(), err)
			}
			if rec.NextAt.After(now) {
				if next.IsZero() || rec.NextAt.Before(next) {
					next = rec.NextAt
				}
				continue
			}
			items = append(items, guestlink.QueueItem{
				ID: queueIDOf(queue, it.Item().Key()), Body: rec.Body, Attempts: rec.Attempts, NextAt: rec.NextAt,
			})
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return items, next, nil
}

// Retry records a failed attempt of an item: attempts and when it is due again.
// guestlink.ErrQueueItemNotFound if the item is gone.
func (s *Store) Retry(ctx context.Context, queue, id string, attempts int, next time.Time) error {
	if !guestlink.ValidQueueName(queue) || !validQueueID(id) {
		return guestlink.ErrQueueItemNotFound
	}
	mu := s.queueLock(queue)
	mu.Lock()
	defer mu.Unlock()
	return s.update(ctx, func(txn *badgerdb.Txn) error {
		var rec queueRecord
		found, err := getJSON(txn, queueKey(queue, id), &rec)
		if err != nil {
			return err
		}
		if !found {
			return guestlink.ErrQueueItemNotFound
		}
		rec.Attempts, rec.NextAt = attempts, next.UTC()
		return setJSON(txn, queueKey(queue, id), rec)
	})
}

// Ack removes an item; an item that is already gone is not an error.
func (s *Store) Ack(ctx context.Context, queue, id string) error {
	if !guestlink.ValidQueueName(queue) || !validQueueID(id) {
		return nil
	}
	mu := s.queueLock(queue)
	mu.Lock()
	defer mu.Unlock()
	return s.update(ctx, func(txn *badgerdb.Txn) error {
		found, err := exists(txn, queueKey(queue, id))
		if err != nil || !found {
			return err
		}
		m, err := readQueueMeta(txn, queue)
		if err != nil {
			return err
		}
		if m.Head == id {
			// The next item, if any, is the new head.
			m.Head = ""
			if keys := liveKeysFrom(txn, queue, id, 2); len(keys) == 2 {
				m.Head = queueIDOf(queue, keys[1])
			}
		}
		if err := txn.Delete(queueKey(queue, id)); err != nil {
			return err
		}
		m.Len = max(m.Len-1, 0)
		return setJSON(txn, queueMetaKey(queue), m)
	})
}

// Queues lists the queues that hold items, sorted.
func (s *Store) Queues(ctx context.Context) ([]string, error) {
	var names []string
	err := s.view(ctx, func(txn *badgerdb.Txn) error {
		names = nil
		opts := badgerdb.DefaultIteratorOptions
		opts.Prefix = []byte(prefixQueueMeta)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var m queueMeta
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &m) }); err != nil {
				return fmt.Errorf("guestgate store: decoding %s: %w", it.Item().Key(), err)
			}
			if m.Len > 0 {
				names = append(names, string(it.Item().Key()[len(prefixQueueMeta):]))
			}
		}
		return nil
	})
	return names, err
}

// queueLength returns the item count of queue (for tests and diagnostics).
func (s *Store) queueLength(ctx context.Context, queue string) (int, error) {
	var m queueMeta
	err := s.view(ctx, func(txn *badgerdb.Txn) error {
		var err error
		m, err = readQueueMeta(txn, queue)
		return err
	})
	return m.Len, err
}

// Interface guards
var _ guestlink.Queuer = (*Store)(nil)

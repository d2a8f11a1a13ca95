package badger

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"google.golang.org/protobuf/proto"

	"github.com/guestgate/guestgate/guestlink"
)

// loadFrame is how many keys Load puts in one frame of its spool file.
const loadFrame = 1000

// Dump hands out every record of the store (guestlink.Dumper) from one
// read-only transaction: a consistent snapshot, taken while the store keeps
// serving. guestlink.ErrStoreBusy while a Backup, Restore or Load runs.
func (s *Store) Dump(ctx context.Context, emit func(guestlink.Record) error) error {
	if !s.maintMu.TryLock() {
		return guestlink.ErrStoreBusy
	}
	defer s.maintMu.Unlock()
	if err := s.begin(ctx); err != nil {
		return err
	}
	now := time.Now()
	return s.db.View(func(txn *badgerdb.Txn) error {
		for _, prefix := range []string{prefixRoom, prefixLink, prefixInv, prefixGuest, prefixSecret, prefixQueue} {
			err := eachItem(txn, prefix, func(key string, val []byte) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				rec, err := record(prefix, key, val)
				if err != nil {
					return fmt.Errorf("guestgate store: decoding %s: %w", key, err)
				}
				if g := rec.Guest; g != nil && !g.PurgeAt.IsZero() && !g.PurgeAt.After(now) {
					return nil // purged; Badger drops it at the next full second
				}
				return emit(rec)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// eachItem calls fn with every key under prefix in txn, in key order, and its
// value (valid during the call).
func eachItem(txn *badgerdb.Txn, prefix string, fn func(key string, val []byte) error) error {
	opts := badgerdb.DefaultIteratorOptions
	opts.Prefix = []byte(prefix)
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		if err := item.Value(func(v []byte) error { return fn(string(item.Key()), v) }); err != nil {
			return err
		}
	}
	return nil
}

// record is the guestlink.Record of the value val stored under key, whose
// prefix is prefix.
func record(prefix, key string, val []byte) (guestlink.Record, error) {
	var (
		rec guestlink.Record
		err error
	)
	switch prefix {
	case prefixRoom:
		err = decodeInto(&rec.Room, val)
	case prefixLink:
		err = decodeInto(&rec.Link, val)
	case prefixInv:
		err = decodeInto(&rec.Invitation, val)
	case prefixGuest:
		err = decodeInto(&rec.Guest, val)
	case prefixSecret:
		rec.Secret = &guestlink.Secret{Name: strings.TrimPrefix(key, prefixSecret), Value: append([]byte(nil), val...)}
	default: // prefixQueue: q/<queue>/<id>
		queue, _, _ := strings.Cut(strings.TrimPrefix(key, prefixQueue), "/")
		var q queueRecord
		if err = json.Unmarshal(val, &q); err == nil {
			rec.Item = &guestlink.QueuedItem{Queue: queue, Body: q.Body, Attempts: q.Attempts, NextAt: q.NextAt}
		}
	}
	return rec, err
}

// decodeInto sets *field, one of a guestlink.Record's fields, to a new T
// decoded from val (JSON).
func decodeInto[T any](field **T, val []byte) error {
	*field = new(T)
	return json.Unmarshal(val, *field)
}

// Load replaces the store's contents with the records that next returns
// (guestlink.Dumper). It reads them all first, turning them into the store's
// keys (with the token index of links and invitations, the guest list index,
// each queue's meta record and new item ids in the records' order) in a
// temporary file, so that input that next finds truncated or corrupt changes
// nothing; then it replaces the contents as Restore does, and with its
// caveats: every other transaction waits, and a disk error or the process's
// death in that last step leaves the store empty.
// Guests whose PurgeAt has passed are not loaded. Unless force,
// guestlink.ErrStoreNotEmpty if the store holds a room, link or guest;
// guestlink.ErrStoreBusy while a Backup, Restore, Dump or another Load runs.
func (s *Store) Load(ctx context.Context, next func() (guestlink.Record, error), force bool) error {
	done, err := s.beginReplace(ctx, force)
	if err != nil {
		return err
	}
	defer done()
	f, err := spoolRecords(ctx, next, time.Now())
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	return s.replace(ctx, "load", f, force)
}

// spoolRecords reads the records next returns until io.EOF and writes them,
// as the store's keys, to a new temporary file in Badger's backup stream
// format (frames of a little-endian uint64 length and a protobuf KVList, at
// version 1), which it returns positioned at its start; the caller closes
// and removes it. now decides which guests are already purged, and the
// Badger TTL of the others.
func spoolRecords(ctx context.Context, next func() (guestlink.Record, error), now time.Time) (*os.File, error) {
	return spoolFile("load", "the records", func(w *bufio.Writer) error {
		sp := &spool{w: w, rooms: map[string]bool{}, queues: map[string]*queueMeta{}, now: now}
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			rec, err := next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if err := sp.add(rec); err != nil {
				return err
			}
		}
		if err := sp.finish(); err != nil {
			return fmt.Errorf("guestgate store: load: spooling the records: %w", err)
		}
		return nil
	})
}

// spool turns records into the store's keys in a backup stream.
type spool struct {
	w     *bufio.Writer
	list  pb.KVList
	rooms map[string]bool
	// queues holds the meta record of each queue seen, and order the order
	// they were seen in (for a stable output).
	queues map[string]*queueMeta
	order  []string
	now    time.Time
}

// badRecord is Load's error for a record that the store cannot hold.
func badRecord(format string, args ...any) error {
	return fmt.Errorf("guestgate store: load: %w: %s", guestlink.ErrBadBackup, fmt.Sprintf(format, args...))
}

// add writes the keys of one record.
func (sp *spool) add(rec guestlink.Record) error {
	switch {
	case rec.Room != nil:
		r := rec.Room
		if !guestlink.ValidRoomID(r.ID) {
			return badRecord("room id %q is not valid", r.ID)
		}
		sp.rooms[r.ID] = true
		return sp.putJSON(roomKey(r.ID), r, 0)
	case rec.Link != nil:
		l := rec.Link
		if !sp.rooms[l.RoomID] || !validPart(l.ID) || l.Token == "" {
			return badRecord("link %q of room %q: an unknown room, or no id or token", l.ID, l.RoomID)
		}
		return sp.putWithToken(linkKey(l.RoomID, l.ID), l, l.RoomID, l.ID, l.Token)
	case rec.Invitation != nil:
		v := rec.Invitation
		if !sp.rooms[v.RoomID] || !validPart(v.ID) || !guestlink.IsInvitation(v.ID) || v.Token == "" {
			return badRecord("invitation %q of room %q: an unknown room, or no invitation id or token", v.ID, v.RoomID)
		}
		return sp.putWithToken(invKey(v.RoomID, v.ID), v, v.RoomID, v.ID, v.Token)
	case rec.Guest != nil:
		g := rec.Guest
		if !sp.rooms[g.RoomID] || !validPart(g.ID) {
			return badRecord("guest %q of room %q: an unknown room, or no id", g.ID, g.RoomID)
		}
		var expires uint64
		if !g.PurgeAt.IsZero() {
			if !g.PurgeAt.After(sp.now) {
				return nil // purged already
			}
			// As writeGuest's TTL: Badger keeps the key until this second.
			expires = uint64(g.PurgeAt.Unix())
		}
		if err := sp.putJSON(guestKey(g.RoomID, g.ID), g, expires); err != nil {
			return err
		}
		return sp.put(newestKey(g.RoomID, g.RedeemedAt, g.ID), nil, expires)
	case rec.Secret != nil:
		if !validPart(rec.Secret.Name) {
			return badRecord("secret name %q is not valid", rec.Secret.Name)
		}
		return sp.put(secretKey(rec.Secret.Name), rec.Secret.Value, 0)
	case rec.Item != nil:
		it := rec.Item
		if !guestlink.ValidQueueName(it.Queue) {
			return badRecord("queue name %q is not valid", it.Queue)
		}
		m := sp.queues[it.Queue]
		if m == nil {
			m = &queueMeta{}
			sp.queues[it.Queue] = m
			sp.order = append(sp.order, it.Queue)
		}
		id := newQueueID(sp.now, m.Last)
		if m.Head == "" {
			m.Head = id
		}
		m.Last = id
		m.Len++
		return sp.putJSON(queueKey(it.Queue, id), queueRecord{Body: it.Body, Attempts: it.Attempts, NextAt: it.NextAt}, 0)
	}
	return badRecord("an empty record")
}

// putWithToken adds key with rec, the link or invitation id of room roomID,
// as JSON, and the token index entry of its token, as addRecord writes them.
func (sp *spool) putWithToken(key []byte, rec any, roomID, id, token string) error {
	if err := sp.putJSON(key, rec, 0); err != nil {
		return err
	}
	return sp.put(tokenKey(token), tokenValue(roomID, id), 0)
}

// putJSON adds key with v as JSON.
func (sp *spool) putJSON(key []byte, v any, expires uint64) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("guestgate store: load: encoding %s: %w", key, err)
	}
	return sp.put(key, b, expires)
}

// put adds key with val, kept until the Unix second expires (0: always),
// writing a frame when it is full.
func (sp *spool) put(key, val []byte, expires uint64) error {
	sp.list.Kv = append(sp.list.Kv, &pb.KV{Key: key, Value: val, Version: 1, ExpiresAt: expires})
	if len(sp.list.Kv) >= loadFrame {
		return sp.flush()
	}
	return nil
}

// flush writes the keys added since the last frame as one frame.
func (sp *spool) flush() error {
	if len(sp.list.Kv) == 0 {
		return nil
	}
	b, err := proto.Marshal(&sp.list)
	if err != nil {
		return err
	}
	if err := binary.Write(sp.w, binary.LittleEndian, uint64(len(b))); err != nil {
		return err
	}
	if _, err := sp.w.Write(b); err != nil {
		return err
	}
	sp.list.Kv = sp.list.Kv[:0]
	return nil
}

// finish adds the queues' meta records and writes the last frame.
func (sp *spool) finish() error {
	for _, q := range sp.order {
		if err := sp.putJSON(queueMetaKey(q), sp.queues[q], 0); err != nil {
			return err
		}
	}
	return sp.flush()
}

// Interface guards
var _ guestlink.Dumper = (*Store)(nil)

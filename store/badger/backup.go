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
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/guestgate/guestgate/guestlink"
)

const (
	// restorePendingWrites is how many batches of a restore Badger may have in
	// flight at once (DB.Load's maxPendingWrites; the badger CLI uses 256 for
	// much bigger databases).
	restorePendingWrites = 16
	// maxBackupFrame bounds one length-prefixed frame of a backup stream, in
	// bytes, so that a file that is not a backup is refused at its first bytes
	// instead of being read as a huge length. Badger writes frames of a few MiB.
	maxBackupFrame = 256 << 20
)

// Backup writes a full backup of the store to w: Badger's backup stream
// (DB.Backup since version 0), a sequence of frames, each a little-endian
// uint64 length and a protobuf KVList. Restore reads it, and so does Badger's own
// "badger restore". The backup is a consistent snapshot, taken while the store
// keeps serving. It returns guestlink.ErrStoreBusy while another Backup or
// Restore of the store runs, and an error, with what was written incomplete,
// if writing to w fails or ctx ends.
func (s *Store) Backup(ctx context.Context, w io.Writer) error {
	if !s.maintMu.TryLock() {
		return guestlink.ErrStoreBusy
	}
	defer s.maintMu.Unlock()
	if err := s.begin(ctx); err != nil {
		return err
	}
	if _, err := s.db.Backup(ctxWriter{ctx: ctx, w: w}, 0); err != nil {
		return fmt.Errorf("guestgate store: backup of %s: %w", s.dir, err)
	}
	return nil
}

// Restore replaces the store's contents with a backup made by Backup, read from r.
//
// The backup is first copied to a temporary file and checked frame by frame, so
// a truncated or corrupt backup (or a file that is not one) is refused before
// anything in the store changes. Then, with every other transaction of the
// store waiting, the old contents are dropped and the backup is loaded. If that
// last step fails (a disk error), or the process dies during it, the store is
// left empty, never holding part of the backup; run the restore again.
//
// Unless force, a store that holds any record (a room, link or guest) is
// refused with guestlink.ErrStoreNotEmpty; the secrets that guest_gateway makes
// at start-up (secret/..., such as the session signing key) do not count, and
// the backup's secrets replace them; nor do queue items, which the backup's
// replace too. With force, a backup that holds no room is refused for a
// store that holds some (guestlink.ErrWouldEmpty). Handlers that loaded
// secrets at start-up keep their in-memory copies until they are provisioned
// again, so reload the configuration after a restore. guestlink.ErrStoreBusy
// while another Backup or Restore of the store runs. A backup with no data at
// all is refused.
func (s *Store) Restore(ctx context.Context, r io.Reader, force bool) error {
	done, err := s.beginReplace(ctx, force)
	if err != nil {
		return err
	}
	defer done()
	f, hasRoom, err := spoolBackup(ctx, r)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if force && !hasRoom {
		if st, err := s.Stats(ctx); err != nil {
			return err
		} else if st.Rooms > 0 {
			return fmt.Errorf("guestgate store: restore: %w (%d rooms): nothing was changed", guestlink.ErrWouldEmpty, st.Rooms)
		}
	}
	return s.replace(ctx, "restore", f, force)
}

// beginReplace starts a Restore or a Load: it takes maintMu
// (guestlink.ErrStoreBusy while a Backup, Restore, Dump or Load runs) and,
// unless force, refuses a store that holds records before the input is read
// (replace checks again). done releases maintMu.
func (s *Store) beginReplace(ctx context.Context, force bool) (done func(), err error) {
	if !s.maintMu.TryLock() {
		return nil, guestlink.ErrStoreBusy
	}
	if err := s.begin(ctx); err != nil {
		s.maintMu.Unlock()
		return nil, err
	}
	if !force {
		if err := s.view(ctx, checkEmpty); err != nil {
			s.maintMu.Unlock()
			return nil, err
		}
	}
	return s.maintMu.Unlock, nil
}

// replace replaces the store's contents with the backup stream in f, checked
// whole (by spoolBackup or spoolRecords), while every other transaction of
// the store waits: unless force, it refuses a store that holds records
// (checkEmpty); it drops everything and loads f. ctx may stop it only before
// the drop; from then on it loads f to its end, and Close waits for it. If
// loading fails (a disk error), the store is left empty rather than holding
// part of f, and so is it when the process dies meanwhile, at the next Open
// (dropInterrupted). The mirror and the WaitGuest callers follow. op names
// the operation in errors ("restore").
func (s *Store) replace(ctx context.Context, op string, f *os.File, force bool) error {
	s.restoreMu.Lock()
	defer s.restoreMu.Unlock()
	if s.db.IsClosed() {
		return ErrClosed
	}
	err := ctx.Err()
	if err == nil && !force {
		err = s.db.View(checkEmpty)
	}
	if err != nil {
		return fmt.Errorf("guestgate store: %s into %s: %w", op, s.dir, err)
	}
	// From the drop on, whatever comes of it, WaitGuest callers read again,
	// and the mirror holds what the store holds.
	defer s.waiters.SignalPrefix("")
	err = s.dropAndLoad(op, f)
	if merr := s.loadMirror(); err == nil {
		err = merr
	}
	return err
}

// dropAndLoad is replace's part that changes the store: it drops everything
// and loads f, between the writing and the deletion of the marker. A load
// that fails drops what it loaded.
func (s *Store) dropAndLoad(op string, f *os.File) error {
	// Everything goes, also in a store that held only secrets: the backup's
	// keys are loaded at the versions they had, and an old deletion marker
	// at a higher version would hide them.
	err := s.db.DropAll()
	if err == nil {
		// Until the load has ended, a marker says that it runs: a process
		// that dies meanwhile leaves it, and the next Open drops the part
		// loaded (dropInterrupted).
		err = s.db.Update(func(txn *badgerdb.Txn) error {
			v, _ := json.Marshal(replacing{Op: op, Began: time.Now().UTC()})
			return txn.Set([]byte(keyReplacing), v)
		})
	}
	if err != nil {
		return fmt.Errorf("guestgate store: %s into %s: %w", op, s.dir, err)
	}
	if s.afterDrop != nil {
		s.afterDrop()
	}
	// The old contents are gone: the load goes on to its end even if ctx
	// ends now (a client that went away, Ctrl-C on the command), since
	// stopping it would leave the store empty or holding part of f. f is a
	// local file, checked whole, so the load is short.
	err = s.db.Load(f, restorePendingWrites)
	if err == nil {
		err = s.db.Sync()
	}
	if err != nil {
		// A part loaded is no store to serve: it goes, and the marker with
		// it; if even that fails, the next Open drops it.
		err = fmt.Errorf("guestgate store: %s into %s: loading: %w", op, s.dir, err)
		if derr := s.db.DropAll(); derr != nil {
			err = fmt.Errorf("%w; the part loaded stays until the store is opened again: %v", err, derr)
		}
		return err
	}
	if err := s.db.Update(func(txn *badgerdb.Txn) error { return txn.Delete([]byte(keyReplacing)) }); err != nil {
		return fmt.Errorf("guestgate store: %s into %s: %w", op, s.dir, err)
	}
	return nil
}

// keyReplacing is the key of the marker that a Restore or a Load writes once
// it has dropped the old contents, and deletes once the new ones are loaded.
const keyReplacing = "replacing"

// replacing is the marker's value.
type replacing struct {
	Op    string    `json:"op"`
	Began time.Time `json:"began"`
}

// dropInterrupted empties a store whose last Restore or Load stopped before
// its end (the process died: the marker is there), rather than serve the part
// it loaded: rooms without their links, guests without their keys. The
// contents before it were dropped already; the operator runs the restore or
// import again. logger, if not nil, is told.
func (s *Store) dropInterrupted(logger *zap.Logger) error {
	var m replacing
	err := s.db.View(func(txn *badgerdb.Txn) error {
		it, err := txn.Get([]byte(keyReplacing))
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			_ = json.Unmarshal(v, &m) // a marker that does not decode is still one
			return nil
		})
	})
	if errors.Is(err, badgerdb.ErrKeyNotFound) {
		return nil
	}
	if err == nil {
		err = s.db.DropAll()
	}
	if err != nil {
		return fmt.Errorf("dropping what an interrupted restore loaded: %w", err)
	}
	if logger != nil {
		logger.Error("the last restore or import into this store stopped before its end: the part it loaded was dropped and the store is empty; run it again",
			zap.String("dir", s.dir), zap.String("operation", m.Op), zap.Time("began", m.Began))
	}
	return nil
}

// recordPrefixes are the key prefixes of the records that make a store not
// empty for Restore: rooms, links and guests, with their indexes. Secrets and
// queue items (webhook deliveries, and the meta record a queue keeps after its
// last item was delivered) are not records.
var recordPrefixes = []string{prefixRoom, prefixLink, prefixToken, prefixGuest, prefixNewest}

// checkEmpty returns guestlink.ErrStoreNotEmpty if txn sees any key under
// recordPrefixes.
func checkEmpty(txn *badgerdb.Txn) error {
	for _, prefix := range recordPrefixes {
		opts := badgerdb.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte(prefix)
		it := txn.NewIterator(opts)
		it.Rewind()
		found := it.Valid()
		it.Close()
		if found {
			return guestlink.ErrStoreNotEmpty
		}
	}
	return nil
}

// spoolBackup copies a backup stream from r into a new temporary file, checking
// that it is a sequence of whole frames that each hold a KVList, and that it
// holds at least one key besides the marker, which it leaves out
// (withoutMarker). It returns the file positioned at its start; the
// caller closes and removes it.
func spoolBackup(ctx context.Context, r io.Reader) (_ *os.File, hasRoom bool, err error) {
	var rooms roomScan
	f, err := spoolFile("restore", "the backup", func(bw *bufio.Writer) error {
		br := bufio.NewReaderSize(ctxReader{ctx: ctx, r: r}, 64<<10)
		var buf []byte
		keys := 0
		for frame := 1; ; frame++ {
			var size uint64
			if err := binary.Read(br, binary.LittleEndian, &size); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return badBackup(frame, "truncated frame length", err)
			}
			if size > maxBackupFrame {
				return badBackup(frame, fmt.Sprintf("frame of %d bytes is over the %d limit: this is not a backup", size, maxBackupFrame), nil)
			}
			if uint64(cap(buf)) < size {
				buf = make([]byte, size)
			}
			buf = buf[:size]
			if _, err := io.ReadFull(br, buf); err != nil {
				return badBackup(frame, "truncated frame", err)
			}
			var list pb.KVList
			if err := proto.Unmarshal(buf, &list); err != nil {
				return badBackup(frame, "frame is not a list of keys", err)
			}
			out, err := withoutMarker(&list, buf)
			if err != nil {
				return fmt.Errorf("guestgate store: restore: spooling the backup: %w", err)
			}
			keys += len(list.Kv)
			for _, kv := range list.Kv {
				rooms.add(kv)
			}
			if err := binary.Write(bw, binary.LittleEndian, uint64(len(out))); err != nil {
				return fmt.Errorf("guestgate store: restore: spooling the backup: %w", err)
			}
			if _, err := bw.Write(out); err != nil {
				return fmt.Errorf("guestgate store: restore: spooling the backup: %w", err)
			}
		}
		if keys == 0 {
			return fmt.Errorf("guestgate store: restore: %w: it holds no data", guestlink.ErrBadBackup)
		}
		return nil
	})
	return f, rooms.found, err
}

// badgerBitDelete is the bit of a key's Meta byte in a backup stream that
// marks a deletion (Badger v4's bitDelete).
const badgerBitDelete = 1 << 0

// roomScan tells, fed a backup stream's keys in order, whether it holds a
// room that is not deleted: Badger writes each key's versions newest first,
// the newest with badgerBitDelete if the key was deleted last.
type roomScan struct {
	last  string
	found bool
}

func (rs *roomScan) add(kv *pb.KV) {
	k := string(kv.Key)
	if k == rs.last {
		return // an older version
	}
	rs.last = k
	if strings.HasPrefix(k, prefixRoom) && (len(kv.Meta) == 0 || kv.Meta[0]&badgerBitDelete == 0) {
		rs.found = true
	}
}

// withoutMarker removes the marker key of a Restore or a Load (keyReplacing)
// from list, decoded from the frame buf, and returns the frame to spool: buf,
// or list encoded again if it held the marker. A backup holds the marker of
// the store it was made of: its deletion, at the version it had there, or the
// marker itself, left by a load that failed. Loaded, either would stand for
// the marker of the restore that loads it, and the deletion would hide it
// where the backup's versions are above the store's.
func withoutMarker(list *pb.KVList, buf []byte) ([]byte, error) {
	kept := list.Kv[:0]
	for _, kv := range list.Kv {
		if string(kv.Key) != keyReplacing {
			kept = append(kept, kv)
		}
	}
	if len(kept) == len(list.Kv) {
		return buf, nil
	}
	list.Kv = kept
	return proto.Marshal(list)
}

// spoolFile writes a new temporary file through write, in a buffer, and returns
// it positioned at its start; the caller closes and removes it. When write
// or the file fails, the file is removed. op and what name the operation and
// what it spools in errors.
func spoolFile(op, what string, write func(*bufio.Writer) error) (_ *os.File, err error) {
	f, err := os.CreateTemp("", "guestgate-"+op+"-*")
	if err != nil {
		return nil, fmt.Errorf("guestgate store: %s: %w", op, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 64<<10)
	if err := write(w); err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("guestgate store: %s: spooling %s: %w", op, what, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("guestgate store: %s: %w", op, err)
	}
	return f, nil
}

func badBackup(frame int, what string, err error) error {
	if err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return err
	}
	if err != nil {
		return fmt.Errorf("guestgate store: restore: %w: frame %d: %s: %v", guestlink.ErrBadBackup, frame, what, err)
	}
	return fmt.Errorf("guestgate store: restore: %w: frame %d: %s", guestlink.ErrBadBackup, frame, what)
}

// ctxWriter fails its writes once ctx is done, so that a backup to a client
// that went away stops.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// ctxReader fails its reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Interface guards
var _ guestlink.Backupper = (*Store)(nil)

// Package badger implements guestlink.Store on an embedded Badger v4 database: one
// process, one directory (docs/DESIGN.md sections 4 and 5). Caddy shares one Store per
// directory across config reloads (Badger locks its directory, so a second Open of
// the same directory fails until the first Store is closed).
//
// Every state change is exactly one read-write Badger transaction that re-reads the
// records it depends on and re-checks the domain rules of package guestlink on them
// (CheckGuestAccess, CheckNewLink, CheckLinkOpen); Badger's conflict detection makes
// a transaction that raced with another one fail at commit, and the Store retries it
// from the start. That is what keeps a link with MaxClicks N at exactly N
// redemptions under any concurrency.
//
// Key layout (room ids are [A-Za-z0-9._-], so '/' separates safely; values are JSON
// unless said otherwise):
//
//	room/<room>                   guestlink.Room
//	link/<room>/<link id>         guestlink.Link
//	inv/<room>/<invitation id>    guestlink.Invitation
//	tok/<hex sha256 of token>     "<room>/<link or invitation id>" (raw), the token index
//	guest/<room>/<guest id>       guestlink.Guest
//	gnew/<room>/<rev>/<guest id>  empty, the guest list index (newest first)
//	secret/<name>                 raw random bytes
//	replacing                     what a Restore or a Load that runs is and when it began (JSON)
//
// <rev> is 16 lowercase hex digits of math.MaxInt64 minus the guest's RedeemedAt
// in Unix nanoseconds, so that key order is newest first, then by guest id. The
// index key is written with the guest record (Redeem) and deleted with it
// (DeleteRoom, a purge). A guest record with a PurgeAt, and its index key, carry
// a Badger TTL that ends at PurgeAt (retention): Badger stops returning them then
// and drops them at compaction.
//
// Link tokens are stored in the link record, which the admin API returns, but the
// index only holds their SHA-256, so a key listing never shows a usable token.
package badger

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/ristretto/v2/z"
	"go.uber.org/zap"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/guestlink/mirror"
	"github.com/guestgate/guestgate/internal/waiters"
)

// Sizes of the Badger database, chosen for a small gateway that keeps a few
// thousand small records rather than for Badger's big-server defaults (64 MiB
// memtables x 5, a 256 MiB block cache and 1 GiB value log files).
const (
	// memTableSize is the size of one memtable, in bytes. It also bounds one
	// transaction: Badger refuses a transaction above 15% of it (about 1.2 MiB, or
	// some 12,000 deletions) with ErrTxnTooBig.
	memTableSize = 8 << 20
	// numMemtables is how many memtables may be held in memory at once.
	numMemtables = 2
	// blockCacheSize is the block cache, in bytes.
	blockCacheSize = 8 << 20
	// indexCacheSize is the table index and bloom filter cache, in bytes.
	indexCacheSize = 4 << 20
	// valueLogFileSize is the size of one value log file, in bytes.
	valueLogFileSize = 16 << 20
	// numLevelZeroTables is how many level-0 tables start a compaction, and
	// numLevelZeroTablesStall how many stall writes until it catches up.
	numLevelZeroTables      = 2
	numLevelZeroTablesStall = 4
	// numCompactors is the number of compaction goroutines (Badger needs 2 or more).
	numCompactors = 2
)

// Retries of conflicting transactions.
const (
	// maxAttempts is how many times one state change is tried before it gives up
	// with an error wrapping badger.ErrConflict.
	maxAttempts = 50
	// maxBackoff caps the randomized pause between two attempts.
	maxBackoff = 5 * time.Millisecond
	// linkStripes is the number of per-link mutexes that serialize redemptions of
	// one link inside the process.
	linkStripes = 64
	// queueStripes is the number of per-queue mutexes that serialize the
	// changes of one queue inside the process.
	queueStripes = 16
)

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("guestgate store is closed")

// Options configures Open. The zero value is ready to use.
type Options struct {
	// Logger receives Badger's own log messages of level warning and above
	// (Badger's informational and debug messages are dropped), as given (name it,
	// for example logger.Named("badger")). Nil discards all of them.
	Logger *zap.Logger
}

// Store is a guestlink.Store on a Badger database. It is safe for concurrent use
// by many goroutines. Make one with Open and release it with Close.
type Store struct {
	db  *badgerdb.DB
	dir string

	// linkLocks serializes redemptions of one link in this process (chosen by the
	// FNV-1a hash of the link token), so that a hot link does not turn into a storm
	// of conflicting transactions.
	linkLocks [linkStripes]sync.Mutex
	// queueLocks serializes the changes of one queue (Enqueue, Retry, Ack) in
	// this process, chosen by the hash of the queue's name: every change of a
	// queue reads and writes its meta record, so goroutines changing one queue
	// at once would otherwise conflict until update gives up.
	queueLocks [queueStripes]sync.Mutex

	// retries counts transactions that were retried after a conflict (for tests
	// and diagnostics).
	retries atomic.Int64
	// waiters wakes WaitGuest callers when a guest changes.
	waiters waiters.Registry
	// mirror holds the state the gate checks on every request (live.go).
	mirror *mirror.Mirror
	// maxAttempts bounds the attempts of one update (the maxAttempts constant;
	// tests lower it).
	maxAttempts int

	closeMu sync.Mutex
	closed  bool

	// restoreMu lets Restore replace the database's contents while no
	// transaction runs: update and view hold it shared, Restore exclusively.
	restoreMu sync.RWMutex
	// maintMu is held by a running Backup or Restore; a second one is refused
	// with guestlink.ErrStoreBusy rather than queued.
	maintMu sync.Mutex
	// afterDrop, if set, runs when a Restore or a Load has dropped the old
	// contents and is about to load the new ones (tests end the context
	// there).
	afterDrop func()
}

// Open opens the store in directory dir, creating dir with mode 0700 (and missing
// parents) if it does not exist, and making an existing dir 0700 if it lets its
// group or others in (keepPrivate). Writes are synced to disk before they are
// acknowledged. Badger locks dir: if another Store, in this process or another,
// has it open, Open fails with an error saying so.
func Open(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("guestgate store: no directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("guestgate store: creating directory: %w", err)
	}
	keepPrivate(dir, opts.Logger)
	bopts := badgerdb.DefaultOptions(dir).
		WithSyncWrites(true).
		WithDetectConflicts(true).
		WithMemTableSize(memTableSize).
		WithNumMemtables(numMemtables).
		WithBlockCacheSize(blockCacheSize).
		WithIndexCacheSize(indexCacheSize).
		WithValueLogFileSize(valueLogFileSize).
		WithNumLevelZeroTables(numLevelZeroTables).
		WithNumLevelZeroTablesStall(numLevelZeroTablesStall).
		WithNumCompactors(numCompactors).
		WithLogger(newLogger(opts.Logger))
	db, err := badgerdb.Open(bopts)
	if err != nil && isEmptyLogLeftover(err) {
		// The failed Open has sized the empty file and written its header, so
		// a second Open reads it as an empty memtable or value log and goes on.
		db, err = badgerdb.Open(bopts)
	}
	if err != nil {
		if isLocked(err) {
			return nil, fmt.Errorf("store %s is already open in another process; use 'caddy reload' "+
				"to change the configuration of a running Caddy, or stop the other process first: %w", dir, err)
		}
		return nil, fmt.Errorf("guestgate store: opening %s: %w", dir, err)
	}
	s := &Store{db: db, dir: dir, maxAttempts: maxAttempts, mirror: mirror.New()}
	if err := s.dropInterrupted(opts.Logger); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("guestgate store: opening %s: %w", dir, err)
	}
	if err := s.loadMirror(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("guestgate store: reading %s: %w", dir, err)
	}
	return s, nil
}

// keepPrivate makes dir 0700 when its mode lets its group or others in. The
// store's files hold every link token, the session signing key and the
// guests' names and emails, and Badger creates them with the process's
// umask, usually readable by everyone (0644): only the directory keeps them
// private. A directory the operator made beforehand (mkdir, install -d) is
// usually 0755. When dir cannot be changed (another user owns it), logger,
// if not nil, gets a warning saying what to do.
func keepPrivate(dir string, logger *zap.Logger) {
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		if logger != nil {
			logger.Warn("the store directory lets other users in, and its files hold link tokens and keys; make it 0700 (chmod 700)",
				zap.String("dir", dir), zap.String("mode", fi.Mode().Perm().String()), zap.Error(err))
		}
		return
	}
	if logger != nil {
		logger.Warn("made the store directory 0700: its files hold link tokens and keys",
			zap.String("dir", dir), zap.String("was", fi.Mode().Perm().String()))
	}
}

// isEmptyLogLeftover reports whether err is Badger's refusal of an empty (0-byte)
// memtable or value log file. A process killed between creating such a file and
// sizing it leaves one behind, and Badger v4.9 then fails its next Open with
// z.NewFile ("Create a new file") although the file holds nothing; the Open after
// that succeeds (dgraph-io/badger#2207, unfixed in the pinned release). Badger
// formats the error into a string, so the message is matched. The failed Open
// leaks its key registry file and a mapping of the empty file, once.
func isEmptyLogLeftover(err error) bool {
	return strings.Contains(err.Error(), z.NewFile.Error())
}

// isLocked reports whether err is Badger's refusal of a directory that another
// open database holds. Badger formats the flock error into a string outside its
// debug builds, so the message is matched as well.
func isLocked(err error) bool {
	return errors.Is(err, syscall.EWOULDBLOCK) ||
		strings.Contains(strings.ToLower(err.Error()), "directory lock")
}

// Close closes the database. It is safe to call more than once; the calls after
// the first return nil. Every other method returns ErrClosed afterwards.
func (s *Store) Close() error {
	// A Restore or a Load that runs is let finish first: stopped, it would
	// leave part of its records.
	s.restoreMu.Lock()
	defer s.restoreMu.Unlock()
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	// Wake every WaitGuest caller: they read again and get ErrClosed.
	defer s.waiters.SignalPrefix("")
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("guestgate store: closing %s: %w", s.dir, err)
	}
	return nil
}

// begin checks what every transaction checks before it starts.
func (s *Store) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.db.IsClosed() {
		return ErrClosed
	}
	return nil
}

// update runs fn in one read-write transaction and commits it. When the commit
// fails with badger.ErrConflict (another transaction wrote a key fn read), it runs
// fn again in a new transaction after a short randomized pause, up to
// s.maxAttempts times in all; then it returns an error wrapping ErrConflict. fn
// must therefore compute everything from what it reads in txn and set its results
// afresh on each run. Any error of fn discards the transaction and is returned
// unchanged. ctx is checked before each attempt.
func (s *Store) update(ctx context.Context, fn func(txn *badgerdb.Txn) error) error {
	for attempt := 1; ; attempt++ {
		if err := s.begin(ctx); err != nil {
			return err
		}
		s.restoreMu.RLock()
		txn := s.db.NewTransaction(true)
		err := fn(txn)
		if err == nil {
			err = txn.Commit()
		}
		txn.Discard()
		s.restoreMu.RUnlock()
		if !errors.Is(err, badgerdb.ErrConflict) {
			return err
		}
		if attempt >= s.maxAttempts {
			return fmt.Errorf("guestgate store: transaction still conflicting after %d attempts: %w", attempt, err)
		}
		s.retries.Add(1)
		// Randomized, growing pause so that racing writers spread out.
		limit := min(time.Duration(attempt)*100*time.Microsecond, maxBackoff)
		t := time.NewTimer(rand.N(limit) + 1)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// view runs fn in one read-only transaction.
func (s *Store) view(ctx context.Context, fn func(txn *badgerdb.Txn) error) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	s.restoreMu.RLock()
	defer s.restoreMu.RUnlock()
	return s.db.View(fn)
}

// linkLock returns the mutex that serializes redemptions of the link with token.
func (s *Store) linkLock(token string) *sync.Mutex { return stripe(s.linkLocks[:], token) }

// queueLock returns the mutex that serializes the changes of queue.
func (s *Store) queueLock(queue string) *sync.Mutex { return stripe(s.queueLocks[:], queue) }

// stripe returns the mutex of locks that key hashes to (FNV-1a).
func stripe(locks []sync.Mutex, key string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(key))
	return &locks[h.Sum32()%uint32(len(locks))]
}

// zapLogger routes Badger's log messages of level warning and above to a zap
// logger; informational and debug messages are dropped.
type zapLogger struct{ l *zap.Logger }

// newLogger returns the Badger logger for l: nil (silent) if l is nil.
func newLogger(l *zap.Logger) badgerdb.Logger {
	if l == nil {
		return nil
	}
	return zapLogger{l: l}
}

func (z zapLogger) Errorf(format string, args ...any) {
	if z.l.Core().Enabled(zap.ErrorLevel) {
		z.l.Error(strings.TrimSpace(fmt.Sprintf(format, args...)))
	}
}

func (z zapLogger) Warningf(format string, args ...any) {
	if z.l.Core().Enabled(zap.WarnLevel) {
		z.l.Warn(strings.TrimSpace(fmt.Sprintf(format, args...)))
	}
}

func (zapLogger) Infof(string, ...any)  {}
func (zapLogger) Debugf(string, ...any) {}

// Interface guards
var (
	_ guestlink.Store = (*Store)(nil)
	_ badgerdb.Logger = zapLogger{}
)

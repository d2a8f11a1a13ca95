// Package postgres implements guestlink.Store, guestlink.Queuer and
// guestlink.QueueLeaser on PostgreSQL 15 or newer, for any number of
// guestgate instances that share one database (docs/DESIGN.md section 6).
//
// Every rule of the domain holds across instances without a lock in Go:
//
//   - A redemption is one statement, a transaction of its own, whose click
//     is a conditional UPDATE of the link (clicks below max_clicks, not
//     expired, the room available, guest access on, not a gallery), with the
//     guest's INSERT; the link's row lock orders concurrent redemptions on every
//     instance, so a link with max clicks N admits exactly N guests. When the
//     UPDATE changes nothing, a read says why, in guestlink.CheckLinkOpen's
//     order.
//   - An invitation is redeemed the same way (uses below max_uses, open
//     already, not expired, the room available, not a gallery; the guest
//     access switch does not govern invitations), so one with max uses N
//     admits exactly N guests.
//   - A link is created only in the transaction of the UPDATE that raises its
//     room's link_count below max_links; DeleteLink lowers it. Invitations
//     have invitation_count and max_invitations alike.
//   - A room or a guest changes under the row lock of a SELECT ... FOR NO
//     KEY UPDATE, by the domain's rules (RoomSpec.Apply, CheckGuestAccess,
//     Transition) applied to what it read.
//
// Each Store keeps the state the gate decides on in a guestlink/mirror, so
// that Check and Generation never read the database (but for a guest's first
// Check on this instance). Every write that changes that state raises the
// database's generation in its own transaction, records the change in the
// change log gg_changes under that number and sends a NOTIFY; each Store
// listens on a connection of its own, reads the log after every
// notification and at least every PollInterval, reads the changed rows back
// into its mirror and wakes the WaitGuest callers of the guests that changed.
// A Store that has fallen behind what the log keeps reloads its mirror. See
// live.go.
//
// When PostgreSQL cannot be reached, calls fail within the connect timeout
// (or the caller's deadline) with an error wrapping
// guestlink.ErrStoreUnavailable, and Check answers from the mirror for at
// most MaxStale after the listener's last successful read of the log. The
// Store recovers by itself: the pool connects again on the next call and the
// listener reconnects with backoff and catches up from the log. A commit
// whose answer was lost with the connection is reported as unavailable too,
// though it may have happened (a redemption then spent its click: never one
// more than the limit).
//
// The durable queues of webhook deliveries are shared too: each queue's lease
// names the one instance that delivers its items (LeaseQueue), and runs out
// on the database's clock when that instance stops renewing it, so that
// another takes over.
//
// The schema (schema/*.sql) is applied by Open under an advisory lock. Every
// instant is stored as Unix nanoseconds, but for a lease's end, a time of the
// database's clock. Link and invitation tokens are stored with the link or
// invitation (the admin API shows them) and looked up by their SHA-256; the
// two live in tables of their own, so that a link's token never finds an
// invitation and the other way round.
//
// The Store does not implement guestlink.Backupper: a backup of a PostgreSQL
// database is PostgreSQL's (pg_dump). It implements guestlink.Dumper, the
// store-neutral export and import (dump.go), which moves a store from Badger
// to PostgreSQL and back.
//
// The DSN's password never appears in an error or a log line of this
// package.
package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/guestlink/mirror"
	"github.com/guestgate/guestgate/internal/waiters"
)

// Defaults of Options.
const (
	// DefaultMaxStale is how long Check answers from the mirror after the last
	// successful read of the change log (docs/DESIGN.md section 6, max_stale).
	DefaultMaxStale = 30 * time.Second
	// DefaultPollInterval is how often the listener reads the change log
	// without a notification: what a lost notification, or a connection
	// pooler that does not pass LISTEN on, costs at most.
	DefaultPollInterval = time.Second
	// DefaultSweepInterval is how often purged guest records are deleted and
	// the change log is pruned (by one instance at a time).
	DefaultSweepInterval = time.Minute
	// DefaultConnectTimeout bounds one connection attempt when the DSN sets no
	// connect_timeout, so that calls fail fast while PostgreSQL is down.
	DefaultConnectTimeout = 3 * time.Second
)

// Limits of the store.
const (
	// MaxSecretSize is the largest secret Secret makes, in bytes.
	MaxSecretSize = 1024
	// maxAttempts is how often a transaction is tried when it ran into a
	// deadlock, a serialization failure or a row that changed between two of
	// its statements.
	maxAttempts = 10
	// loadTimeout bounds the read of a guest that Check does not hold, and the
	// reads of WaitGuest after its context ended.
	loadTimeout = 5 * time.Second
)

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("guestgate store is closed")

// Options configures Open. The zero value is ready to use.
type Options struct {
	// Logger receives the store's state changes: the schema applied, the
	// database lost and back, a reload of the live state. Nil discards them.
	Logger *slog.Logger
	// MaxStale is how long Check keeps answering from the live state after
	// the last successful read of the change log; then it returns
	// guestlink.ErrStoreUnavailable until the database is back.
	// Default DefaultMaxStale (30s).
	MaxStale time.Duration
	// PollInterval is how often the listener reads the change log when no
	// notification came. Default DefaultPollInterval (1s).
	PollInterval time.Duration
	// Wait is how long Open keeps trying while the database cannot be
	// reached (a machine booting, PostgreSQL restarting with Caddy): every
	// second at first, then at most every 5 s, each failed attempt logged.
	// Zero tries once.
	Wait time.Duration
	// SweepInterval is how often one of the instances deletes the guest
	// records whose purge time passed (reads treat them as gone at once) and
	// prunes the change log. Default DefaultSweepInterval (1 minute).
	SweepInterval time.Duration
}

// Store is a guestlink.Store and guestlink.Queuer on a PostgreSQL database.
// It is safe for concurrent use by many goroutines, and any number of Stores,
// in this process or others, may share one database. Make one with Open and
// release it with Close.
type Store struct {
	pool     *pgxpool.Pool
	connConf *pgx.ConnConfig // the listener's connection, without a password
	log      *slog.Logger
	opts     Options // MaxStale and PollInterval as opened; tuned holds them now
	// dsnRest is the DSN without its password, as Open had it: Retune takes
	// a DSN that differs from it in the password alone.
	dsnRest string
	// tuned holds what Retune may change while the Store is open.
	tuned atomic.Pointer[tuning]
	// passwords are every password the Store has had, to scrub from error
	// texts (under passwordsMu).
	passwords   []string
	passwordsMu sync.Mutex

	// mirror holds the state the gate checks on every request (live.go).
	mirror *mirror.Mirror
	// waiters wakes WaitGuest callers when a guest changes.
	waiters waiters.Registry
	// applyMu orders the changes of the mirror that come from the database:
	// the listener reads the log and the rows it names and applies them while
	// holding it, and a write of this Store applies its own result while
	// holding it, so that a later read always wins.
	applyMu sync.Mutex
	// synced is the generation of the database that the mirror holds all
	// changes up to (under applyMu).
	synced atomic.Int64
	// seen is the snapshot (a pg_snapshot as text) of the last read of the
	// live state: the next read takes in the guests stored by the
	// transactions it could not see (readNewGuests; under applyMu).
	seen string
	// epoch is when the Store opened (with the monotonic clock); lastSync is
	// the time of the last successful read of the change log, in nanoseconds
	// since epoch.
	epoch    time.Time
	lastSync atomic.Int64
	// listening is true while the listener's connection is up.
	listening atomic.Bool
	// unreachable and failed count the database errors of operations (Live):
	// the database could not be reached, or it refused a statement.
	unreachable, failed atomic.Int64
	// serving is true once Open has returned the Store. From then on, a
	// server that refuses a new connection's login (a password changed by
	// ALTER ROLE before the reload that gives it to Retune) counts as a
	// database that cannot be reached, not as a wrong DSN.
	serving atomic.Bool
	// secrets holds the secrets read (name -> []byte), for Secret while the
	// database cannot be reached.
	secrets sync.Map
	// now is the clock of reads that take none (retention); time.Now.
	now func() time.Time
	// keepChanges is how long the change log keeps a change (changeRetention;
	// tests lower it).
	keepChanges time.Duration

	ctx    context.Context // ends at Close: the listener and the sweeper
	cancel context.CancelFunc
	bg     sync.WaitGroup
	closed atomic.Bool
	once   sync.Once
}

// tuning is the part of a Store's settings that Retune changes.
type tuning struct {
	password       string // of new connections
	maxStale, poll time.Duration
	// errStale is Check's error once the live state is older than maxStale
	// (made once: Check does not allocate).
	errStale error
}

func newTuning(password string, maxStale, poll time.Duration) *tuning {
	return &tuning{password, maxStale, poll,
		fmt.Errorf("guestgate store: the live state was last read from the database more than %v ago: %w", maxStale, guestlink.ErrStoreUnavailable)}
}

// errDSN is the error for a DSN that does not parse: pgx masks the password
// in its errors only on a best-effort basis, so nothing of the text is said.
var errDSN = errors.New("guestgate store: the PostgreSQL DSN does not parse (it is not repeated here, as it may hold a password)")

// ErrRestartNeeded is Retune's error for a DSN that differs from the open
// Store's in more than its password: Retune gave the Store what it could,
// and the rest needs a new Store.
var ErrRestartNeeded = errors.New("guestgate store: the DSN differs in more than its password; " +
	"its password, max_stale and poll_interval apply, the rest of it after a restart")

// Retune gives the open Store the password of dsn, for its new connections,
// and maxStale and poll for Options.MaxStale and PollInterval (0: their
// defaults), as a configuration reload asks. The connections open stay. dsn
// must name the Store's database, host, port and user; where it differs from
// the Store's in more than its password (its TLS settings, say), Retune
// still gives all three and answers ErrRestartNeeded, so that a change that
// waits for a restart does not hold back a later password. A DSN that does
// not parse is an error that repeats none of it.
func (s *Store) Retune(dsn string, maxStale, poll time.Duration) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return errDSN
	}
	if cfg.Database != s.connConf.Database || cfg.User != s.connConf.User || cfg.Host != s.connConf.Host || cfg.Port != s.connConf.Port {
		return errors.New("guestgate store: the DSN names another database, host or user than the open Store's")
	}
	s.scrub(cfg.Password)
	s.tuned.Store(newTuning(cfg.Password, cmp.Or(maxStale, DefaultMaxStale), cmp.Or(poll, DefaultPollInterval)))
	if withoutPassword(dsn) != s.dsnRest {
		return ErrRestartNeeded
	}
	return nil
}

// scrubbed returns msg with every password the Store has had masked.
func (s *Store) scrubbed(msg string) string {
	s.passwordsMu.Lock()
	defer s.passwordsMu.Unlock()
	for _, pw := range s.passwords {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return msg
}

// CheckLogin tells whether the server lets the Store's user log in with the
// password of dsn, as a reload is about to give it (Retune): it makes one
// connection with it, unless it is the Store's password already. Its error,
// which repeats no password, means that the server refused the login; a
// database that cannot be reached passes, as a reload in an outage must
// run. A DSN that does not parse is an error that repeats none of it.
func (s *Store) CheckLogin(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return errDSN
	}
	if cfg.Password == s.tuned.Load().password {
		return nil
	}
	s.scrub(cfg.Password)
	cc := s.connConf.Copy()
	cc.Password = cfg.Password
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err == nil {
		return conn.Close(ctx)
	}
	if !loginRefused(err) {
		return nil
	}
	return errors.New("guestgate store: the database refuses the new DSN's password: " + s.scrubbed(err.Error()))
}

// scrub adds password to those that error texts never show.
func (s *Store) scrub(password string) {
	s.passwordsMu.Lock()
	defer s.passwordsMu.Unlock()
	if password != "" && !slices.Contains(s.passwords, password) {
		s.passwords = append(s.passwords, password)
	}
}

// Open connects to the database of dsn (a libpq URL or key=value string;
// pgxpool's pool_* settings apply), applies the schema if the database's is
// older (or absent) and refuses one that is newer than this package knows,
// reads the live state and starts the listener and the sweeper. A connection
// attempt gives up after the DSN's connect_timeout, DefaultConnectTimeout if
// it sets none; while the database cannot be reached, Open tries again for
// opts.Wait. An error never holds the DSN's password; when the database
// cannot be reached it wraps guestlink.ErrStoreUnavailable.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	giveUp := time.Now().Add(opts.Wait)
	for pause := time.Second; ; pause = min(2*pause, 5*time.Second) {
		s, err := open(ctx, dsn, opts)
		left := time.Until(giveUp)
		if !errors.Is(err, guestlink.ErrStoreUnavailable) || left <= 0 {
			return s, err
		}
		// The last attempt comes when Wait is over, not a pause before it.
		pause = min(pause, left)
		if opts.Logger != nil {
			opts.Logger.Warn("the database cannot be reached: trying again", "in", pause, "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(pause):
		}
	}
}

// open is one attempt of Open.
func open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errDSN
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	// A pooled connection idle for a second is pinged before use (pgxpool's
	// default); a ping that hangs must not hang the call.
	cfg.PingTimeout = cfg.ConnConfig.ConnectTimeout
	if opts.MaxStale <= 0 {
		opts.MaxStale = DefaultMaxStale
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		connConf:    cfg.ConnConfig.Copy(),
		log:         logger,
		opts:        opts,
		dsnRest:     withoutPassword(dsn),
		mirror:      mirror.New(),
		epoch:       time.Now(),
		now:         time.Now,
		keepChanges: changeRetention,
	}
	password := cfg.ConnConfig.Password
	s.connConf.Password = ""
	s.scrub(password)
	s.tuned.Store(newTuning(password, opts.MaxStale, opts.PollInterval))
	// Every new connection takes the password of the moment (Retune).
	cfg.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error {
		cc.Password = s.tuned.Load().password
		return nil
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, s.dbError(ctx, "opening the pool", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	if err := s.reload(ctx, s.pool); err != nil {
		s.pool.Close()
		return nil, s.dbError(ctx, "reading the live state", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.bg.Add(2)
	go s.listen()
	go s.sweep()
	s.serving.Store(true)
	return s, nil
}

// Close stops the listener and the sweeper, closes the pool and wakes every
// WaitGuest caller (they get ErrClosed). It is safe to call more than once.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.cancel()
		s.bg.Wait()
		s.pool.Close()
		s.waiters.SignalPrefix("")
	})
	return nil
}

// begin checks what every call checks before it reads or writes.
func (s *Store) begin(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// errRetry asks tx to run its function again in a new transaction: a row
// changed between two of its statements.
var errRetry = errors.New("guestgate store: retry")

// tx runs fn in one READ COMMITTED transaction and commits it. It runs fn
// again, in a new transaction, when fn or the commit failed with a deadlock,
// a serialization failure or errRetry (fn must compute everything from what
// it reads), and begins again on another connection when the BEGIN failed on
// a pooled connection that the server had closed (a restart, a failover,
// pg_terminate_backend): nothing ran on it. It gives up at once when no
// connection can be made. An error of fn that is not the database's (a
// guestlink error) is returned unchanged; the database's go through dbError.
func (s *Store) tx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if err = s.begin(ctx); err != nil {
			return err
		}
		var tx pgx.Tx
		tx, err = s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
		if err != nil {
			var ce *pgconn.ConnectError
			if errors.As(err, &ce) || ctx.Err() != nil {
				break
			}
			continue // a dead pooled connection, now discarded
		}
		if err = fn(tx); err == nil {
			err = tx.Commit(ctx)
		}
		// A rollback on a broken connection closes it, which is what it needs.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = tx.Rollback(rctx)
		cancel()
		if !retryable(err) {
			break
		}
	}
	return s.finish(ctx, op, err)
}

// one runs fn, whose single statement is a transaction of its own (a WITH of
// several data-modifying statements makes one change of them), on the pool:
// one round trip where tx takes three or more, and row locks held only for
// that statement and its commit. It runs fn again by the rules of tx, and
// also when a pooled connection the server had closed failed before the
// statement was sent.
func (s *Store) one(ctx context.Context, op string, fn func(q *pgxpool.Pool) error) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if err = s.begin(ctx); err != nil {
			return err
		}
		if err = fn(s.pool); !retryable(err) {
			break
		}
	}
	return s.finish(ctx, op, err)
}

// finish turns the last error of tx or one into the Store's.
func (s *Store) finish(ctx context.Context, op string, err error) error {
	if errors.Is(err, errRetry) {
		return fmt.Errorf("guestgate store: %s: the rows kept changing, %d attempts", op, maxAttempts)
	}
	if err != nil && fromDB(err) {
		return s.dbError(ctx, op, err)
	}
	return err
}

// retryable reports whether a transaction that failed with err may be run
// again as it is.
func retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errRetry) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01" // serialization failure, deadlock
	}
	return pgconn.SafeToRetry(err)
}

// fromDB reports whether err came from the database or the connection to it,
// rather than from the domain.
func fromDB(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) || unavailable(err) || errors.Is(err, context.Canceled)
}

// dbError turns an error of the database into the Store's: its text says
// what the store was doing and what went wrong, without the DSN's password;
// it wraps guestlink.ErrStoreUnavailable when the database could not be
// reached, or ctx's error when ctx ended, and nothing of pgx (whose errors
// carry the connection's configuration).
func (s *Store) dbError(ctx context.Context, op string, err error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	e := &dbError{text: "guestgate store: " + op + ": " + s.scrubbed(err.Error())}
	switch {
	case ctx.Err() != nil:
		e.wraps = ctx.Err()
	case unavailable(err), s.serving.Load() && loginRefused(err):
		e.wraps = guestlink.ErrStoreUnavailable
		s.unreachable.Add(1)
	default:
		s.failed.Add(1)
	}
	return e
}

// unavailable reports whether err says that the database could not be
// reached or went away, rather than that it refused the statement.
func unavailable(err error) bool {
	var (
		pe *pgconn.PgError
		ce *pgconn.ConnectError
		ne net.Error
	)
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutdown, crash, starting up
			pe.Code == "53300": // too many connections
			return true
		}
		return false // the server answered: a wrong password, an unknown database, a refused statement
	}
	return errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) || pgconn.SafeToRetry(err)
}

// loginRefused reports whether err says that the server refused to let a new
// connection log in: a wrong password or a role that may not log in (SQLSTATE
// class 28). Open fails at once on it, as the DSN is wrong; an open Store
// serves as in an outage until Retune gives it the new password, so that the
// reload that gives it can run (its handlers read secrets and make rooms as
// in an outage).
func loginRefused(err error) bool {
	var (
		ce *pgconn.ConnectError
		pe *pgconn.PgError
	)
	return errors.As(err, &ce) && errors.As(err, &pe) && strings.HasPrefix(pe.Code, "28")
}

// dbError is an error of the database, scrubbed (see Store.dbError).
type dbError struct {
	text  string
	wraps error
}

func (e *dbError) Error() string { return e.text }
func (e *dbError) Unwrap() error { return e.wraps }

// Interface guards
var (
	_ guestlink.Store       = (*Store)(nil)
	_ guestlink.Queuer      = (*Store)(nil)
	_ guestlink.QueueLeaser = (*Store)(nil)
)

// IsURL reports whether s is a DSN in libpq's URL form: postgres://... or
// postgresql://..., which no directory name is.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// LooksLikeDSN reports whether s, given where a directory was expected, is
// rather the address of a database: a URL of any scheme (so that a misspelt
// "postgress://" counts too) or a libpq key=value string. Either may hold a
// password, so a caller refuses s without repeating it (no directory of a
// Badger store may have "://" or "=" in its name).
func LooksLikeDSN(s string) bool {
	return strings.Contains(s, "://") || strings.Contains(s, "=")
}

// withoutPassword is dsn without its password, such that two DSNs written
// alike but for the password give the same string: a URL with its query
// sorted, or the key=value pairs in their order. A DSN it cannot read comes
// back whole, which matches only itself. It is compared, never shown.
func withoutPassword(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return dsn
		}
		if u.User != nil {
			u.User = url.User(u.User.Username())
		}
		q := u.Query()
		q.Del("password")
		u.RawQuery = q.Encode()
		return u.String()
	}
	// libpq's key = value syntax: a value is quoted ('...') or runs to the
	// next space; a backslash escapes the next character in either.
	space := func(i int) bool { return i < len(dsn) && strings.IndexByte(" \t\n\r\f\v", dsn[i]) >= 0 }
	var kept []string
	for i := 0; ; {
		for space(i) {
			i++
		}
		if i == len(dsn) {
			return strings.Join(kept, " ")
		}
		k := i
		for i < len(dsn) && dsn[i] != '=' && !space(i) {
			i++
		}
		key := dsn[k:i]
		for space(i) {
			i++
		}
		if i == len(dsn) || dsn[i] != '=' {
			return dsn
		}
		i++
		for space(i) {
			i++
		}
		v, quoted := i, i < len(dsn) && dsn[i] == '\''
		if quoted {
			i++
		}
		for i < len(dsn) && (quoted && dsn[i] != '\'' || !quoted && !space(i)) {
			if dsn[i] == '\\' {
				i++
			}
			i++
		}
		if quoted {
			if i >= len(dsn) {
				return dsn
			}
			i++ // the closing quote
		}
		i = min(i, len(dsn))
		if key != "password" {
			kept = append(kept, key+"="+dsn[v:i])
		}
	}
}

// Name describes the database of dsn without its password, as
// postgres://user@host:port/database: what logs, the admin endpoint and the
// caddy guestgate command show of a store, and what tells two DSNs of one
// database apart from two databases. A DSN that does not parse is an error
// that repeats none of it.
func Name(dsn string) (string, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "", errors.New("the PostgreSQL DSN does not parse (it is not repeated here, as it may hold a password)")
	}
	u := url.URL{Scheme: "postgres", User: url.User(cfg.User), Host: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), Path: "/" + cfg.Database}
	return u.String(), nil
}

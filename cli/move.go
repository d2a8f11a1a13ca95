package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/guestlink/export"
	"github.com/guestgate/guestgate/store/badger"
	"github.com/guestgate/guestgate/store/postgres"
)

// openTimeout bounds opening a PostgreSQL store: connecting, applying the
// schema, reading the live state.
const openTimeout = time.Minute

// storeArg is a store that move opens itself, as --from or --to names it.
type storeArg struct {
	// dir is a Badger store's directory (absolute), dsn a PostgreSQL
	// store's DSN, which may hold a password and is never printed.
	dir, dsn string
	// name is what is printed: badger:<dir>, or the database as
	// postgres://user@host:port/database (postgres.Name).
	name string
	// env is the environment variable that held the DSN (env:<NAME>).
	env string
}

// parseStoreArg reads the value v of the flag flag (--from, --to):
//
//	badger:<dir>                 Badger in dir
//	postgres://..., postgresql://...   PostgreSQL, a libpq URL
//	postgres:<dsn>               PostgreSQL, any libpq DSN (host=... dbname=...)
//	env:<NAME>                   PostgreSQL, the DSN in the environment variable NAME
//	<dir>                        Badger in dir
//
// getenv reads the environment. An error repeats nothing of a DSN.
func parseStoreArg(flag, v string, getenv func(string) string) (storeArg, error) {
	var dsn, env string
	switch {
	case v == "":
		return storeArg{}, fmt.Errorf("--%s is required", flag)
	case strings.HasPrefix(v, "env:"):
		env = strings.TrimPrefix(v, "env:")
		if dsn = getenv(env); dsn == "" {
			return storeArg{}, fmt.Errorf("--%s %s: the environment variable %s is empty or not set", flag, v, env)
		}
	case postgres.IsURL(v):
		dsn = v
	case strings.HasPrefix(v, "postgres:"):
		dsn = strings.TrimPrefix(v, "postgres:")
	case postgres.LooksLikeDSN(v):
		// A key=value DSN without "postgres:", a misspelt scheme, or a
		// DSN after "badger:": not a directory, and maybe a password.
		return storeArg{}, fmt.Errorf("--%s: neither a Badger directory nor a PostgreSQL DSN in a form this command reads "+
			"(postgres://..., postgresql://..., postgres:<dsn>, env:<NAME>); it is not repeated here, as it may hold a password", flag)
	default:
		dir, err := filepath.Abs(strings.TrimPrefix(v, "badger:"))
		if err != nil {
			return storeArg{}, fmt.Errorf("--%s %s: %v", flag, v, err)
		}
		return storeArg{dir: dir, name: "badger:" + dir}, nil
	}
	name, err := postgres.Name(dsn)
	if err != nil {
		return storeArg{}, fmt.Errorf("--%s: %v", flag, err)
	}
	return storeArg{dsn: dsn, name: name, env: env}, nil
}

// dumpStore is a store that move opens: it dumps, loads, counts and closes.
type dumpStore interface {
	guestlink.Store
	guestlink.Dumper
}

// open opens the store. A Badger store that must exist (the source) and
// holds no database is an error rather than a new, empty store. What the
// store warns of as it opens (a restore into it that a crash cut, say) is
// written to stderr.
func (a storeArg) open(ctx context.Context, flag string, mustExist bool, logger *zap.Logger) (dumpStore, error) {
	if a.dsn != "" {
		ctx, cancel := context.WithTimeout(ctx, openTimeout)
		defer cancel()
		s, err := postgres.Open(ctx, a.dsn, postgres.Options{})
		if err != nil {
			return nil, fmt.Errorf("--%s %s: %w", flag, a.name, err)
		}
		return s, nil
	}
	if mustExist {
		if _, err := os.Stat(filepath.Join(a.dir, "MANIFEST")); err != nil {
			return nil, fmt.Errorf("--%s %s: no guestgate store there (no Badger database in the directory)", flag, a.name)
		}
	}
	s, err := badger.Open(a.dir, badger.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("--%s %s: %w (the move needs Caddy stopped)", flag, a.name, err)
	}
	return s, nil
}

// stderrLogger is a logger of warnings and errors, as plain lines, to w,
// which it locks: the two stores of a move share it.
func stderrLogger(w io.Writer) *zap.Logger {
	enc := zap.NewDevelopmentEncoderConfig()
	enc.TimeKey, enc.CallerKey = "", ""
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), zapcore.WarnLevel))
}

// caddyfile is the store subdirective that names the store, for the hint
// after a move; a DSN is left to a placeholder, of the variable it came from
// if it came from one.
func (a storeArg) caddyfile() string {
	switch {
	case a.env != "":
		return "store postgres {env." + a.env + "}"
	case a.dsn != "":
		return "store postgres {env.GUESTGATE_DSN}"
	}
	return "store badger " + a.dir
}

// MoveJSON is what move prints with --json.
type MoveJSON struct {
	From  string        `json:"from"`
	To    string        `json:"to"`
	Moved export.Counts `json:"moved"`
}

func runMove(c *invocation, _ []string) error {
	from, err := parseStoreArg("from", c.str("from"), os.Getenv)
	if err != nil {
		return usagef(c.cmd, "%v", err)
	}
	to, err := parseStoreArg("to", c.str("to"), os.Getenv)
	if err != nil {
		return usagef(c.cmd, "%v", err)
	}
	if from.name == to.name {
		return usagef(c.cmd, "--from and --to name the same store, %s", from.name)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	logger := stderrLogger(c.cmd.ErrOrStderr())
	src, err := from.open(ctx, "from", true, logger)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := to.open(ctx, "to", false, logger)
	if err != nil {
		return err
	}
	defer dst.Close()

	counts, err := export.Copy(ctx, src, dst, c.flag("force"), time.Now())
	switch {
	case errors.Is(err, guestlink.ErrStoreNotEmpty):
		return fmt.Errorf("%s holds rooms, links or guests: nothing was moved; move with --force to replace everything in it", to.name)
	case errors.Is(err, guestlink.ErrWouldEmpty):
		// A wrong --from, or a directory Caddy made but never used.
		return fmt.Errorf("%s holds no rooms: moving it with --force would empty %s, which holds some; nothing was moved", from.name, to.name)
	case err != nil:
		return err
	}
	if c.json {
		return c.printJSON(nil, MoveJSON{From: from.name, To: to.name, Moved: counts})
	}
	c.printf("Moved %s to %s: %s.\n", from.name, to.name, counts)
	c.printf("%s is left as it was. Give the handlers '%s' and start Caddy.\n", from.name, to.caddyfile())
	return nil
}

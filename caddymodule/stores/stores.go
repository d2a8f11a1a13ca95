// Package stores holds the modules of the guestgate.stores namespace, where
// the guest_gateway and guest_admin handlers of package caddymodule keep their
// state: guestgate.stores.badger, the embedded Badger database of one process
// (the default), and guestgate.stores.postgres, a PostgreSQL database that any
// number of Caddy instances share. Stores are pluggable, as Caddy's storage
// modules are: chosen in JSON by "module" ({"module": "badger", "dir":
// "/var/lib/guestgate"}) and in the Caddyfile by the first argument of store
// (docs/DESIGN.md section 6). Package caddymodule imports this one, so a build
// with caddymodule has both.
//
// The pool (Open, Release, Borrow) shares each open store, with its webhook
// hub, between the handlers and across config reloads, as Caddy's own
// modules share a database with caddy.UsagePool.
package stores

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/caddyconf"
	badgerstore "github.com/guestgate/guestgate/store/badger"
	"github.com/guestgate/guestgate/store/postgres"
)

func init() {
	caddy.RegisterModule(Badger{})
	caddy.RegisterModule(Postgres{})
}

// Module is implemented by the modules of the guestgate.stores namespace.
type Module interface {
	// StoreKey names the store the module opens: handlers whose modules give
	// the same key share one open store, across config reloads. The admin
	// endpoint and the caddy guestgate command show it, so it holds no secret.
	StoreKey() string
	// OpenStore opens the store. It is called once while any handler uses the
	// store of its key.
	OpenStore(logger *zap.Logger) (guestlink.Store, error)
}

// Badger is the guestgate.stores.badger module: the embedded Badger
// database in a directory, which one process opens at a time.
type Badger struct {
	// Dir is the directory of the database. Default: "guestgate" under Caddy's
	// data directory.
	Dir string `json:"dir,omitempty"`

	key string
}

// CaddyModule returns the Caddy module information.
func (Badger) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "guestgate.stores.badger",
		New: func() caddy.Module { return new(Badger) },
	}
}

// Provision resolves the directory's placeholders ({env.GUESTGATE_DIR}) and
// the directory.
func (b *Badger) Provision(caddy.Context) error {
	dir := caddy.NewReplacer().ReplaceKnown(b.Dir, "")
	if postgres.LooksLikeDSN(dir) {
		return errNotADir
	}
	key, err := dirKey(dir)
	b.key = key
	return err
}

// errNotADir refuses a Badger directory that is rather a database's address,
// without repeating it: it may hold a password.
var errNotADir = errors.New("store: the directory looks like a database address, with '://' or '=' in it " +
	"(not repeated here, as it may hold a password): a PostgreSQL store is 'store postgres <dsn>'; " +
	"a Badger directory may have neither in its name")

// Key is the key of the store a name names (the admin endpoint's ?store=, the
// CLI's --store): a PostgreSQL store by its database
// (postgres://user@host:port/database, or a DSN of it; the password is never
// part of a key), a Badger store by its directory.
func Key(name string) (string, error) {
	if postgres.IsURL(name) {
		return postgres.Name(name)
	}
	return dirKey(name)
}

// dirKey returns the key of a Badger store's directory: the cleaned absolute
// path, so that "./data" and "/srv/data/" name one database. Empty means the
// default, "guestgate" under Caddy's data directory.
func dirKey(dir string) (string, error) {
	if dir == "" {
		dir = filepath.Join(caddy.AppDataDir(), "guestgate")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("store %q: %w", dir, err)
	}
	return filepath.Clean(abs), nil
}

// StoreKey is the cleaned absolute path of the directory, so that "./data" and
// "/srv/data/" name one database.
func (b *Badger) StoreKey() string { return b.key }

// OpenStore opens the Badger database.
func (b *Badger) OpenStore(logger *zap.Logger) (guestlink.Store, error) {
	return badgerstore.Open(b.key, badgerstore.Options{Logger: logger.Named("badger")})
}

// UnmarshalCaddyfile reads "badger [<dir>]" (in store badger <dir>).
func (b *Badger) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module's name
	if d.NextArg() {
		b.Dir = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Err("store badger takes no block")
	}
	return nil
}

// Postgres is the guestgate.stores.postgres module: a PostgreSQL database
// (15 or newer) that any number of Caddy instances share, every rule of
// docs/DESIGN.md section 1 holding across them (section 6).
type Postgres struct {
	// DSN is the database: a libpq URL
	// (postgres://user:password@host:5432/guestgate?sslmode=verify-full) or a
	// key=value string; pgxpool's settings (pool_max_conns, ...) apply.
	// Placeholders such as {env.GUESTGATE_DSN} and {file./run/secrets/dsn} are
	// resolved. Its password never appears in a log line or an error.
	DSN string `json:"dsn"`

	// MaxStale is how long admitted guests are still served from the last
	// state read from the database when it cannot be reached; new redemptions
	// and moderator writes answer 503 at once. Default: 30s.
	MaxStale caddy.Duration `json:"max_stale,omitempty"`

	// PollInterval is how often each instance reads the change log when no
	// notification came (a lost notification, or a pooler in front of
	// PostgreSQL that drops LISTEN, costs at most that). Default: 1s.
	PollInterval caddy.Duration `json:"poll_interval,omitempty"`

	dsn, key string
}

// CaddyModule returns the Caddy module information.
func (Postgres) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "guestgate.stores.postgres",
		New: func() caddy.Module { return new(Postgres) },
	}
}

// Provision resolves the DSN's placeholders and names the database.
func (p *Postgres) Provision(caddy.Context) error {
	p.dsn = caddyconf.ResolveSecret(p.DSN)
	if p.dsn == "" {
		return errors.New("store postgres: a DSN is required")
	}
	if p.MaxStale < 0 || p.PollInterval < 0 {
		return errors.New("store postgres: max_stale and poll_interval must not be negative")
	}
	key, err := postgres.Name(p.dsn)
	if err != nil {
		return fmt.Errorf("store postgres: %w", err)
	}
	p.key = key
	return nil
}

// StoreKey is the database without the password
// (postgres://user@host:port/database).
func (p *Postgres) StoreKey() string { return p.key }

// StoreSettings is a digest of the resolved DSN, max_stale and
// poll_interval: a handler whose store block differs from that of the one
// that opened the database is told so.
func (p *Postgres) StoreSettings() string {
	maxStale, poll := cmp.Or(time.Duration(p.MaxStale), postgres.DefaultMaxStale), cmp.Or(time.Duration(p.PollInterval), postgres.DefaultPollInterval)
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d", p.dsn, maxStale, poll))
	return hex.EncodeToString(sum[:])
}

// openWait is how long a PostgreSQL store waits at start for a database it
// cannot reach (a machine booting, PostgreSQL restarting with Caddy), and
// openTimeout bounds the whole of opening it: waiting, connecting, applying
// the schema and reading the live state.
const (
	openWait    = 30 * time.Second
	openTimeout = time.Minute
)

// OpenStore connects to the database.
func (p *Postgres) OpenStore(logger *zap.Logger) (guestlink.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	return postgres.Open(ctx, p.dsn, postgres.Options{
		Logger: caddyconf.Slog(logger.Named("postgres")), MaxStale: time.Duration(p.MaxStale), PollInterval: time.Duration(p.PollInterval),
		Wait: openWait,
	})
}

// Retune gives store, a PostgreSQL store opened by a module of the same
// key, this module's password, max_stale and poll_interval; the rest of the
// DSN needs a new store (a restart), and the error says so.
func (p *Postgres) Retune(store guestlink.Store) error {
	s, ok := store.(*postgres.Store)
	if !ok {
		return fmt.Errorf("store postgres: %T is not a PostgreSQL store", store)
	}
	return s.Retune(p.dsn, time.Duration(p.MaxStale), time.Duration(p.PollInterval))
}

// CheckRetune makes sure that the database accepts this module's password
// before a configuration that gives it to store loads: a reload with a
// password the server refuses fails, and the configuration in force keeps
// its own. A database that cannot be reached passes.
func (p *Postgres) CheckRetune(store guestlink.Store) error {
	s, ok := store.(*postgres.Store)
	if !ok {
		return fmt.Errorf("store postgres: %T is not a PostgreSQL store", store)
	}
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	if err := s.CheckLogin(ctx, p.dsn); err != nil {
		return fmt.Errorf("store postgres: %w; the running configuration keeps its password", err)
	}
	return nil
}

// UnmarshalCaddyfile reads "postgres <dsn> [{ max_stale <d>; poll_interval <d> }]".
func (p *Postgres) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module's name
	if !d.NextArg() {
		return d.ArgErr()
	}
	p.DSN = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return caddyconf.Block(d, "store postgres option", map[string]caddyconf.Option{
		"max_stale":     caddyconf.Duration(&p.MaxStale),
		"poll_interval": caddyconf.Duration(&p.PollInterval),
	})
}

// Load returns the store module of a handler, holder, whose StoreRaw field is
// raw: the module in raw, a directory (a JSON string: Badger, as before stores
// were modules), or, when raw is empty, Badger in the default directory.
func Load(ctx caddy.Context, holder any, raw json.RawMessage) (Module, error) {
	var dir string
	switch {
	case len(raw) == 0:
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &dir); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	default:
		mod, err := ctx.LoadModule(holder, "StoreRaw")
		if err != nil {
			return nil, fmt.Errorf("loading the store module: %w", err)
		}
		sm, ok := mod.(Module)
		if !ok {
			return nil, fmt.Errorf("store: module %T is not a guestgate store", mod)
		}
		return sm, nil
	}
	b := &Badger{Dir: dir}
	return b, b.Provision(ctx)
}

// Option reads the store subdirective into *dst, as the JSON of its module:
// "store <module> <args...> [{ ... }]" for a module of guestgate.stores (badger,
// postgres), and "store <dir>", Badger's shorthand, for any other argument (a
// directory called like a module is written ./badger).
func Option(dst *json.RawMessage) caddyconf.Option {
	return func(d *caddyfile.Dispenser) error {
		if !d.NextArg() {
			return d.ArgErr()
		}
		name := d.Val()
		if _, err := caddy.GetModule("guestgate.stores." + name); err != nil {
			if postgres.LooksLikeDSN(name) {
				return d.Err(errNotADir.Error())
			}
			if d.NextArg() {
				// Not d.ArgErr, which would repeat the next argument: a
				// DSN after a misspelt module name.
				return d.Errf("store: '%s' is not a store module (badger, postgres), and a directory takes no other argument", name)
			}
			*dst = caddyconfig.JSONModuleObject(&Badger{Dir: name}, "module", "badger", nil)
			return nil
		}
		mod, err := caddyfile.UnmarshalModule(d, "guestgate.stores."+name)
		if err != nil {
			return err
		}
		*dst = caddyconfig.JSONModuleObject(mod, "module", name, nil)
		return nil
	}
}

// Interface guards
var (
	_ caddy.Provisioner     = (*Badger)(nil)
	_ caddyfile.Unmarshaler = (*Badger)(nil)
	_ Module                = (*Badger)(nil)
	_ caddy.Provisioner     = (*Postgres)(nil)
	_ caddyfile.Unmarshaler = (*Postgres)(nil)
	_ Module                = (*Postgres)(nil)
	_ Settings              = (*Postgres)(nil)
	_ Retuner               = (*Postgres)(nil)
	_ Checker               = (*Postgres)(nil)
)

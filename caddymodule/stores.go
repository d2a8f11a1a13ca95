package caddymodule

import (
	"encoding/json"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/guestgate/guestgate/guestlink"
	badgerstore "github.com/guestgate/guestgate/store/badger"
)

func init() {
	caddy.RegisterModule(BadgerStore{})
}

// Stores are pluggable, as Caddy's storage modules are: the store of
// guest_gateway and guest_admin is a module of the guestgate.stores namespace,
// chosen in JSON by "module" ({"module": "badger", "dir": "/var/lib/guestgate"})
// and in the Caddyfile by the first argument of store (docs/DESIGN.md section 6).

// StoreModule is implemented by the modules of the guestgate.stores namespace.
type StoreModule interface {
	// StoreKey names the store the module opens: handlers whose modules give
	// the same key share one open store, across config reloads. The admin
	// endpoint and the caddy guestgate command show it, so it holds no secret.
	StoreKey() string
	// OpenStore opens the store. It is called once while any handler uses the
	// store of its key.
	OpenStore(logger *zap.Logger) (guestlink.Store, error)
}

// BadgerStore is the guestgate.stores.badger module: the embedded Badger
// database in a directory, which one process opens at a time.
type BadgerStore struct {
	// Dir is the directory of the database. Default: "guestgate" under Caddy's
	// data directory.
	Dir string `json:"dir,omitempty"`

	key string
}

// CaddyModule returns the Caddy module information.
func (BadgerStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "guestgate.stores.badger",
		New: func() caddy.Module { return new(BadgerStore) },
	}
}

// Provision resolves the directory.
func (b *BadgerStore) Provision(caddy.Context) error {
	key, err := storeKey(b.Dir)
	b.key = key
	return err
}

// StoreKey is the cleaned absolute path of the directory, so that "./data" and
// "/srv/data/" name one database.
func (b *BadgerStore) StoreKey() string { return b.key }

// OpenStore opens the Badger database.
func (b *BadgerStore) OpenStore(logger *zap.Logger) (guestlink.Store, error) {
	return badgerstore.Open(b.key, badgerstore.Options{Logger: logger.Named("badger")})
}

// UnmarshalCaddyfile reads "badger [<dir>]" (in store badger <dir>).
func (b *BadgerStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
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

// loadStore returns the store module of a handler: the module in raw, a
// directory (a JSON string: Badger, as before stores were modules), or, when
// raw is empty, Badger in the default directory.
func loadStore(ctx caddy.Context, holder any, raw json.RawMessage) (StoreModule, error) {
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
		sm, ok := mod.(StoreModule)
		if !ok {
			return nil, fmt.Errorf("store: module %T is not a guestgate store", mod)
		}
		return sm, nil
	}
	b := &BadgerStore{Dir: dir}
	return b, b.Provision(ctx)
}

// storeArg reads the store subdirective into *dst, as the JSON of its module:
// "store <module> <args...> [{ ... }]" for a module of guestgate.stores (badger,
// postgres), and "store <dir>", Badger's shorthand, for any other argument (a
// directory called like a module is written ./badger).
func storeArg(d *caddyfile.Dispenser, dst *json.RawMessage) option {
	return func() error {
		if !d.NextArg() {
			return d.ArgErr()
		}
		name := d.Val()
		if _, err := caddy.GetModule("guestgate.stores." + name); err != nil {
			if d.NextArg() {
				return d.ArgErr()
			}
			*dst = caddyconfig.JSONModuleObject(&BadgerStore{Dir: name}, "module", "badger", nil)
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
	_ caddy.Provisioner     = (*BadgerStore)(nil)
	_ caddyfile.Unmarshaler = (*BadgerStore)(nil)
	_ StoreModule           = (*BadgerStore)(nil)
)

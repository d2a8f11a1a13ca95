package stores

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/webhook"
)

// pool shares one open store per key, with its webhook hub, between the
// handlers and across config reloads: Badger locks its directory, and Caddy
// provisions a new config before it cleans up the old one. It and poolMu are
// the package's only mutable state.
var pool = caddy.NewUsagePool()

// poolMu orders every opening and release of a pooled store with Borrow, so
// that a borrow takes a store that is open and never opens one.
var poolMu sync.Mutex

// Shared is a store open in the pool, with its webhook hub: the hub routes
// the events of every handler on the store to the webhooks of its guest_admin
// handlers, and delivers them from the store's queues.
type Shared struct {
	guestlink.Store
	Hub *webhook.Hub

	tune *tuning
}

// Settings is implemented by a store module whose store has settings
// besides its key (a PostgreSQL store's DSN with its password, max_stale,
// poll_interval). The open store has those of the configuration in force:
// a reload's apply once the configuration before it is unloaded, which Caddy
// does once the new one runs, if the store module can give them to the open
// store (Retuner); a handler whose settings differ from another's of the
// same configuration is told so in the log, and the first one's apply.
type Settings interface {
	// StoreSettings returns a digest of the settings, which repeats none of
	// them.
	StoreSettings() string
}

// Retuner is implemented by a store module with Settings that can give them
// to a store open with other settings.
type Retuner interface {
	// Retune gives store, opened by a module of the same key, this module's
	// settings; an error says which of them wait for a restart (those it
	// could give, it gave).
	Retune(store guestlink.Store) error
}

// Checker is implemented by a Retuner that can tell, while a configuration
// loads, that the open store could not work with its settings (a password
// that the database refuses): that configuration then fails to load, and the
// one in force keeps its settings.
type Checker interface {
	// CheckRetune reports why store, opened by a module of the same key,
	// could not work with this module's settings, or nil.
	CheckRetune(store guestlink.Store) error
}

// tuning is what the pool knows of an open store's settings: those in force
// (of a module of the configuration cfg), and those of the configuration that
// is loading, if any. Open and Release change it under poolMu.
//
// A configuration is told by its context's Done channel: Caddy cancels a
// configuration's context when it unloads it, and the contexts its modules
// are provisioned with derive from it (the HTTP app adds a value per server).
type tuning struct {
	settings string
	cfg      <-chan struct{}
	// first is the settings of the first module of cfg: those of its
	// other handlers are compared with them.
	first string
	// next is the first module of the configuration that is loading
	// (nextCfg); nil when there is none.
	next    Module
	nextCfg <-chan struct{}
}

// settingsOf returns mod's StoreSettings, or "".
func settingsOf(mod Module) string {
	if sm, ok := mod.(Settings); ok {
		return sm.StoreSettings()
	}
	return ""
}

// Destruct stops the hub's deliveries and closes the store when the last user
// is cleaned up; undelivered events stay queued in the store.
func (s Shared) Destruct() error {
	_ = s.Hub.Close()
	return s.Store.Close()
}

// Open returns the pooled store of mod, opening it on first use, for a
// handler of the configuration cfg (its caddy.Context). Every successful
// call must be matched by one Release(cfg, mod.StoreKey()). The first
// handler of a configuration that loads, with settings other than the open
// store's, fails if its module is a Checker that refuses them.
func Open(cfg context.Context, mod Module, logger *zap.Logger) (Shared, error) {
	poolMu.Lock()
	defer poolMu.Unlock()
	val, loaded, err := pool.LoadOrNew(mod.StoreKey(), func() (caddy.Destructor, error) {
		s, err := mod.OpenStore(logger)
		if err != nil {
			return nil, err
		}
		// The hub queues in the store; one that keeps no queues gets a hub
		// that refuses webhooks.
		q, _ := s.(guestlink.Queuer)
		return Shared{s, webhook.NewHub(q, caddy.Log().Named("guestgate.webhook")), &tuning{settings: settingsOf(mod), cfg: cfg.Done(), first: settingsOf(mod)}}, nil
	})
	if err != nil {
		return Shared{}, err
	}
	shared := val.(Shared)
	if !loaded {
		return shared, nil
	}
	t, done := shared.tune, cfg.Done()
	first := t.first
	switch {
	case done == t.cfg:
	case t.next != nil && done == t.nextCfg:
		first = settingsOf(t.next)
	default: // the first handler on the store of a configuration that loads
		if c, ok := mod.(Checker); ok && settingsOf(mod) != t.settings {
			if err := c.CheckRetune(shared.Store); err != nil {
				_ = drop(mod.StoreKey())
				return Shared{}, err
			}
		}
		t.next, t.nextCfg = mod, done
		if closed(t.cfg) {
			// No configuration in force holds the store: a borrow kept it
			// open after the last one that did was unloaded. There is none
			// to unload before this one is in force, so its settings apply
			// now.
			retune(shared, mod.StoreKey())
		}
		return shared, nil
	}
	if settingsOf(mod) != first {
		logger.Warn("the handlers on this store have other settings in this configuration: give every one the same; the first one's apply",
			zap.String("store", mod.StoreKey()))
	}
	return shared, nil
}

// Release drops one use of the store at key by a handler of the
// configuration cfg; the last one closes it. The first release by a handler
// of the configuration in force, while another loads, means that Caddy runs
// the other (a configuration is unloaded once its successor runs): its
// settings are given to the store then. A release by a handler of the
// loading configuration means that it failed, and drops them.
func Release(cfg context.Context, key string) error {
	poolMu.Lock()
	defer poolMu.Unlock()
	pool.Range(func(k, v any) bool {
		if k != key {
			return true
		}
		shared := v.(Shared)
		switch t := shared.tune; {
		case t.next == nil:
		case cfg.Done() == t.nextCfg:
			t.next, t.nextCfg = nil, nil
		case cfg.Done() == t.cfg:
			retune(shared, key)
		}
		return false
	})
	return drop(key)
}

// retune makes the loading configuration's settings those of the store at
// key, giving them to the store if they differ (under poolMu).
func retune(shared Shared, key string) {
	t := shared.tune
	next, settings := t.next, settingsOf(t.next)
	t.next, t.nextCfg, t.cfg, t.first = nil, nil, t.nextCfg, settings
	if settings == t.settings {
		return
	}
	logger := caddy.Log().Named("guestgate.store")
	r, ok := next.(Retuner)
	if !ok {
		logger.Warn("this store keeps its settings until Caddy restarts", zap.String("store", key))
		return
	}
	if err := r.Retune(shared.Store); err != nil {
		// The store may have taken some of them (a PostgreSQL store takes
		// the password of a DSN whose TLS settings wait for a restart), so
		// its settings are no configuration's: every reload gives its own
		// again, a reload back to those before this one included, and says
		// again what waits for a restart.
		t.settings = givenInPart
		logger.Warn("not all of the new configuration's store settings apply before a restart", zap.String("store", key), zap.Error(err))
		return
	}
	t.settings = settings
	logger.Info("the new configuration's store settings apply", zap.String("store", key))
}

// closed reports whether the Done channel c is closed: its configuration
// is unloaded.
func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// givenInPart is the settings of a store whose Retune failed: it matches no
// module's StoreSettings.
const givenInPart = "\x00given in part"

// drop drops one use of the store at key (under poolMu).
func drop(key string) error {
	_, err := pool.Delete(key)
	return err
}

// errNotOpen is what Borrow's constructor would answer; it never runs, since
// Borrow only loads keys that are in the pool.
var errNotOpen = errors.New("guestgate store is not open")

// Borrow returns the store at key if a handler has it open, taking one use of
// it that release gives back; ok is false, and nothing is opened, if no
// handler has it open. The admin endpoint works on stores this way.
func Borrow(key string) (store guestlink.Store, release func(), ok bool, err error) {
	poolMu.Lock()
	defer poolMu.Unlock()
	if _, ok := pool.References(key); !ok {
		return nil, nil, false, nil
	}
	val, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) { return nil, errNotOpen })
	if err != nil {
		return nil, nil, false, err
	}
	return val.(Shared).Store, func() {
		poolMu.Lock()
		defer poolMu.Unlock()
		_ = drop(key)
	}, true, nil
}

// Keys returns the keys of the stores that handlers have open, sorted.
func Keys() []string {
	var keys []string
	for k := range All {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// All yields the stores that handlers have open, by key.
func All(yield func(key string, s guestlink.Store) bool) {
	pool.Range(func(k, v any) bool { return yield(k.(string), v.(Shared).Store) })
}

package stores

import (
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

	settings string // of the module that opened it (Settings)
}

// Settings is implemented by a store module whose store has settings
// besides its key (a PostgreSQL store's DSN with its password, max_stale,
// poll_interval). They are the opening module's while the store stays open:
// a module of the same key with other settings is told so in the log.
type Settings interface {
	// StoreSettings returns a digest of the settings, which repeats none of
	// them.
	StoreSettings() string
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

// Open returns the pooled store of mod, opening it on first use. Every
// successful call must be matched by one Release(mod.StoreKey()).
func Open(mod Module, logger *zap.Logger) (Shared, error) {
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
		return Shared{s, webhook.NewHub(q, caddy.Log().Named("guestgate.webhook")), settingsOf(mod)}, nil
	})
	if err != nil {
		return Shared{}, err
	}
	shared := val.(Shared)
	if loaded && shared.settings != settingsOf(mod) {
		logger.Warn("this store is open already with other settings, which stay in force until Caddy restarts: "+
			"give every handler on it the same (a reload that changes them, a new password in the DSN included, applies after a restart)",
			zap.String("store", mod.StoreKey()))
	}
	return shared, nil
}

// Release drops one use of the store at key; the last one closes it.
func Release(key string) error {
	poolMu.Lock()
	defer poolMu.Unlock()
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
	return val.(Shared).Store, func() { _ = Release(key) }, true, nil
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

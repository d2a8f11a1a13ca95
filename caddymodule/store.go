package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/guestgate/guestgate/caddymodule/stores"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/webhook"
)

// storePool shares one open store per directory, with its webhook hub, between
// the handlers and across config reloads: Badger locks its directory, and Caddy
// provisions a new config before it cleans up the old one. The hub routes the
// events of every handler on the store to the webhooks of its guest_admin
// handlers. This, storeState and processMetrics are the package's only
// mutable state.
var storePool = caddy.NewUsagePool()

// storeState is the rest of the store pool's state, for the admin endpoint
// (admin.api.guestgate): its lock orders every opening and release of a pooled
// store with the admin endpoint's borrowing, so that a borrow takes a store that
// is open and never opens one; and it keeps, per store key, the guest_admin
// handlers provisioned on that store, newest last, whose settings (max_links,
// link_base, lobby_timeout, events) the admin endpoint follows.
var storeState = struct {
	sync.Mutex
	admins map[string][]*adminEntry
}{admins: make(map[string][]*adminEntry)}

// adminEntry is what a provisioned guest_admin handler lends the admin endpoint.
type adminEntry struct {
	// svc is the handler's Service: its store, max_links, lobby_timeout and
	// event hook (audit).
	svc *guestlink.Service
	// linkBase is the handler's link_base, "" if not configured.
	linkBase string
}

// pooledStore is a guestlink.Store held in storePool, with its webhook hub.
type pooledStore struct {
	guestlink.Store
	hub *webhook.Hub
}

// Destruct stops the hub's deliveries and closes the store when the last user
// is cleaned up; undelivered events stay queued in the store.
func (p pooledStore) Destruct() error {
	_ = p.hub.Close()
	return p.Store.Close()
}

// openStore returns the pooled store of mod, opening it on first use. Every
// successful call must be matched by one releaseStore(mod.StoreKey()).
func openStore(mod stores.Module, logger *zap.Logger) (pooledStore, error) {
	storeState.Lock()
	defer storeState.Unlock()
	val, _, err := storePool.LoadOrNew(mod.StoreKey(), func() (caddy.Destructor, error) {
		s, err := mod.OpenStore(logger)
		if err != nil {
			return nil, err
		}
		// The hub queues in the store; one that keeps no queues gets a hub
		// that refuses webhooks.
		q, _ := s.(guestlink.Queuer)
		return pooledStore{s, webhook.NewHub(q, caddy.Log().Named("guestgate.webhook"))}, nil
	})
	if err != nil {
		return pooledStore{}, err
	}
	return val.(pooledStore), nil
}

// releaseStore drops one use of the store at key; the last one closes it.
func releaseStore(key string) error {
	storeState.Lock()
	defer storeState.Unlock()
	_, err := storePool.Delete(key)
	return err
}

// errStoreNotOpen is what borrowStore's constructor would answer; it never runs,
// since borrowStore only loads keys that are in the pool.
var errStoreNotOpen = errors.New("guestgate store is not open")

// borrowStore returns the store at key if a handler has it open, taking one use
// of it that release gives back; ok is false, and nothing is opened, if no
// handler has it open.
func borrowStore(key string) (store guestlink.Store, release func(), ok bool, err error) {
	storeState.Lock()
	defer storeState.Unlock()
	if _, ok := storePool.References(key); !ok {
		return nil, nil, false, nil
	}
	val, _, err := storePool.LoadOrNew(key, func() (caddy.Destructor, error) { return nil, errStoreNotOpen })
	if err != nil {
		return nil, nil, false, err
	}
	return val.(pooledStore).Store, func() { _ = releaseStore(key) }, true, nil
}

// openStoreKeys returns the keys of the stores that handlers have open, sorted.
func openStoreKeys() []string {
	var keys []string
	storePool.Range(func(k, _ any) bool {
		keys = append(keys, k.(string))
		return true
	})
	slices.Sort(keys)
	return keys
}

// registerAdmin records a provisioned guest_admin handler of the store at key;
// unregisterAdmin(key, e) undoes it when the handler is cleaned up.
func registerAdmin(key string, e *adminEntry) {
	storeState.Lock()
	defer storeState.Unlock()
	storeState.admins[key] = append(storeState.admins[key], e)
}

func unregisterAdmin(key string, e *adminEntry) {
	storeState.Lock()
	defer storeState.Unlock()
	entries := slices.DeleteFunc(storeState.admins[key], func(x *adminEntry) bool { return x == e })
	if len(entries) == 0 {
		delete(storeState.admins, key)
		return
	}
	storeState.admins[key] = entries
}

// latestAdmin returns the most recently provisioned guest_admin handler of the
// store at key still in use (during a config reload, the new config's), or nil.
func latestAdmin(key string) *adminEntry {
	storeState.Lock()
	defer storeState.Unlock()
	entries := storeState.admins[key]
	if len(entries) == 0 {
		return nil
	}
	return entries[len(entries)-1]
}

// sharedStore is a handler's use of the pooled store of its directory and of
// that store's webhook hub.
type sharedStore struct {
	key string // the store's pool key; "" while no store is held
	pooledStore
}

// acquire opens the store of the handler holder's store module (raw, its
// StoreRaw), or shares it with the handlers that have it open, and registers
// guestgate's metrics in the config's registry. release gives the store back,
// also after acquire failed.
func (s *sharedStore) acquire(ctx caddy.Context, holder any, raw *json.RawMessage, logger *zap.Logger) error {
	mod, err := stores.Load(ctx, holder, *raw)
	if err != nil {
		return err
	}
	if s.pooledStore, err = openStore(mod, logger); err != nil {
		return fmt.Errorf("opening guestgate store: %w", err)
	}
	s.key = mod.StoreKey()
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	return nil
}

// release drops the use of the store that acquire took.
func (s *sharedStore) release() error {
	if s.key == "" {
		return nil
	}
	key := s.key
	s.key, s.pooledStore = "", pooledStore{}
	return releaseStore(key)
}

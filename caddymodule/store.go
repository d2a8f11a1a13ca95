package caddymodule

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/guestgate/guestgate/caddymodule/stores"
	"github.com/guestgate/guestgate/guestlink"
)

// admins keeps, per store key, the guest_admin handlers provisioned on that
// store, newest last, whose settings (max_links, link_base, lobby_timeout,
// events) the admin endpoint (admin.api.guestgate) follows. It and
// processMetrics are the package's only mutable state; the store pool is
// package stores'.
var admins = struct {
	sync.Mutex
	byKey map[string][]*adminEntry
}{byKey: make(map[string][]*adminEntry)}

// adminEntry is what a provisioned guest_admin handler lends the admin endpoint.
type adminEntry struct {
	// svc is the handler's Service: its store, max_links, lobby_timeout and
	// event hook (audit).
	svc *guestlink.Service
	// linkBase is the handler's link_base, "" if not configured.
	linkBase string
}

// registerAdmin records a provisioned guest_admin handler of the store at key;
// unregisterAdmin(key, e) undoes it when the handler is cleaned up.
func registerAdmin(key string, e *adminEntry) {
	admins.Lock()
	defer admins.Unlock()
	admins.byKey[key] = append(admins.byKey[key], e)
}

func unregisterAdmin(key string, e *adminEntry) {
	admins.Lock()
	defer admins.Unlock()
	entries := slices.DeleteFunc(admins.byKey[key], func(x *adminEntry) bool { return x == e })
	if len(entries) == 0 {
		delete(admins.byKey, key)
		return
	}
	admins.byKey[key] = entries
}

// latestAdmin returns the most recently provisioned guest_admin handler of the
// store at key still in use (during a config reload, the new config's), or nil.
func latestAdmin(key string) *adminEntry {
	admins.Lock()
	defer admins.Unlock()
	entries := admins.byKey[key]
	if len(entries) == 0 {
		return nil
	}
	return entries[len(entries)-1]
}

// sharedStore is a handler's use of the pooled store of its store module and
// of that store's webhook hub.
type sharedStore struct {
	key string        // the store's pool key; "" while no store is held
	cfg caddy.Context // of the handler's configuration
	stores.Shared
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
	if s.Shared, err = stores.Open(ctx, mod, logger); err != nil {
		return fmt.Errorf("opening guestgate store: %w", err)
	}
	s.key, s.cfg = mod.StoreKey(), ctx
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
	key, cfg := s.key, s.cfg
	s.key, s.cfg, s.Shared = "", caddy.Context{}, stores.Shared{}
	return stores.Release(cfg, key)
}

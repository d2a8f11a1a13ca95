package caddymodule

import (
	"fmt"
	"path/filepath"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/guestgate/guestgate/guestlink"
	badgerstore "github.com/guestgate/guestgate/store/badger"
)

// storePool shares one open store per directory between both handlers and across
// config reloads: Badger locks its directory, and Caddy provisions a new config
// before it cleans up the old one. This is the package's only mutable state.
var storePool = caddy.NewUsagePool()

// pooledStore is a guestlink.Store held in storePool.
type pooledStore struct {
	guestlink.Store
}

// Destruct closes the store when its last user is cleaned up.
func (p pooledStore) Destruct() error { return p.Store.Close() }

// storeKey returns the pool key for a store directory: the cleaned absolute path,
// so that "./data" and "/srv/data/" name one database. Empty means the default,
// "guestgate" under Caddy's data directory.
func storeKey(dir string) (string, error) {
	if dir == "" {
		dir = filepath.Join(caddy.AppDataDir(), "guestgate")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("store %q: %w", dir, err)
	}
	return filepath.Clean(abs), nil
}

// openStore returns the pooled store for key, opening it on first use. Every
// successful call must be matched by one releaseStore(key).
func openStore(key string, logger *zap.Logger) (guestlink.Store, error) {
	val, _, err := storePool.LoadOrNew(key, func() (caddy.Destructor, error) {
		s, err := badgerstore.Open(key, badgerstore.Options{Logger: logger.Named("badger")})
		if err != nil {
			return nil, err
		}
		return pooledStore{s}, nil
	})
	if err != nil {
		return nil, err
	}
	return val.(pooledStore).Store, nil
}

// releaseStore drops one use of the store at key; the last one closes it.
func releaseStore(key string) error {
	_, err := storePool.Delete(key)
	return err
}

// resolveSecret replaces placeholders ({env.X}, {file.path}) in a configured
// secret, and trims the newline a secret file usually ends with.
func resolveSecret(s string) string {
	repl := caddy.NewReplacer()
	v := repl.ReplaceKnown(s, "")
	if len(v) > 0 && v[len(v)-1] == '\n' {
		v = v[:len(v)-1]
	}
	return v
}

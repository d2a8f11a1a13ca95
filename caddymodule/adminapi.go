package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/caddymodule/stores"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/caddyconf"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// restoreReadTimeout is how long a restore upload may take. Caddy's admin server
// gives a whole request 10 s, too little for a big backup over a slow link.
const restoreReadTimeout = 10 * time.Minute

// AdminAPI is the admin.api.guestgate module: the admin endpoint of package admin
// (the moderator API, the stores in use, backup and restore) on Caddy's admin
// endpoint, for the "caddy guestgate" command. It works on the stores that the
// running guestgate handlers have open (the store pool), and never opens one
// itself: Badger locks its directory, and a second process could not open it
// while Caddy runs anyway. The API's settings (max_links, link_base,
// lobby_timeout, audit) are those of the newest guest_admin handler on the store.
type AdminAPI struct {
	endpoint *admin.Endpoint
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.guestgate",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Provision sets up the endpoint. The stores are looked up at each request: the
// admin endpoint outlives config reloads that change them.
func (a *AdminAPI) Provision(ctx caddy.Context) error {
	// Passing the module is needed while the admin API is not a regular module
	// host (caddypki's admin module does the same).
	logger := ctx.Logger(a)
	a.endpoint = &admin.Endpoint{
		Stores:             poolStores{},
		Logger:             caddyconf.Slog(logger),
		RestoreReadTimeout: restoreReadTimeout,
	}
	return nil
}

// Routes returns the admin endpoint's routes of guestgate.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: admin.EndpointPrefix, Handler: caddy.AdminHandlerFunc(a.endpoint.Serve)}}
}

// poolStores are the stores of the store pool, for the admin endpoint.
type poolStores struct{}

func (poolStores) Keys() []string { return stores.Keys() }

func (poolStores) Key(name string) (string, error) { return stores.Key(name) }

func (poolStores) Borrow(key string) (guestlink.Store, func(), bool, error) {
	return stores.Borrow(key)
}

func (poolStores) Settings(key string) (*guestlink.Service, string) {
	if e := latestAdmin(key); e != nil {
		return e.svc, e.linkBase
	}
	return nil, ""
}

// Service is the Service of a store without a guest_admin handler: audit
// lines, no webhooks.
func (poolStores) Service(store guestlink.Store) *guestlink.Service {
	return &guestlink.Service{Store: store, Now: time.Now, Events: auditSink(auditLogger(), false, nil)}
}

// Interface guards
var (
	_ caddy.AdminRouter    = (*AdminAPI)(nil)
	_ caddy.Provisioner    = (*AdminAPI)(nil)
	_ admin.EndpointStores = poolStores{}
)

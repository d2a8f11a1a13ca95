package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/guestlink"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// restoreReadTimeout is how long a restore upload may take. Caddy's admin server
// gives a whole request 10 s, too little for a big backup over a slow link.
const restoreReadTimeout = 10 * time.Minute

// AdminAPI is the admin.api.guestgate module: the moderator API on Caddy's admin
// endpoint, for the "caddy guestgate" command, plus backup and restore. The admin
// endpoint has its own access control (by default it listens on localhost only),
// so no API key is checked. It works on the stores that the running guestgate
// handlers have open, and never opens a Badger directory itself: Badger locks its
// directory, and a second process could not open it while Caddy runs anyway.
//
// Routes, under /guestgate/ (store: ?store=<dir>, an absolute path; default: the
// only store in use):
//
//	GET  /guestgate/stores             the stores in use: {"stores": [{"store", "link_base", "max_links", "guest_admin"}]}
//	*    /guestgate/api/...            the moderator API of docs/DESIGN.md section 3 (PUT /guestgate/api/rooms/{room}, ...)
//	GET  /guestgate/backup             Badger's backup stream of the store (application/octet-stream)
//	POST /guestgate/restore[?force=1]  restore the store from a backup in the body
//
// The API's settings (max_links, link_base, lobby_timeout, audit) are those of
// the newest guest_admin handler on the store. Without a guest_admin handler, or
// one without link_base, link URLs are paths (/guest/<token>): the admin endpoint
// does not know the site's address. Errors are
// {"error": {"code": "...", "message": "..."}}, like the moderator API's.
type AdminAPI struct {
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.guestgate",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Provision sets the logger. The stores are looked up at each request: the admin
// endpoint outlives config reloads that change them.
func (a *AdminAPI) Provision(ctx caddy.Context) error {
	// Passing the module is needed while the admin API is not a regular module
	// host (caddypki's admin module does the same).
	a.logger = ctx.Logger(a)
	return nil
}

// Routes returns the admin endpoint's routes of guestgate.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: admin.EndpointPrefix, Handler: caddy.AdminHandlerFunc(a.serve)}}
}

// endpointError is an error answer of the admin endpoint module.
type endpointError struct {
	status        int
	code, message string
}

func (e *endpointError) Error() string { return e.message }

func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	rest := "/" + strings.TrimPrefix(r.URL.Path, admin.EndpointPrefix)
	var err error
	switch {
	case rest == "/stores":
		err = a.stores(w, r)
	case rest == "/backup":
		err = a.withStore(w, r, http.MethodGet, a.backup)
	case rest == "/restore":
		err = a.withStore(w, r, http.MethodPost, a.restore)
	case strings.HasPrefix(rest, "/api/"):
		err = a.withStore(w, r, "", a.api)
	default:
		err = &endpointError{http.StatusNotFound, "not_found", "no such guestgate admin path; see 'caddy guestgate --help'"}
	}
	var ee *endpointError
	if errors.As(err, &ee) {
		writeEndpointError(w, ee)
		return nil
	}
	return err
}

func writeEndpointError(w http.ResponseWriter, e *endpointError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(admin.ErrorJSON{Error: admin.APIError{Code: e.code, Message: e.message}})
}

func (a *AdminAPI) stores(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, http.MethodGet)
	}
	res := admin.StoresJSON{Stores: []admin.StoreJSON{}}
	for _, key := range openStoreKeys() {
		info := admin.StoreJSON{Store: key, MaxLinks: guestlink.DefaultMaxLinks}
		if e := latestAdmin(key); e != nil {
			info.GuestAdmin, info.LinkBase, info.MaxLinks = true, e.linkBase, e.svc.Limit()
		}
		res.Stores = append(res.Stores, info)
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(res)
}

func methodNotAllowed(w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return &endpointError{http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed here; use " + allow}
}

// withStore borrows the store the request names (?store=) or the only one in
// use, and calls fn with it; method, if not empty, is the only method allowed.
func (a *AdminAPI) withStore(w http.ResponseWriter, r *http.Request, method string,
	fn func(http.ResponseWriter, *http.Request, string, guestlink.Store) error,
) error {
	if method != "" && r.Method != method {
		return methodNotAllowed(w, method)
	}
	open := openStoreKeys()
	key := r.URL.Query().Get("store")
	switch {
	case key != "":
		k, err := storeKey(key)
		if err != nil {
			return &endpointError{http.StatusBadRequest, "bad_store", err.Error()}
		}
		key = k
	case len(open) == 0:
		return &endpointError{http.StatusServiceUnavailable, "no_store", "no guestgate handler is running: the loaded config has no guest_gateway or guest_admin handler"}
	case len(open) > 1:
		return &endpointError{http.StatusBadRequest, "store_ambiguous",
			"several guestgate stores are in use (" + strings.Join(open, ", ") + "): name one with ?store=<dir> (--store)"}
	default:
		key = open[0]
	}
	store, release, ok, err := borrowStore(key)
	if err != nil {
		return fmt.Errorf("guestgate store %s: %w", key, err)
	}
	if !ok {
		if len(open) == 0 {
			return &endpointError{http.StatusServiceUnavailable, "no_store", "no guestgate handler is running: the loaded config has no guest_gateway or guest_admin handler"}
		}
		return &endpointError{http.StatusNotFound, "store_not_open",
			"no guestgate handler uses store " + key + "; stores in use: " + strings.Join(open, ", ")}
	}
	defer release()
	return fn(w, r, key, store)
}

// api serves the moderator API with the settings of the store's newest
// guest_admin handler.
func (a *AdminAPI) api(w http.ResponseWriter, r *http.Request, key string, store guestlink.Store) error {
	svc := &guestlink.Service{Store: store, Now: time.Now, Events: auditSink(auditLogger(), false, nil)}
	linkBase := ""
	if e := latestAdmin(key); e != nil {
		// Its Store is the pooled store at key, the one borrowed.
		svc, linkBase = e.svc, e.linkBase
	}
	if linkBase == "" {
		// The admin endpoint's own address is no use in a link: give the path.
		linkBase = "/guest/"
	}
	h, err := admin.New(admin.Config{
		Service: svc, Authenticators: []admin.Authenticator{admin.AdminEndpoint{}}, LinkBase: linkBase,
		OnError: func(r *http.Request, err error) {
			a.logger.Error("guestgate admin endpoint request failed", zap.String("store", key), zap.String("path", r.URL.Path), zap.Error(err))
		},
	})
	if err != nil {
		return err
	}
	http.StripPrefix(strings.TrimSuffix(admin.EndpointPrefix, "/"), h).ServeHTTP(w, r)
	return nil
}

func (a *AdminAPI) backup(w http.ResponseWriter, r *http.Request, key string, store guestlink.Store) error {
	b, ok := store.(guestlink.Backupper)
	if !ok {
		return &endpointError{http.StatusNotImplemented, "not_supported", "this store cannot make backups"}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="guestgate.backup"`)
	cw := &countingWriter{w: w}
	start := time.Now()
	if err := b.Backup(r.Context(), cw); err != nil {
		if cw.n == 0 {
			w.Header().Del("Content-Disposition")
			if errors.Is(err, guestlink.ErrStoreBusy) {
				return &endpointError{http.StatusConflict, "store_busy", err.Error()}
			}
			a.logger.Error("backup failed", zap.String("store", key), zap.Error(err))
			return &endpointError{http.StatusInternalServerError, "internal", "the backup failed; see Caddy's log"}
		}
		// The status line is gone: cut the connection so the client cannot
		// take what it got for a whole backup.
		a.logger.Error("backup failed after it started; connection aborted", zap.String("store", key), zap.Int64("bytes", cw.n), zap.Error(err))
		panic(http.ErrAbortHandler)
	}
	a.logger.Info("store backed up", zap.String("store", key), zap.Int64("bytes", cw.n), zap.Duration("took", time.Since(start)))
	return nil
}

func (a *AdminAPI) restore(w http.ResponseWriter, r *http.Request, key string, store guestlink.Store) error {
	b, ok := store.(guestlink.Backupper)
	if !ok {
		return &endpointError{http.StatusNotImplemented, "not_supported", "this store cannot be restored from a backup"}
	}
	force := false
	switch f := r.URL.Query().Get("force"); f {
	case "", "0", "false":
	case "1", "true":
		force = true
	default:
		return &endpointError{http.StatusBadRequest, "bad_force", "force must be true or false, got " + f}
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(restoreReadTimeout))
	err := b.Restore(r.Context(), r.Body, force)
	switch {
	case errors.Is(err, guestlink.ErrStoreNotEmpty):
		return &endpointError{http.StatusConflict, "store_not_empty", "store " + key + " is not empty: it holds rooms, links or guests; restore with force (--force) to replace everything in it"}
	case errors.Is(err, guestlink.ErrStoreBusy):
		return &endpointError{http.StatusConflict, "store_busy", err.Error()}
	case errors.Is(err, guestlink.ErrBadBackup):
		return &endpointError{http.StatusUnprocessableEntity, "bad_backup", err.Error()}
	case err != nil:
		a.logger.Error("restore failed", zap.String("store", key), zap.Bool("force", force), zap.Error(err))
		return &endpointError{http.StatusInternalServerError, "internal", "the restore failed; see Caddy's log"}
	}
	a.logger.Info("store restored from a backup", zap.String("store", key), zap.Bool("force", force))
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(admin.RestoreJSON{
		Store: key, Restored: true, ReloadRequired: true,
		Message: "restored; reload the configuration (caddy reload --force) so that the handlers load the restored signing keys",
	})
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Interface guards
var (
	_ caddy.AdminRouter = (*AdminAPI)(nil)
	_ caddy.Provisioner = (*AdminAPI)(nil)
)

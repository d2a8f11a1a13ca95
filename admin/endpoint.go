package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/guestlink/export"
)

// The admin endpoint: the routes of the admin.api.guestgate module on Caddy's
// admin endpoint (localhost:2019 by default), for the "caddy guestgate" command.
// Caddy's admin endpoint has its own access control, so no credential is checked
// (AdminEndpoint). It works on the stores that the running handlers have open and
// never opens one itself.
//
// Routes, under EndpointPrefix (store: ?store=<dir>; default: the only store in
// use):
//
//	GET  stores             the stores in use (StoresJSON)
//	*    api/...            the moderator API (docs/DESIGN.md section 3)
//	GET  backup             a full backup of the store (application/octet-stream)
//	POST restore[?force=1]  restore the store from a backup in the body
//	GET  export             the store-neutral export (package guestlink/export)
//	POST import[?force=1]   replace the store's contents with an export in the body
//
// A backup is the store's own (guestlink.Backupper: Badger's); a store
// without one (PostgreSQL, which pg_dump backs up) answers backup and restore
// with 501 and a message that says so. Every store exports and imports.
//
// Errors are ErrorJSON, like the moderator API's.

// EndpointStores is what the endpoint needs of the stores in use.
type EndpointStores interface {
	// Keys are the keys of the stores the running handlers have open, sorted.
	Keys() []string
	// Key is the key of the store a request names with ?store=.
	Key(name string) (string, error)
	// Borrow takes one use of the open store at key, which release gives back;
	// ok is false, and nothing is opened, when no handler has it open.
	Borrow(key string) (store guestlink.Store, release func(), ok bool, err error)
	// Settings are the Service and link_base of the newest guest_admin handler
	// on the store at key; svc is nil when there is none.
	Settings(key string) (svc *guestlink.Service, linkBase string)
	// Service is the Service of a store without a guest_admin handler.
	Service(store guestlink.Store) *guestlink.Service
}

// Endpoint serves the admin endpoint's routes.
type Endpoint struct {
	Stores EndpointStores
	// Logger receives failures, and a line for every backup and restore.
	Logger *slog.Logger
	// RestoreReadTimeout is how long a restore upload may take (Caddy's admin
	// server gives a whole request 10 s, too little for a big backup).
	RestoreReadTimeout time.Duration
}

// endpointError is an error answer of the endpoint.
type endpointError struct {
	status        int
	code, message string
}

func (e *endpointError) Error() string { return e.message }

// Serve routes a request under EndpointPrefix. It answers every error of its own
// and returns only those it cannot answer (Caddy's admin server does).
func (e *Endpoint) Serve(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	rest := "/" + strings.TrimPrefix(r.URL.Path, EndpointPrefix)
	var err error
	switch {
	case rest == "/stores":
		err = e.stores(w, r)
	case rest == OpenAPIPath && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		// The document is the same for every store, or none.
		writeOpenAPI(w, r)
		return nil
	case rest == "/backup":
		err = e.withStore(w, r, http.MethodGet, e.backup)
	case rest == "/restore":
		err = e.withStore(w, r, http.MethodPost, e.restore)
	case rest == "/export":
		err = e.withStore(w, r, http.MethodGet, e.export)
	case rest == "/import":
		err = e.withStore(w, r, http.MethodPost, e.load)
	case strings.HasPrefix(rest, "/api/"):
		err = e.withStore(w, r, "", e.api)
	default:
		err = &endpointError{http.StatusNotFound, "not_found", "no such guestgate admin path; see 'caddy guestgate --help'"}
	}
	var ee *endpointError
	if errors.As(err, &ee) {
		writeError(w, ee.status, ee.code, ee.message, "")
		return nil
	}
	return err
}

func (e *Endpoint) stores(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, http.MethodGet)
	}
	res := StoresJSON{Stores: []StoreJSON{}}
	for _, key := range e.Stores.Keys() {
		info := StoreJSON{Store: key, MaxLinks: guestlink.DefaultMaxLinks}
		if svc, linkBase := e.Stores.Settings(key); svc != nil {
			info.GuestAdmin, info.LinkBase, info.MaxLinks = true, linkBase, svc.Limit()
		}
		res.Stores = append(res.Stores, info)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func methodNotAllowed(w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return &endpointError{http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed here; use " + allow}
}

// errNoStore: the loaded config has no guestgate handler.
var errNoStore = &endpointError{http.StatusServiceUnavailable, "no_store", "no guestgate handler is running: the loaded config has no guest_gateway or guest_admin handler"}

// withStore borrows the store the request names (?store=) or the only one in
// use, and calls fn with it; method, if not empty, is the only method allowed.
func (e *Endpoint) withStore(w http.ResponseWriter, r *http.Request, method string,
	fn func(http.ResponseWriter, *http.Request, string, guestlink.Store) error,
) error {
	if method != "" && r.Method != method {
		return methodNotAllowed(w, method)
	}
	open := e.Stores.Keys()
	key := r.URL.Query().Get("store")
	switch {
	case key != "":
		k, err := e.Stores.Key(key)
		if err != nil {
			return &endpointError{http.StatusBadRequest, "bad_store", err.Error()}
		}
		key = k
	case len(open) == 0:
		return errNoStore
	case len(open) > 1:
		return &endpointError{http.StatusBadRequest, "store_ambiguous",
			"several guestgate stores are in use (" + strings.Join(open, ", ") + "): name one with ?store=<dir> (--store)"}
	default:
		key = open[0]
	}
	store, release, ok, err := e.Stores.Borrow(key)
	if err != nil {
		return fmt.Errorf("guestgate store %s: %w", key, err)
	}
	if !ok {
		if len(open) == 0 {
			return errNoStore
		}
		return &endpointError{http.StatusNotFound, "store_not_open",
			"no guestgate handler uses store " + key + "; stores in use: " + strings.Join(open, ", ")}
	}
	defer release()
	return fn(w, r, key, store)
}

// api serves the moderator API with the settings of the store's newest
// guest_admin handler.
func (e *Endpoint) api(w http.ResponseWriter, r *http.Request, key string, store guestlink.Store) error {
	svc, linkBase := e.Stores.Settings(key)
	if svc == nil {
		svc = e.Stores.Service(store)
	}
	if linkBase == "" {
		// The admin endpoint's own address is no use in a link: give the path.
		linkBase = "/guest/"
	}
	h, err := New(Config{
		Service: svc, Authenticators: []Authenticator{AdminEndpoint{}}, LinkBase: linkBase,
		OnError: func(r *http.Request, err error) {
			e.Logger.Error("guestgate admin endpoint request failed", "store", key, "path", r.URL.Path, "error", err)
		},
	})
	if err != nil {
		return err
	}
	http.StripPrefix(strings.TrimSuffix(EndpointPrefix, "/"), h).ServeHTTP(w, r)
	return nil
}

// errNoBackup is the answer of backup and restore on a store that has no
// backup of its own.
var errNoBackup = &endpointError{http.StatusNotImplemented, "not_supported",
	"this store has no backup of its own: back a PostgreSQL store up with pg_dump (see the README), " +
		"or write the store-neutral export with 'caddy guestgate export' and load it with 'caddy guestgate import'"}

func (e *Endpoint) backup(w http.ResponseWriter, r *http.Request, key string, store guestlink.Store) error {
	b, ok := store.(guestlink.Backupper)
	if !ok {
		return errNoBackup
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="guestgate.backup"`)
	return e.stream(w, key, "backup", "store backed up", func(w io.Writer) error { return b.Backup(r.Context(), w) })
}

func (e *Endpoint) export(w http.ResponseWriter, r *http.Request, key string, store guestlink.Store) error {
	d, ok := store.(guestlink.Dumper)
	if !ok {
		return &endpointError{http.StatusNotImplemented, "not_supported", "this store cannot be exported"}
	}
	w.Header().Set("Content-Type", "application/jsonl")
	w.Header().Set("Content-Disposition", `attachment; filename="guestgate.jsonl"`)
	return e.stream(w, key, "export", "store exported", func(w io.Writer) error {
		_, err := export.Write(r.Context(), w, d, time.Now())
		return err
	})
}

// stream answers with what write writes (a backup or an export, op), and
// logs done when it is all written. An error before the first byte is an
// error answer; after it, the connection is cut, so that the client cannot
// take what it got for the whole.
func (e *Endpoint) stream(w http.ResponseWriter, key, op, done string, write func(io.Writer) error) error {
	cw := &countingWriter{w: w}
	start := time.Now()
	if err := write(cw); err != nil {
		if cw.n == 0 {
			w.Header().Del("Content-Disposition")
			if errors.Is(err, guestlink.ErrStoreBusy) {
				return &endpointError{http.StatusConflict, "store_busy", err.Error()}
			}
			e.Logger.Error(op+" failed", "store", key, "error", err)
			return &endpointError{http.StatusInternalServerError, "internal", "the " + op + " failed; see Caddy's log"}
		}
		// The status line is gone: cut the connection.
		e.Logger.Error(op+" failed after it started; connection aborted", "store", key, "bytes", cw.n, "error", err)
		panic(http.ErrAbortHandler)
	}
	e.Logger.Info(done, "store", key, "bytes", cw.n, "took", time.Since(start))
	return nil
}

func (e *Endpoint) restore(w http.ResponseWriter, r *http.Request, key string, store guestlink.Store) error {
	b, ok := store.(guestlink.Backupper)
	if !ok {
		return errNoBackup
	}
	force, err := e.replacing(w, r)
	if err != nil {
		return err
	}
	if err := e.replaceError(key, "restore", force, b.Restore(r.Context(), r.Body, force)); err != nil {
		return err
	}
	e.Logger.Info("store restored from a backup", "store", key, "force", force)
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(RestoreJSON{
		Store: key, Restored: true, ReloadRequired: true,
		Message: "restored; reload the configuration (caddy reload --force) so that the handlers load the restored signing keys",
	})
}

// load imports an export (POST import).
func (e *Endpoint) load(w http.ResponseWriter, r *http.Request, key string, store guestlink.Store) error {
	d, ok := store.(guestlink.Dumper)
	if !ok {
		return &endpointError{http.StatusNotImplemented, "not_supported", "this store cannot import an export"}
	}
	force, err := e.replacing(w, r)
	if err != nil {
		return err
	}
	counts, err := export.Read(r.Context(), r.Body, d, force)
	if err := e.replaceError(key, "import", force, err); err != nil {
		return err
	}
	e.Logger.Info("store replaced by an import", "store", key, "force", force, "imported", counts.String())
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(ImportJSON{
		Store: key, Imported: counts, ReloadRequired: true,
		Message: "imported; reload the configuration (caddy reload --force) so that the handlers load the imported signing keys, " +
			"on every instance that shares the store",
	})
}

// replacing reads the force parameter of a restore or an import and gives
// the upload its time.
func (e *Endpoint) replacing(w http.ResponseWriter, r *http.Request) (force bool, err error) {
	switch f := r.URL.Query().Get("force"); f {
	case "", "0", "false":
	case "1", "true":
		force = true
	default:
		return false, &endpointError{http.StatusBadRequest, "bad_force", "force must be true or false, got " + f}
	}
	if e.RestoreReadTimeout > 0 {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(e.RestoreReadTimeout))
	}
	return force, nil
}

// replaceError is the answer for the error of a restore or an import (op)
// of the store at key: nil for none.
func (e *Endpoint) replaceError(key, op string, force bool, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, guestlink.ErrStoreNotEmpty):
		return &endpointError{http.StatusConflict, "store_not_empty", "store " + key + " is not empty: it holds rooms, links or guests; " + op + " with force (--force) to replace everything in it"}
	case errors.Is(err, guestlink.ErrStoreBusy):
		return &endpointError{http.StatusConflict, "store_busy", err.Error()}
	case errors.Is(err, guestlink.ErrBadBackup):
		return &endpointError{http.StatusUnprocessableEntity, "bad_backup", err.Error()}
	case errors.Is(err, guestlink.ErrWouldEmpty):
		return &endpointError{http.StatusConflict, "would_empty", "store " + key + " holds rooms and the " + op + "'s input none: with force it would leave the store without them; nothing was changed"}
	}
	e.Logger.Error(op+" failed", "store", key, "force", force, "error", err)
	return &endpointError{http.StatusInternalServerError, "internal", "the " + op + " failed; see Caddy's log"}
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

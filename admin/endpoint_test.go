package admin

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/teststore"
)

// oneStore is the EndpointStores of one open store, under key "s".
type oneStore struct{ s guestlink.Store }

func (o oneStore) Keys() []string                  { return []string{"s"} }
func (o oneStore) Key(name string) (string, error) { return name, nil }
func (o oneStore) Borrow(key string) (guestlink.Store, func(), bool, error) {
	return o.s, func() {}, key == "s", nil
}
func (o oneStore) Settings(string) (*guestlink.Service, string) { return nil, "" }
func (o oneStore) Service(s guestlink.Store) *guestlink.Service {
	return &guestlink.Service{Store: s, Now: time.Now}
}

// noBackup is a store that exports but has no backup of its own, as the
// PostgreSQL store.
type noBackup struct {
	guestlink.Store
	guestlink.Dumper
}

// endpointCall sends one request to an Endpoint on store and returns the
// status and body.
func endpointCall(t *testing.T, store guestlink.Store, method, path string, body []byte) (int, []byte) {
	t.Helper()
	e := &Endpoint{Stores: oneStore{store}, Logger: slog.New(slog.DiscardHandler)}
	w := httptest.NewRecorder()
	if err := e.Serve(w, httptest.NewRequest(method, path, bytes.NewReader(body))); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	return w.Code, w.Body.Bytes()
}

func code(t *testing.T, body []byte) string {
	t.Helper()
	var e ErrorJSON
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not an error answer: %s", body)
	}
	return e.Error.Code
}

// TestEndpointExportImport protects "caddy guestgate export" and "import":
// the export of a store loads into an empty one and answers what it holds;
// a store with records is refused without force; a truncated export is 422
// and changes nothing; and a store without a backup of its own answers
// backup and restore with 501 and a message that points to pg_dump and the
// export.
func TestEndpointExportImport(t *testing.T) {
	svc, _ := teststore.Service(t, time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC))
	src := svc.Store
	ctx := t.Context()
	if _, _, err := svc.PutRoom(ctx, "demo", guestlink.RoomSpec{Name: "Demo room"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetGuestAccess(ctx, "demo", true); err != nil {
		t.Fatal(err)
	}
	l, err := svc.CreateLink(ctx, "demo", guestlink.LinkSpec{Name: "Guests", MaxClicks: new(2)})
	if err != nil {
		t.Fatal(err)
	}

	status, file := endpointCall(t, src, http.MethodGet, EndpointPrefix+"export", nil)
	if status != http.StatusOK || !bytes.HasPrefix(file, []byte(`{"guestgate_export":`)) {
		t.Fatalf("export: %d %.80s", status, file)
	}
	dst := teststore.Open(t)
	status, body := endpointCall(t, dst, http.MethodPost, EndpointPrefix+"import?store=s&force=maybe", file)
	if status != http.StatusBadRequest || code(t, body) != "bad_force" {
		t.Errorf("import with force=maybe: %d %s, want 400 bad_force", status, body)
	}
	status, body = endpointCall(t, dst, http.MethodPost, EndpointPrefix+"import", file[:len(file)-10])
	if status != http.StatusUnprocessableEntity || code(t, body) != "bad_backup" {
		t.Errorf("import of a truncated export: %d %s, want 422 bad_backup", status, body)
	}
	if _, err := dst.Room(ctx, "demo"); err == nil {
		t.Error("a refused import left a room")
	}
	status, body = endpointCall(t, dst, http.MethodPost, EndpointPrefix+"import", file)
	var res ImportJSON
	if status != http.StatusOK || json.Unmarshal(body, &res) != nil || res.Imported.Rooms != 1 || res.Imported.Links != 1 || !res.ReloadRequired {
		t.Fatalf("import: %d %s", status, body)
	}
	if _, got, err := dst.LinkByToken(ctx, l.Token); err != nil || got.MaxClicks != 2 {
		t.Errorf("the imported link: %+v, %v", got, err)
	}
	status, body = endpointCall(t, dst, http.MethodPost, EndpointPrefix+"import", file)
	if status != http.StatusConflict || code(t, body) != "store_not_empty" || !strings.Contains(string(body), "import with force") {
		t.Errorf("import into a store with records: %d %s, want 409 store_not_empty", status, body)
	}
	if status, body = endpointCall(t, dst, http.MethodPost, EndpointPrefix+"import?force=true", file); status != http.StatusOK {
		t.Errorf("import with force: %d %s", status, body)
	}
	// The export of a store without rooms would empty this one: refused.
	_, emptyFile := endpointCall(t, teststore.Open(t), http.MethodGet, EndpointPrefix+"export", nil)
	status, body = endpointCall(t, dst, http.MethodPost, EndpointPrefix+"import?force=true", emptyFile)
	if status != http.StatusConflict || code(t, body) != "would_empty" {
		t.Errorf("import with force of an export without rooms: %d %s, want 409 would_empty", status, body)
	}
	if _, err := dst.Room(ctx, "demo"); err != nil {
		t.Errorf("the refused import of an export without rooms: %v", err)
	}

	pg := noBackup{Store: src, Dumper: src.(guestlink.Dumper)}
	for _, path := range []string{"backup", "restore"} {
		method := map[string]string{"backup": http.MethodGet, "restore": http.MethodPost}[path]
		status, body := endpointCall(t, pg, method, EndpointPrefix+path, nil)
		if status != http.StatusNotImplemented || code(t, body) != "not_supported" ||
			!strings.Contains(string(body), "pg_dump") || !strings.Contains(string(body), "caddy guestgate export") {
			t.Errorf("%s on a store without a backup of its own: %d %s, want 501 naming pg_dump and the export", path, status, body)
		}
	}
	if status, body := endpointCall(t, pg, http.MethodGet, EndpointPrefix+"export", nil); status != http.StatusOK {
		t.Errorf("export of a store without a backup of its own: %d %.100s", status, body)
	}
	if status, _ := endpointCall(t, src, http.MethodPost, EndpointPrefix+"export", nil); status != http.StatusMethodNotAllowed {
		t.Errorf("POST export: %d, want 405", status)
	}
}

// TestEndpointOpenAPI: the admin endpoint serves the API's document at its
// own /api/openapi.json without asking which store: the document is the
// same for every store, and for none.
func TestEndpointOpenAPI(t *testing.T) {
	e := &Endpoint{Stores: noStores{}, Logger: slog.New(slog.DiscardHandler)}
	w := httptest.NewRecorder()
	if err := e.Serve(w, httptest.NewRequest("GET", EndpointPrefix+"api/openapi.json", nil)); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusOK || w.Body.String() != string(openapiJSON) {
		t.Fatalf("%d %.200s, want 200 and the document", w.Code, w.Body)
	}
}

// noStores is the EndpointStores of a Caddy without guestgate handlers.
type noStores struct{ oneStore }

func (noStores) Keys() []string { return nil }
func (noStores) Borrow(string) (guestlink.Store, func(), bool, error) {
	return nil, func() {}, false, nil
}

package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/caddymodule/stores"
	"github.com/guestgate/guestgate/guestlink"
)

// adminCall sends one request to the admin endpoint module and returns the
// status and body.
func adminCall(t *testing.T, a *AdminAPI, method, target string, body []byte) (int, []byte) {
	t.Helper()
	var r *http.Request
	if body != nil {
		r = httptest.NewRequest(method, target, bytes.NewReader(body))
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	w := httptest.NewRecorder()
	if err := a.endpoint.Serve(w, r); err != nil {
		t.Fatalf("%s %s: serve returned %v", method, target, err)
	}
	return w.Code, w.Body.Bytes()
}

// newTestAdminAPI is the module as Provision makes it, logging nowhere.
func newTestAdminAPI() *AdminAPI {
	return &AdminAPI{endpoint: &admin.Endpoint{Stores: poolStores{}, Logger: slog.New(slog.DiscardHandler)}}
}

// errorCode is the code of an error answer.
func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var e admin.ErrorJSON
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not an error answer: %s", body)
	}
	return e.Error.Code
}

// useStore opens the store in dir as a handler would and releases it when the
// test ends (or earlier, with the returned function).
func useStore(t *testing.T, dir string) (key string, release func()) {
	t.Helper()
	mod := &stores.Badger{Dir: dir}
	if err := mod.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	key = mod.StoreKey()
	if _, err := stores.Open(context.Background(), mod, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			if err := stores.Release(context.Background(), key); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(release)
	return key, release
}

func TestAdminAPIStoreSelection(t *testing.T) {
	a := newTestAdminAPI()
	if keys := stores.Keys(); len(keys) != 0 {
		t.Fatalf("stores left open by another test: %v", keys)
	}
	status, body := adminCall(t, a, http.MethodGet, "/guestgate/api/rooms/demo", nil)
	if status != http.StatusServiceUnavailable || errorCode(t, body) != "no_store" || !strings.Contains(string(body), "no guestgate handler is running") {
		t.Errorf("no store open: %d %s, want 503 no_store", status, body)
	}
	status, body = adminCall(t, a, http.MethodGet, "/guestgate/stores", nil)
	if status != http.StatusOK || !strings.Contains(string(body), `"stores":[]`) {
		t.Errorf("stores with none open: %d %s", status, body)
	}

	dir := t.TempDir()
	keyA, _ := useStore(t, filepath.Join(dir, "a"))
	status, body = adminCall(t, a, http.MethodPut, "/guestgate/api/rooms/demo", []byte(`{"name":"Demo"}`))
	if status != http.StatusCreated {
		t.Fatalf("PUT room with one store open: %d %s, want 201", status, body)
	}

	keyB, releaseB := useStore(t, filepath.Join(dir, "b"))
	status, body = adminCall(t, a, http.MethodGet, "/guestgate/api/rooms/demo", nil)
	if status != http.StatusBadRequest || errorCode(t, body) != "store_ambiguous" ||
		!strings.Contains(string(body), keyA) || !strings.Contains(string(body), keyB) {
		t.Errorf("two stores, none named: %d %s, want 400 store_ambiguous naming both", status, body)
	}
	status, body = adminCall(t, a, http.MethodGet, "/guestgate/api/rooms/demo?store="+url.QueryEscape(keyA), nil)
	if status != http.StatusOK {
		t.Errorf("GET room in store a: %d %s", status, body)
	}
	status, body = adminCall(t, a, http.MethodGet, "/guestgate/api/rooms/demo?store="+url.QueryEscape(keyB), nil)
	if status != http.StatusNotFound || errorCode(t, body) != "room_not_found" {
		t.Errorf("GET room in store b: %d %s, want 404 room_not_found", status, body)
	}

	// A store no handler has open is never opened (Badger would create it).
	other := filepath.Join(dir, "not-open")
	status, body = adminCall(t, a, http.MethodGet, "/guestgate/api/rooms/demo?store="+url.QueryEscape(other), nil)
	if status != http.StatusNotFound || errorCode(t, body) != "store_not_open" {
		t.Errorf("store not open: %d %s, want 404 store_not_open", status, body)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("the admin endpoint created or opened %s: %v", other, err)
	}
	if keys := stores.Keys(); len(keys) != 2 {
		t.Errorf("open stores %v, want a and b only", keys)
	}

	// The borrow is given back: when the handler releases b, it is closed.
	releaseB()
	if keys := stores.Keys(); len(keys) != 1 || keys[0] != keyA {
		t.Errorf("open stores after b's release: %v, want only %s", keys, keyA)
	}

	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/guestgate/nothing"},
		{http.MethodPost, "/guestgate/stores"},
		{http.MethodPost, "/guestgate/backup"},
		{http.MethodGet, "/guestgate/restore"},
	} {
		status, _ := adminCall(t, a, tc.method, tc.path, nil)
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d, want 404 or 405", tc.method, tc.path, status)
		}
	}
}

func TestAdminAPIFollowsGuestAdmin(t *testing.T) {
	a := newTestAdminAPI()
	key, _ := useStore(t, filepath.Join(t.TempDir(), "s"))
	adminCall(t, a, http.MethodPut, "/guestgate/api/rooms/demo", []byte(`{}`))
	adminCall(t, a, http.MethodPut, "/guestgate/api/rooms/demo/guest-access", []byte(`{"enabled":true}`))

	// Without a guest_admin handler: default max_links, and a path for the URL.
	var l struct{ URL string }
	status, body := adminCall(t, a, http.MethodPost, "/guestgate/api/rooms/demo/links", []byte(`{"name":"One"}`))
	if status != http.StatusCreated || json.Unmarshal(body, &l) != nil || !strings.HasPrefix(l.URL, "/guest/") {
		t.Fatalf("link without guest_admin: %d %s, want 201 with a /guest/ path", status, body)
	}

	// A guest_admin handler with link_base and max_links 1, then a newer one
	// (a reload) with max_links 2: the newest rules until it is cleaned up.
	store, release, ok, err := stores.Borrow(key)
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	defer release()
	old := &adminEntry{svc: &guestlink.Service{Store: store, Now: time.Now, MaxLinks: 1}, linkBase: "https://old.example.com/guest/"}
	registerAdmin(key, old)
	newer := &adminEntry{svc: &guestlink.Service{Store: store, Now: time.Now, MaxLinks: 2}, linkBase: "https://rooms.example.com/guest/"}
	registerAdmin(key, newer)
	status, body = adminCall(t, a, http.MethodPost, "/guestgate/api/rooms/demo/links", []byte(`{"name":"Two"}`))
	if status != http.StatusCreated || json.Unmarshal(body, &l) != nil || !strings.HasPrefix(l.URL, "https://rooms.example.com/guest/") {
		t.Fatalf("link with the newer guest_admin: %d %s, want its link_base", status, body)
	}
	status, body = adminCall(t, a, http.MethodPost, "/guestgate/api/rooms/demo/links", []byte(`{"name":"Three"}`))
	if status != http.StatusConflict || errorCode(t, body) != "link_limit" {
		t.Errorf("third link with max_links 2: %d %s, want 409 link_limit", status, body)
	}
	unregisterAdmin(key, newer)
	status, body = adminCall(t, a, http.MethodGet, "/guestgate/api/rooms/demo", nil)
	if status != http.StatusOK || !strings.Contains(string(body), `"max_links":1`) || !strings.Contains(string(body), "https://old.example.com/guest/") {
		t.Errorf("after the newer handler's cleanup: %d %s, want the older one's settings", status, body)
	}
	unregisterAdmin(key, old)
	if e := latestAdmin(key); e != nil {
		t.Errorf("registry still holds %+v after both cleanups", e)
	}
}

func TestAdminAPIBackupRestore(t *testing.T) {
	a := newTestAdminAPI()
	dir := t.TempDir()
	keyA, _ := useStore(t, filepath.Join(dir, "a"))
	keyB, _ := useStore(t, filepath.Join(dir, "b"))
	inA := "?store=" + url.QueryEscape(keyA)
	inB := "?store=" + url.QueryEscape(keyB)
	adminCall(t, a, http.MethodPut, "/guestgate/api/rooms/demo"+inA, []byte(`{"name":"Demo"}`))

	status, backup := adminCall(t, a, http.MethodGet, "/guestgate/backup"+inA, nil)
	if status != http.StatusOK || len(backup) == 0 {
		t.Fatalf("backup: %d, %d bytes", status, len(backup))
	}
	status, body := adminCall(t, a, http.MethodPost, "/guestgate/restore"+inB, backup)
	if status != http.StatusOK || !strings.Contains(string(body), `"reload_required":true`) {
		t.Fatalf("restore into an empty store: %d %s", status, body)
	}
	status, body = adminCall(t, a, http.MethodGet, "/guestgate/api/rooms/demo"+inB, nil)
	if status != http.StatusOK || !strings.Contains(string(body), `"name":"Demo"`) {
		t.Errorf("room after restore: %d %s", status, body)
	}
	status, body = adminCall(t, a, http.MethodPost, "/guestgate/restore"+inB, backup)
	if status != http.StatusConflict || errorCode(t, body) != "store_not_empty" {
		t.Errorf("restore into a store with records: %d %s, want 409 store_not_empty", status, body)
	}
	status, body = adminCall(t, a, http.MethodPost, "/guestgate/restore"+inB+"&force=true", backup[:len(backup)/2])
	if status != http.StatusUnprocessableEntity || errorCode(t, body) != "bad_backup" {
		t.Errorf("restore of half a backup: %d %s, want 422 bad_backup", status, body)
	}
	status, body = adminCall(t, a, http.MethodPost, "/guestgate/restore"+inB+"&force=maybe", backup)
	if status != http.StatusBadRequest {
		t.Errorf("force=maybe: %d %s, want 400", status, body)
	}
	status, body = adminCall(t, a, http.MethodPost, "/guestgate/restore"+inB+"&force=1", backup)
	if status != http.StatusOK {
		t.Errorf("restore with force: %d %s", status, body)
	}
}

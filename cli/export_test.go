package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/guestlink/export"
	"github.com/guestgate/guestgate/internal/teststore"
)

// TestExportChecksTheDownload protects "caddy guestgate export": the file
// appears only when the whole export arrived, which the command checks by
// reading it through (the end record's counts and checksum); a download cut
// short, or an answer that is not an export, leaves no file and fails. The
// command says what it wrote.
func TestExportChecksTheDownload(t *testing.T) {
	s := teststore.Open(t)
	ctx := context.Background()
	spec, _ := guestlink.RoomSpec{Name: "Demo"}.Normalize("demo")
	if _, _, err := s.PutRoom(ctx, "demo", spec, time.Now()); err != nil {
		t.Fatal(err)
	}
	var whole bytes.Buffer
	if _, err := export.Write(ctx, &whole, s, time.Now()); err != nil {
		t.Fatal(err)
	}
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != admin.EndpointPrefix+"export" {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		body    []byte
		wantErr string // "" for success
	}{
		{"whole", whole.Bytes(), ""},
		{"cut short", whole.Bytes()[:whole.Len()-5], "the export did not arrive whole"},
		{"not an export", []byte("<html>proxy error</html>\n"), "does not start with the header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body = tc.body
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".jsonl")
			status, err, out := runCLI(t, srv, "export", file)
			got, readErr := os.ReadFile(file)
			if tc.wantErr == "" {
				if status != 0 || !bytes.Equal(got, tc.body) || !strings.Contains(out, "Export written to "+file) || !strings.Contains(out, ": 1 room, 0 links") {
					t.Errorf("export: %d %v %q; file %d bytes (%v)", status, err, out, len(got), readErr)
				}
				return
			}
			if status != 1 || err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("export: %d %v, want an error saying %q", status, err, tc.wantErr)
			}
			if readErr == nil {
				t.Errorf("a failed export left %s", file)
			}
			if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*part*")); len(leftovers) > 0 {
				t.Errorf("a failed export left %v", leftovers)
			}
		})
	}
}

// TestRestoreAndImportReload protects what "restore" and "import" tell an
// operator after the store's contents were replaced: which store, from which
// file (and, for import, what came), and that the configuration was
// reloaded, so that the handlers use the keys that came with it; or, with
// --no-reload, that it must be; or, when the reload fails, that the store
// was replaced anyway and how to reload. --json says the same for scripts.
func TestRestoreAndImportReload(t *testing.T) {
	loadFails := false
	var loads int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case admin.EndpointPrefix + "restore":
			json.NewEncoder(w).Encode(admin.RestoreJSON{Store: "/srv/gg", Restored: true, ReloadRequired: true})
		case admin.EndpointPrefix + "import":
			json.NewEncoder(w).Encode(admin.ImportJSON{Store: "/srv/gg", Imported: export.Counts{Rooms: 1, Links: 2}, ReloadRequired: true})
		case "/config/":
			w.Write([]byte(`{"apps":{}}`))
		case "/load":
			loads++
			if loadFails {
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"error":"bad config"}`))
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("contents"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		args      []string
		loadFails bool
		wantLoads int
		want      string // the output, or the error's text if wantErr
		wantErr   bool
	}{
		{"restore", []string{"restore", file}, false, 1,
			"Store /srv/gg restored from " + file + ".\nConfiguration reloaded: the handlers use the restored keys.\n", false},
		{"restore --no-reload", []string{"restore", file, "--no-reload"}, false, 0,
			"Store /srv/gg restored from " + file + ".\nReload the configuration (caddy reload --force) so that the handlers use the restored keys.\n", false},
		{"restore --json", []string{"restore", file, "--json"}, false, 1,
			`{"reloaded":true,"restored":true,"store":"/srv/gg"}`, false},
		{"restore, the reload fails", []string{"restore", file}, true, 1,
			"store /srv/gg restored, but reloading the configuration failed: ", true},
		{"import", []string{"import", file}, false, 1,
			"Store /srv/gg imported from " + file + ": 1 room, 2 links, 0 guests, 0 secrets, 0 queue items.\nConfiguration reloaded: the handlers use the imported keys.\n", false},
		{"import --no-reload --json", []string{"import", file, "--no-reload", "--json"}, false, 0,
			`{"imported":{"rooms":1,"links":2,"guests":0,"secrets":0,"queue_items":0},"reloaded":false,"store":"/srv/gg"}`, false},
		{"import, the reload fails", []string{"import", file}, true, 1,
			"store /srv/gg imported, but reloading the configuration failed: ", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loadFails, loads = tc.loadFails, 0
			status, err, out := runCLI(t, srv, tc.args...)
			switch {
			case tc.wantErr && (status != 1 || err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("exit %d, %v; want 1 and an error saying %q", status, err, tc.want)
			case !tc.wantErr && (status != 0 || err != nil || compactJSON(out) != tc.want):
				t.Errorf("exit %d, %v, output\n%s\nwant 0 and\n%s", status, err, out, tc.want)
			}
			if loads != tc.wantLoads {
				t.Errorf("%d reloads, want %d", loads, tc.wantLoads)
			}
		})
	}
}

// compactJSON is s without the white space between JSON tokens, or s as it is
// if it is not JSON.
func compactJSON(s string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(s)) != nil {
		return s
	}
	return b.String()
}

package cli

import (
	"bytes"
	"context"
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

package caddymodule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"
)

// adaptDir holds the Caddyfile adapt fixtures, in the format of Caddy's own
// caddytest/integration/caddyfile_adapt: a Caddyfile, a line of ten dashes, and
// either the JSON it adapts to or a piece of the error text adapting gives.
const adaptDir = "testdata/caddyfile_adapt"

// TestCaddyfileAdaptToJSON runs every fixture the way Caddy's
// TestCaddyfileAdaptToJSON does.
func TestCaddyfileAdaptToJSON(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(adaptDir, "*.caddyfiletest"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", adaptDir, err)
	}
	crlf := regexp.MustCompile(`\r?\n`)
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			caddyfile, expected := readFixture(t, path)
			expected = crlf.ReplaceAllString(expected, "\n")
			if strings.HasPrefix(expected, "{") {
				if !caddytest.CompareAdapt(t, name, caddyfile, "caddyfile", expected) {
					t.Errorf("%s does not adapt to its JSON (the diff is above)", name)
				}
				return
			}
			if !strings.HasPrefix(name, "error_") {
				t.Fatalf("%s expects an error but is not named error_*", name)
			}
			_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
			if err == nil {
				t.Fatalf("%s adapted without error, want one containing %q", name, expected)
			}
			if got := crlf.ReplaceAllString(err.Error(), "\n"); !strings.Contains(got, expected) {
				t.Errorf("%s: error\n%s\nwant it to contain\n%s", name, got, expected)
			}
		})
	}
}

// readFixture splits a fixture into its Caddyfile and its expected output.
func readFixture(t *testing.T, path string) (caddyfile, expected string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(b), "----------")
	if len(parts) != 2 {
		t.Fatalf("%s: want one line of ten dashes between the Caddyfile and the expected output, found %d parts", path, len(parts))
	}
	return strings.TrimSpace(parts[0]) + "\n", strings.TrimSpace(parts[1])
}

// TestAdaptFixturesCoverEveryField keeps the *_all_subdirectives fixtures
// complete: every JSON field of each handler must be set in its fixture, so a
// new subdirective comes with its adapt fixture.
func TestAdaptFixturesCoverEveryField(t *testing.T) {
	for _, tc := range []struct {
		fixture, handler string
		typ              reflect.Type
	}{
		{"gateway_all_subdirectives.caddyfiletest", "guest_gateway", reflect.TypeFor[Gateway]()},
		{"admin_all_subdirectives.caddyfiletest", "guest_admin", reflect.TypeFor[Admin]()},
	} {
		t.Run(tc.handler, func(t *testing.T) {
			_, expected := readFixture(t, filepath.Join(adaptDir, tc.fixture))
			var cfg any
			if err := json.Unmarshal([]byte(expected), &cfg); err != nil {
				t.Fatalf("%s: expected output is not JSON: %v", tc.fixture, err)
			}
			handlers := findHandlers(cfg, tc.handler)
			if len(handlers) != 1 {
				t.Fatalf("%s: found %d %s handlers in the expected JSON, want 1", tc.fixture, len(handlers), tc.handler)
			}
			for i := range tc.typ.NumField() {
				f := tc.typ.Field(i)
				tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if !f.IsExported() || tag == "" || tag == "-" {
					continue
				}
				if _, ok := handlers[0][tag]; !ok {
					t.Errorf("%s does not set %q (field %s): add its subdirective to the fixture", tc.fixture, tag, f.Name)
				}
			}
		})
	}
}

// findHandlers returns every object with "handler": name inside v.
func findHandlers(v any, name string) []map[string]any {
	var out []map[string]any
	switch x := v.(type) {
	case map[string]any:
		if x["handler"] == name {
			out = append(out, x)
		}
		for _, e := range x {
			out = append(out, findHandlers(e, name)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, findHandlers(e, name)...)
		}
	}
	return out
}

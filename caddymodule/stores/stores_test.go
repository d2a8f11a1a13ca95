package stores

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// handler holds a store module as guest_gateway and guest_admin do.
type handler struct {
	StoreRaw json.RawMessage `json:"store,omitempty" caddy:"namespace=guestgate.stores inline_key=module"`
}

// TestLoad: a handler's store is the module its JSON names, a JSON string
// is the directory of a Badger store (the form of configs written before stores
// were modules), and no store is Badger in the default directory; the key of a
// Badger store is its cleaned absolute directory.
func TestLoad(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	dir := t.TempDir()
	def, err := dirKey("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, raw, key string
	}{
		{"module", `{"module": "badger", "dir": "` + dir + `/./x/"}`, filepath.Join(dir, "x")},
		{"string", `"` + dir + `/y"`, filepath.Join(dir, "y")},
		{"none", ``, def},
		{"module without dir", `{"module": "badger"}`, def},
	} {
		h := &handler{StoreRaw: json.RawMessage(tc.raw)}
		mod, err := Load(ctx, h, h.StoreRaw)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if _, ok := mod.(*Badger); !ok || mod.StoreKey() != tc.key {
			t.Errorf("%s: %T with key %q, want Badger with %q", tc.name, mod, mod.StoreKey(), tc.key)
		}
	}
	h := &handler{StoreRaw: json.RawMessage(`{"module": "nosuch"}`)}
	if _, err := Load(ctx, h, h.StoreRaw); err == nil {
		t.Error("an unknown store module was loaded")
	}
}

// TestKey: the admin endpoint's ?store= (the CLI's --store) names a
// PostgreSQL store as 'stores' lists it, or by a DSN of its database (the
// password is never part of a key), and a Badger store by its directory,
// every spelling of one directory giving one key; no directory is the
// default one under Caddy's data directory.
func TestKey(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"postgres://gg@db.example.com:5432/rooms", "postgresql://gg:s3cret@db.example.com:5432/rooms?sslmode=disable"}, "postgres://gg@db.example.com:5432/rooms"},
		{[]string{"/srv/data", "/srv/data/", "/srv/data/../data/"}, "/srv/data"},
	} {
		for _, name := range tc.names {
			if got, err := Key(name); err != nil || got != tc.want {
				t.Errorf("Key(%q) = %q, %v; want %q", name, got, err, tc.want)
			}
		}
	}
	if def, err := Key(""); err != nil || !strings.HasSuffix(def, "/guestgate") {
		t.Errorf("Key(\"\") = %q, %v; want the default directory", def, err)
	}
}

// TestBadgerDirPlaceholders: a Badger directory's placeholders are resolved,
// as a DSN's are, and a directory that turns out to be a database address
// ({env.GUESTGATE_DSN} given to the shorthand "store <dir>") is refused
// without being repeated, rather than becoming a directory named after the
// DSN, password and all.
func TestBadgerDirPlaceholders(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("GG_TEST_STORE_DIR", dir)
	t.Setenv("GG_TEST_STORE_DSN", "postgres://gg:s3cret@db.internal/rooms")
	b := &Badger{Dir: "{env.GG_TEST_STORE_DIR}/x"}
	if err := b.Provision(caddy.Context{}); err != nil || b.StoreKey() != filepath.Join(dir, "x") {
		t.Errorf("key %q, %v; want %q", b.StoreKey(), err, filepath.Join(dir, "x"))
	}
	for _, d := range []string{"{env.GG_TEST_STORE_DSN}", "host=db password=s3cret dbname=rooms"} {
		err := (&Badger{Dir: d}).Provision(caddy.Context{})
		if err == nil || !strings.Contains(err.Error(), "looks like a database address") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("dir %q: %v, want a refusal that does not repeat it", d, err)
		}
	}
}

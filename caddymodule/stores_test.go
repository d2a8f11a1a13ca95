package caddymodule

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestLoadStore: a handler's store is the module its JSON names, a JSON string
// is the directory of a Badger store (the form of configs written before stores
// were modules), and no store is Badger in the default directory; the key of a
// Badger store is its cleaned absolute directory.
func TestLoadStore(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	dir := t.TempDir()
	def, err := storeKey("")
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
		g := &Gateway{StoreRaw: json.RawMessage(tc.raw)}
		mod, err := loadStore(ctx, g, g.StoreRaw)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if _, ok := mod.(*BadgerStore); !ok || mod.StoreKey() != tc.key {
			t.Errorf("%s: %T with key %q, want Badger with %q", tc.name, mod, mod.StoreKey(), tc.key)
		}
	}
	g := &Gateway{StoreRaw: json.RawMessage(`{"module": "nosuch"}`)}
	if _, err := loadStore(ctx, g, g.StoreRaw); err == nil {
		t.Error("an unknown store module was loaded")
	}
}

// TestStoreKeyOfRequest: the admin endpoint's ?store= (the CLI's --store)
// names a PostgreSQL store as 'stores' lists it, or by a DSN of its database
// (the password is never part of a key), and a Badger store by its directory.
func TestStoreKeyOfRequest(t *testing.T) {
	for name, want := range map[string]string{
		"postgres://gg@db.example.com:5432/rooms":                          "postgres://gg@db.example.com:5432/rooms",
		"postgresql://gg:s3cret@db.example.com:5432/rooms?sslmode=disable": "postgres://gg@db.example.com:5432/rooms",
		"/var/lib/guestgate/":                                              "/var/lib/guestgate",
	} {
		if got, err := (poolStores{}).Key(name); err != nil || got != want {
			t.Errorf("Key(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
}

package stores

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// TestPool: handlers whose modules name one store share one open store and
// hub, which stays open while any of them, or a borrow, still uses it and
// closes with the last release, unlocking Badger's directory for the next
// config. A borrow never opens a store that no handler has open.
func TestPool(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	open := func(dir string) Shared {
		t.Helper()
		mod := &Badger{Dir: dir}
		if err := mod.Provision(caddy.Context{}); err != nil {
			t.Fatal(err)
		}
		s, err := Open(mod, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := open(dir), open(dir+"/")
	key, _ := Key(dir)
	if a.Store != b.Store || a.Hub != b.Hub || a.Hub == nil {
		t.Fatal("two handlers on one directory got two stores or hubs")
	}
	if keys := Keys(); !slices.Equal(keys, []string{key}) {
		t.Fatalf("Keys() = %v, want %v", keys, []string{key})
	}

	other := filepath.Join(t.TempDir(), "not-open")
	if _, _, ok, err := Borrow(other); ok || err != nil {
		t.Fatalf("Borrow of a store not open: ok %v, %v", ok, err)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Fatalf("Borrow created or opened %s: %v", other, err)
	}
	s, release, ok, err := Borrow(key)
	if !ok || err != nil || s != a.Store {
		t.Fatalf("Borrow of the open store: %v, %v, %v", s, ok, err)
	}

	for range 2 { // a's and b's handlers are cleaned up
		if err := Release(key); err != nil {
			t.Fatal(err)
		}
		if keys := Keys(); len(keys) != 1 {
			t.Fatalf("the store closed while borrowed or used: Keys() = %v", keys)
		}
	}
	release()
	if keys := Keys(); len(keys) != 0 {
		t.Fatalf("the store stayed open after the last release: Keys() = %v", keys)
	}
	c := open(dir) // Badger's lock is released: the next config opens the directory
	if c.Store == a.Store {
		t.Fatal("the closed store was handed out again")
	}
	if err := Release(key); err != nil {
		t.Fatal(err)
	}
}

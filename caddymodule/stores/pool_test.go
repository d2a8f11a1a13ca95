package stores

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
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

// settingsBadger is a Badger module with settings besides its key, as a
// PostgreSQL store has.
type settingsBadger struct {
	Badger
	settings string
}

func (b *settingsBadger) StoreSettings() string { return b.settings }

// TestPoolSettings: a store stays open with the settings of the handler
// that opened it, so a handler of the same key with other settings (another
// max_stale in the other handler's block, or a reload with a new password in
// the DSN) is told so in the log, where it would otherwise change nothing
// without a word; one with the same settings is not.
func TestPoolSettings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	core, logs := observer.New(zap.WarnLevel)
	open := func(settings string) {
		t.Helper()
		mod := &settingsBadger{Badger{Dir: dir}, settings}
		if err := mod.Provision(caddy.Context{}); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(mod, zap.New(core)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = Release(mod.StoreKey()) })
	}
	open("a")
	open("a")
	if n := logs.Len(); n != 0 {
		t.Fatalf("%d warnings for the same settings", n)
	}
	open("b")
	if w := logs.TakeAll(); len(w) != 1 || !strings.Contains(w[0].Message, "other settings") {
		t.Fatalf("warnings %v, want one about the other settings", w)
	}
}

// TestPostgresSettings: the digest of a PostgreSQL store's settings tells a
// new password and another max_stale apart, takes an unset max_stale and
// poll_interval for their defaults, and repeats nothing of the DSN.
func TestPostgresSettings(t *testing.T) {
	digest := func(dsn string, maxStale, poll time.Duration) string {
		t.Helper()
		p := &Postgres{DSN: dsn, MaxStale: caddy.Duration(maxStale), PollInterval: caddy.Duration(poll)}
		if err := p.Provision(caddy.Context{}); err != nil {
			t.Fatal(err)
		}
		return p.StoreSettings()
	}
	const dsn = "postgres://gg:s3cret@db.internal/rooms"
	base := digest(dsn, 0, 0)
	if base != digest(dsn, 30*time.Second, time.Second) {
		t.Error("the defaults, given or not, differ")
	}
	if base == digest("postgres://gg:n3w@db.internal/rooms", 0, 0) || base == digest(dsn, 10*time.Second, 0) || base == digest(dsn, 0, 2*time.Second) {
		t.Error("other settings give the same digest")
	}
	if strings.Contains(base, "s3cret") || strings.Contains(base, "db.internal") {
		t.Errorf("the digest %q repeats the DSN", base)
	}
}

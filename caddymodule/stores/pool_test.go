package stores

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/guestgate/guestgate/guestlink"
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
		s, err := Open(context.Background(), mod, zap.NewNop())
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
		if err := Release(context.Background(), key); err != nil {
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
	if err := Release(context.Background(), key); err != nil {
		t.Fatal(err)
	}
}

// newConfig is the context of a configuration that Caddy loads, cancelled
// when t ends; configuration also gives its cancel, an unload.
func newConfig(t *testing.T) context.Context {
	ctx, _ := configuration(t)
	return ctx
}

func configuration(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx, cancel
}

// openMod provisions mod and opens its store for a handler of the
// configuration cfg; mustOpen fails t if that fails.
func openMod(t *testing.T, cfg context.Context, mod interface {
	Module
	caddy.Provisioner
}, logger *zap.Logger) (string, error) {
	t.Helper()
	if err := mod.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	_, err := Open(cfg, mod, logger)
	return mod.StoreKey(), err
}

func mustOpen(t *testing.T, cfg context.Context, mod interface {
	Module
	caddy.Provisioner
}, logger *zap.Logger) string {
	t.Helper()
	key, err := openMod(t, cfg, mod, logger)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// settingsBadger is a Badger module with settings besides its key, as a
// PostgreSQL store has, that counts the stores it was asked to retune.
type settingsBadger struct {
	Badger
	settings string
	retuned  *[]string
}

func (b *settingsBadger) StoreSettings() string { return b.settings }

func (b *settingsBadger) Retune(guestlink.Store) error {
	*b.retuned = append(*b.retuned, b.settings)
	return nil
}

// TestPoolSettings: an open store takes the settings of a reload once the
// configuration before it is unloaded (Caddy unloads it once the new one
// runs), not while the new one loads, nor when the new one fails and is
// unloaded itself, nor when a borrow ends; handlers of one configuration
// with different settings are told so in the log, and the first one's stay.
func TestPoolSettings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	core, logs := observer.New(zap.WarnLevel)
	var retuned []string
	open := func(cfg context.Context, settings string) string {
		t.Helper()
		return mustOpen(t, cfg, &settingsBadger{Badger{Dir: dir}, settings, &retuned}, zap.New(core))
	}
	release := func(cfg context.Context, key string) {
		t.Helper()
		if err := Release(cfg, key); err != nil {
			t.Fatal(err)
		}
	}
	want := func(step string, settings ...string) {
		t.Helper()
		if !slices.Equal(retuned, settings) {
			t.Fatalf("%s: retuned with %q, want %q", step, retuned, settings)
		}
	}

	first := newConfig(t)
	key := open(first, "a")
	open(first, "a")
	if n := logs.Len(); n != 0 {
		t.Fatalf("%d warnings for the same settings", n)
	}
	open(first, "b")
	if w := logs.TakeAll(); len(w) != 1 || !strings.Contains(w[0].Message, "other settings") {
		t.Fatalf("warnings %v, want one about the other settings", w)
	}

	failed := newConfig(t)
	open(failed, "c")
	want("while the next configuration loads")
	release(failed, key)
	release(first, key)
	want("after the next configuration failed")

	second := newConfig(t)
	open(second, "c")
	open(second, "c")
	_, done, ok, err := Borrow(key)
	if !ok || err != nil {
		t.Fatalf("Borrow: %v, %v", ok, err)
	}
	done()
	want("after a borrow")
	release(first, key)
	want("once the configuration before is unloaded", "c")
	release(first, key)
	want("after the second release of the configuration before", "c")

	third := newConfig(t)
	open(third, "c")
	release(second, key)
	want("with the same settings", "c")
	if n := logs.Len(); n != 0 {
		t.Errorf("warnings %v", logs.TakeAll())
	}
	release(second, key)
	release(third, key)
	if keys := Keys(); len(keys) != 0 {
		t.Errorf("the store stayed open: Keys() = %v", keys)
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

// checkingBadger is a settingsBadger that is a Checker: it refuses the
// settings "refused", as a PostgreSQL store refuses a password the database
// does not accept.
type checkingBadger struct{ settingsBadger }

func (b *checkingBadger) CheckRetune(guestlink.Store) error {
	if b.settings == "refused" {
		return errors.New("refused")
	}
	return nil
}

// TestPoolSettingsChecked: a configuration whose store settings the open
// store refuses (a PostgreSQL password the database does not accept) fails
// to load, takes no use of the store, and leaves the configuration in force
// its settings; one with accepted settings loads and gives them.
func TestPoolSettingsChecked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	var retuned []string
	open := func(cfg context.Context, settings string) (string, error) {
		t.Helper()
		return openMod(t, cfg, &checkingBadger{settingsBadger{Badger{Dir: dir}, settings, &retuned}}, zap.NewNop())
	}

	first := newConfig(t)
	key, err := open(first, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(newConfig(t), "refused"); err == nil {
		t.Fatal("a configuration with refused settings opened the store")
	}
	if refs, _ := pool.References(key); refs != 1 {
		t.Errorf("%d uses of the store after the refused configuration, want 1", refs)
	}
	second := newConfig(t)
	if _, err := open(second, "b"); err != nil {
		t.Fatalf("a configuration with accepted settings: %v", err)
	}
	if err := Release(first, key); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(retuned, []string{"b"}) {
		t.Errorf("retuned with %q, want [b]", retuned)
	}
	if err := Release(second, key); err != nil {
		t.Fatal(err)
	}
	if keys := Keys(); len(keys) != 0 {
		t.Errorf("the store stayed open: Keys() = %v", keys)
	}
}

// partialBadger is a settingsBadger whose Retune gives settings that end in
// "!" only in part, as a PostgreSQL store gives the password of a DSN whose
// TLS settings changed too and says that the rest needs a restart.
type partialBadger struct{ settingsBadger }

func (b *partialBadger) Retune(s guestlink.Store) error {
	_ = b.settingsBadger.Retune(s)
	if strings.HasSuffix(b.settings, "!") {
		return errors.New("the rest after a restart")
	}
	return nil
}

// TestPoolSettingsPartlyGiven: a reload whose settings the store took only
// in part (a new password with other TLS settings) changed the open store,
// so a reload back to the settings before it gives them again; were they
// taken for those in force still, the store would keep the password of a
// configuration that is gone.
func TestPoolSettingsPartlyGiven(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	var retuned []string
	open := func(cfg context.Context, settings string) string {
		t.Helper()
		return mustOpen(t, cfg, &partialBadger{settingsBadger{Badger{Dir: dir}, settings, &retuned}}, zap.NewNop())
	}
	release := func(cfg context.Context, key string) {
		t.Helper()
		if err := Release(cfg, key); err != nil {
			t.Fatal(err)
		}
	}

	first := newConfig(t)
	key := open(first, "a")
	second := newConfig(t)
	open(second, "b!")
	release(first, key)
	third := newConfig(t)
	open(third, "a")
	release(second, key)
	if !slices.Equal(retuned, []string{"b!", "a"}) {
		t.Errorf("retuned with %q, want [b! a]: the reload back to a did not give a again", retuned)
	}
	release(third, key)
	if keys := Keys(); len(keys) != 0 {
		t.Errorf("the store stayed open: Keys() = %v", keys)
	}
}

// TestPoolSettingsAfterBorrow: a borrow (an export through Caddy's admin
// endpoint) may keep a store open after the configuration that held it is
// unloaded. The next configuration that opens it is then the one in force
// as soon as it runs, with no configuration before it to unload: its
// settings apply at once, and those of the reload after it once it is
// unloaded, as always. A second handler of the same settings is not told
// that they differ, also where the store took them only in part.
func TestPoolSettingsAfterBorrow(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	var retuned []string
	core, logs := observer.New(zap.WarnLevel)
	open := func(cfg context.Context, settings string) string {
		t.Helper()
		return mustOpen(t, cfg, &partialBadger{settingsBadger{Badger{Dir: dir}, settings, &retuned}}, zap.New(core))
	}
	// unload cancels cfg and releases its handler, as Caddy does.
	unload := func(cfg context.Context, cancel context.CancelFunc, key string) {
		t.Helper()
		cancel()
		if err := Release(cfg, key); err != nil {
			t.Fatal(err)
		}
	}

	first, cancelFirst := configuration(t)
	key := open(first, "a")
	_, done, ok, err := Borrow(key)
	if !ok || err != nil {
		t.Fatalf("Borrow: %v, %v", ok, err)
	}
	unload(first, cancelFirst, key) // a reload to a configuration without the store
	third, cancelThird := configuration(t)
	open(third, "c!")
	open(third, "c!")
	if n := logs.Len(); n != 0 {
		t.Errorf("warnings for handlers of the same settings: %v", logs.TakeAll())
	}
	done()
	fourth, cancelFourth := configuration(t)
	open(fourth, "d")
	unload(third, cancelThird, key)
	if !slices.Equal(retuned, []string{"c!", "d"}) {
		t.Errorf("retuned with %q, want [c! d]", retuned)
	}
	unload(third, cancelThird, key)
	unload(fourth, cancelFourth, key)
	if keys := Keys(); len(keys) != 0 {
		t.Errorf("the store stayed open: Keys() = %v", keys)
	}
}

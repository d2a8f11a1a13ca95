package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/guestlink/export"
)

// TestLoadReachesEveryInstance protects what a load into a shared database
// promises beyond the conformance suite: every other instance's gate follows
// it (through a reset in the change log, as after any write), the loaded
// guests are not new guests that every instance reads at once, and a second
// load while one runs is refused rather than interleaved. The secrets follow
// it too: Secret gives a secret read before while the database cannot be
// reached (a config reload in an outage keeps its keys), and after a load
// that must be the loaded one, never the one it replaced, with which the
// instance would sign sessions and CSRF fields no other instance accepts.
func TestLoadReachesEveryInstance(t *testing.T) {
	c := cluster(t)
	ctx := context.Background()
	a, b, _, g := twoInstances(t, Options{}, Options{}, 0)
	const secret = "session-signing-key"
	replaced, err := a.Secret(ctx, secret, 32)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Secret(ctx, secret, 32); err != nil {
		t.Fatal(err)
	}
	loaded := bytes.Repeat([]byte{0x5a}, 32)

	// The same contents, but guest access off in room r: b must refuse the
	// guest it let in; and another secret.
	var recs []guestlink.Record
	if err := a.Dump(ctx, func(r guestlink.Record) error {
		if r.Room != nil && r.Room.ID == "r" {
			r.Room.GuestAccess = false
		}
		if r.Secret != nil && r.Secret.Name == secret {
			r.Secret.Value = loaded
		}
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	gen := b.Generation()
	next := func() func() (guestlink.Record, error) {
		i := 0
		return func() (guestlink.Record, error) {
			if i == len(recs) {
				return guestlink.Record{}, io.EOF
			}
			i++
			return recs[i-1], nil
		}
	}
	if err := a.Load(ctx, next(), true); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if _, err := a.Check(ctx, g.RoomID, g.LinkID, g.ID, t0); !errors.Is(err, guestlink.ErrGuestAccessOff) {
		t.Errorf("the loading instance's Check = %v, want ErrGuestAccessOff at once", err)
	}
	if _, ok := until(propagationBound, checks(b, g, guestlink.ErrGuestAccessOff)); !ok {
		t.Errorf("the other instance never followed the load (Check still lets the guest in)")
	}
	if b.Generation() <= gen {
		t.Errorf("the other instance's Generation %d -> %d across the load, want it to grow", gen, b.Generation())
	}
	// The loaded guests are no transaction's new guests: the instances take
	// each in on its first request, not all of a large load at once.
	var fed int
	if err := a.pool.QueryRow(ctx, "SELECT count(*) FROM gg_guests WHERE txid <> '0'").Scan(&fed); err != nil || fed != 0 {
		t.Errorf("%d loaded guests (%v) would be read as new by every instance, want none", fed, err)
	}

	// A load holds an advisory lock for its transaction; while another
	// session holds it, a load is refused and changes nothing.
	conn, err := a.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", loadLock); err != nil {
		t.Fatal(err)
	}
	if err := b.Load(ctx, next(), true); !errors.Is(err, guestlink.ErrStoreBusy) {
		t.Errorf("Load while another runs = %v, want ErrStoreBusy", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", loadLock); err != nil {
		t.Fatal(err)
	}
	if err := b.Load(ctx, next(), true); err != nil {
		t.Errorf("Load once the other ended: %v", err)
	}

	c.Stop()
	defer c.Start()
	for who, s := range map[string]*Store{"a": a, "b": b} {
		got, err := s.Secret(ctx, secret, 32)
		switch {
		case err == nil && bytes.Equal(got, replaced):
			t.Errorf("%s: Secret in an outage after a load = the secret the load replaced, want the loaded one", who)
		case err == nil && !bytes.Equal(got, loaded):
			t.Errorf("%s: Secret in an outage after a load = %x, want the loaded %x", who, got, loaded)
		case err != nil && !errors.Is(err, guestlink.ErrStoreUnavailable):
			t.Errorf("%s: Secret in an outage after a load: %v", who, err)
		}
	}
}

// TestPgDumpRestore protects the backup of a PostgreSQL store that the
// README documents, PostgreSQL's own: pg_dump of the database, pg_restore
// --clean --if-exists --single-transaction into a database that guestgate
// uses, and a store opened on it afterwards (as the instances restarted
// after a restore) holds every record and serves them.
func TestPgDumpRestore(t *testing.T) {
	ctx := context.Background()
	c := cluster(t)
	dsn := newDB(t)
	s := openStore(t, dsn, Options{})
	l := room(t, s, "r", 2)
	g := redeem(t, s, l.Token)
	if _, err := s.Secret(ctx, "session-signing-key", 32); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, "hooks", []byte(`{"id":"evt_1"}`), 0); err != nil {
		t.Fatal(err)
	}
	want := dumpText(t, s)
	s.Close()

	file := filepath.Join(t.TempDir(), "guestgate.pgdump")
	if _, err := c.Client("pg_dump", "--format=custom", "--file="+file, "--dbname="+dsn); err != nil {
		t.Fatal(err)
	}
	// The target is in use by guestgate and holds other records.
	target := newDB(t)
	other := openStore(t, target, Options{})
	room(t, other, "other", 0)
	other.Close()
	if _, err := c.Client("pg_restore", "--clean", "--if-exists", "--single-transaction", "--dbname="+target, file); err != nil {
		t.Fatal(err)
	}
	r := openStore(t, target, Options{})
	if got := dumpText(t, r); got != want {
		t.Errorf("after pg_restore the store holds\n%s\nwant\n%s", got, want)
	}
	if _, err := r.Check(ctx, g.RoomID, g.LinkID, g.ID, t0); err != nil {
		t.Errorf("Check of the guest after pg_restore: %v", err)
	}
	redeem(t, r, l.Token)
	if _, _, _, err := r.Redeem(ctx, l.Token, newGuest(), t0); !errors.Is(err, guestlink.ErrLinkUsedUp) {
		t.Errorf("a third click on a 2-click link after pg_restore = %v, want ErrLinkUsedUp", err)
	}
	if _, err := r.Enqueue(ctx, "hooks", []byte(`{"id":"evt_2"}`), 0); err != nil {
		t.Errorf("Enqueue after pg_restore: %v", err)
	}
}

// TestImportWouldEmptyOnOneConnection: an import with force of an export
// without rooms into a database that holds some is refused with
// guestlink.ErrWouldEmpty also when the store's pool holds one connection (a
// DSN's pool_max_conns=1). Counting the rooms from inside Load, whose
// transaction holds that connection, waited on itself until the request's
// deadline.
func TestImportWouldEmptyOnOneConnection(t *testing.T) {
	s := openStore(t, newDB(t)+"&pool_max_conns=1", Options{})
	room(t, s, "kept", 0)
	want := dumpText(t, s)
	var empty bytes.Buffer
	if _, err := export.Write(context.Background(), &empty, openStore(t, newDB(t), Options{}), t0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := export.Read(ctx, &empty, s, true); !errors.Is(err, guestlink.ErrWouldEmpty) {
		t.Fatalf("import with force of an export without rooms = %v, want ErrWouldEmpty", err)
	}
	if got := dumpText(t, s); got != want {
		t.Errorf("after the refused import the store holds\n%s\nwant\n%s", got, want)
	}
}

// dumpText is what s dumps, one record a line.
func dumpText(t *testing.T, s *Store) string {
	t.Helper()
	var b strings.Builder
	if err := s.Dump(context.Background(), func(r guestlink.Record) error {
		line, err := json.Marshal(r)
		b.Write(line)
		b.WriteByte('\n')
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

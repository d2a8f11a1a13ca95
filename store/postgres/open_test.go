package postgres

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// TestParallelOpen: instances that start at once against an empty database
// all open it, and exactly one of them applies the schema (the advisory
// lock), which is recorded once per version.
func TestParallelOpen(t *testing.T) {
	c := cluster(t)
	dsn := newDB(t)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	const instances = 6
	var (
		logs  [instances]logBuffer
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for i := range instances {
		wg.Go(func() {
			<-start
			s, err := Open(context.Background(), dsn, Options{Logger: logs[i].logger()})
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				return
			}
			t.Cleanup(func() { s.Close() })
		})
	}
	close(start)
	wg.Wait()
	applied := 0
	for i := range logs {
		applied += strings.Count(logs[i].String(), "applied the database schema")
	}
	if applied != len(ms) {
		t.Errorf("the schema was applied %d times by %d instances, want %d (once per version)", applied, instances, len(ms))
	}
	if got := c.SQL(dbName(t, dsn), "SELECT count(*) FROM gg_schema"); got != strconv.Itoa(len(ms)) {
		t.Errorf("gg_schema holds %s versions, want %d", got, len(ms))
	}
}

// TestSchemaVersion: a database whose schema is current opens without a
// change; one whose schema is newer than this package knows is refused with
// an error that says so (an older guestgate must not write to it).
func TestSchemaVersion(t *testing.T) {
	c := cluster(t)
	dsn := newDB(t)
	openStore(t, dsn, Options{}).Close()
	var logs logBuffer
	openStore(t, dsn, Options{Logger: logs.logger()}).Close()
	if strings.Contains(logs.String(), "applied") {
		t.Errorf("a current schema was applied again:\n%s", logs.String())
	}
	c.SQL(dbName(t, dsn), "INSERT INTO gg_schema (version) VALUES (999)")
	s, err := Open(context.Background(), dsn, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open accepted a database whose schema is newer than it knows")
	}
	if !strings.Contains(err.Error(), "version 999, newer than this guestgate knows") || errors.Is(err, guestlink.ErrStoreUnavailable) {
		t.Errorf("Open: %v; want the newer version refused", err)
	}
}

// TestSchemaUpgrade: a database that an older guestgate left at schema
// version 1, holding a webhook item, is brought to the current version when
// Open finds it (each missing file applied once, logged, recorded in
// gg_schema), its data kept, and what the new version adds works (a queue's
// lease).
func TestSchemaUpgrade(t *testing.T) {
	c := cluster(t)
	dsn := newDB(t)
	db := dbName(t, dsn)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 || ms[0].version != 1 {
		t.Fatalf("schema files %v: want version 1 and a later one", ms)
	}
	c.SQL(db, ms[0].sql+"; INSERT INTO gg_schema (version) VALUES (1);"+
		"INSERT INTO gg_queues (queue, len) VALUES ('wh-x', 1); INSERT INTO gg_queue (queue, body, next_at) VALUES ('wh-x', 'event', 0)")

	var logs logBuffer
	s := openStore(t, dsn, Options{Logger: logs.logger()})
	for _, m := range ms {
		if applied := strings.Contains(logs.String(), "file="+m.name); applied != (m.version > 1) {
			t.Errorf("schema %s applied: %v, want %v\n%s", m.name, applied, m.version > 1, logs.String())
		}
	}
	want := make([]string, len(ms))
	for i, m := range ms {
		want[i] = strconv.Itoa(m.version)
	}
	if got := c.SQL(db, "SELECT string_agg(version::text, ' ' ORDER BY version) FROM gg_schema"); got != strings.Join(want, " ") {
		t.Errorf("gg_schema holds versions %q, want %q", got, strings.Join(want, " "))
	}
	items, _, err := s.Due(context.Background(), "wh-x", time.Now(), 0)
	if err != nil || len(items) != 1 || string(items[0].Body) != "event" {
		t.Errorf("after the upgrade the queue holds %v, %v; want the item of before", items, err)
	}
	if ok, err := s.LeaseQueue(context.Background(), "wh-x", "me", time.Now().Add(time.Minute)); !ok || err != nil {
		t.Errorf("LeaseQueue after the upgrade = %v, %v; want the lease", ok, err)
	}
}

// TestNoPasswordInErrors: whatever goes wrong with a DSN, no error holds its
// password: pgx masks it in the text of a DSN that does not parse only on a
// best-effort basis, so the Store says nothing of that text. A database that
// cannot be reached is guestlink.ErrStoreUnavailable, within the connect
// timeout; a DSN that is wrong is not, and fails at once though Open would
// wait for a database that cannot be reached (a start that waits 30 s for
// a typo in the password helps no one).
func TestNoPasswordInErrors(t *testing.T) {
	c := cluster(t)
	const secret = "s3cr3t-Pa55w0rd"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	port := strconv.Itoa(c.Port())
	tests := []struct {
		name        string
		dsn         string
		unavailable bool
	}{
		{"URL that does not parse", "postgres://postgres:" + secret + "@127.0.0.1:notaport/x", false},
		{"URL with a broken escape", "postgres://postgres:" + secret + "%zz@127.0.0.1/x", false},
		{"key=value that does not parse", "host=127.0.0.1 password='" + secret + " dbname=x", false},
		{"wrong password", "postgres://postgres:" + secret + "@127.0.0.1:" + port + "/postgres?sslmode=disable", false},
		{"wrong password, key=value", "host=127.0.0.1 port=" + port + " user=postgres password=" + secret + " dbname=postgres sslmode=disable", false},
		{"nothing listening", "postgres://postgres:" + secret + "@127.0.0.1:" + strconv.Itoa(closedPort) + "/x?sslmode=disable", true},
		{"unknown database", c.DSN("nope"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			// A DSN that is wrong fails at once also when Open would wait
			// for a database it cannot reach.
			var opts Options
			if !tc.unavailable {
				opts.Wait = time.Minute
			}
			s, err := Open(context.Background(), tc.dsn, opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			for _, pw := range []string{secret, c.Password()} {
				if strings.Contains(err.Error(), pw) {
					t.Errorf("the error holds the password: %v", err)
				}
			}
			if errors.Is(err, guestlink.ErrStoreUnavailable) != tc.unavailable {
				t.Errorf("Open: %v; unavailable %v, want %v", err, errors.Is(err, guestlink.ErrStoreUnavailable), tc.unavailable)
			}
			if d := time.Since(start); d > DefaultConnectTimeout+2*time.Second {
				t.Errorf("Open took %v, want it to fail within the connect timeout", d)
			}
			t.Logf("%v", err)
		})
	}
}

// TestName: a store's name says which database it is, without the password,
// and a DSN that does not parse is refused without being repeated.
func TestName(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://gg:s3cret@db.example.com:6432/rooms?sslmode=require": "postgres://gg@db.example.com:6432/rooms",
		"host=127.0.0.1 port=5433 user=gg password=s3cret dbname=rooms":  "postgres://gg@127.0.0.1:5433/rooms",
	} {
		got, err := Name(dsn)
		if err != nil || got != want {
			t.Errorf("Name(%q) = %q, %v; want %q", dsn, got, err, want)
		}
	}
	if _, err := Name("postgres://gg:s3cret@[bad"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a malformed DSN: %v", err)
	}
	for s, want := range map[string]bool{
		"postgres://gg@db/rooms": true, "postgresql://db/rooms": true,
		"host=db dbname=rooms": false, "/var/lib/postgres": false, "postgres:rooms": false, "./postgres://x": false,
	} {
		if IsURL(s) != want {
			t.Errorf("IsURL(%q) = %v, want %v", s, !want, want)
		}
	}
}

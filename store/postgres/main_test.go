package postgres

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/guestgate/guestgate/internal/testpg"
)

// The package's tests share one PostgreSQL cluster, started by TestMain, and
// each store gets a database of its own (newDB): starting a cluster takes
// seconds, creating a database a fraction of one.
var shared struct {
	c *testpg.Cluster
	// skip or fail says why there is no cluster: PostgreSQL is not
	// installed (skip), or it did not start (fail).
	skip, fail string
}

func TestMain(m *testing.M) {
	tb := &mainTB{}
	func() {
		defer tb.recover()
		shared.c = testpg.Start(tb, "fsync=off")
	}()
	shared.skip, shared.fail = tb.skipped, tb.failed
	code := m.Run()
	tb.cleanup()
	os.Exit(code)
}

// cluster returns the shared cluster, or ends t as TestMain's start did
// (skipped without PostgreSQL, unless CI is set; failed if it would not
// start).
func cluster(t *testing.T) *testpg.Cluster {
	t.Helper()
	switch {
	case shared.fail != "":
		t.Fatal(shared.fail)
	case shared.skip != "":
		t.Skip(shared.skip)
	}
	return shared.c
}

// newDB creates an empty database on the shared cluster and returns its DSN.
// It copies the template's files (FILE_COPY) rather than logging them, which
// takes a fraction of the time on a cluster without fsync.
func newDB(t *testing.T) string {
	t.Helper()
	c := cluster(t)
	name := fmt.Sprintf("gg_%d", dbCount.Add(1))
	c.SQL("postgres", "CREATE DATABASE "+name+" STRATEGY FILE_COPY")
	return c.DSN(name)
}

// dbCount numbers the databases of newDB.
var dbCount atomic.Int64

// openStore opens a Store on dsn with opts, closed when t ends.
func openStore(t *testing.T, dsn string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mainTB is the testing.TB of TestMain, which has none: enough of one for
// testpg.Start. Fatal and Skip end the start (recover) and are reported to
// every test that asks for the cluster; cleanups run when the tests are
// done.
type mainTB struct {
	testing.TB      // nil: the methods testpg does not call are not there
	cleanups        []func()
	skipped, failed string
}

// stop is the panic value of Fatal and Skip, ending testpg.Start.
type stop struct{}

func (tb *mainTB) Helper()             {}
func (tb *mainTB) Cleanup(f func())    { tb.cleanups = append(tb.cleanups, f) }
func (tb *mainTB) Logf(string, ...any) {}
func (tb *mainTB) Fatal(args ...any) {
	tb.failed = fmt.Sprint(args...)
	panic(stop{})
}
func (tb *mainTB) Fatalf(format string, args ...any) {
	tb.failed = fmt.Sprintf(format, args...)
	panic(stop{})
}
func (tb *mainTB) Skipf(format string, args ...any) {
	tb.skipped = fmt.Sprintf(format, args...)
	panic(stop{})
}

// recover ends a start that Fatal or Skip stopped.
func (tb *mainTB) recover() {
	if r := recover(); r != nil {
		if _, ok := r.(stop); !ok {
			panic(r)
		}
	}
}

// cleanup runs the cleanups, the last one first.
func (tb *mainTB) cleanup() {
	for i := len(tb.cleanups) - 1; i >= 0; i-- {
		tb.cleanups[i]()
	}
}

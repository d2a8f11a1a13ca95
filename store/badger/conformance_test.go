package badger

import (
	"path/filepath"
	"testing"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/guestlink/storetest"
)

// TestConformance runs the guestlink.Store conformance suite, which holds the
// tests of every promise of the interface (and of guestlink.Queuer and
// guestlink.Backupper); the tests in this package cover what only Badger
// promises: its directory and lock, its key layout, retention by TTL,
// batching of big transactions and retries of conflicting ones.
func TestConformance(t *testing.T) { storetest.TestStore(t, openTemp) }

// openTemp opens a store in a new temporary directory, and returns it with the
// function that opens that directory again.
func openTemp(t *testing.T) (guestlink.Store, func() guestlink.Store) {
	dir := filepath.Join(t.TempDir(), "db")
	open := func() guestlink.Store {
		t.Helper()
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return open(), open
}

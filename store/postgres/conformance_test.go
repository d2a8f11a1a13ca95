package postgres

import (
	"testing"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/guestlink/storetest"
)

// TestConformance runs the guestlink.Store conformance suite, which holds the
// tests of every promise of the interface (and of guestlink.Queuer), each on
// a database of its own; the other tests in this package cover what only a
// shared store promises: several instances on one database, outages, the
// schema, the DSN's password.
func TestConformance(t *testing.T) { storetest.TestStore(t, openTemp) }

// openTemp opens a store on a new database, and returns it with the function
// that opens another instance on that database.
func openTemp(t *testing.T) (guestlink.Store, func() guestlink.Store) {
	dsn := newDB(t)
	open := func() guestlink.Store { return openStore(t, dsn, Options{}) }
	return open(), open
}

package postgres

import (
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/guestlink/storetest"
)

// propagationBound is the bound the shared suite holds this store to: far
// above what it takes (milliseconds, see TestPropagation), so that a loaded
// machine does not fail it, and far below what a lost change would take
// (never).
const propagationBound = 5 * time.Second

// TestShared runs the suite of a store that several processes share on two
// Stores of one database, in one process: the real case of two instances,
// but for their clocks.
func TestShared(t *testing.T) {
	storetest.TestShared(t, func(t *testing.T) (a, b guestlink.Store) {
		dsn := newDB(t)
		return openStore(t, dsn, Options{}), openStore(t, dsn, Options{})
	}, propagationBound)
}

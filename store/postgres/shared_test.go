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

// TestShared runs the suite of a store that several processes share on
// Stores of one database, in one process: the real case of several
// instances, but for their clocks. It holds the exactness of the product's
// limits across three instances (one success of 60 redemptions of a link
// with max clicks 1, 3 of 9 link creations with max_links 3).
func TestShared(t *testing.T) {
	storetest.TestShared(t, func(t *testing.T, n int) []guestlink.Store {
		dsn := newDB(t)
		stores := make([]guestlink.Store, n)
		for i := range stores {
			stores[i] = openStore(t, dsn, Options{})
		}
		return stores
	}, propagationBound)
}

// Package teststore makes the store and the guestlink.Service that the unit
// tests of the packages above the domain (admin, entrypage) run on: a real
// Badger store in a temporary directory, and a Service over it with a clock
// the test moves by hand.
package teststore

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/store/badger"
)

// Open opens a Badger store in a new temporary directory and closes it when tb
// ends.
func Open(tb testing.TB) *badger.Store {
	tb.Helper()
	s, err := badger.Open(filepath.Join(tb.TempDir(), "store"), badger.Options{})
	if err != nil {
		tb.Fatalf("opening the test store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Service returns a guestlink.Service over a new store (Open) whose clock
// stands at start until the test moves it through the returned pointer. The
// other fields keep their defaults; set them on the Service before use.
func Service(tb testing.TB, start time.Time) (*guestlink.Service, *time.Time) {
	tb.Helper()
	now := start
	return &guestlink.Service{Store: Open(tb), Now: func() time.Time { return now }}, &now
}

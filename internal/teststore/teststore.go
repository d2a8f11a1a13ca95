// Package teststore makes the store and the guestlink.Service that the unit
// tests of the packages above the domain (admin, entrypage) run on: a real
// Badger store in a temporary directory, and a Service over it with a clock
// the test moves by hand; and the open room with links that many tests start
// from.
package teststore

import (
	"context"
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

// RoomWithLinks makes room id with spec through svc, switches its guest access
// on and creates a link of each of links, in order; it returns the links and
// stops tb at the first error.
func RoomWithLinks(tb testing.TB, svc *guestlink.Service, id string, spec guestlink.RoomSpec, links ...guestlink.LinkSpec) []guestlink.Link {
	tb.Helper()
	ctx := context.Background()
	if _, _, err := svc.PutRoom(ctx, id, spec); err != nil {
		tb.Fatalf("PutRoom %s: %v", id, err)
	}
	if _, err := svc.SetGuestAccess(ctx, id, true); err != nil {
		tb.Fatalf("SetGuestAccess %s: %v", id, err)
	}
	out := make([]guestlink.Link, 0, len(links))
	for _, ls := range links {
		l, err := svc.CreateLink(ctx, id, ls)
		if err != nil {
			tb.Fatalf("CreateLink %s %q: %v", id, ls.Name, err)
		}
		out = append(out, l)
	}
	return out
}

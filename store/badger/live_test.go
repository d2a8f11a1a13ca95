package badger

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// TestCheckPurged: a guest past its retention is gone for Check, as Badger's TTL
// makes it gone for Session.
func TestCheckPurged(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	putRoom(t, s, "r", guestlink.RoomSpec{Name: "R"})
	l := addLink(t, s, "r", guestlink.LinkSpec{Name: "x"}, t0)
	_, _, g, err := s.Redeem(ctx, l.Token, guestlink.Guest{ID: guestlink.NewID("g"), Name: "n", Email: "e@x.test", PurgeAt: t0.Add(time.Hour)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := s.Check(ctx, "r", l.ID, g.ID, t0.Add(59*time.Minute)); err != nil || st != guestlink.StateAdmitted {
		t.Fatalf("before purge: %q %v", st, err)
	}
	if _, err := s.Check(ctx, "r", l.ID, g.ID, t0.Add(time.Hour)); !errors.Is(err, guestlink.ErrGuestNotFound) {
		t.Fatalf("at purge: %v", err)
	}
}

func BenchmarkCheck(b *testing.B) {
	s, _ := openStore(b)
	ctx := context.Background()
	putRoom(b, s, "r", guestlink.RoomSpec{Name: "R"})
	l := addLink(b, s, "r", guestlink.LinkSpec{Name: "x"}, t0)
	_, _, g, _ := s.Redeem(ctx, l.Token, guestlink.Guest{ID: guestlink.NewID("g"), Name: "n", Email: "e@x.test"}, t0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Check(ctx, "r", l.ID, g.ID, t0); err != nil {
			b.Fatal(err)
		}
	}
}

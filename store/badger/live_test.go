package badger

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// TestCheckFollowsEveryWrite: the in-memory check gives Session's verdict after
// every kind of write, with no store read, and after a reopen.
func TestCheckFollowsEveryWrite(t *testing.T) {
	s, dir := openStore(t)
	ctx := context.Background()
	now := t0
	agree := func(what string, room, link, guest string, wantErr error) {
		t.Helper()
		st, err := s.Check(ctx, room, link, guest, now)
		_, g, serr := s.Session(ctx, room, link, guest)
		if !errors.Is(err, wantErr) || (wantErr == nil && err != nil) {
			t.Fatalf("%s: Check = %q, %v; want %v", what, st, err, wantErr)
		}
		if (serr == nil) != (err == nil) || (serr != nil && !errors.Is(err, serr)) {
			t.Fatalf("%s: Check says %v, Session says %v", what, err, serr)
		}
		if err == nil && st != g.State {
			t.Fatalf("%s: Check state %q, Session %q", what, st, g.State)
		}
	}
	gen := s.Generation()
	if _, _, err := s.PutRoom(ctx, "r", guestlink.RoomSpec{Name: "R", Admission: guestlink.AdmissionModerator}, now); err != nil {
		t.Fatal(err)
	}
	if s.Generation() == gen {
		t.Fatal("Generation did not grow with a write")
	}
	if _, err := s.SetGuestAccess(ctx, "r", true, now); err != nil {
		t.Fatal(err)
	}
	l, _ := guestlink.LinkSpec{Name: "x"}.NewLink("r", now)
	if _, err := s.AddLink(ctx, l, 3); err != nil {
		t.Fatal(err)
	}
	_, _, g, err := s.Redeem(ctx, l.Token, guestlink.Guest{ID: guestlink.NewID("g"), Name: "n", Email: "e@x.test", PurgeAt: now.Add(time.Hour)}, now)
	if err != nil {
		t.Fatal(err)
	}
	agree("waiting guest", "r", l.ID, g.ID, nil)
	if st, _ := s.Check(ctx, "r", l.ID, g.ID, now); st != guestlink.StateWaiting {
		t.Fatalf("state %q", st)
	}
	if _, err := s.SetGuestState(ctx, "r", g.ID, guestlink.StateAdmitted, now); err != nil {
		t.Fatal(err)
	}
	agree("admitted", "r", l.ID, g.ID, nil)
	agree("another guest id", "r", l.ID, "g_aaaaaaaaaaaaaaaa", guestlink.ErrGuestNotFound)
	agree("another room", "q", l.ID, g.ID, guestlink.ErrRoomUnavailable)
	if _, err := s.SetGuestAccess(ctx, "r", false, now); err != nil {
		t.Fatal(err)
	}
	agree("access off", "r", l.ID, g.ID, guestlink.ErrGuestAccessOff)
	if _, err := s.SetGuestAccess(ctx, "r", true, now); err != nil {
		t.Fatal(err)
	}
	off := false
	if _, _, err := s.PutRoom(ctx, "r", guestlink.RoomSpec{Name: "R", Available: &off}, now); err != nil {
		t.Fatal(err)
	}
	agree("unavailable", "r", l.ID, g.ID, guestlink.ErrRoomUnavailable)
	on := true
	if _, _, err := s.PutRoom(ctx, "r", guestlink.RoomSpec{Name: "R", Available: &on}, now); err != nil {
		t.Fatal(err)
	}
	agree("available again", "r", l.ID, g.ID, nil)

	// Reopen: the mirror is loaded from the store.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	s = s2
	agree("after reopen", "r", l.ID, g.ID, nil)

	if _, err := s.SetGuestState(ctx, "r", g.ID, guestlink.StateRemoved, now); err != nil {
		t.Fatal(err)
	}
	agree("removed", "r", l.ID, g.ID, guestlink.ErrGuestRemoved)
	if err := s.DeleteLink(ctx, "r", l.ID); err != nil {
		t.Fatal(err)
	}
	agree("link deleted", "r", l.ID, g.ID, guestlink.ErrLinkNotFound)
	if err := s.DeleteRoom(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	agree("room deleted", "r", l.ID, g.ID, guestlink.ErrRoomUnavailable)
}

// TestCheckPurged: a guest past its retention is gone for Check, as Badger's TTL
// makes it gone for Session.
func TestCheckPurged(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	if _, _, err := s.PutRoom(ctx, "r", guestlink.RoomSpec{Name: "R"}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetGuestAccess(ctx, "r", true, t0); err != nil {
		t.Fatal(err)
	}
	l, _ := guestlink.LinkSpec{Name: "x"}.NewLink("r", t0)
	if _, err := s.AddLink(ctx, l, 3); err != nil {
		t.Fatal(err)
	}
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
	s.PutRoom(ctx, "r", guestlink.RoomSpec{Name: "R"}, t0)
	s.SetGuestAccess(ctx, "r", true, t0)
	l, _ := guestlink.LinkSpec{Name: "x"}.NewLink("r", t0)
	s.AddLink(ctx, l, 3)
	_, _, g, _ := s.Redeem(ctx, l.Token, guestlink.Guest{ID: guestlink.NewID("g"), Name: "n", Email: "e@x.test"}, t0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Check(ctx, "r", l.ID, g.ID, t0); err != nil {
			b.Fatal(err)
		}
	}
}

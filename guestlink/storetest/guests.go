package storetest

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// guestTests protect the reads of one guest: Guest, and Session, the live-state
// verdict (CheckSession) that the gate and the lobby page act on, with the
// room and guest it read.
var guestTests = []subtest{
	{"GuestNotFound", testGuestNotFound},
	{"Session", testSession},
}

func testGuestNotFound(t *testing.T, e *env) {
	e.room("r", guestlink.RoomSpec{})
	e.room("r2", guestlink.RoomSpec{})
	l := e.link("r", guestlink.LinkSpec{}, t0)
	g := e.redeem(l.Token, t0)
	if got := e.guest("r", g.ID); got.ID != g.ID {
		t.Fatalf("Guest = %+v", got)
	}
	for _, tc := range [][2]string{{"r", gid(1)}, {"r2", g.ID}, {"missing", g.ID}, {"r", ""}, {"", g.ID}, {"r", "a/b"}} {
		if _, err := e.s.Guest(e.ctx, tc[0], tc[1]); !errors.Is(err, guestlink.ErrGuestNotFound) {
			t.Errorf("Guest(%q, %q): %v, want ErrGuestNotFound", tc[0], tc[1], err)
		}
	}
}

func testSession(t *testing.T, e *env) {
	tests := []struct {
		name    string
		room    guestlink.RoomSpec
		link    guestlink.LinkSpec
		change  func(e *env, room string, l guestlink.Link, g guestlink.Guest)
		ask     func(room string, l guestlink.Link, g guestlink.Guest) (roomID, linkID, guestID string)
		wantErr error
		// read is true when Session returns the room and guest with its verdict.
		read bool
	}{
		{name: "ok", read: true},
		{name: "waiting guest is ok", room: guestlink.RoomSpec{Admission: guestlink.AdmissionModerator}, read: true},
		// Session takes no clock: an expired or used-up link does not end a
		// session made before.
		{name: "expired link keeps sessions", link: guestlink.LinkSpec{DurationDays: new(1)}, read: true},
		{name: "used-up link keeps sessions", link: guestlink.LinkSpec{MaxClicks: new(1)}, read: true},
		{
			name: "guest access off", wantErr: guestlink.ErrGuestAccessOff, read: true,
			change: func(e *env, room string, l guestlink.Link, g guestlink.Guest) {
				if _, err := e.s.SetGuestAccess(e.ctx, room, false, t0); err != nil {
					e.t.Fatal(err)
				}
			},
		},
		{
			name: "link deleted", wantErr: guestlink.ErrLinkNotFound, read: true,
			change: func(e *env, room string, l guestlink.Link, g guestlink.Guest) {
				if err := e.s.DeleteLink(e.ctx, room, l.ID); err != nil {
					e.t.Fatal(err)
				}
			},
		},
		{
			name: "room deleted", wantErr: guestlink.ErrRoomUnavailable,
			change: func(e *env, room string, l guestlink.Link, g guestlink.Guest) {
				if err := e.s.DeleteRoom(e.ctx, room); err != nil {
					e.t.Fatal(err)
				}
			},
		},
		{
			name: "room unavailable", wantErr: guestlink.ErrRoomUnavailable, read: true,
			change: func(e *env, room string, l guestlink.Link, g guestlink.Guest) {
				e.putRoom(room, guestlink.RoomSpec{Available: new(false)}, t0)
			},
		},
		{
			name: "guest removed", wantErr: guestlink.ErrGuestRemoved, read: true,
			change: func(e *env, room string, l guestlink.Link, g guestlink.Guest) {
				e.setState(room, g.ID, guestlink.StateRemoved, t0)
			},
		},
		{
			name: "guest declined", room: guestlink.RoomSpec{Admission: guestlink.AdmissionModerator},
			wantErr: guestlink.ErrGuestDeclined, read: true,
			change: func(e *env, room string, l guestlink.Link, g guestlink.Guest) {
				e.setState(room, g.ID, guestlink.StateDeclined, t0)
			},
		},
		{
			name: "guest left", wantErr: guestlink.ErrGuestLeft, read: true,
			change: func(e *env, room string, l guestlink.Link, g guestlink.Guest) {
				e.setState(room, g.ID, guestlink.StateLeft, t0)
			},
		},
		{
			name: "unknown guest", wantErr: guestlink.ErrGuestNotFound,
			ask: func(room string, l guestlink.Link, g guestlink.Guest) (string, string, string) {
				return room, l.ID, gid(1)
			},
		},
		{
			name: "guest of another link", wantErr: guestlink.ErrGuestNotFound,
			ask: func(room string, l guestlink.Link, g guestlink.Guest) (string, string, string) {
				return room, "l_aaaaaaaaaaaaaaaa", g.ID
			},
		},
		{
			name: "unknown room", wantErr: guestlink.ErrRoomUnavailable,
			ask: func(room string, l guestlink.Link, g guestlink.Guest) (string, string, string) {
				return "other", l.ID, g.ID
			},
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := e.in(t)
			room := string(rune('a'+i)) + "-room"
			e.room(room, tc.room)
			l := e.link(room, tc.link, t0)
			g := e.redeem(l.Token, t0)
			if tc.change != nil {
				tc.change(e, room, l, g)
			}
			roomID, linkID, guestID := room, l.ID, g.ID
			if tc.ask != nil {
				roomID, linkID, guestID = tc.ask(room, l, g)
			}
			r, gotG, err := e.s.Session(e.ctx, roomID, linkID, guestID)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Session: %v, want %s", err, errName(tc.wantErr))
			}
			if tc.read && (r.ID != room || gotG.ID != g.ID || gotG.LinkID != l.ID) {
				t.Errorf("Session returned room %+v, guest %+v; want both with the verdict", r, gotG)
			}
		})
	}
}

// otherTests protect Stats, Secret and what a restart keeps.
var otherTests = []subtest{
	{"Stats", testStats},
	{"Secret", testSecret},
	{"Reopen", testReopen},
}

func testStats(t *testing.T, e *env) {
	if st := e.stats(); st != (guestlink.Stats{}) {
		t.Fatalf("empty store: %+v", st)
	}
	for _, id := range []string{"a", "b"} {
		e.room(id, guestlink.RoomSpec{Name: id, Admission: guestlink.AdmissionModerator})
	}
	l := e.link("a", guestlink.LinkSpec{}, t0)
	var gs []guestlink.Guest
	for range 3 {
		gs = append(gs, e.redeem(l.Token, t0))
	}
	e.setState("a", gs[0].ID, guestlink.StateAdmitted, t0)
	if st, want := e.stats(), (guestlink.Stats{Rooms: 2, Links: 1, GuestsWaiting: 2}); st != want {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
	e.setState("a", gs[1].ID, guestlink.StateDeclined, t0)
	if err := e.s.DeleteRoom(e.ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if st, want := e.stats(), (guestlink.Stats{Rooms: 1, Links: 1, GuestsWaiting: 1}); st != want {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
}

// testSecret: a secret is made the first time it is asked for and is the same
// afterwards, for concurrent first callers and after a restart.
func testSecret(t *testing.T, e *env) {
	a, err := e.s.Secret(e.ctx, "a", 32)
	if err != nil || len(a) != 32 || bytes.Equal(a, make([]byte, 32)) {
		t.Fatalf("Secret = %x, %v; want 32 random bytes", a, err)
	}
	if a2, err := e.s.Secret(e.ctx, "a", 32); err != nil || !bytes.Equal(a, a2) {
		t.Errorf("Secret changed between calls: %x, %v", a2, err)
	}
	if b, err := e.s.Secret(e.ctx, "b", 32); err != nil || bytes.Equal(a, b) {
		t.Errorf("two secrets are equal (%v)", err)
	}
	if c, err := e.s.Secret(e.ctx, "c", 16); err != nil || len(c) != 16 {
		t.Errorf("Secret of 16 bytes = %x, %v", c, err)
	}

	// Concurrent first calls agree.
	var wg sync.WaitGroup
	got := make([][]byte, 20)
	for i := range got {
		wg.Go(func() {
			var err error
			if got[i], err = e.s.Secret(e.ctx, "race", 16); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range got {
		if !bytes.Equal(got[i], got[0]) {
			t.Fatalf("concurrent Secret calls disagree: %x vs %x", got[i], got[0])
		}
	}

	e.restart()
	if again, err := e.s.Secret(e.ctx, "a", 32); err != nil || !bytes.Equal(again, a) {
		t.Errorf("Secret after a restart = %x, %v; want %x", again, err, a)
	}
	if again, err := e.s.Secret(e.ctx, "race", 16); err != nil || !bytes.Equal(again, got[0]) {
		t.Errorf("Secret after a restart = %x, %v; want %x", again, err, got[0])
	}
}

// testReopen: a restarted store holds what was written before: rooms, links
// with their clicks, guests with their states and times, the guest list's
// order, the lobby, and the sessions they open.
func testReopen(t *testing.T, e *env) {
	room := e.room("r", guestlink.RoomSpec{Name: "Persistent", Admission: guestlink.AdmissionModerator})
	l := e.link("r", guestlink.LinkSpec{MaxClicks: new(10), DurationDays: new(7)}, t0)
	var gs []guestlink.Guest
	for i := range 6 {
		in := newGuest(gid(i + 1))
		in.PurgeAt = purgeLater
		_, _, g, err := e.s.Redeem(e.ctx, l.Token, in, minutes(i))
		if err != nil {
			t.Fatal(err)
		}
		gs = append(gs, g)
	}
	want := map[string]guestlink.Guest{}
	for i, to := range []string{guestlink.StateAdmitted, guestlink.StateDeclined, guestlink.StateRemoved, guestlink.StateLeft} {
		g := e.setState("r", gs[i].ID, to, t0.Add(time.Hour))
		want[g.ID] = g
	}
	g, err := e.s.SeenGuest(e.ctx, "r", gs[4].ID, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want[g.ID] = g
	want[gs[5].ID] = gs[5]
	before := e.allGuests("r")
	e.restart()

	got, err := e.s.Room(e.ctx, "r")
	if err != nil || !sameRoom(got, room) {
		t.Errorf("Room after restart = %+v, %v; want %+v", got, err, room)
	}
	_, gotL, err := e.s.LinkByToken(e.ctx, l.Token)
	if err != nil || gotL.ID != l.ID || gotL.Clicks != 6 || gotL.MaxClicks != 10 || !gotL.ExpiresAt.Equal(l.ExpiresAt) || gotL.Name != l.Name {
		t.Errorf("link after restart = %+v, %v; want %+v with 6 clicks", gotL, err, l)
	}
	for id, w := range want {
		if got, err := e.s.Guest(e.ctx, "r", id); err != nil || !sameGuest(got, w) {
			t.Errorf("guest %s after restart = %+v, %v; want %+v", id, got, err, w)
		}
	}
	if after := e.allGuests("r"); !slices.Equal(ids(after), ids(before)) || len(after) != len(gs) {
		t.Errorf("Guests after restart = %v, want %v", ids(after), ids(before))
	}
	if lobby, err := e.s.Lobby(e.ctx, "r", t0.Add(2*time.Hour)); err != nil || !slices.Equal(ids(lobby), []string{gs[4].ID}) {
		t.Errorf("Lobby after restart = %v, %v; want %s", ids(lobby), err, gs[4].ID)
	}
	if _, _, err := e.s.Session(e.ctx, "r", l.ID, gs[0].ID); err != nil {
		t.Errorf("Session of the admitted guest after restart: %v", err)
	}
	if st, err := e.s.Check(e.ctx, "r", l.ID, gs[0].ID, t0.Add(3*time.Hour)); err != nil || st != guestlink.StateAdmitted {
		t.Errorf("Check of the admitted guest after restart = %q, %v", st, err)
	}
	if st, want := e.stats(), (guestlink.Stats{Rooms: 1, Links: 1, GuestsWaiting: 2}); st != want {
		t.Errorf("Stats after restart = %+v, want %+v", st, want)
	}
}

package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// liveTests protect Check, the gate's answer on every request: after each
// kind of write it gives Session's verdict, with the guest's state whenever
// the guest was found (also with an error: a removed guest of a room whose
// guest access is off is (StateRemoved, ErrGuestAccessOff), which tells the
// gate's watcher a removal, ending open connections, from a switch, which
// does not), and Generation grows with every such write.
var liveTests = []subtest{
	{"CheckFollowsEveryWrite", testCheckFollowsEveryWrite},
}

// verdict is what Check answers for one guest.
type verdict struct {
	state string
	err   error
}

// liveGuests are the guests of testCheckFollowsEveryWrite, named by what
// happens to them: w stays waiting, a is admitted, d declined, x removed, left
// leaves, b is admitted by AdmitAll, and k came in through the second link.
type liveGuests struct{ w, a, d, x, left, b, k guestlink.Guest }

func testCheckFollowsEveryWrite(t *testing.T, e *env) {
	// Each step writes and then wants these verdicts for the guests of room
	// r; a guest it does not list keeps the verdict of the step before.
	var (
		l, l2 guestlink.Link
		g     liveGuests
	)
	W, A, D, R, L := guestlink.StateWaiting, guestlink.StateAdmitted, guestlink.StateDeclined, guestlink.StateRemoved, guestlink.StateLeft
	steps := []struct {
		name  string
		write func()
		// restart is true for a step that restarts the store instead of
		// writing (Generation then starts afresh).
		restart bool
		want    func(g liveGuests) map[string]verdict
	}{
		{
			name: "Redeem",
			write: func() {
				redeem := func(l guestlink.Link, i int, at time.Time) guestlink.Guest {
					gen := e.s.Generation()
					g := e.redeemAs(l.Token, gid(i), at)
					if after := e.s.Generation(); after <= gen {
						t.Errorf("Redeem %d: Generation %d -> %d, want it to grow", i, gen, after)
					}
					return g
				}
				g.w = redeem(l, 1, t0)
				g.a, g.d, g.x, g.left, g.b = redeem(l, 2, minutes(1)), redeem(l, 3, minutes(1)), redeem(l, 4, minutes(1)), redeem(l, 5, minutes(1)), redeem(l, 6, minutes(1))
				g.k = redeem(l2, 7, t0)
			},
			want: func(g liveGuests) map[string]verdict {
				return all(g.w, g.a, g.d, g.x, g.left, g.b, g.k)(W, nil)
			},
		},
		{
			name:  "SetGuestState admit",
			write: func() { e.setState("r", g.a.ID, A, minutes(2)) },
			want:  func(g liveGuests) map[string]verdict { return one(g.a, A, nil) },
		},
		{
			name:  "SetGuestState decline",
			write: func() { e.setState("r", g.d.ID, D, minutes(2)) },
			want:  func(g liveGuests) map[string]verdict { return one(g.d, D, guestlink.ErrGuestDeclined) },
		},
		{
			name:  "SetGuestState remove",
			write: func() { e.setState("r", g.x.ID, R, minutes(2)) },
			want:  func(g liveGuests) map[string]verdict { return one(g.x, R, guestlink.ErrGuestRemoved) },
		},
		{
			name:  "SetGuestState left",
			write: func() { e.setState("r", g.left.ID, L, minutes(2)) },
			want:  func(g liveGuests) map[string]verdict { return one(g.left, L, guestlink.ErrGuestLeft) },
		},
		{
			name: "AdmitAll",
			write: func() {
				// Only b is waiting and seen since minute 1 (w and k came at 0).
				if got, err := e.s.AdmitAll(e.ctx, "r", minutes(1), minutes(3)); err != nil || len(got) != 1 || got[0].ID != g.b.ID {
					t.Fatalf("AdmitAll = %v, %v; want %s", ids(got), err, g.b.ID)
				}
			},
			want: func(g liveGuests) map[string]verdict { return one(g.b, A, nil) },
		},
		{
			name:  "SetGuestAccess off",
			write: func() { e.access(false) },
			want: func(g liveGuests) map[string]verdict {
				return states(g, guestlink.ErrGuestAccessOff)
			},
		},
		{
			name:  "SetGuestAccess on",
			write: func() { e.access(true) },
			want:  func(g liveGuests) map[string]verdict { return states(g, nil) },
		},
		{
			name: "PutRoom unavailable",
			write: func() {
				e.putRoom("r", guestlink.RoomSpec{Admission: guestlink.AdmissionModerator, Available: new(false)}, minutes(4))
			},
			want: func(g liveGuests) map[string]verdict { return states(g, guestlink.ErrRoomUnavailable) },
		},
		{
			name:  "PutRoom available",
			write: func() { e.putRoom("r", guestlink.RoomSpec{Admission: guestlink.AdmissionModerator}, minutes(4)) },
			want:  func(g liveGuests) map[string]verdict { return states(g, nil) },
		},
		{
			name:  "PutRoom gallery",
			write: func() { e.putRoom("r", guestlink.RoomSpec{Kind: guestlink.KindGallery}, minutes(5)) },
			want:  func(g liveGuests) map[string]verdict { return states(g, guestlink.ErrGuestAccessOff) },
		},
		{
			name: "PutRoom room again",
			write: func() {
				e.putRoom("r", guestlink.RoomSpec{Admission: guestlink.AdmissionModerator}, minutes(5))
			},
			// The gallery switched guest access off, and it stays off.
			want: func(g liveGuests) map[string]verdict { return states(g, guestlink.ErrGuestAccessOff) },
		},
		{
			name:  "SetGuestAccess on again",
			write: func() { e.access(true) },
			want:  func(g liveGuests) map[string]verdict { return states(g, nil) },
		},
		{
			name:    "restart",
			restart: true,
			want:    func(g liveGuests) map[string]verdict { return states(g, nil) },
		},
		{
			name:  "AddLink",
			write: func() { e.link("r", guestlink.LinkSpec{Name: "third"}, minutes(6)) },
			want:  func(g liveGuests) map[string]verdict { return states(g, nil) },
		},
		{
			name: "DeleteLink",
			write: func() {
				if err := e.s.DeleteLink(e.ctx, "r", l.ID); err != nil {
					t.Fatal(err)
				}
			},
			// Everyone who came through l; k, of l2, keeps going.
			want: func(g liveGuests) map[string]verdict {
				v := states(g, guestlink.ErrLinkNotFound)
				v[g.k.ID] = verdict{W, nil}
				return v
			},
		},
		{
			name:  "SetGuestState admit k",
			write: func() { e.setState("r", g.k.ID, A, minutes(7)) },
			want:  func(g liveGuests) map[string]verdict { return one(g.k, A, nil) },
		},
		{
			name: "DeleteRoom",
			write: func() {
				if err := e.s.DeleteRoom(e.ctx, "r"); err != nil {
					t.Fatal(err)
				}
			},
			want: func(g liveGuests) map[string]verdict {
				return all(g.w, g.a, g.d, g.x, g.left, g.b, g.k)("", guestlink.ErrRoomUnavailable)
			},
		},
	}

	e.putRoom("r", guestlink.RoomSpec{Admission: guestlink.AdmissionModerator}, t0)
	e.access(true)
	l = e.link("r", guestlink.LinkSpec{}, t0)
	l2 = e.link("r", guestlink.LinkSpec{Name: "second"}, t0)
	linkOf := func(id string) string {
		if id == g.k.ID {
			return l2.ID
		}
		return l.ID
	}
	now := minutes(10)
	current := map[string]verdict{}
	for _, st := range steps {
		gen := e.s.Generation()
		if st.restart {
			e.restart()
		} else {
			st.write()
			if after := e.s.Generation(); after <= gen {
				t.Errorf("%s: Generation %d -> %d, want it to grow", st.name, gen, after)
			}
		}
		for id, v := range st.want(g) {
			current[id] = v
		}
		for id, want := range current {
			e.agree(st.name, "r", linkOf(id), id, now, want)
		}
		// Who is not there is not found, whatever the step.
		roomGone := st.name == "DeleteRoom"
		notThere := verdict{"", guestlink.ErrGuestNotFound}
		if roomGone {
			notThere = verdict{"", guestlink.ErrRoomUnavailable}
		}
		e.agree(st.name+", unknown guest", "r", l.ID, gid(99), now, notThere)
		e.agree(st.name+", a guest through another link", "r", l.ID, g.k.ID, now, notThere)
		e.agree(st.name+", unknown room", "q", l.ID, g.w.ID, now, verdict{"", guestlink.ErrRoomUnavailable})
	}
}

// access switches guest access of room r.
func (e *env) access(on bool) {
	e.t.Helper()
	if _, err := e.s.SetGuestAccess(e.ctx, "r", on, minutes(3)); err != nil {
		e.t.Fatalf("SetGuestAccess(%v): %v", on, err)
	}
}

// agree checks that Check answers want for the guest, and that Session, which
// reads the store, gives the same verdict and state.
func (e *env) agree(what, roomID, linkID, guestID string, now time.Time, want verdict) {
	e.t.Helper()
	state, err := e.s.Check(e.ctx, roomID, linkID, guestID, now)
	if state != want.state || !errors.Is(err, want.err) || (want.err == nil) != (err == nil) {
		e.t.Errorf("%s: Check(%s) = %q, %v; want %q, %s", what, guestID, state, err, want.state, errName(want.err))
	}
	_, g, serr := e.s.Session(e.ctx, roomID, linkID, guestID)
	if (serr == nil) != (err == nil) || (serr != nil && !errors.Is(err, serr)) || g.State != state {
		e.t.Errorf("%s: Check(%s) says %q, %v; Session says %q, %v", what, guestID, state, err, g.State, serr)
	}
}

// all gives every guest of gs the same verdict.
func all(gs ...guestlink.Guest) func(state string, err error) map[string]verdict {
	return func(state string, err error) map[string]verdict {
		m := map[string]verdict{}
		for _, g := range gs {
			m[g.ID] = verdict{state, err}
		}
		return m
	}
}

// one is the verdict of one guest.
func one(g guestlink.Guest, state string, err error) map[string]verdict {
	return map[string]verdict{g.ID: {state, err}}
}

// states gives every guest its state by then with err, which is what the
// room's or the link's state decides before the guest's own (CheckSession's
// order): nil keeps the verdicts of the guests' own states.
func states(g liveGuests, err error) map[string]verdict {
	m := map[string]verdict{}
	for _, v := range []struct {
		g     guestlink.Guest
		state string
		own   error
	}{
		{g.w, guestlink.StateWaiting, nil},
		{g.a, guestlink.StateAdmitted, nil},
		{g.d, guestlink.StateDeclined, guestlink.ErrGuestDeclined},
		{g.x, guestlink.StateRemoved, guestlink.ErrGuestRemoved},
		{g.left, guestlink.StateLeft, guestlink.ErrGuestLeft},
		{g.b, guestlink.StateAdmitted, nil},
		{g.k, guestlink.StateWaiting, nil}, // until the step after DeleteLink
	} {
		if err == nil {
			m[v.g.ID] = verdict{v.state, v.own}
		} else {
			m[v.g.ID] = verdict{v.state, err}
		}
	}
	return m
}

package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/atonce"
)

// MakeShared opens n instances of one fresh, empty store, as n processes
// sharing a database would, and closes them when t ends.
type MakeShared func(t *testing.T, n int) []guestlink.Store

// TestShared runs the promises of a store that several processes share
// (docs/DESIGN.md section 6) on instances that mk opens: a write through one
// reaches another's Check within the bound the store promises (invitations
// too: made through one, they open the room to a session checked on another,
// and deleting them ends it there), a decision through one wakes a WaitGuest
// on another within that bound, the limits are exact across three instances
// redeeming and adding links and invitations at once, and the instances make
// the same secrets, and a queue's lease (guestlink.QueueLeaser)
// is held by one instance at a time. A store that only one process opens
// (store/badger) cannot run it.
//
// within is the store's propagation bound: the suite waits up to it for the
// other instance to agree, polling, and fails when it passes. It is the
// store's promise, not a measure of its speed; the store's own tests measure.
func TestShared(t *testing.T, mk MakeShared, within time.Duration) {
	for _, st := range []struct {
		name string
		run  func(t *testing.T, p *pair)
	}{
		{"CheckFollowsTheOtherInstance", testCheckAcross},
		{"InvitationSessionAcross", testInvitationAcross},
		{"WaitGuestWokenByTheOtherInstance", testWaitAcross},
		{"RedeemExactlyNAcross", testRedeemAcross},
		{"AddLinkLimitAcross", testAddLinkAcross},
		{"RedeemInvitationExactlyNAcross", testRedeemInvitationAcross},
		{"AddInvitationLimitAcross", testAddInvitationAcross},
		{"SecretAgrees", testSecretAcross},
		{"QueueLeaseAcross", testLeaseAcross},
	} {
		t.Run(st.name, func(t *testing.T) {
			p := &pair{within: within}
			for _, s := range mk(t, 3) {
				p.all = append(p.all, &env{t: t, s: s, ctx: t.Context()})
			}
			p.a, p.b = p.all[0], p.all[1]
			st.run(t, p)
		})
	}
}

// pair is a subtest's instances of one store: a and b are the first two of
// all.
type pair struct {
	a, b   *env
	all    []*env
	within time.Duration
}

// eventually waits until e's Check answers want for the guest, for at most
// p.within, and fails the subtest if it does not.
func (p *pair) eventually(what string, e *env, roomID, linkID, guestID string, want verdict) {
	e.t.Helper()
	deadline := time.Now().Add(p.within)
	for {
		state, err := e.s.Check(e.ctx, roomID, linkID, guestID, time.Now())
		if state == want.state && errors.Is(err, want.err) && (want.err == nil) == (err == nil) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: the other instance's Check = %q, %v after %v; want %q, %s", what, state, err, p.within, want.state, errName(want.err))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// testCheckAcross makes every kind of write that the gate decides on through
// a and wants b's Check to follow, and b's Generation to grow.
func testCheckAcross(t *testing.T, p *pair) {
	a, b := p.a, p.b
	a.putRoom("r", guestlink.RoomSpec{Admission: guestlink.AdmissionModerator}, t0)
	a.access(true)
	l := a.link("r", guestlink.LinkSpec{}, t0)
	// A guest redeemed through a is read by b on its first Check.
	g, h := a.redeem(l.Token, t0), a.redeem(l.Token, t0)
	p.eventually("a guest redeemed on the other instance", b, "r", l.ID, g.ID, verdict{guestlink.StateWaiting, nil})
	p.eventually("a guest redeemed on the other instance", b, "r", l.ID, h.ID, verdict{guestlink.StateWaiting, nil})

	A, R := guestlink.StateAdmitted, guestlink.StateRemoved
	steps := []struct {
		name  string
		write func()
		// guest and want: the verdict b must reach for a guest.
		guest guestlink.Guest
		want  verdict
	}{
		{"admit", func() { a.setState("r", g.ID, A, minutes(1)) }, g, verdict{A, nil}},
		{"AdmitAll", func() {
			if got, err := a.s.AdmitAll(a.ctx, "r", t0, minutes(1)); err != nil || len(got) != 1 {
				t.Fatalf("AdmitAll = %v, %v", ids(got), err)
			}
		}, h, verdict{A, nil}},
		{"access off", func() { a.access(false) }, g, verdict{A, guestlink.ErrGuestAccessOff}},
		{"access on", func() { a.access(true) }, g, verdict{A, nil}},
		{"room unavailable", func() {
			a.putRoom("r", guestlink.RoomSpec{Admission: guestlink.AdmissionModerator, Available: new(false)}, minutes(2))
		}, g, verdict{A, guestlink.ErrRoomUnavailable}},
		{"room available", func() { a.putRoom("r", guestlink.RoomSpec{Admission: guestlink.AdmissionModerator}, minutes(2)) }, g, verdict{A, nil}},
		{"remove", func() { a.setState("r", h.ID, R, minutes(3)) }, h, verdict{R, guestlink.ErrGuestRemoved}},
		{"DeleteLink", func() {
			if err := a.s.DeleteLink(a.ctx, "r", l.ID); err != nil {
				t.Fatal(err)
			}
		}, g, verdict{A, guestlink.ErrLinkNotFound}},
		{"DeleteRoom", func() {
			if err := a.s.DeleteRoom(a.ctx, "r"); err != nil {
				t.Fatal(err)
			}
		}, g, verdict{"", guestlink.ErrRoomUnavailable}},
	}
	for _, st := range steps {
		gen := b.s.Generation()
		st.write()
		p.eventually(st.name, b, "r", l.ID, st.guest.ID, st.want)
		if after := b.s.Generation(); after <= gen {
			t.Errorf("%s: the other instance's Generation %d -> %d, want it to grow", st.name, gen, after)
		}
	}

	// A room made again with the same id, and a link added, through a.
	a.room("r", guestlink.RoomSpec{})
	l2 := a.link("r", guestlink.LinkSpec{}, minutes(4))
	k := a.redeem(l2.Token, minutes(4))
	p.eventually("a room made again, a link added", b, "r", l2.ID, k.ID, verdict{A, nil})
	p.eventually("the old guest in the new room", b, "r", l.ID, g.ID, verdict{"", guestlink.ErrGuestNotFound})
}

// testInvitationAcross: an invitation made through a opens the room to a
// guest redeemed through b at once, and b's Check of that guest follows what
// a does: guest access off (seen on b by a link's guest) leaves the invitee
// in, deleting the invitation ends the session.
func testInvitationAcross(t *testing.T, p *pair) {
	a, b := p.a, p.b
	a.room("r", guestlink.RoomSpec{})
	l := a.link("r", guestlink.LinkSpec{}, t0)
	v := a.invitation("r", guestlink.InvitationSpec{Role: guestlink.RoleSpeaker}, t0)
	_, _, g, err := b.s.RedeemInvitation(b.ctx, v.Token, newGuest(guestlink.NewID("g")), t0)
	if err != nil {
		t.Fatalf("RedeemInvitation on the other instance: %v", err)
	}
	h := a.redeem(l.Token, t0)
	A := guestlink.StateAdmitted
	p.eventually("an invitee of an invitation made on the other instance", b, "r", v.ID, g.ID, verdict{A, nil})

	a.access(false)
	p.eventually("a link's guest, guest access off", b, "r", l.ID, h.ID, verdict{A, guestlink.ErrGuestAccessOff})
	p.eventually("the invitee, guest access off", b, "r", v.ID, g.ID, verdict{A, nil})

	gen := b.s.Generation()
	if err := a.s.DeleteInvitation(a.ctx, "r", v.ID); err != nil {
		t.Fatal(err)
	}
	p.eventually("the invitation deleted", b, "r", v.ID, g.ID, verdict{A, guestlink.ErrLinkNotFound})
	if after := b.s.Generation(); after <= gen {
		t.Errorf("DeleteInvitation: the other instance's Generation %d -> %d, want it to grow", gen, after)
	}
}

// testWaitAcross waits on b while a makes each of the changes of wakes.
func testWaitAcross(t *testing.T, p *pair) {
	for i, tc := range wakes {
		t.Run(tc.name, func(t *testing.T) {
			a, b := p.a.in(t), p.b.in(t)
			room := fmt.Sprintf("r%d", i)
			l := a.lobbyRoom(room)
			g := a.redeemAs(l.Token, gid(1), t0)
			w := b.startWait(room, g.ID, guestlink.StateWaiting)
			w.waiting()
			tc.act(a, room, g)
			select {
			case r := <-w.done:
				if !errors.Is(r.err, tc.wantErr) || (tc.wantErr == nil) != (r.err == nil) || r.g.State != tc.want {
					t.Fatalf("WaitGuest on the other instance = %+v, %v; want %q, %s", r.g, r.err, tc.want, errName(tc.wantErr))
				}
			case <-time.After(p.within):
				t.Fatalf("WaitGuest on the other instance did not answer within %v of the %s", p.within, tc.name)
			}
		})
	}
}

// testRedeemAcross: 60 redemptions of a link with max clicks 1, and of one
// with 3, spread over three instances at once: exactly 1, and 3, succeed.
func testRedeemAcross(t *testing.T, p *pair) { redeemAcross(t, p, linkKind) }

// testRedeemInvitationAcross: 60 redemptions of an invitation with max uses
// 1, and of one with 3, spread over three instances at once: exactly 1, and
// 3, succeed.
func testRedeemInvitationAcross(t *testing.T, p *pair) { redeemAcross(t, p, invitationKind) }

// redeemAcross runs 60 redemptions of a record limited to n uses, for n 1
// and 3, spread over the instances at once, and wants exactly n of them to
// succeed and the others to find it used up, and every instance to read n as
// its clicks or uses and n guests in its room.
func redeemAcross[S, V any](t *testing.T, p *pair, k kind[S, V]) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("max_%s=%d", k.count, n), func(t *testing.T) {
			room := fmt.Sprintf("r%d", n)
			a := p.a.in(t)
			a.room(room, guestlink.RoomSpec{})
			token := k.token(k.add(a, room, k.spec("", n)))
			const workers = 60
			exactly(t, k.redeemCall+" calls", workers, n, guestlink.ErrLinkUsedUp, func(i int) error {
				_, _, err := k.redeem(p.all[i%len(p.all)], token, newGuest(guestlink.NewID("g")), t0)
				return err
			})
			for _, e := range p.all {
				e := e.in(t)
				if c, err := k.stored(e, token); err != nil || c != n {
					t.Errorf("stored %s = %d, %v; want %d", k.count, c, err, n)
				}
				if gs := e.allGuests(room); len(gs) != n {
					t.Errorf("%d guests stored, want %d", len(gs), n)
				}
			}
		})
	}
}

// testAddInvitationAcross: 9 AddInvitation calls for a room with
// max_invitations 3, spread over three instances at once: exactly 3 succeed.
func testAddInvitationAcross(t *testing.T, p *pair) { addAcross(t, p, invitationKind) }

// testAddLinkAcross: 9 AddLink calls for a room with max_links 3, spread
// over three instances at once: exactly 3 succeed.
func testAddLinkAcross(t *testing.T, p *pair) { addAcross(t, p, linkKind) }

// addAcross races 9 additions for a room with a limit of 3, spread over the
// instances: exactly 3 succeed, and every instance lists 3.
func addAcross[S, V any](t *testing.T, p *pair, k kind[S, V]) {
	p.a.room("r", guestlink.RoomSpec{})
	const workers, limit = 9, 3
	vs := make([]V, workers)
	for i := range vs {
		vs[i] = k.draft(p.a, "r", k.spec(fmt.Sprintf("Guest %d", i), 0))
	}
	exactly(t, k.addCall+" calls", workers, limit, k.limitErr, func(i int) error { return k.insert(p.all[i%len(p.all)], vs[i], limit) })
	for _, e := range p.all {
		if n, err := k.list(e, "r"); err != nil || n != limit {
			t.Errorf("records listed: %d, %v; want %d", n, err, limit)
		}
	}
}

// testSecretAcross: the instances asking for a secret at once get the same
// bytes (the first writer wins), so that sessions made on one open the room
// on the others.
func testSecretAcross(t *testing.T, p *pair) {
	got := make([][]byte, 9)
	tally(t, atonce.Run(len(got), func(i int) error {
		e := p.all[i%len(p.all)]
		var err error
		got[i], err = e.s.Secret(e.ctx, "session", 32)
		return err
	}), nil)
	for i := range got {
		if !bytes.Equal(got[i], got[0]) || len(got[i]) != 32 {
			t.Fatalf("the instances' secrets disagree: %x vs %x", got[i], got[0])
		}
	}
}

// testLeaseAcross: a queue's lease is held by one holder at a time, whichever
// instance it asks through: taken when free, renewed by its holder, refused
// to the others while it runs, taken over as soon as its holder gives it up
// or once it has run out; the leases of two queues are apart; of nine holders
// asking for a free lease at once, on three instances, one gets it.
func testLeaseAcross(t *testing.T, p *pair) {
	a, b := p.a, p.b
	lease := func(e *env, queue, holder string, term time.Duration) bool {
		e.t.Helper()
		ok, err := implements[guestlink.QueueLeaser](e).LeaseQueue(e.ctx, queue, holder, time.Now().Add(term))
		if err != nil {
			e.t.Fatalf("LeaseQueue(%s, %s): %v", queue, holder, err)
		}
		return ok
	}
	for _, st := range []struct {
		name   string
		e      *env
		queue  string
		holder string
		term   time.Duration
		want   bool
	}{
		{"x takes a free lease", a, "q1", "x", time.Hour, true},
		{"y is refused while x's runs", b, "q1", "y", time.Hour, false},
		{"x renews", a, "q1", "x", time.Hour, true},
		{"x renews through another instance", b, "q1", "x", time.Hour, true},
		{"y is still refused", a, "q1", "y", time.Hour, false},
		{"y takes another queue's", b, "q2", "y", time.Hour, true},
		{"x gives it up", a, "q1", "x", -time.Second, true},
		{"y takes it at once", b, "q1", "y", time.Hour, true},
		{"x is refused", a, "q1", "x", time.Hour, false},
	} {
		if got := lease(st.e, st.queue, st.holder, st.term); got != st.want {
			t.Fatalf("%s: LeaseQueue = %v, want %v", st.name, got, st.want)
		}
	}

	// y renews for a moment and stops: x gets the lease when it runs out.
	if !lease(b, "q1", "y", 100*time.Millisecond) {
		t.Fatal("y could not renew its lease")
	}
	deadline := time.Now().Add(p.within + 100*time.Millisecond)
	for !lease(a, "q1", "x", time.Hour) {
		if time.Now().After(deadline) {
			t.Fatalf("x did not get the lease within %v of the end of y's", p.within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if lease(b, "q1", "y", time.Hour) {
		t.Error("y took the lease back while x's runs")
	}

	got := make([]bool, 9)
	tally(t, atonce.Run(len(got), func(i int) error {
		e := p.all[i%len(p.all)]
		var err error
		got[i], err = implements[guestlink.QueueLeaser](e).LeaseQueue(e.ctx, "q3", fmt.Sprintf("h%d", i), time.Now().Add(time.Hour))
		return err
	}), nil)
	if n := len(slices.DeleteFunc(got, func(ok bool) bool { return !ok })); n != 1 {
		t.Errorf("%d of %d holders asking at once got the free lease, want 1", n, len(got))
	}
}

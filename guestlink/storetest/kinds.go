package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// A guest comes in by a link or by an invitation, and the two share
// promises: a room holds at most so many of them however many are added at
// once, a redemption is refused by the open check without a trace, and one
// with a limit of N uses is redeemed exactly N times. kind describes links
// or invitations to the functions below, which check those promises once for
// both.
type kind[S, V any] struct {
	// addCall, redeemCall and count name the Store's methods and the number
	// that a redemption spends, in messages and subtest names ("AddLink",
	// "Redeem", "clicks").
	addCall, redeemCall, count string
	// limitErr is the error of an addition past the room's limit.
	limitErr error
	// room creates room id, as it needs to be to take one: guest access on
	// for links, off for invitations, which do not need it.
	room func(e *env, id string)
	// spec returns a spec named name (the default name if empty), limited
	// to max uses (none if 0).
	spec func(name string, max int) S
	// draft makes the record that spec describes for room at t0; insert
	// adds it under limit; add does both under the default limit, failing
	// the subtest if it is refused; list counts room's records.
	draft  func(e *env, room string, spec S) V
	insert func(e *env, v V, limit int) error
	add    func(e *env, room string, spec S) V
	list   func(e *env, room string) (int, error)
	// remove deletes v from room.
	remove func(e *env, room string, v V) error
	token  func(V) string
	// stored returns the clicks or uses that the store holds for token, an
	// error if the token does not resolve; redeem redeems token for g at at
	// and returns the clicks or uses that it answered.
	stored func(e *env, token string) (int, error)
	redeem func(e *env, token string, g guestlink.Guest, at time.Time) (int, guestlink.Guest, error)
}

var (
	linkKind = kind[guestlink.LinkSpec, guestlink.Link]{
		addCall: "AddLink", redeemCall: "Redeem", count: "clicks", limitErr: guestlink.ErrLinkLimit,
		room: func(e *env, id string) { e.room(id, guestlink.RoomSpec{}) },
		spec: func(name string, max int) guestlink.LinkSpec {
			return guestlink.LinkSpec{Name: name, MaxClicks: atMost(max)}
		},
		draft: func(e *env, room string, spec guestlink.LinkSpec) guestlink.Link { return e.newLink(room, spec, t0) },
		insert: func(e *env, l guestlink.Link, limit int) error {
			_, err := e.s.AddLink(e.ctx, l, limit)
			return err
		},
		add: func(e *env, room string, spec guestlink.LinkSpec) guestlink.Link { return e.link(room, spec, t0) },
		list: func(e *env, room string) (int, error) {
			ls, err := e.s.Links(e.ctx, room)
			return len(ls), err
		},
		remove: func(e *env, room string, l guestlink.Link) error { return e.s.DeleteLink(e.ctx, room, l.ID) },
		token:  func(l guestlink.Link) string { return l.Token },
		stored: func(e *env, token string) (int, error) {
			_, l, err := e.s.LinkByToken(e.ctx, token)
			return l.Clicks, err
		},
		redeem: func(e *env, token string, g guestlink.Guest, at time.Time) (int, guestlink.Guest, error) {
			_, l, g, err := e.s.Redeem(e.ctx, token, g, at)
			return l.Clicks, g, err
		},
	}
	invitationKind = kind[guestlink.InvitationSpec, guestlink.Invitation]{
		addCall: "AddInvitation", redeemCall: "RedeemInvitation", count: "uses", limitErr: guestlink.ErrInvitationLimit,
		room: func(e *env, id string) { e.putRoom(id, guestlink.RoomSpec{}, t0) },
		spec: func(name string, max int) guestlink.InvitationSpec {
			return guestlink.InvitationSpec{Name: name, MaxUses: atMost(max)}
		},
		draft: func(e *env, room string, spec guestlink.InvitationSpec) guestlink.Invitation {
			return e.newInvitation(room, spec, t0)
		},
		insert: func(e *env, v guestlink.Invitation, limit int) error {
			_, err := e.s.AddInvitation(e.ctx, v, limit)
			return err
		},
		add: func(e *env, room string, spec guestlink.InvitationSpec) guestlink.Invitation {
			return e.invitation(room, spec, t0)
		},
		list: func(e *env, room string) (int, error) {
			vs, err := e.s.Invitations(e.ctx, room)
			return len(vs), err
		},
		remove: func(e *env, room string, v guestlink.Invitation) error {
			return e.s.DeleteInvitation(e.ctx, room, v.ID)
		},
		token: func(v guestlink.Invitation) string { return v.Token },
		stored: func(e *env, token string) (int, error) {
			_, v, err := e.s.InvitationByToken(e.ctx, token)
			return v.Uses, err
		},
		redeem: func(e *env, token string, g guestlink.Guest, at time.Time) (int, guestlink.Guest, error) {
			_, v, g, err := e.s.RedeemInvitation(e.ctx, token, g, at)
			return v.Uses, g, err
		},
	}
)

// atMost is a spec's limit of n uses: none (nil) if n is 0.
func atMost(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

// addConcurrentLimit races workers additions for a room with limit (below
// workers): exactly limit succeed, the others are refused with k.limitErr,
// and the room lists limit records.
func addConcurrentLimit[S, V any](t *testing.T, e *env, k kind[S, V], workers, limit int) {
	k.room(e, "r")
	vs := make([]V, workers)
	for i := range vs {
		vs[i] = k.draft(e, "r", k.spec(fmt.Sprintf("Guest %d", i), 0))
	}
	exactly(t, k.addCall+" calls", workers, limit, k.limitErr, func(i int) error { return k.insert(e, vs[i], limit) })
	if n, err := k.list(e, "r"); err != nil || n != limit {
		t.Errorf("records listed: %d, %v; want %d", n, err, limit)
	}
}

// redeemExactlyN races 50 redemptions of a record limited to 1, and of one
// limited to 5, uses: exactly 1, and 5, succeed, the others are
// guestlink.ErrLinkUsedUp, the highest count answered and the count stored
// are the limit, and the room holds as many guests.
func redeemExactlyN[S, V any](t *testing.T, e *env, k kind[S, V]) {
	for _, n := range []int{1, 5} {
		t.Run(fmt.Sprintf("max_%s=%d", k.count, n), func(t *testing.T) {
			e := e.in(t)
			room := fmt.Sprintf("r%d", n)
			k.room(e, room)
			token := k.token(k.add(e, room, k.spec("", n)))
			const workers = 50
			counts := make([]int, workers)
			exactly(t, k.redeemCall+" calls", workers, n, guestlink.ErrLinkUsedUp, func(i int) error {
				c, _, err := k.redeem(e, token, newGuest(guestlink.NewID("g")), t0)
				if err == nil {
					counts[i] = c
				}
				return err
			})
			if m := slices.Max(counts); m != n {
				t.Errorf("highest %s returned %d, want %d", k.count, m, n)
			}
			if c, err := k.stored(e, token); err != nil || c != n {
				t.Errorf("stored %s = %d, %v; want %d", k.count, c, err, n)
			}
			if gs := e.allGuests(room); len(gs) != n {
				t.Errorf("%d guests stored, want %d", len(gs), n)
			}
		})
	}
}

// redeemRule is one case of RedeemRules or RedeemInvitationRules: a room made
// from room with guest access on, a link or invitation (V) made from spec (S)
// in it at t0, what prepare then does to them, and the error that a
// redemption at at answers (nil: it spends one click or use).
type redeemRule[S, V any] struct {
	name    string
	room    guestlink.RoomSpec
	spec    S
	prepare func(e *env, room string, v V)
	at      time.Time
	wantErr error
}

// redeemed checks the guest g that a redemption answered, and the one
// stored, against want.
func (e *env) redeemed(g, want guestlink.Guest) {
	e.t.Helper()
	if !sameGuest(g, want) {
		e.t.Errorf("guest = %+v, want %+v", g, want)
	}
	if stored := e.guest(want.RoomID, want.ID); !sameGuest(stored, want) {
		e.t.Errorf("Guest = %+v, want %+v", stored, want)
	}
}

// accessOff is a redeemRule's prepare that switches the room's guest access
// off.
func accessOff[V any](e *env, room string, _ V) {
	e.t.Helper()
	if _, err := e.s.SetGuestAccess(e.ctx, room, false, t0); err != nil {
		e.t.Fatal(err)
	}
}

// roomDeleted is a redeemRule's prepare that deletes the room.
func roomDeleted[V any](e *env, room string, _ V) {
	e.t.Helper()
	if err := e.s.DeleteRoom(e.ctx, room); err != nil {
		e.t.Fatal(err)
	}
}

// deleted is a redeemRule's prepare that deletes the link or invitation.
func (k kind[S, V]) deleted(e *env, room string, v V) {
	e.t.Helper()
	if err := k.remove(e, room, v); err != nil {
		e.t.Fatal(err)
	}
}

// redeemRules runs each case of tests on a room of its own: a redemption
// that succeeds stores the guest and spends one click or use, in what it
// answers and in the store; a refused one spends and stores nothing.
func redeemRules[S, V any](t *testing.T, e *env, k kind[S, V], tests []redeemRule[S, V]) {
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := e.in(t)
			room := fmt.Sprintf("r%d", i)
			e.room(room, tc.room)
			v := k.add(e, room, tc.spec)
			if tc.prepare != nil {
				tc.prepare(e, room, v)
			}
			token := k.token(v)
			before, lerr := k.stored(e, token)
			var guestsBefore []guestlink.Guest
			if _, err := e.s.Room(e.ctx, room); err == nil {
				guestsBefore = e.allGuests(room)
			}

			in := newGuest(guestlink.NewID("g"))
			got, g, err := k.redeem(e, token, in, tc.at)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("%s: %v, want %s", k.redeemCall, err, errName(tc.wantErr))
			}
			if tc.wantErr == nil {
				if stored, err := k.stored(e, token); g.ID != in.ID || got != before+1 || err != nil || stored != before+1 {
					t.Errorf("%s = guest %+v, %s %d (stored: %d, %v); want the guest and %d", k.redeemCall, g, k.count, got, stored, err, before+1)
				}
				return
			}
			// Refused: nothing is spent or stored.
			if lerr == nil {
				if c, err := k.stored(e, token); err != nil || c != before {
					t.Errorf("%s %d, %v after a refused redemption, want %d", k.count, c, err, before)
				}
			}
			if guestsBefore != nil {
				if after := e.allGuests(room); len(after) != len(guestsBefore) {
					t.Errorf("%d guests after a refused redemption, want %d", len(after), len(guestsBefore))
				}
			}
			if _, err := e.s.Guest(e.ctx, room, in.ID); !errors.Is(err, guestlink.ErrGuestNotFound) {
				t.Errorf("refused guest stored: %v", err)
			}
		})
	}
}

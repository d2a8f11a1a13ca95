// Package storetest checks that an implementation of guestlink.Store keeps the
// promises of the interface's doc comments, and those of guestlink.Queuer,
// guestlink.Backupper and guestlink.Dumper when the store implements them, in
// the manner of testing/fstest.TestFS and golang.org/x/net/nettest.TestConn.
// Every store runs the same suite from one test:
//
//	func TestConformance(t *testing.T) { storetest.TestStore(t, openTemp) }
//
// where openTemp is the store's MakeStore. The suite reads no clock where the
// interface takes one: every now it passes is a fixed time or a fixed step
// after it, so the answers do not depend on when or how fast the suite runs.
// Concurrency subtests run many goroutines at once; run the suite with -race.
//
// The suite does not check what an implementation promises beyond the
// interface (its errors for closed stores or bad input, its storage layout,
// retention); those tests stay with the implementation.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/atonce"
)

// MakeStore opens a fresh, empty store for one subtest of the suite and closes
// it when t ends (t.Cleanup); a subtest may call it more than once (a backup
// is restored into a second store). It also returns reopen, which opens
// another instance of the same store, as a restarted process does: the suite
// closes the instance it used before it calls reopen, and reopen also closes
// what it opens when t ends (Close of a closed store must be harmless).
type MakeStore func(t *testing.T) (s guestlink.Store, reopen func() guestlink.Store)

// t0 is the suite's clock: the now of its first write. Later writes pass t0
// plus some minutes or hours.
var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// purgeLater is a PurgeAt that no clock of the suite, nor the real one while
// the suite runs, reaches: guests redeemed with it are kept, like those
// without one, by a store that purges by either clock.
var purgeLater = t0.AddDate(10, 0, 0)

// hangAfter bounds the wait for an answer that should come at once or after a
// change the suite made, so that a lost wake-up fails the subtest instead of
// hanging until go test's timeout. It is a guard, not a measure: no subtest
// passes or fails by how fast the store answers.
const hangAfter = time.Minute

// TestStore runs the conformance suite on the store that mk opens, one subtest
// per promise, each on a fresh store. Subtests of guestlink.Queuer,
// guestlink.Backupper and guestlink.Dumper are skipped, saying so, when the
// store does not implement them.
func TestStore(t *testing.T, mk MakeStore) {
	for _, group := range [][]subtest{roomTests, linkTests, redeemTests, invitationTests, guestTests, lobbyTests, liveTests, otherTests, queueTests, backupTests, dumpTests} {
		for _, st := range group {
			t.Run(st.name, func(t *testing.T) { st.run(t, open(t, mk)) })
		}
	}
}

// subtest is one promise of the suite.
type subtest struct {
	name string
	run  func(t *testing.T, e *env)
}

// env is one subtest's store, with helpers that fail the subtest when a call
// that prepares the state fails.
type env struct {
	t      *testing.T
	mk     MakeStore
	s      guestlink.Store
	reopen func() guestlink.Store
	ctx    context.Context
}

func open(t *testing.T, mk MakeStore) *env {
	s, reopen := mk(t)
	return &env{t: t, mk: mk, s: s, reopen: reopen, ctx: context.Background()}
}

// fresh opens a second, empty store in the same subtest (a backup is restored
// into it).
func (e *env) fresh() *env { return open(e.t, e.mk) }

// in returns e for a nested subtest t, on the same store.
func (e *env) in(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// restart closes the store and opens it again.
func (e *env) restart() {
	e.t.Helper()
	if err := e.s.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	e.s = e.reopen()
}

// putRoom creates or updates room id from spec (normalized here, as the Store
// expects) at at.
func (e *env) putRoom(id string, spec guestlink.RoomSpec, at time.Time) guestlink.Room {
	e.t.Helper()
	r, _, err := e.s.PutRoom(e.ctx, id, e.normalize(id, spec), at)
	if err != nil {
		e.t.Fatalf("PutRoom(%s): %v", id, err)
	}
	return r
}

func (e *env) normalize(id string, spec guestlink.RoomSpec) guestlink.RoomSpec {
	e.t.Helper()
	n, err := spec.Normalize(id)
	if err != nil {
		e.t.Fatalf("RoomSpec.Normalize(%s): %v", id, err)
	}
	return n
}

// room creates room id from spec at t0 with guest access on (off for a
// gallery).
func (e *env) room(id string, spec guestlink.RoomSpec) guestlink.Room {
	e.t.Helper()
	e.putRoom(id, spec, t0)
	r, err := e.s.SetGuestAccess(e.ctx, id, spec.Kind != guestlink.KindGallery, t0)
	if err != nil {
		e.t.Fatalf("SetGuestAccess(%s): %v", id, err)
	}
	return r
}

// lobbyRoom creates room id with moderator admission and guest access on, and
// returns its one unlimited link.
func (e *env) lobbyRoom(id string) guestlink.Link {
	e.t.Helper()
	e.room(id, guestlink.RoomSpec{Admission: guestlink.AdmissionModerator})
	return e.link(id, guestlink.LinkSpec{}, t0)
}

// newLink makes the link that spec describes for roomID at at, named "Guest
// speakers" when spec has no name.
func (e *env) newLink(roomID string, spec guestlink.LinkSpec, at time.Time) guestlink.Link {
	e.t.Helper()
	if spec.Name == "" {
		spec.Name = "Guest speakers"
	}
	l, err := spec.NewLink(roomID, at)
	if err != nil {
		e.t.Fatalf("NewLink: %v", err)
	}
	return l
}

// link adds the link that spec describes to roomID, under the default limit.
func (e *env) link(roomID string, spec guestlink.LinkSpec, at time.Time) guestlink.Link {
	e.t.Helper()
	l, err := e.s.AddLink(e.ctx, e.newLink(roomID, spec, at), guestlink.DefaultMaxLinks)
	if err != nil {
		e.t.Fatalf("AddLink(%s): %v", roomID, err)
	}
	return l
}

// redeem redeems the link with token for a new guest at at.
func (e *env) redeem(token string, at time.Time) guestlink.Guest {
	e.t.Helper()
	return e.redeemAs(token, guestlink.NewID("g"), at)
}

// redeemAs redeems the link with token for a guest with id at at.
func (e *env) redeemAs(token, id string, at time.Time) guestlink.Guest {
	e.t.Helper()
	_, _, g, err := e.s.Redeem(e.ctx, token, newGuest(id), at)
	if err != nil {
		e.t.Fatalf("Redeem(%s): %v", id, err)
	}
	return g
}

// setState moves a guest to state to at at.
func (e *env) setState(roomID, guestID, to string, at time.Time) guestlink.Guest {
	e.t.Helper()
	g, err := e.s.SetGuestState(e.ctx, roomID, guestID, to, at)
	if err != nil {
		e.t.Fatalf("SetGuestState(%s, %s): %v", guestID, to, err)
	}
	return g
}

// guest reads a guest that must exist.
func (e *env) guest(roomID, guestID string) guestlink.Guest {
	e.t.Helper()
	g, err := e.s.Guest(e.ctx, roomID, guestID)
	if err != nil {
		e.t.Fatalf("Guest(%s, %s): %v", roomID, guestID, err)
	}
	return g
}

// clicks returns the stored clicks of the link with token.
func (e *env) clicks(token string) int {
	e.t.Helper()
	_, l, err := e.s.LinkByToken(e.ctx, token)
	if err != nil {
		e.t.Fatalf("LinkByToken: %v", err)
	}
	return l.Clicks
}

// allGuests lists every guest of roomID, newest first, in pages of 1000.
func (e *env) allGuests(roomID string) []guestlink.Guest {
	e.t.Helper()
	var all []guestlink.Guest
	cursor := ""
	for {
		gs, next, err := e.s.Guests(e.ctx, roomID, 1000, cursor)
		if err != nil {
			e.t.Fatalf("Guests(%s): %v", roomID, err)
		}
		all = append(all, gs...)
		if next == "" {
			return all
		}
		cursor = next
	}
}

// stats returns the store's counts.
func (e *env) stats() guestlink.Stats {
	e.t.Helper()
	st, err := e.s.Stats(e.ctx)
	if err != nil {
		e.t.Fatalf("Stats: %v", err)
	}
	return st
}

// implements returns e's store as a T, an optional interface such as
// guestlink.Queuer, or skips the subtest, saying so, when the store does not
// implement it.
func implements[T any](e *env) T {
	e.t.Helper()
	v, ok := e.s.(T)
	if !ok {
		e.t.Skipf("%T does not implement %v: skipping its promises", e.s, reflect.TypeFor[T]())
	}
	return v
}

// tally counts errs by the error each matches of want (nil counts the
// successes), and reports the others with t.Errorf.
func tally(t *testing.T, errs []error, want ...error) map[error]int {
	t.Helper()
	n := map[error]int{}
outer:
	for _, err := range errs {
		for _, w := range want {
			if errors.Is(err, w) && (w == nil) == (err == nil) {
				n[w]++
				continue outer
			}
		}
		t.Errorf("unexpected error: %v", err)
	}
	return n
}

// exactly calls call(i) for every i below n, all at once (atonce.Run), and wants
// exactly want of the calls to succeed and the others to fail with refused
// (any other error fails the subtest too); what names the calls in the
// message.
func exactly(t *testing.T, what string, n, want int, refused error, call func(i int) error) {
	t.Helper()
	counts := tally(t, atonce.Run(n, call), nil, refused)
	if ok, no := counts[nil], counts[refused]; ok != want || no != n-want {
		t.Errorf("%d of %d %s succeeded, %d refused with %q; want %d and %d", ok, n, what, no, refused, want, n-want)
	}
}

// newGuest is a guest as Service.Redeem hands it to the store: id, name and
// email set, kept for good (no PurgeAt).
func newGuest(id string) guestlink.Guest {
	return guestlink.Guest{ID: id, Name: "Guest " + id, Email: strings.ReplaceAll(id, "_", "-") + "@example.com"}
}

// gid returns a well-formed guest id (guestlink.ValidID("g", ...)) that sorts
// by i.
func gid(i int) string {
	b := []byte("aaaaaaaaaaaaaaaa")
	for j := len(b) - 1; i > 0; j-- {
		b[j] = 'a' + byte(i%26)
		i /= 26
	}
	return "g_" + string(b)
}

func ids(gs []guestlink.Guest) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.ID
	}
	return out
}

// minutes returns t0 plus n minutes.
func minutes(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

// errName names an error of the table for messages ("nil" for none).
func errName(err error) string {
	if err == nil {
		return "nil"
	}
	return fmt.Sprintf("%q", err)
}

// sameRoom compares rooms with time.Time.Equal (a store may hand back times
// in another location or without a monotonic reading).
func sameRoom(a, b guestlink.Room) bool {
	ta, tb := a, b
	ta.CreatedAt, ta.UpdatedAt, tb.CreatedAt, tb.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return ta == tb && a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

// sameLink compares links with time.Time.Equal.
func sameLink(a, b guestlink.Link) bool {
	ta, tb := a, b
	ta.CreatedAt, ta.ExpiresAt, ta.NotBefore = time.Time{}, time.Time{}, time.Time{}
	tb.CreatedAt, tb.ExpiresAt, tb.NotBefore = time.Time{}, time.Time{}, time.Time{}
	return ta == tb && a.CreatedAt.Equal(b.CreatedAt) && a.ExpiresAt.Equal(b.ExpiresAt) && a.NotBefore.Equal(b.NotBefore)
}

// sameGuest compares guests with time.Time.Equal.
func sameGuest(a, b guestlink.Guest) bool {
	times := func(g *guestlink.Guest) []*time.Time {
		return []*time.Time{&g.RedeemedAt, &g.UpdatedAt, &g.LastSeen, &g.PurgeAt}
	}
	ta, tb := times(&a), times(&b)
	for i := range ta {
		if !ta[i].Equal(*tb[i]) {
			return false
		}
		*ta[i], *tb[i] = time.Time{}, time.Time{}
	}
	return a == b
}

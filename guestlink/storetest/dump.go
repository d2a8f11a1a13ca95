package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"testing"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/guestlink/export"
)

// dumpTests protect guestlink.Dumper, behind "caddy guestgate move", "export"
// and "import": what a store dumps loads into an empty store of its kind
// (another kind's is checked where both meet, in the command's tests) and
// comes back the same, every field of every record, and live: link and
// invitation tokens redeem up to the same limits, guests (invitees too) keep
// their states in the gate and the lobby, the link and invitation caps count
// the loaded ones, the secrets and the queued webhook
// events are there, in order. A store with records is not replaced without
// force; input that fails part way changes nothing.
var dumpTests = []subtest{
	{"DumpLoad", testDumpLoad},
	{"LoadRefusesStoreWithRecords", testLoadNotEmpty},
	{"LoadAllOrNothing", testLoadAllOrNothing},
	{"ImportWouldEmpty", testImportWouldEmpty},
	{"DumpStopsAtEmitError", testDumpEmitError},
}

// dumper returns the store as a Dumper, or skips the subtest.
func (e *env) dumper() guestlink.Dumper {
	e.t.Helper()
	return implements[guestlink.Dumper](e)
}

// dumped is what fillAll stored.
type dumped struct {
	// limited has 3 clicks, 2 spent, and expires; usedUp has 1, spent;
	// unlimited has none.
	limited, usedUp, unlimited guestlink.Link
	// invited is demo's speaker invitation, used once of once; opening is
	// auto's moderator invitation, unlimited, not used, with an opening time.
	invited, opening guestlink.Invitation
	// guests by state, the auto room's one (admitted), and invited's invitee
	// (admitted).
	guests []guestlink.Guest
}

// secretNames are the secrets the handlers make (the Caddy glue).
var secretNames = []string{"session-signing-key", "csrf-key", "identity-ed25519-seed", "invitee-moderator-key", "livekit-tag-key"}

// fillAll stores one of everything a store holds: rooms of every kind and
// admission (one unavailable, one with a lobby message), links with and without limits and expiry,
// invitations (one used up), guests in every state (one with a purge time), the handlers' secrets, and
// two webhook queues, one item retried.
func (e *env) fillAll() dumped {
	e.t.Helper()
	var d dumped
	e.room("demo", guestlink.RoomSpec{Name: "Demo room", Admission: guestlink.AdmissionModerator})
	e.room("auto", guestlink.RoomSpec{Name: "Auto room"})
	e.room("gallery", guestlink.RoomSpec{Kind: guestlink.KindGallery})
	e.putRoom("closed", guestlink.RoomSpec{Available: new(false)}, t0)
	if _, err := e.s.SetLobbyMessage(e.ctx, "demo", "We start at 10:05", t0); err != nil {
		e.t.Fatalf("SetLobbyMessage: %v", err)
	}
	d.limited = e.link("demo", guestlink.LinkSpec{Name: "Speakers", MaxClicks: new(3), DurationDays: new(30)}, t0)
	d.unlimited = e.link("demo", guestlink.LinkSpec{Name: "Press"}, minutes(1))
	d.usedUp = e.link("auto", guestlink.LinkSpec{MaxClicks: new(1), Role: guestlink.RoleSpeaker, NotBefore: new(minutes(10))}, t0)

	in := newGuest(gid(1))
	in.PurgeAt = purgeLater
	_, _, waiting, err := e.s.Redeem(e.ctx, d.limited.Token, in, minutes(2))
	if err != nil {
		e.t.Fatalf("Redeem: %v", err)
	}
	admitted := e.redeemAs(d.limited.Token, gid(2), minutes(3))
	admitted = e.setState("demo", admitted.ID, guestlink.StateAdmitted, minutes(4))
	declined := e.redeemAs(d.unlimited.Token, gid(3), minutes(5))
	declined = e.setState("demo", declined.ID, guestlink.StateDeclined, minutes(6))
	removed := e.redeemAs(d.unlimited.Token, gid(4), minutes(7))
	removed = e.setState("demo", removed.ID, guestlink.StateRemoved, minutes(8))
	left := e.redeemAs(d.unlimited.Token, gid(5), minutes(9))
	left = e.setState("demo", left.ID, guestlink.StateAdmitted, minutes(10))
	left = e.setState("demo", left.ID, guestlink.StateLeft, minutes(11))
	auto := e.redeemAs(d.usedUp.Token, gid(6), minutes(12))
	d.invited = e.invitation("demo", guestlink.InvitationSpec{Email: "Bob@Example.com", Name: "Bob", Role: guestlink.RoleSpeaker}, minutes(1))
	d.opening = e.invitation("auto", guestlink.InvitationSpec{Role: guestlink.RoleModerator, Unlimited: true, DurationHours: new(48),
		NotBefore: new(minutes(10))}, t0)
	_, used, invitee, err := e.s.RedeemInvitation(e.ctx, d.invited.Token, newGuest(gid(7)), minutes(13))
	if err != nil || used.Uses != 1 {
		e.t.Fatalf("RedeemInvitation: %v", err)
	}
	d.guests = []guestlink.Guest{waiting, admitted, declined, removed, left, auto, invitee}

	for _, name := range secretNames {
		if _, err := e.s.Secret(e.ctx, name, 32); err != nil {
			e.t.Fatal(err)
		}
	}
	for _, body := range []string{`{"id":"a"}`, `{"id":"b"}`, `{"id":"c"}`} {
		e.enqueue("hooks-1", body, 0)
	}
	e.enqueue("hooks-2", `{"id":"d"}`, 0)
	if err := e.queuer().Retry(e.ctx, "hooks-1", e.item("hooks-1", `{"id":"b"}`).ID, 2, minutes(30)); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// dump returns every record the store dumps.
func (e *env) dump() []guestlink.Record {
	e.t.Helper()
	var recs []guestlink.Record
	if err := e.dumper().Dump(e.ctx, func(r guestlink.Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		e.t.Fatalf("Dump: %v", err)
	}
	return recs
}

// feed returns a Load's next that hands out recs, then io.EOF; or, when
// failAt >= 0, the error fail instead of the record at failAt.
func feed(recs []guestlink.Record, failAt int, fail error) func() (guestlink.Record, error) {
	i := 0
	return func() (guestlink.Record, error) {
		if i == failAt {
			return guestlink.Record{}, fail
		}
		if i >= len(recs) {
			return guestlink.Record{}, io.EOF
		}
		i++
		return recs[i-1], nil
	}
}

// load loads recs into the store.
func (e *env) load(recs []guestlink.Record, force bool) error {
	e.t.Helper()
	return e.dumper().Load(e.ctx, feed(recs, -1, nil), force)
}

// recordsJSON is recs as JSON, one record a line, for comparisons and
// messages: times compare as instants, whatever their location.
func recordsJSON(t *testing.T, recs []guestlink.Record) string {
	t.Helper()
	var b bytes.Buffer
	for _, r := range recs {
		_, v := recordKind(r)
		line, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%T %s\n", v, line)
	}
	return b.String()
}

// recordKind names the field of r that is set ("room", "link",
// "invitation", "guest", "secret", "item") and returns it; "" and nil for a
// record with none.
func recordKind(r guestlink.Record) (string, any) {
	switch {
	case r.Room != nil:
		return "room", r.Room
	case r.Link != nil:
		return "link", r.Link
	case r.Invitation != nil:
		return "invitation", r.Invitation
	case r.Guest != nil:
		return "guest", r.Guest
	case r.Secret != nil:
		return "secret", r.Secret
	case r.Item != nil:
		return "item", r.Item
	}
	return "", nil
}

// verdicts are the gate's answers (Check) for d's guests at now, as text.
func (e *env) verdicts(d dumped) []string {
	e.t.Helper()
	var out []string
	for _, g := range d.guests {
		st, err := e.s.Check(e.ctx, g.RoomID, g.LinkID, g.ID, minutes(20))
		out = append(out, fmt.Sprintf("%s: %s %v", g.ID, st, err))
	}
	return out
}

func testDumpLoad(t *testing.T, e *env) {
	d := e.fillAll()
	recs := e.dump()
	kinds := map[string]int{}
	for _, r := range recs {
		name, _ := recordKind(r)
		kinds[name]++
	}
	if want := map[string]int{"room": 4, "link": 3, "invitation": 2, "guest": 7, "secret": len(secretNames), "item": 4}; !maps.Equal(kinds, want) {
		t.Fatalf("Dump handed out %v, want %v", kinds, want)
	}

	dst := e.fresh()
	gen := dst.s.Generation()
	if err := dst.load(recs, false); err != nil {
		t.Fatalf("Load into an empty store: %v", err)
	}
	if g := dst.s.Generation(); g <= gen {
		t.Errorf("Generation %d -> %d across a load, want it to grow", gen, g)
	}
	// Every field of every record, in the same order.
	if got, want := recordsJSON(t, dst.dump()), recordsJSON(t, recs); got != want {
		t.Errorf("the loaded store dumps\n%s\nwant\n%s", got, want)
	}

	// Live: the gate, the lists and the limits behave as in the source.
	if got, want := dst.verdicts(d), e.verdicts(d); !slices.Equal(got, want) {
		t.Errorf("Check after the load:\n%v\nwant, as in the source:\n%v", got, want)
	}
	invitee := d.guests[len(d.guests)-1]
	if st, err := dst.s.Check(dst.ctx, "demo", d.invited.ID, invitee.ID, minutes(20)); st != guestlink.StateAdmitted || err != nil {
		t.Errorf("Check of the invitee after the load = %q, %v; want admitted", st, err)
	}
	if got, want := ids(dst.allGuests("demo")), ids(e.allGuests("demo")); !slices.Equal(got, want) {
		t.Errorf("guest list after the load %v, want %v", got, want)
	}
	if lobby, err := dst.s.Lobby(dst.ctx, "demo", t0); err != nil || !slices.Equal(ids(lobby), []string{d.guests[0].ID}) {
		t.Errorf("lobby after the load: %v, %v; want the waiting guest", ids(lobby), err)
	}
	if st, src := dst.stats(), e.stats(); st != src {
		t.Errorf("Stats after the load %+v, want %+v", st, src)
	}
	for _, name := range secretNames {
		a, _ := e.s.Secret(e.ctx, name, 32)
		if b, err := dst.s.Secret(dst.ctx, name, 32); err != nil || !bytes.Equal(a, b) {
			t.Errorf("secret %s after the load differs from the source's (%v)", name, err)
		}
	}
	dst.redeem(d.limited.Token, minutes(21)) // the third of 3
	for _, l := range []guestlink.Link{d.limited, d.usedUp} {
		if _, _, _, err := dst.s.Redeem(dst.ctx, l.Token, newGuest(guestlink.NewID("g")), minutes(22)); !errors.Is(err, guestlink.ErrLinkUsedUp) {
			t.Errorf("Redeem of %s past its limit after the load = %v, want ErrLinkUsedUp", l.Name, err)
		}
	}
	if c := dst.clicks(d.limited.Token); c != 3 {
		t.Errorf("clicks of the 3-click link = %d, want 3", c)
	}
	// The cap counts the loaded links: demo has 2 of 3.
	dst.link("demo", guestlink.LinkSpec{Name: "Third"}, minutes(23))
	if _, err := dst.s.AddLink(dst.ctx, dst.newLink("demo", guestlink.LinkSpec{Name: "Fourth"}, minutes(24)), guestlink.DefaultMaxLinks); !errors.Is(err, guestlink.ErrLinkLimit) {
		t.Errorf("a fourth link after the load = %v, want ErrLinkLimit", err)
	}
	// Invitations: the used-up one stays used up, the other opens; the
	// invitation cap counts the loaded ones (demo has 1).
	if _, _, _, err := dst.s.RedeemInvitation(dst.ctx, d.invited.Token, newGuest(guestlink.NewID("g")), minutes(22)); !errors.Is(err, guestlink.ErrLinkUsedUp) {
		t.Errorf("RedeemInvitation of the used-up invitation after the load = %v, want ErrLinkUsedUp", err)
	}
	if _, v, g, err := dst.s.RedeemInvitation(dst.ctx, d.opening.Token, newGuest(guestlink.NewID("g")), minutes(22)); err != nil ||
		v.Uses != 1 || g.Role != guestlink.RoleModerator {
		t.Errorf("RedeemInvitation of the open invitation after the load = %+v, %+v, %v; want one use by a moderator", v, g, err)
	}
	if _, err := dst.s.AddInvitation(dst.ctx, dst.newInvitation("demo", guestlink.InvitationSpec{}, minutes(23)), 1); !errors.Is(err, guestlink.ErrInvitationLimit) {
		t.Errorf("a second invitation with max_invitations 1 after the load = %v, want ErrInvitationLimit", err)
	}
	// The queues keep their order, attempts and due times; a new event comes
	// after them.
	dst.enqueue("hooks-1", `{"id":"e"}`, 0)
	if got := bodies(dst.dueAll("hooks-1")); !slices.Equal(got, []string{`{"id":"a"}`, `{"id":"b"}`, `{"id":"c"}`, `{"id":"e"}`}) {
		t.Errorf("queue after the load and an enqueue: %v", got)
	}
	if b := dst.item("hooks-1", `{"id":"b"}`); b.Attempts != 2 || !b.NextAt.Equal(minutes(30)) {
		t.Errorf("retried item after the load: %d attempts, due %v; want 2, %v", b.Attempts, b.NextAt, minutes(30))
	}
	if qs, err := dst.queuer().Queues(dst.ctx); err != nil || !slices.Equal(qs, []string{"hooks-1", "hooks-2"}) {
		t.Errorf("Queues after the load = %v, %v", qs, err)
	}
}

// testLoadNotEmpty: a store with a room, link or guest is refused without
// force and left as it was; one with only secrets and queue items is empty,
// and the load replaces them; force replaces everything.
func testLoadNotEmpty(t *testing.T, e *env) {
	d := e.fillAll()
	recs := e.dump()

	t.Run("secrets and queues only", func(t *testing.T) {
		dst := e.fresh().in(t)
		if _, err := dst.s.Secret(dst.ctx, "csrf-key", 32); err != nil {
			t.Fatal(err)
		}
		dst.enqueue("hooks-1", "stale", 0)
		dst.enqueue("elsewhere", "stale", 0)
		if err := dst.load(recs, false); err != nil {
			t.Fatalf("Load: %v", err)
		}
		if got, want := recordsJSON(t, dst.dump()), recordsJSON(t, recs); got != want {
			t.Errorf("the loaded store dumps\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("records", func(t *testing.T) {
		dst := e.fresh().in(t)
		dst.room("other", guestlink.RoomSpec{Name: "Someone else's"})
		l := dst.link("other", guestlink.LinkSpec{}, t0)
		before := recordsJSON(t, dst.dump())
		if err := dst.load(recs, false); !errors.Is(err, guestlink.ErrStoreNotEmpty) {
			t.Fatalf("Load into a store with records = %v, want ErrStoreNotEmpty", err)
		}
		if after := recordsJSON(t, dst.dump()); after != before {
			t.Errorf("a refused load changed the store:\n%s\nwas\n%s", after, before)
		}
		if err := dst.load(recs, true); err != nil {
			t.Fatalf("Load with force: %v", err)
		}
		if got, want := recordsJSON(t, dst.dump()), recordsJSON(t, recs); got != want {
			t.Errorf("after a forced load the store dumps\n%s\nwant\n%s", got, want)
		}
		if _, _, err := dst.s.LinkByToken(dst.ctx, l.Token); !errors.Is(err, guestlink.ErrLinkNotFound) {
			t.Errorf("a link of the replaced contents still opens: %v", err)
		}
		if _, err := dst.s.Check(dst.ctx, "other", l.ID, d.guests[0].ID, t0); !errors.Is(err, guestlink.ErrRoomNotFound) && !errors.Is(err, guestlink.ErrRoomUnavailable) {
			t.Errorf("Check in a room of the replaced contents = %v, want it gone", err)
		}
	})
}

// testLoadAllOrNothing: when the input fails at any point (the first record,
// the middle, after the last), the load returns its error and the store holds
// what it held, with or without force.
func testLoadAllOrNothing(t *testing.T, e *env) {
	e.fillAll()
	recs := e.dump()
	errTruncated := fmt.Errorf("%w: truncated", guestlink.ErrBadBackup)
	dst := e.fresh()
	dst.room("kept", guestlink.RoomSpec{Name: "Kept"})
	kept := dst.link("kept", guestlink.LinkSpec{MaxClicks: new(2)}, t0)
	dst.redeem(kept.Token, t0)
	before := recordsJSON(t, dst.dump())
	for _, at := range []int{0, 1, len(recs) / 2, len(recs) - 1, len(recs)} {
		t.Run(fmt.Sprintf("failing at record %d", at), func(t *testing.T) {
			err := dst.dumper().Load(dst.ctx, feed(recs, at, errTruncated), true)
			if !errors.Is(err, guestlink.ErrBadBackup) {
				t.Fatalf("Load = %v, want the input's error", err)
			}
			if after := recordsJSON(t, dst.dump()); after != before {
				t.Errorf("a failed load changed the store:\n%s\nwas\n%s", after, before)
			}
			if st, err := dst.s.Check(dst.ctx, "kept", kept.ID, guestlink.NewID("g"), t0); !errors.Is(err, guestlink.ErrGuestNotFound) {
				t.Errorf("Check in the kept room after a failed load = %q, %v; want the room there (ErrGuestNotFound)", st, err)
			}
		})
	}
}

// testImportWouldEmpty: an export that holds no room (of a store Caddy made
// but never used, or the wrong one) does not replace a store that holds
// rooms, even with force: export.Read refuses it before the store's Load
// changes anything (guestlink.ErrWouldEmpty). Into an empty store it goes.
func testImportWouldEmpty(t *testing.T, e *env) {
	src := e.fresh()
	if _, err := src.s.Secret(src.ctx, "csrf-key", 32); err != nil {
		t.Fatal(err)
	}
	var empty bytes.Buffer
	if _, err := export.Write(src.ctx, &empty, src.dumper(), t0); err != nil {
		t.Fatal(err)
	}
	dst := e.fresh()
	dst.room("kept", guestlink.RoomSpec{Name: "Kept"})
	dst.link("kept", guestlink.LinkSpec{}, t0)
	before := recordsJSON(t, dst.dump())
	if _, err := export.Read(dst.ctx, bytes.NewReader(empty.Bytes()), dst.dumper(), true); !errors.Is(err, guestlink.ErrWouldEmpty) {
		t.Fatalf("import with force of an export without rooms = %v, want ErrWouldEmpty", err)
	}
	if after := recordsJSON(t, dst.dump()); after != before {
		t.Errorf("the refused import changed the store:\n%s\nwas\n%s", after, before)
	}
	if _, err := export.Read(dst.ctx, bytes.NewReader(empty.Bytes()), e.fresh().dumper(), true); err != nil {
		t.Errorf("import with force of an export without rooms into an empty store: %v", err)
	}
}

// testDumpEmitError: Dump stops at emit's first error and returns it.
func testDumpEmitError(t *testing.T, e *env) {
	e.fillAll()
	stop := errors.New("disk full")
	n := 0
	err := e.dumper().Dump(e.ctx, func(guestlink.Record) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("Dump = %v after %d records, want emit's error after 3", err, n)
	}
	// The store is not left busy.
	if recs := e.dump(); len(recs) == 0 {
		t.Error("Dump after a stopped Dump handed out nothing")
	}
}

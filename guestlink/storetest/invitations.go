package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// invitationTests protect the personal links of docs/DESIGN.md section 8: an
// invitation is kept as given and found by its token (never as a link, nor a
// link as an invitation); a room has at most max_invitations of them, however
// many are made at once, apart from its links; a redemption is
// CheckInvitationOpen inside the transaction, spends exactly one use, never
// past MaxUses, and stores the guest with the invitation's role; the guest
// access switch governs neither the invitation nor the sessions it made, and
// deleting it ends them.
var invitationTests = []subtest{
	{"InvitationAddAndFind", testInvitationAddAndFind},
	{"InvitationLimit", testInvitationLimit},
	{"InvitationConcurrentLimit", testInvitationConcurrentLimit},
	{"RedeemInvitationStoresGuest", testRedeemInvitationStoresGuest},
	{"RedeemInvitationRules", testRedeemInvitationRules},
	{"RedeemInvitationExactlyN", testRedeemInvitationExactlyN},
	{"InvitationSessions", testInvitationSessions},
}

// newInvitation makes the invitation that spec describes for roomID at at,
// for ada@example.com as Ada unless spec says otherwise.
func (e *env) newInvitation(roomID string, spec guestlink.InvitationSpec, at time.Time) guestlink.Invitation {
	e.t.Helper()
	if spec.Email == "" {
		spec.Email = "ada@example.com"
	}
	if spec.Name == "" {
		spec.Name = "Ada"
	}
	v, err := spec.NewInvitation(roomID, at)
	if err != nil {
		e.t.Fatalf("NewInvitation: %v", err)
	}
	return v
}

// invitation adds the invitation that spec describes to roomID, under the
// default limit.
func (e *env) invitation(roomID string, spec guestlink.InvitationSpec, at time.Time) guestlink.Invitation {
	e.t.Helper()
	v, err := e.s.AddInvitation(e.ctx, e.newInvitation(roomID, spec, at), guestlink.DefaultMaxInvitations)
	if err != nil {
		e.t.Fatalf("AddInvitation(%s): %v", roomID, err)
	}
	return v
}

// uses returns the stored uses of the invitation with token.
func (e *env) uses(token string) int {
	e.t.Helper()
	_, v, err := e.s.InvitationByToken(e.ctx, token)
	if err != nil {
		e.t.Fatalf("InvitationByToken: %v", err)
	}
	return v.Uses
}

// sameInvitation compares invitations with time.Time.Equal.
func sameInvitation(a, b guestlink.Invitation) bool {
	ta, tb := a, b
	ta.CreatedAt, ta.ExpiresAt, ta.NotBefore = time.Time{}, time.Time{}, time.Time{}
	tb.CreatedAt, tb.ExpiresAt, tb.NotBefore = time.Time{}, time.Time{}, time.Time{}
	return ta == tb && a.CreatedAt.Equal(b.CreatedAt) && a.ExpiresAt.Equal(b.ExpiresAt) && a.NotBefore.Equal(b.NotBefore)
}

func testInvitationAddAndFind(t *testing.T, e *env) {
	// Guest access off: invitations do not need it.
	e.putRoom("r", guestlink.RoomSpec{}, t0)
	e.putRoom("r2", guestlink.RoomSpec{}, t0) // an id that extends "r"
	later := e.invitation("r", guestlink.InvitationSpec{Email: "Bob@Example.com", Name: "Bob", Role: guestlink.RoleModerator,
		Unlimited: true, DurationHours: new(48), NotBefore: new(t0.Add(time.Hour))}, t0.Add(time.Minute))
	first := e.invitation("r", guestlink.InvitationSpec{Role: guestlink.RoleSpeaker, MaxUses: new(3)}, t0)
	other := e.invitation("r2", guestlink.InvitationSpec{}, t0)

	got, err := e.s.Invitations(e.ctx, "r")
	if err != nil || len(got) != 2 || !sameInvitation(got[0], first) || !sameInvitation(got[1], later) {
		t.Fatalf("Invitations(r) = %+v, %v; want the two, oldest first, as added", got, err)
	}
	for _, v := range []guestlink.Invitation{first, later, other} {
		r, found, err := e.s.InvitationByToken(e.ctx, v.Token)
		if err != nil || !sameInvitation(found, v) || r.ID != v.RoomID {
			t.Errorf("InvitationByToken(%s) = %+v, %+v, %v; want it with its room", v.ID, r, found, err)
		}
		if _, _, err := e.s.LinkByToken(e.ctx, v.Token); !errors.Is(err, guestlink.ErrLinkNotFound) {
			t.Errorf("LinkByToken of an invitation's token: %v, want ErrLinkNotFound", err)
		}
	}
	if ls, err := e.s.Links(e.ctx, "r"); err != nil || len(ls) != 0 {
		t.Errorf("Links of a room with invitations only = %+v, %v; want none", ls, err)
	}
	e.room("links", guestlink.RoomSpec{})
	l := e.link("links", guestlink.LinkSpec{}, t0)
	if _, _, err := e.s.InvitationByToken(e.ctx, l.Token); !errors.Is(err, guestlink.ErrInvitationNotFound) {
		t.Errorf("InvitationByToken of a link's token: %v, want ErrInvitationNotFound", err)
	}
	if _, _, err := e.s.InvitationByToken(e.ctx, guestlink.NewToken()); !errors.Is(err, guestlink.ErrInvitationNotFound) {
		t.Errorf("InvitationByToken of an unknown token: %v, want ErrInvitationNotFound", err)
	}
	if _, err := e.s.Invitations(e.ctx, "nope"); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("Invitations of a missing room: %v, want ErrRoomNotFound", err)
	}

	// Deleting is at once and for good; another room's id does not reach it.
	if err := e.s.DeleteInvitation(e.ctx, "r2", first.ID); !errors.Is(err, guestlink.ErrInvitationNotFound) {
		t.Errorf("DeleteInvitation through another room: %v, want ErrInvitationNotFound", err)
	}
	if err := e.s.DeleteInvitation(e.ctx, "r", first.ID); err != nil {
		t.Fatalf("DeleteInvitation: %v", err)
	}
	if err := e.s.DeleteInvitation(e.ctx, "r", first.ID); !errors.Is(err, guestlink.ErrInvitationNotFound) {
		t.Errorf("DeleteInvitation twice: %v, want ErrInvitationNotFound", err)
	}
	if _, _, err := e.s.InvitationByToken(e.ctx, first.Token); !errors.Is(err, guestlink.ErrInvitationNotFound) {
		t.Errorf("the deleted invitation's token: %v, want ErrInvitationNotFound", err)
	}
	if got, err := e.s.Invitations(e.ctx, "r"); err != nil || len(got) != 1 || got[0].ID != later.ID {
		t.Errorf("Invitations after a delete = %+v, %v; want the other one", got, err)
	}
	// A deleted room takes its invitations with it.
	if err := e.s.DeleteRoom(e.ctx, "r2"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.InvitationByToken(e.ctx, other.Token); !errors.Is(err, guestlink.ErrInvitationNotFound) {
		t.Errorf("an invitation of a deleted room: %v, want ErrInvitationNotFound", err)
	}
	e.restart()
	if got, err := e.s.Invitations(e.ctx, "r"); err != nil || len(got) != 1 || !sameInvitation(got[0], later) {
		t.Errorf("Invitations after a restart = %+v, %v; want the one kept", got, err)
	}
}

func testInvitationLimit(t *testing.T, e *env) {
	e.putRoom("r", guestlink.RoomSpec{}, t0)
	for i := range 2 {
		if _, err := e.s.AddInvitation(e.ctx, e.newInvitation("r", guestlink.InvitationSpec{}, t0), 2); err != nil {
			t.Fatalf("invitation %d of 2: %v", i, err)
		}
	}
	v := e.newInvitation("r", guestlink.InvitationSpec{}, t0)
	if _, err := e.s.AddInvitation(e.ctx, v, 2); !errors.Is(err, guestlink.ErrInvitationLimit) {
		t.Fatalf("a third invitation with max 2: %v, want ErrInvitationLimit", err)
	}
	if _, _, err := e.s.InvitationByToken(e.ctx, v.Token); !errors.Is(err, guestlink.ErrInvitationNotFound) {
		t.Errorf("the refused invitation's token resolves: %v", err)
	}
	// Links and invitations are counted apart.
	if _, err := e.s.SetGuestAccess(e.ctx, "r", true, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.AddLink(e.ctx, e.newLink("r", guestlink.LinkSpec{}, t0), 1); err != nil {
		t.Errorf("a link in a room full of invitations: %v", err)
	}
	e.room("links", guestlink.RoomSpec{})
	e.link("links", guestlink.LinkSpec{}, t0)
	if _, err := e.s.AddInvitation(e.ctx, e.newInvitation("links", guestlink.InvitationSpec{}, t0), 1); err != nil {
		t.Errorf("an invitation in a room with a link and max_invitations 1: %v", err)
	}
	e.room("gallery", guestlink.RoomSpec{Kind: guestlink.KindGallery})
	if _, err := e.s.AddInvitation(e.ctx, e.newInvitation("gallery", guestlink.InvitationSpec{}, t0), 5); !errors.Is(err, guestlink.ErrGalleryRoom) {
		t.Errorf("an invitation in a gallery: %v, want ErrGalleryRoom", err)
	}
	if _, err := e.s.AddInvitation(e.ctx, e.newInvitation("nope", guestlink.InvitationSpec{}, t0), 5); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("an invitation in a missing room: %v, want ErrRoomNotFound", err)
	}
}

// testInvitationConcurrentLimit races 30 AddInvitation calls for a room with
// max_invitations 5: exactly 5 succeed.
func testInvitationConcurrentLimit(t *testing.T, e *env) {
	addConcurrentLimit(t, e, invitationKind, 30, 5)
}

func testRedeemInvitationStoresGuest(t *testing.T, e *env) {
	for _, tc := range []struct {
		admission, role, want string
	}{
		{guestlink.AdmissionModerator, guestlink.RoleViewer, guestlink.StateWaiting},
		{guestlink.AdmissionModerator, guestlink.RoleSpeaker, guestlink.StateAdmitted},
		{guestlink.AdmissionModerator, guestlink.RoleModerator, guestlink.StateAdmitted},
		{guestlink.AdmissionAuto, guestlink.RoleViewer, guestlink.StateAdmitted},
	} {
		t.Run(tc.admission+" "+tc.role, func(t *testing.T) {
			e := e.in(t)
			id := "r-" + tc.admission + "-" + tc.role
			e.putRoom(id, guestlink.RoomSpec{Admission: tc.admission}, t0) // guest access off
			v := e.invitation(id, guestlink.InvitationSpec{Role: tc.role, MaxUses: new(2)}, t0)
			now := t0.Add(time.Minute)
			in := newGuest(guestlink.NewID("g"))
			in.PurgeAt = purgeLater
			r, gotV, g, err := e.s.RedeemInvitation(e.ctx, v.Token, in, now)
			if err != nil {
				t.Fatalf("RedeemInvitation: %v", err)
			}
			want := guestlink.Guest{ID: in.ID, RoomID: id, LinkID: v.ID, LinkName: guestlink.InvitationLinkName, Name: in.Name, Email: in.Email,
				Role: tc.role, State: tc.want, RedeemedAt: now, UpdatedAt: now, LastSeen: now, PurgeAt: purgeLater}
			e.redeemed(g, want)
			if r.ID != id || gotV.ID != v.ID || gotV.Uses != 1 {
				t.Errorf("RedeemInvitation returned room %+v, invitation %+v; want the room and one use", r, gotV)
			}
			if n := e.uses(v.Token); n != 1 {
				t.Errorf("stored Uses = %d, want 1", n)
			}
		})
	}
}

func testRedeemInvitationRules(t *testing.T, e *env) {
	redeemRules(t, e, invitationKind, []redeemRule[guestlink.InvitationSpec, guestlink.Invitation]{
		{name: "open", at: t0},
		{name: "guest access off does not matter", at: t0, prepare: accessOff[guestlink.Invitation]},
		{name: "just before expiry", spec: guestlink.InvitationSpec{DurationHours: new(2)}, at: t0.Add(2*time.Hour - time.Nanosecond)},
		{name: "expired", spec: guestlink.InvitationSpec{DurationHours: new(2)}, at: t0.Add(2 * time.Hour), wantErr: guestlink.ErrLinkExpired},
		{name: "expired by the default 24 hours", at: t0.Add(24 * time.Hour), wantErr: guestlink.ErrLinkExpired},
		{name: "not yet open", spec: guestlink.InvitationSpec{NotBefore: new(t0.Add(time.Hour))}, at: t0.Add(time.Hour - time.Nanosecond), wantErr: guestlink.ErrLinkNotYetOpen},
		{name: "open at its opening time", spec: guestlink.InvitationSpec{NotBefore: new(t0.Add(time.Hour))}, at: t0.Add(time.Hour)},
		{name: "used once by default", at: t0, wantErr: guestlink.ErrLinkUsedUp,
			prepare: func(e *env, room string, v guestlink.Invitation) {
				if _, _, _, err := e.s.RedeemInvitation(e.ctx, v.Token, newGuest(guestlink.NewID("g")), t0); err != nil {
					e.t.Fatal(err)
				}
			}},
		{name: "room unavailable", room: guestlink.RoomSpec{Available: new(false)}, at: t0, wantErr: guestlink.ErrRoomUnavailable},
		{name: "deleted", at: t0, wantErr: guestlink.ErrInvitationNotFound, prepare: invitationKind.deleted},
		{name: "room deleted", at: t0, wantErr: guestlink.ErrInvitationNotFound, prepare: roomDeleted[guestlink.Invitation]},
	})
}

// testRedeemInvitationExactlyN: an invitation with max_uses N admits exactly
// N of 50 concurrent redemptions.
func testRedeemInvitationExactlyN(t *testing.T, e *env) { redeemExactlyN(t, e, invitationKind) }

// testInvitationSessions: the session of an invitee holds while guest access
// is off (also as the store reads it at a restart), and ends when the
// invitation is deleted or the room becomes unavailable, in Session and in
// Check.
func testInvitationSessions(t *testing.T, e *env) {
	e.room("r", guestlink.RoomSpec{})
	v := e.invitation("r", guestlink.InvitationSpec{Role: guestlink.RoleModerator}, t0)
	_, _, g, err := e.s.RedeemInvitation(e.ctx, v.Token, newGuest(guestlink.NewID("g")), t0)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, want error) {
		t.Helper()
		if _, _, err := e.s.Session(e.ctx, "r", v.ID, g.ID); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("%s: Session = %v, want %s", what, err, errName(want))
		}
		if _, err := e.s.Check(e.ctx, "r", v.ID, g.ID, t0); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("%s: Check = %v, want %s", what, err, errName(want))
		}
	}
	check("admitted invitee", nil)
	if _, err := e.s.SetGuestAccess(e.ctx, "r", false, t0); err != nil {
		t.Fatal(err)
	}
	check("guest access off", nil)
	e.restart()
	check("guest access off, after a restart", nil)
	e.putRoom("r", guestlink.RoomSpec{Available: new(false)}, t0)
	check("room unavailable", guestlink.ErrRoomUnavailable)
	e.putRoom("r", guestlink.RoomSpec{}, t0)
	check("room available again", nil)
	if err := e.s.DeleteInvitation(e.ctx, "r", v.ID); err != nil {
		t.Fatal(err)
	}
	check("invitation deleted", guestlink.ErrLinkNotFound)
}

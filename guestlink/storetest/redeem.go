package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// redeemTests protect the redemption: the guest it stores (the link's role and
// name, InitialState for that role, the times), CheckLinkOpen inside the
// transaction (an opening time included), which a
// refusal leaves without a trace, and the product rule that a link with max
// clicks N admits exactly N guests, never N+1, however many redeem at once and
// whatever other writers do meanwhile.
var redeemTests = []subtest{
	{"RedeemStoresGuest", testRedeemStoresGuest},
	{"RedeemRules", testRedeemRules},
	{"RedeemExactlyN", testRedeemExactlyN},
	{"RedeemAgainstOtherWriters", testRedeemAgainstOtherWriters},
}

func testRedeemStoresGuest(t *testing.T, e *env) {
	for _, tc := range []struct {
		admission string
		role      string
		want      string
		purgeAt   time.Time
	}{
		{guestlink.AdmissionAuto, guestlink.RoleViewer, guestlink.StateAdmitted, time.Time{}},
		{guestlink.AdmissionModerator, guestlink.RoleViewer, guestlink.StateWaiting, time.Time{}},
		{guestlink.AdmissionModerator, guestlink.RoleViewer, guestlink.StateWaiting, purgeLater},
		{guestlink.AdmissionAuto, guestlink.RoleSpeaker, guestlink.StateAdmitted, time.Time{}},
		// A speaker skips the lobby.
		{guestlink.AdmissionModerator, guestlink.RoleSpeaker, guestlink.StateAdmitted, purgeLater},
	} {
		t.Run(fmt.Sprintf("%s %s purge=%v", tc.admission, tc.role, !tc.purgeAt.IsZero()), func(t *testing.T) {
			e := e.in(t)
			id := fmt.Sprintf("r-%s-%s-%v", tc.admission, tc.role, !tc.purgeAt.IsZero())
			e.room(id, guestlink.RoomSpec{Admission: tc.admission})
			l := e.link(id, guestlink.LinkSpec{Name: "Speakers", MaxClicks: new(2), Role: tc.role}, t0)
			now := t0.Add(time.Minute)
			in := newGuest(guestlink.NewID("g"))
			in.PurgeAt = tc.purgeAt
			r, gotL, g, err := e.s.Redeem(e.ctx, l.Token, in, now)
			if err != nil {
				t.Fatalf("Redeem: %v", err)
			}
			want := guestlink.Guest{ID: in.ID, RoomID: id, LinkID: l.ID, LinkName: "Speakers",
				Name: in.Name, Email: in.Email, Role: tc.role, State: tc.want, RedeemedAt: now, UpdatedAt: now, LastSeen: now, PurgeAt: tc.purgeAt}
			e.redeemed(g, want)
			if r.ID != id || r.Admission != tc.admission || gotL.ID != l.ID || gotL.Clicks != 1 || gotL.MaxClicks != 2 || gotL.Role != tc.role {
				t.Errorf("Redeem returned room %+v, link %+v; want the room and the link after one click", r, gotL)
			}
			if c := e.clicks(l.Token); c != 1 {
				t.Errorf("stored Clicks = %d, want 1", c)
			}
		})
	}
}

func testRedeemRules(t *testing.T, e *env) {
	redeemRules(t, e, linkKind, []redeemRule[guestlink.LinkSpec, guestlink.Link]{
		{name: "open", at: t0},
		{name: "just before expiry", spec: guestlink.LinkSpec{DurationDays: new(1)}, at: t0.Add(24*time.Hour - time.Nanosecond)},
		{name: "expired", spec: guestlink.LinkSpec{DurationDays: new(1)}, at: t0.Add(24 * time.Hour), wantErr: guestlink.ErrLinkExpired},
		{name: "expired long ago", spec: guestlink.LinkSpec{DurationDays: new(365)}, at: t0.AddDate(2, 0, 0), wantErr: guestlink.ErrLinkExpired},
		{name: "not yet open", spec: guestlink.LinkSpec{NotBefore: new(t0.Add(time.Hour))}, at: t0.Add(time.Hour - time.Nanosecond), wantErr: guestlink.ErrLinkNotYetOpen},
		{name: "open at its opening time", spec: guestlink.LinkSpec{NotBefore: new(t0.Add(time.Hour)), DurationDays: new(1)}, at: t0.Add(time.Hour)},
		{
			name: "not yet open and used up by nobody", spec: guestlink.LinkSpec{NotBefore: new(t0.Add(time.Hour)), MaxClicks: new(1)}, at: t0, wantErr: guestlink.ErrLinkNotYetOpen,
			prepare: func(e *env, room string, l guestlink.Link) {
				if _, _, _, err := e.s.Redeem(e.ctx, l.Token, newGuest(guestlink.NewID("g")), t0.Add(time.Minute)); !errors.Is(err, guestlink.ErrLinkNotYetOpen) {
					e.t.Fatalf("an early redemption: %v, want ErrLinkNotYetOpen", err)
				}
			},
		},
		{
			name: "used up", spec: guestlink.LinkSpec{MaxClicks: new(1)}, at: t0, wantErr: guestlink.ErrLinkUsedUp,
			prepare: func(e *env, room string, l guestlink.Link) { e.redeem(l.Token, t0) },
		},
		{name: "room unavailable", room: guestlink.RoomSpec{Available: new(false)}, at: t0, wantErr: guestlink.ErrRoomUnavailable},
		{name: "guest access off", at: t0, wantErr: guestlink.ErrGuestAccessOff, prepare: accessOff[guestlink.Link]},
		{
			name: "room became a gallery", at: t0, wantErr: guestlink.ErrGuestAccessOff,
			prepare: func(e *env, room string, l guestlink.Link) {
				e.putRoom(room, guestlink.RoomSpec{Kind: guestlink.KindGallery}, t0)
			},
		},
		{name: "link deleted", at: t0, wantErr: guestlink.ErrLinkNotFound, prepare: linkKind.deleted},
		{name: "room deleted", at: t0, wantErr: guestlink.ErrLinkNotFound, prepare: roomDeleted[guestlink.Link]},
	})
}

// testRedeemExactlyN is the product rule "a link with max clicks N admits
// exactly N redemptions, never N+1", under 50 concurrent redemptions.
func testRedeemExactlyN(t *testing.T, e *env) { redeemExactlyN(t, e, linkKind) }

// testRedeemAgainstOtherWriters races redemptions with guest access being
// switched: every redemption either succeeds while access is on or is
// refused, and the stored clicks equal the successes and the guests stored.
func testRedeemAgainstOtherWriters(t *testing.T, e *env) {
	e.room("r", guestlink.RoomSpec{})
	l := e.link("r", guestlink.LinkSpec{}, t0)
	var (
		switcher sync.WaitGroup
		stop     = make(chan struct{})
	)
	switcher.Go(func() {
		for on := false; ; on = !on {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := e.s.SetGuestAccess(e.ctx, "r", on, t0); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var (
		mu        sync.Mutex
		ok        int
		redeemers sync.WaitGroup
	)
	for range 8 {
		redeemers.Go(func() {
			for range 25 {
				_, _, _, err := e.s.Redeem(e.ctx, l.Token, newGuest(guestlink.NewID("g")), t0)
				switch {
				case err == nil:
					mu.Lock()
					ok++
					mu.Unlock()
				case !errors.Is(err, guestlink.ErrGuestAccessOff):
					t.Errorf("Redeem: %v", err)
				}
			}
		})
	}
	redeemers.Wait()
	close(stop)
	switcher.Wait()
	if c, n := e.clicks(l.Token), len(e.allGuests("r")); c != ok || n != ok {
		t.Errorf("%d successes, stored Clicks %d, %d guests; want all equal", ok, c, n)
	}
}

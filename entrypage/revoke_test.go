package entrypage_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// TestRevokedInvitationEndsWhatIsOpen protects the promise of revoking an
// invitation (README "Invitations", and the Manage page's confirmation:
// "whoever joined with it is removed from the room"): an invitation is one
// person's credential, and revoking it takes that person out as removing them
// would, open connections included. A stream the invitee holds open through
// the gate ends within a second, and an invitee who got a LiveKit token is
// removed from the LiveKit room, where a moderator invitee holds room admin
// rights that LiveKit itself keeps renewing while they stay connected. A
// shared guest link's deletion keeps leaving open connections alone
// (TestLiveKitRemoval), as docs/DESIGN.md section 1 says.
func TestRevokedInvitationEndsWhatIsOpen(t *testing.T) {
	ctx := context.Background()
	lr := newLKRoom(t, guestlink.RoomSpec{})
	for _, role := range []string{guestlink.RoleModerator, guestlink.RoleSpeaker} {
		t.Run(role, func(t *testing.T) {
			in := guestlink.GuestInput{Name: "Cora " + role, Email: "cora-" + role + "@example.org"}
			v, err := lr.svc.CreateInvitation(ctx, "demo", guestlink.InvitationSpec{Email: in.Email, Name: in.Name, Role: role})
			if err != nil {
				t.Fatal(err)
			}
			_, _, g, err := lr.svc.RedeemInvitation(ctx, v.Token, in)
			if err != nil {
				t.Fatal(err)
			}
			cookie := lr.cookie(t, g)
			if w := lr.post(t, cookie, "", nil); w.Code != http.StatusCreated {
				t.Fatalf("the invitee's LiveKit token: %d %s", w.Code, w.Body)
			}

			// A stream the invitee holds open in the room.
			opened, ended := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(ended)
				r := httptest.NewRequest(http.MethodGet, "http://rooms.example.com/rooms/demo", nil)
				r.Header.Set("Cookie", cookie)
				_ = lr.gw.ServeHTTP(httptest.NewRecorder(), r, func(_ http.ResponseWriter, r *http.Request) error {
					close(opened)
					select {
					case <-r.Context().Done():
					case <-time.After(5 * time.Second):
					}
					return nil
				})
			}()
			<-opened
			start := time.Now()
			if err := lr.svc.DeleteInvitation(ctx, "demo", v.ID); err != nil {
				t.Fatal(err)
			}
			<-ended
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("the invitee's open stream went on for %v after the invitation was revoked, want it to end within a second", took.Round(time.Millisecond))
			}
			select {
			case got := <-lr.removed:
				if got != "demo/"+g.ID {
					t.Errorf("RemoveParticipant %s, want demo/%s", got, g.ID)
				}
			case <-time.After(3 * time.Second):
				t.Errorf("the %s invitee stayed in the LiveKit room after the invitation was revoked", role)
			}
		})
	}
}

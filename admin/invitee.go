package admin

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/token"
)

// Moderator invitees (docs/DESIGN.md section 8): a guest who came in by an
// invitation with the role moderator opens {prefix}/moderate and is sent,
// signed in, to the Manage guest access page of their room. The gateway
// mints the token (MintInviteeToken) with a key that both handlers take from
// their shared store (InviteeKeySecret), so there is nothing to configure;
// guest_admin accepts it (InviteeModerators) for that room only and only
// while the invitee's session holds: removing the invitee, deleting the
// invitation or making the room unavailable ends it, and it expires with the
// session.

// InviteeKeySecret is the name of the store secret that signs invitees'
// moderator tokens; InviteeKeySize is its size in bytes.
const (
	InviteeKeySecret = "invitee-moderator-key"
	InviteeKeySize   = 32
)

// InviteeAudience is the "aud" of an invitee's moderator token: it differs
// from every moderator_audience a room backend's tokens may carry, so a token
// of one kind never passes as the other even under the same key.
const InviteeAudience = "guestgate-invitee"

// InviteeModerators accepts invitees' moderator tokens, as kind moderator
// with the actor "invitee:<guest id>".
type InviteeModerators struct {
	tokens *ModeratorTokens
	svc    *guestlink.Service
}

// NewInviteeModerators returns the authenticator of tokens signed with key,
// checking each invitee's session through svc.
func NewInviteeModerators(key []byte, svc *guestlink.Service) (*InviteeModerators, error) {
	if len(key) < MinModeratorKeyLen {
		return nil, fmt.Errorf("admin: the invitee key must be at least %d bytes", MinModeratorKeyLen)
	}
	t, err := NewModeratorTokens(ModeratorTokenConfig{Keys: []string{string(key)}, Audience: InviteeAudience, RequireAudience: true, Now: svc.Now})
	if err != nil {
		return nil, err
	}
	return &InviteeModerators{tokens: t, svc: svc}, nil
}

// Authenticate accepts a bearer token that verifies as an invitee's, whose
// invitee is still admitted to its one room by that invitation.
func (m *InviteeModerators) Authenticate(r *http.Request) (Credential, bool) {
	tok := bearer(r)
	if tok == "" {
		return Credential{}, false
	}
	c, err := m.tokens.verify(tok, m.tokens.now())
	if err != nil || !guestlink.IsInvitation(c.invitation) || len(c.Rooms) != 1 {
		return Credential{}, false
	}
	state, err := m.svc.Check(r.Context(), c.Rooms[0], c.invitation, c.Sub, m.svc.Now())
	if err != nil || state != guestlink.StateAdmitted {
		return Credential{}, false
	}
	c.Actor = "invitee:" + c.Sub
	return c, true
}

// MintInviteeToken signs the moderator token of invitee guestID (named
// name), who came in by invitation to room, with key at now, valid until
// until (the end of the invitee's session) and at most MaxModeratorTokenLife.
func MintInviteeToken(key []byte, guestID, name, room, invitation string, until, now time.Time) (string, error) {
	switch {
	case len(key) < MinModeratorKeyLen:
		return "", errors.New("admin: the invitee key is too short")
	case !guestlink.IsInvitation(invitation) || !guestlink.ValidRoomID(room) || guestID == "":
		return "", errors.New("admin: an invitee token needs a guest, a room and an invitation")
	case !until.After(now):
		return "", errors.New("admin: the invitee's session has ended")
	}
	exp := min(until.Unix(), now.Add(MaxModeratorTokenLife).Unix())
	c := jwt.MapClaims{
		"sub": guestID, "role": RoleModerator, "aud": InviteeAudience, "room": room, "lid": invitation,
		"iat": now.Unix(), "exp": exp,
	}
	if name != "" {
		c["name"] = name
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	t.Header["typ"] = token.ModeratorType
	return t.SignedString(key)
}

package entrypage

import (
	"bytes"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/teststore"
	"github.com/guestgate/guestgate/token"
)

// TestWarmSignsOnlyAdmittedSessions protects what a token the gateway just
// issued costs: an admitted guest's is cached with its X-Guest-Token, signed
// once, so that the first request through the gate signs nothing; a waiting
// guest's is cached without one, since the gate sends no request of a waiting
// session upstream and upgrades it to a new token first.
func TestWarmSignsOnlyAdmittedSessions(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	svc, _ := teststore.Service(t, now)
	tokens, err := token.New(token.Config{
		Keys: [][]byte{bytes.Repeat([]byte{0x42}, 32)}, Issuer: "guestgate", Audience: token.SessionAudience,
		TTL: 10 * time.Minute, MaxAge: 12 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	identity, err := token.NewIdentity(bytes.Repeat([]byte{0x44}, 32), "guestgate")
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{Service: svc, Tokens: tokens, Identity: identity, CSRFKey: bytes.Repeat([]byte{0x43}, 32), Prefix: "/guest", RoomPath: "/rooms/{room}"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	for _, tc := range []struct {
		state    string
		identity bool
	}{
		{guestlink.StateAdmitted, true},
		{guestlink.StateWaiting, false},
	} {
		raw, signed, err := tokens.Mint(token.Claims{
			RegisteredClaims: jwt.RegisteredClaims{Subject: "g_" + tc.state},
			Room:             "demo", LinkID: "l1", Name: "Ada", Email: "ada@example.com", State: tc.state, AuthTime: now.Unix(),
		}, now)
		if err != nil {
			t.Fatal(err)
		}
		g.warm(raw, signed)
		e := g.cache.get(raw, now)
		if e == nil {
			t.Fatalf("%s: the token is not cached", tc.state)
		}
		if got := e.identity.Load() != nil; got != tc.identity {
			t.Errorf("%s: identity token made: %v, want %v", tc.state, got, tc.identity)
		}
	}
}

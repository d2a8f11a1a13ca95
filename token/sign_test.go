package token

import (
	"bytes"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestSignerIsGolangJWT protects the tokens' bytes: session and identity
// tokens made with the header encoded once must be exactly what
// golang-jwt's Token.SignedString makes for the same header, claims and key
// (Ed25519 signatures are deterministic, so identity tokens compare whole),
// for claims with characters JSON escapes, with and without the optional ones.
func TestSignerIsGolangJWT(t *testing.T) {
	key := bytes.Repeat([]byte{0x42}, 32)
	id, err := NewIdentity(bytes.Repeat([]byte{0x44}, 32), "guestgate")
	if err != nil {
		t.Fatal(err)
	}
	session, err := newSigner(jwt.SigningMethodHS256, key, map[string]any{"typ": SessionType})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for _, c := range []*Claims{
		{
			RegisteredClaims: jwt.RegisteredClaims{Subject: "g_1", Issuer: "guestgate", Audience: jwt.ClaimStrings{SessionAudience},
				IssuedAt: jwt.NewNumericDate(at), NotBefore: jwt.NewNumericDate(at), ExpiresAt: jwt.NewNumericDate(at.Add(10 * time.Minute)), ID: "jti"},
			Room: "demo", LinkID: "l1", Name: "Zoë <b>&\"quoted\"\u2028", Email: "zoe+x@example.com", State: StateAdmitted, Role: "speaker", AuthTime: at.Unix(),
		},
		{RegisteredClaims: jwt.RegisteredClaims{Subject: "g_2"}, Room: "r", LinkID: "l", State: StateWaiting, AuthTime: 1},
	} {
		want := func(method jwt.SigningMethod, claims jwt.Claims, key any, params map[string]any) string {
			tok := jwt.NewWithClaims(method, claims)
			for k, v := range params {
				tok.Header[k] = v
			}
			s, err := tok.SignedString(key)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		if got, err := session.sign(c); err != nil || got != want(jwt.SigningMethodHS256, c, key, map[string]any{"typ": SessionType}) {
			t.Errorf("session token of %+v: %q, %v\nwant %q", c, got, err, want(jwt.SigningMethodHS256, c, key, map[string]any{"typ": SessionType}))
		}
		ic := IdentityClaims{RegisteredClaims: jwt.RegisteredClaims{Subject: c.Subject, ExpiresAt: c.ExpiresAt, ID: c.ID}, Room: c.Room, Name: c.Name, Role: c.Role}
		if got, err := id.signer.sign(ic); err != nil || got != want(jwt.SigningMethodEdDSA, ic, id.key, map[string]any{"kid": id.kid}) {
			t.Errorf("identity token of %+v: %q, %v\nwant %q", ic, got, err, want(jwt.SigningMethodEdDSA, ic, id.key, map[string]any{"kid": id.kid}))
		}
	}
}

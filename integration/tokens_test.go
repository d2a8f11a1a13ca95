package integration

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/internal/testjwt"
	"github.com/guestgate/guestgate/token"
)

// The tokens the tests read and forge: session cookies (re-signed, re-dated,
// under other algorithms and keys) and moderator tokens.

// claimsOf decodes the claims of a JWT (a session cookie, say) without
// verifying it.
func claimsOf(t testing.TB, tok string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, c); err != nil {
		t.Fatalf("the session cookie is not a JWT: %v", err)
	}
	return c
}

// headerOf decodes the JOSE header of a JWT without verifying it.
func headerOf(t testing.TB, tok string) map[string]any {
	t.Helper()
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatalf("the session cookie is not a JWT: %v", err)
	}
	return parsed.Header
}

// signSession signs claims under the header of a session token (typ
// token.SessionType, as the gateway writes it, so that a refusal is about
// what a test changed), with header's parameters added or replacing typ.
func signSession(t testing.TB, m jwt.SigningMethod, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	h := map[string]any{"typ": token.SessionType}
	maps.Copy(h, header)
	return testjwt.Sign(t, m, key, claims, h)
}

// redated returns a copy of a guest's real session claims as the gateway
// would issue them at now: issued a minute ago, valid 8 more minutes, the
// guest redeemed half an hour ago; then changed by edit, if not nil.
func redated(real jwt.MapClaims, now time.Time, edit func(jwt.MapClaims)) jwt.MapClaims {
	c := maps.Clone(real)
	c["iat"], c["nbf"], c["exp"] = now.Unix()-60, now.Unix()-60, now.Unix()+8*60
	c["auth_time"] = now.Unix() - 30*60
	if edit != nil {
		edit(c)
	}
	return c
}

// resign returns tok with its claims changed by edit, signed with key and the
// same JOSE header as tok (so that it is what the gateway itself would sign).
func resign(t testing.TB, tok, key string, edit func(jwt.MapClaims)) string {
	t.Helper()
	c := claimsOf(t, tok)
	edit(c)
	return testjwt.Sign(t, jwt.SigningMethodHS256, []byte(key), c, headerOf(t, tok))
}

// unsignedJWS is a compact JWS of a header and claims as given, with sig as
// its third segment (already base64url), without any library in between: for
// what no library writes ("alg": "None", a signature of another token).
func unsignedJWS(t testing.TB, header map[string]any, claims jwt.MapClaims, sig string) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(c) + "." + sig
}

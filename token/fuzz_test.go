package token

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The fuzz tests' fixed clock and key. Tokens are signed deterministically (a
// fixed jti) so that every fuzz worker process knows the same set of issued
// tokens.
var (
	fuzzNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fuzzKey = bytes.Repeat([]byte{0x5a}, 32)
)

func fuzzIssuer(tb testing.TB, keys ...[]byte) *Issuer {
	tb.Helper()
	i, err := New(Config{Keys: keys, Issuer: "guestgate", Audience: SessionAudience, LegacyAudience: LegacyAudience,
		TTL: 10 * time.Minute, MaxAge: 12 * time.Hour, Leeway: 5 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	return i
}

// fuzzIssued returns tokens exactly as Issue makes them at fuzzNow with key, but
// with a fixed jti, and the same claims in the legacy form (aud "guestgate", typ
// "JWT", as Issue made them before explicit typing; the package doc): the tokens
// that Verify may accept.
func fuzzIssued(tb testing.TB, key []byte) []string {
	tb.Helper()
	var out []string
	for n, c := range []Claims{
		{Room: "demo", LinkID: "l_abcdefghijklmnop", Name: "Ada", Email: "ada@example.com", State: StateAdmitted},
		{Room: "other", LinkID: "l_qrstuvwxyz234567", Name: "Zoë <b>", Email: "z@example.com", State: StateWaiting},
		{Room: "a.b-c_D", LinkID: "l_aaaaaaaaaaaaaaaa", Name: "", Email: "", State: StateAdmitted},
	} {
		c.Subject = "g_abcdefghijklmno" + string(rune('a'+n))
		c.AuthTime = fuzzNow.Add(-time.Duration(n+1) * time.Hour).Unix()
		c.Issuer = "guestgate"
		c.IssuedAt = jwt.NewNumericDate(fuzzNow.Add(-time.Minute))
		c.NotBefore = c.IssuedAt
		c.ExpiresAt = jwt.NewNumericDate(fuzzNow.Add(9 * time.Minute))
		c.ID = base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{byte(n)}, 16))
		c.Audience = jwt.ClaimStrings{SessionAudience}
		typed := jwt.NewWithClaims(jwt.SigningMethodHS256, &c)
		typed.Header["typ"] = SessionType
		tok, err := typed.SignedString(key)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, tok)
		legacy := c
		legacy.Audience = jwt.ClaimStrings{LegacyAudience}
		tok, err = jwt.NewWithClaims(jwt.SigningMethodHS256, &legacy).SignedString(key)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, tok)
	}
	return out
}

// fuzzMutations are hostile variants of a token: another alg, extra header
// parameters, flipped characters, segments added or dropped.
func fuzzMutations(tok string) []string {
	parts := strings.Split(tok, ".")
	enc := base64.RawURLEncoding.EncodeToString
	header := func(h string) string { return enc([]byte(h)) + "." + parts[1] + "." + parts[2] }
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	return []string{
		header(`{"alg":"none","typ":"JWT"}`),
		enc([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".",
		header(`{"alg":"NONE"}`),
		header(`{"alg":"HS512","typ":"JWT"}`),
		header(`{"alg":"RS256","typ":"JWT"}`),
		header(`{"alg":"HS256","typ":"JWT","kid":"1"}`),
		header(`{"alg":"HS256","jku":"https://evil.example/k"}`),
		header(`{"alg":"HS256","typ":"JWT","alg":"none"}`),
		header(`{"alg":"HS256","typ":"` + SessionType + `"}`),
		header(`{"alg":"HS256","typ":"JWT"}`),
		header(`{"alg":"HS256"}`),
		header(`{"alg":"HS256","typ":"` + ModeratorType + `"}`),
		header(`{"alg":"HS256","typ":"at+jwt"}`),
		header(`{"alg":"HS256","typ":1}`),
		header(`{"alg":"HS256","typ":null}`),
		flip(tok, 5),
		flip(tok, len(parts[0])+3),
		flip(tok, len(tok)-1),
		tok[:len(tok)-1],
		tok + "A",
		tok + ".",
		tok + "." + parts[2],
		parts[0] + "." + parts[1],
		parts[0] + "." + parts[1] + "." + parts[2] + "=",
		parts[0] + ".\n" + parts[1] + "." + parts[2],
		strings.ToUpper(tok),
	}
}

// FuzzVerify: Verify never panics, refuses everything with an error that wraps
// ErrInvalid and does not quote the token, and never accepts a token that was
// not issued with the key: the only tokens it may accept are the ones
// fuzzIssued signed.
func FuzzVerify(f *testing.F) {
	iss := fuzzIssuer(f, fuzzKey)
	issued := map[string]bool{}
	for _, tok := range fuzzIssued(f, fuzzKey) {
		if _, err := iss.Verify(tok, fuzzNow); err != nil {
			f.Fatalf("an issued token does not verify: %v", err)
		}
		issued[tok] = true
		f.Add(tok)
		for _, m := range fuzzMutations(tok) {
			f.Add(m)
		}
	}
	// Signed with another key, and with the key but claims Issue never makes.
	for _, tok := range fuzzIssued(f, bytes.Repeat([]byte{0x11}, 32)) {
		f.Add(tok)
	}
	for _, tok := range []string{"", ".", "..", "...", strings.Repeat(".", 1<<20), strings.Repeat("A", MaxTokenLen+1), "a.b.c", "e30.e30.", "e30.e30.e30"} {
		f.Add(tok)
	}

	// The only error messages Verify may give: ErrInvalid and a fixed reason.
	messages := map[string]bool{}
	for _, r := range append([]error{errTooLong, errHeaderParam, errType, errAlgorithm, errAudience, errMissingIat, errMissingSub,
		errMissingRoom, errMissingLinkID, errMissingAuth, errState, errLifetime, errPastSessionMax, errAuthFuture}, jwtReasons...) {
		messages[refuse(r).Error()] = true
	}

	f.Fuzz(func(t *testing.T, tok string) {
		c, err := iss.Verify(tok, fuzzNow)
		if err == nil {
			if c == nil {
				t.Fatal("Verify returned no claims and no error")
			}
			if !issued[tok] {
				t.Fatalf("Verify accepted a token that was not issued with the key: %q (claims %+v)", tok, c)
			}
			return
		}
		if c != nil {
			t.Fatalf("Verify returned claims with an error: %v", err)
		}
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("Verify's error %v does not wrap ErrInvalid", err)
		}
		if !messages[err.Error()] {
			t.Fatalf("Verify's error %q is not one of its fixed reasons (it may quote the token)", err)
		}
	})
}

// Package testjwt signs the JWTs that tests send to guestgate's verifiers:
// tokens under a header and an algorithm of the test's choosing, tokens signed
// byte for byte as written, tokens under the public-key algorithms an HMAC
// verifier must refuse, and the moderator token of README.md's example.
package testjwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Sign signs claims with method m and key. header values replace golang-jwt's
// header parameters (alg, and typ "JWT"); a nil value removes the parameter.
func Sign(tb testing.TB, m jwt.SigningMethod, key any, claims jwt.MapClaims, header map[string]any) string {
	tb.Helper()
	tok := jwt.NewWithClaims(m, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		tb.Fatalf("signing a %s token: %v", m.Alg(), err)
	}
	return s
}

// RawHS256 signs a JOSE header and a payload given as JSON text, byte for byte
// as given, with HS256 and key: for what golang-jwt would not write (typ null
// or a number, an aud of a wrong JSON type).
func RawHS256(key []byte, header, payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	signing := enc([]byte(header)) + "." + enc([]byte(payload))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signing))
	return signing + "." + enc(m.Sum(nil))
}

// Algorithm is a signing method with a private key to sign with.
type Algorithm struct {
	Method jwt.SigningMethod
	Key    any
}

// PublicKey returns the public-key algorithms golang-jwt signs with (RS256,
// PS256, ES256 and EdDSA), each with a fresh key. A token signed under any of
// them carries a valid signature: only a verifier pinned to HS256 refuses it.
func PublicKey(tb testing.TB) []Algorithm {
	tb.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return []Algorithm{
		{jwt.SigningMethodRS256, rsaKey},
		{jwt.SigningMethodPS256, rsaKey},
		{jwt.SigningMethodES256, ecKey},
		{jwt.SigningMethodEdDSA, edKey},
	}
}

// ReadmeModeratorClaims are the claims README.md's example sets for a
// moderator of room "demo" at now; TestReadmeExample checks that the README
// still sets these.
func ReadmeModeratorClaims(now time.Time) jwt.MapClaims {
	user := struct{ ID, DisplayName string }{"u-42", "Ada Moderator"}
	return jwt.MapClaims{
		"sub":  user.ID,
		"name": user.DisplayName,
		"room": "demo",
		"role": "moderator",
		"aud":  "guestgate",
		"iat":  now.Unix(),
		"exp":  now.Add(time.Hour).Unix(),
	}
}

// ReadmeModeratorToken mints exactly what README.md's example mints at now
// (ReadmeModeratorClaims, golang-jwt's default header, HS256) with key as
// GUESTGATE_MODERATOR_KEY.
func ReadmeModeratorToken(tb testing.TB, key []byte, now time.Time) string {
	tb.Helper()
	return Sign(tb, jwt.SigningMethodHS256, key, ReadmeModeratorClaims(now), nil)
}

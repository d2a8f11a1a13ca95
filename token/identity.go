package token

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// IdentityAudience is the "aud" of identity tokens: the room backend.
const IdentityAudience = "guestgate-upstream"

// IdentityClaims are the claims of the identity token sent upstream in
// X-Guest-Token: who the guest is, signed so that a backend can verify it
// instead of trusting the network.
type IdentityClaims struct {
	jwt.RegisteredClaims
	Room   string `json:"room"`
	LinkID string `json:"lid"`
	Name   string `json:"name"`
	Email  string `json:"email"`
	// Role is the guest's role: viewer, speaker or moderator.
	Role string `json:"role,omitempty"`
}

// Identity signs identity tokens with Ed25519 (EdDSA) and publishes the public
// key as a JWKS. Signing costs tens of microseconds, so callers make one token
// per session token and reuse it (the gate keeps it beside the verified cookie).
type Identity struct {
	key    ed25519.PrivateKey
	kid    string
	issuer string
	jwks   []byte
	signer *signer
}

// NewIdentity returns a signer for the Ed25519 private key made from seed (32
// bytes), with issuer as "iss".
func NewIdentity(seed []byte, issuer string) (*Identity, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, errors.New("token: an identity key seed must be 32 bytes")
	}
	key := ed25519.NewKeyFromSeed(seed)
	pub := key.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	id := &Identity{key: key, kid: base64.RawURLEncoding.EncodeToString(sum[:8]), issuer: issuer}
	jwks, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": id.kid,
		"x": base64.RawURLEncoding.EncodeToString(pub),
	}}})
	if err != nil {
		return nil, err
	}
	id.jwks = jwks
	if id.signer, err = newSigner(jwt.SigningMethodEdDSA, key, map[string]any{"kid": id.kid}); err != nil {
		return nil, err
	}
	return id, nil
}

// DecodeSeed decodes an identity key seed written as base64, in the standard
// or the URL alphabet, padded or not, as 'openssl rand -base64 32' writes it;
// it must hold 32 bytes.
func DecodeSeed(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if seed, err := enc.DecodeString(s); err == nil && len(seed) == ed25519.SeedSize {
			return seed, nil
		}
	}
	return nil, errors.New("must be the base64 of 32 bytes (an Ed25519 seed), e.g. from 'openssl rand -base64 32'")
}

// JWKS is the JSON Web Key Set with the public key (RFC 7517, RFC 8037).
func (id *Identity) JWKS() []byte { return id.jwks }

// PublicKey is the key identity tokens verify with.
func (id *Identity) PublicKey() ed25519.PublicKey { return id.key.Public().(ed25519.PublicKey) }

// Token returns the identity token for the guest session c at now: sub, room,
// lid, name, email, iss, aud IdentityAudience, iat, exp = c's exp, jti = c's jti,
// and the header's kid naming the key. Ed25519 is deterministic: the same claims
// give the same token.
func (id *Identity) Token(c *Claims, now time.Time) (string, error) {
	var exp time.Time
	if c.ExpiresAt != nil {
		exp = c.ExpiresAt.Time
	}
	ic := IdentityClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: id.issuer, Subject: c.Subject, Audience: jwt.ClaimStrings{IdentityAudience},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp), ID: c.ID,
		},
		Room: c.Room, LinkID: c.LinkID, Name: c.Name, Email: c.Email, Role: c.Role,
	}
	return id.signer.sign(ic)
}

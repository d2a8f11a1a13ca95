package token

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestIdentityToken(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, 32)
	id, err := NewIdentity(seed, "guestgate")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	c := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "g_1", ID: "jti-1", ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute))},
		Room:             "demo", LinkID: "l_1", Name: "Zoë", Email: "zoe@example.com",
	}
	tok, err := id.Token(c, now)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := id.Token(c, now); again != tok {
		t.Error("the same claims gave another token")
	}

	// A backend verifies it with the JWKS's key, EdDSA pinned.
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(id.JWKS(), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s: %v", id.JWKS(), err)
	}
	k := set.Keys[0]
	x, _ := base64.RawURLEncoding.DecodeString(k["x"])
	if k["kty"] != "OKP" || k["crv"] != "Ed25519" || !bytes.Equal(x, id.PublicKey()) {
		t.Fatalf("JWK %v", k)
	}
	var got IdentityClaims
	parsed, err := jwt.ParseWithClaims(tok, &got, func(*jwt.Token) (any, error) {
		return ed25519.PublicKey(x), nil
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithAudience(IdentityAudience), jwt.WithIssuer("guestgate"),
		jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithExpirationRequired())
	if err != nil || !parsed.Valid || parsed.Header["kid"] != k["kid"] {
		t.Fatalf("verify: %v (kid %v, JWKS kid %v)", err, parsed.Header["kid"], k["kid"])
	}
	if got.Subject != "g_1" || got.Room != "demo" || got.LinkID != "l_1" || got.Name != "Zoë" || got.Email != "zoe@example.com" || got.ExpiresAt.Time != c.ExpiresAt.Time {
		t.Fatalf("claims %+v", got)
	}

	// Another key's token does not verify with this JWKS.
	other, _ := NewIdentity(bytes.Repeat([]byte{8}, 32), "guestgate")
	otok, _ := other.Token(c, now)
	if _, err := jwt.Parse(otok, func(*jwt.Token) (any, error) { return ed25519.PublicKey(x), nil }, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithTimeFunc(func() time.Time { return now })); err == nil {
		t.Fatal("a token of another key verified")
	}
	if _, err := NewIdentity([]byte("short"), "x"); err == nil {
		t.Fatal("short seed accepted")
	}
}

// TestDecodeSeed protects identity_key: a seed is accepted in every base64
// form an operator may paste (standard or URL alphabet, padded or not), and
// anything that is not 32 bytes of base64 is refused.
func TestDecodeSeed(t *testing.T) {
	seed := []byte("\xfb\xff" + strings.Repeat("k", 30)) // + and / in standard base64
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if got, err := DecodeSeed(enc.EncodeToString(seed)); err != nil || !bytes.Equal(got, seed) {
			t.Errorf("DecodeSeed(%s) = %x, %v", enc.EncodeToString(seed), got, err)
		}
	}
	for _, bad := range []string{"", "not base64", base64.StdEncoding.EncodeToString(seed[:31]), base64.StdEncoding.EncodeToString(append(seed, 0))} {
		if _, err := DecodeSeed(bad); err == nil {
			t.Errorf("DecodeSeed(%q) accepted", bad)
		}
	}
}

func BenchmarkIdentityToken(b *testing.B) {
	id, _ := NewIdentity(bytes.Repeat([]byte{7}, 32), "guestgate")
	now := time.Now()
	c := &Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "g_1", ID: "jti", ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}, Room: "r"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := id.Token(c, now); err != nil {
			b.Fatal(err)
		}
	}
}

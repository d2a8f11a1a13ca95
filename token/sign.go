package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"maps"

	"github.com/golang-jwt/jwt/v5"
)

// signer makes signed JWTs (JWS compact serialization, RFC 7515) as
// golang-jwt's Token.SignedString makes them, byte for byte, with the JOSE
// header encoded once instead of for every token and the token assembled in
// one buffer. The header, a map that encoding/json encodes with reflection
// and sorted keys, and the strings joined along the way were a third of
// what making a session token cost besides its signature, and most of its
// allocations. The signature is still the method's own (HS256, EdDSA).
type signer struct {
	method jwt.SigningMethod
	key    any
	// header is the base64url of the JOSE header's JSON, then ".".
	header []byte
}

// newSigner returns a signer with method and key whose header has the
// parameters golang-jwt's jwt.New gives ("alg", "typ" JWT) and then those of
// params.
func newSigner(method jwt.SigningMethod, key any, params map[string]any) (*signer, error) {
	t := jwt.New(method)
	maps.Copy(t.Header, params)
	h, err := json.Marshal(t.Header)
	if err != nil {
		return nil, err
	}
	return &signer{method: method, key: key, header: append(base64.RawURLEncoding.AppendEncode(nil, h), '.')}, nil
}

// sign returns the signed JWT of claims.
func (s *signer) sign(claims jwt.Claims) (string, error) {
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	tok := make([]byte, 0, len(s.header)+enc.EncodedLen(len(c))+1+enc.EncodedLen(ed25519.SignatureSize))
	tok = append(tok, s.header...)
	tok = enc.AppendEncode(tok, c)
	sig, err := s.method.Sign(string(tok), s.key)
	if err != nil {
		return "", err
	}
	tok = append(tok, '.')
	return string(enc.AppendEncode(tok, sig)), nil
}

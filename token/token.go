// Package token issues and verifies guest session tokens: the JWTs of docs/DESIGN.md
// section 2 that the gateway keeps in its session cookie. Tokens are HS256 (pinned)
// with golang-jwt v5, short-lived (token_ttl) and renewed while the guest is active,
// never beyond session_max from the redemption. The package knows nothing of HTTP or
// Caddy; the clock is always passed in.
//
// Session tokens are explicitly typed (RFC 8725, section 3.11): the JOSE header's
// "typ" is SessionType and "aud" is SessionAudience, an audience of their own, so
// that no other JWT signed with the same secret (a moderator token, say, when an
// operator reuses one secret for signing_key and moderator_key) passes as a session
// token, and a session token passes as nothing else. jose.go holds the constants
// and the helpers every verifier of guestgate uses for "typ" and "aud".
//
// The transition: tokens issued before explicit typing have "aud" exactly
// ["guestgate"] (LegacyAudience) and "typ" "JWT" or none. While
// Config.LegacyAudience names that audience, Verify accepts them, so an upgrade does
// not throw guests out (a link with a click limit could not be redeemed again), and
// NeedsRenewal reports them at once, so the gateway re-issues them in the new form on
// the guest's next request. Nothing issues the old form any more, so none is left
// after token_ttl; a later release drops Config.LegacyAudience.
package token

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenLen is the longest token Verify accepts, in bytes; longer input is refused
// before any decoding (a cookie cannot hold much more anyway).
const MaxTokenLen = 4096

// MinKeyLen is the shortest signing key New accepts, in bytes (256 bits, the HS256
// output size).
const MinKeyLen = 32

// Session states a token may carry in "st". Declined, removed or departed guests
// never get a token.
const (
	StateWaiting  = "waiting"
	StateAdmitted = "admitted"
)

var (
	// ErrInvalid: the token is not a valid session token of this issuer at that time.
	// Every error of Verify wraps it; the message names the reason, never the token.
	ErrInvalid = errors.New("invalid session token")
	// ErrSessionOver: the session has reached session_max (MaxAge) since the
	// redemption; the guest must redeem a link again.
	ErrSessionOver = errors.New("guest session reached its maximum age")
)

// Reasons for refusing a token that golang-jwt does not name itself. They are wrapped
// together with ErrInvalid.
var (
	errTooLong        = errors.New("token too long")
	errHeaderParam    = errors.New("header parameter not allowed")
	errAlgorithm      = errors.New("algorithm not allowed")
	errAudience       = errors.New("audience is not exactly this gateway")
	errType           = errors.New("typ header does not name a session token")
	errMissingIat     = errors.New("iat claim is required")
	errMissingSub     = errors.New("sub claim is required")
	errMissingRoom    = errors.New("room claim is required")
	errMissingLinkID  = errors.New("lid claim is required")
	errMissingAuth    = errors.New("auth_time claim is required")
	errState          = errors.New("st claim must be waiting or admitted")
	errLifetime       = errors.New("exp is further after iat than the token lifetime")
	errPastSessionMax = errors.New("exp is after the end of the session")
	errAuthFuture     = errors.New("auth_time is after iat")
)

// jwtReasons are the golang-jwt sentinels Verify reports, most specific first. Only
// the sentinel is wrapped, never golang-jwt's detailed message, which may quote
// parts of the token (the alg, a JSON syntax error).
var jwtReasons = []error{
	jwt.ErrTokenMalformed,
	jwt.ErrTokenSignatureInvalid,
	jwt.ErrTokenExpired,
	jwt.ErrTokenNotValidYet,
	jwt.ErrTokenUsedBeforeIssued,
	jwt.ErrTokenInvalidIssuer,
	jwt.ErrTokenInvalidAudience,
	jwt.ErrTokenRequiredClaimMissing,
	jwt.ErrInvalidType,
	jwt.ErrTokenUnverifiable,
	jwt.ErrTokenInvalidClaims,
}

// Claims of a guest session (docs/DESIGN.md section 2): iss, aud, sub (guest id),
// room, lid (link id), name, email, st (waiting|admitted), iat, nbf, exp, jti, plus
// auth_time (unix seconds of the redemption, the OIDC claim name; bounds renewal by
// session_max).
type Claims struct {
	jwt.RegisteredClaims
	Room   string `json:"room"`
	LinkID string `json:"lid"`
	Name   string `json:"name"`
	Email  string `json:"email"`
	State  string `json:"st"`
	// Role is the guest's role (viewer, speaker or moderator); "" in sessions
	// made before roles, which are viewers.
	Role     string `json:"role,omitempty"`
	AuthTime int64  `json:"auth_time"`

	// legacy: Verify accepted the token in the form from before explicit typing
	// (LegacyAudience); NeedsRenewal then asks for a new token at once.
	legacy bool
}

// Config sets up an Issuer.
type Config struct {
	// Keys are the HS256 keys, newest first; each at least MinKeyLen bytes. Tokens
	// are signed with Keys[0]; a token signed with any of them verifies, so a key can
	// be rotated without ending sessions.
	Keys [][]byte
	// Issuer is the "iss" claim; required.
	Issuer string
	// Audience is the "aud" claim of the tokens Issue signs, and the only one
	// Verify accepts with "typ" SessionType; required. guestgate uses
	// SessionAudience.
	Audience string
	// LegacyAudience, when not empty, makes Verify also accept tokens of the form
	// from before explicit typing: "aud" exactly this and "typ" "JWT" or absent
	// (see the package doc). Issue never signs that form. guestgate passes
	// LegacyAudience for one release; empty: only the typed form is accepted. It
	// must differ from Audience.
	LegacyAudience string
	// TTL is a token's lifetime (token_ttl, e.g. 10m); required > 0.
	TTL time.Duration
	// MaxAge is session_max: no token expires later than auth_time + MaxAge;
	// required > 0.
	MaxAge time.Duration
	// Leeway is the clock skew allowed on exp, nbf and iat (e.g. 5s); >= 0.
	Leeway time.Duration
}

// Issuer issues and verifies session tokens with HS256 (pinned). It is immutable
// and safe for concurrent use.
type Issuer struct {
	// signer signs with the first key.
	signer    *signer
	verify    jwt.VerificationKeySet
	iss, aud  string
	legacyAud string
	ttl       time.Duration
	maxAge    time.Duration
	leeway    time.Duration
	methods   []string
}

// New checks c and returns an Issuer. The keys are copied.
func New(c Config) (*Issuer, error) {
	switch {
	case len(c.Keys) == 0:
		return nil, errors.New("token: at least one signing key is required")
	case c.Issuer == "":
		return nil, errors.New("token: issuer is required")
	case c.Audience == "":
		return nil, errors.New("token: audience is required")
	case c.LegacyAudience == c.Audience:
		return nil, errors.New("token: the legacy audience must differ from the audience")
	case c.TTL <= 0:
		return nil, fmt.Errorf("token: token lifetime must be positive, got %v", c.TTL)
	case c.MaxAge <= 0:
		return nil, fmt.Errorf("token: maximum session age must be positive, got %v", c.MaxAge)
	case c.Leeway < 0:
		return nil, fmt.Errorf("token: leeway must not be negative, got %v", c.Leeway)
	}
	i := &Issuer{
		iss:       c.Issuer,
		aud:       c.Audience,
		legacyAud: c.LegacyAudience,
		ttl:       c.TTL,
		maxAge:    c.MaxAge,
		leeway:    c.Leeway,
		methods:   []string{jwt.SigningMethodHS256.Alg()},
	}
	for n, k := range c.Keys {
		if len(k) < MinKeyLen {
			return nil, fmt.Errorf("token: key %d is %d bytes, at least %d (256 bits) are required", n, len(k), MinKeyLen)
		}
		i.verify.Keys = append(i.verify.Keys, append([]byte(nil), k...))
	}
	var err error
	if i.signer, err = newSigner(jwt.SigningMethodHS256, i.verify.Keys[0], map[string]any{"typ": SessionType}); err != nil {
		return nil, err
	}
	return i, nil
}

// sessionEnd is when the session redeemed at c.AuthTime ends: auth_time + MaxAge.
// SessionEnd is when the session of c ends for good: AuthTime + MaxAge.
func (i *Issuer) SessionEnd(c *Claims) time.Time { return i.sessionEnd(c) }

func (i *Issuer) sessionEnd(c *Claims) time.Time {
	return time.Unix(c.AuthTime, 0).Add(i.maxAge)
}

// Issue signs c at now. The caller sets Subject (guest id), Room, LinkID, Name,
// Email, State (StateWaiting or StateAdmitted) and AuthTime (unix seconds of the
// redemption); Issue sets the header's typ to SessionType and fills iss, aud
// (Config.Audience alone), iat = nbf = now (whole seconds),
// exp = min(now + TTL, AuthTime + MaxAge) and a fresh jti (128 random bits,
// base64url), overwriting what c held there. It returns the compact token and its
// expiry. At or after AuthTime + MaxAge it returns ErrSessionOver.
func (i *Issuer) Issue(c Claims, now time.Time) (tok string, exp time.Time, err error) {
	tok, claims, err := i.Mint(c, now)
	if err != nil {
		return "", time.Time{}, err
	}
	return tok, claims.ExpiresAt.Time, nil
}

// Mint is Issue returning the claims it signed, as Verify would return them
// for the token: a caller that keeps them need not verify what it just made.
func (i *Issuer) Mint(c Claims, now time.Time) (tok string, signed *Claims, err error) {
	switch {
	case c.Subject == "":
		return "", nil, errors.New("token: issue: subject (guest id) is required")
	case c.Room == "":
		return "", nil, errors.New("token: issue: room is required")
	case c.LinkID == "":
		return "", nil, errors.New("token: issue: link id is required")
	case c.State != StateWaiting && c.State != StateAdmitted:
		return "", nil, fmt.Errorf("token: issue: state must be %q or %q", StateWaiting, StateAdmitted)
	case c.AuthTime <= 0:
		return "", nil, errors.New("token: issue: auth_time is required")
	}
	// Whole seconds, as the token carries them, so that exp - iat never exceeds TTL.
	iat := now.Truncate(time.Second)
	if iat.Before(time.Unix(c.AuthTime, 0).Add(-i.leeway)) {
		return "", nil, errors.New("token: issue: auth_time is in the future")
	}
	end := i.sessionEnd(&c)
	if !now.Before(end) {
		return "", nil, ErrSessionOver
	}
	exp := iat.Add(i.ttl)
	if end.Before(exp) {
		exp = end
	}
	exp = exp.Truncate(time.Second).UTC()

	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", nil, fmt.Errorf("token: issue: %w", err)
	}
	c.Issuer = i.iss
	c.Audience = jwt.ClaimStrings{i.aud}
	c.IssuedAt = jwt.NewNumericDate(iat)
	c.NotBefore = jwt.NewNumericDate(iat)
	c.ExpiresAt = jwt.NewNumericDate(exp)
	c.ID = base64.RawURLEncoding.EncodeToString(jti[:])

	tok, err = i.signer.sign(&c)
	if err != nil {
		return "", nil, fmt.Errorf("token: issue: %w", err)
	}
	return tok, &c, nil
}

// keyFunc refuses every header but alg and typ (no kid, jku, x5u, jwk, x5c, crit:
// the key is never chosen by the token), a typ of no accepted form, and anything
// but HS256, then offers the whole key set.
func (i *Issuer) keyFunc(t *jwt.Token) (any, error) {
	for name := range t.Header {
		if name != "alg" && name != "typ" {
			return nil, errHeaderParam
		}
	}
	if _, err := i.form(t.Header); err != nil {
		return nil, err
	}
	if t.Method != jwt.SigningMethodHS256 {
		return nil, errAlgorithm
	}
	return i.verify, nil
}

// form tells from the header's typ which form a token claims to be: the typed one
// (typ SessionType, in any case, with or without "application/"), or, while
// LegacyAudience is set, the legacy one (typ "JWT" or none). Any other typ, or one
// that is not a string, is errType.
func (i *Issuer) form(header map[string]any) (legacy bool, err error) {
	typ, present, err := HeaderType(header)
	switch {
	case err != nil:
		return false, errType
	case present && TypeIs(typ, SessionType):
		return false, nil
	case i.legacyAud != "" && (!present || TypeIs(typ, "JWT")):
		return true, nil
	}
	return false, errType
}

// Verify parses and verifies tok at now and returns its claims. It refuses tokens
// longer than MaxTokenLen or with characters outside base64url and '.' before
// parsing; pins HS256; refuses any header parameter but alg and typ (so kid, jku,
// x5u, jwk, x5c); requires typ SessionType and aud exactly [Config.Audience], or,
// while Config.LegacyAudience is set, typ "JWT" or none and aud exactly
// [Config.LegacyAudience] (such claims report NeedsRenewal at once); requires exp
// and iat; checks iss exactly; checks exp, nbf and iat with the leeway; requires
// sub, room, lid, auth_time, and st in {waiting, admitted}; and refuses a token
// whose exp is more than TTL + leeway after its iat or after auth_time + MaxAge,
// which this Issuer never signs. Every error wraps ErrInvalid and says why, never
// quoting the token.
func (i *Issuer) Verify(tok string, now time.Time) (*Claims, error) {
	if len(tok) > MaxTokenLen {
		return nil, refuse(errTooLong)
	}
	// Only base64url and the two dots: Go's base64 decoder skips CR and LF, which
	// would let one token have many spellings.
	for n := 0; n < len(tok); n++ {
		if c := tok[n]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return nil, refuse(jwt.ErrTokenMalformed)
		}
	}
	p := jwt.NewParser(
		jwt.WithValidMethods(i.methods),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithLeeway(i.leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(i.iss),
		jwt.WithStrictDecoding(),
	)
	c := new(Claims)
	t, err := p.ParseWithClaims(tok, c, i.keyFunc)
	if err != nil {
		return nil, refuse(reason(err))
	}
	// keyFunc has refused every other typ already.
	if c.legacy, err = i.form(t.Header); err != nil {
		return nil, refuse(err)
	}
	if err := i.check(c); err != nil {
		return nil, refuse(err)
	}
	return c, nil
}

// check holds the rules golang-jwt's validator does not know.
func (i *Issuer) check(c *Claims) error {
	aud := i.aud
	if c.legacy {
		aud = i.legacyAud
	}
	switch {
	case len(c.Audience) != 1 || c.Audience[0] != aud:
		return errAudience
	case c.IssuedAt == nil:
		return errMissingIat
	case c.Subject == "":
		return errMissingSub
	case c.Room == "":
		return errMissingRoom
	case c.LinkID == "":
		return errMissingLinkID
	case c.State != StateWaiting && c.State != StateAdmitted:
		return errState
	case c.AuthTime <= 0:
		return errMissingAuth
	case c.ExpiresAt.Sub(c.IssuedAt.Time) > i.ttl+i.leeway:
		return errLifetime
	case c.ExpiresAt.After(i.sessionEnd(c)):
		return errPastSessionMax
	case time.Unix(c.AuthTime, 0).After(c.IssuedAt.Add(i.leeway)):
		return errAuthFuture
	}
	return nil
}

// reason picks the sentinel that says why golang-jwt refused a token.
func reason(err error) error {
	for _, r := range []error{errHeaderParam, errType, errAlgorithm} {
		if errors.Is(err, r) {
			return r
		}
	}
	for _, r := range jwtReasons {
		if errors.Is(err, r) {
			return r
		}
	}
	return jwt.ErrTokenMalformed
}

func refuse(why error) error {
	return fmt.Errorf("%w: %w", ErrInvalid, why)
}

// NeedsRenewal reports whether c should be re-issued at now: the session has not
// reached MaxAge, and either c came from a token of the legacy form (renewed at
// once into the typed form, see the package doc), or it has less than half its TTL
// left and a new token would end later than c does (c does not already expire at
// auth_time + MaxAge).
func (i *Issuer) NeedsRenewal(c *Claims, now time.Time) bool {
	if c == nil || c.ExpiresAt == nil {
		return false
	}
	end := i.sessionEnd(c)
	if !now.Before(end) {
		return false
	}
	return c.legacy || c.ExpiresAt.Sub(now) < i.ttl/2 && c.ExpiresAt.Before(end)
}

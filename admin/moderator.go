package admin

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/token"
)

// Moderator tokens (docs/DESIGN.md section 3): a JWT that the room backend signs
// with moderator_key and hands to a moderator or host, so that they manage guest
// access of their own rooms without an API key. HS256 only; exp is required and at
// most MaxModeratorTokenLife ahead; claims sub, name, room or rooms, role.
//
// Audience and type (RFC 8725 sections 2.8 and 3.9-3.11): one key may
// sign tokens for several services, or several kinds of token, so a token must
// also say that it is a moderator token for guestgate. Its "aud", when present,
// must contain moderator_audience (default token.DefaultModeratorAudience); an
// "aud" of [] is present and names nobody, so it is refused; one of another JSON
// type makes the token malformed. Without "aud" a token is accepted, as before,
// unless require_audience is set. The header's "typ", when present, must be "JWT"
// or token.ModeratorType (the type of the moderator tokens guestgate mints
// itself), compared with token.TypeIs; anything else (a session token's typ, an
// OAuth access token's "at+jwt") is refused.

const (
	// MinModeratorKeyLen is the shortest moderator_key, in bytes (256 bits, the
	// HS256 output size).
	MinModeratorKeyLen = 32
	// MaxModeratorTokenLife is how far ahead of now a moderator token's exp may
	// be: a token is a bearer credential handed to a browser, so it must be
	// short-lived; the room backend mints a fresh one whenever the page is opened.
	MaxModeratorTokenLife = 24 * time.Hour
	// moderatorLeeway absorbs clock skew between the room backend and guestgate
	// for exp, nbf and iat.
	moderatorLeeway = 30 * time.Second
	// maxModeratorTokenLen bounds the bearer credential before any decoding.
	maxModeratorTokenLen = 8192
	// maxModeratorRooms bounds the rooms of one token.
	maxModeratorRooms = 100
	// maxClaimLen bounds sub and name, in characters.
	maxClaimLen = 200
)

// Moderator roles. Both may do the same things today; the role is shown on the
// page and kept for audit.
const (
	RoleModerator = "moderator"
	RoleHost      = "host"
)

// ModeratorClaims are the claims of a moderator token. Room and Rooms both accept
// a string or an array of strings; the token's rooms are their union.
type ModeratorClaims struct {
	Name  string           `json:"name,omitempty"`
	Room  jwt.ClaimStrings `json:"room,omitempty"`
	Rooms jwt.ClaimStrings `json:"rooms,omitempty"`
	Role  string           `json:"role"`
	// Invitation is the invitation of an invitee's token ("lid"); empty in
	// a room backend's tokens.
	Invitation string `json:"lid,omitempty"`
	// Audience is "aud", decoded strictly so that a missing claim and an empty
	// array stay apart; it takes the place of RegisteredClaims.Audience.
	Audience token.Audience `json:"aud,omitzero"`
	jwt.RegisteredClaims
}

// GetAudience returns the strictly decoded "aud" (jwt.Claims).
func (c ModeratorClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings(c.Audience.Values), nil
}

var (
	errModeratorLifetime = errors.New("exp is more than 24h ahead")
	errModeratorSub      = errors.New("sub claim is required (at most 200 characters)")
	errModeratorName     = errors.New("name claim is too long")
	errModeratorRole     = errors.New("role claim must be moderator or host")
	errModeratorRooms    = errors.New("room or rooms claim must hold 1 to 100 valid room ids")
	errModeratorType     = errors.New("typ header must be JWT or " + token.ModeratorType)
	errModeratorAudience = errors.New("aud claim does not contain the moderator audience")
	errModeratorNoAud    = errors.New("aud claim is required")
)

// ModeratorTokenConfig configures NewModeratorTokens.
type ModeratorTokenConfig struct {
	// Keys are the HS256 secrets of moderator tokens (moderator_key), at least
	// one, each at least MinModeratorKeyLen bytes; several verify side by
	// side, to rotate.
	Keys []string
	// Audience is what a token's "aud" must contain when the token has one
	// (moderator_audience). Empty: token.DefaultModeratorAudience, "guestgate".
	Audience string
	// RequireAudience refuses tokens without "aud" (require_audience).
	// Default: they are accepted, as before moderator audiences existed.
	RequireAudience bool
	// Now is the clock that exp, nbf and iat are checked against. Default:
	// time.Now.
	Now func() time.Time
}

// ModeratorTokens accepts moderator tokens by the rules above, each for its own
// rooms only, as kind moderator with the actor "moderator:<sub>".
type ModeratorTokens struct {
	keys       []jwt.VerificationKey // HS256 secrets
	audience   string                // an aud claim must contain it
	requireAud bool                  // a token without aud is refused
	now        func() time.Time
}

// NewModeratorTokens checks c and returns the authenticator of moderator tokens.
func NewModeratorTokens(c ModeratorTokenConfig) (*ModeratorTokens, error) {
	if len(c.Keys) == 0 {
		return nil, errors.New("admin: at least one moderator key is required")
	}
	m := &ModeratorTokens{audience: c.Audience, requireAud: c.RequireAudience, now: c.Now}
	if m.audience == "" {
		m.audience = token.DefaultModeratorAudience
	}
	if m.now == nil {
		m.now = time.Now
	}
	for i, k := range c.Keys {
		if len(k) < MinModeratorKeyLen {
			return nil, fmt.Errorf("admin: moderator key %d must be at least %d bytes, got %d", i+1, MinModeratorKeyLen, len(k))
		}
		m.keys = append(m.keys, []byte(k))
	}
	return m, nil
}

// Authenticate accepts a bearer credential that verify accepts.
func (m *ModeratorTokens) Authenticate(r *http.Request) (Credential, bool) {
	tok := bearer(r)
	if tok == "" {
		return Credential{}, false
	}
	c, err := m.verify(tok, m.now())
	return c, err == nil
}

// verify checks a moderator token at now: HS256 with one of the moderator keys
// (none, HS384/512 and every asymmetric algorithm are refused); typ, when
// present, JWT or token.ModeratorType; aud, when present, containing the
// moderator audience, and present if required; exp required and not past, at
// most MaxModeratorTokenLife ahead; nbf and iat, when present, not in the future
// (all with a small leeway); sub, role and at least one valid room. The error
// says why, never quoting the token.
func (m *ModeratorTokens) verify(tok string, now time.Time) (Credential, error) {
	if len(tok) > maxModeratorTokenLen {
		return Credential{}, jwt.ErrTokenMalformed
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithLeeway(moderatorLeeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	)
	var c ModeratorClaims
	_, err := p.ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) {
		// The key never comes from the token's header (kid, jku, jwk are ignored).
		if t.Method != jwt.SigningMethodHS256 {
			return nil, jwt.ErrTokenSignatureInvalid
		}
		// Explicit typing: a token of another kind is refused before its
		// signature is even checked.
		typ, present, err := token.HeaderType(t.Header)
		if err != nil || present && !token.TypeIs(typ, "JWT") && !token.TypeIs(typ, token.ModeratorType) {
			return nil, errModeratorType
		}
		return jwt.VerificationKeySet{Keys: m.keys}, nil
	})
	if err != nil {
		return Credential{}, err
	}
	switch {
	case !c.Audience.Present && m.requireAud:
		return Credential{}, errModeratorNoAud
	case c.Audience.Present && !c.Audience.Contains(m.audience):
		return Credential{}, errModeratorAudience
	}
	if c.ExpiresAt.Sub(now) > MaxModeratorTokenLife+moderatorLeeway {
		return Credential{}, errModeratorLifetime
	}
	if c.Subject == "" || utf8.RuneCountInString(c.Subject) > maxClaimLen {
		return Credential{}, errModeratorSub
	}
	if utf8.RuneCountInString(c.Name) > maxClaimLen {
		return Credential{}, errModeratorName
	}
	// The role is required: it also keeps a guest session token (which has sub
	// and room but no role) from passing as a moderator token should an operator
	// reuse one secret for both.
	if c.Role != RoleModerator && c.Role != RoleHost {
		return Credential{}, errModeratorRole
	}
	var rooms []string
	for _, r := range append(append([]string(nil), c.Room...), c.Rooms...) {
		if !guestlink.ValidRoomID(r) {
			return Credential{}, errModeratorRooms
		}
		if !slices.Contains(rooms, r) {
			rooms = append(rooms, r)
		}
	}
	if len(rooms) == 0 || len(rooms) > maxModeratorRooms {
		return Credential{}, errModeratorRooms
	}
	name := c.Name
	if name == "" {
		name = c.Subject
	}
	return Credential{Kind: KindModerator, Actor: "moderator:" + c.Subject, Sub: c.Subject, Name: name, Role: c.Role, Rooms: rooms, invitation: c.Invitation}, nil
}

// ModeratorTokenSpec is what a moderator token minted by MintModeratorToken
// says.
type ModeratorTokenSpec struct {
	// Sub is the moderator's id, required, at most 200 characters; audit
	// lines name them "moderator:<sub>".
	Sub string
	// Name is what the Manage page shows; empty: Sub.
	Name string
	// Rooms are the rooms the token manages: 1 to 100 room ids.
	Rooms []string
	// Role is RoleModerator or RoleHost; empty: RoleModerator.
	Role string
	// Audience is the token's "aud"; empty: token.DefaultModeratorAudience.
	// It must be the moderator_audience of the guest_admin that takes it.
	Audience string
	// TTL is how long the token is valid, more than 0 and at most
	// MaxModeratorTokenLife.
	TTL time.Duration
}

// MintModeratorToken signs a moderator token for spec with key (a
// moderator_key, at least MinModeratorKeyLen bytes) at now: what a room
// backend mints (README, "moderator tokens"), typed as the moderator tokens
// guestgate mints itself are, "typ" token.ModeratorType, and always with
// "aud", so that it passes require_audience too. Errors say which part of
// spec or key is wrong; a token is never in them.
func MintModeratorToken(key string, spec ModeratorTokenSpec, now time.Time) (string, error) {
	if spec.Role == "" {
		spec.Role = RoleModerator
	}
	if spec.Audience == "" {
		spec.Audience = token.DefaultModeratorAudience
	}
	switch {
	case len(key) < MinModeratorKeyLen:
		return "", fmt.Errorf("the moderator key must be at least %d bytes, got %d", MinModeratorKeyLen, len(key))
	case spec.TTL <= 0 || spec.TTL > MaxModeratorTokenLife:
		return "", fmt.Errorf("the lifetime must be more than 0 and at most %v, got %v", MaxModeratorTokenLife, spec.TTL)
	case spec.Sub == "" || utf8.RuneCountInString(spec.Sub) > maxClaimLen:
		return "", errModeratorSub
	case utf8.RuneCountInString(spec.Name) > maxClaimLen:
		return "", errModeratorName
	case spec.Role != RoleModerator && spec.Role != RoleHost:
		return "", errModeratorRole
	case len(spec.Rooms) == 0 || len(spec.Rooms) > maxModeratorRooms || slices.ContainsFunc(spec.Rooms, func(r string) bool { return !guestlink.ValidRoomID(r) }):
		return "", errModeratorRooms
	}
	c := jwt.MapClaims{
		"sub": spec.Sub, "role": spec.Role, "aud": spec.Audience,
		"iat": now.Unix(), "exp": now.Add(spec.TTL).Unix(),
	}
	if spec.Name != "" {
		c["name"] = spec.Name
	}
	if len(spec.Rooms) == 1 {
		c["room"] = spec.Rooms[0]
	} else {
		c["rooms"] = spec.Rooms
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	t.Header["typ"] = token.ModeratorType
	return t.SignedString([]byte(key))
}

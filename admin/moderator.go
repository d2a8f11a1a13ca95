package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/token"
)

// Moderator tokens (DESIGN section 3, issue 4): a JWT that the room backend signs
// with moderator_key and hands to a moderator or host, so that they manage guest
// access of their own rooms without an API key. HS256 only; exp is required and at
// most MaxModeratorTokenLife ahead; claims sub, name, room or rooms, role.
//
// Audience and type (issue 18, RFC 8725 sections 2.8 and 3.9-3.11): one key may
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

// Credential kinds, as GET /api/me reports them.
const (
	KindAPIKey        = "api_key"
	KindModerator     = "moderator"
	KindAdminEndpoint = "admin_endpoint"
)

// ModeratorClaims are the claims of a moderator token. Room and Rooms both accept
// a string or an array of strings; the token's rooms are their union.
type ModeratorClaims struct {
	Name  string           `json:"name,omitempty"`
	Room  jwt.ClaimStrings `json:"room,omitempty"`
	Rooms jwt.ClaimStrings `json:"rooms,omitempty"`
	Role  string           `json:"role"`
	// Audience is "aud", decoded strictly so that a missing claim and an empty
	// array stay apart; it takes the place of RegisteredClaims.Audience.
	Audience token.Audience `json:"aud,omitzero"`
	jwt.RegisteredClaims
}

// GetAudience returns the strictly decoded "aud" (jwt.Claims).
func (c ModeratorClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings(c.Audience.Values), nil
}

// credential is who a request comes from: an API key, a moderator token, or
// Caddy's admin endpoint.
type credential struct {
	kind  string
	key   string   // API key fingerprint
	sub   string   // moderator token
	name  string   // moderator token
	role  string   // moderator token
	rooms []string // moderator token: the only rooms it may manage
}

func (c credential) actor() string {
	switch c.kind {
	case KindModerator:
		return "moderator:" + c.sub
	case KindAPIKey:
		return "api-key:" + c.key
	}
	return "admin-endpoint"
}

type credentialKey struct{}

func withCredential(ctx context.Context, c credential) context.Context {
	return context.WithValue(ctx, credentialKey{}, c)
}

func credentialFrom(ctx context.Context) credential {
	c, _ := ctx.Value(credentialKey{}).(credential)
	return c
}

var (
	errModeratorDisabled = errors.New("no moderator_key configured")
	errModeratorLifetime = errors.New("exp is more than 24h ahead")
	errModeratorSub      = errors.New("sub claim is required (at most 200 characters)")
	errModeratorName     = errors.New("name claim is too long")
	errModeratorRole     = errors.New("role claim must be moderator or host")
	errModeratorRooms    = errors.New("room or rooms claim must hold 1 to 100 valid room ids")
	errModeratorType     = errors.New("typ header must be JWT or " + token.ModeratorType)
	errModeratorAudience = errors.New("aud claim does not contain the moderator audience")
	errModeratorNoAud    = errors.New("aud claim is required")
)

// moderatorAuth holds what moderator tokens are checked with.
type moderatorAuth struct {
	keys       []jwt.VerificationKey // HS256 secrets; empty: moderator tokens are refused
	audience   string                // an aud claim must contain it
	requireAud bool                  // a token without aud is refused
}

// newModeratorAuth checks the configured moderator keys (each at least
// MinModeratorKeyLen bytes; several verify side by side, to rotate) and sets the
// audience (empty: token.DefaultModeratorAudience).
func newModeratorAuth(keys []string, audience string, requireAud bool) (moderatorAuth, error) {
	m := moderatorAuth{audience: audience, requireAud: requireAud}
	if m.audience == "" {
		m.audience = token.DefaultModeratorAudience
	}
	for i, k := range keys {
		if len(k) < MinModeratorKeyLen {
			return m, fmt.Errorf("admin: moderator key %d must be at least %d bytes, got %d", i+1, MinModeratorKeyLen, len(k))
		}
		m.keys = append(m.keys, []byte(k))
	}
	return m, nil
}

// verifyModerator checks a moderator token at now: HS256 with one of the
// moderator keys (none, HS384/512 and every asymmetric algorithm are refused);
// typ, when present, JWT or token.ModeratorType; aud, when present, containing the
// moderator audience, and present if required; exp required and not past, at most
// MaxModeratorTokenLife ahead; nbf and iat, when present, not in the future (all
// with a small leeway); sub, role and at least one valid room. The error says why,
// never quoting the token.
func (h *Handler) verifyModerator(tok string, now time.Time) (credential, error) {
	if len(h.mod.keys) == 0 {
		return credential{}, errModeratorDisabled
	}
	if len(tok) > maxModeratorTokenLen {
		return credential{}, jwt.ErrTokenMalformed
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
		return jwt.VerificationKeySet{Keys: h.mod.keys}, nil
	})
	if err != nil {
		return credential{}, err
	}
	switch {
	case !c.Audience.Present && h.mod.requireAud:
		return credential{}, errModeratorNoAud
	case c.Audience.Present && !c.Audience.Contains(h.mod.audience):
		return credential{}, errModeratorAudience
	}
	if c.ExpiresAt.Sub(now) > MaxModeratorTokenLife+moderatorLeeway {
		return credential{}, errModeratorLifetime
	}
	if c.Subject == "" || utf8.RuneCountInString(c.Subject) > maxClaimLen {
		return credential{}, errModeratorSub
	}
	if utf8.RuneCountInString(c.Name) > maxClaimLen {
		return credential{}, errModeratorName
	}
	// The role is required: it also keeps a guest session token (which has sub
	// and room but no role) from passing as a moderator token should an operator
	// reuse one secret for both.
	if c.Role != RoleModerator && c.Role != RoleHost {
		return credential{}, errModeratorRole
	}
	var rooms []string
	for _, r := range append(append([]string(nil), c.Room...), c.Rooms...) {
		if !guestlink.ValidRoomID(r) {
			return credential{}, errModeratorRooms
		}
		if !slices.Contains(rooms, r) {
			rooms = append(rooms, r)
		}
	}
	if len(rooms) == 0 || len(rooms) > maxModeratorRooms {
		return credential{}, errModeratorRooms
	}
	name := c.Name
	if name == "" {
		name = c.Subject
	}
	return credential{kind: KindModerator, sub: c.Subject, name: name, role: c.Role, rooms: rooms}, nil
}

// bearer returns the credential of an "Authorization: Bearer ..." header, "" if
// there is none.
func bearer(r *http.Request) string {
	// The scheme name is case-insensitive (RFC 9110, section 11.1).
	auth := r.Header.Get("Authorization")
	if len(auth) < 7 || !strings.EqualFold(auth[:7], "Bearer ") {
		return ""
	}
	return strings.TrimSpace(auth[7:])
}

// authenticate finds the request's credential: an API key, else a moderator
// token. ok is false for a missing, unknown, forged or expired credential.
func (h *Handler) authenticate(r *http.Request) (c credential, ok bool) {
	if fp, ok := h.authorized(r); ok {
		return credential{kind: KindAPIKey, key: fp}, true
	}
	tok := bearer(r)
	if tok == "" || len(h.mod.keys) == 0 {
		return credential{}, false
	}
	c, err := h.verifyModerator(tok, h.svc.Now())
	if err != nil {
		return credential{}, false
	}
	return c, true
}

// Who may use a route: keyOnly routes (room create, update and delete; DESIGN
// section 3, "who: key") are for API keys and the admin endpoint; ownRoom
// routes also for a moderator token whose rooms include the route's {room}.
const (
	keyOnly = iota
	ownRoom
)

// route registers handler for pattern behind the moderator-token rule of who.
// The rule reads {room} with r.PathValue, the very value the handler acts on.
func (h *Handler) route(pattern string, who int, handler http.HandlerFunc) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if c := credentialFrom(r.Context()); c.kind == KindModerator {
			if who == keyOnly {
				writeError(w, http.StatusForbidden, "forbidden", "creating, changing and deleting rooms needs an API key", "")
				return
			}
			if !slices.Contains(c.rooms, r.PathValue("room")) {
				writeError(w, http.StatusForbidden, "forbidden", "this moderator token does not manage this room", "")
				return
			}
		}
		handler(w, r)
	})
}

// meJSON is the answer of GET /api/me: who the page is signed in as.
type meJSON struct {
	Kind  string   `json:"kind"`
	Sub   string   `json:"sub,omitempty"`
	Name  string   `json:"name,omitempty"`
	Role  string   `json:"role,omitempty"`
	Rooms []string `json:"rooms"`
}

// me answers GET /api/me. Rooms is null for API keys and the admin endpoint
// (every room).
func (h *Handler) me(w http.ResponseWriter, r *http.Request) {
	c := credentialFrom(r.Context())
	out := meJSON{Kind: c.kind, Sub: c.sub, Name: c.name, Role: c.role, Rooms: c.rooms}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(out)
}

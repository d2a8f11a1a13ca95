package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
)

// Authentication. Every request to the API (the Manage page needs none) must
// carry a credential: the handler asks its authenticators in turn, and the first
// that vouches for the request says who it comes from, in the shape of Caddy's
// caddyauth providers. A guest_admin handler has two: APIKeys, then
// ModeratorTokens (moderator.go) when moderator keys are configured. The admin
// endpoint module has AdminEndpoint alone. Failed authentications count against
// the client's budget (Config.AuthFailures); route then decides what the
// credential may do.

// Authenticator finds who a request comes from.
type Authenticator interface {
	// Authenticate returns the credential r carries, with ok true, if this
	// authenticator accepts it. ok is false for a request without such a
	// credential, or with one that is unknown, forged or expired; the handler
	// then asks the next authenticator, and when none accepts, answers 401
	// and counts a failed authentication.
	Authenticate(r *http.Request) (c Credential, ok bool)
}

// Credential kinds, as GET /api/me reports them.
const (
	KindAPIKey        = "api_key"
	KindModerator     = "moderator"
	KindAdminEndpoint = "admin_endpoint"
)

// Credential is who a request comes from, as an Authenticator vouched for it.
type Credential struct {
	// Kind is the kind of credential, as GET /api/me reports it: KindAPIKey,
	// KindModerator or KindAdminEndpoint.
	Kind string
	// Actor names the caller in audit events and webhooks, without revealing
	// the credential: "api-key:<fingerprint>", "moderator:<sub>" or
	// "admin-endpoint".
	Actor string
	// Sub, Name and Role are a moderator token's claims (Name is Sub when the
	// token has none).
	Sub, Name, Role string
	// Rooms, if not nil, are the only rooms the credential manages, and it may
	// not create, change or delete rooms (route); a moderator token's. nil:
	// every room.
	Rooms []string
	// invitation is the "lid" of a moderator token, which only invitees'
	// tokens have (InviteeModerators).
	invitation string
}

// Invitee reports whether c is a moderator invitee's, who came in by an
// invitation with the role moderator: they may invite viewers and speakers,
// not moderators, so that a moderator whose invitation is revoked, or who is
// removed, has not made themselves another way in that outlasts it.
func (c Credential) Invitee() bool { return c.invitation != "" }

type credentialKey struct{}

func withCredential(ctx context.Context, c Credential) context.Context {
	return context.WithValue(ctx, credentialKey{}, c)
}

func credentialFrom(ctx context.Context) Credential {
	c, _ := ctx.Value(credentialKey{}).(Credential)
	return c
}

// authenticate asks h's authenticators in turn; the first that accepts r wins.
func (h *Handler) authenticate(r *http.Request) (Credential, bool) {
	for _, a := range h.auth {
		if c, ok := a.Authenticate(r); ok {
			return c, true
		}
	}
	return Credential{}, false
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

// APIKeys accepts the API keys of guest_admin (api_key) as "Authorization:
// Bearer <key>", for every room. Its actor is "api-key:" and the key's
// fingerprint, the first 8 hex digits of its SHA-256, which identifies a key
// without revealing it.
type APIKeys struct {
	digests [][sha256.Size]byte
}

// NewAPIKeys returns the authenticator of keys: at least one, each at least 16
// characters.
func NewAPIKeys(keys []string) (*APIKeys, error) {
	if len(keys) == 0 {
		return nil, errors.New("admin: at least one API key is required")
	}
	a := &APIKeys{}
	for _, k := range keys {
		if len(k) < 16 {
			return nil, errors.New("admin: an API key must be at least 16 characters")
		}
		a.digests = append(a.digests, sha256.Sum256([]byte(k)))
	}
	return a, nil
}

// Authenticate compares the bearer credential with every API key in constant
// time (over SHA-256 digests, so the keys' lengths do not leak either).
func (a *APIKeys) Authenticate(r *http.Request) (Credential, bool) {
	cred := bearer(r)
	if cred == "" {
		return Credential{}, false
	}
	sum := sha256.Sum256([]byte(cred))
	match := 0
	for i := range a.digests {
		match |= subtle.ConstantTimeCompare(sum[:], a.digests[i][:])
	}
	if match != 1 {
		return Credential{}, false
	}
	return Credential{Kind: KindAPIKey, Actor: "api-key:" + hex.EncodeToString(sum[:4])}, true
}

// AdminEndpoint vouches for every request, as Caddy's admin endpoint (kind
// admin_endpoint, actor "admin-endpoint"), for every room. The admin endpoint
// module (admin.api.guestgate) serves the API there, behind the admin
// endpoint's own access control: a listener on localhost or a unix socket by
// default, its origin checks, and client certificates for remote
// administration. AdminEndpoint checks nothing itself, so New takes it only as
// a handler's one authenticator. Such a handler applies no budget of failed
// authentications (nothing fails) and serves no Manage page.
type AdminEndpoint struct{}

// Authenticate accepts r.
func (AdminEndpoint) Authenticate(*http.Request) (Credential, bool) {
	return Credential{Kind: KindAdminEndpoint, Actor: "admin-endpoint"}, true
}

func isAdminEndpoint(a Authenticator) bool {
	switch a.(type) {
	case AdminEndpoint, *AdminEndpoint:
		return true
	}
	return false
}

// Who may use a route: keyOnly routes (room create, update and delete; docs/DESIGN.md
// section 3, "who: key") are for API keys and the admin endpoint; ownRoom
// routes also for a moderator token whose rooms include the route's {room};
// anyCredential routes, which have no {room}, for every credential (the
// handler shows a moderator token its own rooms only).
const (
	keyOnly = iota
	ownRoom
	anyCredential
)

// route registers handler for pattern behind the rule of who, for credentials
// limited to some rooms (moderator tokens). The rule reads {room} with
// r.PathValue, the very value the handler acts on.
func (h *Handler) route(pattern string, who int, handler http.HandlerFunc) {
	if who == anyCredential {
		h.mux.HandleFunc(pattern, handler)
		return
	}
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if c := credentialFrom(r.Context()); c.Rooms != nil {
			if who == keyOnly {
				writeError(w, http.StatusForbidden, "forbidden", "creating, changing and deleting rooms needs an API key", "")
				return
			}
			if !slices.Contains(c.Rooms, r.PathValue("room")) {
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
	// Invitee is true for a moderator invitee (Credential.Invitee).
	Invitee bool `json:"invitee,omitempty"`
}

// me answers GET /api/me. Rooms is null for API keys and the admin endpoint
// (every room).
func (h *Handler) me(w http.ResponseWriter, r *http.Request) {
	c := credentialFrom(r.Context())
	out := meJSON{Kind: c.Kind, Sub: c.Sub, Name: c.Name, Role: c.Role, Rooms: c.Rooms, Invitee: c.Invitee()}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(out)
}

// Interface guards
var (
	_ Authenticator = (*APIKeys)(nil)
	_ Authenticator = (*ModeratorTokens)(nil)
	_ Authenticator = AdminEndpoint{}
)

// Package caddymodule is the Caddy glue of guestgate: it registers the
// guest_gateway and guest_admin HTTP handlers, the admin.api.guestgate admin
// endpoint module and the "caddy guestgate" command, parses the Caddyfile
// directives, has the handlers share their store (package stores: the store
// modules and the pool that shares one open store and webhook hub across the
// handlers and config reloads), and sets the guest placeholders. The behaviour
// lives in entrypage, admin, webhook, cli and guestlink.
package caddymodule

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/entrypage"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/caddyconf"
	"github.com/guestgate/guestgate/livekit"
	"github.com/guestgate/guestgate/token"
)

func init() {
	caddy.RegisterModule(Gateway{})
	caddy.RegisterModule(Admin{})
}

// Defaults of the guest_gateway handler (docs/DESIGN.md sections 2 and 4).
const (
	DefaultPrefix     = "/guest"
	DefaultRoomPath   = "/rooms/{room}"
	DefaultTokenTTL   = 10 * time.Minute
	DefaultSessionMax = 12 * time.Hour
)

// DefaultAllow is the allowlist used when none is configured: the room page and
// everything under it.
var DefaultAllow = []string{"/rooms/{room}", "/rooms/{room}/*"}

// Gateway is the guest_gateway handler: it serves the guest pages under prefix
// (entry page, lobby, leave, assets) and lets through only requests that carry a live guest
// session for an allowed path of the guest's own room, with the guest's identity in
// X-Guest-* headers and placeholders. See docs/DESIGN.md section 2.
type Gateway struct {
	// StoreRaw is where the state is kept, shared with guest_admin: a module of
	// the guestgate.stores namespace, {"module": "badger", "dir": "..."} (the
	// embedded Badger database of one process) or {"module": "postgres", ...}
	// (docs/DESIGN.md section 6). A JSON string is the directory of a Badger
	// store. Default: Badger in "guestgate" under Caddy's data directory.
	StoreRaw json.RawMessage `json:"store,omitempty" caddy:"namespace=guestgate.stores inline_key=module"`

	// SigningKeys sign the guest session JWTs (HS256), newest first: new tokens are
	// signed with the first, tokens signed with any of them verify, so keys can be
	// rotated. Each is at least 32 bytes; placeholders such as {env.KEY} and
	// {file./run/secrets/key} are resolved. Default: a random key made once and
	// kept in the store.
	SigningKeys []string `json:"signing_keys,omitempty"`

	// IdentityKey is the Ed25519 key that signs the X-Guest-Token identity token
	// sent upstream: the base64 (standard or URL alphabet) of a 32-byte seed;
	// placeholders are resolved. Its public key is served as a JWKS at
	// {prefix}/.well-known/jwks.json. Default: a key made once and kept in the
	// store.
	IdentityKey string `json:"identity_key,omitempty"`

	// Prefix is the path under which guest pages are served. Default: "/guest".
	Prefix string `json:"prefix,omitempty"`

	// RoomPath is where a guest is sent after the entry form, with {room} for the
	// room id. Default: "/rooms/{room}".
	RoomPath string `json:"room_path,omitempty"`

	// Allow lists the paths a guest may reach: {room} stands for the guest's own
	// room id and a trailing * matches any rest. Default: /rooms/{room} and
	// /rooms/{room}/*.
	Allow []string `json:"allow,omitempty"`

	// Roles are the gate's rules per session role ("viewer", "speaker",
	// "moderator"; a session without a role is a viewer), on top of Allow,
	// which keeps applying to every role (docs/DESIGN.md section 7): the
	// paths a role may reach besides Allow, the methods it may use, and the
	// paths where it may still use any method. A request outside its role's
	// rules is answered 403 not-allowed and never reaches the upstream.
	// Default: none; Allow alone decides, for every role and method.
	Roles map[string]Role `json:"roles,omitempty"`

	// Unauthenticated says what happens to a request without a valid guest
	// session: "deny" (default) answers 401 with the no-session page; "pass" hands
	// it to the next handler, still stripped of client-sent X-Guest-* headers.
	Unauthenticated string `json:"unauthenticated,omitempty"`

	// TokenTTL is the lifetime of one session token; it is renewed while the guest
	// is active. Default: 10m.
	TokenTTL caddy.Duration `json:"token_ttl,omitempty"`

	// SessionMax bounds a guest session from its redemption. Default: 12h.
	SessionMax caddy.Duration `json:"session_max,omitempty"`

	// SameSite of the session cookie: "lax" (default), "strict" or "none".
	SameSite string `json:"same_site,omitempty"`

	// RateLimit bounds, per client IP (Caddy's client IP, so the server's
	// trusted_proxies decide whether X-Forwarded-For counts), lookups of unknown
	// link tokens and rejected entry forms (default 30 per minute) and guest page
	// requests and requests without a session (default 3000 per minute). On by
	// default.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`

	// FrameAncestors are the origins allowed to frame the guest pages and the
	// room, for a room embedded in an LMS (CSP frame-ancestors); the session
	// cookie then becomes SameSite=None; Secure; Partitioned. Default: no framing.
	FrameAncestors []string `json:"frame_ancestors,omitempty"`

	// AuditEmails adds the guest's name and email to the audit lines of guest
	// events (guestgate.audit). Default: off, ids only.
	AuditEmails bool `json:"audit_emails,omitempty"`

	// ManageURL is the Manage guest access page (guest_admin's) to which
	// {prefix}/moderate sends moderator invitees, signed in: a path on this
	// site or an absolute http(s) URL. Default: /guest-admin/.
	ManageURL string `json:"manage_url,omitempty"`

	// Theme styles the guest pages (entry, lobby and message pages): a title,
	// a logo, an accent colour, and templates that replace the embedded ones.
	// Its files are read and its templates tried at provision, so a missing
	// logo or a broken template is a configuration error. Default: the plain
	// embedded look.
	Theme *Theme `json:"theme,omitempty"`

	// LiveKit makes the gateway a token endpoint for LiveKit rooms
	// (docs/DESIGN.md section 9): POST {prefix}/livekit/token gives an
	// admitted guest a LiveKit access token for the LiveKit room named by
	// the guestgate room id, with the grants of the guest's role, and a
	// guest removed (or whose room becomes unavailable, or whose session
	// reaches session_max) is removed from the LiveKit room too. Default:
	// off, and {prefix}/livekit/token is no page of the gateway's.
	LiveKit *LiveKit `json:"livekit,omitempty"`

	// Retention is how long a guest record (name, email, link, state) is kept
	// after the redemption, enforced with Badger's TTL; at least session_max.
	// Default: 720h (30 days).
	Retention caddy.Duration `json:"retention,omitempty"`

	shared sharedStore
	gw     *entrypage.Gateway
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Gateway) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.guest_gateway",
		New: func() caddy.Module { return new(Gateway) },
	}
}

func (g *Gateway) applyDefaults() {
	g.Prefix = strings.TrimSuffix(cmp.Or(g.Prefix, DefaultPrefix), "/")
	g.RoomPath = cmp.Or(g.RoomPath, DefaultRoomPath)
	if len(g.Allow) == 0 {
		g.Allow = DefaultAllow
	}
	g.Unauthenticated = cmp.Or(g.Unauthenticated, "deny")
	g.TokenTTL = cmp.Or(g.TokenTTL, caddy.Duration(DefaultTokenTTL))
	g.SessionMax = cmp.Or(g.SessionMax, caddy.Duration(DefaultSessionMax))
	g.SameSite = cmp.Or(g.SameSite, "lax")
	g.Retention = cmp.Or(g.Retention, caddy.Duration(guestlink.DefaultRetention))
}

var sameSiteModes = map[string]http.SameSite{
	"lax": http.SameSiteLaxMode, "strict": http.SameSiteStrictMode, "none": http.SameSiteNoneMode,
}

// RateLimit configures the gateway's two per-client budgets.
type RateLimit struct {
	// Off turns both budgets off.
	Off bool `json:"off,omitempty"`
	// Lookups is the budget for unknown or malformed link tokens and rejected
	// entry forms (guessing). Default: 30 per 1m.
	Lookups *RateBudget `json:"lookups,omitempty"`
	// Requests is the budget for guest pages and requests without a session
	// (flooding). Default: 3000 per 1m.
	Requests *RateBudget `json:"requests,omitempty"`
}

// RateBudget is Events per Window, with a burst of Events.
type RateBudget struct {
	Events int            `json:"events"`
	Window caddy.Duration `json:"window"`
}

// check refuses a budget of no event or no window; what names it in the
// error. A nil budget (the default) passes.
func (b *RateBudget) check(what string) error {
	if b != nil && (b.Events < 1 || b.Window <= 0) {
		return fmt.Errorf("%s: needs at least 1 event per positive window", what)
	}
	return nil
}

func (b *RateBudget) budget(def entrypage.Budget) entrypage.Budget {
	if b == nil {
		return def
	}
	return entrypage.Budget{Events: b.Events, Window: time.Duration(b.Window)}
}

func (rl *RateLimit) budgets() (lookups, requests entrypage.Budget) {
	if rl == nil {
		return entrypage.DefaultLookups, entrypage.DefaultRequests
	}
	if rl.Off {
		return entrypage.Budget{}, entrypage.Budget{}
	}
	return rl.Lookups.budget(entrypage.DefaultLookups), rl.Requests.budget(entrypage.DefaultRequests)
}

// clientIP is Caddy's client IP of r (trusted_proxies applied).
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	return r.RemoteAddr
}

// Role is the rule of one role, a role block of guest_gateway
// (entrypage.RoleRule).
type Role = entrypage.RoleRule

// Theme is the theme block of guest_gateway: a title, a logo, an accent colour
// and templates (entrypage.ThemeConfig).
type Theme = entrypage.ThemeConfig

// Provision opens the shared store, loads or makes the signing key and builds the
// guest-facing handler.
func (g *Gateway) Provision(ctx caddy.Context) error {
	g.logger = ctx.Logger()
	g.applyDefaults()
	if err := g.check(); err != nil {
		return err
	}
	allow, err := entrypage.ParseAllowlist(g.Allow)
	if err != nil {
		return err
	}
	roles, err := entrypage.ParseRoleRules(g.Roles)
	if err != nil {
		return err
	}
	if err := g.shared.acquire(ctx, g, &g.StoreRaw, g.logger); err != nil {
		return err
	}
	store := g.shared.Store
	secrets, err := caddyconf.CheckedSecrets("signing_key", g.SigningKeys, 32, "bytes")
	if err != nil {
		return err
	}
	var keys [][]byte
	for _, k := range secrets {
		keys = append(keys, []byte(k))
	}
	if len(keys) == 0 {
		k, err := store.Secret(ctx, "session-signing-key", 32)
		if err != nil {
			return fmt.Errorf("loading the generated signing key: %w", err)
		}
		keys = [][]byte{k}
	}
	identity, err := g.identity(ctx, store)
	if err != nil {
		return err
	}
	csrfKey, err := store.Secret(ctx, "csrf-key", 32)
	if err != nil {
		return fmt.Errorf("loading the anti-CSRF key: %w", err)
	}
	tokens, err := token.New(token.Config{
		// Session tokens are typed with an audience of their own (SECURITY.md);
		// the legacy form stays acceptable for this release, renewed at once.
		Keys: keys, Issuer: "guestgate", Audience: token.SessionAudience, LegacyAudience: token.LegacyAudience,
		TTL: time.Duration(g.TokenTTL), MaxAge: time.Duration(g.SessionMax), Leeway: 5 * time.Second,
	})
	if err != nil {
		return err
	}
	inviteeKey, err := store.Secret(ctx, admin.InviteeKeySecret, admin.InviteeKeySize)
	if err != nil {
		return fmt.Errorf("loading the invitees' token key: %w", err)
	}
	sessionMax := time.Duration(g.SessionMax)
	var lk *livekit.Client
	if g.LiveKit != nil {
		tagKey, err := store.Secret(ctx, livekitTagKeySecret, 32)
		if err != nil {
			return fmt.Errorf("loading the LiveKit participants' tag key: %w", err)
		}
		if lk, err = g.LiveKit.client(tagKey); err != nil {
			return err
		}
	}
	lookups, requests := g.RateLimit.budgets()
	g.gw, err = entrypage.New(entrypage.Config{
		Service: &guestlink.Service{
			Store: store, Now: time.Now, Retention: time.Duration(g.Retention),
			// Redemptions and leaving go to the webhooks of guest_admin on
			// this store.
			Events: auditSink(auditLogger(), g.AuditEmails, g.shared.Hub.Publish),
		},
		Tokens:         tokens,
		Identity:       identity,
		CSRFKey:        csrfKey,
		Prefix:         g.Prefix,
		RoomPath:       g.RoomPath,
		Allow:          allow,
		Roles:          roles,
		SameSite:       sameSiteModes[g.SameSite],
		ClientIP:       clientIP,
		Lookups:        lookups,
		Requests:       requests,
		FrameAncestors: g.FrameAncestors,
		Theme:          *cmp.Or(g.Theme, new(Theme)),
		OnRedeem:       processMetrics().ObserveRedemption,
		OnGate:         processMetrics().ObserveGate,
		OnIdentity:     setPlaceholders,
		ManageURL:      g.ManageURL,
		// A moderator invitee's token for guest_admin, which takes the
		// same key from the same store; it ends with the session.
		ModeratorToken: func(c *token.Claims) (string, error) {
			until := time.Unix(c.AuthTime, 0).Add(sessionMax)
			return admin.MintInviteeToken(inviteeKey, c.Subject, c.Name, c.Room, c.LinkID, until, time.Now())
		},

		LiveKit:             lk,
		OnLiveKitRemove:     g.logLiveKitRemove,
		OnLiveKitAdoptError: g.logLiveKitAdoptError,

		PassUnauthenticated: g.Unauthenticated == "pass",
		OnError:             g.logError,
	})
	return err
}

// logError logs an internal error of a guest request, with a path that holds
// no link token. A client that went away (its request's context is done) is no
// error of the gateway's: that is a debug line.
func (g *Gateway) logError(r *http.Request, err error) {
	level, msg := zap.ErrorLevel, "guest request failed"
	if r.Context().Err() != nil || errors.Is(err, context.Canceled) {
		level, msg = zap.DebugLevel, "guest request ended: the client went away"
	}
	if ce := g.logger.Check(level, msg); ce != nil {
		ce.Write(zap.String("path", g.gw.LogPath(r.URL.Path)), zap.Error(err))
	}
}

// identity makes the signer of X-Guest-Token from identity_key or the store.
func (g *Gateway) identity(ctx caddy.Context, store guestlink.Store) (*token.Identity, error) {
	var seed []byte
	var err error
	if g.IdentityKey != "" {
		if seed, err = token.DecodeSeed(caddyconf.ResolveSecret(g.IdentityKey)); err != nil {
			return nil, fmt.Errorf("identity_key: %w", err)
		}
	} else if seed, err = store.Secret(ctx, "identity-ed25519-seed", 32); err != nil {
		return nil, fmt.Errorf("loading the generated identity key: %w", err)
	}
	return token.NewIdentity(seed, "guestgate")
}

// check holds the pure checks shared by Provision and Validate.
func (g *Gateway) check() error {
	if !strings.HasPrefix(g.Prefix, "/") || g.Prefix == "/" {
		return fmt.Errorf("prefix %q: must be a path like /guest", g.Prefix)
	}
	if !strings.HasPrefix(g.RoomPath, "/") || !strings.Contains(g.RoomPath, "{room}") {
		return fmt.Errorf("room_path %q: must be a path containing {room}", g.RoomPath)
	}
	if g.Unauthenticated != "deny" && g.Unauthenticated != "pass" {
		return fmt.Errorf("unauthenticated %q: must be 'deny' or 'pass'", g.Unauthenticated)
	}
	if _, ok := sameSiteModes[g.SameSite]; !ok {
		return fmt.Errorf("same_site %q: must be 'lax', 'strict' or 'none'", g.SameSite)
	}
	if g.TokenTTL < caddy.Duration(time.Minute) {
		return errors.New("token_ttl: must be at least 1m")
	}
	if g.SessionMax < g.TokenTTL {
		return errors.New("session_max: must not be shorter than token_ttl")
	}
	if rl := g.RateLimit; rl != nil {
		for name, b := range map[string]*RateBudget{"lookups": rl.Lookups, "requests": rl.Requests} {
			if err := b.check("rate_limit " + name); err != nil {
				return err
			}
		}
	}
	if t := g.Theme; t != nil && t.Accent != "" {
		if _, err := entrypage.CheckAccent(t.Accent); err != nil {
			return err
		}
	}
	if _, err := entrypage.ParseRoleRules(g.Roles); err != nil {
		return err
	}
	if u := g.ManageURL; u != "" {
		p, err := url.Parse(u)
		if err != nil || p.Fragment != "" || p.RawQuery != "" || !(p.Scheme == "" && p.Host == "" && strings.HasPrefix(p.Path, "/") && !strings.HasPrefix(u, "//") ||
			(p.Scheme == "https" || p.Scheme == "http") && p.Host != "") {
			return fmt.Errorf("manage_url %q: must be a path on this site, like /guest-admin/, or an absolute http(s) URL, without query or fragment", u)
		}
	}
	if g.LiveKit != nil {
		if err := g.LiveKit.check(); err != nil {
			return err
		}
	}
	if g.Retention < g.SessionMax {
		return errors.New("retention: must not be shorter than session_max, or guests would lose their record while their session lives")
	}
	return nil
}

// Validate checks the configuration after Provision.
func (g *Gateway) Validate() error { return g.check() }

// Cleanup stops the gateway's background work and releases this config's use
// of the shared store. It works after a failed Provision too.
func (g *Gateway) Cleanup() error {
	if g.gw != nil {
		g.gw.Close()
	}
	return g.shared.release()
}

// ServeHTTP serves guest pages or gates the request, then calls next.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return g.gw.ServeHTTP(w, r, next.ServeHTTP)
}

// guestPlaceholders are the placeholders of a guest's identity, each with the
// claim of the session that answers it: {http.auth.user.id} (like Caddy's
// authentication handler) and {http.guest_gateway.name|email|room|link|role}.
var guestPlaceholders = map[string]func(c *token.Claims) string{
	"http.auth.user.id":        func(c *token.Claims) string { return c.Subject },
	"http.guest_gateway.name":  func(c *token.Claims) string { return c.Name },
	"http.guest_gateway.email": func(c *token.Claims) string { return c.Email },
	"http.guest_gateway.room":  func(c *token.Claims) string { return c.Room },
	"http.guest_gateway.link":  func(c *token.Claims) string { return c.LinkID },
	"http.guest_gateway.role":  func(c *token.Claims) string { return c.Role },
}

// setPlaceholders puts the guest's identity into the request's replacer
// (guestPlaceholders). It adds one provider that answers those keys when a
// placeholder is used, instead of six values set on every request whether
// used or not.
func setPlaceholders(r *http.Request, c *token.Claims) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	repl.Map(func(key string) (any, bool) {
		if claim, ok := guestPlaceholders[key]; ok {
			return claim(c), true
		}
		return nil, false
	})
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Gateway)(nil)
	_ caddy.Validator             = (*Gateway)(nil)
	_ caddy.CleanerUpper          = (*Gateway)(nil)
	_ caddyhttp.MiddlewareHandler = (*Gateway)(nil)
)

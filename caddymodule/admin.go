package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/caddyconf"
	"github.com/guestgate/guestgate/internal/ratelimit"
	"github.com/guestgate/guestgate/token"
	"github.com/guestgate/guestgate/webhook"
)

// Admin is the guest_admin handler: the moderator API of docs/DESIGN.md section 3 for
// rooms, the guest access switch, guest links, the lobby and the guest list. Mount it under a path of its own
// (handle_path /guest-admin/*); it answers every request it gets.
type Admin struct {
	// StoreRaw is where the state is kept, shared with guest_gateway: a module of
	// the guestgate.stores namespace, {"module": "badger", "dir": "..."} (the
	// embedded Badger database of one process) or {"module": "postgres", ...}
	// (docs/DESIGN.md section 6). A JSON string is the directory of a Badger
	// store. Default: Badger in "guestgate" under Caddy's data directory.
	StoreRaw json.RawMessage `json:"store,omitempty" caddy:"namespace=guestgate.stores inline_key=module"`

	// APIKeys are accepted as "Authorization: Bearer <key>" for every room; at
	// least one, each at least 16 characters after placeholders ({env.X},
	// {file.path}) are resolved.
	APIKeys []string `json:"api_keys,omitempty"`

	// ModeratorKeys are the HS256 secrets with which room backends sign
	// moderator tokens (docs/DESIGN.md section 3): a moderator or host with a token
	// manages guest access of the token's rooms only, on the Manage guest access
	// page or through the API. Each at least 32 bytes after placeholders are
	// resolved; several are all accepted, to rotate. Default: none, only API keys.
	ModeratorKeys []string `json:"moderator_keys,omitempty"`

	// ModeratorAudience is what a moderator token's "aud" claim must contain when
	// the token has one: a token whose aud is present and lacks it (compared byte
	// for byte; an empty array lacks it) is refused with 401, so that a token the
	// room backend minted for another service with the same key manages nothing
	// here (RFC 8725 section 3.9). It may not be the audience of
	// guestgate's session or identity tokens. Default: "guestgate".
	ModeratorAudience string `json:"moderator_audience,omitempty"`

	// RequireAudience refuses moderator tokens without an "aud" claim (401).
	// Default: off, such tokens are accepted, as before moderator_audience
	// existed; set it once every backend puts aud in its tokens.
	RequireAudience bool `json:"require_audience,omitempty"`

	// LinkBase is the start of every link URL, the token is appended, like
	// "https://rooms.example.com/guest/". Default: the request's scheme and Host
	// followed by "/guest/".
	LinkBase string `json:"link_base,omitempty"`

	// MaxLinks is the most links a room may have. Default: 3 (the product's "Up to
	// 3 guest links").
	MaxLinks int `json:"max_links,omitempty"`

	// MaxInvitations is the most invitations a room may have. Default: 100.
	MaxInvitations int `json:"max_invitations,omitempty"`

	// AuditEmails adds the guest's name and email to the audit lines of guest
	// events (guestgate.audit). Default: off, ids only.
	AuditEmails bool `json:"audit_emails,omitempty"`

	// LobbyTimeout is how long a waiting guest stays in the lobby list without a
	// status request from their lobby page (the page closed). Default: 2m.
	LobbyTimeout caddy.Duration `json:"lobby_timeout,omitempty"`

	// RateLimit bounds failed authentications (a missing, unknown, forged or
	// expired API key or moderator token) per client IP, Caddy's client IP (so
	// the server's trusted_proxies decide whether X-Forwarded-For counts). A
	// client that has spent its budget gets 429 rate_limited with Retry-After
	// for every API request, a valid credential included, until the budget
	// refills; successful authentications cost nothing. Default: 30 failures per
	// 1m, with a burst of 30. On by default.
	RateLimit *AdminRateLimit `json:"rate_limit,omitempty"`

	// Rooms are created at start-up when they do not exist yet; existing rooms
	// are left as they are.
	Rooms []RoomConfig `json:"rooms,omitempty"`

	// Webhooks receive every event of the store (of this handler, of
	// guest_gateway and of the admin endpoint on the same store) as a signed
	// JSON POST, from a queue kept in the store, so that a restart loses none
	// and a slow endpoint never delays a request. Guest names and emails are in
	// the body only with audit_emails. Default: none.
	Webhooks []Webhook `json:"webhooks,omitempty"`

	// Email is the SMTP server that sends invitation emails ("send_email":
	// true on POST .../invitations); it needs link_base. Default: none, and
	// such requests are refused with 422.
	Email *Email `json:"email,omitempty"`

	shared  sharedStore
	hooks   *webhook.Registration // this handler's webhooks, registered with the store's hub
	handler *admin.Handler
	entry   *adminEntry // lent to the admin endpoint while provisioned
	logger  *zap.Logger
}

// MinLobbyTimeout is the shortest lobby_timeout: longer than a lobby page's
// longest wait between status requests (25 s) plus the grain at which visits are
// recorded (guestlink.SeenInterval), so an open page never drops out.
const MinLobbyTimeout = time.Minute

// AdminRateLimit configures guest_admin's per-client budget.
type AdminRateLimit struct {
	// Off turns the budget off.
	Off bool `json:"off,omitempty"`
	// AuthFailures is the budget of failed authentications. Default: 30 per 1m.
	AuthFailures *RateBudget `json:"auth_failures,omitempty"`
}

func (rl *AdminRateLimit) authFailures() ratelimit.Budget {
	switch {
	case rl == nil:
		return admin.DefaultAuthFailures
	case rl.Off:
		return ratelimit.Budget{}
	}
	return rl.AuthFailures.budget(admin.DefaultAuthFailures)
}

// RoomConfig is a room made at start-up (the room subdirective).
type RoomConfig struct {
	// ID is the room id: 1-64 chars of [A-Za-z0-9._-].
	ID string `json:"id"`
	// Name is the display name shown to guests. Default: the id.
	Name string `json:"name,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Admin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.guest_admin",
		New: func() caddy.Module { return new(Admin) },
	}
}

// Provision opens the shared store, resolves the API keys and makes the
// configured rooms.
func (a *Admin) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	if err := a.check(); err != nil {
		return err
	}
	keys, err := caddyconf.CheckedSecrets("api_key", a.APIKeys, 16, "characters")
	if err != nil {
		return err
	}
	endpoints, err := webhookEndpoints(a.Webhooks, a.AuditEmails)
	if err != nil {
		return err
	}
	modKeys, err := caddyconf.CheckedSecrets("moderator_key", a.ModeratorKeys, admin.MinModeratorKeyLen, "bytes")
	if err != nil {
		return err
	}
	mail, err := a.Email.mailer()
	if err != nil {
		return err
	}
	if err := a.shared.acquire(ctx, a, &a.StoreRaw, a.logger); err != nil {
		return err
	}
	store := a.shared.Store
	svc := &guestlink.Service{
		Store: store, Now: time.Now, MaxLinks: a.MaxLinks, MaxInvitations: a.MaxInvitations, LobbyTimeout: time.Duration(a.LobbyTimeout),
		Events: auditSink(auditLogger(), a.AuditEmails, a.shared.Hub.Publish),
	}
	// Events go to this handler's webhooks from now on, the rooms made below
	// included.
	if a.hooks, err = a.shared.Hub.Register(endpoints); err != nil {
		return err
	}
	rooms := make([]guestlink.ConfiguredRoom, len(a.Rooms))
	for i, rc := range a.Rooms {
		rooms[i] = guestlink.ConfiguredRoom{ID: rc.ID, Spec: guestlink.RoomSpec{Name: rc.Name}}
	}
	made := func(id string) { a.logger.Info("room created from config", zap.String("room", id)) }
	pending, err := svc.MakeRooms(ctx, rooms, made)
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		// A reload while the database is down keeps its open store: only
		// the rooms it may lack wait.
		a.logger.Warn("the store is unavailable: configured rooms are checked, and made if missing, when it is back", zap.Int("rooms", len(pending)))
		go func() {
			if err := svc.MakeRoomsLater(ctx, pending, made); err != nil && ctx.Err() == nil {
				a.logger.Error("making the configured rooms", zap.Error(err))
			}
		}()
	}
	auth, err := a.authenticators(keys, modKeys, svc.Now)
	if err != nil {
		return err
	}
	inviteeKey, err := store.Secret(ctx, admin.InviteeKeySecret, admin.InviteeKeySize)
	if err != nil {
		return fmt.Errorf("reading the invitees' token key: %w", err)
	}
	invitees, err := admin.NewInviteeModerators(inviteeKey, svc)
	if err != nil {
		return err
	}
	auth = append(auth, invitees)
	cfg := admin.Config{
		Service: svc, Authenticators: auth, LinkBase: a.LinkBase,
		AuthFailures: a.RateLimit.authFailures(), ClientIP: clientIP,
		OnError: func(r *http.Request, err error) {
			if errors.Is(err, admin.ErrEmailNotSent) {
				// The invitation was made; only its email failed.
				a.logger.Warn("invitation email not sent", zap.String("path", r.URL.Path), zap.Error(err))
				return
			}
			a.logger.Error("moderator API request failed", zap.String("path", r.URL.Path), zap.Error(err))
		},
	}
	if mail != nil {
		cfg.Mailer, cfg.EmailsPerRoom = mail, a.Email.PerRoom.budget(admin.DefaultEmailsPerRoom)
	}
	a.handler, err = admin.New(cfg)
	if err != nil {
		return err
	}
	// The admin endpoint (caddy guestgate ...) follows this handler's settings.
	a.entry = &adminEntry{svc: svc, linkBase: a.LinkBase}
	registerAdmin(a.shared.key, a.entry)
	return nil
}

// authenticators are the credentials the moderator API accepts: the API keys,
// then moderator tokens if moderator keys are configured. Provision adds the
// moderator invitees' tokens, whose key is in the store.
func (a *Admin) authenticators(keys, modKeys []string, now func() time.Time) ([]admin.Authenticator, error) {
	apiKeys, err := admin.NewAPIKeys(keys)
	if err != nil {
		return nil, err
	}
	auth := []admin.Authenticator{apiKeys}
	if len(modKeys) > 0 {
		mod, err := admin.NewModeratorTokens(admin.ModeratorTokenConfig{
			Keys: modKeys, Audience: a.ModeratorAudience, RequireAudience: a.RequireAudience, Now: now,
		})
		if err != nil {
			return nil, err
		}
		auth = append(auth, mod)
	}
	return auth, nil
}

func (a *Admin) check() error {
	if len(a.APIKeys) == 0 {
		return errors.New("api_key: at least one is required")
	}
	if a.MaxLinks < 0 {
		return errors.New("max_links: must be at least 1")
	}
	if a.MaxInvitations < 0 {
		return errors.New("max_invitations: must be at least 1")
	}
	if a.LobbyTimeout != 0 && a.LobbyTimeout < caddy.Duration(MinLobbyTimeout) {
		return fmt.Errorf("lobby_timeout: must be at least %s: an open lobby page asks at least every 25s and its visit is recorded at %s grain", MinLobbyTimeout, guestlink.SeenInterval)
	}
	switch a.ModeratorAudience {
	case token.SessionAudience, token.IdentityAudience:
		return fmt.Errorf("moderator_audience %q: is the audience of guestgate's own session or identity tokens; choose another", a.ModeratorAudience)
	}
	if a.LinkBase != "" {
		u, err := url.Parse(a.LinkBase)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("link_base %q: must be an absolute http or https URL", a.LinkBase)
		}
	}
	if rl := a.RateLimit; rl != nil {
		if err := rl.AuthFailures.check("rate_limit auth_failures"); err != nil {
			return err
		}
	}
	for _, rc := range a.Rooms {
		if !guestlink.ValidRoomID(rc.ID) {
			return fmt.Errorf("room %q: id must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'", rc.ID)
		}
	}
	if a.Email != nil {
		if err := a.Email.check(); err != nil {
			return err
		}
		if a.LinkBase == "" {
			// Without it a link's host is the request's Host: a forged Host
			// would have the gateway mail links to another site in its own
			// name.
			return errors.New("email: needs link_base, so that the links it sends never take their host from a request")
		}
	}
	return checkWebhooks(a.Webhooks)
}

// Validate checks the configuration after Provision.
func (a *Admin) Validate() error { return a.check() }

// Cleanup releases this config's use of the shared store. It works after a failed
// Provision too.
func (a *Admin) Cleanup() error {
	if a.entry != nil {
		unregisterAdmin(a.shared.key, a.entry)
		a.entry = nil
	}
	if a.hooks != nil {
		a.shared.Hub.Unregister(a.hooks)
		a.hooks = nil
	}
	return a.shared.release()
}

// ServeHTTP answers the moderator API; it never calls next.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	a.handler.ServeHTTP(w, r)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Admin)(nil)
	_ caddy.Validator             = (*Admin)(nil)
	_ caddy.CleanerUpper          = (*Admin)(nil)
	_ caddyhttp.MiddlewareHandler = (*Admin)(nil)
)

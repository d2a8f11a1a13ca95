package entrypage

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/ratelimit"
	"github.com/guestgate/guestgate/livekit"
	"github.com/guestgate/guestgate/token"
)

// Config of a Gateway. Fields without a default must be set.
type Config struct {
	// Service gives the domain operations; its clock is the gateway's clock.
	Service *guestlink.Service
	// Tokens issues and verifies session tokens.
	Tokens *token.Issuer
	// CSRFKey signs the entry form's anti-CSRF field; at least 32 bytes.
	CSRFKey []byte
	// Prefix is where the guest pages live, like "/guest" (no trailing slash).
	Prefix string
	// RoomPath is where an admitted guest is sent, with "{room}" for the room id.
	RoomPath string
	// Allow is the allowlist of paths a guest may reach, whatever the role.
	Allow Allowlist
	// Roles are the per-role rules on top of Allow (docs/DESIGN.md section 7);
	// the zero value has none.
	Roles RoleRules
	// PassUnauthenticated hands requests without a valid session to the next
	// handler (unauthenticated pass) instead of answering 401 no-session.
	PassUnauthenticated bool
	// SameSite of the session cookie; http.SameSiteLaxMode if zero.
	SameSite http.SameSite
	// OnIdentity, if set, is called with the verified claims before a guest's
	// request goes upstream (the Caddy glue sets placeholders there).
	OnIdentity func(r *http.Request, c *token.Claims)
	// OnError, if set, is told of internal errors (store failures, and a
	// client that went away while the store was asked); they are never shown
	// to guests. r.URL.Path may hold a link token: log LogPath's form of it.
	OnError func(r *http.Request, err error)
	// ClientIP returns the client address rate limits count by; the host of
	// RemoteAddr if nil. The Caddy glue passes Caddy's client IP, which honours
	// the server's trusted_proxies.
	ClientIP func(r *http.Request) string
	// Lookups limits, per client IP, lookups of unknown or malformed link tokens
	// and rejected entry form posts (guessing). Zero: no limit.
	Lookups Budget
	// Requests limits, per client IP, guest page requests and requests without a
	// valid session (flooding). Zero: no limit.
	Requests Budget
	// OnRedeem, if set, is told of every entry form post: its result (Redeem*)
	// and how long it took.
	OnRedeem func(result string, took time.Duration)
	// OnGate, if set, is told of every gate decision (Gate* or the data-reason
	// of the refusal).
	OnGate func(result string)
	// Identity, if set, signs the X-Guest-Token header sent upstream, and its
	// public key is served at {prefix}/.well-known/jwks.json.
	Identity *token.Identity
	// FrameAncestors lets the guest pages and the room be framed by these origins
	// (a room embedded in an LMS): the session cookie becomes SameSite=None;
	// Secure; Partitioned, and the pages' CSP names them in frame-ancestors.
	// Empty: no framing.
	FrameAncestors []string
	// Theme styles the guest pages: title, logo, accent colour and template
	// overrides. Its files are read and its templates checked by New.
	Theme ThemeConfig
	// ManageURL is the Manage guest access page that {prefix}/moderate sends
	// moderator invitees to (manage_url); ModeratorToken mints the token it
	// signs them in with, for the session c. Without ModeratorToken,
	// {prefix}/moderate is 403 for everyone.
	ManageURL      string
	ModeratorToken func(c *token.Claims) (string, error)
	// LiveKit, if set, serves POST {prefix}/livekit/token and removes from
	// the LiveKit room the participants whose session must end
	// (docs/DESIGN.md section 9); OnLiveKitRemove, if set, is told of each
	// such removal: the room, the guest, how long it took and its error.
	// Every LiveKitAdopt (DefaultLiveKitAdopt if zero) the gateway also
	// adopts the participants its store's other gateways gave tokens to;
	// OnLiveKitAdoptError, if set, is told when a round of it failed.
	LiveKit             *livekit.Client
	OnLiveKitRemove     func(room, guest string, took time.Duration, err error)
	LiveKitAdopt        time.Duration
	OnLiveKitAdoptError func(err error)
}

// Gateway serves the guest pages under Prefix and gates every other request.
type Gateway struct {
	svc    *guestlink.Service
	tokens *token.Issuer
	// csrfMACs are HMAC-SHA256 states keyed with the CSRF key, each reset
	// before it is put back: making one costs more than the MAC itself.
	csrfMACs sync.Pool
	prefix   string
	roomPath string
	allow    Allowlist
	roles    RoleRules
	pass     bool
	sameSite http.SameSite
	pages    *Pages
	assets   http.Handler
	onID     func(*http.Request, *token.Claims)
	onErr    func(*http.Request, error)
	// manageURL and mintModerator serve {prefix}/moderate.
	manageURL     string
	mintModerator func(*token.Claims) (string, error)
	clientIP      func(*http.Request) string
	onRedeem      func(string, time.Duration)
	onGate        func(string)
	identity      *token.Identity
	cache         *sessionCache
	lookups       *limiter
	requests      *limiter
	framed        bool
	watch         *watcher
	// livekit serves the LiveKit token endpoint; participants are the
	// guests it gave tokens to. Both nil without LiveKit.
	livekit      *livekit.Client
	participants *participants
}

// New checks c and returns a Gateway.
func New(c Config) (*Gateway, error) {
	switch {
	case c.Service == nil || c.Tokens == nil:
		return nil, errors.New("entrypage: Service and Tokens are required")
	case len(c.CSRFKey) < 32:
		return nil, errors.New("entrypage: CSRFKey must be at least 32 bytes")
	case !strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/"):
		return nil, fmt.Errorf("entrypage: prefix %q must start with '/' and not end with '/'", c.Prefix)
	case c.LiveKitAdopt < 0:
		return nil, errors.New("entrypage: LiveKitAdopt must not be negative")
	case !strings.HasPrefix(c.RoomPath, "/"):
		return nil, fmt.Errorf("entrypage: room path %q must start with '/'", c.RoomPath)
	}
	for _, o := range c.FrameAncestors {
		if o == "" || strings.ContainsAny(o, " ;,'\"") {
			return nil, fmt.Errorf("entrypage: frame ancestor %q must be one CSP source like https://lms.example.com", o)
		}
	}
	pages, err := NewPages(c.Prefix, c.FrameAncestors, c.Theme)
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		svc: c.Service, tokens: c.Tokens, prefix: c.Prefix, roomPath: c.RoomPath,
		allow: c.Allow, roles: c.Roles, pass: c.PassUnauthenticated, sameSite: c.SameSite, pages: pages,
		assets: http.StripPrefix(c.Prefix+"/assets", Assets()), onID: c.OnIdentity, onErr: c.OnError,
		manageURL: cmp.Or(c.ManageURL, DefaultManageURL), mintModerator: c.ModeratorToken,
		clientIP: c.ClientIP, onRedeem: c.OnRedeem, onGate: c.OnGate, identity: c.Identity, cache: newSessionCache(), lookups: newLimiter(c.Lookups, c.Service.Now),
		requests: newLimiter(c.Requests, c.Service.Now), framed: len(c.FrameAncestors) > 0,
		watch: newWatcher(c.Service), livekit: c.LiveKit,
	}
	if c.LiveKit != nil {
		g.participants = &participants{watcher: g.watch, client: c.LiveKit, now: c.Service.Now, onRemove: c.OnLiveKitRemove,
			sessionEnd: c.Tokens.SessionEnd, onAdoptErr: c.OnLiveKitAdoptError,
			entries: map[[2]string]*participant{}, lingering: map[string]map[string]time.Time{}}
		g.participants.startAdopting(cmp.Or(c.LiveKitAdopt, DefaultLiveKitAdopt))
	}
	g.csrfMACs.New = func() any { return hmac.New(sha256.New, c.CSRFKey) }
	if g.clientIP == nil {
		g.clientIP = ratelimit.RemoteHost
	}
	if g.sameSite == 0 {
		g.sameSite = http.SameSiteLaxMode
	}
	return g, nil
}

// Close stops what the gateway runs in the background for itself: it stops
// looking for LiveKit participants to adopt, and 40 s later stops watching
// those it watches then, without removing them, as the next configuration's
// gateway has adopted them by then. Open connections stay watched until
// they close.
func (g *Gateway) Close() {
	if g.participants != nil {
		g.participants.close()
	}
}

// ServeHTTP answers guest pages under the prefix itself and passes every other
// request through the gate; next is called only for requests the gate lets
// through, already stripped of client-sent identity headers and of the gateway's
// cookies, and carrying the guest's identity headers.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request, next func(http.ResponseWriter, *http.Request) error) error {
	if rest, ok := strings.CutPrefix(r.URL.Path, g.prefix+"/"); ok {
		// A post of the entry form is a redemption; the other posts under
		// the prefix (leave, the LiveKit token) are not counted as any.
		if r.Method == http.MethodPost && g.onRedeem != nil && rest != "leave" && rest != LiveKitTokenPath {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w}
			w = sw
			defer g.observeRedeem(&sw.o, start)
		}
		if !g.requests.allow(g.clientIP(r)) {
			return g.rateLimited(w, r, g.requests.budget)
		}
		return g.serveGuestPage(w, r, rest)
	}
	result, err := g.gate(w, r, next)
	if g.onGate != nil {
		g.onGate(result)
	}
	return err
}

// refuseLookup answers a failed lookup (unknown or malformed token, rejected
// form) with the page given by answer, or 429 once the client's lookup budget
// is spent.
func (g *Gateway) refuseLookup(w http.ResponseWriter, r *http.Request, answer func() error) error {
	if !g.lookups.allow(g.clientIP(r)) {
		return g.rateLimited(w, r, g.lookups.budget)
	}
	return answer()
}

func (g *Gateway) roomURL(room string) string {
	return strings.ReplaceAll(g.roomPath, "{room}", room)
}

// LogPath is p as it may be logged: under the prefix, any path but the
// gateway's own pages (assets, lobby, leave, the JWKS) is a link token, or a
// mistyped one, and becomes "{prefix}/<link token>". Link tokens are bearer
// credentials and never go into a log line (SECURITY.md).
func (g *Gateway) LogPath(p string) string {
	rest, ok := strings.CutPrefix(p, g.prefix+"/")
	if !ok {
		return p
	}
	switch {
	case strings.HasPrefix(rest, "assets/"), rest == "lobby", rest == "lobby/status", rest == "leave", rest == "moderate", rest == ".well-known/jwks.json",
		rest == LiveKitTokenPath:
		return p
	}
	return g.prefix + "/<link token>"
}

func (g *Gateway) internal(w http.ResponseWriter, r *http.Request, err error) error {
	if g.onErr != nil {
		g.onErr(r, err)
	}
	w.Header().Add("Vary", "Accept-Language")
	http.Error(w, g.pages.T(r, "guest.unavailable"), http.StatusServiceUnavailable)
	return nil
}

// serveGuestPage handles {prefix}/{rest}.
func (g *Gateway) serveGuestPage(w http.ResponseWriter, r *http.Request, rest string) error {
	switch {
	case strings.HasPrefix(rest, "assets/"):
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return g.pages.Message(w, r, ReasonBadRequest, "")
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		if !g.pages.serveAsset(w, r, strings.TrimPrefix(rest, "assets/")) {
			g.assets.ServeHTTP(w, r)
		}
		return nil
	case rest == "leave":
		return g.leave(w, r)
	case rest == "moderate" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		return g.moderate(w, r)
	case rest == ".well-known/jwks.json" && g.identity != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		if r.Method == http.MethodGet {
			_, _ = w.Write(g.identity.JWKS())
		}
		return nil
	case rest == "lobby" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		return g.lobbyPage(w, r)
	case rest == "lobby/status" && r.Method == http.MethodGet:
		return g.lobbyStatus(w, r)
	case rest == LiveKitTokenPath && g.livekit != nil:
		return g.liveKitToken(w, r)
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return g.entryGet(w, r, rest)
	case http.MethodPost:
		return g.entryPost(w, r, rest)
	}
	w.Header().Set("Allow", "GET, HEAD, POST")
	return g.pages.Message(w, r, ReasonBadRequest, "")
}

// currentSession returns the verified claims of r's session cookie, or nil.
func (g *Gateway) currentSession(r *http.Request) *token.Claims {
	if e := g.session(r); e != nil {
		return e.claims
	}
	return nil
}

// sendOn redirects a guest holding session c to where it belongs: the lobby
// while waiting, the room once admitted.
func (g *Gateway) sendOn(w http.ResponseWriter, r *http.Request, c *token.Claims) error {
	to := g.roomURL(c.Room)
	if c.State == guestlink.StateWaiting {
		to = g.lobbyURL()
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// returningGuest returns the claims of r's session if it is a live session for
// the given room and link or invitation (id), or nil.
func (g *Gateway) returningGuest(r *http.Request, room guestlink.Room, id string) *token.Claims {
	if id == "" {
		return nil
	}
	c := g.currentSession(r)
	if c == nil || c.Room != room.ID || c.LinkID != id {
		return nil
	}
	if _, _, err := g.svc.Session(r.Context(), c.Room, c.LinkID, c.Subject); err != nil {
		return nil
	}
	return c
}

// opened is what a token opens: a guest link, or a personal invitation
// (invitation set), and the room.
type opened struct {
	room guestlink.Room
	// id is the link's or the invitation's id; notBefore its opening time.
	id        string
	notBefore time.Time
	// invitation is the invitation the token is, nil for a guest link.
	invitation *guestlink.Invitation
}

// open finds what token tok opens: a guest link, or else an invitation. err
// is OpenLink's or OpenInvitation's verdict; o holds what was found.
func (g *Gateway) open(r *http.Request, tok string) (o opened, err error) {
	room, link, err := g.svc.OpenLink(r.Context(), tok)
	if !errors.Is(err, guestlink.ErrLinkNotFound) {
		return opened{room: room, id: link.ID, notBefore: link.NotBefore}, err
	}
	room, v, ierr := g.svc.OpenInvitation(r.Context(), tok)
	if errors.Is(ierr, guestlink.ErrInvitationNotFound) {
		return opened{room: room}, err
	}
	return opened{room: room, id: v.ID, notBefore: v.NotBefore, invitation: &v}, ierr
}

// openLink finds link or invitation tok for the entry page. It returns done
// when it has answered: with a message page when it cannot be used, or with a
// redirect when the browser already holds a live session made with it (which
// is sent on even when it has since expired or been used up, spending
// nothing).
func (g *Gateway) openLink(w http.ResponseWriter, r *http.Request, tok string) (o opened, done bool, err error) {
	invalid := func() error { return g.pages.Message(w, r, ReasonLinkInvalid, "") }
	if !guestlink.WellFormedToken(tok) {
		return o, true, g.refuseLookup(w, r, invalid)
	}
	o, err = g.open(r, tok)
	if c := g.returningGuest(r, o.room, o.id); c != nil {
		return o, true, g.sendOn(w, r, c)
	}
	if reason := reasonFor(err); reason == ReasonLinkInvalid {
		return o, true, g.refuseLookup(w, r, invalid)
	} else if reason == ReasonNotYetOpen {
		return o, true, g.pages.NotYetOpen(w, r, o.room.Name, o.notBefore, g.svc.Now())
	} else if reason != "" {
		return o, true, g.pages.RoomMessage(w, r, reason, o.room.Name, "")
	} else if err != nil {
		return o, true, g.internal(w, r, err)
	}
	return o, false, nil
}

// form is the entry form of what o opens: an invitation's names its role
// and starts with the invited name.
func (g *Gateway) form(o opened, tok string) entryForm {
	f := entryForm{RoomName: o.room.Name, Token: tok}
	if v := o.invitation; v != nil {
		f.Role, f.Name = v.Role, v.Name
	}
	return f
}

// entryGet shows the entry page of link or invitation tok. It never spends a
// click.
func (g *Gateway) entryGet(w http.ResponseWriter, r *http.Request, tok string) error {
	o, done, err := g.openLink(w, r, tok)
	if done {
		return err
	}
	f := g.form(o, tok)
	f.CSRF = g.csrfToken(g.csrfValue(w, r), tok)
	return g.pages.entry(w, r, http.StatusOK, f)
}

// maxFormBytes bounds the entry form's body.
const maxFormBytes = 64 << 10

// entryPost redeems link or invitation tok with the submitted name and email.
func (g *Gateway) entryPost(w http.ResponseWriter, r *http.Request, tok string) error {
	if !guestlink.WellFormedToken(tok) {
		return g.refuseLookup(w, r, func() error { return g.pages.Message(w, r, ReasonLinkInvalid, "") })
	}
	if !sameOrigin(r) {
		return g.refuseLookup(w, r, func() error { return g.pages.Message(w, r, ReasonNotAllowed, "") })
	}
	badRequest := func() error { return g.pages.Message(w, r, ReasonBadRequest, "") }
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			w.Header().Set("Connection", "close")
		}
		return g.refuseLookup(w, r, badRequest)
	}
	for _, f := range []string{"name", "email", "csrf"} {
		if len(r.PostForm[f]) > 1 {
			return g.refuseLookup(w, r, badRequest)
		}
	}
	in := guestlink.GuestInput{Name: r.PostForm.Get("name"), Email: r.PostForm.Get("email")}
	csrfOK := g.checkCSRF(r, tok, r.PostForm.Get("csrf"))
	if csrfOK && g.currentSession(r) == nil {
		// The common case, a new guest's valid form, goes straight to the
		// redemption, which reads the link in its own statement. What the
		// token opens is read first only when the answer needs it: for a
		// browser that may hold a session made with it already (sent on
		// without spending), an expired form, rejected fields, or a token
		// that is no link's (an invitation's).
		room, link, guest, err := g.svc.Redeem(r.Context(), tok, in)
		switch {
		case err == nil:
			return g.startSession(w, r, guest)
		case len(guestlink.FieldErrors(err)) == 0 && !errors.Is(err, guestlink.ErrLinkNotFound):
			return g.redeemRefused(w, r, opened{room: room, notBefore: link.NotBefore}, err)
		}
	}
	o, done, err := g.openLink(w, r, tok)
	if done {
		return err
	}
	form := g.form(o, tok)
	form.Name, form.Email = in.Name, in.Email
	if !csrfOK {
		return g.refuseLookup(w, r, func() error {
			form.CSRF = g.csrfToken(g.csrfValue(w, r), tok)
			form.FormError = "guest.entry.form_expired"
			return g.pages.entry(w, r, http.StatusForbidden, form)
		})
	}
	var guest guestlink.Guest
	if o.invitation != nil {
		var v guestlink.Invitation
		_, v, guest, err = g.svc.RedeemInvitation(r.Context(), tok, in)
		o.notBefore = v.NotBefore
	} else {
		var link guestlink.Link
		_, link, guest, err = g.svc.Redeem(r.Context(), tok, in)
		o.notBefore = link.NotBefore
	}
	if invalid := guestlink.FieldErrors(err); len(invalid) > 0 {
		// A wrong email for an invitation counts like a wrong token: both
		// are guesses.
		return g.refuseLookup(w, r, func() error {
			form.CSRF = g.csrfToken(g.csrfValue(w, r), tok)
			form.Invalid = invalid
			return g.pages.entry(w, r, http.StatusUnprocessableEntity, form)
		})
	}
	if err != nil {
		return g.redeemRefused(w, r, o, err)
	}
	return g.startSession(w, r, guest)
}

// redeemRefused answers a redemption of what o opens that the store refused
// with err.
func (g *Gateway) redeemRefused(w http.ResponseWriter, r *http.Request, o opened, err error) error {
	switch reason := reasonFor(err); reason {
	case "":
		return g.internal(w, r, err)
	case ReasonLinkInvalid:
		return g.refuseLookup(w, r, func() error { return g.pages.Message(w, r, ReasonLinkInvalid, "") })
	case ReasonNotYetOpen:
		return g.pages.NotYetOpen(w, r, o.room.Name, o.notBefore, g.svc.Now())
	default:
		return g.pages.RoomMessage(w, r, reason, o.room.Name, "")
	}
}

// startSession gives guest, just redeemed, a session cookie and sends them
// on: to the room, or to the lobby.
func (g *Gateway) startSession(w http.ResponseWriter, r *http.Request, guest guestlink.Guest) error {
	now := g.svc.Now()
	c := token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: guest.ID},
		Room:             guest.RoomID, LinkID: guest.LinkID, Name: guest.Name, Email: guest.Email,
		State: guest.State, Role: guestlink.RoleOrViewer(guest.Role), AuthTime: guest.RedeemedAt.Unix(),
	}
	raw, signed, err := g.tokens.Mint(c, now)
	if err != nil {
		return g.internal(w, r, err)
	}
	g.setSession(w, r, raw, signed)
	return g.sendOn(w, r, &c)
}

// gate is steps 1 to 7 of docs/DESIGN.md section 2.
// It returns the decision (Gate* or the refusal's data-reason) for metrics.
func (g *Gateway) gate(w http.ResponseWriter, r *http.Request, next func(http.ResponseWriter, *http.Request) error) (string, error) {
	stripIdentityHeaders(r.Header)
	scrubTrailers(r)
	e := g.session(r)
	stripCookie(r, CookieName, SecureCookieName, csrfCookieName, secureCSRFCookie)
	if e == nil {
		if !g.requests.allow(g.clientIP(r)) {
			return ReasonRateLimited, g.rateLimited(w, r, g.requests.budget)
		}
		if g.pass {
			return GatePassed, next(w, r)
		}
		return ReasonNoSession, g.pages.Message(w, r, ReasonNoSession, "")
	}
	if r.Method == http.MethodConnect && !isExtendedConnect(r) {
		// A tunnel to anywhere is no room page; only a WebSocket's
		// extended CONNECT over HTTP/2 and HTTP/3 goes on.
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		return ReasonBadRequest, g.pages.MessageStatus(w, r, ReasonBadRequest, http.StatusMethodNotAllowed)
	}
	c := e.claims
	// The generation is read before the live state, so that the watcher
	// re-checks a session that changed in between.
	gen := g.svc.Generation()
	state, err := g.svc.Check(r.Context(), c.Room, c.LinkID, c.Subject, g.svc.Now())
	if err != nil {
		if reason := reasonFor(err); reason != "" {
			return reason, g.refuse(w, r, c, reason, "")
		}
		return GateError, g.internal(w, r, err)
	}
	cookieSet := false
	if c.State != guestlink.StateAdmitted {
		// A waiting session opens only the lobby; once a moderator admitted the
		// guest, the first request upgrades it.
		if state != guestlink.StateAdmitted {
			if g.opensRoom(r, c.Room) {
				// The guest's own room, not yet: the lobby is where
				// they wait for it. The metric counts a refusal.
				http.Redirect(w, r, g.lobbyURL(), http.StatusSeeOther)
				return ReasonNotAllowed, nil
			}
			return ReasonNotAllowed, g.refuse(w, r, c, ReasonNotAllowed, g.lobbyURL())
		}
		if e, err = g.upgrade(w, r, c); err != nil {
			return GateError, g.internal(w, r, err)
		}
		c, cookieSet = e.claims, true
	}
	path, ok := CleanPath(r.URL.EscapedPath())
	if !ok || !g.roles.Permits(g.allow, c.Role, gateMethod(r), path, c.Room) {
		return ReasonNotAllowed, g.refuse(w, r, c, ReasonNotAllowed, g.roomURL(c.Room))
	}
	if g.renew(w, r, c) || cookieSet {
		w = &privateWriter{ResponseWriter: w}
	}
	// One allocation for every identity header and the request's watcher
	// registration: each header value gets its own capacity-1 slice of it, so
	// a later handler that appends to or rewrites one header cannot touch
	// another, nor the cache.
	a := new(admitted)
	vals := a.vals[:]
	vals[0], vals[1], vals[2], vals[3], vals[4], vals[5] = c.Subject, c.Room, c.LinkID, e.name, e.email, c.Role
	h := r.Header
	h["X-Guest-Id"] = vals[0:1:1]
	h["X-Guest-Room"] = vals[1:2:2]
	h["X-Guest-Link"] = vals[2:3:3]
	h["X-Guest-Name"] = vals[3:4:4]
	h["X-Guest-Email"] = vals[4:5:5]
	h["X-Guest-Role"] = vals[5:6:6]
	if g.identity != nil {
		if vals[6], err = g.identityToken(e); err != nil {
			return GateError, g.internal(w, r, err)
		}
		h["X-Guest-Token"] = vals[6:7:7]
	}
	if g.onID != nil {
		g.onID(r, c)
	}
	w, r = g.watchRequest(w, r, &a.watched, c, gen)
	defer g.watch.done(&a.watched)
	return GateAllowed, next(w, r)
}

// refuse answers a guest holding session c with reason's message page, naming
// the guest's room (roomName).
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, c *token.Claims, reason, back string) error {
	var name string
	if reason != ReasonUnavailable {
		name = g.roomName(r, c)
	}
	return g.pages.RoomMessage(w, r, reason, name, back)
}

// roomNameWait bounds the store read of roomName: the name helps a guest,
// it must never keep them waiting for their answer.
const roomNameWait = 500 * time.Millisecond

// roomName is the display name of the room of session c, "" when the store
// does not answer in time or the room is gone. It is one store read, made
// only for the pages of a refusal or of leaving, where the name tells the
// guest which session the page is about.
func (g *Gateway) roomName(r *http.Request, c *token.Claims) string {
	ctx, cancel := context.WithTimeout(r.Context(), roomNameWait)
	defer cancel()
	room, _, _ := g.svc.Session(ctx, c.Room, c.LinkID, c.Subject)
	return room.Name
}

// gateMethod is the method the role rules see for r: a WebSocket's extended
// CONNECT is its opening GET over HTTP/2 or HTTP/3, as an Upgrade request is
// over HTTP/1.1.
func gateMethod(r *http.Request) string {
	if isExtendedConnect(r) {
		return http.MethodGet
	}
	return r.Method
}

// opensRoom reports whether r, from a guest of room, asks for a page of that
// room: a GET or HEAD, no protocol upgrade, of the room path or a path under
// it that the allowlist lets the room's guests reach. It asks the allowlist
// only, not the role rules: the answer is a redirect to the lobby, and the
// role rules decide once the guest is admitted. A waiting guest who
// asks for one is sent to the lobby; any other request of theirs is refused.
func (g *Gateway) opensRoom(r *http.Request, room string) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead || r.Header.Get("Upgrade") != "" {
		return false
	}
	path, ok := CleanPath(r.URL.EscapedPath())
	if !ok || !g.allow.Match(path, room) {
		return false
	}
	home := g.roomURL(room)
	return path == home || strings.HasPrefix(path, strings.TrimSuffix(home, "/")+"/")
}

// admitted is what the gate allocates for a request it lets through.
type admitted struct {
	vals [7]string
	watched
}

// isIdentityHeader reports whether a header name is, or could be read by a
// backend as, one of the gateway's X-Guest-* headers: case-insensitive, with "_"
// and "." read as "-" (some servers map them alike).
func isIdentityHeader(name string) bool {
	const p = "x-guest-"
	if len(name) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := name[i]
		if c == '_' || c == '.' {
			c = '-'
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}

// stripIdentityHeaders removes every client-sent identity header, and every token
// of the Connection header that names one (which would make a proxy drop the
// gateway's own headers as hop-by-hop).
func stripIdentityHeaders(h http.Header) {
	stripIdentityNames(h)
	dropListItems(h, "Connection", ",", strings.TrimSpace, func(tok string) bool {
		return isIdentityHeader(tok) || strings.EqualFold(tok, "cookie")
	})
}

// dropListItems rewrites header name of h (in canonical form), a list of
// items separated by sep on one or more lines, without the items for which
// drop is true: each item is trimmed with trim, empty ones go, and the rest
// are joined on one line with sep and a space; a header left empty is
// deleted.
func dropListItems(h http.Header, name, sep string, trim func(string) string, drop func(string) bool) {
	lines := h[name]
	if len(lines) == 0 {
		return
	}
	var kept []string
	for _, line := range lines {
		for item := range strings.SplitSeq(line, sep) {
			if item = trim(item); item != "" && !drop(item) {
				kept = append(kept, item)
			}
		}
	}
	if len(kept) == 0 {
		delete(h, name)
		return
	}
	h[name] = []string{strings.Join(kept, sep+" ")}
}

// scrubTrailers keeps identity out of the request's trailers (docs/DESIGN.md
// section 2, gate step 5): a client may end a chunked body (or an HTTP/2 or
// HTTP/3 stream) with a trailer section, which the reverse proxy forwards after
// the gateway's own identity headers, and a backend reading r.Trailer would take
// "X-Guest-Id: g_victim" from it. Identity names, in every spelling
// isIdentityHeader knows, are removed from the declared trailers now and from
// the received ones when the body ends, before the proxy copies them, and so is
// Cookie; other trailers pass.
func scrubTrailers(r *http.Request) {
	if len(r.Trailer) > 0 {
		stripTrailerNames(r.Trailer)
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &trailerScrubber{ReadCloser: r.Body, r: r}
	}
}

// trailerScrubber removes identity names from r's trailers when r's body ends:
// net/http fills them in (into the map the request and its copies share) just
// before Read returns io.EOF.
type trailerScrubber struct {
	io.ReadCloser
	r *http.Request
}

func (b *trailerScrubber) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && len(b.r.Trailer) > 0 {
		stripTrailerNames(b.r.Trailer)
	}
	return n, err
}

// stripTrailerNames deletes from request trailers h every identity name and
// Cookie: a cookie is no trailer field (RFC 9110, section 6.5.1), and one
// there would carry the gateway's cookies past stripCookie.
func stripTrailerNames(h http.Header) {
	stripIdentityNames(h)
	delete(h, "Cookie")
}

// stripIdentityNames deletes every identity header name from h.
func stripIdentityNames(h http.Header) {
	for k := range h {
		if isIdentityHeader(k) {
			delete(h, k)
		}
	}
}

// headerEscape percent-encodes s as UTF-8 for a header value: every byte but the
// unreserved characters of RFC 3986 (A-Z a-z 0-9 - . _ ~) becomes %XX, so a backend
// decodes it with any URL decoder (Go: url.PathUnescape).
func headerEscape(s string) string {
	const hex = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

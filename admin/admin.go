// Package admin is the moderator API of guestgate (docs/DESIGN.md section 3) as a plain
// net/http handler: rooms, the guest access switch, guest links, the lobby and the
// guest list, in JSON (the guest list also in CSV), behind authentication by API
// keys or moderator tokens (auth.go, moderator.go), and the Manage guest access
// page that uses it (ui.go). It knows nothing of Caddy.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/ratelimit"
)

// Config of a Handler.
type Config struct {
	// Service gives the domain operations.
	Service *guestlink.Service
	// Authenticators find who a request comes from, asked in turn (auth.go); at
	// least one: APIKeys, then ModeratorTokens if moderator keys are
	// configured, for guest_admin; AdminEndpoint alone for the admin endpoint.
	Authenticators []Authenticator
	// LinkBase is prepended to a link's token to make its URL, like
	// "https://rooms.example.com/guest/". Empty: the request's own scheme and Host
	// with "/guest/".
	LinkBase string
	// OnError, if set, is told of internal errors, for which clients see only
	// "internal", and of invitation emails not sent (invitemail.go).
	OnError func(r *http.Request, err error)
	// Mailer, if set, sends invitation emails ("send_email": true on POST
	// .../invitations). Default (nil): send_email is refused with 422.
	Mailer Mailer
	// EmailsPerRoom is the budget of invitation emails of one room, whoever
	// asks: past it, an invitation is made but not mailed (email_delivery
	// says why), so that a moderator cannot make the SMTP server send mail
	// without end. Zero: no limit (guest_admin passes DefaultEmailsPerRoom
	// unless configured otherwise).
	EmailsPerRoom ratelimit.Budget
	// AuthFailures is the budget of failed authentications (a missing, unknown,
	// forged or expired credential) of one client IP. A client whose budget is
	// spent gets 429 rate_limited with Retry-After for every request that needs
	// a credential, before its credential is checked, so that guessing stops;
	// successful authentications cost nothing. Zero: no limit (guest_admin
	// passes DefaultAuthFailures unless configured otherwise). Not used with
	// AdminEndpoint, which refuses nothing.
	AuthFailures ratelimit.Budget
	// ClientIP returns the address a request's failed authentications count
	// under. Default: the host of the request's RemoteAddr.
	ClientIP func(*http.Request) string
}

// DefaultAuthFailures is the default budget of failed authentications: 30 per
// minute per client IP, with a burst of 30. A person or a script with the right
// credential never meets it; one that guesses gets 30 tries, then one every 2 s.
var DefaultAuthFailures = ratelimit.Budget{Events: 30, Window: time.Minute}

// DefaultEmailsPerRoom is the default budget of invitation emails: 100 an
// hour per room, with a burst of 100, enough to invite a class of
// max_invitations at once.
var DefaultEmailsPerRoom = ratelimit.Budget{Events: 100, Window: time.Hour}

// Handler serves the moderator API.
type Handler struct {
	svc      *guestlink.Service
	auth     []Authenticator
	page     bool // serve the Manage page (ui.go)
	linkBase string
	onErr    func(*http.Request, error)
	mailer   Mailer
	emails   *ratelimit.Limiter // by room id
	mux      *http.ServeMux
	failures *ratelimit.Limiter
	clientIP func(*http.Request) string
}

// New checks c and returns a Handler.
func New(c Config) (*Handler, error) {
	if c.Service == nil {
		return nil, errors.New("admin: Service is required")
	}
	if len(c.Authenticators) == 0 {
		return nil, errors.New("admin: at least one Authenticator is required")
	}
	h := &Handler{svc: c.Service, auth: c.Authenticators, linkBase: c.LinkBase, onErr: c.OnError, mailer: c.Mailer, mux: http.NewServeMux(), clientIP: c.ClientIP,
		emails: ratelimit.New(c.EmailsPerRoom, c.Service.Now)}
	if slices.ContainsFunc(h.auth, isAdminEndpoint) {
		// It vouches for every request: another authenticator beside it
		// would check nothing. Nothing fails, so no budget applies, and the
		// admin endpoint has no Manage page.
		if len(h.auth) > 1 {
			return nil, errors.New("admin: AdminEndpoint accepts every request; it must be the only Authenticator")
		}
	} else {
		h.failures = ratelimit.New(c.AuthFailures, c.Service.Now)
		h.page = true
	}
	if h.clientIP == nil {
		h.clientIP = ratelimit.RemoteHost
	}
	if h.linkBase != "" && !strings.HasSuffix(h.linkBase, "/") {
		h.linkBase += "/"
	}
	for _, rt := range h.routes() {
		h.route(rt.pattern, rt.who, rt.handler)
	}
	return h, nil
}

// apiRoute is one operation of the API: its http.ServeMux pattern, who may
// use it (auth.go) and its handler.
type apiRoute struct {
	pattern string
	who     int
	handler http.HandlerFunc
}

// routes lists the operations of the API: New registers them, and the OpenAPI
// document (openapi.go) has one operation for each, as its test checks.
// Building the list only names h's handlers, so it works on a nil h too.
func (h *Handler) routes() []apiRoute {
	return []apiRoute{
		{"GET /api/me", anyCredential, h.me},
		{"GET /api/rooms", anyCredential, h.listRooms},
		{"PUT /api/rooms/{room}", keyOnly, h.putRoom},
		{"GET /api/rooms/{room}", ownRoom, h.getRoom},
		{"DELETE /api/rooms/{room}", keyOnly, h.deleteRoom},
		{"PUT /api/rooms/{room}/guest-access", ownRoom, h.putGuestAccess},
		{"GET /api/rooms/{room}/links", ownRoom, h.listLinks},
		{"POST /api/rooms/{room}/links", ownRoom, h.createLink},
		{"DELETE /api/rooms/{room}/links/{id}", ownRoom, h.deleteLink},
		{"GET /api/rooms/{room}/invitations", ownRoom, h.listInvitations},
		{"POST /api/rooms/{room}/invitations", ownRoom, h.createInvitation},
		{"DELETE /api/rooms/{room}/invitations/{id}", ownRoom, h.deleteInvitation},
		{"GET /api/rooms/{room}/lobby", ownRoom, h.lobby},
		{"POST /api/rooms/{room}/lobby/{guest}/admit", ownRoom, h.decide(guestlink.StateAdmitted)},
		{"POST /api/rooms/{room}/lobby/{guest}/deny", ownRoom, h.decide(guestlink.StateDeclined)},
		{"POST /api/rooms/{room}/lobby/admit-all", ownRoom, h.admitAll},
		{"PUT /api/rooms/{room}/lobby/message", ownRoom, h.putLobbyMessage},
		{"DELETE /api/rooms/{room}/lobby/message", ownRoom, h.deleteLobbyMessage},
		{"GET /api/rooms/{room}/guests", ownRoom, h.guests},
		{"DELETE /api/rooms/{room}/guests/{guest}", ownRoom, h.removeGuest},
	}
}

// ServeHTTP authenticates the request, within the client's budget of failed
// authentications, and routes it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if h.servePage(w, r) { // the Manage guest access page: no credentials (ui.go)
		return
	}
	if serveOpenAPI(w, r) { // the API's OpenAPI document: no credentials (openapi.go)
		return
	}
	// A client that spent its budget of failed authentications is refused
	// before its credential is checked: guessing stops, even the right guess.
	attempt, ok := h.failures.Begin(h.clientIP(r))
	if !ok {
		w.Header().Set("Retry-After", h.failures.Budget().RetryAfter())
		writeError(w, http.StatusTooManyRequests, "rate_limited", "too many failed authentications from this address; try again later", "")
		return
	}
	cred, ok := h.authenticate(r) // auth.go
	if !ok {
		attempt.Fail()
		w.Header().Set("WWW-Authenticate", `Bearer realm="guestgate"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "missing or invalid credentials", "")
		return
	}
	attempt.Succeed()
	r = r.WithContext(withCredential(guestlink.WithActor(r.Context(), cred.Actor), cred))
	handler, pattern := h.mux.Handler(r)
	if pattern == "" {
		// Let the mux tell 404 from 405, but answer in JSON.
		rec := &statusRecorder{header: http.Header{}}
		handler.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", rec.header.Get("Allow"))
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed here", "")
			return
		}
		writeError(w, http.StatusNotFound, "not_found", "no such API path", "")
		return
	}
	h.mux.ServeHTTP(w, r) // sets the path values that Handler does not
}

type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(code int)        { s.status = code }

// RoomJSON is a room as the API shows it (GET /api/rooms/{room}). RoomJSON,
// LinkJSON and GuestJSON are the API's wire shapes; clients such as the caddy
// guestgate command decode them.
type RoomJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Available   bool   `json:"available"`
	Admission   string `json:"admission"`
	GuestAccess bool   `json:"guest_access"`
	// LobbyMessage is what the waiting guests are told; "" for nothing.
	LobbyMessage string     `json:"lobby_message"`
	MaxLinks     int        `json:"max_links"`
	Links        []LinkJSON `json:"links"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

// LinkJSON is a link as docs/DESIGN.md section 3 fixes it.
type LinkJSON struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	URL       string     `json:"url"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	MaxClicks *int       `json:"max_clicks"`
	Clicks    int        `json:"clicks"`
	Role      string     `json:"role"`
	NotBefore *time.Time `json:"not_before"`
	Active    bool       `json:"active"`
}

func (h *Handler) linkURL(r *http.Request, tok string) string {
	if h.linkBase != "" {
		return h.linkBase + tok
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/guest/" + tok
}

func (h *Handler) link(r *http.Request, room guestlink.Room, l guestlink.Link) LinkJSON {
	j := LinkJSON{
		ID: l.ID, Name: l.Name, URL: h.linkURL(r, l.Token), CreatedAt: l.CreatedAt, Clicks: l.Clicks,
		Role: guestlink.RoleOrViewer(l.Role), Active: guestlink.CheckLinkOpen(room, l, h.svc.Now()) == nil,
	}
	j.ExpiresAt, j.NotBefore, j.MaxClicks = timeOrNull(l.ExpiresAt), timeOrNull(l.NotBefore), limitOrNull(l.MaxClicks)
	return j
}

// timeOrNull is t for the API, null for the zero time (never, at once).
func timeOrNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// limitOrNull is a click or use limit for the API, null for 0 (unlimited).
func limitOrNull(n int) *int {
	if n <= 0 {
		return nil
	}
	return &n
}

func (h *Handler) room(r *http.Request, room guestlink.Room, links []guestlink.Link) RoomJSON {
	j := RoomJSON{
		ID: room.ID, Name: room.Name, Kind: room.Kind, Available: room.Available, Admission: room.Admission,
		GuestAccess: room.GuestAccess, LobbyMessage: room.LobbyMessage, MaxLinks: h.svc.Limit(), Links: []LinkJSON{},
		CreatedAt: room.CreatedAt, UpdatedAt: room.UpdatedAt,
	}
	for _, l := range links {
		j.Links = append(j.Links, h.link(r, room, l))
	}
	return j
}

func (h *Handler) putRoom(w http.ResponseWriter, r *http.Request) {
	var spec guestlink.RoomSpec
	if !h.decode(w, r, &spec) {
		return
	}
	room, created, err := h.svc.PutRoom(r.Context(), r.PathValue("room"), spec)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.respondRoom(w, r, room.ID, map[bool]int{true: http.StatusCreated, false: http.StatusOK}[created])
}

func (h *Handler) respondRoom(w http.ResponseWriter, r *http.Request, id string, status int) {
	room, links, err := h.svc.Room(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, status, h.room(r, room, links))
}

// listRooms is GET /api/rooms: every room (an API key) or the rooms of the
// moderator token, by id, without their links (links is []).
func (h *Handler) listRooms(w http.ResponseWriter, r *http.Request) {
	rooms, err := h.svc.Rooms(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	own := credentialFrom(r.Context()).Rooms
	out := []RoomJSON{}
	for _, room := range rooms {
		if own == nil || slices.Contains(own, room.ID) {
			out = append(out, h.room(r, room, nil))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) getRoom(w http.ResponseWriter, r *http.Request) {
	h.respondRoom(w, r, r.PathValue("room"), http.StatusOK)
}

func (h *Handler) deleteRoom(w http.ResponseWriter, r *http.Request) {
	h.noContent(w, r, h.svc.DeleteRoom(r.Context(), r.PathValue("room")))
}

// noContent answers a change that returns nothing: 204, or the error err.
func (h *Handler) noContent(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) putGuestAccess(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Enabled *bool `json:"enabled"`
	}
	if !h.decode(w, r, &body) {
		return
	}
	if body.Enabled == nil {
		writeError(w, http.StatusUnprocessableEntity, "invalid", "enabled is required: true or false", "enabled")
		return
	}
	room, err := h.svc.SetGuestAccess(r.Context(), r.PathValue("room"), *body.Enabled)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.respondRoom(w, r, room.ID, http.StatusOK)
}

func (h *Handler) listLinks(w http.ResponseWriter, r *http.Request) {
	room, links, err := h.svc.Room(r.Context(), r.PathValue("room"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.room(r, room, links).Links)
}

func (h *Handler) createLink(w http.ResponseWriter, r *http.Request) {
	var spec guestlink.LinkSpec
	if !h.decode(w, r, &spec) {
		return
	}
	l, err := h.svc.CreateLink(r.Context(), r.PathValue("room"), spec)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	room, _, err := h.svc.Room(r.Context(), l.RoomID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "links/"+l.ID)
	writeJSON(w, http.StatusCreated, h.link(r, room, l))
}

func (h *Handler) deleteLink(w http.ResponseWriter, r *http.Request) {
	h.noContent(w, r, h.svc.DeleteLink(r.Context(), r.PathValue("room"), r.PathValue("id")))
}

// apiErrors maps domain errors to HTTP status and API error code, the first
// that matches (errors.Is) winning: the one place where sentinel errors
// become API errors. Any other error is 500 "internal".
var apiErrors = []struct {
	err    error
	status int
	code   string
}{
	{guestlink.ErrRoomNotFound, http.StatusNotFound, "room_not_found"},
	{guestlink.ErrLinkNotFound, http.StatusNotFound, "link_not_found"},
	{guestlink.ErrGuestNotFound, http.StatusNotFound, "guest_not_found"},
	{guestlink.ErrInvitationNotFound, http.StatusNotFound, "invitation_not_found"},
	{guestlink.ErrLinkLimit, http.StatusConflict, "link_limit"},
	{guestlink.ErrInvitationLimit, http.StatusConflict, "invitation_limit"},
	{guestlink.ErrGuestAccessOff, http.StatusConflict, "guest_access_off"},
	{guestlink.ErrGalleryRoom, http.StatusUnprocessableEntity, "gallery_room"},
	{guestlink.ErrAlreadyDecided, http.StatusConflict, "already_decided"},
	{guestlink.ErrStoreUnavailable, http.StatusServiceUnavailable, "store_unavailable"},
	{context.Canceled, http.StatusServiceUnavailable, "unavailable"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, "unavailable"},
}

// errorStatus is err's HTTP status and API error code (apiErrors).
func errorStatus(err error) (int, string) {
	for _, e := range apiErrors {
		if errors.Is(err, e.err) {
			return e.status, e.code
		}
	}
	return http.StatusInternalServerError, "internal"
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if verrs := guestlink.FieldErrors(err); len(verrs) > 0 {
		fields := make([]FieldError, len(verrs))
		for i, v := range verrs {
			fields[i] = FieldError{Field: v.Field, Message: v.Field + " " + v.Message}
		}
		writeFieldErrors(w, http.StatusUnprocessableEntity, "invalid", fields)
		return
	}
	status, code := errorStatus(err)
	msg := err.Error()
	switch code {
	case "internal":
		if h.onErr != nil {
			h.onErr(r, err)
		}
		msg = "internal error"
	case "store_unavailable":
		// The store's error names the database; the client needs only to
		// know to try again (docs/DESIGN.md section 6).
		w.Header().Set("Retry-After", retryAfterUnavailable)
		msg = "the store cannot be reached; try again shortly"
	}
	writeError(w, status, code, msg, "")
}

// retryAfterUnavailable is the Retry-After of store_unavailable, in seconds:
// a store that cannot be reached is usually back within a few.
const retryAfterUnavailable = "5"

// writeError writes an error answer; field, if not empty, names the one
// request field at fault, and msg is then its message too.
func writeError(w http.ResponseWriter, status int, code, msg, field string) {
	e := APIError{Code: code, Message: msg, Field: field}
	if field != "" {
		e.Fields = []FieldError{{Field: field, Message: msg}}
	}
	writeJSON(w, status, ErrorJSON{Error: e})
}

// writeFieldErrors writes an error answer about every field in fields (at
// least one): field names the first, the message says them all.
func writeFieldErrors(w http.ResponseWriter, status int, code string, fields []FieldError) {
	msgs := make([]string, len(fields))
	for i, f := range fields {
		msgs[i] = f.Message
	}
	writeJSON(w, status, ErrorJSON{Error: APIError{Code: code, Message: strings.Join(msgs, "; "), Field: fields[0].Field, Fields: fields}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

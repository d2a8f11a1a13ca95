// Package entrypage is the guest-facing side of guestgate as plain net/http: the
// entry page where a guest redeems a link, the message pages, the session cookie
// and the gate that every other request passes through (DESIGN section 2). It
// knows nothing of Caddy; the caddymodule package wires it into a handler.
package entrypage

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"

	"github.com/guestgate/guestgate/guestlink"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Reasons: the data-reason values of DESIGN section 1's message table, plus
// "bad-request" for a request that cannot be read and "left" after leaving.
const (
	ReasonLinkInvalid     = "link-invalid"
	ReasonLinkExpired     = "link-expired"
	ReasonLinkUsedUp      = "link-used-up"
	ReasonGuestAccessOff  = "guest-access-off"
	ReasonRoomUnavailable = "room-unavailable"
	ReasonDeclined        = "declined"
	ReasonRemoved         = "removed"
	ReasonNotAllowed      = "not-allowed"
	ReasonNoSession       = "no-session"
	ReasonRateLimited     = "rate-limited"
	ReasonBadRequest      = "bad-request"
	ReasonLeft            = "left"
)

type message struct {
	status        int
	heading, text string
}

var messages = map[string]message{
	ReasonLinkInvalid:     {http.StatusNotFound, "This guest link is not valid", "The link may have been deleted or mistyped. Ask the person who shared it for a new one."},
	ReasonLinkExpired:     {http.StatusGone, "This guest link has expired", "Ask the person who shared it for a new link."},
	ReasonLinkUsedUp:      {http.StatusGone, "This guest link has been used up", "It has reached the number of times it can be used. Ask the person who shared it for a new link."},
	ReasonGuestAccessOff:  {http.StatusForbidden, "Guest access is turned off", "The organiser has turned off guest access for this session."},
	ReasonRoomUnavailable: {http.StatusNotFound, "This session is not available", "The session may have ended or been removed."},
	ReasonDeclined:        {http.StatusForbidden, "You were not admitted", "The moderator declined your request to join this session."},
	ReasonRemoved:         {http.StatusForbidden, "You were removed from this session", "A moderator removed you from the session."},
	ReasonNotAllowed:      {http.StatusForbidden, "This page is not available to guests", "As a guest you can only reach the session you were invited to."},
	ReasonNoSession:       {http.StatusUnauthorized, "Please use your guest link", "This page needs a guest session. Open the guest link you were given to join."},
	ReasonRateLimited:     {http.StatusTooManyRequests, "Too many requests", "Please wait a moment and try again."},
	ReasonBadRequest:      {http.StatusBadRequest, "The request could not be processed", "Please go back and try again."},
	ReasonLeft:            {http.StatusOK, "You have left the session", "Open your guest link again to rejoin while it is valid."},
}

// reasonFor maps a domain error to the message page a guest sees: the one place
// where sentinel errors become data-reason values.
func reasonFor(err error) string {
	switch {
	case errors.Is(err, guestlink.ErrLinkExpired):
		return ReasonLinkExpired
	case errors.Is(err, guestlink.ErrLinkUsedUp):
		return ReasonLinkUsedUp
	case errors.Is(err, guestlink.ErrGuestAccessOff), errors.Is(err, guestlink.ErrGalleryRoom):
		return ReasonGuestAccessOff
	case errors.Is(err, guestlink.ErrRoomUnavailable):
		return ReasonRoomUnavailable
	case errors.Is(err, guestlink.ErrGuestDeclined):
		return ReasonDeclined
	case errors.Is(err, guestlink.ErrGuestRemoved), errors.Is(err, guestlink.ErrGuestNotFound):
		return ReasonRemoved
	case errors.Is(err, guestlink.ErrGuestLeft):
		return ReasonNoSession
	case errors.Is(err, guestlink.ErrLinkNotFound), errors.Is(err, guestlink.ErrRoomNotFound):
		return ReasonLinkInvalid
	}
	return ""
}

// Pages renders the guest pages from templates.
type Pages struct {
	tmpl   *template.Template
	prefix string
	csp    string
	framed bool
}

// NewPages parses the embedded templates; prefix is where the assets are served;
// frameAncestors are the origins allowed to frame the pages (none if empty).
func NewPages(prefix string, frameAncestors []string) (*Pages, error) {
	t, err := template.New("").ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	fa := "'none'"
	if len(frameAncestors) > 0 {
		fa = strings.Join(frameAncestors, " ")
	}
	return &Pages{
		tmpl: t, prefix: prefix, framed: len(frameAncestors) > 0,
		csp: "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; " +
			"form-action 'self'; base-uri 'none'; frame-ancestors " + fa,
	}, nil
}

// Assets serves the embedded CSS and images, with paths relative to assets/.
func Assets() http.Handler {
	sub, _ := fs.Sub(assetFS, "assets")
	return http.FileServer(http.FS(sub))
}

// securityHeaders are sent with every guest page: a strict CSP, no referrer, no
// caching, no sniffing, and no framing unless frame_ancestors allows it.
func (p *Pages) securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", p.csp)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if !p.framed {
		h.Set("X-Frame-Options", "DENY")
	}
}

func (p *Pages) render(w http.ResponseWriter, r *http.Request, name string, status int, data map[string]any) error {
	data["Prefix"] = p.prefix
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	h := w.Header()
	p.securityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, err := w.Write(buf.Bytes())
		return err
	}
	return nil
}

// Message writes the message page for reason with its status; back, if not empty,
// is a same-site path offered as a way back into the session.
func (p *Pages) Message(w http.ResponseWriter, r *http.Request, reason, back string) error {
	m, ok := messages[reason]
	if !ok {
		m, reason = messages[ReasonBadRequest], ReasonBadRequest
	}
	noteReason(r, reason)
	return p.render(w, r, "message.html", m.status, map[string]any{
		"Title": m.heading, "Reason": reason, "Heading": m.heading, "Text": m.text, "Back": back,
	})
}

// entryForm is what the entry page shows.
type entryForm struct {
	RoomName, Action, CSRF string
	Name, Email            string
	FormError              string
	Errors                 map[string]string
}

func (p *Pages) entry(w http.ResponseWriter, r *http.Request, status int, f entryForm) error {
	return p.render(w, r, "entry.html", status, map[string]any{
		"Title": "Join " + f.RoomName, "RoomName": f.RoomName, "Action": f.Action, "CSRF": f.CSRF,
		"Name": f.Name, "Email": f.Email, "FormError": f.FormError, "Errors": f.Errors,
	})
}

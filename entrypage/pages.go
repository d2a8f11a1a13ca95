// Package entrypage is the guest-facing side of guestgate as plain net/http: the
// entry page where a guest redeems a link, the message pages, the session cookie
// and the gate that every other request passes through (docs/DESIGN.md section 2). It
// knows nothing of Caddy; the caddymodule package wires it into a handler.
package entrypage

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/language"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/i18n"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Reasons: the data-reason values of docs/DESIGN.md section 1's message table, plus
// "bad-request" for a request that cannot be read and "left" after leaving.
const (
	ReasonLinkInvalid     = "link-invalid"
	ReasonLinkExpired     = "link-expired"
	ReasonLinkUsedUp      = "link-used-up"
	ReasonNotYetOpen      = "not-yet-open"
	ReasonGuestAccessOff  = "guest-access-off"
	ReasonRoomUnavailable = "room-unavailable"
	ReasonDeclined        = "declined"
	ReasonRemoved         = "removed"
	ReasonNotAllowed      = "not-allowed"
	ReasonNoSession       = "no-session"
	ReasonRateLimited     = "rate-limited"
	ReasonBadRequest      = "bad-request"
	ReasonLeft            = "left"
	// ReasonUnavailable: the store cannot be reached (docs/DESIGN.md section 6).
	ReasonUnavailable = "unavailable"
)

// reasonStatus is the HTTP status of each reason's message page (docs/DESIGN.md section
// 1). Headings and sentences come from the message catalogue: the keys
// guest.message.<reason>.heading and guest.message.<reason>.text.
var reasonStatus = map[string]int{
	ReasonLinkInvalid:     http.StatusNotFound,
	ReasonLinkExpired:     http.StatusGone,
	ReasonLinkUsedUp:      http.StatusGone,
	ReasonNotYetOpen:      http.StatusForbidden,
	ReasonGuestAccessOff:  http.StatusForbidden,
	ReasonRoomUnavailable: http.StatusNotFound,
	ReasonDeclined:        http.StatusForbidden,
	ReasonRemoved:         http.StatusForbidden,
	ReasonNotAllowed:      http.StatusForbidden,
	ReasonNoSession:       http.StatusUnauthorized,
	ReasonRateLimited:     http.StatusTooManyRequests,
	ReasonUnavailable:     http.StatusServiceUnavailable,
	ReasonBadRequest:      http.StatusBadRequest,
	ReasonLeft:            http.StatusOK,
}

// guestReasons maps domain errors to the message page a guest sees, the
// first that matches (errors.Is) winning: the one place where sentinel errors
// become data-reason values.
var guestReasons = []struct {
	err    error
	reason string
}{
	{guestlink.ErrLinkExpired, ReasonLinkExpired},
	{guestlink.ErrLinkUsedUp, ReasonLinkUsedUp},
	{guestlink.ErrLinkNotYetOpen, ReasonNotYetOpen},
	{guestlink.ErrGuestAccessOff, ReasonGuestAccessOff},
	{guestlink.ErrGalleryRoom, ReasonGuestAccessOff},
	{guestlink.ErrRoomUnavailable, ReasonRoomUnavailable},
	{guestlink.ErrGuestDeclined, ReasonDeclined},
	{guestlink.ErrGuestRemoved, ReasonRemoved},
	{guestlink.ErrGuestNotFound, ReasonRemoved},
	{guestlink.ErrGuestLeft, ReasonNoSession},
	{guestlink.ErrLinkNotFound, ReasonLinkInvalid},
	{guestlink.ErrRoomNotFound, ReasonLinkInvalid},
	{guestlink.ErrInvitationNotFound, ReasonLinkInvalid},
	{guestlink.ErrStoreUnavailable, ReasonUnavailable},
}

// reasonFor is err's data-reason (guestReasons), "" for any other error.
func reasonFor(err error) string {
	for _, e := range guestReasons {
		if errors.Is(err, e.err) {
			return e.reason
		}
	}
	return ""
}

// Pages renders the guest pages from templates, in the language the browser
// asks for (Accept-Language; English when none of the catalogue's languages fits).
type Pages struct {
	tmpl *template.Template
	// shells are the entry pages of new guests by language, nil with theme
	// templates.
	shells map[language.Tag]*entryShell
	cat    *i18n.Catalog
	theme  *theme
	prefix string
	csp    string
	framed bool

	// langs are the page languages of the Accept-Language values seen (those
	// of at most maxAcceptLen bytes, at most maxLangs of them): matching one
	// takes microseconds and a score of allocations, and browsers send few
	// distinct values.
	langsMu sync.RWMutex
	langs   map[string]language.Tag
}

// Bounds of Pages.langs: a browser's Accept-Language is 2 to 60 bytes.
const (
	maxAcceptLen = 128
	maxLangs     = 1024
)

// NewPages parses the embedded templates, with the overrides and the title, logo
// and accent of th; prefix is where the assets are served; frameAncestors are the
// origins allowed to frame the pages (none if empty). Errors name the theme
// option at fault ("theme logo: ...", "theme templates: <file>: ...").
func NewPages(prefix string, frameAncestors []string, th ThemeConfig) (*Pages, error) {
	loaded, err := loadTheme(th, prefix)
	if err != nil {
		return nil, err
	}
	t, err := parseTemplates(th.Templates)
	if err != nil {
		return nil, err
	}
	fa := "'none'"
	if len(frameAncestors) > 0 {
		fa = strings.Join(frameAncestors, " ")
	}
	p := &Pages{
		tmpl: t, cat: i18n.Default(), theme: loaded, prefix: prefix, framed: len(frameAncestors) > 0, langs: map[string]language.Tag{},
		csp: "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; " +
			"form-action 'self'; base-uri 'none'; frame-ancestors " + fa,
	}
	if err := p.checkTemplates(); err != nil {
		if th.Templates != "" {
			return nil, fmt.Errorf("theme templates %s: %w", th.Templates, err)
		}
		return nil, err
	}
	if th.Templates == "" {
		p.shells = make(map[language.Tag]*entryShell)
		for _, tag := range p.cat.Languages() {
			if p.shells[tag], err = p.newEntryShell(tag); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
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

// language is the page language for r, from its Accept-Language header.
func (p *Pages) language(r *http.Request) language.Tag {
	accept := r.Header.Get("Accept-Language")
	p.langsMu.RLock()
	tag, ok := p.langs[accept]
	p.langsMu.RUnlock()
	if ok {
		return tag
	}
	tag = p.cat.Match(accept)
	if len(accept) <= maxAcceptLen {
		p.langsMu.Lock()
		if len(p.langs) >= maxLangs {
			clear(p.langs)
		}
		p.langs[accept] = tag
		p.langsMu.Unlock()
	}
	return tag
}

// T is message key in r's language, for text outside the templates.
func (p *Pages) T(r *http.Request, key string, args ...any) string {
	return p.cat.T(p.language(r), key, args...)
}

// page returns the data every page shares, in r's language.
func (p *Pages) page(r *http.Request) PageData {
	return p.pageIn(p.language(r))
}

func (p *Pages) pageIn(tag language.Tag) PageData {
	d := PageData{
		Lang: tag.String(), Dir: p.cat.Dir(tag), Prefix: p.prefix,
		loc: locale{cat: p.cat, tag: tag},
	}
	if p.theme != nil {
		d.SiteTitle, d.LogoURL, d.ThemeCSS = p.theme.title, p.theme.logoURL, p.theme.cssURL
	}
	return d
}

// pageSize is the room made for a page before it is executed: the guest pages
// are 1.5 to 3 KiB.
const pageSize = 4 << 10

func (p *Pages) render(w http.ResponseWriter, r *http.Request, name string, status int, d PageData) error {
	buf := bytes.NewBuffer(make([]byte, 0, pageSize))
	if err := p.tmpl.ExecuteTemplate(buf, name, d); err != nil {
		return err
	}
	return p.send(w, r, status, d.Lang, buf.Bytes())
}

// send writes page, in language lang, with status and the headers of every
// guest page.
func (p *Pages) send(w http.ResponseWriter, r *http.Request, status int, lang string, page []byte) error {
	h := w.Header()
	p.securityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", lang)
	h.Add("Vary", "Accept-Language")
	h.Set("Content-Length", strconv.Itoa(len(page)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, err := w.Write(page)
		return err
	}
	return nil
}

// messagePage fills d for reason's message page about room (a display name,
// "" when unknown) and returns its status.
func messagePage(d *PageData, reason, room, back string) int {
	status, ok := reasonStatus[reason]
	if !ok {
		reason, status = ReasonBadRequest, reasonStatus[ReasonBadRequest]
	}
	d.Reason, d.Back, d.RoomName = reason, back, room
	d.Heading = d.T("guest.message." + reason + ".heading")
	d.Text = d.T("guest.message." + reason + ".text")
	d.Title = d.Heading
	return status
}

// Message writes the message page for reason with its status; back, if not empty,
// is a same-site path offered as a way back into the session.
func (p *Pages) Message(w http.ResponseWriter, r *http.Request, reason, back string) error {
	return p.RoomMessage(w, r, reason, "", back)
}

// RoomMessage is Message for a page about a known room: room is its display
// name, which the page shows above the message ("" when not known).
func (p *Pages) RoomMessage(w http.ResponseWriter, r *http.Request, reason, room, back string) error {
	d := p.page(r)
	status := messagePage(&d, reason, room, back)
	noteReason(w, d.Reason)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterUnavailable)
	}
	return p.render(w, r, "message.html", status, d)
}

// NotYetOpen writes the message page of a link that opens at opens (now is
// the gateway's clock): it names the room and the opening time, which
// opens.js shows in the guest's own time zone and language, and moves on to
// the link's entry page by itself when the time comes, however the guest's
// clock is set (it counts from the gateway's now).
func (p *Pages) NotYetOpen(w http.ResponseWriter, r *http.Request, room string, opens, now time.Time) error {
	d := p.page(r)
	status := messagePage(&d, ReasonNotYetOpen, room, "")
	noteReason(w, d.Reason)
	wait := opens.Sub(now)
	d.Opens = &opening{
		At:      opens.UTC().Format(time.RFC3339),
		UTC:     opens.UTC().Format("2006-01-02 15:04 UTC"),
		WaitMS:  wait.Milliseconds(),
		WaitSec: int64(wait/time.Second) + 1,
	}
	// Without JavaScript the page reloads itself at the opening time.
	d.Refresh = int(d.Opens.WaitSec)
	return p.render(w, r, "message.html", status, d)
}

// opening is what a not-yet-open page says of the opening time.
type opening struct {
	// At is the time in RFC 3339 (UTC), for <time datetime> and opens.js;
	// UTC is how the page shows it before opens.js puts it in the guest's
	// time zone.
	At, UTC string
	// WaitMS is how long until then by the gateway's clock; WaitSec is that
	// rounded up to whole seconds.
	WaitMS, WaitSec int64
}

// retryAfterUnavailable is the Retry-After of the unavailable page, in
// seconds: a store that cannot be reached is usually back within a few.
const retryAfterUnavailable = "5"

// MessageStatus writes the message page for reason with another status than
// its own (405 for a method the gateway does not take).
func (p *Pages) MessageStatus(w http.ResponseWriter, r *http.Request, reason string, status int) error {
	d := p.page(r)
	messagePage(&d, reason, "", "")
	noteReason(w, d.Reason)
	return p.render(w, r, "message.html", status, d)
}

// entryForm is what the entry page shows.
type entryForm struct {
	// RoomName is the room's display name; the form posts to the entry page
	// of link token Token.
	RoomName, Token, CSRF string
	Name, Email           string
	// Role is the role of an invitation's entry form ("" for a guest
	// link's): the page says it invites to the room as that role.
	Role string
	// FormError is a catalogue key for an error about the whole form.
	FormError string
	// Invalid are the rejected fields, each shown beside its field.
	Invalid []*guestlink.ValidationError
}

// entryPage fills d for the entry page of f.
func entryPage(d *PageData, f entryForm) {
	d.Title = d.T("guest.entry.title", f.RoomName)
	d.RoomName, d.Action, d.CSRF, d.Name, d.Email = f.RoomName, d.Prefix+"/"+f.Token, f.CSRF, f.Name, f.Email
	if f.Role != "" {
		d.InvitedAs = d.T("guest.role." + f.Role)
	}
	if f.FormError != "" {
		d.FormError = d.T(f.FormError)
	}
	if len(f.Invalid) > 0 {
		d.Errors = make(map[string]string, len(f.Invalid))
		for _, v := range f.Invalid {
			d.Errors[v.Field] = d.fieldError(v)
		}
	}
}

// entry writes the entry page of f with status: a new guest's from the
// shell of the page's language, any other by executing entry.html.
func (p *Pages) entry(w http.ResponseWriter, r *http.Request, status int, f entryForm) error {
	tag := p.language(r)
	if s := p.shells[tag]; s != nil {
		if page, ok := s.fill(f); ok {
			return p.send(w, r, status, s.lang, page)
		}
	}
	d := p.pageIn(tag)
	entryPage(&d, f)
	return p.render(w, r, "entry.html", status, d)
}

// lobbyPage fills d for the lobby page of guest in room.
func lobbyPage(d *PageData, roomName, guestName, message, statusURL, csrf string) {
	d.Title = d.T("guest.lobby.title", roomName)
	d.LobbyMessage = message
	d.RoomName, d.GuestName, d.StatusURL, d.Refresh = roomName, guestName, statusURL, 5
	d.Action, d.CSRF = d.Prefix+"/leave", csrf
}

// leavePage fills d for the page that asks a guest to confirm leaving: its form
// posts csrf to action; formError, if not empty, is a catalogue key.
func leavePage(d *PageData, action, csrf, formError string) {
	d.Heading, d.Text = d.T("guest.leave.heading"), d.T("guest.leave.text")
	d.Title = d.Heading
	d.Action, d.CSRF = action, csrf
	if formError != "" {
		d.FormError = d.T(formError)
	}
}

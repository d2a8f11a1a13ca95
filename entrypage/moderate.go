package entrypage

import (
	"net/http"
	"net/url"

	"github.com/guestgate/guestgate/guestlink"
)

// DefaultManageURL is where {prefix}/moderate sends moderator invitees when
// no manage_url is configured: guest_admin's Manage page as Caddyfile.example
// and the README mount it.
const DefaultManageURL = "/guest-admin/"

// moderate answers GET {prefix}/moderate (docs/DESIGN.md section 8): the
// session of a moderator invitee, admitted and live, is sent (303) to the
// Manage guest access page of its room, signed in with a moderator token for
// that room only that ends with the session; the token travels in the URL's
// fragment, which no server and no Referer sees. Any other session gets 403
// not-allowed, no session 401 no-session, and a session the live state
// refuses that refusal.
func (g *Gateway) moderate(w http.ResponseWriter, r *http.Request) error {
	e := g.session(r)
	if e == nil {
		return g.pages.Message(w, r, ReasonNoSession, "")
	}
	c := e.claims
	state, err := g.svc.Check(r.Context(), c.Room, c.LinkID, c.Subject, g.svc.Now())
	if err != nil {
		if reason := reasonFor(err); reason != "" {
			return g.refuse(w, r, c, reason, "")
		}
		return g.internal(w, r, err)
	}
	if c.Role != guestlink.RoleModerator || !guestlink.IsInvitation(c.LinkID) || state != guestlink.StateAdmitted || g.mintModerator == nil {
		return g.refuse(w, r, c, ReasonNotAllowed, g.roomURL(c.Room))
	}
	tok, err := g.mintModerator(c)
	if err != nil {
		return g.internal(w, r, err)
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, g.manageURL+"?room="+url.QueryEscape(c.Room)+"#token="+tok, http.StatusSeeOther)
	return nil
}

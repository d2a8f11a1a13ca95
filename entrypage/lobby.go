package entrypage

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/token"
)

// maxLobbyWait bounds a long poll of lobby/status (?wait=N seconds), well under
// the usual 60 s idle timeouts of proxies in between.
const maxLobbyWait = 25 * time.Second

// lobbyURL is the lobby page's path.
func (g *Gateway) lobbyURL() string { return g.prefix + "/lobby" }

// liveGuest verifies r's session and reads its live state. It returns the claims,
// room and guest, or the reason to show (with "" and a non-nil error for an
// internal failure).
func (g *Gateway) liveGuest(r *http.Request) (*token.Claims, guestlink.Room, guestlink.Guest, string, error) {
	c := g.currentSession(r)
	if c == nil {
		return nil, guestlink.Room{}, guestlink.Guest{}, ReasonNoSession, nil
	}
	room, guest, err := g.svc.Session(r.Context(), c.Room, c.LinkID, c.Subject)
	if err != nil {
		return c, room, guest, reasonFor(err), err
	}
	return c, room, guest, "", nil
}

// upgrade re-issues the session of a guest a moderator admitted with st
// "admitted". It returns the new claims.
func (g *Gateway) upgrade(w http.ResponseWriter, r *http.Request, c *token.Claims) (*cachedSession, error) {
	up := *c
	up.State = guestlink.StateAdmitted
	now := g.svc.Now()
	raw, signed, err := g.tokens.Mint(up, now)
	if err != nil {
		return nil, err
	}
	g.setSession(w, r, raw, signed)
	if e := g.cache.get(raw, now); e != nil {
		return e, nil
	}
	return nil, errors.New("entrypage: a token just issued does not verify")
}

// renew re-issues c when half its lifetime is gone, so a guest who keeps a page
// open keeps a live session up to session_max. It reports whether it set the
// cookie.
func (g *Gateway) renew(w http.ResponseWriter, r *http.Request, c *token.Claims) bool {
	if now := g.svc.Now(); g.tokens.NeedsRenewal(c, now) {
		if raw, signed, err := g.tokens.Mint(*c, now); err == nil {
			g.setSession(w, r, raw, signed)
			return true
		}
	}
	return false
}

// lobbyPage is GET {prefix}/lobby: the waiting guest's page. Admitted guests are
// sent on to the room; decided ones see why they cannot join.
func (g *Gateway) lobbyPage(w http.ResponseWriter, r *http.Request) error {
	c, room, guest, reason, err := g.liveGuest(r)
	switch {
	case reason != "":
		return g.pages.RoomMessage(w, r, reason, room.Name, "")
	case err != nil:
		return g.internal(w, r, err)
	}
	if guest.State == guestlink.StateAdmitted {
		if c.State != guestlink.StateAdmitted {
			if _, err := g.upgrade(w, r, c); err != nil {
				return g.internal(w, r, err)
			}
		}
		http.Redirect(w, r, g.roomURL(c.Room), http.StatusSeeOther)
		return nil
	}
	if _, err := g.svc.Seen(r.Context(), c.Room, c.Subject); err != nil {
		if reason := reasonFor(err); reason != "" {
			return g.pages.RoomMessage(w, r, reason, room.Name, "")
		}
		return g.internal(w, r, err)
	}
	g.renew(w, r, c)
	d := g.pages.page(r)
	lobbyPage(&d, room.Name, guest.Name, g.svc.LobbyMessage(c.Room), g.prefix+"/lobby/status", g.csrfToken(g.csrfValue(w, r), leaveCSRF))
	return g.pages.render(w, r, "lobby.html", http.StatusOK, d)
}

// lobbyState is the JSON of lobby/status.
type lobbyState struct {
	// State is waiting, admitted or declined; or removed, or closed when the
	// guest can no longer join for another reason (then Reason says which).
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// Next is where an admitted guest goes.
	Next string `json:"next,omitempty"`
	// Message is the room's lobby message while the guest waits.
	Message string `json:"message,omitempty"`
}

// lobbyStatus is GET {prefix}/lobby/status[?wait=N]: the guest's state as JSON.
// With wait (seconds, at most 25) it answers as soon as a moderator decides, or
// within a second of anything else that closes the lobby to the guest or of a
// new lobby message: a long poll. On "admitted" it also upgrades the session
// cookie.
func (g *Gateway) lobbyStatus(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	gen := g.svc.Generation()
	c, _, guest, reason, err := g.liveGuest(r)
	if err != nil && reason == "" {
		return g.internal(w, r, err)
	}
	if reason == "" && guest.State == guestlink.StateWaiting {
		if _, err := g.svc.Seen(r.Context(), c.Room, c.Subject); err != nil && reasonFor(err) == "" {
			return g.internal(w, r, err)
		}
		if wait := lobbyWait(r); wait > 0 {
			// WaitDecision answers at once when a moderator decides; the
			// watcher ends the wait within a second when anything else
			// closes the lobby to the guest (guest access off, the link
			// deleted, the room unavailable or deleted) or the lobby
			// message changes.
			ctx, cancel := context.WithTimeout(r.Context(), wait)
			e := &watched{c: c, lobby: true, message: g.svc.LobbyMessage(c.Room), stop: cancel}
			g.watch.add(e, gen)
			guest, err = g.svc.WaitDecision(ctx, c.Room, c.Subject)
			g.watch.done(e)
			if err != nil {
				reason = reasonFor(err)
				if reason == "" {
					return g.internal(w, r, err)
				}
			}
			if reason == "" {
				// A decision may also have ended the session (removed, declined).
				_, guest, err = g.svc.Session(r.Context(), c.Room, c.LinkID, c.Subject)
				reason = reasonFor(err)
				if err != nil && reason == "" {
					return g.internal(w, r, err)
				}
			}
		}
	}
	var st lobbyState
	status := http.StatusOK
	switch {
	case reason == ReasonDeclined:
		st.State = guestlink.StateDeclined
	case reason == ReasonRemoved:
		st.State = guestlink.StateRemoved
	case reason == ReasonNoSession:
		st, status = lobbyState{State: "closed", Reason: reason}, http.StatusUnauthorized
	case reason != "":
		st, status = lobbyState{State: "closed", Reason: reason}, reasonStatus[reason]
	case guest.State == guestlink.StateAdmitted:
		if c.State != guestlink.StateAdmitted {
			if _, err := g.upgrade(w, r, c); err != nil {
				return g.internal(w, r, err)
			}
		}
		st = lobbyState{State: guestlink.StateAdmitted, Next: g.roomURL(c.Room)}
	default:
		g.renew(w, r, c)
		st.State, st.Message = guestlink.StateWaiting, g.svc.LobbyMessage(c.Room)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(st)
}

// lobbyWait reads ?wait=N (seconds) and bounds it to maxLobbyWait.
func lobbyWait(r *http.Request) time.Duration {
	n, err := strconv.Atoi(r.URL.Query().Get("wait"))
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, maxLobbyWait)
}

// leave is {prefix}/leave. GET (and HEAD) shows a page with a "Leave session"
// button and does nothing else; POST, with the anti-CSRF field of that page (or
// of the lobby's leave button) and from this site, ends the session: the guest
// list shows "left" and the session cookie is cleared. Leaving ends a session
// for good (a guest who came in through a link with a click limit may not get
// back in), so it must not be a GET that an <img> on any page, or in the room's
// own content, could send with the guest's Lax cookie.
func (g *Gateway) leave(w http.ResponseWriter, r *http.Request) error {
	action := g.prefix + "/leave"
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		d := g.pages.page(r)
		leavePage(&d, action, g.csrfToken(g.csrfValue(w, r), leaveCSRF), "")
		return g.pages.render(w, r, "leave.html", http.StatusOK, d)
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		return g.pages.MessageStatus(w, r, ReasonBadRequest, http.StatusMethodNotAllowed)
	}
	if !sameOrigin(r) {
		return g.pages.Message(w, r, ReasonNotAllowed, "")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil || len(r.PostForm["csrf"]) > 1 {
		return g.pages.Message(w, r, ReasonBadRequest, "")
	}
	if !g.checkCSRF(r, leaveCSRF, r.PostForm.Get("csrf")) {
		d := g.pages.page(r)
		leavePage(&d, action, g.csrfToken(g.csrfValue(w, r), leaveCSRF), "guest.entry.form_expired")
		return g.pages.render(w, r, "leave.html", http.StatusForbidden, d)
	}
	var left string // the room's name, for the page
	if c := g.currentSession(r); c != nil {
		left = g.roomName(r, c)
		if _, err := g.svc.Decide(r.Context(), c.Room, c.Subject, guestlink.StateLeft); err != nil && reasonFor(err) == "" {
			return g.internal(w, r, err)
		}
	}
	g.clearSession(w, r)
	return g.pages.RoomMessage(w, r, ReasonLeft, left, "")
}

// leaveCSRF is what the leave form's anti-CSRF field is bound to, where the
// entry form's is bound to the link token (which is never this short).
const leaveCSRF = "leave"

package admin

import (
	"net/http"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/guestgate/guestgate/guestlink"
)

// InvitationJSON is an invitation in the API (docs/DESIGN.md section 8).
type InvitationJSON struct {
	ID        string     `json:"id"`
	Email     string     `json:"email"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	URL       string     `json:"url"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	NotBefore *time.Time `json:"not_before"`
	MaxUses   *int       `json:"max_uses"`
	Uses      int        `json:"uses"`
	Active    bool       `json:"active"`
}

// invitationRequest is the body of POST .../invitations. max_uses tells
// "left out" (one use) from null (unlimited). send_email and language are
// about the invitation's email (invitemail.go), not the invitation.
type invitationRequest struct {
	Email         string     `json:"email"`
	Name          string     `json:"name"`
	Role          string     `json:"role"`
	MaxUses       maybeInt   `json:"max_uses"`
	DurationHours *int       `json:"duration_hours"`
	NotBefore     *time.Time `json:"not_before"`
	SendEmail     bool       `json:"send_email"`
	Language      string     `json:"language"`
}

// maybeInt is a JSON number that remembers whether it was given, and whether
// as null.
type maybeInt struct {
	given, null bool
	n           int
}

func (m *maybeInt) UnmarshalJSON(b []byte) error {
	m.given = true
	if string(b) == "null" {
		m.null = true
		return nil
	}
	return jsonv2.Unmarshal(b, &m.n)
}

func (q invitationRequest) spec() guestlink.InvitationSpec {
	s := guestlink.InvitationSpec{Email: q.Email, Name: q.Name, Role: q.Role, DurationHours: q.DurationHours, NotBefore: q.NotBefore}
	switch {
	case q.MaxUses.null:
		s.Unlimited = true
	case q.MaxUses.given:
		s.MaxUses = &q.MaxUses.n
	}
	return s
}

func (h *Handler) invitation(r *http.Request, room guestlink.Room, v guestlink.Invitation) InvitationJSON {
	j := InvitationJSON{
		ID: v.ID, Email: v.Email, Name: v.Name, Role: v.Role, URL: h.linkURL(r, v.Token),
		CreatedAt: v.CreatedAt, ExpiresAt: v.ExpiresAt, Uses: v.Uses,
		Active: guestlink.CheckInvitationOpen(room, v, h.svc.Now()) == nil,
	}
	j.NotBefore, j.MaxUses = timeOrNull(v.NotBefore), limitOrNull(v.MaxUses)
	return j
}

func (h *Handler) listInvitations(w http.ResponseWriter, r *http.Request) {
	room, _, err := h.svc.Room(r.Context(), r.PathValue("room"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	vs, err := h.svc.Invitations(r.Context(), room.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]InvitationJSON, len(vs))
	for i, v := range vs {
		out[i] = h.invitation(r, room, v)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) createInvitation(w http.ResponseWriter, r *http.Request) {
	var q invitationRequest
	if !h.decode(w, r, &q) {
		return
	}
	if credentialFrom(r.Context()).Invitee() && guestlink.RoleOrViewer(q.Role) == guestlink.RoleModerator {
		writeError(w, http.StatusForbidden, "forbidden", "a moderator who came in by an invitation may invite viewers and speakers, not moderators", "role")
		return
	}
	lang, ok := h.checkEmailRequest(w, r, q)
	if !ok {
		return
	}
	v, err := h.svc.CreateInvitation(r.Context(), r.PathValue("room"), q.spec())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	room, _, err := h.svc.Room(r.Context(), v.RoomID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := InvitationCreatedJSON{InvitationJSON: h.invitation(r, room, v)}
	if q.SendEmail {
		out.EmailDelivery = h.sendInvitation(r, room, v, out.URL, lang)
	}
	w.Header().Set("Location", "invitations/"+v.ID)
	writeJSON(w, http.StatusCreated, out)
}

func (h *Handler) deleteInvitation(w http.ResponseWriter, r *http.Request) {
	h.noContent(w, r, h.svc.DeleteInvitation(r.Context(), r.PathValue("room"), r.PathValue("id")))
}

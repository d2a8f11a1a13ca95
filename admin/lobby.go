package admin

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/guestgate/guestgate/guestlink"
)

// GuestJSON is a guest as the lobby and the guest list show it.
type GuestJSON struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Email        string     `json:"email"`
	LinkID       string     `json:"link_id"`
	LinkName     string     `json:"link_name"`
	State        string     `json:"state"`
	Role         string     `json:"role"`
	RedeemedAt   time.Time  `json:"redeemed_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	WaitingSince *time.Time `json:"waiting_since,omitempty"`
	// Blocked says why an admitted or waiting guest can no longer get in, in
	// the guest list: "room-unavailable", "guest-access-off" or
	// "link-deleted" (the link or invitation), in that order of precedence,
	// as the gate judges a session (guestlink.CheckSession: guest access off
	// keeps invitees in); absent when they can, and for guests who are out
	// anyway (declined, removed, left).
	Blocked string `json:"blocked,omitempty"`
}

// Values of GuestJSON's Blocked.
const (
	BlockedRoomUnavailable = "room-unavailable"
	BlockedGuestAccessOff  = "guest-access-off"
	BlockedLinkDeleted     = "link-deleted"
)

// blocked returns the Blocked value of guest g of room, whose links and
// invitations are the ids in links.
func blocked(room guestlink.Room, links map[string]bool, g guestlink.Guest) string {
	if g.State != guestlink.StateAdmitted && g.State != guestlink.StateWaiting {
		return ""
	}
	err := guestlink.CheckSession(room, links[g.LinkID], g)
	switch {
	case errors.Is(err, guestlink.ErrRoomUnavailable):
		return BlockedRoomUnavailable
	case errors.Is(err, guestlink.ErrGuestAccessOff):
		return BlockedGuestAccessOff
	case errors.Is(err, guestlink.ErrLinkNotFound):
		return BlockedLinkDeleted
	}
	return ""
}

func toGuestJSON(g guestlink.Guest) GuestJSON {
	j := GuestJSON{
		ID: g.ID, Name: g.Name, Email: g.Email, LinkID: g.LinkID, LinkName: g.LinkName,
		State: g.State, Role: guestlink.RoleOrViewer(g.Role), RedeemedAt: g.RedeemedAt, UpdatedAt: g.UpdatedAt,
	}
	if g.State == guestlink.StateWaiting {
		t := g.RedeemedAt
		j.WaitingSince = &t
	}
	return j
}

func guestsJSON(gs []guestlink.Guest) []GuestJSON {
	out := make([]GuestJSON, 0, len(gs))
	for _, g := range gs {
		out = append(out, toGuestJSON(g))
	}
	return out
}

func (h *Handler) lobby(w http.ResponseWriter, r *http.Request) {
	gs, err := h.svc.Lobby(r.Context(), r.PathValue("room"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, guestsJSON(gs))
}

// putLobbyMessage is PUT /api/rooms/{room}/lobby/message {"text": "..."}: the
// message the room's waiting guests see on their lobby page ("" clears it),
// answered with the room. At most guestlink.MaxLobbyMessageLen characters, no
// line breaks or other control characters (422 with field "text").
func (h *Handler) putLobbyMessage(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Text *string `json:"text"`
	}
	if !h.decode(w, r, &body) {
		return
	}
	if body.Text == nil {
		writeError(w, http.StatusUnprocessableEntity, "invalid", `text is required ("" clears the message)`, "text")
		return
	}
	h.setLobbyMessage(w, r, *body.Text)
}

// deleteLobbyMessage is DELETE /api/rooms/{room}/lobby/message: clears it.
func (h *Handler) deleteLobbyMessage(w http.ResponseWriter, r *http.Request) {
	h.setLobbyMessage(w, r, "")
}

func (h *Handler) setLobbyMessage(w http.ResponseWriter, r *http.Request, text string) {
	room, err := h.svc.SetLobbyMessage(r.Context(), r.PathValue("room"), text)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.respondRoom(w, r, room.ID, http.StatusOK)
}

func (h *Handler) decide(to string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		g, err := h.svc.Decide(r.Context(), r.PathValue("room"), r.PathValue("guest"), to)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, toGuestJSON(g))
	}
}

func (h *Handler) admitAll(w http.ResponseWriter, r *http.Request) {
	gs, err := h.svc.AdmitAll(r.Context(), r.PathValue("room"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, AdmitAllJSON{Admitted: guestsJSON(gs), Count: len(gs)})
}

func (h *Handler) removeGuest(w http.ResponseWriter, r *http.Request) {
	_, err := h.svc.Decide(r.Context(), r.PathValue("room"), r.PathValue("guest"), guestlink.StateRemoved)
	h.noContent(w, r, err)
}

func (h *Handler) guests(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	room := r.PathValue("room")
	if q.Get("format") == "csv" {
		h.guestsCSV(w, r, room)
		return
	}
	var bad []FieldError
	if f := q.Get("format"); f != "" && f != "json" {
		bad = append(bad, FieldError{Field: "format", Message: "format must be json or csv"})
	}
	limit := guestlink.DefaultGuestPage
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > guestlink.MaxGuestPage {
			bad = append(bad, FieldError{Field: "limit", Message: "limit must be a whole number from 1 to " + strconv.Itoa(guestlink.MaxGuestPage)})
		}
		limit = n
	}
	if len(bad) > 0 {
		writeFieldErrors(w, http.StatusUnprocessableEntity, "invalid", bad)
		return
	}
	rm, links, err := h.svc.Room(r.Context(), room)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	gs, next, err := h.svc.Guests(r.Context(), room, limit, q.Get("cursor"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	invitations, err := h.svc.Invitations(r.Context(), room)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	have := make(map[string]bool, len(links)+len(invitations))
	for _, l := range links {
		have[l.ID] = true
	}
	for _, v := range invitations {
		have[v.ID] = true
	}
	out := guestsJSON(gs)
	for i, g := range gs {
		out[i].Blocked = blocked(rm, have, g)
	}
	writeJSON(w, http.StatusOK, GuestPageJSON{Guests: out, NextCursor: next})
}

// guestsCSV writes the whole guest list as CSV, newest first, with a header row.
// Every field is quoted, and a field that a spreadsheet would read as a formula
// gets a leading apostrophe (OWASP's CSV injection advice; see csvField).
func (h *Handler) guestsCSV(w http.ResponseWriter, r *http.Request, room string) {
	all, err := h.svc.AllGuests(r.Context(), room)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var b strings.Builder
	writeCSVRow(&b, "guest_id", "name", "email", "link_id", "link_name", "redeemed_at", "state", "role")
	for _, g := range all {
		writeCSVRow(&b, g.ID, g.Name, g.Email, g.LinkID, g.LinkName, g.RedeemedAt.Format(time.RFC3339), g.State, guestlink.RoleOrViewer(g.Role))
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="guests-`+room+`.csv"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(b.String()))
}

func writeCSVRow(b *strings.Builder, fields ...string) {
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(csvField(f))
	}
	b.WriteString("\r\n")
}

// csvField quotes f for CSV and defuses spreadsheet formulas: a field that
// starts with a tab or CR, or whose first visible character is =, +, - or @, gets
// a leading apostrophe. Spreadsheets trim or ignore leading white space and
// invisible characters before reading a formula, so "\u200b=HYPERLINK(...)" is
// as much a formula as "=HYPERLINK(...)": the guard looks
// past every leading rune for which invisible is true.
func csvField(f string) string {
	if formulaLike(f) {
		f = "'" + f
	}
	return `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
}

// formulaLike reports whether a spreadsheet could read f as a formula.
func formulaLike(f string) bool {
	if f != "" && (f[0] == '\t' || f[0] == '\r') {
		return true
	}
	for _, r := range f {
		if !invisible(r) {
			return strings.ContainsRune("=+-@", r)
		}
	}
	return false
}

// invisible reports whether r is white space or shows nothing: separators (Z:
// spaces such as NBSP and U+3000, line and paragraph separators), controls (Cc),
// format characters (Cf: zero-width space, joiners, U+FEFF, bidi marks), and the
// other default-ignorable code points (variation selectors, the Hangul fillers,
// U+034F and the like).
func invisible(r rune) bool {
	return unicode.In(r, unicode.Z, unicode.Cc, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

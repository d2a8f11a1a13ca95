package guestlink

import (
	"context"
	"time"
)

// Event types: one per state change, for audit logs and webhooks.
const (
	EventRoomPut     = "room.put"
	EventRoomDeleted = "room.deleted"
	EventAccessOn    = "access.on"
	EventAccessOff   = "access.off"
	EventLinkCreated = "link.created"
	EventLinkDeleted = "link.deleted"
	// EventInvitationCreated and EventInvitationDeleted concern an
	// invitation (Event.Invitation).
	EventInvitationCreated = "invitation.created"
	EventInvitationDeleted = "invitation.deleted"
	EventGuestRedeemed     = "guest.redeemed"
	EventGuestAdmitted     = "guest.admitted"
	EventGuestDeclined     = "guest.declined"
	EventGuestRemoved      = "guest.removed"
	EventGuestLeft         = "guest.left"
)

// EventTypes lists every event type.
var EventTypes = []string{
	EventRoomPut, EventRoomDeleted, EventAccessOn, EventAccessOff, EventLinkCreated, EventLinkDeleted,
	EventInvitationCreated, EventInvitationDeleted, EventGuestRedeemed, EventGuestAdmitted, EventGuestDeclined, EventGuestRemoved, EventGuestLeft,
}

// Event is one state change. It never holds a link token, a session token or
// a key.
type Event struct {
	// ID is unique per event (for webhook receivers to drop duplicates).
	ID string `json:"id"`
	// Type is one of the Event* constants.
	Type string `json:"type"`
	// Time is when the change committed (UTC).
	Time time.Time `json:"time"`
	// Room is the room's id; Link and Guest the link's and guest's ids, when the
	// event concerns one.
	Room  string `json:"room"`
	Link  string `json:"link,omitempty"`
	Guest string `json:"guest,omitempty"`
	// Invitation is the invitation's id, for invitation events and for the
	// events of a guest who came in by one (then Link is empty).
	Invitation string `json:"invitation,omitempty"`
	// Actor says who made the change: "api-key:<fingerprint>", "moderator:<sub>",
	// "admin-endpoint", "config" for a room made at start-up, or "guest" for the
	// guest's own redemption and leaving.
	Actor string `json:"actor"`
	// GuestName and GuestEmail are the guest's, for guest events; consumers decide
	// whether to pass them on (audit_emails).
	GuestName  string `json:"guest_name,omitempty"`
	GuestEmail string `json:"guest_email,omitempty"`
	// Role is the guest's role, for guest events, and the link's, for
	// link.created.
	Role string `json:"role,omitempty"`
}

type actorKey struct{}

// WithActor returns ctx carrying who acts (see Event.Actor).
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor WithActor put into ctx, or "".
func ActorFrom(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

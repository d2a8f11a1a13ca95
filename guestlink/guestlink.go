// Package guestlink is the domain of guestgate: rooms, their guest access switch,
// guest links, guests and the redemption rules, and the Store interface that keeps
// them. It knows nothing of HTTP or Caddy; the clock is always passed in.
//
// The rules are those of docs/DESIGN.md section 1: at most 3 links per room
// (configurable), a link name of 1 to 80 characters, an optional click limit of at
// least 1, an optional duration of 1 to 365 days, no guest access for gallery
// rooms, no new link while guest access is off.
package guestlink

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"strings"
	"time"
)

// Room kinds. Guest access is not supported for gallery rooms (media galleries).
const (
	KindRoom    = "room"
	KindGallery = "gallery"
)

// Admission modes: "auto" sends a guest straight to the room after the entry form,
// "moderator" makes them wait in the lobby until a moderator admits them.
const (
	AdmissionAuto      = "auto"
	AdmissionModerator = "moderator"
)

// Roles of a guest session (docs/DESIGN.md section 7). A shared guest link gives
// RoleViewer (its default) or RoleSpeaker, never RoleModerator.
const (
	RoleViewer    = "viewer"
	RoleSpeaker   = "speaker"
	RoleModerator = "moderator"
)

// Roles lists every role, in the order of their rights.
var Roles = []string{RoleViewer, RoleSpeaker, RoleModerator}

// RoleOrViewer is role, or RoleViewer for "" (a link, guest or session made
// before roles existed).
func RoleOrViewer(role string) string {
	if role == "" {
		return RoleViewer
	}
	return role
}

// Guest states, as the guest list shows them.
const (
	StateWaiting  = "waiting"
	StateAdmitted = "admitted"
	StateDeclined = "declined"
	StateRemoved  = "removed"
	StateLeft     = "left"
)

// Limits of docs/DESIGN.md sections 1 and 7.
const (
	// DefaultMaxLinks is the product's "Up to 3 guest links"; configurable with max_links.
	DefaultMaxLinks = 3
	// MaxRoomIDLen is the longest room id (1-64 chars of [A-Za-z0-9._-]).
	MaxRoomIDLen = 64
	// MaxRoomNameLen bounds a room's display name, in characters.
	MaxRoomNameLen = 200
	// MaxLinkNameLen is the longest link name, in characters (1-80).
	MaxLinkNameLen = 80
	// MaxDurationDays is the longest link duration, in days (1-365).
	MaxDurationDays = 365
	// MaxNotBeforeAhead is how far ahead a link's opening time may be.
	MaxNotBeforeAhead = 365 * 24 * time.Hour
	// MaxGuestNameLen is the longest guest name, in characters after trimming.
	MaxGuestNameLen = 100
	// MaxEmailLen is the longest email address, in bytes (RFC 5321 path limit).
	MaxEmailLen = 254
	// MaxLobbyMessageLen is the longest lobby message, in characters after
	// trimming (docs/DESIGN.md section 10).
	MaxLobbyMessageLen = 280
)

// Room is a live room guests can be let into.
type Room struct {
	// ID is 1-64 chars of [A-Za-z0-9._-], case-sensitive, compared byte for byte.
	ID string `json:"id"`
	// Name is the display name shown to guests.
	Name string `json:"name"`
	// Kind is KindRoom or KindGallery.
	Kind string `json:"kind"`
	// Available is false while the room backend says the room cannot be joined.
	Available bool `json:"available"`
	// Admission is AdmissionAuto or AdmissionModerator.
	Admission string `json:"admission"`
	// GuestAccess is the "Enable guest access" switch; off by default.
	GuestAccess bool `json:"guest_access"`
	// LobbyMessage is what a moderator tells the guests waiting in the lobby
	// ("we start at 10:05"), at most MaxLobbyMessageLen characters; "" for
	// none. It is cleared when the lobby empties.
	LobbyMessage string `json:"lobby_message,omitempty"`
	// CreatedAt and UpdatedAt are set by the store's caller (UTC).
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Link is a guest link of a room. The same link serves every guest.
type Link struct {
	// ID is the public, short identifier used by the API; not a secret.
	ID string `json:"id"`
	// RoomID is the room the link opens.
	RoomID string `json:"room_id"`
	// Name helps the moderator tell links apart ("Guest speakers").
	Name string `json:"name"`
	// Token is the secret part of the link URL: TokenLen chars of base64url, 192
	// random bits. It is never logged.
	Token string `json:"token"`
	// MaxClicks is the number of redemptions allowed; 0 means unlimited.
	MaxClicks int `json:"max_clicks,omitempty"`
	// Clicks counts successful redemptions.
	Clicks int `json:"clicks"`
	// CreatedAt is when the link was made (UTC).
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is CreatedAt + days x 24h; zero means the link never expires.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Role is what the link's guests may do: RoleViewer or RoleSpeaker ("" in
	// links made before roles, which are RoleViewer: see RoleOrViewer).
	Role string `json:"role,omitempty"`
	// NotBefore is when the link opens; zero means it is open from its
	// creation. Before it, no click can be spent.
	NotBefore time.Time `json:"not_before,omitzero"`
}

// NotYetOpen reports whether the link opens only after now.
func (l Link) NotYetOpen(now time.Time) bool {
	return !l.NotBefore.IsZero() && now.Before(l.NotBefore)
}

// Expired reports whether the link's duration has run out at now.
func (l Link) Expired(now time.Time) bool {
	return !l.ExpiresAt.IsZero() && !now.Before(l.ExpiresAt)
}

// UsedUp reports whether every allowed click was spent.
func (l Link) UsedUp() bool {
	return l.MaxClicks > 0 && l.Clicks >= l.MaxClicks
}

// Guest is one redemption of a link: a person who gave a name and an email.
type Guest struct {
	// ID identifies the guest; it is the session's subject and X-Guest-Id upstream.
	ID string `json:"id"`
	// RoomID and LinkID say where the guest came in; LinkName is kept so that the
	// guest list still reads well after the link is deleted.
	RoomID   string `json:"room_id"`
	LinkID   string `json:"link_id"`
	LinkName string `json:"link_name"`
	// Name and Email are as the guest typed them (trimmed); the email is not verified.
	Name  string `json:"name"`
	Email string `json:"email"`
	// Role is the role the guest came in with, the link's ("" in guests
	// stored before roles, who are viewers: see RoleOrViewer).
	Role string `json:"role,omitempty"`
	// State is one of the State* constants.
	State string `json:"state"`
	// RedeemedAt is when the entry form was accepted (UTC).
	RedeemedAt time.Time `json:"redeemed_at"`
	// UpdatedAt is when State last changed (UTC).
	UpdatedAt time.Time `json:"updated_at"`
	// LastSeen is when the guest's lobby page last asked for its status, at
	// SeenInterval grain (UTC); the redemption counts as seen.
	LastSeen time.Time `json:"last_seen"`
	// PurgeAt is when the record, with its personal data, is deleted from the
	// store (RedeemedAt + retention); zero keeps it.
	PurgeAt time.Time `json:"purge_at,omitzero"`
}

// TokenLen is the length of a link token: 24 random bytes in base64url without
// padding (192 bits, above the 128-bit floor of docs/DESIGN.md section 2).
const TokenLen = 32

// NewToken returns a fresh link token.
func NewToken() string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("guestlink: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// WellFormedToken reports whether s has the shape of a link token (TokenLen
// base64url characters), so that a malformed token is refused before any store read.
func WellFormedToken(s string) bool {
	if len(s) != TokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random identifier for a link or a guest: 16 lowercase base32
// characters (80 bits), prefixed with kind ("l" for links, "g" for guests) and "_".
func NewID(kind string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("guestlink: crypto/rand failed: " + err.Error())
	}
	return kind + "_" + idEncoding.EncodeToString(b[:])
}

// ValidID reports whether id has the shape of an id made by NewID with kind.
func ValidID(kind, id string) bool {
	rest, ok := strings.CutPrefix(id, kind+"_")
	if !ok || len(rest) != 16 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

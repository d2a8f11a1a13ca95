package guestlink

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of invitations (docs/DESIGN.md section 8).
const (
	// DefaultMaxInvitations is how many invitations a room may have;
	// configurable with max_invitations.
	DefaultMaxInvitations = 100
	// DefaultInvitationHours is an invitation's validity when none is given.
	DefaultInvitationHours = 24
	// MaxInvitationHours is the longest validity of an invitation (365 days).
	MaxInvitationHours = 8760
	// DefaultInvitationUses is how often an invitation may be used when no
	// max_uses is given: once.
	DefaultInvitationUses = 1
)

// Invitation is a personal link for one person: it lets in only who types the
// invited email, with the invitation's role, at most MaxUses times. Its URL
// has the path of a guest link's, {prefix}/{token}.
type Invitation struct {
	// ID is the public identifier ("i_" and 16 base32 characters); a guest
	// who came in by an invitation has it as LinkID.
	ID string `json:"id"`
	// RoomID is the room the invitation opens.
	RoomID string `json:"room_id"`
	// Token is the secret part of the URL, as a link's (TokenLen characters,
	// 192 random bits). It is never logged.
	Token string `json:"token"`
	// Email is the invited address as the moderator typed it (trimmed);
	// compared case-insensitively with what the invitee types. It is never
	// shown on the invitation's page.
	Email string `json:"email"`
	// Name is the invitee's name, filled in on the entry page.
	Name string `json:"name"`
	// Role is RoleViewer, RoleSpeaker or RoleModerator.
	Role string `json:"role"`
	// MaxUses is how many redemptions are allowed; 0 means unlimited.
	MaxUses int `json:"max_uses,omitempty"`
	// Uses counts successful redemptions.
	Uses int `json:"uses"`
	// CreatedAt is when the invitation was made (UTC); ExpiresAt is
	// CreatedAt + the duration in hours: an invitation always expires.
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// NotBefore is when the invitation opens; zero: at once.
	NotBefore time.Time `json:"not_before,omitzero"`
}

// Expired reports whether the invitation's validity ran out at now.
func (v Invitation) Expired(now time.Time) bool { return !now.Before(v.ExpiresAt) }

// UsedUp reports whether every allowed use was spent.
func (v Invitation) UsedUp() bool { return v.MaxUses > 0 && v.Uses >= v.MaxUses }

// NotYetOpen reports whether the invitation opens only after now.
func (v Invitation) NotYetOpen(now time.Time) bool {
	return !v.NotBefore.IsZero() && now.Before(v.NotBefore)
}

// IsInvitation reports whether id, a guest's LinkID, names an invitation
// rather than a guest link.
func IsInvitation(id string) bool { return strings.HasPrefix(id, "i_") }

// InvitationSpec is what a moderator gives for a new invitation
// (POST .../invitations).
type InvitationSpec struct {
	// Email is required: one bare address, as a guest's.
	Email string `json:"email"`
	// Name is required, 1 to MaxGuestNameLen characters.
	Name string `json:"name"`
	// Role is RoleViewer (the default, for ""), RoleSpeaker or RoleModerator.
	Role string `json:"role"`
	// MaxUses is at least 1; nil leaves the default (DefaultInvitationUses)
	// unless Unlimited is set.
	MaxUses *int `json:"-"`
	// Unlimited is true for "max_uses": null: no limit.
	Unlimited bool `json:"-"`
	// DurationHours is 1 to MaxInvitationHours; nil is
	// DefaultInvitationHours.
	DurationHours *int `json:"duration_hours"`
	// NotBefore is optional: before the expiry, at most MaxNotBeforeAhead
	// ahead.
	NotBefore *time.Time `json:"not_before"`
}

// NewInvitation validates s and returns the invitation it describes for room
// at now, with a new id and token. Errors are *ValidationError, or
// ValidationErrors for several fields (in the order email, name, role,
// max_uses, duration_hours, not_before).
func (s InvitationSpec) NewInvitation(roomID string, now time.Time) (Invitation, error) {
	var errs fieldErrors
	// The guest-facing sentences of the entry form become the API's.
	email, bad := normalizeEmail(s.Email)
	if bad != nil {
		bad.Message = fmt.Sprintf("must be one email address of at most %d bytes, like name@example.com", MaxEmailLen)
	}
	errs.add(bad)
	name, bad := normalizeGuestName(s.Name)
	if bad != nil {
		bad.Message = fmt.Sprintf("is required: 1 to %d characters without control characters", MaxGuestNameLen)
	}
	errs.add(bad)
	role := RoleOrViewer(s.Role)
	switch role {
	case RoleViewer, RoleSpeaker, RoleModerator:
	default:
		errs.add(invalid("role", "must be %q, %q or %q", RoleViewer, RoleSpeaker, RoleModerator))
	}
	uses := DefaultInvitationUses
	switch {
	case s.Unlimited:
		uses = 0
	case s.MaxUses != nil && *s.MaxUses < 1:
		errs.add(invalid("max_uses", "must be at least 1, or null for unlimited"))
	case s.MaxUses != nil:
		uses = *s.MaxUses
	}
	hours := DefaultInvitationHours
	if s.DurationHours != nil {
		hours = *s.DurationHours
		if hours < 1 || hours > MaxInvitationHours {
			errs.add(invalid("duration_hours", "must be between 1 and %d hours", MaxInvitationHours))
		}
	}
	created := now.UTC()
	expires := created.Add(time.Duration(hours) * time.Hour)
	notBefore, bad := openingTime(s.NotBefore, created, expires)
	errs.add(bad)
	if err := errs.err(); err != nil {
		return Invitation{}, err
	}
	return Invitation{
		ID: NewID("i"), RoomID: roomID, Token: NewToken(), Email: email, Name: name, Role: role,
		MaxUses: uses, CreatedAt: created, ExpiresAt: expires, NotBefore: notBefore,
	}, nil
}

// openingTime checks an opening time nb given at created for something that
// expires at expires (zero: never): at most MaxNotBeforeAhead ahead and before
// the expiry. A time not after created is no opening time (zero).
func openingTime(nb *time.Time, created, expires time.Time) (time.Time, *ValidationError) {
	if nb == nil {
		return time.Time{}, nil
	}
	t := nb.UTC().Truncate(time.Second)
	switch {
	case t.After(created.Add(MaxNotBeforeAhead)):
		return time.Time{}, invalid("not_before", "must be at most %d days ahead", MaxDurationDays)
	case !expires.IsZero() && !t.Before(expires):
		return time.Time{}, invalid("not_before", "must be before it expires (%s)", expires.Format(time.RFC3339))
	case !t.After(created):
		return time.Time{}, nil // already open
	}
	return t, nil
}

// SameEmail reports whether typed, what an invitee typed, is the invited
// address: equal after trimming, ignoring the case of ASCII letters only.
// Unicode folding (strings.EqualFold) would also take the Kelvin sign U+212A
// for 'k' and the long s U+017F for 's', and let in an address nobody
// invited, which the guest record and the identity headers then carry.
func (v Invitation) SameEmail(typed string) bool {
	typed = strings.TrimSpace(typed)
	if len(typed) != len(v.Email) || !utf8.ValidString(typed) {
		return false
	}
	for i := 0; i < len(typed); i++ {
		if lowerASCII(typed[i]) != lowerASCII(v.Email[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// CheckNewInvitation says whether r, which has existing invitations, may get
// one more: not for gallery rooms, not beyond maxInvitations. Guest access
// may be off: it governs the shared links only.
func CheckNewInvitation(r Room, existing, maxInvitations int) error {
	switch {
	case r.Kind == KindGallery:
		return ErrGalleryRoom
	case existing >= maxInvitations:
		return ErrInvitationLimit
	}
	return nil
}

// CheckInvitationOpen says whether invitation v of room r may be used at now:
// the room first, then the invitation itself. The guest access switch does
// not matter.
func CheckInvitationOpen(r Room, v Invitation, now time.Time) error {
	switch {
	case !r.Available:
		return ErrRoomUnavailable
	case r.Kind == KindGallery:
		return ErrGalleryRoom
	}
	return checkSpendable(v, now)
}

package guestlink

import (
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ValidRoomID reports whether id is 1-64 chars of [A-Za-z0-9._-] and not "." or
// ".." (which would read as dot segments in a room path).
func ValidRoomID(id string) bool {
	if id == "" || len(id) > MaxRoomIDLen || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// RoomSpec is what a caller may set on a room (PUT /api/rooms/{room}).
type RoomSpec struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Available *bool  `json:"available"`
	Admission string `json:"admission"`
}

// Normalize validates s and fills defaults: kind "room", available true, admission
// "auto". Errors are *ValidationError, or ValidationErrors for several fields.
func (s RoomSpec) Normalize(id string) (RoomSpec, error) {
	var errs fieldErrors
	if !ValidRoomID(id) {
		errs.add(invalid("id", "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'"))
	}
	s.Name = strings.TrimSpace(s.Name)
	if s.Name == "" {
		s.Name = id
	}
	if n := utf8.RuneCountInString(s.Name); n > MaxRoomNameLen || !utf8.ValidString(s.Name) || hasControl(s.Name) {
		errs.add(invalid("name", "must be at most %d characters without control characters", MaxRoomNameLen))
	}
	var bad *ValidationError
	s.Kind, bad = either("kind", s.Kind, KindRoom, KindGallery)
	errs.add(bad)
	if s.Available == nil {
		t := true
		s.Available = &t
	}
	s.Admission, bad = either("admission", s.Admission, AdmissionAuto, AdmissionModerator)
	errs.add(bad)
	return s, errs.err()
}

// either returns the value v of field: def when v is empty, v when it is def
// or other; and the field's error otherwise, nil if there is none.
func either(field, v, def, other string) (string, *ValidationError) {
	switch v {
	case "":
		return def, nil
	case def, other:
		return v, nil
	}
	return v, invalid(field, "must be %q or %q", def, other)
}

// Apply returns r updated with the normalized spec s at now. The guest access switch
// is kept; a room that becomes a gallery has it switched off.
func (s RoomSpec) Apply(r Room, id string, now time.Time) Room {
	if r.ID == "" {
		r.ID = id
		r.CreatedAt = now
	}
	r.Name, r.Kind, r.Available, r.Admission = s.Name, s.Kind, *s.Available, s.Admission
	if r.Kind == KindGallery {
		r.GuestAccess = false
	}
	r.UpdatedAt = now
	return r
}

// LinkSpec is what a moderator gives for a new link (POST .../links).
type LinkSpec struct {
	// Name is required, 1-80 characters.
	Name string `json:"name"`
	// MaxClicks is optional, at least 1; nil means unlimited.
	MaxClicks *int `json:"max_clicks"`
	// DurationDays is optional, 1-365; nil means the link never expires.
	DurationDays *int `json:"duration_days"`
	// Role is RoleViewer (the default, for "") or RoleSpeaker; a shared link
	// never gives RoleModerator.
	Role string `json:"role"`
	// NotBefore is optional: when the link opens, not after it expires and at
	// most MaxNotBeforeAhead after its creation.
	NotBefore *time.Time `json:"not_before"`
}

// NewLink validates s and returns the link it describes for room at now, with a new
// id and token. Errors are *ValidationError, or ValidationErrors when several
// fields are wrong (every one is reported, in the order name, max_clicks,
// duration_days, role, not_before).
func (s LinkSpec) NewLink(roomID string, now time.Time) (Link, error) {
	var errs fieldErrors
	name := strings.TrimSpace(s.Name)
	switch {
	case name == "":
		errs.add(invalid("name", "is required"))
	case !utf8.ValidString(name) || hasControl(name):
		errs.add(invalid("name", "must not contain control characters"))
	case utf8.RuneCountInString(name) > MaxLinkNameLen:
		errs.add(invalid("name", "must be at most %d characters", MaxLinkNameLen))
	}
	if s.MaxClicks != nil && *s.MaxClicks < 1 {
		errs.add(invalid("max_clicks", "must be at least 1, or left out for unlimited"))
	}
	if d := s.DurationDays; d != nil && (*d < 1 || *d > MaxDurationDays) {
		errs.add(invalid("duration_days", "must be between 1 and %d days, or left out for no expiry", MaxDurationDays))
	}
	role := RoleOrViewer(s.Role)
	switch role {
	case RoleViewer, RoleSpeaker:
	case RoleModerator:
		errs.add(invalid("role", "a guest link cannot give %q: it is shared; invite the person instead", RoleModerator))
	default:
		errs.add(invalid("role", "must be %q or %q", RoleViewer, RoleSpeaker))
	}
	created := now.UTC()
	var expires time.Time
	if s.DurationDays != nil {
		expires = created.Add(time.Duration(*s.DurationDays) * 24 * time.Hour)
	}
	notBefore, bad := openingTime(s.NotBefore, created, expires)
	errs.add(bad)
	if err := errs.err(); err != nil {
		return Link{}, err
	}
	l := Link{ID: NewID("l"), RoomID: roomID, Name: name, Token: NewToken(), CreatedAt: created,
		ExpiresAt: expires, Role: role, NotBefore: notBefore}
	if s.MaxClicks != nil {
		l.MaxClicks = *s.MaxClicks
	}
	return l, nil
}

// CheckGuestAccess says whether guest access may be switched on for r.
func CheckGuestAccess(r Room, on bool) error {
	if on && r.Kind == KindGallery {
		return ErrGalleryRoom
	}
	return nil
}

// WithGuestAccess returns r with guest access switched on or off at now
// (UpdatedAt now), as Store.SetGuestAccess writes it, or CheckGuestAccess's
// error.
func (r Room) WithGuestAccess(on bool, now time.Time) (Room, error) {
	if err := CheckGuestAccess(r, on); err != nil {
		return Room{}, err
	}
	r.GuestAccess, r.UpdatedAt = on, now
	return r, nil
}

// CheckNewLink says whether r, which has existing links, may get one more:
// not for gallery rooms, not while guest access is off, not beyond maxLinks.
func CheckNewLink(r Room, existing, maxLinks int) error {
	switch {
	case r.Kind == KindGallery:
		return ErrGalleryRoom
	case !r.GuestAccess:
		return ErrGuestAccessOff
	case existing >= maxLinks:
		return ErrLinkLimit
	}
	return nil
}

// CheckLinkOpen says whether a guest may use link l of room r at now, in the order
// a guest should learn it: the room first, then the switch, then the link itself.
// It is the rule for showing the entry page and, inside the redemption's
// transaction, for spending a click.
func CheckLinkOpen(r Room, l Link, now time.Time) error {
	switch {
	case !r.Available:
		return ErrRoomUnavailable
	case r.Kind == KindGallery || !r.GuestAccess:
		return ErrGuestAccessOff
	}
	return checkSpendable(l, now)
}

// spendable is what a link and an invitation share: an opening time, an
// expiry and a limit of uses.
type spendable interface {
	NotYetOpen(now time.Time) bool
	Expired(now time.Time) bool
	UsedUp() bool
}

// checkSpendable says whether x itself may be used at now, after its room
// was found open, in the order a guest should learn it: ErrLinkNotYetOpen,
// ErrLinkExpired, ErrLinkUsedUp.
func checkSpendable[T spendable](x T, now time.Time) error {
	switch {
	case x.NotYetOpen(now):
		return ErrLinkNotYetOpen
	case x.Expired(now):
		return ErrLinkExpired
	case x.UsedUp():
		return ErrLinkUsedUp
	}
	return nil
}

// CheckSession is the live-state rule for a guest already holding a session: the
// room is available, guest access is on (unless the guest came in by an
// invitation, g.LinkID, which the switch does not govern), the link still exists (linkFound) and the
// guest was neither removed nor declined and did not leave. An expired or used-up link does not end
// sessions made before (docs/DESIGN.md section 1).
func CheckSession(r Room, linkFound bool, g Guest) error {
	switch {
	case !r.Available:
		return ErrRoomUnavailable
	case r.Kind == KindGallery || !r.GuestAccess && !IsInvitation(g.LinkID):
		return ErrGuestAccessOff
	case !linkFound:
		return ErrLinkNotFound
	case g.State == StateRemoved:
		return ErrGuestRemoved
	case g.State == StateDeclined:
		return ErrGuestDeclined
	case g.State == StateLeft:
		return ErrGuestLeft
	}
	return nil
}

// GuestInput is what a guest types on the entry page.
type GuestInput struct {
	Name  string
	Email string
}

// Normalize trims and validates the input: the name is 1-100 characters without
// control characters; the email parses as one bare address with net/mail, has a
// dot in its domain ("name@example" is refused: guests mistype the end of their
// address far more often than anyone uses a dotless domain), is at most 254
// bytes and has no CR, LF, NUL or other control characters. Errors are
// *ValidationError with field "name" or "email", or ValidationErrors when both
// are wrong.
func (in GuestInput) Normalize() (GuestInput, error) {
	name, nameErr := normalizeGuestName(in.Name)
	email, emailErr := normalizeEmail(in.Email)
	var errs fieldErrors
	errs.add(nameErr)
	errs.add(emailErr)
	if err := errs.err(); err != nil {
		return in, err
	}
	return GuestInput{Name: name, Email: email}, nil
}

// normalizeGuestName trims and checks a guest's name.
func normalizeGuestName(name string) (string, *ValidationError) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", invalidAs(CodeRequired, "name", "Please enter your name.")
	case !utf8.ValidString(name) || hasControl(name):
		return "", invalidAs(CodeInvalidChars, "name", "Your name contains characters that are not allowed.")
	case utf8.RuneCountInString(name) > MaxGuestNameLen:
		return "", invalidAs(CodeTooLong, "name", "Your name must be at most %d characters.", MaxGuestNameLen)
	}
	return name, nil
}

// normalizeEmail trims and checks a guest's email address.
func normalizeEmail(email string) (string, *ValidationError) {
	email = strings.TrimSpace(email)
	switch {
	case email == "":
		return "", invalidAs(CodeRequired, "email", "Please enter your email address.")
	case len(email) > MaxEmailLen:
		return "", invalidAs(CodeTooLong, "email", "The email address must be at most %d characters.", MaxEmailLen)
	case !utf8.ValidString(email) || hasControl(email):
		return "", invalidAs(CodeInvalidChars, "email", "The email address contains characters that are not allowed.")
	}
	addr, err := mail.ParseAddress(email)
	// Only a bare address is accepted: "Name <a@b>" and quoted local parts would
	// carry display text and quotes into headers and lists.
	if err != nil || addr.Address != email || addr.Name != "" || strings.ContainsAny(email, "\"<> ") {
		return "", invalidAs(CodeInvalidEmail, "email", "Please enter a valid email address, like name@example.com.")
	}
	if _, domain, _ := strings.Cut(email, "@"); !strings.Contains(domain, ".") {
		return "", invalidAs(CodeInvalidEmail, "email", "Please enter a valid email address, like name@example.com.")
	}
	return email, nil
}

// NormalizeLobbyMessage trims and checks a lobby message (field "text"): at
// most MaxLobbyMessageLen characters, valid UTF-8, no control characters (no
// line breaks either: the lobby shows one paragraph). "" clears the message.
func NormalizeLobbyMessage(text string) (string, error) {
	text = strings.TrimSpace(text)
	switch {
	case !utf8.ValidString(text) || hasControl(text):
		return "", invalidAs(CodeInvalidChars, "text", "The message contains characters that are not allowed (line breaks and control characters).")
	case utf8.RuneCountInString(text) > MaxLobbyMessageLen:
		return "", invalidAs(CodeTooLong, "text", "The message must be at most %d characters.", MaxLobbyMessageLen)
	}
	return text, nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return true
		}
	}
	return false
}

package guestlink

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. HTTP layers map them to status codes, API error codes and
// data-reason values in one place each (admin.apiErrors, entrypage.guestReasons).
var (
	// ErrRoomNotFound: no room with that id.
	ErrRoomNotFound = errors.New("room not found")
	// ErrRoomUnavailable: the room exists but is not available to guests.
	ErrRoomUnavailable = errors.New("room not available")
	// ErrLinkNotFound: no link with that id or token (unknown or deleted).
	ErrLinkNotFound = errors.New("link not found")
	// ErrInvitationNotFound: no invitation with that id or token.
	ErrInvitationNotFound = errors.New("invitation not found")
	// ErrInvitationLimit: the room already has max_invitations invitations.
	ErrInvitationLimit = errors.New("invitation limit reached")
	// ErrGuestNotFound: no guest with that id in that room.
	ErrGuestNotFound = errors.New("guest not found")
	// ErrLinkLimit: the room already has max_links links.
	ErrLinkLimit = errors.New("link limit reached")
	// ErrGuestAccessOff: the room's guest access switch is off.
	ErrGuestAccessOff = errors.New("guest access is off")
	// ErrGalleryRoom: guest access is not supported for gallery rooms.
	ErrGalleryRoom = errors.New("guest access is not supported for gallery rooms")
	// ErrLinkExpired: the link's duration has run out.
	ErrLinkExpired = errors.New("link expired")
	// ErrLinkNotYetOpen: the link opens later (its NotBefore).
	ErrLinkNotYetOpen = errors.New("link not yet open")
	// ErrLinkUsedUp: every click of the link was spent.
	ErrLinkUsedUp = errors.New("link used up")
	// ErrGuestRemoved: a moderator removed the guest.
	ErrGuestRemoved = errors.New("guest removed")
	// ErrGuestDeclined: a moderator declined the guest.
	ErrGuestDeclined = errors.New("guest declined")
	// ErrGuestLeft: the guest left (their session ended with /leave).
	ErrGuestLeft = errors.New("guest left")
	// ErrStoreUnavailable: the store cannot be reached (a database that is down
	// or cut off), or its live state is older than it may serve (max_stale);
	// the call may succeed later. Callers answer 503 with Retry-After
	// (docs/DESIGN.md section 6), never a refusal that would clear a cookie.
	ErrStoreUnavailable = errors.New("store unavailable")
)

// ValidationError is bad input for one field. It wraps no sentinel: it is always
// the caller's to fix. Input with several bad fields is ValidationErrors.
type ValidationError struct {
	// Field is the input field's name, as in the JSON API and the entry form.
	Field string
	// Message is a sentence for the person who typed the value, in English.
	Message string
	// Code says what is wrong, stable for translations and clients: "required",
	// "too_long", "invalid_chars", "invalid_email", or "invalid" for any other
	// rule.
	Code string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Message)
}

// ValidationErrors is bad input in several fields at once, one
// *ValidationError a field, in the order of the input's fields. Validators
// return it only for two or more fields (one is a plain *ValidationError), so
// that errors.As(err, &v) with v a *ValidationError finds the first field
// either way; FieldErrors lists them all.
type ValidationErrors []*ValidationError

func (e ValidationErrors) Error() string {
	msgs := make([]string, len(e))
	for i, v := range e {
		msgs[i] = v.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns the fields' errors, for errors.Is and errors.As.
func (e ValidationErrors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, v := range e {
		errs[i] = v
	}
	return errs
}

// FieldErrors returns every field error in err: the fields of a
// ValidationErrors, or the one *ValidationError; nil when err holds neither.
func FieldErrors(err error) []*ValidationError {
	var many ValidationErrors
	if errors.As(err, &many) {
		return many
	}
	var one *ValidationError
	if errors.As(err, &one) {
		return []*ValidationError{one}
	}
	return nil
}

// fieldErrors collects the field errors of one input, at most one a field.
type fieldErrors ValidationErrors

// add records v, one field's error, unless it is nil.
func (f *fieldErrors) add(v *ValidationError) {
	if v != nil {
		*f = append(*f, v)
	}
}

// err is nil, the one field's *ValidationError, or ValidationErrors.
func (f fieldErrors) err() error {
	switch len(f) {
	case 0:
		return nil
	case 1:
		return f[0]
	}
	return ValidationErrors(f)
}

func invalid(field, format string, args ...any) *ValidationError {
	return invalidAs(CodeInvalid, field, format, args...)
}

// invalidAs is invalid with a specific Code.
func invalidAs(code, field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...), Code: code}
}

// Codes of ValidationError.
const (
	CodeInvalid      = "invalid"
	CodeRequired     = "required"
	CodeTooLong      = "too_long"
	CodeInvalidChars = "invalid_chars"
	CodeInvalidEmail = "invalid_email"
	// CodeWrongEmail: an invitation's entry form got another address than
	// the invited one.
	CodeWrongEmail = "wrong_email"
)

// ErrAlreadyDecided: a moderator decision on a guest who was already decided the
// other way (admit after decline, decline after admit), or who left or was removed.
var ErrAlreadyDecided = errors.New("guest already decided")

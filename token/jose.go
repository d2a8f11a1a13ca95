package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
)

// Explicit typing and audiences (RFC 8725, sections 3.9 and 3.11): every JWT that
// guestgate makes says what kind of token it is in the JOSE header's "typ" and whom
// it is for in "aud", and every verifier checks both, so that a token of one kind
// never passes as another, even when an operator signs two kinds with one secret.
const (
	// SessionType is the "typ" of session tokens, the JWTs of the session cookie.
	SessionType = "guestgate-session+jwt"
	// SessionAudience is the "aud" of session tokens: the gateway itself. It
	// differs from every moderator audience guestgate uses by default.
	SessionAudience = "guestgate-session"
	// LegacyAudience is the "aud" of session tokens issued before they were
	// explicitly typed, whose "typ" is "JWT" or absent. Verify still accepts that
	// form when Config.LegacyAudience names it (see the package doc).
	LegacyAudience = "guestgate"

	// ModeratorType is the "typ" of the moderator tokens guestgate mints itself
	// (for the {prefix}/moderate page of a moderator session, still to come). The
	// moderator API accepts moderator tokens whose "typ" is this, "JWT", or absent.
	ModeratorType = "guestgate-moderator+jwt"
	// DefaultModeratorAudience is the audience moderator tokens must name when
	// they carry "aud" (guest_admin's moderator_audience, default "guestgate").
	DefaultModeratorAudience = "guestgate"
)

// TypeIs reports whether typ, the value of a JOSE header's "typ" parameter, names
// the media type want (such as "JWT" or SessionType). Media type names compare
// case-insensitively (ASCII only), and a "typ" without a '/' stands for
// "application/" followed by it (RFC 7515, section 4.1.9), so "JWT", "jwt" and
// "application/jwt" all name JWT. Media type parameters are not understood:
// "JWT; charset=x" names nothing.
func TypeIs(typ, want string) bool {
	return asciiEqualFold(mediaType(typ), mediaType(want))
}

// asciiEqualFold is strings.EqualFold for ASCII only: media type names are ASCII
// (RFC 6838, section 4.2), and Unicode folding would let "ſ" (U+017F) pass for "s".
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func mediaType(s string) string {
	if strings.Contains(s, "/") {
		return s
	}
	return "application/" + s
}

// ErrTypeNotString: a JOSE header's "typ" is present but not a string.
var ErrTypeNotString = errors.New("typ header parameter is not a string")

// HeaderType returns the "typ" parameter of a decoded JOSE header. present is
// false when there is none; a "typ" that is not a string (RFC 7515, section 4.1.9
// makes it one) is ErrTypeNotString.
func HeaderType(header map[string]any) (typ string, present bool, err error) {
	v, ok := header["typ"]
	if !ok {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", true, ErrTypeNotString
	}
	return s, true, nil
}

// ErrAudienceType: an "aud" claim is neither a string nor an array of strings.
var ErrAudienceType = errors.New("aud claim must be a string or an array of strings")

// Audience is an "aud" claim decoded strictly (RFC 7519, section 4.1.3): a string
// or an array of strings. Unlike jwt.ClaimStrings it tells a missing claim from an
// empty array: Present is true whenever the token has the claim, "aud": [] included,
// so a verifier can refuse an audience that names nobody instead of taking it for
// none. A number, a boolean, an object, or an array holding anything but strings
// is ErrAudienceType, which makes the whole token malformed. JSON null counts as
// absent, as golang-jwt and encoding/json take it.
type Audience struct {
	// Values are the audiences the claim names, in order.
	Values []string
	// Present says the token has the claim.
	Present bool
}

// UnmarshalJSON decodes a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*a = Audience{}
		return nil
	}
	var one string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &one); err != nil {
			return ErrAudienceType
		}
		*a = Audience{Values: []string{one}, Present: true}
		return nil
	}
	if len(b) == 0 || b[0] != '[' {
		return ErrAudienceType
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return ErrAudienceType
	}
	vals := make([]string, 0, len(raw))
	for _, r := range raw {
		// Each element must itself be a JSON string: null is not one.
		if r = bytes.TrimSpace(r); len(r) == 0 || r[0] != '"' {
			return ErrAudienceType
		}
		if err := json.Unmarshal(r, &one); err != nil {
			return ErrAudienceType
		}
		vals = append(vals, one)
	}
	*a = Audience{Values: vals, Present: true}
	return nil
}

// MarshalJSON encodes the audiences as an array of strings; with the field tag
// omitzero an absent claim is left out.
func (a Audience) MarshalJSON() ([]byte, error) {
	if a.Values == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(a.Values)
}

// IsZero reports whether the claim is absent (for the omitzero field tag).
func (a Audience) IsZero() bool { return !a.Present && len(a.Values) == 0 }

// Contains reports whether aud names want exactly (byte for byte, RFC 7519
// section 4.1.3 compares audiences as case-sensitive strings).
func (a Audience) Contains(want string) bool { return slices.Contains(a.Values, want) }

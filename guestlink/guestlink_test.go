package guestlink_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// t0 is the fake clock's fixed "now"; no test reads the real clock.
var t0 = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

// wantField checks that err is a *guestlink.ValidationError for field, or nil when
// field is "".
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("error %v, want none", err)
		}
		return
	}
	var ve *guestlink.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T), want a validation error for %q", err, err, field)
	}
	if ve.Field != field {
		t.Fatalf("error on field %q (%v), want field %q", ve.Field, err, field)
	}
	if ve.Message == "" {
		t.Error("validation error without a message")
	}
}

func TestNewToken(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		tok := guestlink.NewToken()
		if len(tok) != guestlink.TokenLen {
			t.Fatalf("token %q has length %d, want %d", tok, len(tok), guestlink.TokenLen)
		}
		if !guestlink.WellFormedToken(tok) {
			t.Fatalf("NewToken made %q, which WellFormedToken refuses", tok)
		}
		b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
		if err != nil || len(b) < 16 {
			t.Fatalf("token %q is not at least 128 bits of base64url: %d bytes, %v", tok, len(b), err)
		}
		if seen[tok] {
			t.Fatalf("token %q made twice", tok)
		}
		seen[tok] = true
	}
}

func TestWellFormedToken(t *testing.T) {
	good := "abcdefghijklmnopqrstuvwxyzAB09-_" // 32 characters of base64url
	if len(good) != guestlink.TokenLen {
		t.Fatalf("test setup: good token has length %d", len(good))
	}
	tests := []struct {
		name string
		s    string
		want bool
	}{
		{"good", good, true},
		{"all dashes and underscores", strings.Repeat("-_", 16), true},
		{"empty", "", false},
		{"one short", good[:31], false},
		{"one long", good + "A", false},
		{"twice as long", good + good, false},
		{"plus", "+" + good[1:], false},
		{"slash", good[:31] + "/", false},
		{"padding", good[:31] + "=", false},
		{"dot", good[:10] + "." + good[11:], false},
		{"dot-dot", ".." + good[2:], false},
		{"space", good[:16] + " " + good[17:], false},
		{"percent", "%2F" + good[3:], false},
		{"NUL", good[:31] + "\x00", false},
		{"newline", good[:31] + "\n", false},
		{"non-ASCII, 32 bytes", good[:30] + "é", false},
		{"fullwidth letter", good[:29] + "Ａ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := guestlink.WellFormedToken(tt.s); got != tt.want {
				t.Errorf("WellFormedToken(%q) = %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}

func TestNewIDAndValidID(t *testing.T) {
	seen := make(map[string]bool)
	for _, kind := range []string{"l", "g"} {
		for range 500 {
			id := guestlink.NewID(kind)
			if !strings.HasPrefix(id, kind+"_") || len(id) != len(kind)+1+16 {
				t.Fatalf("NewID(%q) = %q", kind, id)
			}
			if !guestlink.ValidID(kind, id) {
				t.Fatalf("ValidID(%q, %q) = false for an id NewID made", kind, id)
			}
			if seen[id] {
				t.Fatalf("id %q made twice", id)
			}
			seen[id] = true
		}
	}
	tests := []struct {
		kind, id string
		want     bool
	}{
		{"l", "l_abcdefghijklmnop", true},
		{"l", "l_234567abcdefghi", false}, // 15 characters
		{"l", "l_234567abcdefghij", true},
		{"l", "l_234567abcdefghijk", false}, // 17 characters
		{"l", "g_abcdefghijklmnop", false},  // another kind
		{"g", "l_abcdefghijklmnop", false},
		{"l", "abcdefghijklmnop", false},
		{"l", "l-abcdefghijklmnop", false},
		{"l", "l_ABCDEFGHIJKLMNOP", false},
		{"l", "l_abcdefghijklmno0", false}, // 0, 1, 8, 9 are not base32
		{"l", "l_abcdefghijklmno1", false},
		{"l", "l_abcdefghijklmno8", false},
		{"l", "l_abcdefghijklmno9", false},
		{"l", "l_abcdefghijklmno=", false},
		{"l", "l_abcdefghijklmno/", false},
		{"l", "", false},
	}
	for _, tt := range tests {
		if got := guestlink.ValidID(tt.kind, tt.id); got != tt.want {
			t.Errorf("ValidID(%q, %q) = %v, want %v", tt.kind, tt.id, got, tt.want)
		}
	}
}

func TestLinkExpired(t *testing.T) {
	tests := []struct {
		name      string
		expiresAt time.Time
		now       time.Time
		want      bool
	}{
		{"never expires", time.Time{}, t0.Add(100 * 365 * 24 * time.Hour), false},
		{"before", t0, t0.Add(-time.Nanosecond), false},
		{"exactly at expires_at", t0, t0, true},
		{"after", t0, t0.Add(time.Nanosecond), true},
		{"same instant in another zone", t0, t0.In(time.FixedZone("UTC+2", 2*3600)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := guestlink.Link{CreatedAt: t0.Add(-time.Hour), ExpiresAt: tt.expiresAt}
			if got := l.Expired(tt.now); got != tt.want {
				t.Errorf("Expired = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLinkUsedUp(t *testing.T) {
	tests := []struct {
		maxClicks, clicks int
		want              bool
	}{
		{0, 0, false}, // unlimited
		{0, 1_000_000, false},
		{1, 0, false},
		{1, 1, true},
		{3, 2, false},
		{3, 3, true},
		{3, 4, true}, // never N+1, but if it happened the link stays used up
	}
	for _, tt := range tests {
		l := guestlink.Link{MaxClicks: tt.maxClicks, Clicks: tt.clicks}
		if got := l.UsedUp(); got != tt.want {
			t.Errorf("max %d, clicks %d: UsedUp = %v, want %v", tt.maxClicks, tt.clicks, got, tt.want)
		}
	}
}

// TestInitialState protects the lobby's bypass: in a room where a moderator
// admits guests only viewers wait (and guests from before roles, who are
// viewers); speakers and moderators go straight in.
func TestInitialState(t *testing.T) {
	tests := []struct {
		admission, role, want string
	}{
		{guestlink.AdmissionAuto, guestlink.RoleViewer, guestlink.StateAdmitted},
		{guestlink.AdmissionAuto, guestlink.RoleSpeaker, guestlink.StateAdmitted},
		{guestlink.AdmissionModerator, guestlink.RoleViewer, guestlink.StateWaiting},
		{guestlink.AdmissionModerator, "", guestlink.StateWaiting},
		{guestlink.AdmissionModerator, guestlink.RoleSpeaker, guestlink.StateAdmitted},
		{guestlink.AdmissionModerator, guestlink.RoleModerator, guestlink.StateAdmitted},
	}
	for _, tt := range tests {
		if got := guestlink.InitialState(guestlink.Room{Admission: tt.admission}, tt.role); got != tt.want {
			t.Errorf("InitialState(%q, %q) = %q, want %q", tt.admission, tt.role, got, tt.want)
		}
	}
}

func TestValidationErrorMessage(t *testing.T) {
	err := error(&guestlink.ValidationError{Field: "name", Message: "is required"})
	if got, want := err.Error(), "invalid name: is required"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestGuestPageSize: the page size a Store's Guests serves for a limit, which
// the conformance suite checks the stores keep.
func TestGuestPageSize(t *testing.T) {
	for limit, want := range map[int]int{-1: 100, 0: 100, 1: 1, 999: 999, 1000: 1000, 1001: 1000} {
		if got := guestlink.GuestPageSize(limit); got != want {
			t.Errorf("GuestPageSize(%d) = %d, want %d", limit, got, want)
		}
	}
}

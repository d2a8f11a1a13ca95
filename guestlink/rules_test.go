package guestlink_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

func TestValidRoomID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"demo", true},
		{"a", true},
		{"Room-1_b.c", true},
		{"ABCxyz019", true},
		{"...", true},
		{".hidden", true},
		{strings.Repeat("r", 64), true},
		{strings.Repeat("r", 65), false},
		{"", false},
		{".", false},
		{"..", false},
		{"a/b", false},
		{"/demo", false},
		{"a b", false},
		{" demo", false},
		{"demo\n", false},
		{"demo\x00", false},
		{`a\b`, false},
		{"a%2Fb", false},
		{"a?b", false},
		{"a#b", false},
		{"a:b", false},
		{"räum", false},
		{"ｄｅｍｏ", false}, // fullwidth
		{"демо", false},
		{"demo\u200b", false}, // zero-width space
	}
	for _, tt := range tests {
		if got := guestlink.ValidRoomID(tt.id); got != tt.want {
			t.Errorf("ValidRoomID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestRoomSpecNormalize(t *testing.T) {
	tests := []struct {
		name      string
		id        string
		spec      guestlink.RoomSpec
		wantField string
		want      guestlink.RoomSpec // checked when wantField is ""
	}{
		{
			name: "defaults",
			id:   "demo",
			want: guestlink.RoomSpec{Name: "demo", Kind: guestlink.KindRoom, Available: new(true), Admission: guestlink.AdmissionAuto},
		},
		{
			name: "blank name is the id",
			id:   "demo",
			spec: guestlink.RoomSpec{Name: " \t "},
			want: guestlink.RoomSpec{Name: "demo", Kind: guestlink.KindRoom, Available: new(true), Admission: guestlink.AdmissionAuto},
		},
		{
			name: "everything set, name trimmed",
			id:   "gal",
			spec: guestlink.RoomSpec{Name: "  Photo gallery ", Kind: guestlink.KindGallery, Available: new(false), Admission: guestlink.AdmissionModerator},
			want: guestlink.RoomSpec{Name: "Photo gallery", Kind: guestlink.KindGallery, Available: new(false), Admission: guestlink.AdmissionModerator},
		},
		{
			name: "name of 200 characters",
			id:   "demo",
			spec: guestlink.RoomSpec{Name: strings.Repeat("é", guestlink.MaxRoomNameLen)},
			want: guestlink.RoomSpec{Name: strings.Repeat("é", guestlink.MaxRoomNameLen), Kind: guestlink.KindRoom, Available: new(true), Admission: guestlink.AdmissionAuto},
		},
		{name: "bad id", id: "a/b", wantField: "id"},
		{name: "empty id", id: "", wantField: "id"},
		{name: "dot-dot id", id: "..", wantField: "id"},
		{name: "name of 201 characters", id: "demo", spec: guestlink.RoomSpec{Name: strings.Repeat("é", guestlink.MaxRoomNameLen+1)}, wantField: "name"},
		{name: "name with a control character", id: "demo", spec: guestlink.RoomSpec{Name: "Demo\x1b[31m"}, wantField: "name"},
		{name: "name with a line separator", id: "demo", spec: guestlink.RoomSpec{Name: "Demo\u2028room"}, wantField: "name"},
		{name: "name not UTF-8", id: "demo", spec: guestlink.RoomSpec{Name: "Demo\xff"}, wantField: "name"},
		{name: "unknown kind", id: "demo", spec: guestlink.RoomSpec{Kind: "media"}, wantField: "kind"},
		{name: "kind in capitals", id: "demo", spec: guestlink.RoomSpec{Kind: "Gallery"}, wantField: "kind"},
		{name: "unknown admission", id: "demo", spec: guestlink.RoomSpec{Admission: "manual"}, wantField: "admission"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.spec.Normalize(tt.id)
			wantField(t, err, tt.wantField)
			if tt.wantField != "" {
				return
			}
			if got.Name != tt.want.Name || got.Kind != tt.want.Kind || got.Admission != tt.want.Admission ||
				got.Available == nil || *got.Available != *tt.want.Available {
				t.Errorf("Normalize = %+v (available %v), want %+v (available %v)", got, deref(got.Available), tt.want, *tt.want.Available)
			}
		})
	}
}

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

func TestRoomSpecApply(t *testing.T) {
	spec, err := guestlink.RoomSpec{Name: "Demo"}.Normalize("demo")
	if err != nil {
		t.Fatal(err)
	}
	r := spec.Apply(guestlink.Room{}, "demo", t0)
	if r.ID != "demo" || r.Name != "Demo" || r.Kind != guestlink.KindRoom || !r.Available ||
		r.Admission != guestlink.AdmissionAuto || r.GuestAccess || !r.CreatedAt.Equal(t0) || !r.UpdatedAt.Equal(t0) {
		t.Fatalf("new room = %+v", r)
	}

	// An update keeps the creation time and the guest access switch.
	r.GuestAccess = true
	later := t0.Add(time.Hour)
	spec2, err := guestlink.RoomSpec{Name: "Demo 2", Admission: guestlink.AdmissionModerator, Available: new(false)}.Normalize("demo")
	if err != nil {
		t.Fatal(err)
	}
	u := spec2.Apply(r, "demo", later)
	if u.Name != "Demo 2" || u.Available || u.Admission != guestlink.AdmissionModerator || !u.GuestAccess ||
		!u.CreatedAt.Equal(t0) || !u.UpdatedAt.Equal(later) {
		t.Fatalf("updated room = %+v", u)
	}

	// Becoming a gallery switches guest access off.
	spec3, err := guestlink.RoomSpec{Kind: guestlink.KindGallery}.Normalize("demo")
	if err != nil {
		t.Fatal(err)
	}
	if g := spec3.Apply(u, "demo", later); g.GuestAccess || g.Kind != guestlink.KindGallery {
		t.Fatalf("room turned gallery = %+v, want guest access off", g)
	}
}

func TestLinkSpecNewLink(t *testing.T) {
	tests := []struct {
		name      string
		spec      guestlink.LinkSpec
		wantField string
		wantName  string
		wantMax   int
		wantDays  int // 0: never expires
		wantRole  string
		wantOpen  time.Time // NotBefore; zero: open at once
	}{
		{name: "name only", spec: guestlink.LinkSpec{Name: "Guest speakers"}, wantName: "Guest speakers"},
		{name: "name trimmed", spec: guestlink.LinkSpec{Name: "  Guest speakers \t\n"}, wantName: "Guest speakers"},
		{name: "80 characters", spec: guestlink.LinkSpec{Name: strings.Repeat("a", 80)}, wantName: strings.Repeat("a", 80)},
		{name: "80 two-byte characters", spec: guestlink.LinkSpec{Name: strings.Repeat("é", 80)}, wantName: strings.Repeat("é", 80)},
		{name: "80 four-byte characters", spec: guestlink.LinkSpec{Name: strings.Repeat("🎤", 80)}, wantName: strings.Repeat("🎤", 80)},
		{name: "80 characters after trimming", spec: guestlink.LinkSpec{Name: "   " + strings.Repeat("é", 80) + "   "}, wantName: strings.Repeat("é", 80)},
		{name: "max_clicks 1", spec: guestlink.LinkSpec{Name: "x", MaxClicks: new(1)}, wantName: "x", wantMax: 1},
		{name: "max_clicks 500", spec: guestlink.LinkSpec{Name: "x", MaxClicks: new(500)}, wantName: "x", wantMax: 500},
		{name: "1 day", spec: guestlink.LinkSpec{Name: "x", DurationDays: new(1)}, wantName: "x", wantDays: 1},
		{name: "365 days", spec: guestlink.LinkSpec{Name: "x", DurationDays: new(365)}, wantName: "x", wantDays: 365},
		{name: "both limits", spec: guestlink.LinkSpec{Name: "x", MaxClicks: new(3), DurationDays: new(7)}, wantName: "x", wantMax: 3, wantDays: 7},
		{name: "speaker", spec: guestlink.LinkSpec{Name: "x", Role: "speaker"}, wantName: "x", wantRole: "speaker"},
		{name: "viewer said", spec: guestlink.LinkSpec{Name: "x", Role: "viewer"}, wantName: "x"},
		{name: "opens in an hour", spec: guestlink.LinkSpec{Name: "x", NotBefore: new(t0.Add(time.Hour))}, wantName: "x", wantOpen: t0.Add(time.Hour)},
		{name: "opens in another zone, to the second", spec: guestlink.LinkSpec{Name: "x", NotBefore: new(t0.Add(time.Hour + 300*time.Millisecond).In(time.FixedZone("IST", 5*3600+1800)))}, wantName: "x", wantOpen: t0.Add(time.Hour)},
		{name: "opens 365 days ahead", spec: guestlink.LinkSpec{Name: "x", NotBefore: new(t0.Add(365 * 24 * time.Hour))}, wantName: "x", wantOpen: t0.Add(365 * 24 * time.Hour)},
		{name: "opens a second before it expires", spec: guestlink.LinkSpec{Name: "x", DurationDays: new(1), NotBefore: new(t0.Add(24*time.Hour - time.Second))}, wantName: "x", wantDays: 1, wantOpen: t0.Add(24*time.Hour - time.Second)},
		{name: "opening time past: open at once", spec: guestlink.LinkSpec{Name: "x", NotBefore: new(t0.Add(-time.Hour))}, wantName: "x"},

		{name: "no name", spec: guestlink.LinkSpec{}, wantField: "name"},
		{name: "blank name", spec: guestlink.LinkSpec{Name: " \t\u00a0 "}, wantField: "name"},
		{name: "81 characters", spec: guestlink.LinkSpec{Name: strings.Repeat("a", 81)}, wantField: "name"},
		{name: "81 two-byte characters", spec: guestlink.LinkSpec{Name: strings.Repeat("é", 81)}, wantField: "name"},
		{name: "control character", spec: guestlink.LinkSpec{Name: "Guests\x00"}, wantField: "name"},
		{name: "newline inside", spec: guestlink.LinkSpec{Name: "Guest\nspeakers"}, wantField: "name"},
		{name: "not UTF-8", spec: guestlink.LinkSpec{Name: "Guests\xc3"}, wantField: "name"},
		{name: "max_clicks 0", spec: guestlink.LinkSpec{Name: "x", MaxClicks: new(0)}, wantField: "max_clicks"},
		{name: "max_clicks -1", spec: guestlink.LinkSpec{Name: "x", MaxClicks: new(-1)}, wantField: "max_clicks"},
		{name: "0 days", spec: guestlink.LinkSpec{Name: "x", DurationDays: new(0)}, wantField: "duration_days"},
		{name: "-1 days", spec: guestlink.LinkSpec{Name: "x", DurationDays: new(-1)}, wantField: "duration_days"},
		{name: "366 days", spec: guestlink.LinkSpec{Name: "x", DurationDays: new(366)}, wantField: "duration_days"},
		{name: "name checked first", spec: guestlink.LinkSpec{MaxClicks: new(0), DurationDays: new(0)}, wantField: "name"},
		{name: "moderator never by a shared link", spec: guestlink.LinkSpec{Name: "x", Role: "moderator"}, wantField: "role"},
		{name: "unknown role", spec: guestlink.LinkSpec{Name: "x", Role: "Speaker"}, wantField: "role"},
		{name: "opens more than 365 days ahead", spec: guestlink.LinkSpec{Name: "x", NotBefore: new(t0.Add(365*24*time.Hour + time.Second))}, wantField: "not_before"},
		{name: "opens when it expires", spec: guestlink.LinkSpec{Name: "x", DurationDays: new(1), NotBefore: new(t0.Add(24 * time.Hour))}, wantField: "not_before"},
		{name: "opens after it expires", spec: guestlink.LinkSpec{Name: "x", DurationDays: new(1), NotBefore: new(t0.Add(48 * time.Hour))}, wantField: "not_before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := tt.spec.NewLink("demo", t0)
			wantField(t, err, tt.wantField)
			if tt.wantField != "" {
				if l != (guestlink.Link{}) {
					t.Errorf("link %+v returned with an error", l)
				}
				return
			}
			if l.Name != tt.wantName {
				t.Errorf("name = %q, want %q", l.Name, tt.wantName)
			}
			if l.RoomID != "demo" {
				t.Errorf("room = %q", l.RoomID)
			}
			if !guestlink.ValidID("l", l.ID) {
				t.Errorf("id %q is not a link id", l.ID)
			}
			if !guestlink.WellFormedToken(l.Token) {
				t.Errorf("token %q is not well formed", l.Token)
			}
			if l.MaxClicks != tt.wantMax || l.Clicks != 0 {
				t.Errorf("max_clicks %d clicks %d, want %d and 0", l.MaxClicks, l.Clicks, tt.wantMax)
			}
			if !l.CreatedAt.Equal(t0) {
				t.Errorf("created_at = %v, want %v", l.CreatedAt, t0)
			}
			var wantExp time.Time
			if tt.wantDays > 0 {
				wantExp = t0.Add(time.Duration(tt.wantDays) * 24 * time.Hour)
			}
			if !l.ExpiresAt.Equal(wantExp) {
				t.Errorf("expires_at = %v, want %v", l.ExpiresAt, wantExp)
			}
			if want := guestlink.RoleOrViewer(tt.wantRole); l.Role != want {
				t.Errorf("role = %q, want %q", l.Role, want)
			}
			if !l.NotBefore.Equal(tt.wantOpen) || !l.NotBefore.IsZero() && l.NotBefore.Location() != time.UTC {
				t.Errorf("not_before = %v, want %v in UTC", l.NotBefore, tt.wantOpen)
			}
		})
	}
}

func TestNewLinkTimes(t *testing.T) {
	// The clock may be in any zone: the link's times are UTC, and the duration is
	// exactly days x 24h (no calendar arithmetic).
	now := time.Date(2026, 3, 28, 23, 15, 0, 123, time.FixedZone("CET", 3600))
	l, err := guestlink.LinkSpec{Name: "x", DurationDays: new(2)}.NewLink("demo", now)
	if err != nil {
		t.Fatal(err)
	}
	if l.CreatedAt.Location() != time.UTC || l.ExpiresAt.Location() != time.UTC {
		t.Errorf("times not UTC: %v, %v", l.CreatedAt, l.ExpiresAt)
	}
	if !l.CreatedAt.Equal(now) {
		t.Errorf("created_at = %v, want %v", l.CreatedAt, now)
	}
	if d := l.ExpiresAt.Sub(l.CreatedAt); d != 48*time.Hour {
		t.Errorf("expires_at - created_at = %v, want 48h", d)
	}
	// Two links never share an id or a token.
	m, err := guestlink.LinkSpec{Name: "x"}.NewLink("demo", now)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID == l.ID || m.Token == l.Token {
		t.Errorf("two links share id or token: %+v, %+v", l, m)
	}
}

// TestCheckGuestAccess: guest access may not be switched on in a gallery, and
// WithGuestAccess, which the stores write, applies that rule and otherwise sets
// the switch and UpdatedAt only.
func TestCheckGuestAccess(t *testing.T) {
	tests := []struct {
		kind string
		on   bool
		want error
	}{
		{guestlink.KindRoom, true, nil},
		{guestlink.KindRoom, false, nil},
		{guestlink.KindGallery, true, guestlink.ErrGalleryRoom},
		{guestlink.KindGallery, false, nil},
	}
	for _, tt := range tests {
		r := guestlink.Room{ID: "demo", Kind: tt.kind, Available: true, GuestAccess: !tt.on, CreatedAt: t0, UpdatedAt: t0}
		if err := guestlink.CheckGuestAccess(r, tt.on); !errors.Is(err, tt.want) {
			t.Errorf("kind %s, on %v: %v, want %v", tt.kind, tt.on, err, tt.want)
		}
		later := t0.Add(time.Minute)
		got, err := r.WithGuestAccess(tt.on, later)
		want := r
		want.GuestAccess, want.UpdatedAt = tt.on, later
		if tt.want != nil {
			want = guestlink.Room{}
		}
		if !errors.Is(err, tt.want) || got != want {
			t.Errorf("kind %s: WithGuestAccess(%v) = %+v, %v; want %+v, %v", tt.kind, tt.on, got, err, want, tt.want)
		}
	}
}

// openRoom is where the checks of a room's state start: a room (not a
// gallery) that is available with guest access on, changed by change when
// change is not nil.
func openRoom(change func(*guestlink.Room)) guestlink.Room {
	r := guestlink.Room{ID: "demo", Kind: guestlink.KindRoom, Available: true, GuestAccess: true}
	if change != nil {
		change(&r)
	}
	return r
}

func TestCheckNewLink(t *testing.T) {
	tests := []struct {
		name     string
		change   func(*guestlink.Room)
		existing int
		maxLinks int
		want     error
	}{
		{"first link", nil, 0, 3, nil},
		{"third link", nil, 2, 3, nil},
		{"fourth link", nil, 3, 3, guestlink.ErrLinkLimit},
		{"over the limit already", nil, 5, 3, guestlink.ErrLinkLimit},
		{"configured limit 5", nil, 4, 5, nil},
		{"configured limit 1", nil, 1, 1, guestlink.ErrLinkLimit},
		{"unavailable room may still get links", func(r *guestlink.Room) { r.Available = false }, 0, 3, nil},
		{"guest access off", func(r *guestlink.Room) { r.GuestAccess = false }, 0, 3, guestlink.ErrGuestAccessOff},
		{"gallery", func(r *guestlink.Room) { r.Kind = guestlink.KindGallery }, 0, 3, guestlink.ErrGalleryRoom},
		// Order: gallery before the switch, the switch before the limit.
		{"gallery with access off and full", func(r *guestlink.Room) { r.Kind, r.GuestAccess = guestlink.KindGallery, false }, 3, 3, guestlink.ErrGalleryRoom},
		{"gallery and full", func(r *guestlink.Room) { r.Kind = guestlink.KindGallery }, 3, 3, guestlink.ErrGalleryRoom},
		{"access off and full", func(r *guestlink.Room) { r.GuestAccess = false }, 3, 3, guestlink.ErrGuestAccessOff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := guestlink.CheckNewLink(openRoom(tt.change), tt.existing, tt.maxLinks); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("CheckNewLink = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCheckLinkOpen(t *testing.T) {
	link := guestlink.Link{ID: "l_abcdefghijklmnop", RoomID: "demo", MaxClicks: 2, Clicks: 1, CreatedAt: t0.Add(-24 * time.Hour), ExpiresAt: t0.Add(time.Hour)}
	tests := []struct {
		name   string
		room   func(*guestlink.Room)
		link   func(*guestlink.Link)
		now    time.Time
		wantIs error
	}{
		{"ok", nil, nil, t0, nil},
		{"unlimited and never expiring", nil, func(l *guestlink.Link) { l.MaxClicks, l.Clicks, l.ExpiresAt = 0, 99, time.Time{} }, t0.Add(1000 * time.Hour), nil},
		{"last click left", nil, nil, t0.Add(time.Hour - time.Nanosecond), nil},
		{"room unavailable", func(r *guestlink.Room) { r.Available = false }, nil, t0, guestlink.ErrRoomUnavailable},
		{"guest access off", func(r *guestlink.Room) { r.GuestAccess = false }, nil, t0, guestlink.ErrGuestAccessOff},
		{"gallery", func(r *guestlink.Room) { r.Kind = guestlink.KindGallery }, nil, t0, guestlink.ErrGuestAccessOff},
		{"expired exactly at expires_at", nil, nil, t0.Add(time.Hour), guestlink.ErrLinkExpired},
		{"expired later", nil, nil, t0.Add(48 * time.Hour), guestlink.ErrLinkExpired},
		{"used up", nil, func(l *guestlink.Link) { l.Clicks = 2 }, t0, guestlink.ErrLinkUsedUp},
		{"not yet open", nil, func(l *guestlink.Link) { l.NotBefore = t0.Add(time.Minute) }, t0, guestlink.ErrLinkNotYetOpen},
		{"open exactly at not_before", nil, func(l *guestlink.Link) { l.NotBefore = t0 }, t0, nil},
		{"not yet open, access off", func(r *guestlink.Room) { r.GuestAccess = false }, func(l *guestlink.Link) { l.NotBefore = t0.Add(time.Minute) }, t0, guestlink.ErrGuestAccessOff},
		// Order: the room, then the switch, then the link itself.
		{"unavailable beats access off", func(r *guestlink.Room) { r.Available, r.GuestAccess = false, false }, nil, t0, guestlink.ErrRoomUnavailable},
		{"access off beats expired", func(r *guestlink.Room) { r.GuestAccess = false }, nil, t0.Add(2 * time.Hour), guestlink.ErrGuestAccessOff},
		{"expired beats used up", nil, func(l *guestlink.Link) { l.Clicks = 2 }, t0.Add(2 * time.Hour), guestlink.ErrLinkExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := link
			if tt.link != nil {
				tt.link(&l)
			}
			err := guestlink.CheckLinkOpen(openRoom(tt.room), l, tt.now)
			if !errors.Is(err, tt.wantIs) || (tt.wantIs == nil) != (err == nil) {
				t.Errorf("CheckLinkOpen = %v, want %v", err, tt.wantIs)
			}
		})
	}
}

func TestCheckSession(t *testing.T) {
	tests := []struct {
		name      string
		room      func(*guestlink.Room)
		linkFound bool
		state     string
		want      error
	}{
		{"admitted", nil, true, guestlink.StateAdmitted, nil},
		{"waiting", nil, true, guestlink.StateWaiting, nil},
		{"room unavailable", func(r *guestlink.Room) { r.Available = false }, true, guestlink.StateAdmitted, guestlink.ErrRoomUnavailable},
		{"guest access off", func(r *guestlink.Room) { r.GuestAccess = false }, true, guestlink.StateAdmitted, guestlink.ErrGuestAccessOff},
		{"gallery", func(r *guestlink.Room) { r.Kind = guestlink.KindGallery }, true, guestlink.StateAdmitted, guestlink.ErrGuestAccessOff},
		{"link deleted", nil, false, guestlink.StateAdmitted, guestlink.ErrLinkNotFound},
		{"removed", nil, true, guestlink.StateRemoved, guestlink.ErrGuestRemoved},
		{"declined", nil, true, guestlink.StateDeclined, guestlink.ErrGuestDeclined},
		// Order: the room, the switch, the link, then the guest.
		{"unavailable beats removed", func(r *guestlink.Room) { r.Available = false }, false, guestlink.StateRemoved, guestlink.ErrRoomUnavailable},
		{"access off beats link deleted", func(r *guestlink.Room) { r.GuestAccess = false }, false, guestlink.StateRemoved, guestlink.ErrGuestAccessOff},
		{"link deleted beats removed", nil, false, guestlink.StateRemoved, guestlink.ErrLinkNotFound},
		// An invitee's session does not depend on the switch; the rest holds.
		{"invitee, guest access off", func(r *guestlink.Room) { r.GuestAccess = false }, true, "invitee " + guestlink.StateAdmitted, nil},
		{"invitee in a gallery", func(r *guestlink.Room) { r.Kind = guestlink.KindGallery }, true, "invitee " + guestlink.StateAdmitted, guestlink.ErrGuestAccessOff},
		{"invitee, room unavailable", func(r *guestlink.Room) { r.Available = false }, true, "invitee " + guestlink.StateAdmitted, guestlink.ErrRoomUnavailable},
		{"invitee, invitation deleted", func(r *guestlink.Room) { r.GuestAccess = false }, false, "invitee " + guestlink.StateAdmitted, guestlink.ErrLinkNotFound},
		{"invitee removed", nil, true, "invitee " + guestlink.StateRemoved, guestlink.ErrGuestRemoved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			link := "l_abcdefghijklmnop"
			state, invitee := strings.CutPrefix(tt.state, "invitee ")
			if invitee {
				link = "i_abcdefghijklmnop"
			}
			g := guestlink.Guest{ID: "g_abcdefghijklmnop", RoomID: "demo", LinkID: link, State: state}
			if err := guestlink.CheckSession(openRoom(tt.room), tt.linkFound, g); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("CheckSession = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestGuestInputNormalize(t *testing.T) {
	// An address of exactly 254 bytes: 64 + "@" + 189.
	domain := strings.Repeat("d", 60) + "." + strings.Repeat("e", 60) + "." + strings.Repeat("f", 59) + ".example"
	email254 := strings.Repeat("a", 64) + "@" + domain
	if len(email254) != guestlink.MaxEmailLen {
		t.Fatalf("test setup: email of %d bytes", len(email254))
	}
	email255 := "b" + email254

	tests := []struct {
		name      string
		in        guestlink.GuestInput
		wantField string
		want      guestlink.GuestInput // checked when wantField is ""
	}{
		{name: "plain", in: guestlink.GuestInput{Name: "Ada Lovelace", Email: "ada@example.com"}, want: guestlink.GuestInput{Name: "Ada Lovelace", Email: "ada@example.com"}},
		{name: "trimmed", in: guestlink.GuestInput{Name: "  Ada \t", Email: "\n ada@example.com  "}, want: guestlink.GuestInput{Name: "Ada", Email: "ada@example.com"}},
		{name: "unicode name", in: guestlink.GuestInput{Name: "Zoë Ørsted 李", Email: "zoe@example.com"}, want: guestlink.GuestInput{Name: "Zoë Ørsted 李", Email: "zoe@example.com"}},
		{name: "100 characters", in: guestlink.GuestInput{Name: strings.Repeat("é", 100), Email: "a@b.example"}, want: guestlink.GuestInput{Name: strings.Repeat("é", 100), Email: "a@b.example"}},
		{name: "plus and dots in email", in: guestlink.GuestInput{Name: "A", Email: "first.last+tag@mail.example.co"}, want: guestlink.GuestInput{Name: "A", Email: "first.last+tag@mail.example.co"}},
		{name: "email of 254 bytes", in: guestlink.GuestInput{Name: "A", Email: email254}, want: guestlink.GuestInput{Name: "A", Email: email254}},

		{name: "empty name", in: guestlink.GuestInput{Email: "ada@example.com"}, wantField: "name"},
		{name: "whitespace name", in: guestlink.GuestInput{Name: " \t\n\u3000", Email: "ada@example.com"}, wantField: "name"},
		{name: "101 characters", in: guestlink.GuestInput{Name: strings.Repeat("é", 101), Email: "a@b.example"}, wantField: "name"},
		{name: "NUL in name", in: guestlink.GuestInput{Name: "Ada\x00", Email: "ada@example.com"}, wantField: "name"},
		{name: "escape in name", in: guestlink.GuestInput{Name: "Ada\x1b[2J", Email: "ada@example.com"}, wantField: "name"},
		{name: "newline in name", in: guestlink.GuestInput{Name: "Ada\nX-Guest-Id: 1", Email: "ada@example.com"}, wantField: "name"},
		{name: "DEL in name", in: guestlink.GuestInput{Name: "Ada\x7f", Email: "ada@example.com"}, wantField: "name"},
		{name: "C1 control in name", in: guestlink.GuestInput{Name: "Ada\u0085Byron", Email: "ada@example.com"}, wantField: "name"},
		{name: "line separator in name", in: guestlink.GuestInput{Name: "Ada\u2028Byron", Email: "ada@example.com"}, wantField: "name"},
		{name: "name not UTF-8", in: guestlink.GuestInput{Name: "Ada\xff", Email: "ada@example.com"}, wantField: "name"},
		{name: "name checked before email", in: guestlink.GuestInput{Email: "bad"}, wantField: "name"},

		{name: "empty email", in: guestlink.GuestInput{Name: "Ada"}, wantField: "email"},
		{name: "blank email", in: guestlink.GuestInput{Name: "Ada", Email: "   "}, wantField: "email"},
		{name: "no @", in: guestlink.GuestInput{Name: "Ada", Email: "ada.example.com"}, wantField: "email"},
		{name: "nothing before @", in: guestlink.GuestInput{Name: "Ada", Email: "@example.com"}, wantField: "email"},
		{name: "nothing after @", in: guestlink.GuestInput{Name: "Ada", Email: "ada@"}, wantField: "email"},
		{name: "two @", in: guestlink.GuestInput{Name: "Ada", Email: "ada@b@example.com"}, wantField: "email"},
		{name: "display name", in: guestlink.GuestInput{Name: "Ada", Email: "Ada Lovelace <ada@example.com>"}, wantField: "email"},
		{name: "angle brackets only", in: guestlink.GuestInput{Name: "Ada", Email: "<ada@example.com>"}, wantField: "email"},
		{name: "quoted display name", in: guestlink.GuestInput{Name: "Ada", Email: `"Ada" <ada@example.com>`}, wantField: "email"},
		{name: "quoted local part", in: guestlink.GuestInput{Name: "Ada", Email: `"ada"@example.com`}, wantField: "email"},
		{name: "quoted local part with @", in: guestlink.GuestInput{Name: "Ada", Email: `"a@b"@example.com`}, wantField: "email"},
		{name: "quoted local part with space", in: guestlink.GuestInput{Name: "Ada", Email: `"a da"@example.com`}, wantField: "email"},
		{name: "comment", in: guestlink.GuestInput{Name: "Ada", Email: "ada@example.com (Ada)"}, wantField: "email"},
		{name: "comment without space", in: guestlink.GuestInput{Name: "Ada", Email: "ada(x)@example.com"}, wantField: "email"},
		{name: "two addresses", in: guestlink.GuestInput{Name: "Ada", Email: "ada@example.com, eve@example.com"}, wantField: "email"},
		{name: "space inside", in: guestlink.GuestInput{Name: "Ada", Email: "a da@example.com"}, wantField: "email"},
		{name: "CR LF header injection", in: guestlink.GuestInput{Name: "Ada", Email: "ada@example.com\r\nBcc: eve@example.com"}, wantField: "email"},
		{name: "CR inside", in: guestlink.GuestInput{Name: "Ada", Email: "ada\r@example.com"}, wantField: "email"},
		{name: "LF inside", in: guestlink.GuestInput{Name: "Ada", Email: "ada@exa\nmple.com"}, wantField: "email"},
		{name: "NUL at the end", in: guestlink.GuestInput{Name: "Ada", Email: "ada@example.com\x00"}, wantField: "email"},
		{name: "NUL inside", in: guestlink.GuestInput{Name: "Ada", Email: "ada\x00@example.com"}, wantField: "email"},
		{name: "tab inside", in: guestlink.GuestInput{Name: "Ada", Email: "ada\t@example.com"}, wantField: "email"},
		{name: "email not UTF-8", in: guestlink.GuestInput{Name: "Ada", Email: "ad\xffa@example.com"}, wantField: "email"},
		{name: "email of 255 bytes", in: guestlink.GuestInput{Name: "Ada", Email: email255}, wantField: "email"},
		{name: "very long email", in: guestlink.GuestInput{Name: "Ada", Email: strings.Repeat("a", 5000) + "@example.com"}, wantField: "email"},
		// A dot in the domain, and no other rule of any provider's.
		{name: "dotless domain", in: guestlink.GuestInput{Name: "Ada", Email: "a@b"}, wantField: "email"},
		{name: "dotless domain name", in: guestlink.GuestInput{Name: "Ada", Email: "name@example"}, wantField: "email"},
		{name: "dot only in the local part", in: guestlink.GuestInput{Name: "Ada", Email: "ada.lovelace@localhost"}, wantField: "email"},
		{name: "domain ending in a dot", in: guestlink.GuestInput{Name: "Ada", Email: "ada@example."}, wantField: "email"},
		{name: "one-letter labels", in: guestlink.GuestInput{Name: "A", Email: "a@b.c"}, want: guestlink.GuestInput{Name: "A", Email: "a@b.c"}},
		{name: "unknown top-level domain", in: guestlink.GuestInput{Name: "A", Email: "ada@lab.internal"}, want: guestlink.GuestInput{Name: "A", Email: "ada@lab.internal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.Normalize()
			wantField(t, err, tt.wantField)
			if tt.wantField == "" && got != tt.want {
				t.Errorf("Normalize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestEveryFieldReported protects "every error at once": a form or an API body
// with several bad fields hears of all of them in one answer, in the order of
// the fields, with errors.As still finding the first (which the API's "field"
// and older callers rely on); one bad field stays a plain *ValidationError.
func TestEveryFieldReported(t *testing.T) {
	tests := []struct {
		name string
		err  func() error
		want []string
	}{
		{"entry form: no name, dotless email", func() error {
			_, err := guestlink.GuestInput{Name: " ", Email: "a@b"}.Normalize()
			return err
		}, []string{"name", "email"}},
		{"entry form: only the email", func() error {
			_, err := guestlink.GuestInput{Name: "Ada", Email: "name@example"}.Normalize()
			return err
		}, []string{"email"}},
		{"link: 0 clicks and 400 days", func() error {
			_, err := guestlink.LinkSpec{Name: "Guests", MaxClicks: new(0), DurationDays: new(400)}.NewLink("demo", t0)
			return err
		}, []string{"max_clicks", "duration_days"}},
		{"link: all three", func() error {
			_, err := guestlink.LinkSpec{Name: "", MaxClicks: new(-1), DurationDays: new(0)}.NewLink("demo", t0)
			return err
		}, []string{"name", "max_clicks", "duration_days"}},
		{"room: bad id, kind and admission", func() error {
			_, err := guestlink.RoomSpec{Kind: "media", Admission: "manual"}.Normalize("a/b")
			return err
		}, []string{"id", "kind", "admission"}},
		{"valid link", func() error {
			_, err := guestlink.LinkSpec{Name: "Guests", MaxClicks: new(1)}.NewLink("demo", t0)
			return err
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			var got []string
			for _, v := range guestlink.FieldErrors(err) {
				if v.Message == "" {
					t.Errorf("field %s without a message", v.Field)
				}
				got = append(got, v.Field)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("fields %v (%v), want %v", got, err, tt.want)
			}
			if len(tt.want) == 0 {
				return
			}
			var first *guestlink.ValidationError
			if !errors.As(err, &first) || first.Field != tt.want[0] {
				t.Errorf("errors.As finds %v, want the first field %s", first, tt.want[0])
			}
			if _, plain := err.(*guestlink.ValidationError); plain != (len(tt.want) == 1) {
				t.Errorf("%d bad fields give a %T", len(tt.want), err)
			}
			for _, f := range tt.want {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("Error() = %q does not name %s", err.Error(), f)
				}
			}
		})
	}
}

// TestNewInvitation protects the rules of an invitation's fields
// (docs/DESIGN.md section 8) and its defaults: viewer, one use, 24 hours.
func TestNewInvitation(t *testing.T) {
	tests := []struct {
		name      string
		spec      guestlink.InvitationSpec
		wantField string
		want      func(v guestlink.Invitation) string // "" when right
	}{
		{name: "defaults", spec: guestlink.InvitationSpec{Email: " Ada@Example.com ", Name: " Ada "},
			want: func(v guestlink.Invitation) string {
				if v.Email != "Ada@Example.com" || v.Name != "Ada" || v.Role != guestlink.RoleViewer || v.MaxUses != 1 || v.Uses != 0 ||
					!v.ExpiresAt.Equal(t0.Add(24*time.Hour)) || !v.NotBefore.IsZero() || !guestlink.ValidID("i", v.ID) ||
					!guestlink.WellFormedToken(v.Token) || v.RoomID != "demo" || !v.CreatedAt.Equal(t0) {
					return "not the defaults"
				}
				return ""
			}},
		{name: "a moderator, unlimited, a year", spec: guestlink.InvitationSpec{Email: "a@b.io", Name: "A", Role: "moderator", Unlimited: true, DurationHours: new(8760)},
			want: func(v guestlink.Invitation) string {
				if v.Role != guestlink.RoleModerator || v.MaxUses != 0 || !v.ExpiresAt.Equal(t0.Add(8760*time.Hour)) {
					return "not a year-long unlimited moderator invitation"
				}
				return ""
			}},
		{name: "five uses, opens in an hour", spec: guestlink.InvitationSpec{Email: "a@b.io", Name: "A", MaxUses: new(5), NotBefore: new(t0.Add(time.Hour))},
			want: func(v guestlink.Invitation) string {
				if v.MaxUses != 5 || !v.NotBefore.Equal(t0.Add(time.Hour)) {
					return "not five uses from an hour on"
				}
				return ""
			}},
		{name: "no email", spec: guestlink.InvitationSpec{Name: "A"}, wantField: "email"},
		{name: "two addresses", spec: guestlink.InvitationSpec{Email: "a@b.io, c@d.io", Name: "A"}, wantField: "email"},
		{name: "no name", spec: guestlink.InvitationSpec{Email: "a@b.io"}, wantField: "name"},
		{name: "unknown role", spec: guestlink.InvitationSpec{Email: "a@b.io", Name: "A", Role: "host"}, wantField: "role"},
		{name: "no uses", spec: guestlink.InvitationSpec{Email: "a@b.io", Name: "A", MaxUses: new(0)}, wantField: "max_uses"},
		{name: "0 hours", spec: guestlink.InvitationSpec{Email: "a@b.io", Name: "A", DurationHours: new(0)}, wantField: "duration_hours"},
		{name: "8761 hours", spec: guestlink.InvitationSpec{Email: "a@b.io", Name: "A", DurationHours: new(8761)}, wantField: "duration_hours"},
		{name: "opens when it expires", spec: guestlink.InvitationSpec{Email: "a@b.io", Name: "A", NotBefore: new(t0.Add(24 * time.Hour))}, wantField: "not_before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := tt.spec.NewInvitation("demo", t0)
			wantField(t, err, tt.wantField)
			if tt.want != nil && err == nil {
				if problem := tt.want(v); problem != "" {
					t.Errorf("%s: %+v", problem, v)
				}
			}
		})
	}
}

// TestInvitationRules: the email an invitee types is compared without case
// and surrounding spaces; an invitation's openness does not depend on the
// guest access switch, and is checked in the order a guest should learn it.
func TestInvitationRules(t *testing.T) {
	v := guestlink.Invitation{Email: "Ada.Lovelace@Example.com", MaxUses: 2, Uses: 1, ExpiresAt: t0.Add(time.Hour)}
	for typed, want := range map[string]bool{
		"Ada.Lovelace@Example.com": true, "ada.lovelace@example.com": true, "  ADA.LOVELACE@EXAMPLE.COM\t": true,
		"ada@example.com": false, "": false, "ada.lovelace@example.co": false, "ada.lovelace@example.com.": false,
	} {
		if got := v.SameEmail(typed); got != want {
			t.Errorf("SameEmail(%q) = %v, want %v", typed, got, want)
		}
	}
	room := guestlink.Room{Kind: guestlink.KindRoom, Available: true}
	for _, tc := range []struct {
		name string
		room func(*guestlink.Room)
		v    func(*guestlink.Invitation)
		now  time.Time
		want error
	}{
		{"open with guest access off", nil, nil, t0, nil},
		{"room unavailable", func(r *guestlink.Room) { r.Available = false }, nil, t0, guestlink.ErrRoomUnavailable},
		{"gallery", func(r *guestlink.Room) { r.Kind = guestlink.KindGallery }, nil, t0, guestlink.ErrGalleryRoom},
		{"not yet open", nil, func(v *guestlink.Invitation) { v.NotBefore = t0.Add(time.Minute) }, t0, guestlink.ErrLinkNotYetOpen},
		{"expired", nil, nil, t0.Add(time.Hour), guestlink.ErrLinkExpired},
		{"used up", nil, func(v *guestlink.Invitation) { v.Uses = 2 }, t0, guestlink.ErrLinkUsedUp},
		{"unlimited", nil, func(v *guestlink.Invitation) { v.MaxUses, v.Uses = 0, 99 }, t0, nil},
		{"unavailable beats used up", func(r *guestlink.Room) { r.Available = false }, func(v *guestlink.Invitation) { v.Uses = 2 }, t0, guestlink.ErrRoomUnavailable},
	} {
		r, inv := room, v
		if tc.room != nil {
			tc.room(&r)
		}
		if tc.v != nil {
			tc.v(&inv)
		}
		if err := guestlink.CheckInvitationOpen(r, inv, tc.now); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: CheckInvitationOpen = %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := guestlink.CheckNewInvitation(guestlink.Room{Kind: guestlink.KindRoom}, 99, 100); err != nil {
		t.Errorf("the 100th invitation with guest access off: %v", err)
	}
	if err := guestlink.CheckNewInvitation(guestlink.Room{Kind: guestlink.KindRoom}, 100, 100); !errors.Is(err, guestlink.ErrInvitationLimit) {
		t.Errorf("the 101st invitation: %v, want ErrInvitationLimit", err)
	}
}

// TestInvitationEmailFoldsASCIIOnly protects the invitation's binding to its
// invitee's address: the email typed is compared without case, and case in
// an address is ASCII case. Go's Unicode simple folding (strings.EqualFold)
// also takes the Kelvin sign U+212A for 'k' and the long s U+017F for 's',
// so an invitation for kate@example.com let in "\u212Aate@example.com", an
// address nobody invited, and the guest record, X-Guest-Email and the signed
// X-Guest-Token then carried that address as the invitee's.
func TestInvitationEmailFoldsASCIIOnly(t *testing.T) {
	v := guestlink.Invitation{Email: "kate.sims@example.com"}
	for typed, want := range map[string]bool{
		"KATE.SIMS@EXAMPLE.COM":       true,
		"Kate.Sims@Example.Com":       true,
		"\u212Aate.sims@example.com":  false, // Kelvin sign
		"kate.\u017Fims@example.com":  false, // long s
		"kate.sims@exampl\u0435.com":  false, // Cyrillic e
		"kate.sims@example.com\u200b": false,
	} {
		if got := v.SameEmail(typed); got != want {
			t.Errorf("SameEmail(%q) = %v, want %v", typed, got, want)
		}
	}
}

package entrypage

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/testtheme"
)

// TestEntryShellIsTheTemplate protects the entry page a new guest gets from
// its shell: it must be, byte for byte, what executing entry.html gives, in
// every language, with and without a theme, for room names holding every
// ASCII character (each one html/template escapes among them), invalid
// UTF-8 and bidirectional controls. A form the shell cannot give (typed
// values, errors, an invitation, a token or CSRF field an escaper would
// change) is executed, and theme templates have no shells.
func TestEntryShellIsTheTemplate(t *testing.T) {
	dir := t.TempDir()
	themes := []struct {
		name   string
		prefix string
		th     ThemeConfig
	}{
		{"plain", "/guest", ThemeConfig{}},
		{"themed", "/guest", ThemeConfig{Title: "Uni <&> \"Hall\" + 'Co'", Logo: testtheme.WritePNG(t, filepath.Join(dir, "logo.png"), 20, 20), Accent: "#126b3a"}},
		{"odd prefix", "/gäst space+&", ThemeConfig{Title: "Site"}},
	}
	var ascii strings.Builder
	for c := range 128 {
		ascii.WriteByte(byte(c))
	}
	rooms := []string{"Physics 101", ascii.String(), "C++ & <Friends> \"quoted\" 'single'", "bad \xff\xfe utf-8", "\u202eevil\u202c עברית", "%s %d %!", ""}
	const tok, csrf = "AAAAbbbb-_09AAAAbbbb-_09AAAAbbbb-_09AAAAbbb", "MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY"
	for _, tt := range themes {
		p, err := NewPages(tt.prefix, nil, tt.th)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for _, tag := range p.cat.Languages() {
			s := p.shells[tag]
			if s == nil {
				t.Fatalf("%s, %s: no shell", tt.name, tag)
			}
			for _, room := range rooms {
				f := entryForm{RoomName: room, Token: tok, CSRF: csrf}
				want, err := p.executeEntry(tag, f)
				if err != nil {
					t.Fatal(err)
				}
				got, ok := s.fill(f)
				if !ok || !bytes.Equal(got, want) {
					t.Errorf("%s, %s, room %q: the shell gives (ok %v)\n%s\nexecuting gives\n%s", tt.name, tag, room, ok, got, want)
				}
			}
			for name, f := range map[string]entryForm{
				"typed name":  {RoomName: "R", Token: tok, CSRF: csrf, Name: "Ada"},
				"typed email": {RoomName: "R", Token: tok, CSRF: csrf, Email: "ada@example.com"},
				"invitation":  {RoomName: "R", Token: tok, CSRF: csrf, Role: guestlink.RoleSpeaker},
				"form error":  {RoomName: "R", Token: tok, CSRF: csrf, FormError: "guest.entry.form_expired"},
				"field error": {RoomName: "R", Token: tok, CSRF: csrf, Invalid: []*guestlink.ValidationError{{Field: "name", Code: guestlink.CodeRequired}}},
				"token":       {RoomName: "R", Token: tok[:42] + "+", CSRF: csrf},
				"csrf":        {RoomName: "R", Token: tok, CSRF: "a\"b"},
			} {
				if _, ok := s.fill(f); ok {
					t.Errorf("%s, %s: the shell fills a form with a %s", tt.name, tag, name)
				}
			}
		}
	}
	p, err := NewPages("/guest", nil, ThemeConfig{Templates: filepath.Dir(testtheme.WriteFile(t, filepath.Join(dir, "tpl", "extra.html"), "x"))})
	if err != nil {
		t.Fatal(err)
	}
	if p.shells != nil {
		t.Errorf("theme templates: shells %v, want none", p.shells)
	}
}

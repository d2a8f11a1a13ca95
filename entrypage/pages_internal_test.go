package entrypage

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/text/language"
)

// TestLanguagesRemembered protects the memory of Accept-Language values:
// a value seen before gets the language the catalogue matches for it, as the
// first time; the memory never holds more than maxLangs values, nor a value
// longer than maxAcceptLen, however many distinct ones clients send.
func TestLanguagesRemembered(t *testing.T) {
	p, err := NewPages("/guest", nil, ThemeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	lang := func(accept string) language.Tag {
		r := httptest.NewRequest("GET", "/guest/x", nil)
		r.Header.Set("Accept-Language", accept)
		return p.language(r)
	}
	// The catalogue's own answers are pinned by the i18n tests.
	for _, accept := range []string{"de-DE,de;q=0.9,en;q=0.5", "he-IL", "fr-FR, de;q=0.5", "ja", "",
		strings.Repeat("fr;q=0.1, ", maxAcceptLen/10) + "he"} {
		want := p.cat.Match(accept)
		for i := range 2 {
			if got := lang(accept); got != want {
				t.Errorf("%.20q, request %d: %v, want %v", accept, i+1, got, want)
			}
		}
	}
	for i := range maxLangs + 10 {
		if got := lang(fmt.Sprintf("de-x-%d", i)); got != language.German {
			t.Fatalf("de-x-%d: %v, want German", i, got)
		}
	}
	if n := len(p.langs); n > maxLangs {
		t.Errorf("%d values remembered, want at most %d", n, maxLangs)
	}
	for accept := range p.langs {
		if len(accept) > maxAcceptLen {
			t.Errorf("a value of %d bytes is remembered", len(accept))
		}
	}
}

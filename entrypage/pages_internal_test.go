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
	for _, tc := range []struct {
		accept string
		want   language.Tag
	}{
		{"de-DE,de;q=0.9,en;q=0.5", language.German},
		{"he-IL", language.Hebrew},
		{"fr-FR, de;q=0.5", language.German},
		{"ja", language.English},
		{strings.Repeat("fr;q=0.1, ", maxAcceptLen/10) + "he", language.Hebrew},
	} {
		for i := range 2 {
			if got := lang(tc.accept); got != tc.want {
				t.Errorf("%.20q, request %d: %v, want %v", tc.accept, i+1, got, tc.want)
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

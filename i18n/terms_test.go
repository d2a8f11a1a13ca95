package i18n_test

import (
	"strings"
	"testing"

	"golang.org/x/text/language"

	"github.com/guestgate/guestgate/i18n"
)

// TestOneWordForTheModerator keeps the pages' vocabulary: the person who lets
// guests in and turns guest access off is the moderator on every page, in
// every language, never an organiser, so that a guest told "the organiser
// turned guest access off" is not left looking for someone else.
func TestOneWordForTheModerator(t *testing.T) {
	c := i18n.Default()
	others := map[language.Tag][]string{
		language.English: {"organis", "organiz"},
		language.German:  {"Organisator", "Veranstalter"},
		language.Hebrew:  {"מארגן", "מארגנ"},
	}
	for _, tag := range c.Languages() {
		words, ok := others[tag]
		if !ok {
			t.Errorf("%v: no list of words that are not the moderator's", tag)
			continue
		}
		for k, msg := range c.Messages(tag, "guest.") {
			for _, w := range words {
				if strings.Contains(strings.ToLower(msg), strings.ToLower(w)) {
					t.Errorf("%v: %s says %q: %q", tag, k, w, msg)
				}
			}
		}
	}
}

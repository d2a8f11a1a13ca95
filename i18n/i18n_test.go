package i18n_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/text/language"

	"github.com/guestgate/guestgate/i18n"
)

func TestMatch(t *testing.T) {
	c := i18n.Default()
	tests := []struct {
		header string
		want   language.Tag
	}{
		{"", language.English},
		{"de", language.German},
		{"de-AT,de;q=0.9,en;q=0.5", language.German},
		{"he-IL", language.Hebrew},
		{"iw", language.Hebrew},
		{"fr-FR,fr;q=0.9", language.English},
		{"fr;q=1, de;q=0.5", language.German},
		{"en-GB", language.English},
		{"*", language.English},
		{";;;garbage===", language.English},
	}
	for _, tt := range tests {
		if got := c.Match(tt.header); got != tt.want {
			t.Errorf("Match(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestT(t *testing.T) {
	c := i18n.Default()
	if got := c.T(language.English, "moderator.title"); got != "Manage guest access" {
		t.Errorf("en title = %q", got)
	}
	if got := c.T(language.German, "moderator.title"); got != "Gastzugang verwalten" {
		t.Errorf("de title = %q", got)
	}
	if got := c.T(language.English, "moderator.intro", 3); got != "Allow link-based access without sign-in. Up to 3 guest links available." {
		t.Errorf("en intro = %q", got)
	}
	if got := c.T(language.MustParse("de-CH"), "moderator.links.count.other", 2); got != "2 Links" {
		t.Errorf("de-CH count = %q", got)
	}
	if got := c.T(language.Hebrew, "no.such.key"); got != "no.such.key" {
		t.Errorf("missing key = %q, want the key", got)
	}
	if got := c.T(language.French, "moderator.title"); got != "Manage guest access" {
		t.Errorf("unsupported language = %q, want English", got)
	}
}

func TestDir(t *testing.T) {
	c := i18n.Default()
	for tag, want := range map[language.Tag]string{
		language.English: "ltr", language.German: "ltr", language.Hebrew: "rtl",
		language.MustParse("he-IL"): "rtl", language.Arabic: "rtl",
	} {
		if got := c.Dir(tag); got != want {
			t.Errorf("Dir(%v) = %q, want %q", tag, got, want)
		}
	}
}

func TestMessagesPrefix(t *testing.T) {
	c := i18n.Default()
	m := c.Messages(language.Hebrew, "moderator.")
	if m["moderator.title"] != "ניהול גישת אורחים" {
		t.Errorf("he moderator.title = %q", m["moderator.title"])
	}
	for k := range m {
		if !strings.HasPrefix(k, "moderator.") {
			t.Errorf("key %q outside the prefix", k)
		}
	}
	if len(m) < 50 {
		t.Errorf("only %d moderator messages", len(m))
	}
}

func TestLanguages(t *testing.T) {
	got := i18n.Default().Languages()
	want := []language.Tag{language.English, language.German, language.Hebrew}
	if len(got) != len(want) {
		t.Fatalf("Languages() = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Languages() = %v, want %v", got, want)
		}
	}
}

// TestCatalogueComplete keeps the files in shape: every English key translated in
// every language, the same fmt verbs in the same order, no empty message, no key
// that English lacks (plural forms like ".two" excepted), files sorted by key.
func TestCatalogueComplete(t *testing.T) {
	c := i18n.Default()
	en := map[string]bool{}
	for _, k := range c.Keys(language.English) {
		en[k] = true
	}
	for _, tag := range c.Languages()[1:] {
		have := map[string]bool{}
		for _, k := range c.Keys(tag) {
			have[k] = true
			if !en[k] && !isPluralForm(k) {
				t.Errorf("%v: key %q not in English", tag, k)
			}
		}
		for k := range en {
			if !have[k] {
				t.Errorf("%v: missing %q", tag, k)
				continue
			}
			if got, want := verbs(c.T(tag, k)), verbs(c.T(language.English, k)); got != want {
				t.Errorf("%v: %q has verbs %q, English %q", tag, k, got, want)
			}
			if strings.TrimSpace(c.T(tag, k)) == "" {
				t.Errorf("%v: %q is empty", tag, k)
			}
		}
	}
}

func isPluralForm(k string) bool {
	for _, s := range []string{".zero", ".one", ".two", ".few", ".many", ".other"} {
		if strings.HasSuffix(k, s) {
			return true
		}
	}
	return false
}

func verbs(s string) string {
	var b strings.Builder
	for i := 0; i < len(s)-1; i++ {
		if s[i] == '%' {
			b.WriteByte(s[i+1])
			i++
		}
	}
	return b.String()
}

// TestFilesSorted: one key per line in key order, so that merges stay simple.
func TestFilesSorted(t *testing.T) {
	files, _ := filepath.Glob("messages/*.json")
	if len(files) < 3 {
		t.Fatalf("message files: %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]string
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var keys []string
		for _, line := range bytes.Split(data, []byte("\n")) {
			line = bytes.TrimSpace(line)
			if bytes.HasPrefix(line, []byte(`"`)) {
				var k string
				end := bytes.Index(line, []byte(`":`))
				if err := json.Unmarshal(line[:end+1], &k); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				keys = append(keys, k)
			}
		}
		if len(keys) != len(m) {
			t.Errorf("%s: %d key lines for %d keys (duplicates or one line holding several)", f, len(keys), len(m))
		}
		if !sort.StringsAreSorted(keys) {
			t.Errorf("%s: keys not sorted", f)
		}
	}
}

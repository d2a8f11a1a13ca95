// Package i18n holds the message catalogue of guestgate's pages: the guest pages
// (keys "guest.*") and the Manage guest access page (keys "moderator.*").
//
// Messages live in one JSON file per language under messages/ (en.json, de.json,
// he.json), embedded in the binary. Each file is a flat object of dotted keys to
// strings, kept sorted by key. Strings may hold fmt verbs (%d, %s) filled by T's
// arguments. English is the fallback for a missing key or an unsupported language;
// a key missing everywhere is returned as is, so a gap shows up instead of a blank.
//
// Language matching uses golang.org/x/text/language, so "de-AT", "de-CH;q=0.9" and
// "iw" all find their way to a supported language.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"golang.org/x/text/language"
)

//go:embed messages/*.json
var messageFiles embed.FS

// Catalog is a set of languages and their messages. It is read-only after
// construction and safe for concurrent use.
type Catalog struct {
	tags     []language.Tag // supported languages; tags[0] is the fallback (English)
	matcher  language.Matcher
	messages map[language.Tag]map[string]string
}

var (
	defaultOnce    sync.Once
	defaultCatalog *Catalog
)

// Default returns the embedded catalogue: English, German and Hebrew. It panics if
// the embedded files are broken, which a unit test rules out.
func Default() *Catalog {
	defaultOnce.Do(func() {
		c, err := Load(messageFiles, "messages", language.English, language.German, language.Hebrew)
		if err != nil {
			panic("i18n: embedded catalogue: " + err.Error())
		}
		defaultCatalog = c
	})
	return defaultCatalog
}

// Load reads "<tag>.json" for each tag from dir of fsys. The first tag is the
// fallback language. It is exported for tests and for operators' own catalogues.
func Load(fsys interface {
	ReadFile(name string) ([]byte, error)
}, dir string, tags ...language.Tag) (*Catalog, error) {
	if len(tags) == 0 {
		return nil, fmt.Errorf("no languages")
	}
	c := &Catalog{messages: make(map[language.Tag]map[string]string, len(tags))}
	for _, tag := range tags {
		name := path.Join(dir, tag.String()+".json")
		data, err := fsys.ReadFile(name)
		if err != nil {
			return nil, err
		}
		m := map[string]string{}
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		c.tags = append(c.tags, tag)
		c.messages[tag] = m
	}
	c.matcher = language.NewMatcher(c.tags)
	return c, nil
}

// Languages returns the supported languages, the fallback first.
func (c *Catalog) Languages() []language.Tag {
	return append([]language.Tag(nil), c.tags...)
}

// Match returns the best supported language for an Accept-Language header value,
// English (the fallback) when nothing matches or the header is empty or malformed.
func (c *Catalog) Match(acceptLanguage string) language.Tag {
	prefs, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(prefs) == 0 {
		return c.tags[0]
	}
	_, idx, conf := c.matcher.Match(prefs...)
	if conf == language.No {
		return c.tags[0]
	}
	return c.tags[idx]
}

// base maps any tag (e.g. de-AT as returned by a matcher) to a supported one.
func (c *Catalog) base(tag language.Tag) language.Tag {
	if _, ok := c.messages[tag]; ok {
		return tag
	}
	_, idx, conf := c.matcher.Match(tag)
	if conf == language.No {
		return c.tags[0]
	}
	return c.tags[idx]
}

// T returns the message key in language tag, formatted with args (fmt-style) when
// any are given. It falls back to English, then to the key itself.
func (c *Catalog) T(tag language.Tag, key string, args ...any) string {
	msg, ok := c.messages[c.base(tag)][key]
	if !ok {
		msg, ok = c.messages[c.tags[0]][key]
	}
	if !ok {
		return key
	}
	if len(args) == 0 {
		return msg
	}
	return fmt.Sprintf(msg, args...)
}

// Dir returns the text direction of tag: "rtl" for right-to-left scripts (Hebrew,
// Arabic, Persian, Urdu, Yiddish), "ltr" otherwise.
func (c *Catalog) Dir(tag language.Tag) string {
	b, _ := tag.Base()
	switch b.String() {
	case "he", "iw", "ar", "fa", "ur", "yi":
		return "rtl"
	}
	return "ltr"
}

// Messages returns every message whose key starts with prefix, in language tag
// with the English text filling any gap, for a page's script to use. Messages are
// returned unformatted (with their %d/%s verbs).
func (c *Catalog) Messages(tag language.Tag, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range c.messages[c.tags[0]] {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	for k, v := range c.messages[c.base(tag)] {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

// Keys returns the sorted keys of language tag (for tests and tooling).
func (c *Catalog) Keys(tag language.Tag) []string {
	m := c.messages[c.base(tag)]
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

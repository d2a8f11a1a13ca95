package entrypage

import (
	"bytes"
	"strings"

	"golang.org/x/text/language"
)

// entryShell is the entry page a new guest of a guest link sees (nothing
// typed, no error, no invitation) in one language, executed once when the
// handler is provisioned and cut where the three values of a request go: the
// room's name, the link token and the CSRF field. Filling it in is what
// executing entry.html with those values gives, byte for byte, without the
// template's reflection: that page is the first half of every redemption
// (docs/PERFORMANCE.md). The embedded templates have shells; theme templates,
// whose escaping contexts are not known here, are always executed.
type entryShell struct {
	lang  string // Content-Language
	parts []shellPart
	// fixed is the length of the parts' texts; rooms is how many times the
	// room's name appears.
	fixed, rooms int
}

// shellPart is a text of the page and the value that follows it.
type shellPart struct {
	text string
	hole shellHole
}

type shellHole int

const (
	holeNone shellHole = iota // after the last text
	holeRoom
	holeToken
	holeCSRF
)

// The stand-ins the shell is executed with: letters only, which no
// escaper changes, and in no template or message.
const (
	standInRoom  = "RoomStandInQzxv"
	standInToken = "TokenStandInQzxv"
	standInCSRF  = "CSRFStandInQzxv"
)

// newEntryShell executes the entry page of tag with the stand-ins and cuts
// it. It returns nil when the shell would not give what executing the
// template gives for probe values with every character html/template
// escapes (a stand-in in the theme's title, say): such a page is executed.
func (p *Pages) newEntryShell(tag language.Tag) (*entryShell, error) {
	page, err := p.executeEntry(tag, entryForm{RoomName: standInRoom, Token: standInToken, CSRF: standInCSRF})
	if err != nil {
		return nil, err
	}
	s := &entryShell{lang: tag.String()}
	stand := map[string]shellHole{standInRoom: holeRoom, standInToken: holeToken, standInCSRF: holeCSRF}
	rest := string(page)
	for rest != "" {
		at, hole, size := len(rest), holeNone, 0
		for in, h := range stand {
			if i := strings.Index(rest, in); i >= 0 && i < at {
				at, hole, size = i, h, len(in)
			}
		}
		s.parts = append(s.parts, shellPart{text: rest[:at], hole: hole})
		s.fixed += at
		if hole == holeRoom {
			s.rooms++
		}
		rest = rest[at+size:]
	}
	// A room's name with every character the escapers change, a token and a
	// CSRF field as they come.
	probe := entryForm{
		RoomName: "Room <b>&\"'+ \x00 %s %d ü \u202e", Token: "Ab-_09" + strings.Repeat("x", 37),
		CSRF: "Zz-_19" + strings.Repeat("y", 37),
	}
	want, err := p.executeEntry(tag, probe)
	if err != nil {
		return nil, err
	}
	if got, ok := s.fill(probe); !ok || !bytes.Equal(got, want) {
		return nil, nil
	}
	return s, nil
}

// executeEntry is the entry page of f in tag, executed.
func (p *Pages) executeEntry(tag language.Tag, f entryForm) ([]byte, error) {
	d := p.pageIn(tag)
	entryPage(&d, f)
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, "entry.html", d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// fill returns the page of f; ok is false when f is not a new guest's form
// of a guest link, or its token or CSRF field hold a character an escaper
// would change.
func (s *entryShell) fill(f entryForm) (page []byte, ok bool) {
	if f.Name != "" || f.Email != "" || f.Role != "" || f.FormError != "" || len(f.Invalid) > 0 ||
		!unreservedOnly(f.Token) || !unreservedOnly(f.CSRF) {
		return nil, false
	}
	room := htmlEscaper.Replace(f.RoomName)
	page = make([]byte, 0, s.fixed+s.rooms*len(room)+len(f.Token)+len(f.CSRF))
	for _, part := range s.parts {
		page = append(page, part.text...)
		switch part.hole {
		case holeRoom:
			page = append(page, room...)
		case holeToken:
			page = append(page, f.Token...)
		case holeCSRF:
			page = append(page, f.CSRF...)
		}
	}
	return page, true
}

// htmlEscaper escapes a string as html/template does in HTML text, in RCDATA
// (<title>) and in quoted attribute values.
var htmlEscaper = strings.NewReplacer(
	"\x00", "\uFFFD", `"`, "&#34;", "&", "&amp;", "'", "&#39;", "+", "&#43;", "<", "&lt;", ">", "&gt;",
)

// unreservedOnly reports whether s holds only the unreserved characters of
// RFC 3986, which no escaper of html/template changes in a URL or an
// attribute value.
func unreservedOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			return false
		}
	}
	return true
}

package entrypage

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/guestgate/guestgate/guestlink"
)

// fuzzAllow is the allowlist of the path fuzz test: every shape of pattern, with
// {room} once, twice, at the end and in the middle.
var fuzzAllow = []string{"/rooms/{room}", "/rooms/{room}/*", "/ws/{room}", "/static/*", "/r/{room}/x/{room}", "/api/{room}.json"}

// FuzzCleanPath: a path CleanPath accepts starts with one "/", has no "//", no
// "." or ".." segment (also with ";parameters"), no backslash, no control byte,
// is valid UTF-8 and is its own path.Clean (but for a trailing slash);
// Allowlist.Match on it never panics; and a match for room R never lets in a
// path whose room segment is another room.
func FuzzCleanPath(f *testing.F) {
	allow, err := ParseAllowlist(fuzzAllow)
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range []string{
		"/rooms/demo", "/rooms/demo/", "/rooms/demo/x/y", "/rooms/demo/a%20b", "/rooms/Zo%C3%AB",
		"/rooms/demo/../other", "/rooms/demo/%2e%2e/other", "/rooms/demo/%252e%252e/other", "/rooms/demo/..%5cother",
		"/rooms/demo\\..\\other", "/rooms/demo%2fother", "//rooms/demo", "/rooms//demo", "/rooms/demo/%00",
		"/rooms/demo/%0d%0a", "/rooms/demo/%c0%ae%c0%ae/other", "/rooms/demo/..;/other", "/rooms/demo/.;x/y",
		"/rooms/demo%3F/../other", "/rooms/demo%23x", "/r/demo/x/demo", "/r/demo/x/other", "/api/demo.json",
		"/api/other.json", "/static/../rooms/other", "/rooms/d%D0%B5mo", "/rooms/%EF%BD%84emo", "/ws/demo", "/%",
		"/%2", "/%zz", "/\x7f", "/rooms/demo/\xff", "", "rooms/demo", "/rooms/demo/...", "/rooms/demo/..%3bx/y",
	} {
		f.Add(p, "demo")
	}
	f.Add("/rooms/a.b/x", "a.b")
	f.Add("/rooms/demo-2/x", "demo")
	f.Add("/r/demo/x/demo", "de")

	f.Fuzz(func(t *testing.T, escaped, room string) {
		p, ok := CleanPath(escaped)
		for _, r := range []string{room, "demo", ""} {
			_ = allow.Match(escaped, r) // never panics, on any input
			_ = allow.Match(p, r)
		}
		if !ok {
			if p != "" {
				t.Fatalf("CleanPath(%q) refused but returned %q", escaped, p)
			}
			return
		}
		switch {
		case !strings.HasPrefix(p, "/"):
			t.Fatalf("CleanPath(%q) = %q: not absolute", escaped, p)
		case strings.Contains(p, "//"):
			t.Fatalf("CleanPath(%q) = %q: has //", escaped, p)
		case strings.Contains(p, `\`):
			t.Fatalf("CleanPath(%q) = %q: has a backslash", escaped, p)
		case !utf8.ValidString(p):
			t.Fatalf("CleanPath(%q) = %q: not valid UTF-8", escaped, p)
		case strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			t.Fatalf("CleanPath(%q) = %q: has a control byte", escaped, p)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg, _, _ = strings.Cut(seg, ";"); seg == "." || seg == ".." {
				t.Fatalf("CleanPath(%q) = %q: has a dot segment", escaped, p)
			}
		}
		if c := path.Clean(p); c != strings.TrimSuffix(p, "/") && p != "/" {
			t.Fatalf("CleanPath(%q) = %q, but path.Clean makes it %q", escaped, p, c)
		}
		if !guestlink.ValidRoomID(room) || !allow.Match(p, room) {
			return
		}
		// The room segments of a matched path are the room itself.
		segs := strings.Split(p, "/")
		var roomSegs []string
		switch segs[1] {
		case "rooms", "ws":
			roomSegs = segs[2:3]
		case "r":
			roomSegs = []string{segs[2], segs[4]}
		case "api":
			roomSegs = []string{strings.TrimSuffix(segs[2], ".json")}
		case "static":
		default:
			t.Fatalf("Match(%q, %q) is true for a path no pattern covers", p, room)
		}
		for _, s := range roomSegs {
			if s != room {
				t.Fatalf("Match(%q, %q) is true, but the path is under room %q", p, room, s)
			}
		}
	})
}

// FuzzGuestInput: the entry form's body, parsed as the entry form does, then
// GuestInput.Normalize: accepted values are trimmed, have no control
// characters, a name of 1 to 100 characters and an email of at most 254 bytes
// without CR, LF, NUL, quotes or angle brackets, with a dot in its domain;
// Normalize is idempotent; a refusal is a *ValidationError on name or email.
func FuzzGuestInput(f *testing.F) {
	for _, v := range []url.Values{
		{"name": {"Ada"}, "email": {"ada@example.com"}},
		{"name": {"  Zoë Ada  "}, "email": {" zoe@example.com "}},
		{"name": {`<script>alert(1)</script>`}, "email": {"x@example.com"}},
		{"name": {"Ada\nX-Guest-Id: g"}, "email": {"ada@example.com"}},
		{"name": {"Ada"}, "email": {"ada@example.com\r\nBcc: eve@example.com"}},
		{"name": {"Ada"}, "email": {"ada@example.com\x00"}},
		{"name": {"Ada"}, "email": {`"ada"@example.com`}},
		{"name": {"Ada"}, "email": {"Ada <ada@example.com>"}},
		{"name": {"Ada"}, "email": {strings.Repeat("a", 243) + "@example.com"}},
		{"name": {strings.Repeat("é", 101)}, "email": {"ada@example.com"}},
		{"name": {"\u00a0Ada\u2028"}, "email": {"ada@example.com"}},
		{"name": {"\u202eAda"}, "email": {"ada@[127.0.0.1]"}},
		{"name": {"Ada", "Eve"}, "email": {"ada@example.com"}},
	} {
		f.Add(v.Encode())
	}
	f.Add("name=%ff&email=a%40b.c")
	f.Add("name=Ada&email=a@b.c&name")
	f.Add("name=Ada;email=a@b.c")

	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/guest/x", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := r.ParseForm(); err != nil || len(r.PostForm["name"]) > 1 || len(r.PostForm["email"]) > 1 {
			return // the entry form answers 400
		}
		out, err := guestlink.GuestInput{Name: r.PostForm.Get("name"), Email: r.PostForm.Get("email")}.Normalize()
		if err != nil {
			var verr *guestlink.ValidationError
			if !errors.As(err, &verr) || (verr.Field != "name" && verr.Field != "email") {
				t.Fatalf("Normalize refused with %v, want a ValidationError on name or email", err)
			}
			return
		}
		control := func(r rune) bool { return unicode.IsControl(r) || r == utf8.RuneError }
		switch n := utf8.RuneCountInString(out.Name); {
		case n < 1 || n > guestlink.MaxGuestNameLen:
			t.Fatalf("accepted a name of %d characters: %q", n, out.Name)
		case !utf8.ValidString(out.Name) || strings.ContainsFunc(out.Name, control):
			t.Fatalf("accepted a name with a control character or invalid UTF-8: %q", out.Name)
		case out.Name != strings.TrimSpace(out.Name) || out.Email != strings.TrimSpace(out.Email):
			t.Fatalf("accepted values that are not trimmed: %q %q", out.Name, out.Email)
		case len(out.Email) > guestlink.MaxEmailLen || out.Email == "":
			t.Fatalf("accepted an email of %d bytes", len(out.Email))
		case !utf8.ValidString(out.Email) || strings.ContainsFunc(out.Email, control) || strings.ContainsAny(out.Email, "\"<> \r\n\x00"):
			t.Fatalf("accepted an email with a control character, a quote, a bracket or a space: %q", out.Email)
		case !strings.Contains(out.Email, "@"):
			t.Fatalf("accepted an email without @: %q", out.Email)
		case !strings.Contains(out.Email[strings.LastIndex(out.Email, "@"):], "."):
			t.Fatalf("accepted an email without a dot in its domain: %q", out.Email)
		}
		again, err := out.Normalize()
		if err != nil || again != out {
			t.Fatalf("Normalize is not idempotent: %q %q -> %q %q, %v", out.Name, out.Email, again.Name, again.Email, err)
		}
	})
}

// FuzzReadCookie: readCookie never returns a value over maxCookieLen, an empty
// value, a value with ";", or any value when two cookies share the name (a
// name read as browsers read it, without the whitespace around it).
func FuzzReadCookie(f *testing.F) {
	for _, s := range [][2]string{
		{"guestgate=tok", ""},
		{"a=1; guestgate=tok; b=2", ""},
		{"guestgate=one", "guestgate=two"},
		{"guestgate=one; guestgate=two", ""},
		{"guestgate=; guestgate=x", ""},
		{"guestgate", "guestgate=x"},
		{`guestgate="tok"`, ""},
		{`guestgate=""`, ""},
		{" guestgate = x", ""},
		{"guestgate =x; guestgate=y", ""},
		{"guestgate\t=x", ""},
		{"guestgate=x=y", ""},
		{"Guestgate=x; guestgate=y", ""},
		{"guestgate=" + strings.Repeat("A", maxCookieLen+1), ""},
		{`guestgate="` + strings.Repeat("A", maxCookieLen) + `"`, ""},
		{"guestgate-csrf=x; __Host-guestgate=y", "guestgate=z"},
	} {
		f.Add(s[0], s[1])
	}

	f.Fuzz(func(t *testing.T, line1, line2 string) {
		r := &http.Request{Header: http.Header{}}
		for _, l := range []string{line1, line2} {
			if l != "" {
				r.Header.Add("Cookie", l)
			}
		}
		v, ok := readCookie(r, CookieName)
		named := 0
		for _, l := range r.Header["Cookie"] {
			for _, part := range strings.Split(l, ";") {
				// Browsers and net/http read the name without the
				// whitespace around it.
				if k, _, _ := strings.Cut(part, "="); strings.Trim(k, " \t\r\n") == CookieName {
					named++
				}
			}
		}
		if !ok {
			if v != "" {
				t.Fatalf("readCookie refused but returned %q", v)
			}
			return
		}
		switch {
		case named != 1:
			t.Fatalf("readCookie returned %q although %d cookies are named %s", v, named, CookieName)
		case v == "" || len(v) > maxCookieLen:
			t.Fatalf("readCookie returned a value of %d bytes", len(v))
		case strings.Contains(v, ";"):
			t.Fatalf("readCookie returned %q, with a ;", v)
		case !strings.Contains(line1+line2, v):
			t.Fatalf("readCookie returned %q, which is in no Cookie line", v)
		}
	})
}

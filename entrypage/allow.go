package entrypage

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Allowlist is the set of paths a guest may reach, from the allow option: each
// pattern is an absolute path in which "{room}" stands for the guest's own room id
// and a trailing "*" matches any rest of the path (Caddy's path matcher convention).
// Matching is byte for byte on the normalised path, so room ids are case-sensitive.
type Allowlist struct {
	patterns []allowPattern
}

type allowPattern struct {
	// parts alternate literal text and the room placeholder: before[0] {room}
	// before[1] {room} ... ; prefix is true for a trailing "*".
	parts  []string
	prefix bool
}

// ParseAllowlist compiles patterns. A pattern must start with "/", may hold
// "{room}" any number of times, may end with "*" and may not hold any other "*",
// "{", "}", "?" or "#", nor dot segments or "//".
func ParseAllowlist(patterns []string) (Allowlist, error) {
	return parsePatterns("allow", patterns)
}

// parsePatterns is ParseAllowlist for the patterns of an option named what,
// which its errors name: "write pattern "/x": must start with '/'".
func parsePatterns(what string, patterns []string) (Allowlist, error) {
	var a Allowlist
	for _, p := range patterns {
		if !strings.HasPrefix(p, "/") {
			return a, fmt.Errorf("%s pattern %q: must start with '/'", what, p)
		}
		body, prefix := strings.CutSuffix(p, "*")
		rest := strings.ReplaceAll(body, "{room}", "\x00")
		if strings.ContainsAny(rest, "*{}?#\\%") {
			return a, fmt.Errorf("%s pattern %q: only {room} and a trailing * are special; '?', '#', '%%' and '\\' are not allowed", what, p)
		}
		if strings.Contains(body, "//") || hasDotSegment(body) {
			return a, fmt.Errorf("%s pattern %q: must not contain '//' or dot segments", what, p)
		}
		a.patterns = append(a.patterns, allowPattern{parts: strings.Split(rest, "\x00"), prefix: prefix})
	}
	return a, nil
}

// Match reports whether the normalised path (see CleanPath) is allowed for room.
// It does not allocate.
func (a Allowlist) Match(path, room string) bool {
	for _, p := range a.patterns {
		if p.match(path, room) {
			return true
		}
	}
	return false
}

func (p allowPattern) match(path, room string) bool {
	rest := path
	for i, lit := range p.parts {
		if i > 0 {
			if !strings.HasPrefix(rest, room) {
				return false
			}
			rest = rest[len(room):]
		}
		if !strings.HasPrefix(rest, lit) {
			return false
		}
		rest = rest[len(lit):]
	}
	return rest == "" || p.prefix
}

// Len is the number of patterns.
func (a Allowlist) Len() int { return len(a.patterns) }

// CleanPath checks an escaped request path (URL.EscapedPath) and returns it
// decoded. It refuses (ok false) what could make a path match mean something else
// upstream: a path not starting with "/", "//", dot segments, encoded "/", "\" or
// ".", any other encoded or raw byte below 0x20 or 0x7f, a raw "\", bad escapes,
// invalid UTF-8, and characters a backend may read as '.', '/' or '\'
// (hasLookalike). Decoding "%XX" of any other byte is allowed.
func CleanPath(escaped string) (string, bool) {
	if !strings.HasPrefix(escaped, "/") {
		return "", false
	}
	var b []byte // allocated only if the path holds an escape
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		if c == '%' {
			if i+2 >= len(escaped) || !isHex(escaped[i+1]) || !isHex(escaped[i+2]) {
				return "", false
			}
			c = unhex(escaped[i+1])<<4 | unhex(escaped[i+2])
			if c == '/' || c == '\\' || c == '.' || c == '%' || c < 0x20 || c == 0x7f {
				return "", false
			}
			if b == nil {
				b = append(make([]byte, 0, len(escaped)), escaped[:i]...)
			}
			b = append(b, c)
			i += 2
			continue
		}
		if c == '\\' || c < 0x20 || c == 0x7f {
			return "", false
		}
		if b != nil {
			b = append(b, c)
		}
	}
	path := escaped
	if b != nil {
		path = string(b)
	}
	if strings.Contains(path, "//") || hasDotSegment(path) || !utf8.ValidString(path) || hasLookalike(path) {
		return "", false
	}
	return path, true
}

// hasLookalike reports whether the valid UTF-8 path p holds a character that
// a backend may read as '.', '/' or '\': one whose compatibility form (NFKC,
// which backends that normalise identifiers apply) holds one of them, such as
// the fullwidth full stop U+FF0E, the two dot leader U+2025 (".."), the
// fullwidth solidus U+FF0F and reverse solidus U+FF3C; or one that Windows'
// best-fit conversion to an ANSI code page turns into '/' or '\' (the
// division slash U+2215 and the set minus U+2216; the yen sign U+00A5 in the
// Japanese code page and the won sign U+20A9 in the Korean one, where the byte
// of '\' is shown as those signs), or whose compatibility form holds one (the
// fullwidth yen and won signs U+FFE5 and U+FFE6). "/rooms/demo/．．／other"
// would otherwise match as a page of demo and reach other's upstream. An ASCII
// path costs one pass over its bytes.
func hasLookalike(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] >= utf8.RuneSelf {
			return lookalikeIn(p[i:])
		}
	}
	return false
}

// readAsSeparator are the characters hasLookalike refuses, also as a part of
// a character's compatibility form: '.', '/', '\', and those Windows'
// best-fit conversion turns into '/' or '\'.
const readAsSeparator = "./\\\u2215\u2216\u00a5\u20a9"

func lookalikeIn(p string) bool {
	var buf [utf8.UTFMax]byte
	for _, r := range p {
		if r < utf8.RuneSelf {
			continue
		}
		if strings.ContainsRune(readAsSeparator, r) {
			return true
		}
		n := utf8.EncodeRune(buf[:], r)
		if norm.NFKC.IsNormal(buf[:n]) {
			continue
		}
		if strings.ContainsAny(norm.NFKC.String(string(buf[:n])), readAsSeparator) {
			return true
		}
	}
	return false
}

// hasDotSegment reports whether a "/"-separated path has a "." or ".." segment,
// also when path parameters follow it ("..;x"): servlet containers drop ";..."
// from each segment and would read it as "..".
func hasDotSegment(p string) bool {
	for p != "" {
		var seg string
		seg, p, _ = strings.Cut(p, "/")
		seg, _, _ = strings.Cut(seg, ";")
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

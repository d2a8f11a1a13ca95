package entrypage

import (
	"net/http"
	"testing"
)

func TestCleanPath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"/rooms/demo", "/rooms/demo", true},
		{"/rooms/demo/", "/rooms/demo/", true},
		{"/rooms/demo/a%20b", "/rooms/demo/a b", true},
		{"/rooms/Zo%C3%AB", "/rooms/Zoë", true},
		{"/rooms/demo/../other", "", false},
		{"/rooms/demo/./x", "", false},
		{"/rooms/demo/..", "", false},
		{"/rooms/demo/..;/other", "", false},
		{"/rooms/demo/..;jsessionid=x/other", "", false},
		{"/rooms/demo/.;/x", "", false},
		{"/rooms/demo/a;b/c", "/rooms/demo/a;b/c", true},
		{"/rooms/demo/%2e%2e/other", "", false},
		{"/rooms/demo/%2E./other", "", false},
		{"/rooms/demo/%252e%252e/other", "", false}, // %25 decodes to '%': double encoding refused
		{"/rooms/demo%2fother", "", false},
		{"/rooms/demo%2Fother", "", false},
		{"/rooms/demo%5cother", "", false},
		{"/rooms/demo\\..\\other", "", false},
		{"/rooms//demo", "", false},
		{"//evil.example/rooms/demo", "", false},
		{"/rooms/demo%00", "", false},
		{"/rooms/demo\x00", "", false},
		{"/rooms/demo%0a", "", false},
		{"/rooms/demo\t", "", false},
		{"/rooms/demo%7f", "", false},
		{"/rooms/%c0%ae%c0%ae/x", "", false}, // overlong UTF-8 for ".."
		{"/rooms/%ff", "", false},
		{"/rooms/demo%", "", false},
		{"/rooms/demo%2", "", false},
		{"/rooms/demo%zz", "", false},
		{"rooms/demo", "", false},
		{"", "", false},
	} {
		got, ok := CleanPath(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestAllowlist(t *testing.T) {
	a, err := ParseAllowlist([]string{"/rooms/{room}", "/rooms/{room}/*", "/static/*", "/ws/{room}", "/x/{room}/y/{room}"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, room string
		want       bool
	}{
		{"/rooms/demo", "demo", true},
		{"/rooms/demo/", "demo", true},
		{"/rooms/demo/chat/1", "demo", true},
		{"/rooms/demo2", "demo", false},
		{"/rooms/dem", "demo", false},
		{"/rooms/DEMO", "demo", false},
		{"/rooms/other", "demo", false},
		{"/rooms/", "demo", false},
		{"/static/app.js", "demo", true},
		{"/static", "demo", false},
		{"/ws/demo", "demo", true},
		{"/ws/demo/x", "demo", false},
		{"/x/demo/y/demo", "demo", true},
		{"/x/demo/y/other", "demo", false},
		{"/", "demo", false},
		{"/rooms/demo.evil", "demo", false},
	} {
		if got := a.Match(tc.path, tc.room); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.path, tc.room, got, tc.want)
		}
	}
	for _, bad := range []string{"rooms/{room}", "/rooms/*/x", "/rooms/{other}", "/a?b", "/a#b", "/a/../b", "/a//b", "/a\\b", "/a%2fb"} {
		if _, err := ParseAllowlist([]string{bad}); err == nil {
			t.Errorf("ParseAllowlist(%q) accepted", bad)
		}
	}
}

func TestAllowlistMatchDoesNotAllocate(t *testing.T) {
	a, _ := ParseAllowlist([]string{"/rooms/{room}", "/rooms/{room}/*", "/static/*"})
	if n := testing.AllocsPerRun(100, func() { a.Match("/rooms/demo/chat", "demo") }); n != 0 {
		t.Fatalf("Match allocates %v times", n)
	}
}

func BenchmarkAllowlistMatch(b *testing.B) {
	a, _ := ParseAllowlist([]string{"/rooms/{room}", "/rooms/{room}/*", "/static/*", "/ws/{room}"})
	b.ReportAllocs()
	for b.Loop() {
		a.Match("/ws/demo", "demo")
	}
}

func TestIdentityHeaders(t *testing.T) {
	h := http.Header{}
	for _, k := range []string{"X-Guest-Name", "X-Guest-Id", "X-Guest-Anything", "X_Guest_Name", "X.Guest.Name", "x-guest-email"} {
		h[k] = []string{"forged"}
	}
	h.Set("X-Guestbook", "kept")
	h.Set("Accept", "kept")
	h.Set("Connection", "keep-alive, X-Guest-Name, x_guest_id, Cookie, Upgrade")
	stripIdentityHeaders(h)
	for k := range h {
		if isIdentityHeader(k) {
			t.Errorf("header %q survived", k)
		}
	}
	if h.Get("X-Guestbook") != "kept" || h.Get("Accept") != "kept" {
		t.Errorf("unrelated headers removed: %v", h)
	}
	if got := h.Get("Connection"); got != "keep-alive, Upgrade" {
		t.Errorf("Connection = %q", got)
	}
}

func TestHeaderEscape(t *testing.T) {
	for in, want := range map[string]string{
		"Ada":               "Ada",
		"Zoë Ada":           "Zo%C3%AB%20Ada",
		"a+b@example.com":   "a%2Bb%40example.com",
		"<img src=x>":       "%3Cimg%20src%3Dx%3E",
		"line\r\nX-Evil: 1": "line%0D%0AX-Evil%3A%201",
		"~._-":              "~._-",
		"%41":               "%2541",
	} {
		if got := headerEscape(in); got != want {
			t.Errorf("headerEscape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadAndStripCookie(t *testing.T) {
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Add("Cookie", "a=1; guestgate=tok; b=2")
	if v, ok := readCookie(r, "guestgate"); !ok || v != "tok" {
		t.Fatalf("readCookie = %q %v", v, ok)
	}
	stripCookie(r, "guestgate", "guestgate-csrf")
	if got := r.Header.Get("Cookie"); got != "a=1; b=2" {
		t.Fatalf("after strip: %q", got)
	}

	dup, _ := http.NewRequest("GET", "/", nil)
	dup.Header.Add("Cookie", "guestgate=one")
	dup.Header.Add("Cookie", "guestgate=two")
	if _, ok := readCookie(dup, "guestgate"); ok {
		t.Fatal("duplicate cookies must count as none")
	}
	stripCookie(dup, "guestgate")
	if dup.Header.Get("Cookie") != "" {
		t.Fatalf("cookie header left: %q", dup.Header.Get("Cookie"))
	}

	big, _ := http.NewRequest("GET", "/", nil)
	big.Header.Add("Cookie", "guestgate="+string(make([]byte, maxCookieLen+1)))
	if _, ok := readCookie(big, "guestgate"); ok {
		t.Fatal("oversized cookie accepted")
	}
}

func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		site, origin string
		want         bool
	}{
		{"", "", true},
		{"same-origin", "http://rooms.test", true},
		{"none", "", true},
		{"cross-site", "", false},
		{"same-site", "", false},
		{"", "http://evil.test", false},
		{"", "https://rooms.test", false},
		{"", "null", false},
	} {
		r, _ := http.NewRequest("POST", "http://rooms.test/guest/x", nil)
		if tc.site != "" {
			r.Header.Set("Sec-Fetch-Site", tc.site)
		}
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if got := sameOrigin(r); got != tc.want {
			t.Errorf("sameOrigin(site=%q, origin=%q) = %v, want %v", tc.site, tc.origin, got, tc.want)
		}
	}
}

// TestCleanPathRefusesLookalikeDots protects the gate's promise that no path it
// lets through may mean another room's path upstream. A backend that applies
// Unicode compatibility normalisation (NFKC) to its paths, as identifier
// handling often does, reads the fullwidth full stop U+FF0E, the two dot
// leader U+2025 and the small full stop U+FE52 as '.' and "..", and the
// fullwidth solidus U+FF0F and reverse solidus U+FF3C as '/' and '\'; a
// Windows backend's best-fit conversion to its ANSI code page does the same
// to the fullwidth forms and reads the division slash U+2215 as '/', and, in
// the Japanese and Korean code pages, the yen sign U+00A5 and the won sign
// U+20A9 as the byte of '\', which a backend doing both makes also of their
// fullwidth forms U+FFE5 and U+FFE6. So "/rooms/demo/．．／other" would pass the allowlist as a page of demo and
// reach other's. CleanPath refuses, raw or percent-encoded, every character
// that such a backend reads as a dot, a slash or a backslash, as it refuses
// encoded dots and slashes; letters of other scripts still pass.
func TestCleanPathRefusesLookalikeDots(t *testing.T) {
	for _, in := range []string{
		"/rooms/demo/%EF%BC%8E%EF%BC%8E%EF%BC%8Fother", // ．．／other
		"/rooms/demo/\uff0e\uff0e\uff0fother",
		"/rooms/demo/%E2%80%A5/other",          // ‥ (NFKC "..")
		"/rooms/demo/%E2%80%A4%E2%80%A4/other", // ․․ one dot leaders
		"/rooms/demo/%EF%B9%92%EF%B9%92/other", // ﹒﹒ small full stops
		"/rooms/demo/..%EF%BC%8Fother",         // ../other, with a fullwidth slash
		"/rooms/demo/..%EF%BC%BCother",         // ..\other, with a fullwidth backslash
		"/rooms/demo/..%E2%88%95other",         // ..∕other, with a division slash
		"/rooms/demo/..%E2%88%96other",         // ..∖other, with a set minus
		"/rooms/demo/..%C2%A5other",            // ..¥other: '\\' in code page 932
		"/rooms/demo/..\u20a9other",            // ..₩other: '\\' in code page 949
		"/rooms/demo/..%EF%BF%A5other",         // ..￥other: NFKC ¥
		"/rooms/demo/..\uffe6other",            // ..￦other: NFKC ₩
	} {
		if got, ok := CleanPath(in); ok {
			t.Errorf("CleanPath(%q) = %q, true; want it refused", in, got)
		}
	}
	for in, want := range map[string]string{
		"/rooms/Zo%C3%AB":                "/rooms/Zoë",
		"/rooms/demo/%E6%97%A5%E6%9C%AC": "/rooms/demo/日本",
		"/rooms/demo/caf%C3%A9":          "/rooms/demo/café",
	} {
		if got, ok := CleanPath(in); !ok || got != want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q, true", in, got, ok, want)
		}
	}
}

package integration

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/internal/testjwt"
	"github.com/guestgate/guestgate/token"
)

// advSigningKey is the session signing key of the hardening tests, so that they
// can forge session tokens the way an attacker who knows it, or does not, would.
const advSigningKey = "adversarial-test-signing-key-0123456789abcdef"

// advOnSite reports whether a URL the gateway sends (a Location, a link, a form
// action) stays on this site: one leading "/", no scheme or host, no backslash
// and no control byte (browsers drop tabs and newlines, so "/\t/evil" is
// "//evil" to them).
func advOnSite(u string) bool {
	if !strings.HasPrefix(u, "/") || strings.HasPrefix(u, "//") {
		return false
	}
	for i := 0; i < len(u); i++ {
		if c := u[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	p, err := url.Parse(u)
	return err == nil && p.Scheme == "" && p.Host == ""
}

var advURLAttr = regexp.MustCompile(`(?i)\b(?:href|action|src|data-status-url)="([^"]*)"`)

// advCase is one hostile request and the exact answer it must get.
type advCase struct {
	kind, name string
	// setup, if set, runs before the click counts are read.
	setup func()
	// send makes the request.
	send func() page
	// status and reason are the answer: reason is the data-reason of a message
	// page ("" for none); field, if set, is the entry form re-rendered with the
	// error beside that field ("form" for the form-level error); apiCode, if
	// set, is the JSON error code of an API answer.
	status        int
	reason, field string
	apiCode       string
	// location, if set, is the exact Location of a redirect.
	location string
	// reach, if set, says the request must reach the upstream (once) and
	// checks what the upstream saw; otherwise nothing may reach it.
	reach func(seenRequest) string
	// extra, if set, checks more of the answer ("" when fine).
	extra func(page) string
	// storeReads, if not zero, checks the store reads the request made: -1 none
	// at all, 1 at least one (the control that shows the count works).
	storeReads int
}

// TestAdversarialInputs: hostile paths, headers, session tokens, forms, redirect
// parameters and link tokens. Every case asserts the exact
// answer, that nothing reached the upstream (but for the few cases marked as
// reaching it, where the upstream must see exactly the gateway's identity),
// that no click was spent on any link, that no session cookie was handed out
// and that every URL in the answer stays on this site. The header cases run
// twice: as Caddy is by default (it drops request headers whose names hold "_"
// or "."), and with the server keeping those spellings, so that the gateway's
// own stripping is what is tested. The malformed link tokens also assert that
// the store was not read (Badger's read count). Rate limits are off, so that
// the many refusals do not turn into 429s (rate limits: ratelimit_test.go).
func TestAdversarialInputs(t *testing.T) {
	cfg := config{
		Allow:        "/rooms/{room} /rooms/{room}/* /ws/{room}",
		GatewayExtra: []string{"signing_key " + advSigningKey, "rate_limit off"},
	}
	g := startGateway(t, cfg)
	lDemo := g.openRoomWithLink("demo", map[string]any{"name": "Adversarial", "max_clicks": 100})
	lOther := g.openRoomWithLink("other", map[string]any{"name": "Other room"})
	g.putRoom("hall", map[string]any{"name": "Hall", "admission": "moderator"})
	g.setAccess("hall", true)
	lHall := g.createLink("hall", map[string]any{"name": "Hall link"})
	demoPath, otherPath, hallPath := linkPath(t, lDemo), linkPath(t, lOther), linkPath(t, lHall)
	tok := strings.TrimPrefix(demoPath, "/guest/")

	// An admitted guest of demo, a guest waiting in hall's lobby, and a fresh
	// browser holding the entry form of demo (its anti-CSRF cookie and field).
	guest := g.browser()
	guest.mustRedeem(demoPath, "Ada", "ada@example.com", "demo")
	session := guest.sessionValue()
	cookie := "Cookie: guestgate=" + session
	waiting := g.browser()
	if p := waiting.redeem(hallPath, "Wanda", "wanda@example.com"); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/guest/lobby" {
		t.Fatalf("redeeming the hall link: %d Location %q, want 303 to /guest/lobby", p.Status, p.Header.Get("Location"))
	}
	waitingCookie := "Cookie: guestgate=" + waiting.sessionValue()
	form := g.browser()
	csrf := form.get(demoPath).csrf()
	csrfOtherLink := form.get(otherPath).csrf()
	if csrf == "" || csrfOtherLink == "" {
		t.Fatal("the entry pages have no csrf field")
	}
	good := url.Values{"name": {"Eve"}, "email": {"eve@example.com"}, "csrf": {csrf}}
	with := func(k string, vals ...string) url.Values {
		v := url.Values{}
		for kk, vv := range good {
			v[kk] = vv
		}
		if vals == nil {
			v.Del(k)
		} else {
			v[k] = vals
		}
		return v
	}

	// Forged session tokens: the real guest's claims, re-signed and changed.
	genuine := claimsOf(t, session)
	now := time.Now()
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims { return redated(genuine, now, edit) }
	key := []byte(advSigningKey)
	hs := func(edit func(jwt.MapClaims), header map[string]any) string {
		return signSession(t, jwt.SigningMethodHS256, key, claims(edit), header)
	}
	valid := hs(nil, nil)
	parts := strings.Split(valid, ".")
	noneTok := func(alg string) string {
		return unsignedJWS(t, map[string]any{"alg": alg, "typ": token.SessionType}, claims(nil), "")
	}
	big := hs(func(c jwt.MapClaims) { c["name"] = strings.Repeat("A", 5000) }, nil)
	if len(big) <= 4096 {
		t.Fatalf("the big token is %d bytes, want over 4096", len(big))
	}
	otherRoom := hs(func(c jwt.MapClaims) { c["room"], c["lid"] = "other", lOther.ID }, nil)

	// Requests.
	get := func(target string, lines ...string) func() page {
		return func() page { return rawRequest(t, g.addr(), http.MethodGet, target, lines, "") }
	}
	asGuest := func(target string, lines ...string) func() page {
		return get(target, append([]string{cookie}, lines...)...)
	}
	withToken := func(tok string) func() page { return get("/rooms/demo", "Cookie: guestgate="+tok) }
	postForm := func(target string, v url.Values, header http.Header) func() page {
		return func() page { return form.post(target, v, header) }
	}
	postRaw := func(target string, lines ...string) func() page {
		return func() page {
			return rawRequest(t, g.addr(), http.MethodPost, target,
				append([]string{"Content-Type: application/x-www-form-urlencoded"}, lines...), "name=Ada&email=ada%40example.com")
		}
	}

	// What the upstream must see when a case reaches it: exactly the gateway's
	// five identity headers with the real guest's values, nothing forged.
	realIdentity := func(u seenRequest) string {
		want := map[string]string{
			"X-Guest-Id": genuine["sub"].(string), "X-Guest-Room": "demo", "X-Guest-Link": lDemo.ID,
			"X-Guest-Name": "Ada", "X-Guest-Email": "ada%40example.com",
		}
		for k, v := range want {
			if got := u.Header.Values(k); len(got) != 1 || got[0] != v {
				return fmt.Sprintf("upstream %s = %q, want [%q]", k, got, v)
			}
		}
		// Any other X-Guest-* header (the gateway may add more of its own) holds
		// nothing the client sent.
		for k, vs := range identityHeaders(u.Header) {
			if _, ok := want[http.CanonicalHeaderKey(k)]; !ok && (k != http.CanonicalHeaderKey(k) || len(vs) != 1) {
				return fmt.Sprintf("upstream identity header %s = %q is not one of the gateway's", k, vs)
			}
		}
		for k, vs := range u.Header {
			for _, v := range vs {
				if strings.Contains(v, "Mallory") || strings.Contains(v, "forged") || strings.Contains(v, "evil.example") || v == "other" {
					return fmt.Sprintf("a forged value reached the upstream in %s: %q", k, v)
				}
			}
		}
		if strings.Contains(strings.Join(u.Header.Values("Cookie"), ";"), "guestgate") {
			return "the upstream saw the gateway's cookie"
		}
		return ""
	}
	backTo := func(want string) func(page) string {
		return func(p page) string {
			if !strings.Contains(p.Body, `href="`+want+`"`) {
				return fmt.Sprintf("the page offers no way back to %s", want)
			}
			return ""
		}
	}
	forgedAll := []string{
		"X-Guest-Id: g_forgedforgedforg", "X-Guest-Room: other", "X-Guest-Link: l_forgedforgedforg",
		"X-Guest-Name: Mallory", "X-Guest-Email: mallory%40evil.example", "X_Guest_Name: Mallory",
		"X.Guest.Name: Mallory", "x-guest-room: other", "X_GUEST_ID: g_forgedforgedforg", "X.Guest.Room: other",
	}
	rewrites := []string{
		"X-Forwarded-Uri: /rooms/demo", "X-Original-URI: /rooms/demo", "X-Original-Url: /rooms/demo",
		"X-Rewrite-URL: /rooms/demo", "X-Forwarded-Prefix: /rooms/demo",
		"X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https", "X-Forwarded-For: 127.0.0.1",
	}
	redirectQuery := func(v string) string {
		q := ""
		for i, name := range []string{"next", "return_to", "redirect", "redirect_uri", "url", "continue", "back"} {
			if i > 0 {
				q += "&"
			}
			q += name + "=" + v
		}
		return q
	}

	var cases []advCase
	add := func(c ...advCase) { cases = append(cases, c...) }

	// ---- paths: a guest of demo (allowed: /rooms/demo, /rooms/demo/*, /ws/demo) ----
	for _, target := range []string{
		"/rooms/demo/../other",
		"/rooms/demo/./../other",
		"/rooms/demo/%2e%2e/other",
		"/rooms/demo/%2E%2e/other",
		"/rooms/demo/.%2E/other",
		"/rooms/demo/%252e%252e/other",
		"/rooms/demo/%25%32%65%25%32%65/other",
		"/rooms/demo/..%5cother",
		"/rooms/demo/..\\other",
		"/rooms/demo\\..\\..\\rooms\\other",
		"/rooms/demo/%2e%2e%5c%2e%2e%5cother",
		"/rooms/demo/x%2ejson",
		"/rooms/demo/%2e%2e%2e/other",
		"/rooms/demo/.%5c./other",
		"/rooms/demo%2f..%2fother",
		"/rooms/demo/x%2F..%2F..%2Fother",
		"/rooms/demo%252f..%252fother",
		"//rooms/demo",
		"/rooms//demo",
		"/rooms/demo//x",
		"/rooms/demo/%2f/x",
		"/rooms/demo/%00",
		"/rooms/demo/x%00.html",
		"/rooms/demo/x%0d%0aX-Guest-Room:%20other",
		"/rooms/demo/%09",
		"/rooms/demo/%7f",
		"/rooms/demo/%c0%ae%c0%ae/other",
		"/rooms/demo/%c0%af..%c0%afother",
		"/rooms/demo/%e0%80%ae%e0%80%ae/other",
		"/rooms/demo/\xc0\xae\xc0\xae/other",
		"/rooms/demo/%ff",
		"/rooms/other",
		"/rooms/other/x",
		"/ws/other",
		"/rooms/DEMO",
		"/rooms/Demo/x",
		"/rooms/OTHER",
		"/rooms/%D0%BEther",                                    // Cyrillic o: a lookalike of "other"
		"/rooms/%EF%BD%8F%EF%BD%94%EF%BD%88%EF%BD%85%EF%BD%92", // fullwidth "other" (NFKC folds it to ASCII)
		"/rooms/d%D0%B5mo",                                     // Cyrillic e: a lookalike of "demo"
		"/rooms/%EF%BD%84%EF%BD%85%EF%BD%8D%EF%BD%8F",          // fullwidth "demo"
		"/rooms/demo%CC%81",                                    // "demo" + combining acute (an NFD form of a non-ASCII id)
		"/rooms/other#/../demo",
		"/rooms/demo#/../../rooms/other",
		"/rooms/demo%23/../other",
		"/rooms/other?/rooms/demo/",
		"/rooms/other%3F/rooms/demo/",
		"/rooms/demo%3F/../other",
		"/rooms/demo%3Fx",
		"/rooms/demo%23x",
		"/rooms/demo/..;/other",
		"/rooms/demo/.;/x",
	} {
		add(advCase{kind: "paths", name: target, send: asGuest(target), status: http.StatusForbidden, reason: "not-allowed", extra: backTo("/rooms/demo")})
	}
	// Other request forms. Go's HTTP server answers "OPTIONS *" itself (200, no
	// body) before any handler; an absolute-form target goes through the gate
	// like any other request. CONNECT from a guest is refused with 405, in
	// authority form and in the path form that names an allowed room path
	// (which used to reach the upstream).
	add(
		advCase{kind: "paths", name: "OPTIONS *", send: func() page {
			return rawRequest(t, g.addr(), http.MethodOptions, "*", []string{cookie}, "")
		}, status: http.StatusOK},
		advCase{kind: "paths", name: "CONNECT to the upstream's address", send: func() page {
			return rawRequest(t, g.addr(), http.MethodConnect, g.up.addr(), []string{cookie}, "")
		}, status: http.StatusMethodNotAllowed, reason: "bad-request"},
		advCase{kind: "paths", name: "CONNECT /rooms/demo", send: func() page {
			return rawRequest(t, g.addr(), http.MethodConnect, "/rooms/demo", []string{cookie}, "")
		}, status: http.StatusMethodNotAllowed, reason: "bad-request"},
		advCase{kind: "paths", name: "absolute-form target naming the room", send: asGuest("http://" + g.addr() + "/rooms/other"),
			status: http.StatusForbidden, reason: "not-allowed"},
	)
	// A raw control byte in the request line never gets past the HTTP server.
	for _, target := range []string{"/rooms/demo/\x01", "/rooms/demo/\x7f", "/rooms/demo/\tx"} {
		add(advCase{kind: "paths", name: fmt.Sprintf("raw %q", target), send: asGuest(target), status: http.StatusBadRequest})
	}

	// ---- headers ----
	add(
		advCase{kind: "headers", name: "forged X-Guest-* in every spelling, no session", send: get("/rooms/demo", forgedAll...),
			status: http.StatusUnauthorized, reason: "no-session"},
		advCase{kind: "headers", name: "forged X-Guest-Room: other, guest of demo asks for other", send: asGuest("/rooms/other", forgedAll...),
			status: http.StatusForbidden, reason: "not-allowed"},
		advCase{kind: "headers", name: "forged X-Guest-* in every spelling on an allowed path", send: asGuest("/rooms/demo", forgedAll...),
			status: http.StatusOK, reach: realIdentity},
		advCase{kind: "headers", name: "Connection naming the identity headers and Cookie", send: asGuest("/rooms/demo",
			"Connection: X-Guest-Id, X-Guest-Name, x_guest_room", "Connection: X-Guest-Link, X.Guest.Email, Cookie, keep-alive"),
			status: http.StatusOK, reach: realIdentity},
		advCase{kind: "headers", name: "URL rewrite headers pointing into the room, no session", send: get("/rooms/demo", rewrites...),
			status: http.StatusUnauthorized, reason: "no-session"},
		advCase{kind: "headers", name: "URL rewrite headers pointing into the room, guest asks for other", send: asGuest("/rooms/other", rewrites...),
			status: http.StatusForbidden, reason: "not-allowed", extra: backTo("/rooms/demo")},
		advCase{kind: "headers", name: "URL rewrite headers pointing at the entry page, no session", send: get("/rooms/demo",
			"X-Original-URI: "+demoPath, "X-Rewrite-URL: "+demoPath, "X-Forwarded-Uri: "+demoPath, "X-Forwarded-Prefix: /guest"),
			status: http.StatusUnauthorized, reason: "no-session"},
		advCase{kind: "headers", name: "forwarded host and prefix on a returning guest's entry post", send: func() page {
			return rawRequest(t, g.addr(), http.MethodPost, demoPath, append([]string{cookie, "Content-Type: application/x-www-form-urlencoded",
				"X-Forwarded-Prefix: //evil.example"}, rewrites...), "")
		}, status: http.StatusSeeOther, location: "/rooms/demo"},
		advCase{kind: "headers", name: "forwarded host and prefix on a returning guest's entry page", send: get(demoPath,
			append([]string{cookie, "X-Forwarded-Prefix: https://evil.example/"}, rewrites...)...),
			status: http.StatusSeeOther, location: "/rooms/demo"},
		advCase{kind: "headers", name: "foreign Origin made to look same-origin with X-Forwarded-Host", send: postForm(demoPath, good,
			http.Header{"Origin": {"http://evil.example"}, "X-Forwarded-Host": {"evil.example"}}),
			status: http.StatusForbidden, reason: "not-allowed"},
		advCase{kind: "headers", name: "https Origin made to look same-origin with X-Forwarded-Proto", send: postForm(demoPath, good,
			http.Header{"Origin": {"https://" + g.addr()}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Ssl": {"on"}}),
			status: http.StatusForbidden, reason: "not-allowed"},
		advCase{kind: "headers", name: "forwarded headers on the API: link URLs unchanged", send: func() page {
			req, _ := http.NewRequest(http.MethodGet, g.base+"/guest-admin/api/rooms/demo/links", nil)
			req.Header.Set("Authorization", "Bearer "+apiKey)
			for _, h := range append(rewrites, "X-Forwarded-Prefix: //evil.example", "Forwarded: host=evil.example;proto=https") {
				k, v, _ := strings.Cut(h, ": ")
				req.Header.Add(k, v)
			}
			return advDo(t, g.admin, req)
		}, status: http.StatusOK, extra: func(p page) string {
			var links []admin.LinkJSON
			if err := json.Unmarshal([]byte(p.Body), &links); err != nil || len(links) != 1 {
				return fmt.Sprintf("links answer %q: %v", p.Body, err)
			}
			if links[0].URL != lDemo.URL {
				return fmt.Sprintf("link URL %q, want %q", links[0].URL, lDemo.URL)
			}
			return ""
		}},
		advCase{kind: "headers", name: "forwarded headers on the API do not stand in for the key", send: func() page {
			req, _ := http.NewRequest(http.MethodGet, g.base+"/guest-admin/api/rooms/demo/links", nil)
			for _, h := range append(rewrites, "X-Real-Ip: 127.0.0.1", "X-Guest-Id: "+genuine["sub"].(string)) {
				k, v, _ := strings.Cut(h, ": ")
				req.Header.Add(k, v)
			}
			return advDo(t, g.admin, req)
		}, status: http.StatusUnauthorized, apiCode: "unauthorized"},
	)

	// ---- tokens (cookie on /rooms/demo) ----
	refusedToken := func(name, tok string) advCase {
		return advCase{kind: "tokens", name: name, send: withToken(tok), status: http.StatusUnauthorized, reason: "no-session"}
	}
	add(
		advCase{kind: "tokens", name: "control: re-signed as the gateway would", send: withToken(valid), status: http.StatusOK, reach: realIdentity},
		refusedToken("alg none", signSession(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil), nil)),
		refusedToken("alg None", noneTok("None")),
		refusedToken("alg NONE", noneTok("NONE")),
		refusedToken("alg nOnE", noneTok("nOnE")),
		refusedToken("alg none with the real signature", unsignedJWS(t, map[string]any{"alg": "none", "typ": token.SessionType}, claims(nil), parts[2])),
		refusedToken("HS384 with the key", signSession(t, jwt.SigningMethodHS384, key, claims(nil), nil)),
		refusedToken("HS256 with a wrong key", signSession(t, jwt.SigningMethodHS256, []byte("a-wrong-signing-key-0123456789abcdef0123"), claims(nil), nil)),
		refusedToken("HS256 with an empty key", unsignedJWS(t, map[string]any{"alg": "HS256", "typ": token.SessionType}, claims(nil),
			strings.Split(signSession(t, jwt.SigningMethodHS256, []byte{}, claims(nil), nil), ".")[2])),
		refusedToken("missing exp", hs(func(c jwt.MapClaims) { delete(c, "exp") }, nil)),
		refusedToken("far-future exp", hs(func(c jwt.MapClaims) { c["exp"] = now.Add(10 * 365 * 24 * time.Hour).Unix() }, nil)),
		refusedToken("expired", hs(func(c jwt.MapClaims) {
			c["iat"], c["nbf"], c["exp"] = now.Unix()-20*60, now.Unix()-20*60, now.Unix()-11*60
		}, nil)),
		refusedToken("future nbf", hs(func(c jwt.MapClaims) { c["nbf"] = now.Unix() + 5*60 }, nil)),
		refusedToken("future iat", hs(func(c jwt.MapClaims) { c["iat"] = now.Unix() + 5*60 }, nil)),
		refusedToken("wrong iss", hs(func(c jwt.MapClaims) { c["iss"] = "evil" }, nil)),
		refusedToken("missing iss", hs(func(c jwt.MapClaims) { delete(c, "iss") }, nil)),
		refusedToken("wrong aud (string)", hs(func(c jwt.MapClaims) { c["aud"] = "other" }, nil)),
		refusedToken("wrong aud (array)", hs(func(c jwt.MapClaims) { c["aud"] = []string{"other"} }, nil)),
		refusedToken("aud array with ours and another", hs(func(c jwt.MapClaims) { c["aud"] = []string{"guestgate", "other"} }, nil)),
		refusedToken("kid header", hs(nil, map[string]any{"kid": "../../../../dev/null"})),
		refusedToken("jku header", hs(nil, map[string]any{"jku": "https://evil.example/jwks.json"})),
		refusedToken("x5u header", hs(nil, map[string]any{"x5u": "https://evil.example/cert.pem"})),
		refusedToken("jwk header", hs(nil, map[string]any{"jwk": map[string]any{"kty": "oct", "k": base64.RawURLEncoding.EncodeToString(key)}})),
		refusedToken("crit header", hs(nil, map[string]any{"crit": []string{"exp"}})),
		// Caddy's server refuses a header block over 16 KiB (max_header_size)
		// before any handler runs; below that, the gate refuses a cookie over 4 KB
		// before parsing it.
		advCase{kind: "tokens", name: "a megabyte of dots", send: withToken(strings.Repeat(".", 1<<20)),
			status: http.StatusRequestHeaderFieldsTooLarge},
		refusedToken("15 KB of dots", strings.Repeat(".", 15<<10)),
		refusedToken("4 KB and one byte of dots", strings.Repeat(".", 4097)),
		refusedToken("dots only", ".."),
		refusedToken("2 segments", parts[0]+"."+parts[1]),
		refusedToken("4 segments", valid+"."+parts[2]),
		refusedToken("bad base64url: '+' in the payload", parts[0]+"."+strings.Replace(parts[1], parts[1][:1], "+", 1)+"."+parts[2]),
		refusedToken("bad base64url: padding", parts[0]+"."+parts[1]+"."+parts[2]+"="),
		refusedToken("bad base64url: a segment of impossible length", parts[0]+"A."+parts[1]+"."+parts[2]),
		refusedToken("a validly signed cookie over 4 KB", big),
		advCase{kind: "tokens", name: "duplicate cookies of the same name, one line", send: get("/rooms/demo", "Cookie: guestgate="+valid+"; guestgate="+valid),
			status: http.StatusUnauthorized, reason: "no-session"},
		advCase{kind: "tokens", name: "duplicate cookies of the same name, two lines", send: get("/rooms/demo", "Cookie: guestgate="+valid, "Cookie: guestgate="+session),
			status: http.StatusUnauthorized, reason: "no-session"},
		advCase{kind: "tokens", name: "duplicate cookies, one of them empty", send: get("/rooms/demo", "Cookie: guestgate=; guestgate="+valid),
			status: http.StatusUnauthorized, reason: "no-session"},
		advCase{kind: "tokens", name: "room-A session on room B's page", send: asGuest("/rooms/other"),
			status: http.StatusForbidden, reason: "not-allowed", extra: backTo("/rooms/demo")},
		advCase{kind: "tokens", name: "room-A guest re-signed into room B", send: get("/rooms/other", "Cookie: guestgate="+otherRoom),
			status: http.StatusForbidden, reason: "removed"},
		advCase{kind: "tokens", name: "waiting token on the room", send: get("/rooms/hall", waitingCookie),
			status: http.StatusSeeOther, location: "/guest/lobby"},
		advCase{kind: "tokens", name: "waiting token on another room", send: get("/rooms/demo", waitingCookie),
			status: http.StatusForbidden, reason: "not-allowed", extra: backTo("/guest/lobby")},
		advCase{kind: "tokens", name: "waiting token on its room's WebSocket", send: get("/ws/hall", waitingCookie),
			status: http.StatusForbidden, reason: "not-allowed"},
	)
	for _, a := range testjwt.PublicKey(t) {
		add(refusedToken(a.Method.Alg(), signSession(t, a.Method, a.Key, claims(nil), nil)))
	}

	// ---- forms (the entry form of demo, from a browser that holds its form) ----
	markup := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	add(
		advCase{kind: "forms", name: "a body over 64 KB", send: postForm(demoPath, with("name", strings.Repeat("N", 70<<10)), nil),
			status: http.StatusBadRequest, reason: "bad-request"},
		advCase{kind: "forms", name: "repeated name", send: postForm(demoPath, with("name", "Eve", "Mallory"), nil),
			status: http.StatusBadRequest, reason: "bad-request"},
		advCase{kind: "forms", name: "repeated email", send: postForm(demoPath, with("email", "eve@example.com", "mallory@evil.example"), nil),
			status: http.StatusBadRequest, reason: "bad-request"},
		advCase{kind: "forms", name: "repeated csrf", send: postForm(demoPath, with("csrf", csrf, csrf), nil),
			status: http.StatusBadRequest, reason: "bad-request"},
		advCase{kind: "forms", name: "email of 255 characters", send: postForm(demoPath, with("email", strings.Repeat("e", 243)+"@example.com"), nil),
			status: http.StatusUnprocessableEntity, field: "email"},
		advCase{kind: "forms", name: "email with CR", send: postForm(demoPath, with("email", "eve\r@example.com"), nil),
			status: http.StatusUnprocessableEntity, field: "email"},
		advCase{kind: "forms", name: "email with LF", send: postForm(demoPath, with("email", "eve@example.com\nBcc: x@evil.example"), nil),
			status: http.StatusUnprocessableEntity, field: "email"},
		advCase{kind: "forms", name: "email with NUL", send: postForm(demoPath, with("email", "eve@example.com\x00"), nil),
			status: http.StatusUnprocessableEntity, field: "email"},
		advCase{kind: "forms", name: "email with quotes", send: postForm(demoPath, with("email", `"eve"@example.com`), nil),
			status: http.StatusUnprocessableEntity, field: "email"},
		advCase{kind: "forms", name: "name with NUL", send: postForm(demoPath, with("name", "Eve\x00"), nil),
			status: http.StatusUnprocessableEntity, field: "name"},
		advCase{kind: "forms", name: "name of 101 characters", send: postForm(demoPath, with("name", strings.Repeat("é", 101)), nil),
			status: http.StatusUnprocessableEntity, field: "name"},
		advCase{kind: "forms", name: "name with markup is re-rendered escaped", send: postForm(demoPath, url.Values{
			"name": {markup}, "email": {"not-an-email"}, "csrf": {csrf}}, nil),
			status: http.StatusUnprocessableEntity, field: "email", extra: func(p page) string {
				if strings.Contains(p.Body, "<script>alert(1)") || strings.Contains(p.Body, "<img src=x") {
					return "the name's markup is in the page unescaped"
				}
				if !strings.Contains(p.Body, "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;") {
					return "the name is not shown back, escaped, in the form"
				}
				return ""
			}},
		advCase{kind: "forms", name: "Sec-Fetch-Site cross-site", send: postForm(demoPath, good, http.Header{"Sec-Fetch-Site": {"cross-site"}}),
			status: http.StatusForbidden, reason: "not-allowed"},
		advCase{kind: "forms", name: "Sec-Fetch-Site same-site", send: postForm(demoPath, good, http.Header{"Sec-Fetch-Site": {"same-site"}}),
			status: http.StatusForbidden, reason: "not-allowed"},
		advCase{kind: "forms", name: "foreign Origin", send: postForm(demoPath, good, http.Header{"Origin": {"http://evil.example"}}),
			status: http.StatusForbidden, reason: "not-allowed"},
		advCase{kind: "forms", name: "Origin null", send: postForm(demoPath, good, http.Header{"Origin": {"null"}}),
			status: http.StatusForbidden, reason: "not-allowed"},
		advCase{kind: "forms", name: "two Origin headers, ours first", send: postForm(demoPath, good, http.Header{"Origin": {g.base, "http://evil.example"}}),
			status: http.StatusForbidden, reason: "not-allowed"},
		advCase{kind: "forms", name: "missing anti-CSRF field", send: postForm(demoPath, with("csrf"), nil),
			status: http.StatusForbidden, field: "form"},
		advCase{kind: "forms", name: "empty anti-CSRF field", send: postForm(demoPath, with("csrf", ""), nil),
			status: http.StatusForbidden, field: "form"},
		advCase{kind: "forms", name: "wrong anti-CSRF field", send: postForm(demoPath, with("csrf", strings.Repeat("A", 43)), nil),
			status: http.StatusForbidden, field: "form"},
		advCase{kind: "forms", name: "anti-CSRF field of another link", send: postForm(demoPath, with("csrf", csrfOtherLink), nil),
			status: http.StatusForbidden, field: "form"},
		advCase{kind: "forms", name: "anti-CSRF field without its cookie", send: func() page { return g.browser().post(demoPath, good, nil) },
			status: http.StatusForbidden, field: "form"},
	)

	// ---- redirects: no parameter sends anyone off-site ----
	for _, v := range []string{"//evil.example", `/\evil.example`, "/%09/evil.example", "https://evil.example"} {
		q := "?" + redirectQuery(v)
		add(
			advCase{kind: "redirects", name: "entry POST " + v, send: postRaw(demoPath+q, cookie),
				status: http.StatusSeeOther, location: "/rooms/demo"},
			advCase{kind: "redirects", name: "entry GET " + v, send: asGuest(demoPath + q),
				status: http.StatusSeeOther, location: "/rooms/demo"},
			advCase{kind: "redirects", name: "new visitor's entry page " + v, send: get(demoPath + q),
				status: http.StatusOK, extra: func(p page) string {
					if !strings.Contains(p.Body, `action="`+demoPath+`"`) {
						return "the entry form does not post to the link itself"
					}
					return ""
				}},
			advCase{kind: "redirects", name: "lobby " + v, send: asGuest("/guest/lobby" + q),
				status: http.StatusSeeOther, location: "/rooms/demo"},
			advCase{kind: "redirects", name: "waiting guest's lobby " + v, send: get("/guest/lobby"+q, waitingCookie),
				status: http.StatusOK},
			advCase{kind: "redirects", name: "leave " + v, send: get("/guest/leave" + q),
				status: http.StatusOK, extra: func(p page) string {
					if !strings.Contains(p.Body, `action="/guest/leave"`) {
						return "the leave form does not post to /guest/leave"
					}
					return ""
				}},
			advCase{kind: "redirects", name: "gate " + v, send: asGuest("/rooms/other" + q),
				status: http.StatusForbidden, reason: "not-allowed", extra: backTo("/rooms/demo")},
		)
	}
	for _, target := range []string{"//evil.example", "//evil.example/rooms/demo", `/\evil.example`, "/%09/evil.example", "/%5cevil.example", "/https://evil.example"} {
		add(advCase{kind: "redirects", name: "gate path " + target, send: asGuest(target),
			status: http.StatusForbidden, reason: "not-allowed", extra: backTo("/rooms/demo")})
	}
	add(
		advCase{kind: "redirects", name: "guest page path //evil.example", send: get("/guest//evil.example"),
			status: http.StatusNotFound, reason: "link-invalid"},
		advCase{kind: "redirects", name: "entry POST to an absolute-form target", send: func() page {
			return rawRequest(t, g.addr(), http.MethodPost, "http://"+g.addr()+demoPath+"?next=https://evil.example",
				[]string{cookie, "Content-Type: application/x-www-form-urlencoded"}, "")
		}, status: http.StatusSeeOther, location: "/rooms/demo"},
	)

	// ---- link tokens: malformed ones are refused before any store read ----
	for _, lt := range []struct {
		name, tok string
		reads     int
	}{
		{"31 characters", tok[:31], -1},
		{"33 characters", tok + "A", -1},
		{"64 characters", tok + tok, -1},
		{"a kilobyte", strings.Repeat("A", 1024), -1},
		{"'+' (base64, not base64url)", "+" + tok[1:], -1},
		{"'=' padding", tok[:31] + "=", -1},
		{"'.'", tok[:31] + ".", -1},
		{"'~'", tok[:31] + "~", -1},
		{"percent-encoded letter (decodes to a well-formed, unknown token)", encodedOtherLast(tok), 1},
		{"percent-encoded NUL", tok[:29] + "%00", -1},
		{"non-ASCII", tok[:30] + "\xc3\xa9", -1},
		{"well-formed, unknown (control: one store read)", strings.Repeat("A", 32), 1},
		{"other case of the real token", swapCase(tok), 1},
	} {
		add(
			advCase{kind: "links", name: "GET " + lt.name, send: get("/guest/" + lt.tok), status: http.StatusNotFound, reason: "link-invalid", storeReads: lt.reads},
			advCase{kind: "links", name: "POST " + lt.name, send: postRaw("/guest/" + lt.tok), status: http.StatusNotFound, reason: "link-invalid", storeReads: lt.reads},
		)
	}

	// ---- run ----
	clicks := func() map[string]int {
		return map[string]int{
			"demo": g.clicks("demo", lDemo.ID), "other": g.clicks("other", lOther.ID), "hall": g.clicks("hall", lHall.ID),
		}
	}
	kinds := map[string]int{}
	failed := map[string]int{}
	total := 0
	runCases := func(cases []advCase) {
		for _, tc := range cases {
			total++
			kinds[tc.kind]++
			what := tc.kind + ": " + tc.name
			if tc.setup != nil {
				tc.setup()
			}
			before, upBefore := clicks(), g.up.count()
			readsBefore := badgerCount(t, "badger_get_num_user")
			p := tc.send()
			reads := badgerCount(t, "badger_get_num_user") - readsBefore
			var errs []string
			fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

			if p.Status != tc.status {
				fail("status %d, want %d", p.Status, tc.status)
			}
			if tc.apiCode == "" && p.reason() != tc.reason {
				fail("data-reason %q, want %q", p.reason(), tc.reason)
			}
			if tc.apiCode != "" {
				var e admin.ErrorJSON
				if err := json.Unmarshal([]byte(p.Body), &e); err != nil || e.Error.Code != tc.apiCode {
					fail("API answer %q, want error code %q", strings.TrimSpace(p.Body), tc.apiCode)
				}
			}
			switch tc.field {
			case "":
				if strings.Contains(p.Body, `data-field="`) || strings.Contains(p.Body, `id="form-error"`) {
					fail("the entry form shows an error, want none")
				}
			case "form":
				if !strings.Contains(p.Body, `id="form-error"`) || p.csrf() == "" {
					fail("want the entry form again with its form-level error and a fresh csrf field")
				}
			default:
				if !strings.Contains(p.Body, `data-field="`+tc.field+`"`) {
					fail("want the entry form with the error beside %q", tc.field)
				}
			}
			if loc := p.Header.Get("Location"); loc != tc.location {
				fail("Location %q, want %q", loc, tc.location)
			}
			for _, loc := range p.Header.Values("Location") {
				if !advOnSite(loc) {
					fail("Location %q leaves the site", loc)
				}
			}
			for _, m := range advURLAttr.FindAllStringSubmatch(p.Body, -1) {
				if !advOnSite(m[1]) {
					fail("the page links to %q, off-site", m[1])
				}
			}
			if c := p.sessionCookie(); c != nil && c.Value != "" {
				fail("the answer sets a session cookie")
			}
			if tc.extra != nil {
				if msg := tc.extra(p); msg != "" {
					fail("%s", msg)
				}
			}
			reached := g.up.count() - upBefore
			switch {
			case tc.reach == nil && reached != 0:
				fail("the request reached the upstream (%d times, last as %q)", reached, g.up.last(t).RequestURI)
			case tc.reach != nil && reached != 1:
				fail("the upstream got %d requests, want 1", reached)
			case tc.reach != nil:
				if msg := tc.reach(g.up.last(t)); msg != "" {
					fail("%s", msg)
				}
			}
			switch {
			case tc.storeReads < 0 && reads != 0:
				fail("the request read the store %d times, want none", reads)
			case tc.storeReads > 0 && reads == 0:
				fail("the request did not read the store: the read count proves nothing")
			}
			if after := clicks(); fmt.Sprint(after) != fmt.Sprint(before) {
				fail("clicks went from %v to %v", before, after)
			}
			if len(errs) > 0 {
				failed[tc.kind]++
				t.Errorf("%s:\n\t%s", what, strings.Join(errs, "\n\t"))
			}
		}
	}
	runCases(cases)

	// Caddy itself drops request headers whose names hold "_" or "." unless the
	// server lists them in expected_underscore_headers or expected_dot_headers;
	// with those lists, such headers reach the handlers, and the gateway's own
	// stripping is what keeps them from the upstream. The same cases again,
	// with Caddy keeping them (X_Trace_Id and X.Trace.Id show that it does).
	cfg.Global = []string{`servers {
	expected_underscore_headers x_guest_* x_trace_id
	expected_dot_headers x.guest.* x.trace.id
}`}
	g.load(cfg)
	aliases := []string{
		"X_Guest_Name: Mallory", "X_GUEST_ID: g_forgedforgedforg", "x_guest_room: other", "X_Guest_Link: l_forgedforgedforg",
		"X.Guest.Name: Mallory", "X.Guest.Email: mallory%40evil.example", "x.guest.room: other", "X.GUEST.ID: g_forgedforgedforg",
		"X_Trace_Id: trace-underscore", "X.Trace.Id: trace-dot",
	}
	kept := func(u seenRequest) string {
		if msg := realIdentity(u); msg != "" {
			return msg
		}
		if u.Header.Get("X_Trace_Id") != "trace-underscore" || u.Header.Get("X.Trace.Id") != "trace-dot" {
			return fmt.Sprintf("the upstream did not get X_Trace_Id and X.Trace.Id (%q, %q): Caddy still drops such headers, so this proves nothing",
				u.Header.Get("X_Trace_Id"), u.Header.Get("X.Trace.Id"))
		}
		return ""
	}
	runCases([]advCase{
		{kind: "headers", name: "Caddy keeping _ and .: forged aliases, no session", send: get("/rooms/demo", aliases...),
			status: http.StatusUnauthorized, reason: "no-session"},
		{kind: "headers", name: "Caddy keeping _ and .: forged aliases, guest asks for other", send: asGuest("/rooms/other", aliases...),
			status: http.StatusForbidden, reason: "not-allowed"},
		{kind: "headers", name: "Caddy keeping _ and .: forged aliases on an allowed path", send: asGuest("/rooms/demo", aliases...),
			status: http.StatusOK, reach: kept},
		{kind: "headers", name: "Caddy keeping _ and .: Connection naming alias spellings", send: asGuest("/rooms/demo",
			append([]string{"Connection: X_Guest_Id, X.Guest.Name, x_guest_room, X-Guest-Link, X-Guest-Email"}, aliases...)...),
			status: http.StatusOK, reach: kept},
	})

	var summary []string
	for k, n := range kinds {
		summary = append(summary, fmt.Sprintf("%s %d (%d failed)", k, n, failed[k]))
	}
	sort.Strings(summary)
	t.Logf("%d adversarial cases: %s", total, strings.Join(summary, ", "))
	if total < 40 {
		t.Errorf("only %d cases, want at least 40", total)
	}

	// The guests are still where they were: none of the above broke a session.
	wantPage(t, "the guest's room after the hostile requests", guest.get("/rooms/demo"), http.StatusOK, "")

	// A name with markup is stored as given and always rendered escaped: the
	// lobby page shows it as text, the API returns it as it was typed, the
	// upstream gets it percent-encoded.
	marked := g.browser()
	if p := marked.redeem(hallPath, markup, "mark@example.com"); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/guest/lobby" {
		t.Fatalf("redeeming with a name with markup: %d Location %q (reason %q), want 303 to the lobby", p.Status, p.Header.Get("Location"), p.reason())
	}
	lobby := marked.get("/guest/lobby")
	if lobby.Status != http.StatusOK || strings.Contains(lobby.Body, "<script>alert(1)") || strings.Contains(lobby.Body, "<img src=x") ||
		!strings.Contains(lobby.Body, "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;") {
		t.Errorf("the lobby page of a guest named with markup: %d, the name is not shown escaped:\n%s", lobby.Status, lobby.Body)
	}
	var list struct {
		Guests []struct {
			Name string `json:"name"`
		} `json:"guests"`
	}
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/hall/guests", nil, &list)
	found := false
	for _, gu := range list.Guests {
		found = found || gu.Name == markup
	}
	if !found {
		t.Errorf("the guest list does not hold the name with markup as typed: %+v", list.Guests)
	}
	if n := g.clicks("hall", lHall.ID); n != 2 {
		t.Errorf("hall link clicks = %d, want 2 (the waiting guest and the one named with markup)", n)
	}
}

// advDo sends req with client and reads the whole answer.
func advDo(t testing.TB, client *http.Client, req *http.Request) page {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

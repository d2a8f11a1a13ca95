package admin

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/i18n"
	"github.com/guestgate/guestgate/internal/testjwt"
	"github.com/guestgate/guestgate/internal/teststore"
)

const (
	modKey    = "moderator-key-0123456789-0123456789-abcdef" // 42 bytes
	oldModKey = "old-moderator-key-0123456789-0123456789"
)

// modHandler is a handler with API keys and two moderator keys, rooms "demo",
// "other" and "third", and a recorder of the events' actors.
func modHandler(t *testing.T) (*Handler, *time.Time, func() []guestlink.Event) {
	t.Helper()
	return modHandlerWith(t, nil)
}

// modHandlerWith is modHandler with the moderator tokens' config changed by edit
// (if not nil).
func modHandlerWith(t *testing.T, edit func(*ModeratorTokenConfig)) (*Handler, *time.Time, func() []guestlink.Event) {
	t.Helper()
	svc, now := teststore.Service(t, epoch)
	var mu sync.Mutex
	var events []guestlink.Event
	svc.Events = func(e guestlink.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	mod := ModeratorTokenConfig{Keys: []string{modKey, oldModKey}, Now: svc.Now}
	if edit != nil {
		edit(&mod)
	}
	tokens, err := NewModeratorTokens(mod)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Service: svc, Authenticators: append(apiKeys(t, testKey), tokens)})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"demo", "other", "third"} {
		if r := do(t, h, "PUT", "/api/rooms/"+id, `{"name":"Room `+id+`"}`, testKey); r.status != 201 {
			t.Fatalf("PUT room %s: %d", id, r.status)
		}
	}
	return h, now, func() []guestlink.Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]guestlink.Event(nil), events...)
	}
}

// modTokens is the moderator-token authenticator of c.
func modTokens(t testing.TB, c ModeratorTokenConfig) *ModeratorTokens {
	t.Helper()
	m, err := NewModeratorTokens(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// moderatorTokens is h's moderator-token authenticator.
func moderatorTokens(t testing.TB, h *Handler) *ModeratorTokens {
	t.Helper()
	for _, a := range h.auth {
		if m, ok := a.(*ModeratorTokens); ok {
			return m
		}
	}
	t.Fatal("the handler accepts no moderator tokens")
	return nil
}

// claims returns the claims of a good token for room demo at now.
func claims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"sub": "u-42", "name": "Ada Moderator", "room": "demo", "role": "moderator",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// hs256 signs c with HS256 and modKey under golang-jwt's header.
func hs256(t *testing.T, c jwt.MapClaims) string {
	return signHeader(t, c, nil)
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for kk, vv := range c {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func TestModeratorTokens(t *testing.T) {
	h, now, _ := modHandler(t)
	good := claims(*now)
	noneTok := testjwt.Sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good, nil)

	type modCase struct {
		name         string
		token        string
		method, path string
		body         string
		status       int
		code         string
	}
	cases := []modCase{
		{name: "good token, own room", token: hs256(t, good), method: "GET", path: "/api/rooms/demo", status: 200},
		{name: "good token, own room's links", token: hs256(t, good), method: "GET", path: "/api/rooms/demo/links", status: 200},
		{name: "good token, guest access", token: hs256(t, good), method: "PUT", path: "/api/rooms/demo/guest-access", body: `{"enabled":true}`, status: 200},
		{name: "good token, lobby", token: hs256(t, good), method: "GET", path: "/api/rooms/demo/lobby", status: 200},
		{name: "good token, admit all", token: hs256(t, good), method: "POST", path: "/api/rooms/demo/lobby/admit-all", status: 200},
		{name: "good token, guest list", token: hs256(t, good), method: "GET", path: "/api/rooms/demo/guests", status: 200},
		{name: "good token, unknown guest", token: hs256(t, good), method: "DELETE", path: "/api/rooms/demo/guests/g_aaaaaaaaaaaaaaaa", status: 404, code: "guest_not_found"},
		{name: "room id percent-encoded", token: hs256(t, good), method: "GET", path: "/api/rooms/d%65mo", status: 200},
		{name: "signed with the older key", token: testjwt.Sign(t, jwt.SigningMethodHS256, []byte(oldModKey), good, nil), method: "GET", path: "/api/rooms/demo", status: 200},
		{name: "host role", token: hs256(t, with(good, "role", "host")), method: "GET", path: "/api/rooms/demo", status: 200},
		{name: "no name", token: hs256(t, with(good, "name", nil)), method: "GET", path: "/api/rooms/demo", status: 200},
		{name: "iat and nbf within the leeway", token: hs256(t, with(with(good, "iat", now.Add(20*time.Second).Unix()), "nbf", now.Add(20*time.Second).Unix())), method: "GET", path: "/api/rooms/demo", status: 200},
		{name: "exp 24h ahead", token: hs256(t, with(good, "exp", now.Add(24*time.Hour).Unix())), method: "GET", path: "/api/rooms/demo", status: 200},

		{name: "other room", token: hs256(t, good), method: "GET", path: "/api/rooms/other", status: 403, code: "forbidden"},
		{name: "other room's links", token: hs256(t, good), method: "POST", path: "/api/rooms/other/links", body: `{"name":"x"}`, status: 403, code: "forbidden"},
		{name: "other room's guest access", token: hs256(t, good), method: "PUT", path: "/api/rooms/other/guest-access", body: `{"enabled":true}`, status: 403, code: "forbidden"},
		{name: "other room's lobby", token: hs256(t, good), method: "POST", path: "/api/rooms/other/lobby/admit-all", status: 403, code: "forbidden"},
		{name: "other room's guests CSV", token: hs256(t, good), method: "GET", path: "/api/rooms/other/guests?format=csv", status: 403, code: "forbidden"},
		{name: "other room, encoded", token: hs256(t, good), method: "GET", path: "/api/rooms/%6fther", status: 403, code: "forbidden"},
		{name: "room create", token: hs256(t, good), method: "PUT", path: "/api/rooms/new", body: `{"name":"New"}`, status: 403, code: "forbidden"},
		{name: "room update of its own room", token: hs256(t, good), method: "PUT", path: "/api/rooms/demo", body: `{"name":"Renamed"}`, status: 403, code: "forbidden"},
		{name: "room delete of its own room", token: hs256(t, good), method: "DELETE", path: "/api/rooms/demo", status: 403, code: "forbidden"},
		{name: "unknown path", token: hs256(t, good), method: "GET", path: "/api/nothing", status: 404, code: "not_found"},

		{name: "expired", token: hs256(t, with(good, "exp", now.Add(-time.Minute).Unix())), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
		{name: "alg none", token: noneTok, method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
		{name: "HS512", token: testjwt.Sign(t, jwt.SigningMethodHS512, []byte(modKey), good, nil), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
		{name: "HS384", token: testjwt.Sign(t, jwt.SigningMethodHS384, []byte(modKey), good, nil), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
		{name: "exp 25h ahead", token: hs256(t, with(good, "exp", now.Add(25*time.Hour).Unix())), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
		{name: "missing exp", token: hs256(t, with(good, "exp", nil)), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
		{name: "wrong key", token: testjwt.Sign(t, jwt.SigningMethodHS256, []byte("another-key-0123456789-0123456789-xyz"), good, nil), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
		{name: "the API key as HMAC key", token: testjwt.Sign(t, jwt.SigningMethodHS256, []byte(testKey), good, nil), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
		{name: "nbf in the future", token: hs256(t, with(good, "nbf", now.Add(5*time.Minute).Unix())), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
		{name: "iat in the future", token: hs256(t, with(good, "iat", now.Add(5*time.Minute).Unix())), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
		{name: "no role", token: hs256(t, with(good, "role", nil)), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
		{name: "role admin", token: hs256(t, with(good, "role", "admin")), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
		{name: "no sub", token: hs256(t, with(good, "sub", nil)), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
		{name: "no room", token: hs256(t, with(good, "room", nil)), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
		{name: "bad room id", token: hs256(t, with(good, "room", "../demo")), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
		{name: "exp as a string", token: hs256(t, with(good, "exp", "tomorrow")), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
		{name: "tampered payload", token: tamper(hs256(t, good)), method: "GET", path: "/api/rooms/other", status: 401, code: "unauthorized"},
		{name: "not a JWT", token: "moderator", method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
		{name: "guest session claims (no role)", token: hs256(t, jwt.MapClaims{"sub": "g_1", "room": "demo", "lid": "l_1", "st": "admitted", "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},

		{name: "rooms array, first", token: hs256(t, with(with(good, "room", nil), "rooms", []string{"demo", "third"})), method: "GET", path: "/api/rooms/demo", status: 200},
		{name: "rooms array, second", token: hs256(t, with(with(good, "room", nil), "rooms", []string{"demo", "third"})), method: "GET", path: "/api/rooms/third/links", status: 200},
		{name: "rooms array, not listed", token: hs256(t, with(with(good, "room", nil), "rooms", []string{"demo", "third"})), method: "GET", path: "/api/rooms/other", status: 403, code: "forbidden"},
		{name: "rooms as a string", token: hs256(t, with(with(good, "room", nil), "rooms", "third")), method: "GET", path: "/api/rooms/third", status: 200},
		{name: "room as an array", token: hs256(t, with(good, "room", []string{"third"})), method: "GET", path: "/api/rooms/third", status: 200},
		{name: "room and rooms together", token: hs256(t, with(good, "rooms", []string{"third"})), method: "GET", path: "/api/rooms/third", status: 200},
		{name: "rooms array with a bad id", token: hs256(t, with(with(good, "room", nil), "rooms", []string{"demo", "a/b"})), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
		{name: "empty rooms array", token: hs256(t, with(with(good, "room", nil), "rooms", []string{})), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"},
	}
	for _, a := range testjwt.PublicKey(t) {
		cases = append(cases, modCase{name: a.Method.Alg(), token: testjwt.Sign(t, a.Method, a.Key, good, nil), method: "GET", path: "/api/rooms/demo", status: 401, code: "unauthorized"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, h, tc.method, tc.path, tc.body, tc.token)
			code, _ := errCode(r)
			if r.status != tc.status || code != tc.code {
				t.Fatalf("%s %s: got %d %q (%v), want %d %q", tc.method, tc.path, r.status, code, r.body, tc.status, tc.code)
			}
			if r.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
}

// tamper swaps the payload's room for another one, keeping the signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	c := claims(epoch)
	c["room"] = "other"
	b, _ := json.Marshal(c)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// TestModeratorTokenExpiresWhileInUse: the same token is refused once its exp has
// passed, beyond the leeway.
func TestModeratorTokenExpiresWhileInUse(t *testing.T) {
	h, now, _ := modHandler(t)
	tok := hs256(t, claims(*now))
	if r := do(t, h, "GET", "/api/rooms/demo", "", tok); r.status != 200 {
		t.Fatalf("fresh token: %d", r.status)
	}
	*now = now.Add(time.Hour + 20*time.Second)
	if r := do(t, h, "GET", "/api/rooms/demo", "", tok); r.status != 200 {
		t.Fatalf("within the leeway: %d", r.status)
	}
	*now = now.Add(time.Minute)
	if r := do(t, h, "GET", "/api/rooms/demo", "", tok); r.status != 401 {
		t.Fatalf("expired token: %d, want 401", r.status)
	}
}

// TestModeratorActor: changes made with a moderator token are audited as
// "moderator:<sub>", with an API key as before.
func TestModeratorActor(t *testing.T) {
	h, now, events := modHandler(t)
	if r := do(t, h, "PUT", "/api/rooms/demo/guest-access", `{"enabled":true}`, hs256(t, claims(*now))); r.status != 200 {
		t.Fatalf("guest access: %d", r.status)
	}
	if r := do(t, h, "POST", "/api/rooms/demo/links", `{"name":"Guest speakers","max_clicks":2,"duration_days":1}`, hs256(t, claims(*now))); r.status != 201 {
		t.Fatalf("create link: %d %v", r.status, r.body)
	}
	if r := do(t, h, "PUT", "/api/rooms/other/guest-access", `{"enabled":true}`, testKey); r.status != 200 {
		t.Fatalf("guest access with the API key: %d", r.status)
	}
	var got []string
	for _, e := range events() {
		if e.Type != guestlink.EventRoomPut {
			got = append(got, e.Type+" "+e.Room+" "+e.Actor)
		}
	}
	want := []string{
		"access.on demo moderator:u-42",
		"link.created demo moderator:u-42",
		"access.on other api-key:" + fingerprint(testKey),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// fingerprint is an API key's fingerprint in audit actors: the first 8 hex
// digits of its SHA-256.
func fingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:4])
}

func TestMe(t *testing.T) {
	h, now, _ := modHandler(t)
	var me meJSON
	get := func(cred string) int {
		r := httptest.NewRequest("GET", "http://rooms.test/api/me", nil)
		r.Header.Set("Authorization", "Bearer "+cred)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		me = meJSON{}
		_ = json.Unmarshal(w.Body.Bytes(), &me)
		return w.Code
	}
	tok := hs256(t, with(with(claims(*now), "room", "demo"), "rooms", []string{"third", "demo"}))
	if st := get(tok); st != 200 || me.Kind != "moderator" || me.Sub != "u-42" || me.Name != "Ada Moderator" ||
		me.Role != "moderator" || !slices.Equal(me.Rooms, []string{"demo", "third"}) {
		t.Fatalf("moderator: %d %+v", st, me)
	}
	if st := get(testKey); st != 200 || me.Kind != "api_key" || me.Rooms != nil {
		t.Fatalf("API key: %d %+v", st, me)
	}
	if st := get("nonsense"); st != 401 {
		t.Fatalf("bad credential: %d", st)
	}
}

func TestModeratorKeyConfig(t *testing.T) {
	svc, _ := teststore.Service(t, time.Now())
	if _, err := NewModeratorTokens(ModeratorTokenConfig{Keys: []string{strings.Repeat("k", 31)}}); err == nil {
		t.Fatal("a moderator key of 31 bytes was accepted")
	}
	h, err := New(Config{Service: svc, Authenticators: apiKeys(t, testKey)})
	if err != nil {
		t.Fatal(err)
	}
	// Without moderator keys, no token is accepted, whatever it is signed with.
	for _, key := range []string{"", modKey} {
		tok := testjwt.Sign(t, jwt.SigningMethodHS256, []byte(key), claims(time.Now()), nil)
		if r := do(t, h, "GET", "/api/rooms/demo", "", tok); r.status != 401 {
			t.Fatalf("token with key %q and no moderator_key: %d, want 401", key, r.status)
		}
	}
}

// ---- the page ----

func TestPageIsServedWithoutCredentials(t *testing.T) {
	h, _, _ := modHandler(t)
	for _, tc := range []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", "<title>Manage guest access</title>"},
		{"/ui/app.js", "text/javascript; charset=utf-8", "sessionStorage"},
		{"/ui/app.css", "text/css; charset=utf-8", ":focus-visible"},
	} {
		r := httptest.NewRequest("GET", "http://rooms.test"+tc.path+"?room=demo", nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 || w.Header().Get("Content-Type") != tc.ctype || !strings.Contains(w.Body.String(), tc.contains) {
			t.Fatalf("GET %s: %d %q", tc.path, w.Code, w.Header().Get("Content-Type"))
		}
		csp := w.Header().Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("GET %s: CSP %q lacks %q", tc.path, csp, d)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: CSP %q allows unsafe sources", tc.path, csp)
		}
	}
	// Only GET and HEAD, and only these paths, go without credentials.
	for _, tc := range []struct{ method, path string }{
		{"POST", "/"}, {"GET", "/ui/"}, {"GET", "/ui/index.html"}, {"GET", "/ui/../admin.go"}, {"GET", "/index.html"},
	} {
		r := httptest.NewRequest(tc.method, "http://rooms.test"+tc.path, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 401 {
			t.Errorf("%s %s without credentials: %d, want 401", tc.method, tc.path, w.Code)
		}
	}
}

// TestPageHasNoInlineCode: the CSP forbids inline script and style, so the page
// must have none (they would silently not run), and loads nothing from elsewhere.
func TestPageHasNoInlineCode(t *testing.T) {
	html, err := uiFiles.ReadFile("ui/index.html")
	if err != nil {
		t.Fatal(err)
	}
	s := string(html)
	for _, re := range []string{`<script(?:\s[^>]*)?>\s*[^<\s]`, `<style`, `\sstyle=`, `\son[a-z]+=`, `(?:src|href)="(?:https?:)?//`, `(?:src|href)="/`} {
		if m := regexp.MustCompile(re).FindString(s); m != "" {
			t.Errorf("index.html has %q (pattern %s)", m, re)
		}
	}
	js, _ := uiFiles.ReadFile("ui/app.js")
	for _, bad := range []string{"eval(", "new Function", "document.write", "http://", "https://", `fetch("/`, `fetch('/`} {
		if strings.Contains(string(js), bad) {
			t.Errorf("app.js uses %q", bad)
		}
	}
	// innerHTML only ever gets the file's own icon constants.
	for _, m := range regexp.MustCompile(`innerHTML\s*=\s*([^;]+);`).FindAllStringSubmatch(string(js), -1) {
		if m[1] != "icon" {
			t.Errorf("app.js sets innerHTML from %q", m[1])
		}
	}
}

func TestPageMessages(t *testing.T) {
	h, _, _ := modHandler(t)
	for _, tc := range []struct {
		accept, query, lang, dir, title string
	}{
		{"", "", "en", "ltr", "Manage guest access"},
		{"de-DE,de;q=0.9,en;q=0.5", "", "de", "ltr", "Gastzugang verwalten"},
		{"he-IL", "", "he", "rtl", "ניהול גישת אורחים"},
		{"fr-FR", "", "en", "ltr", "Manage guest access"},
		{"en", "?lang=he", "he", "rtl", "ניהול גישת אורחים"},
		{"de", "?lang=xx", "de", "ltr", "Gastzugang verwalten"},
	} {
		r := httptest.NewRequest("GET", "http://rooms.test/i18n.json"+tc.query, nil)
		if tc.accept != "" {
			r.Header.Set("Accept-Language", tc.accept)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var got messagesJSON
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
			t.Fatalf("%q: %d %v", tc.accept, w.Code, err)
		}
		if got.Lang != tc.lang || got.Dir != tc.dir || got.Messages["moderator.title"] != tc.title {
			t.Errorf("%q%s: lang %q dir %q title %q", tc.accept, tc.query, got.Lang, got.Dir, got.Messages["moderator.title"])
		}
		if !strings.Contains(w.Header().Get("Vary"), "Accept-Language") {
			t.Errorf("no Vary: Accept-Language")
		}
		for k := range got.Messages {
			if !strings.HasPrefix(k, "moderator.") {
				t.Errorf("message %q is not the page's", k)
			}
		}
	}
}

// TestPageMessageKeys: every key the page uses is in the English catalogue, and
// every moderator key of the catalogue is used by the page (no dead text to
// translate). Keys built at run time are matched by their prefix
// ("moderator.error." + code) or plural base ("moderator.links.count").
func TestPageMessageKeys(t *testing.T) {
	var src strings.Builder
	for _, f := range []string{"ui/index.html", "ui/app.js"} {
		b, err := uiFiles.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	text := src.String()
	en := i18n.Default().Messages(i18n.Default().Languages()[0], "moderator.")
	used := regexp.MustCompile(`"(moderator\.[a-z0-9_.]+)"`).FindAllStringSubmatch(text, -1)
	literal := map[string]bool{}
	for _, m := range used {
		literal[m[1]] = true
	}
	for k := range literal {
		if strings.HasSuffix(k, ".") {
			continue // a prefix
		}
		_, ok := en[k]
		_, isBase := en[k+".other"]
		if !ok && !isBase {
			t.Errorf("the page uses %q, which the catalogue lacks", k)
		}
	}
	for k := range en {
		if literal[k] {
			continue
		}
		found := false
		for i := len(k) - 1; i > 0 && !found; i-- {
			if k[i] == '.' && (literal[k[:i+1]] || literal[k[:i]]) {
				found = true
			}
		}
		if !found {
			t.Errorf("catalogue key %q is not used by the page", k)
		}
	}
}

package integration

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/token"
)

// sharedKey is both moderator_key and signing_key in TestModeratorTokenKinds:
// the operator reused one secret, the case where only the tokens' types and
// audiences keep their kinds apart.
const sharedKey = "integration-shared-secret-0123456789abcdef"

// readmeModeratorToken mints exactly what README.md's example mints for a
// moderator of room "demo" (HS256, golang-jwt's default header, these claims),
// with key as GUESTGATE_MODERATOR_KEY. readmeClaimKeys checks the README still
// says so.
func readmeModeratorToken(t testing.TB, key string, now time.Time) string {
	t.Helper()
	user := struct{ ID, DisplayName string }{"u-42", "Ada Moderator"}
	claims := jwt.MapClaims{
		"sub":  user.ID,
		"name": user.DisplayName,
		"room": "demo",
		"role": "moderator",
		"aud":  "guestgate",
		"iat":  now.Unix(),
		"exp":  now.Add(time.Hour).Unix(),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// readmeClaimKeys keeps readmeModeratorToken honest: README.md's minting example
// must set the same claims, aud "guestgate" among them, and sign with HS256.
func readmeClaimKeys(t testing.TB) {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)claims := jwt\.MapClaims\{\n(.*?)\n\}\n(.*?)\n` + "```").FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md has no moderator token example (claims := jwt.MapClaims{...})")
	}
	var keys []string
	for _, k := range regexp.MustCompile(`(?m)^\s*"(\w+)":`).FindAllSubmatch(m[1], -1) {
		keys = append(keys, string(k[1]))
	}
	slices.Sort(keys)
	if want := []string{"aud", "exp", "iat", "name", "role", "room", "sub"}; !slices.Equal(keys, want) {
		t.Errorf("README.md's example sets the claims %v; the test mints %v", keys, want)
	}
	if !regexp.MustCompile(`"aud":\s+"guestgate"`).Match(m[1]) || !strings.Contains(string(m[2]), "jwt.SigningMethodHS256") {
		t.Errorf("README.md's example does not set aud \"guestgate\" or sign with HS256:\n%s\n%s", m[1], m[2])
	}
}

// TestModeratorTokenAudienceAndType: issue 18 through the real moderator API.
// A token the room backend minted for another service (aud of its LMS) or an
// OAuth access token (typ at+jwt), signed with the right moderator_key, is
// refused with 401 "unauthorized"; aud of [] or of a wrong JSON type is refused;
// the README's example token and a token typed guestgate-moderator+jwt are
// accepted; a token without aud is accepted until require_audience is set; and
// moderator_audience changes the audience a token must name.
func TestModeratorTokenAudienceAndType(t *testing.T) {
	readmeClaimKeys(t)
	cfg := config{AdminExtra: []string{"moderator_key " + sharedKey}}
	g := startGateway(t, cfg)
	g.putRoom("demo", map[string]any{"name": "Demo room"})

	now := time.Now()
	base := func(aud any) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "u-42", "name": "Ada", "room": "demo", "role": "moderator", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if aud != nil {
			c["aud"] = aud
		}
		return c
	}
	payload := func(aud string) string {
		return `{"sub":"u-42","room":"demo","role":"moderator","iat":` + strconv.FormatInt(now.Unix(), 10) + `,"exp":` + strconv.FormatInt(now.Add(time.Hour).Unix(), 10) + `,"aud":` + aud + `}`
	}
	sign := func(c jwt.MapClaims, header map[string]any) string {
		t.Helper()
		return signJWT(t, jwt.SigningMethodHS256, []byte(sharedKey), c, header)
	}
	readme := readmeModeratorToken(t, sharedKey, now)
	noAud := sign(base(nil), nil)
	custom := sign(base("https://rooms.example.com"), nil)

	type tokenCase struct {
		name string
		tok  string
		ok   bool
	}
	check := func(stage string, cases []tokenCase) {
		t.Helper()
		for _, tc := range cases {
			status, body := g.apiAs(tc.tok, http.MethodGet, "/api/rooms/demo", nil)
			if tc.ok {
				if status != http.StatusOK {
					t.Errorf("%s: %s: %d %s, want 200", stage, tc.name, status, body)
				}
				continue
			}
			wantAPIError(t, stage+": "+tc.name, status, body, http.StatusUnauthorized, "unauthorized", "")
		}
	}

	check("default", []tokenCase{
		{"the README's example", readme, true},
		{"typ guestgate-moderator+jwt", sign(base("guestgate"), map[string]any{"typ": token.ModeratorType}), true},
		{"no typ", sign(base("guestgate"), map[string]any{"typ": nil}), true},
		{"aud guestgate among others", sign(base([]string{"https://lms.example.edu", "guestgate"}), nil), true},
		{"no aud (backends from before moderator_audience)", noAud, true},
		{"minted for the LMS", sign(base([]string{"https://lms.example.edu"}), nil), false},
		{"an OAuth access token (typ at+jwt)", sign(base(nil), map[string]any{"typ": "at+jwt"}), false},
		{"a session token's typ", sign(base("guestgate"), map[string]any{"typ": token.SessionType}), false},
		{"aud of another guestgate", custom, false},
		{"aud an empty array", rawHS256(t, sharedKey, payload(`[]`)), false},
		{"aud a number", rawHS256(t, sharedKey, payload(`42`)), false},
		{"aud an object", rawHS256(t, sharedKey, payload(`{"aud":"guestgate"}`)), false},
		{"aud an array with a number", rawHS256(t, sharedKey, payload(`["guestgate",1]`)), false},
		{"control: aud guestgate by hand", rawHS256(t, sharedKey, payload(`"guestgate"`)), true},
	})

	cfg.AdminExtra = append(cfg.AdminExtra, "require_audience")
	g.load(cfg)
	check("require_audience", []tokenCase{
		{"the README's example", readme, true},
		{"no aud", noAud, false},
	})

	cfg.AdminExtra = []string{"moderator_key " + sharedKey, "moderator_audience https://rooms.example.com"}
	g.load(cfg)
	check("moderator_audience", []tokenCase{
		{"aud the configured audience", custom, true},
		{"aud guestgate", readme, false},
		{"no aud", noAud, true},
	})
}

// TestModeratorTokenKinds: with one secret as both signing_key and
// moderator_key, no token of one kind passes as another through the real
// handlers (issue 18): the guest's session cookie and their X-Guest-Token are
// refused by the moderator API, and the README's moderator token and the
// X-Guest-Token are refused as a session cookie, before anything reaches the
// upstream. The controls show each token works where it belongs.
func TestModeratorTokenKinds(t *testing.T) {
	g := startGateway(t, config{
		AdminExtra:   []string{"moderator_key " + sharedKey},
		GatewayExtra: []string{"signing_key " + sharedKey},
	})
	l := g.openRoomWithLink("demo", map[string]any{"name": "Kinds"})
	b := g.browser()
	b.mustRedeem(linkPath(t, l), "Eve", "eve@example.com", "demo")
	session := b.sessionValue()
	if p := b.get("/rooms/demo"); p.Status != http.StatusOK {
		t.Fatalf("control: the guest's own cookie on the room: %d (reason %q)", p.Status, p.reason())
	}
	identity := g.up.last(t).Header.Get("X-Guest-Token")
	if identity == "" {
		t.Fatal("the upstream got no X-Guest-Token")
	}
	moderator := readmeModeratorToken(t, sharedKey, time.Now())
	if status, body := g.apiAs(moderator, http.MethodGet, "/api/rooms/demo", nil); status != http.StatusOK {
		t.Fatalf("control: the README's moderator token on the API: %d %s", status, body)
	}

	for _, tc := range []struct{ name, tok string }{
		{"the guest's session cookie", session},
		{"the guest's X-Guest-Token", identity},
	} {
		status, body := g.apiAs(tc.tok, http.MethodGet, "/api/rooms/demo", nil)
		wantAPIError(t, tc.name+" as a moderator token", status, body, http.StatusUnauthorized, "unauthorized", "")
	}
	for _, tc := range []struct{ name, tok string }{
		{"the README's moderator token", moderator},
		{"the guest's X-Guest-Token", identity},
	} {
		before := g.up.count()
		p := b.withCookie("/rooms/demo", tc.tok)
		wantPage(t, tc.name+" as the session cookie", p, http.StatusUnauthorized, "no-session")
		if g.up.count() != before {
			t.Errorf("%s as the session cookie reached the upstream", tc.name)
		}
	}
}

package integration

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/internal/testjwt"
	"github.com/guestgate/guestgate/token"
)

// sharedKey is both moderator_key and signing_key in TestModeratorTokenKinds:
// the operator reused one secret, the case where only the tokens' types and
// audiences keep their kinds apart.
const sharedKey = "integration-shared-secret-0123456789abcdef"

// TestModeratorTokenAudienceAndType: the audience and type rules of moderator
// tokens (SECURITY.md, "Token types and audiences") through the real moderator API.
// A token the room backend minted for another service (aud of its LMS) or an
// OAuth access token (typ at+jwt), signed with the right moderator_key, is
// refused with 401 "unauthorized"; aud of [] or of a wrong JSON type is refused;
// the README's example token and a token typed guestgate-moderator+jwt are
// accepted; a token without aud is accepted until require_audience is set; and
// moderator_audience changes the audience a token must name.
func TestModeratorTokenAudienceAndType(t *testing.T) {
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
		return testjwt.Sign(t, jwt.SigningMethodHS256, []byte(sharedKey), c, header)
	}
	// golang-jwt's header over a payload written by hand.
	raw := func(payload string) string {
		return testjwt.RawHS256([]byte(sharedKey), `{"alg":"HS256","typ":"JWT"}`, payload)
	}
	readme := testjwt.ReadmeModeratorToken(t, []byte(sharedKey), now)
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
		{"aud an empty array", raw(payload(`[]`)), false},
		{"aud a number", raw(payload(`42`)), false},
		{"aud an object", raw(payload(`{"aud":"guestgate"}`)), false},
		{"aud an array with a number", raw(payload(`["guestgate",1]`)), false},
		{"control: aud guestgate by hand", raw(payload(`"guestgate"`)), true},
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
// handlers: the guest's session cookie and their X-Guest-Token are
// refused by the moderator API, and the README's moderator token and the
// X-Guest-Token are refused as a session cookie, before anything reaches the
// upstream. The controls show each token works where it belongs.
func TestModeratorTokenKinds(t *testing.T) {
	g := startGateway(t, config{
		AdminExtra:   []string{"moderator_key " + sharedKey},
		GatewayExtra: []string{"signing_key " + sharedKey},
	})
	_, b := g.guestInside("demo", map[string]any{"name": "Kinds"}, "Eve", "eve@example.com")
	session := b.sessionValue()
	if p := b.get("/rooms/demo"); p.Status != http.StatusOK {
		t.Fatalf("control: the guest's own cookie on the room: %d (reason %q)", p.Status, p.reason())
	}
	identity := g.up.last(t).Header.Get("X-Guest-Token")
	if identity == "" {
		t.Fatal("the upstream got no X-Guest-Token")
	}
	moderator := testjwt.ReadmeModeratorToken(t, []byte(sharedKey), time.Now())
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

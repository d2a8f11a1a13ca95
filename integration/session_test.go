package integration

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/internal/testjwt"
	"github.com/guestgate/guestgate/token"
)

// signingKey is the session signing key of TestSessionTokenChecks, so that the
// test can sign tokens the way an attacker who knows it, or does not, would.
const signingKey = "integration-test-signing-key-0123456789abcdef"

// TestSessionTokenChecks: the gate verifies the session JWT (docs/DESIGN.md section 2,
// step 2): pinned HS256 with the configured key, iss, aud, exp, nbf, the token
// lifetime and the guest's own link and room; a token of a waiting guest opens
// nothing; a token past half its lifetime is renewed on the next request; the
// token's typ and aud are the session token's own, and a token of the
// form issued before that is still accepted and renewed at once into the new one.
func TestSessionTokenChecks(t *testing.T) {
	g := startGateway(t, config{GatewayExtra: []string{"signing_key " + signingKey}})
	l := g.openRoomWithLink("demo", map[string]any{"name": "Tokens"})
	g.putRoom("other", map[string]any{"name": "Other"})
	g.setAccess("other", true)
	lOther := g.createLink("other", map[string]any{"name": "Other"})
	b := g.browser()
	b.mustRedeem(linkPath(t, l), "Ada", "ada@example.com", "demo")

	real := claimsOf(t, b.sessionValue())
	for _, k := range []string{"iss", "aud", "sub", "room", "lid", "name", "email", "st", "iat", "nbf", "exp", "jti"} {
		if _, ok := real[k]; !ok {
			t.Errorf("the session JWT has no %q claim (docs/DESIGN.md section 2): %v", k, real)
		}
	}
	if real["room"] != "demo" || real["lid"] != l.ID || real["st"] != "admitted" || real["name"] != "Ada" {
		t.Errorf("session claims %v, want room demo, lid %s, st admitted, name Ada", real, l.ID)
	}

	now := time.Now()
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims { return redated(real, now, edit) }
	key := []byte(signingKey)

	// The control: a token as the gateway would sign it opens the room, so every
	// refusal below is about the one thing changed.
	tests := []struct {
		name   string
		tok    string
		status int
		reason string
	}{
		{"re-signed as the gateway would", signSession(t, jwt.SigningMethodHS256, key, claims(nil), nil), http.StatusOK, ""},
		{"alg none", signSession(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil), nil), http.StatusUnauthorized, "no-session"},
		{"HS512 with the key", signSession(t, jwt.SigningMethodHS512, key, claims(nil), nil), http.StatusUnauthorized, "no-session"},
		{"another key", signSession(t, jwt.SigningMethodHS256, []byte("another-signing-key-0123456789abcdef0123"), claims(nil), nil), http.StatusUnauthorized, "no-session"},
		{"a kid header", signSession(t, jwt.SigningMethodHS256, key, claims(nil), map[string]any{"kid": "1"}), http.StatusUnauthorized, "no-session"},
		{"expired", signSession(t, jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) {
			c["iat"], c["nbf"], c["exp"] = now.Unix()-20*60, now.Unix()-20*60, now.Unix()-11*60
		}), nil), http.StatusUnauthorized, "no-session"},
		{"not valid yet", signSession(t, jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) {
			c["nbf"] = now.Unix() + 5*60
		}), nil), http.StatusUnauthorized, "no-session"},
		{"another issuer", signSession(t, jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) { c["iss"] = "evil" }), nil), http.StatusUnauthorized, "no-session"},
		{"another audience", signSession(t, jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) { c["aud"] = []string{"other"} }), nil), http.StatusUnauthorized, "no-session"},
		{"two audiences", signSession(t, jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) { c["aud"] = []string{"guestgate", "other"} }), nil), http.StatusUnauthorized, "no-session"},
		// Explicit typing: the typ decides the form, the form its one
		// audience; the legacy form is accepted during the transition (below).
		{"typ JWT with the session audience", signSession(t, jwt.SigningMethodHS256, key, claims(nil), map[string]any{"typ": "JWT"}), http.StatusUnauthorized, "no-session"},
		{"typ of a moderator token", signSession(t, jwt.SigningMethodHS256, key, claims(nil), map[string]any{"typ": token.ModeratorType}), http.StatusUnauthorized, "no-session"},
		{"typ at+jwt", signSession(t, jwt.SigningMethodHS256, key, claims(nil), map[string]any{"typ": "at+jwt"}), http.StatusUnauthorized, "no-session"},
		{"the session typ with the legacy audience", signSession(t, jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) { c["aud"] = token.LegacyAudience }), nil), http.StatusUnauthorized, "no-session"},
		{"no exp", signSession(t, jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) { delete(c, "exp") }), nil), http.StatusUnauthorized, "no-session"},
		{"a lifetime of a week", signSession(t, jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) { c["exp"] = now.Unix() + 7*24*3600 }), nil), http.StatusUnauthorized, "no-session"},
		// The store says this guest is admitted, so a token still saying "waiting"
		// (the lobby page was closed before it saw the decision) is upgraded by the
		// first request; a guest the store still has waiting is refused (lobby tests).
		{"a waiting token of an admitted guest", signSession(t, jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) { c["st"] = "waiting" }), nil), http.StatusOK, ""},
		{"another room", signSession(t, jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) { c["room"] = "other"; c["lid"] = lOther.ID }), nil), http.StatusForbidden, ""},
		{"another link", signSession(t, jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) { c["lid"] = lOther.ID }), nil), http.StatusForbidden, ""},
		{"another guest id", signSession(t, jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) { c["sub"] = "g_aaaaaaaaaaaaaaaa" }), nil), http.StatusForbidden, ""},
	}
	// roomWith requests the room with only the session cookie tok (no jar).
	roomWith := func(tok string) (page, bool) {
		t.Helper()
		before := g.up.count()
		req := b.request(http.MethodGet, "/rooms/demo", nil)
		req.Header.Set("Cookie", "guestgate="+tok)
		resp, err := g.tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("GET /rooms/demo: %v", err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return page{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}, g.up.count() != before
	}
	for _, tc := range tests {
		p, reached := roomWith(tc.tok)
		switch {
		case tc.status == http.StatusOK && (p.Status != http.StatusOK || !reached):
			t.Errorf("token %s: %d (reason %q), reached the upstream %v; want 200 from the upstream", tc.name, p.Status, p.reason(), reached)
		case tc.status != http.StatusOK && reached:
			t.Errorf("token %s: reached the upstream (status %d), want %d", tc.name, p.Status, tc.status)
		case p.Status != tc.status || tc.reason != "" && p.reason() != tc.reason:
			t.Errorf("token %s: %d data-reason=%q, want %d %q", tc.name, p.Status, p.reason(), tc.status, tc.reason)
		}
	}

	// Renewal: a token with less than half its lifetime left gets a fresh one.
	old := signSession(t, jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) {
		c["iat"], c["nbf"], c["exp"] = now.Unix()-9*60, now.Unix()-9*60, now.Unix()+60
	}), nil)
	p, reached := roomWith(old)
	renewed := p.sessionCookie()
	if p.Status != http.StatusOK || !reached || renewed == nil || renewed.Value == old {
		t.Fatalf("a token one minute from expiry: %d, renewed cookie %v; want 200 from the upstream with a new session cookie", p.Status, renewed != nil)
	}
	fresh := claimsOf(t, renewed.Value)
	if exp, _ := fresh.GetExpirationTime(); exp == nil || exp.Sub(now) < 9*time.Minute || fresh["sub"] != real["sub"] || fresh["lid"] != l.ID {
		t.Errorf("renewed token claims %v: want the same guest and link, expiring about 10m from now", fresh)
	}

	// The gateway's own cookie is typed, with the session audience alone.
	if typed := headerOf(t, b.sessionValue()); typed["typ"] != token.SessionType || len(typed) != 2 {
		t.Errorf("the session cookie's header is %v, want alg and typ %s", typed, token.SessionType)
	}
	if aud, _ := real.GetAudience(); len(aud) != 1 || aud[0] != token.SessionAudience {
		t.Errorf("the session cookie's aud is %q, want [%s]", aud, token.SessionAudience)
	}

	// A cookie of the form the gateway issued before explicit typing (aud
	// "guestgate", golang-jwt's typ "JWT"), a minute old: still accepted, so an
	// upgrade throws no guest out, and renewed into the typed form at once.
	legacyClaims := claims(func(c jwt.MapClaims) { c["aud"] = []string{token.LegacyAudience} })
	legacy := testjwt.Sign(t, jwt.SigningMethodHS256, key, legacyClaims, nil)
	p, reached = roomWith(legacy)
	renewed = p.sessionCookie()
	if p.Status != http.StatusOK || !reached || renewed == nil {
		t.Fatalf("a legacy token: %d (reason %q), reached %v, renewed %v; want 200 from the upstream with a new cookie", p.Status, p.reason(), reached, renewed != nil)
	}
	upgraded, ut := claimsOf(t, renewed.Value), headerOf(t, renewed.Value)
	if aud, _ := upgraded.GetAudience(); ut["typ"] != token.SessionType || len(aud) != 1 || aud[0] != token.SessionAudience ||
		upgraded["sub"] != real["sub"] || upgraded["auth_time"] != float64(legacyClaims["auth_time"].(int64)) {
		t.Errorf("the legacy token was renewed into header %v, claims %v; want typ %s, aud [%s], the same guest and auth_time",
			ut, upgraded, token.SessionType, token.SessionAudience)
	}
}

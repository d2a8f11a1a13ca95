package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/internal/testjwt"
	"github.com/guestgate/guestgate/token"
)

// Moderator tokens meant for another service, or tokens of another
// kind signed with the same key, must not manage guest access (RFC 8725, sections
// 2.8 and 3.9-3.11). These tests protect the audience and type rules of
// ModeratorTokens.verify (see the comment at the top of moderator.go) and check every
// refusal twice: through the handler (401 with the API's error envelope) and by
// the reason ModeratorTokens.verify gives, so that a case cannot pass because the token
// was refused for something else.

const customAudience = "https://rooms.example.com"

// signHeader signs c with HS256 and modKey; header parameters with a nil value
// are removed (typ nil: no typ at all).
func signHeader(t *testing.T, c jwt.MapClaims, header map[string]any) string {
	t.Helper()
	return testjwt.Sign(t, jwt.SigningMethodHS256, []byte(modKey), c, header)
}

// rawHS256 signs a header and a payload given as JSON text, byte for byte as
// given, with modKey: for claim values golang-jwt would not write (aud null,
// typ as a number).
func rawHS256(header, payload string) string {
	return testjwt.RawHS256([]byte(modKey), header, payload)
}

// payloadJSON is claims(now) as JSON text, with aud (raw JSON) added unless aud
// is "".
func payloadJSON(t testing.TB, now time.Time, aud string) string {
	t.Helper()
	b, err := json.Marshal(claims(now))
	if err != nil {
		t.Fatal(err)
	}
	if aud == "" {
		return string(b)
	}
	return string(b[:len(b)-1]) + `,"aud":` + aud + `}`
}

// checkRefusal checks one token against h: the API's answer, and
// ModeratorTokens.verify's reason (want nil: accepted).
func checkRefusal(t *testing.T, h *Handler, now time.Time, tok string, want error) {
	t.Helper()
	r := do(t, h, "GET", "/api/rooms/demo", "", tok)
	code, _ := errCode(r)
	_, err := moderatorTokens(t, h).verify(tok, now)
	if want == nil {
		if r.status != 200 || err != nil {
			t.Errorf("got %d %q (reason %v), want 200", r.status, code, err)
		}
		return
	}
	if r.status != 401 || code != "unauthorized" || r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("got %d %q (WWW-Authenticate %q), want 401 unauthorized", r.status, code, r.header.Get("WWW-Authenticate"))
	}
	if !errors.Is(err, want) {
		t.Errorf("refused for %v, want %v", err, want)
	}
}

// TestModeratorAudience: a moderator token whose aud is present must contain
// moderator_audience (default "guestgate"); an empty array is present and names
// nobody; a token without aud is accepted, as before, unless require_audience is
// set; aud of a type RFC 7519 does not allow makes the token malformed. Audiences
// compare byte for byte.
func TestModeratorAudience(t *testing.T) {
	def, now, _ := modHandler(t)
	req, _, _ := modHandlerWith(t, func(c *ModeratorTokenConfig) { c.RequireAudience = true })
	custom, _, _ := modHandlerWith(t, func(c *ModeratorTokenConfig) { c.Audience = customAudience })

	malformed := jwt.ErrTokenMalformed
	tests := []struct {
		name string
		aud  string // raw JSON; "" leaves the claim out
		// Reasons for refusal (nil: accepted) with the default audience, with
		// require_audience, and with moderator_audience customAudience.
		def, req, custom error
	}{
		{"no aud", "", nil, errModeratorNoAud, nil},
		{"aud null", `null`, nil, errModeratorNoAud, nil},
		{"guestgate", `"guestgate"`, nil, nil, errModeratorAudience},
		{"[guestgate]", `["guestgate"]`, nil, nil, errModeratorAudience},
		{"the LMS's audience (the issue's token)", `["https://lms.example.edu"]`, errModeratorAudience, errModeratorAudience, errModeratorAudience},
		{"the LMS and guestgate", `["https://lms.example.edu","guestgate"]`, nil, nil, errModeratorAudience},
		{"custom audience", `"` + customAudience + `"`, errModeratorAudience, errModeratorAudience, nil},
		{"custom audience among others", `["x","` + customAudience + `"]`, errModeratorAudience, errModeratorAudience, nil},
		{"empty array", `[]`, errModeratorAudience, errModeratorAudience, errModeratorAudience},
		{"empty string", `""`, errModeratorAudience, errModeratorAudience, errModeratorAudience},
		{"[empty string]", `[""]`, errModeratorAudience, errModeratorAudience, errModeratorAudience},
		{"upper case", `"GUESTGATE"`, errModeratorAudience, errModeratorAudience, errModeratorAudience},
		{"a prefix", `"guest"`, errModeratorAudience, errModeratorAudience, errModeratorAudience},
		{"trailing space", `"guestgate "`, errModeratorAudience, errModeratorAudience, errModeratorAudience},
		{"the session audience", `"` + token.SessionAudience + `"`, errModeratorAudience, errModeratorAudience, errModeratorAudience},
		{"the identity audience", `"` + token.IdentityAudience + `"`, errModeratorAudience, errModeratorAudience, errModeratorAudience},
		{"a number", `1`, malformed, malformed, malformed},
		{"true", `true`, malformed, malformed, malformed},
		{"an object", `{"aud":"guestgate"}`, malformed, malformed, malformed},
		{"an array with a number", `["guestgate",1]`, malformed, malformed, malformed},
		{"an array with null", `["guestgate",null]`, malformed, malformed, malformed},
		{"a nested array", `[["guestgate"]]`, malformed, malformed, malformed},
	}
	for _, tt := range tests {
		tok := rawHS256(`{"alg":"HS256","typ":"JWT"}`, payloadJSON(t, *now, tt.aud))
		t.Run(tt.name, func(t *testing.T) {
			t.Run("default", func(t *testing.T) { checkRefusal(t, def, *now, tok, tt.def) })
			t.Run("require_audience", func(t *testing.T) { checkRefusal(t, req, *now, tok, tt.req) })
			t.Run("moderator_audience", func(t *testing.T) { checkRefusal(t, custom, *now, tok, tt.custom) })
		})
	}
}

// TestModeratorType: the header's typ, when present, must be JWT or
// guestgate-moderator+jwt (case-insensitive, "application/" optional, RFC 7515
// section 4.1.9); an OAuth access token ("at+jwt", the issue's second token), a
// session token's typ, or a typ that is not a string is refused.
func TestModeratorType(t *testing.T) {
	h, now, _ := modHandler(t)
	good := with(claims(*now), "aud", token.DefaultModeratorAudience)
	tests := []struct {
		name string
		typ  any // nil: no typ
		want error
	}{
		{"no typ", nil, nil},
		{"JWT", "JWT", nil},
		{"jwt", "jwt", nil},
		{"application/jwt", "application/jwt", nil},
		{"guestgate-moderator+jwt", token.ModeratorType, nil},
		{"upper case", "GUESTGATE-MODERATOR+JWT", nil},
		{"application/guestgate-moderator+jwt", "application/" + token.ModeratorType, nil},

		{"at+jwt (the issue's token)", "at+jwt", errModeratorType},
		{"application/at+jwt", "application/at+jwt", errModeratorType},
		{"a session token's", token.SessionType, errModeratorType},
		{"JWS", "JWS", errModeratorType},
		{"empty", "", errModeratorType},
		{"text/jwt", "text/jwt", errModeratorType},
		{"a number", 1, errModeratorType},
		{"an array", []string{"JWT"}, errModeratorType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRefusal(t, h, *now, signHeader(t, good, map[string]any{"typ": tt.typ}), tt.want)
		})
	}
	t.Run("typ null", func(t *testing.T) {
		checkRefusal(t, h, *now, rawHS256(`{"alg":"HS256","typ":null}`, payloadJSON(t, *now, `"guestgate"`)), errModeratorType)
	})
}

// TestModeratorREADMEExample mints exactly what README.md's example mints (the
// claims, golang-jwt's default header, HS256 with the moderator key) and shows
// the API accepts it with the default moderator_audience and with
// require_audience: the example is what backends copy.
func TestModeratorREADMEExample(t *testing.T) {
	for _, require := range []bool{false, true} {
		h, now, _ := modHandlerWith(t, func(c *ModeratorTokenConfig) { c.RequireAudience = require })
		tok := testjwt.ReadmeModeratorToken(t, []byte(modKey), *now)
		if r := do(t, h, "GET", "/api/me", "", tok); r.status != 200 || r.body["sub"] != "u-42" || r.body["kind"] != KindModerator {
			t.Errorf("require_audience %v: GET /api/me with the README's token: %d %v", require, r.status, r.body)
		}
	}
}

// TestModeratorRefusesOtherKinds: no other JWT of guestgate passes as a moderator
// token, even when the operator reused one secret for signing_key and
// moderator_key: a session token (typed, as the gateway issues it now; and of the
// legacy form, aud "guestgate" and typ JWT, which only its missing role stops),
// and an X-Guest-Token identity token. The last case re-signs a session token's
// claims with a role and without typ: the session audience alone still stops it.
func TestModeratorRefusesOtherKinds(t *testing.T) {
	h, now, _ := modHandler(t)
	sessions, err := token.New(token.Config{
		Keys: [][]byte{[]byte(modKey)}, Issuer: "guestgate", Audience: token.SessionAudience, LegacyAudience: token.LegacyAudience,
		TTL: 10 * time.Minute, MaxAge: 12 * time.Hour, Leeway: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	guest := token.Claims{Room: "demo", LinkID: "l_abcdefghijklmnop", Name: "Eve", Email: "eve@example.com", State: token.StateAdmitted, AuthTime: now.Unix()}
	guest.Subject = "g_abcdefghijklmnop"
	session, _, err := sessions.Issue(guest, *now)
	if err != nil {
		t.Fatal(err)
	}
	verified, err := sessions.Verify(session, *now)
	if err != nil {
		t.Fatal(err)
	}
	// The claims of a session token as a map, to re-sign them in other forms.
	sessionClaims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(session, sessionClaims); err != nil {
		t.Fatal(err)
	}
	legacy := signHeader(t, with(sessionClaims, "aud", []string{token.LegacyAudience}), nil)
	if _, err := sessions.Verify(legacy, *now); err != nil {
		t.Fatalf("test setup: the legacy session token does not verify as one: %v", err)
	}
	withRole := signHeader(t, with(sessionClaims, "role", RoleModerator), map[string]any{"typ": nil})
	identity, err := token.NewIdentity(bytes.Repeat([]byte{7}, 32), "guestgate")
	if err != nil {
		t.Fatal(err)
	}
	idTok, err := identity.Token(verified, *now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tok  string
		want error
	}{
		{"session token", session, errModeratorType},
		{"legacy session token", legacy, errModeratorRole},
		{"session claims with a role, no typ", withRole, errModeratorAudience},
		{"X-Guest-Token identity token", idTok, jwt.ErrTokenSignatureInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) { checkRefusal(t, h, *now, tc.tok, tc.want) })
	}
}

// FuzzModeratorAudience fuzzes the aud claim of an otherwise good moderator
// token (any JSON value: strings, arrays, empty arrays, numbers, objects, nulls,
// nesting) and checks ModeratorTokens.verify against a model of the rule, with and
// without require_audience: absent or null is accepted unless required; a string
// or an array of strings is accepted exactly when it contains "guestgate"; any
// other JSON type is malformed. Input that is not one JSON value is skipped (it
// could change other claims of the payload).
func FuzzModeratorAudience(f *testing.F) {
	for _, seed := range []string{
		"", `null`, `"guestgate"`, `["guestgate"]`, `[]`, `""`, `[""]`, `"GUESTGATE"`, `"guestgate "`,
		`["https://lms.example.edu"]`, `["https://lms.example.edu","guestgate"]`, `["guestgate","guestgate"]`,
		`1`, `-0`, `1e400`, `true`, `false`, `{}`, `{"aud":"guestgate"}`, `["guestgate",1]`, `["guestgate",null]`,
		`[["guestgate"]]`, `[{"a":"guestgate"}]`, `"guest\u0067ate"`, `"guestgate\u0000"`, `"\ud800"`,
		`[ "guestgate" ]`, "\t\"guestgate\"\n", `"` + token.SessionAudience + `"`,
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	now := epoch
	verifiers := map[bool]*ModeratorTokens{}
	for _, require := range []bool{false, true} {
		verifiers[require] = modTokens(f, ModeratorTokenConfig{Keys: []string{modKey}, RequireAudience: require})
	}
	f.Fuzz(func(t *testing.T, aud string, require bool) {
		if aud != "" && !json.Valid([]byte(aud)) {
			t.Skip()
		}
		tok := rawHS256(`{"alg":"HS256","typ":"JWT"}`, payloadJSON(t, now, aud))
		var want error
		if len(tok) > maxModeratorTokenLen {
			want = jwt.ErrTokenMalformed
		} else {
			want = audienceModel(aud, require)
		}
		c, err := verifiers[require].verify(tok, now)
		switch {
		case want == nil && err != nil:
			t.Fatalf("aud %s (require %v): refused for %v, want accepted", aud, require, err)
		case want != nil && err == nil:
			t.Fatalf("aud %s (require %v): accepted %+v, want refused for %v", aud, require, c, want)
		case want != nil && !errors.Is(err, want):
			t.Fatalf("aud %s (require %v): refused for %v, want %v", aud, require, err, want)
		}
	})
}

// audienceModel is the rule of FuzzModeratorAudience written plainly over
// encoding/json's generic decoding.
func audienceModel(aud string, require bool) error {
	var v any
	if aud != "" {
		// Numbers as json.Number: 1e400 is valid JSON, just not a float64.
		dec := json.NewDecoder(strings.NewReader(aud))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			panic(fmt.Sprintf("the fuzz target lets invalid JSON %q through: %v", aud, err))
		}
	}
	var names []string
	switch v := v.(type) {
	case nil:
		if require {
			return errModeratorNoAud
		}
		return nil
	case string:
		names = []string{v}
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return jwt.ErrTokenMalformed
			}
			names = append(names, s)
		}
	default:
		return jwt.ErrTokenMalformed
	}
	if !slices.Contains(names, token.DefaultModeratorAudience) {
		return errModeratorAudience
	}
	return nil
}

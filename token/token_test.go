package token

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/internal/testjwt"
)

const (
	testIss    = "https://rooms.example.com/guest"
	testAud    = SessionAudience
	testTTL    = 10 * time.Minute
	testMaxAge = 12 * time.Hour
	testLeeway = 5 * time.Second
)

var (
	// t0 is the fake clock's "now" of every test.
	t0   = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	key1 = bytes.Repeat([]byte{0x11}, 32)
	key2 = bytes.Repeat([]byte{0x22}, 32)
)

func testConfig(keys ...[]byte) Config {
	return Config{Keys: keys, Issuer: testIss, Audience: testAud, LegacyAudience: LegacyAudience, TTL: testTTL, MaxAge: testMaxAge, Leeway: testLeeway}
}

func newIssuer(tb testing.TB, keys ...[]byte) *Issuer {
	tb.Helper()
	if len(keys) == 0 {
		keys = [][]byte{key1}
	}
	i, err := New(testConfig(keys...))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return i
}

// newTypedOnlyIssuer is newIssuer(tb) without the legacy audience: an Issuer
// that accepts only the typed form of session tokens.
func newTypedOnlyIssuer(tb testing.TB) *Issuer {
	tb.Helper()
	c := testConfig(key1)
	c.LegacyAudience = ""
	i, err := New(c)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return i
}

// guest returns the claims a caller sets before Issue, redeemed at authTime.
func guest(authTime time.Time) Claims {
	c := Claims{Room: "demo", LinkID: "l_abcdefghijklmnop", Name: "Ada Lovelace", Email: "ada@example.com", State: StateAdmitted, AuthTime: authTime.Unix()}
	c.Subject = "g_abcdefghijklmnop"
	return c
}

// payload returns the claims of a valid token issued at now, as a map that a test
// can change before signing it by hand.
func payload(now time.Time) map[string]any {
	return map[string]any{
		"iss":       testIss,
		"aud":       []string{testAud},
		"sub":       "g_abcdefghijklmnop",
		"room":      "demo",
		"lid":       "l_abcdefghijklmnop",
		"name":      "Ada Lovelace",
		"email":     "ada@example.com",
		"st":        StateAdmitted,
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"exp":       now.Add(testTTL).Unix(),
		"jti":       "AAAAAAAAAAAAAAAAAAAAAA",
		"auth_time": now.Unix(),
	}
}

// header is the JOSE header Issue writes, with another alg.
func header(alg string) map[string]any { return map[string]any{"alg": alg, "typ": SessionType} }

func segment(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hs256 signs header and payload by hand, without golang-jwt.
func hs256(tb testing.TB, h, p map[string]any, key []byte) string {
	tb.Helper()
	signing := segment(tb, h) + "." + segment(tb, p)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// signWith signs p with golang-jwt's method and key (for algorithms other than
// HS256), with the typ of a session token.
func signWith(tb testing.TB, method jwt.SigningMethod, p map[string]any, key any) string {
	tb.Helper()
	return testjwt.Sign(tb, method, key, p, map[string]any{"typ": SessionType})
}

// mustIssue issues a session token of c at now, failing the test if Issue
// refuses.
func mustIssue(tb testing.TB, i *Issuer, c Claims, now time.Time) string {
	tb.Helper()
	tok, _, err := i.Issue(c, now)
	if err != nil {
		tb.Fatalf("Issue: %v", err)
	}
	return tok
}

// checkVerify verifies tok at now and checks the outcome: want nil means accepted;
// otherwise the error must wrap ErrInvalid and want, and must not quote the token.
func checkVerify(t *testing.T, i *Issuer, tok string, now time.Time, want error) *Claims {
	t.Helper()
	c, err := i.Verify(tok, now)
	if want == nil {
		if err != nil {
			t.Fatalf("Verify: %v, want accepted", err)
		}
		if c == nil {
			t.Fatal("Verify returned nil claims without error")
		}
		return c
	}
	if err == nil {
		t.Fatalf("Verify accepted the token, want %v", want)
	}
	if c != nil {
		t.Errorf("Verify returned claims with error %v", err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %v does not wrap ErrInvalid", err)
	}
	if !errors.Is(err, want) {
		t.Errorf("error %q, want reason %q", err, want)
	}
	msg := err.Error()
	for _, part := range strings.Split(tok, ".") {
		if len(part) >= 4 && strings.Contains(msg, part) {
			t.Errorf("error %q quotes the token", msg)
		}
	}
	return nil
}

func TestNew(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		ok     bool
	}{
		{"valid", func(*Config) {}, true},
		{"32-byte key", func(c *Config) { c.Keys = [][]byte{make([]byte, 32)} }, true},
		{"31-byte key", func(c *Config) { c.Keys = [][]byte{make([]byte, 31)} }, false},
		{"short old key", func(c *Config) { c.Keys = [][]byte{key1, make([]byte, 16)} }, false},
		{"empty key", func(c *Config) { c.Keys = [][]byte{{}} }, false},
		{"no keys", func(c *Config) { c.Keys = nil }, false},
		{"no issuer", func(c *Config) { c.Issuer = "" }, false},
		{"no audience", func(c *Config) { c.Audience = "" }, false},
		{"no legacy audience", func(c *Config) { c.LegacyAudience = "" }, true},
		{"legacy audience same as the audience", func(c *Config) { c.LegacyAudience = c.Audience }, false},
		{"zero ttl", func(c *Config) { c.TTL = 0 }, false},
		{"negative ttl", func(c *Config) { c.TTL = -time.Minute }, false},
		{"zero max age", func(c *Config) { c.MaxAge = 0 }, false},
		{"negative leeway", func(c *Config) { c.Leeway = -time.Second }, false},
		{"zero leeway", func(c *Config) { c.Leeway = 0 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig(key1)
			tt.change(&c)
			i, err := New(c)
			if tt.ok && (err != nil || i == nil) {
				t.Fatalf("New: %v, want ok", err)
			}
			if !tt.ok && (err == nil || i != nil) {
				t.Fatalf("New accepted %+v", c)
			}
		})
	}
}

func TestNewCopiesKeys(t *testing.T) {
	k := bytes.Clone(key1)
	i := newIssuer(t, k)
	tok := mustIssue(t, i, guest(t0), t0)
	k[0] ^= 0xff // the caller reuses its buffer
	checkVerify(t, i, tok, t0, nil)
}

func TestRoundTrip(t *testing.T) {
	i := newIssuer(t)
	now := t0.Add(700 * time.Millisecond) // exercises truncation to whole seconds
	in := guest(t0)
	in.Issuer, in.Audience, in.ID = "someone else", jwt.ClaimStrings{"x"}, "caller-jti"
	in.ExpiresAt = jwt.NewNumericDate(t0.Add(1000 * time.Hour))
	for _, st := range []string{StateWaiting, StateAdmitted} {
		t.Run(st, func(t *testing.T) {
			in.State = st
			tok, exp, err := i.Issue(in, now)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			if want := t0.Add(testTTL); !exp.Equal(want) {
				t.Errorf("exp = %v, want %v", exp, want)
			}
			if len(strings.Split(tok, ".")) != 3 {
				t.Fatalf("token has %d segments", len(strings.Split(tok, ".")))
			}
			c := checkVerify(t, i, tok, now, nil)
			if c.Subject != in.Subject || c.Room != in.Room || c.LinkID != in.LinkID || c.Name != in.Name ||
				c.Email != in.Email || c.State != st || c.AuthTime != in.AuthTime {
				t.Errorf("claims = %+v, want %+v", c, in)
			}
			if c.Issuer != testIss {
				t.Errorf("iss = %q", c.Issuer)
			}
			if len(c.Audience) != 1 || c.Audience[0] != testAud {
				t.Errorf("aud = %q", c.Audience)
			}
			if !c.IssuedAt.Equal(t0) || !c.NotBefore.Equal(t0) || !c.ExpiresAt.Equal(exp) {
				t.Errorf("iat %v nbf %v exp %v, want %v, %v, %v", c.IssuedAt, c.NotBefore, c.ExpiresAt, t0, t0, exp)
			}
			jti, err := base64.RawURLEncoding.Strict().DecodeString(c.ID)
			if err != nil || len(jti) != 16 {
				t.Errorf("jti %q is not 128 bits of base64url: %v", c.ID, err)
			}
		})
	}
}

func TestIssueFreshJTI(t *testing.T) {
	i := newIssuer(t)
	seen := map[string]bool{}
	for range 100 {
		tok := mustIssue(t, i, guest(t0), t0)
		c := checkVerify(t, i, tok, t0, nil)
		if seen[c.ID] {
			t.Fatalf("jti %q issued twice", c.ID)
		}
		seen[c.ID] = true
	}
}

func TestIssueRequiresClaims(t *testing.T) {
	i := newIssuer(t)
	tests := []struct {
		name   string
		change func(*Claims)
		ok     bool
	}{
		{"complete", func(*Claims) {}, true},
		{"waiting", func(c *Claims) { c.State = StateWaiting }, true},
		{"no name and email", func(c *Claims) { c.Name, c.Email = "", "" }, true},
		{"no subject", func(c *Claims) { c.Subject = "" }, false},
		{"no room", func(c *Claims) { c.Room = "" }, false},
		{"no link", func(c *Claims) { c.LinkID = "" }, false},
		{"no state", func(c *Claims) { c.State = "" }, false},
		{"declined", func(c *Claims) { c.State = "declined" }, false},
		{"no auth_time", func(c *Claims) { c.AuthTime = 0 }, false},
		{"auth_time in the future", func(c *Claims) { c.AuthTime = t0.Add(time.Hour).Unix() }, false},
		{"auth_time within leeway", func(c *Claims) { c.AuthTime = t0.Add(testLeeway).Unix() }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := guest(t0)
			tt.change(&c)
			tok, _, err := i.Issue(c, t0)
			if tt.ok {
				if err != nil {
					t.Fatalf("Issue: %v", err)
				}
				checkVerify(t, i, tok, t0, nil)
				return
			}
			if err == nil || tok != "" {
				t.Fatalf("Issue accepted %+v", c)
			}
			if errors.Is(err, ErrSessionOver) {
				t.Errorf("error %v is ErrSessionOver", err)
			}
		})
	}
}

func TestIssueSessionMax(t *testing.T) {
	i := newIssuer(t)
	auth := t0.Add(-testMaxAge) // the session ends at t0
	tests := []struct {
		name    string
		now     time.Time
		wantExp time.Time
		wantErr error
	}{
		{"full ttl", t0.Add(-testTTL), t0, nil},
		{"ttl and a second", t0.Add(-testTTL - time.Second), t0.Add(-time.Second), nil},
		{"capped at session end", t0.Add(-3 * time.Minute), t0, nil},
		{"last second", t0.Add(-time.Second), t0, nil},
		{"at session end", t0, time.Time{}, ErrSessionOver},
		{"after session end", t0.Add(time.Second), time.Time{}, ErrSessionOver},
		{"long after", t0.Add(48 * time.Hour), time.Time{}, ErrSessionOver},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, exp, err := i.Issue(guest(auth), tt.now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Issue: %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if tok != "" {
					t.Error("token returned with error")
				}
				return
			}
			if !exp.Equal(tt.wantExp) {
				t.Errorf("exp = %v, want %v", exp, tt.wantExp)
			}
			c := checkVerify(t, i, tok, tt.now, nil)
			if !c.ExpiresAt.Equal(tt.wantExp) {
				t.Errorf("exp claim = %v, want %v", c.ExpiresAt, tt.wantExp)
			}
		})
	}
}

func TestVerifyClock(t *testing.T) {
	i := newIssuer(t)
	tok, exp, err := i.Issue(guest(t0), t0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"at issue", t0, nil},
		{"halfway", t0.Add(testTTL / 2), nil},
		{"at exp, within leeway", exp, nil},
		{"last second of leeway", exp.Add(testLeeway - time.Second), nil},
		{"expired at exp plus leeway", exp.Add(testLeeway), jwt.ErrTokenExpired},
		{"expired long ago", exp.Add(24 * time.Hour), jwt.ErrTokenExpired},
		{"clock behind within leeway", t0.Add(-testLeeway), nil},
		{"clock behind beyond leeway", t0.Add(-testLeeway - time.Second), jwt.ErrTokenNotValidYet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerify(t, i, tok, tt.now, tt.want)
		})
	}
}

// TestVerifyClaims signs changed claims with the right key: only the checks on the
// claims can refuse them. The first cases show that the unchanged claims verify.
func TestVerifyClaims(t *testing.T) {
	i := newIssuer(t)
	set := func(k string, v any) func(map[string]any) { return func(p map[string]any) { p[k] = v } }
	del := func(k string) func(map[string]any) { return func(p map[string]any) { delete(p, k) } }
	tests := []struct {
		name   string
		change func(map[string]any)
		want   error
	}{
		{"unchanged", func(map[string]any) {}, nil},
		{"aud as a string", set("aud", testAud), nil},
		{"st waiting", set("st", StateWaiting), nil},
		{"no nbf", del("nbf"), nil},
		{"no jti", del("jti"), nil},
		{"nbf within leeway", set("nbf", t0.Add(testLeeway).Unix()), nil},
		{"exp at ttl plus leeway after iat", set("exp", t0.Add(testTTL+testLeeway).Unix()), nil},

		{"nbf in the future", set("nbf", t0.Add(testLeeway+time.Second).Unix()), jwt.ErrTokenNotValidYet},
		{"nbf far in the future", set("nbf", t0.Add(time.Hour).Unix()), jwt.ErrTokenNotValidYet},
		{"iat in the future", set("iat", t0.Add(time.Minute).Unix()), jwt.ErrTokenUsedBeforeIssued},
		{"no exp", del("exp"), jwt.ErrTokenRequiredClaimMissing},
		{"exp null", set("exp", nil), jwt.ErrTokenRequiredClaimMissing},
		{"exp as a string", set("exp", "2100-01-01"), jwt.ErrTokenMalformed},
		{"far-future exp", set("exp", t0.Add(testTTL+testLeeway+time.Second).Unix()), errLifetime},
		{"exp in 2100", set("exp", time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix()), errLifetime},
		{"no iat", del("iat"), errMissingIat},
		{"exp after session end", set("auth_time", t0.Add(-testMaxAge+time.Minute).Unix()), errPastSessionMax},
		{"auth_time in the future", set("auth_time", t0.Add(time.Hour).Unix()), errAuthFuture},
		{"no auth_time", del("auth_time"), errMissingAuth},

		{"wrong iss", set("iss", "https://evil.example.com"), jwt.ErrTokenInvalidIssuer},
		{"iss differs in case", set("iss", strings.ToUpper(testIss)), jwt.ErrTokenInvalidIssuer},
		{"iss with trailing slash", set("iss", testIss+"/"), jwt.ErrTokenInvalidIssuer},
		{"no iss", del("iss"), jwt.ErrTokenRequiredClaimMissing},
		{"wrong aud string", set("aud", "other"), errAudience},
		{"wrong aud array", set("aud", []string{"other"}), errAudience},
		{"aud array with ours second", set("aud", []string{"other", testAud}), errAudience},
		{"aud array with ours first", set("aud", []string{testAud, "other"}), errAudience},
		{"aud array twice ours", set("aud", []string{testAud, testAud}), errAudience},
		{"aud prefix", set("aud", testAud+"x"), errAudience},
		{"aud in upper case", set("aud", strings.ToUpper(testAud)), errAudience},
		{"no aud", del("aud"), errAudience},
		{"aud null", set("aud", nil), errAudience},
		{"empty aud array", set("aud", []string{}), errAudience},
		{"aud of numbers", set("aud", []int{1}), jwt.ErrTokenMalformed},
		{"aud a number", set("aud", 1), jwt.ErrTokenMalformed},
		{"aud an object", set("aud", map[string]any{"aud": testAud}), jwt.ErrTokenMalformed},
		{"the legacy audience with the session typ", set("aud", LegacyAudience), errAudience},
		{"the moderator audience", set("aud", DefaultModeratorAudience), errAudience},
		{"the identity audience", set("aud", IdentityAudience), errAudience},

		{"no sub", del("sub"), errMissingSub},
		{"empty sub", set("sub", ""), errMissingSub},
		{"no room", del("room"), errMissingRoom},
		{"no lid", del("lid"), errMissingLinkID},
		{"no st", del("st"), errState},
		{"st declined", set("st", "declined"), errState},
		{"st removed", set("st", "removed"), errState},
		{"st left", set("st", "left"), errState},
		{"st capitalised", set("st", "Admitted"), errState},
		{"st upper case", set("st", "WAITING"), errState},
		{"st as a number", set("st", 1), jwt.ErrTokenMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := payload(t0)
			tt.change(p)
			checkVerify(t, i, hs256(t, header("HS256"), p, key1), t0, tt.want)
		})
	}
}

// TestVerifyHeader: the key is never chosen by the token, and only alg and typ may
// appear in the header.
func TestVerifyHeader(t *testing.T) {
	i := newIssuer(t)
	tests := []struct {
		name  string
		key   string
		value any
		want  error
	}{
		{"typ of a session token (control)", "typ", SessionType, nil},
		{"kid", "kid", "0", errHeaderParam},
		{"empty kid", "kid", "", errHeaderParam},
		{"jku", "jku", "https://evil.example.com/jwks.json", errHeaderParam},
		{"x5u", "x5u", "https://evil.example.com/cert.pem", errHeaderParam},
		{"jwk", "jwk", map[string]any{"kty": "oct", "k": base64.RawURLEncoding.EncodeToString(key1)}, errHeaderParam},
		{"x5c", "x5c", []string{"MIIB"}, errHeaderParam},
		{"crit", "crit", []string{"exp"}, errHeaderParam},
		{"zip", "zip", "DEF", errHeaderParam},
		{"unknown", "foo", "bar", errHeaderParam},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := header("HS256")
			h[tt.key] = tt.value
			checkVerify(t, i, hs256(t, h, payload(t0), key1), t0, tt.want)
		})
	}
	t.Run("no alg", func(t *testing.T) {
		checkVerify(t, i, hs256(t, map[string]any{"typ": SessionType}, payload(t0), key1), t0, jwt.ErrTokenUnverifiable)
	})
}

// TestVerifyType protects explicit typing (RFC 8725, section 3.11): the header's
// typ decides which form a token claims to be, and each form has exactly one
// audience. The typed form is typ SessionType with aud SessionAudience; the
// legacy form, accepted only while Config.LegacyAudience is set, is typ "JWT" or
// none with aud "guestgate". Any other typ (an OAuth access token's, a moderator
// token's, one that is not a string) and any mix of the two forms is refused, so
// that a JWT of another kind signed with the same secret does not pass.
func TestVerifyType(t *testing.T) {
	withLegacy, typedOnly := newIssuer(t), newTypedOnlyIssuer(t)
	typ := func(v any) map[string]any { return map[string]any{"alg": "HS256", "typ": v} }
	noTyp := map[string]any{"alg": "HS256"}
	tests := []struct {
		name       string
		header     map[string]any
		aud        any
		want       error // with the legacy form accepted
		wantTyped  error // with LegacyAudience empty
		wantLegacy bool  // accepted as the legacy form
	}{
		{"typed (control)", typ(SessionType), SessionAudience, nil, nil, false},
		{"typed, aud as an array", typ(SessionType), []string{SessionAudience}, nil, nil, false},
		{"typed, typ in upper case", typ("GUESTGATE-SESSION+JWT"), SessionAudience, nil, nil, false},
		{"typed, typ with application/", typ("application/" + SessionType), SessionAudience, nil, nil, false},
		{"legacy: typ JWT", typ("JWT"), LegacyAudience, nil, errType, true},
		{"legacy: typ jwt", typ("jwt"), LegacyAudience, nil, errType, true},
		{"legacy: no typ", noTyp, LegacyAudience, nil, errType, true},
		{"legacy: aud as an array", typ("JWT"), []string{LegacyAudience}, nil, errType, true},

		{"typed with the legacy audience", typ(SessionType), LegacyAudience, errAudience, errAudience, false},
		{"typ JWT with the session audience", typ("JWT"), SessionAudience, errAudience, errType, false},
		{"no typ with the session audience", noTyp, SessionAudience, errAudience, errType, false},
		{"legacy with both audiences", typ("JWT"), []string{LegacyAudience, SessionAudience}, errAudience, errType, false},
		{"typed with both audiences", typ(SessionType), []string{SessionAudience, LegacyAudience}, errAudience, errAudience, false},
		{"typ of a moderator token", typ(ModeratorType), SessionAudience, errType, errType, false},
		{"typ of a moderator token, legacy aud", typ(ModeratorType), LegacyAudience, errType, errType, false},
		{"typ at+jwt", typ("at+jwt"), SessionAudience, errType, errType, false},
		{"typ application/at+jwt", typ("application/at+jwt"), LegacyAudience, errType, errType, false},
		{"typ JWS", typ("JWS"), LegacyAudience, errType, errType, false},
		{"typ empty", typ(""), LegacyAudience, errType, errType, false},
		{"typ a prefix of the session type", typ("guestgate-session"), SessionAudience, errType, errType, false},
		{"typ null", typ(nil), LegacyAudience, errType, errType, false},
		{"typ a number", typ(1), LegacyAudience, errType, errType, false},
		{"typ an array", typ([]string{SessionType}), SessionAudience, errType, errType, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := payload(t0)
			p["aud"] = tt.aud
			tok := hs256(t, tt.header, p, key1)
			if c := checkVerify(t, withLegacy, tok, t0, tt.want); c != nil && c.legacy != tt.wantLegacy {
				t.Errorf("accepted with legacy = %v, want %v", c.legacy, tt.wantLegacy)
			}
			checkVerify(t, typedOnly, tok, t0, tt.wantTyped)
		})
	}
}

// TestIssueTyped: Issue writes the typed form and nothing else, whatever
// audience the caller left in the claims, so the gateway never mints a token of
// the legacy form again (the package doc counts on that for the transition).
func TestIssueTyped(t *testing.T) {
	i := newIssuer(t)
	in := guest(t0)
	in.Audience = jwt.ClaimStrings{LegacyAudience}
	tok := mustIssue(t, i, in, t0)
	var h map[string]any
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil || json.Unmarshal(b, &h) != nil {
		t.Fatalf("header %q: %v", b, err)
	}
	if len(h) != 2 || h["alg"] != "HS256" || h["typ"] != SessionType {
		t.Errorf("header %v, want exactly alg HS256 and typ %s", h, SessionType)
	}
	if c := checkVerify(t, i, tok, t0, nil); c.legacy || len(c.Audience) != 1 || c.Audience[0] != SessionAudience {
		t.Errorf("aud %q legacy %v, want [%s] in the typed form", c.Audience, c.legacy, SessionAudience)
	}
}

// TestLegacyRenewedAtOnce protects the rolling upgrade: a guest whose cookie
// holds a token of the legacy form keeps their session (a link with a click limit
// could not be redeemed again), and the very next request renews it into the
// typed form, so the legacy form dies out within token_ttl.
func TestLegacyRenewedAtOnce(t *testing.T) {
	i := newIssuer(t)
	legacy := func(p map[string]any) string {
		p["aud"] = []string{LegacyAudience}
		return hs256(t, map[string]any{"alg": "HS256", "typ": "JWT"}, p, key1)
	}
	// A legacy token issued a second ago: a typed one this fresh is not renewed.
	now := t0.Add(time.Second)
	c := checkVerify(t, i, legacy(payload(t0)), now, nil)
	if typed := checkVerify(t, i, hs256(t, header("HS256"), payload(t0), key1), now, nil); i.NeedsRenewal(typed, now) {
		t.Fatal("test setup: a fresh typed token needs renewal")
	}
	if !i.NeedsRenewal(c, now) {
		t.Fatal("a fresh legacy token does not need renewal")
	}
	tok, exp, err := i.Issue(*c, now)
	if err != nil {
		t.Fatal(err)
	}
	renewed := checkVerify(t, i, tok, now, nil)
	if renewed.legacy || renewed.Audience[0] != SessionAudience || renewed.Subject != c.Subject || renewed.AuthTime != c.AuthTime {
		t.Errorf("renewed: %+v, want the same guest and auth_time in the typed form", renewed)
	}
	if !exp.Equal(now.Truncate(time.Second).Add(testTTL)) || i.NeedsRenewal(renewed, now) {
		t.Errorf("renewed token expires %v and needs renewal %v", exp, i.NeedsRenewal(renewed, now))
	}

	// A legacy token of a session past session_max is not renewed: the session is over.
	p := payload(t0)
	p["auth_time"] = t0.Add(-testMaxAge + time.Minute).Unix()
	p["exp"] = t0.Add(time.Minute).Unix()
	old := checkVerify(t, i, legacy(p), t0, nil)
	if !i.NeedsRenewal(old, t0) || i.NeedsRenewal(old, t0.Add(time.Minute)) {
		t.Errorf("legacy token near session_max: renewal %v before its end, %v at its end; want true, false",
			i.NeedsRenewal(old, t0), i.NeedsRenewal(old, t0.Add(time.Minute)))
	}
}

// TestSessionRefusesOtherKinds: no other JWT guestgate deals with passes as a
// session token, even signed with the signing key (an operator who reused one
// secret for signing_key and moderator_key): a moderator token as the README
// mints it (aud "guestgate", golang-jwt's typ "JWT"), one typed as guestgate's own
// moderator token, and an X-Guest-Token identity token. The first matches the
// legacy form's typ and aud during the transition and is refused by the session
// claims it lacks; without the legacy form, by its typ.
func TestSessionRefusesOtherKinds(t *testing.T) {
	withLegacy, typedOnly := newIssuer(t), newTypedOnlyIssuer(t)
	readme := testjwt.ReadmeModeratorToken(t, key1, t0)
	// The same claims with everything a session token has but the typ and aud:
	// only explicit typing can tell it apart.
	full := jwt.MapClaims(payload(t0))
	maps.Copy(full, testjwt.ReadmeModeratorClaims(t0))
	full["iss"] = testIss
	typedMod := testjwt.Sign(t, jwt.SigningMethodHS256, key1, full, map[string]any{"typ": ModeratorType})
	id, err := NewIdentity(bytes.Repeat([]byte{7}, 32), testIss)
	if err != nil {
		t.Fatal(err)
	}
	session, _, err := withLegacy.Issue(guest(t0), t0)
	if err != nil {
		t.Fatal(err)
	}
	identity, err := id.Token(checkVerify(t, withLegacy, session, t0, nil), t0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name            string
		tok             string
		want, wantTyped error
	}{
		{"moderator token as the README mints it", readme, jwt.ErrTokenRequiredClaimMissing, errType},
		{"moderator token typed guestgate-moderator+jwt with every session claim", typedMod, errType, errType},
		{"X-Guest-Token identity token (EdDSA, pinned out first)", identity, jwt.ErrTokenSignatureInvalid, jwt.ErrTokenSignatureInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerify(t, withLegacy, tt.tok, t0, tt.want)
			checkVerify(t, typedOnly, tt.tok, t0, tt.wantTyped)
		})
	}
}

// TestVerifyAlgorithms: HS256 is pinned; the same claims under any other algorithm,
// with a real key, are refused.
func TestVerifyAlgorithms(t *testing.T) {
	i := newIssuer(t)
	p := payload(t0)
	hs := hs256(t, header("HS256"), p, key1)
	unsigned := func(alg string, sig string) string {
		return segment(t, header(alg)) + "." + segment(t, p) + "." + sig
	}
	hsSig := hs[strings.LastIndexByte(hs, '.')+1:]

	tests := []struct {
		name string
		tok  string
		want error
	}{
		{"HS256 (control)", hs, nil},
		{"HS256 by golang-jwt (control)", signWith(t, jwt.SigningMethodHS256, p, key1), nil},
		{"none", unsigned("none", ""), jwt.ErrTokenSignatureInvalid},
		{"None", unsigned("None", ""), jwt.ErrTokenUnverifiable},
		{"NONE", unsigned("NONE", ""), jwt.ErrTokenUnverifiable},
		{"none with the HS256 signature", unsigned("none", hsSig), jwt.ErrTokenSignatureInvalid},
		{"hs256 lower case", unsigned("hs256", hsSig), jwt.ErrTokenUnverifiable},
		{"HS384 with the key", signWith(t, jwt.SigningMethodHS384, p, key1), jwt.ErrTokenSignatureInvalid},
		{"HS512 with the key", signWith(t, jwt.SigningMethodHS512, p, key1), jwt.ErrTokenSignatureInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerify(t, i, tt.tok, t0, tt.want)
		})
	}
	for _, a := range testjwt.PublicKey(t) {
		t.Run(a.Method.Alg(), func(t *testing.T) {
			checkVerify(t, i, signWith(t, a.Method, p, a.Key), t0, jwt.ErrTokenSignatureInvalid)
		})
	}
}

func TestVerifyKeys(t *testing.T) {
	old := newIssuer(t, key1)           // before rotation
	rotated := newIssuer(t, key2, key1) // key2 new, key1 still accepted
	retired := newIssuer(t, key2)       // key1 dropped
	other := newIssuer(t, bytes.Repeat([]byte{0x33}, 32))

	oldTok, _, err := old.Issue(guest(t0), t0)
	if err != nil {
		t.Fatal(err)
	}
	newTok, _, err := rotated.Issue(guest(t0), t0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		i    *Issuer
		tok  string
		want error
	}{
		{"own token", old, oldTok, nil},
		{"old token after rotation", rotated, oldTok, nil},
		{"new token after rotation", rotated, newTok, nil},
		{"new token is signed with Keys[0], not the old key", old, newTok, jwt.ErrTokenSignatureInvalid},
		{"new token after the old key is retired", retired, newTok, nil},
		{"old token after the old key is retired", retired, oldTok, jwt.ErrTokenSignatureInvalid},
		{"wrong key", other, oldTok, jwt.ErrTokenSignatureInvalid},
		{"wrong key by hand", old, hs256(t, header("HS256"), payload(t0), key2), jwt.ErrTokenSignatureInvalid},
		{"key one byte short", old, hs256(t, header("HS256"), payload(t0), key1[:31]), jwt.ErrTokenSignatureInvalid},
		{"empty key", old, hs256(t, header("HS256"), payload(t0), nil), jwt.ErrTokenSignatureInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerify(t, tt.i, tt.tok, t0, tt.want)
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	i := newIssuer(t)
	tok := mustIssue(t, i, guest(t0), t0)
	parts := strings.Split(tok, ".")
	h, p, s := parts[0], parts[1], parts[2]
	sig, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	// The signature is 32 bytes: 43 characters whose last one carries 4 unused bits.
	// Setting one of them changes the text but not the decoded bytes.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, s[len(s)-1])
	sloppy := s[:len(s)-1] + string(alphabet[last|1])
	replace := func(seg string, at int, c string) string { return seg[:at] + c + seg[at+1:] }

	tests := []struct {
		name string
		tok  string
		want error
	}{
		{"valid (control)", tok, nil},
		{"empty", "", jwt.ErrTokenMalformed},
		{"one segment", h, jwt.ErrTokenMalformed},
		{"two segments", h + "." + p, jwt.ErrTokenMalformed},
		{"two segments, trailing dot", h + "." + p + ".", jwt.ErrTokenSignatureInvalid},
		{"four segments", tok + "." + s, jwt.ErrTokenMalformed},
		{"four segments, empty last", tok + ".", jwt.ErrTokenMalformed},
		{"dots only", "...", jwt.ErrTokenMalformed},
		{"'+' in payload", h + "." + replace(p, 5, "+") + "." + s, jwt.ErrTokenMalformed},
		{"'/' in header", replace(h, 3, "/") + "." + p + "." + s, jwt.ErrTokenMalformed},
		{"'=' in signature", h + "." + p + "." + replace(s, 0, "="), jwt.ErrTokenMalformed},
		{"padded signature", h + "." + p + "." + s + "=", jwt.ErrTokenMalformed},
		{"space in payload", h + "." + replace(p, 7, " ") + "." + s, jwt.ErrTokenMalformed},
		{"trailing newline", tok + "\n", jwt.ErrTokenMalformed},
		{"non-canonical signature encoding", h + "." + p + "." + sloppy, jwt.ErrTokenMalformed},
		{"header not JSON", base64.RawURLEncoding.EncodeToString([]byte("{alg")) + "." + p + "." + s, jwt.ErrTokenMalformed},
		{"payload not JSON", h + "." + base64.RawURLEncoding.EncodeToString([]byte("not json")) + "." + s, jwt.ErrTokenMalformed},
		{"payload a JSON array", h + "." + base64.RawURLEncoding.EncodeToString([]byte("[]")) + "." + s, jwt.ErrTokenMalformed},
		{"changed payload", h + "." + segment(t, payload(t0)) + "." + s, jwt.ErrTokenSignatureInvalid},
		{"truncated signature text", h + "." + p + "." + s[:len(s)-2], jwt.ErrTokenMalformed},
		{"signature one byte short", h + "." + p + "." + base64.RawURLEncoding.EncodeToString(sig[:len(sig)-1]), jwt.ErrTokenSignatureInvalid},
		{"signature one byte long", h + "." + p + "." + base64.RawURLEncoding.EncodeToString(append(sig, 0)), jwt.ErrTokenSignatureInvalid},
	}
	if sloppy == s {
		t.Fatal("test setup: the sloppy signature equals the real one")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerify(t, i, tt.tok, t0, tt.want)
		})
	}
}

// TestVerifyTooLong finds the longest valid token within MaxTokenLen and checks that
// it verifies while the next longer one is refused before parsing.
func TestVerifyTooLong(t *testing.T) {
	i := newIssuer(t)
	issue := func(nameLen int) string {
		c := guest(t0)
		c.Name = strings.Repeat("a", nameLen)
		return mustIssue(t, i, c, t0)
	}
	n := 0
	for len(issue(n+1)) <= MaxTokenLen {
		n++
	}
	fits, over := issue(n), issue(n+1)
	if len(fits) > MaxTokenLen || len(over) <= MaxTokenLen {
		t.Fatalf("test setup: lengths %d and %d around %d", len(fits), len(over), MaxTokenLen)
	}
	checkVerify(t, i, fits, t0, nil)
	checkVerify(t, i, over, t0, errTooLong)
	checkVerify(t, i, strings.Repeat("A", 1<<20), t0, errTooLong)
}

func TestNeedsRenewal(t *testing.T) {
	i := newIssuer(t)
	claims := func(auth, now time.Time) *Claims {
		return checkVerify(t, i, mustIssue(t, i, guest(auth), now), now, nil)
	}
	fresh := claims(t0, t0)                                   // exp t0+10m
	capped := claims(t0.Add(-testMaxAge+4*time.Minute), t0)   // exp t0+4m = session end
	nearEnd := claims(t0.Add(-testMaxAge+15*time.Minute), t0) // exp t0+10m, session ends t0+15m
	tests := []struct {
		name string
		c    *Claims
		now  time.Time
		want bool
	}{
		{"fresh", fresh, t0, false},
		{"just under half used", fresh, t0.Add(testTTL/2 - time.Second), false},
		{"exactly half left", fresh, t0.Add(testTTL / 2), false},
		{"less than half left", fresh, t0.Add(testTTL/2 + time.Second), true},
		{"about to expire", fresh, t0.Add(testTTL - time.Second), true},
		{"expired within leeway", fresh, t0.Add(testTTL + time.Second), true},
		{"already ends with the session", capped, t0.Add(3 * time.Minute), false},
		{"renewal would still extend", nearEnd, t0.Add(6 * time.Minute), true},
		{"session over", nearEnd, t0.Add(15 * time.Minute), false},
		{"nil claims", nil, t0, false},
		{"no exp", &Claims{AuthTime: t0.Unix()}, t0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := i.NeedsRenewal(tt.c, tt.now); got != tt.want {
				t.Errorf("NeedsRenewal at %v = %v, want %v", tt.now.Sub(t0), got, tt.want)
			}
		})
	}
	// A renewal keeps the guest inside until session end, never beyond.
	now := t0.Add(8 * time.Minute)
	tok, exp, err := i.Issue(*nearEnd, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(15 * time.Minute); !exp.Equal(want) {
		t.Errorf("renewed exp = %v, want the session end %v", exp, want)
	}
	checkVerify(t, i, tok, now, nil)
}

func TestConcurrent(t *testing.T) {
	i := newIssuer(t, key2, key1)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			now := t0.Add(time.Duration(g) * time.Second)
			for range 50 {
				tok, _, err := i.Issue(guest(t0), now)
				if err == nil {
					_, err = i.Verify(tok, now)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkIssue(b *testing.B) {
	i := newIssuer(b)
	c := guest(t0)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := i.Issue(c, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	i := newIssuer(b, key2, key1)
	tok := mustIssue(b, i, guest(t0), t0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := i.Verify(tok, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMintReturnsWhatVerifyReads: the gateway keeps the claims Mint returns
// in place of verifying the token it just made, so they must be the very
// claims Verify reads from that token, to the second, at the session's start
// and near its end (where exp is cut to auth_time + MaxAge).
func TestMintReturnsWhatVerifyReads(t *testing.T) {
	i := newIssuer(t)
	for _, now := range []time.Time{t0.Add(1500 * time.Millisecond), t0.Add(testMaxAge - time.Minute)} {
		tok, signed, err := i.Mint(guest(t0), now)
		if err != nil {
			t.Fatal(err)
		}
		read, err := i.Verify(tok, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []struct {
			name       string
			mint, read *jwt.NumericDate
		}{{"iat", signed.IssuedAt, read.IssuedAt}, {"nbf", signed.NotBefore, read.NotBefore}, {"exp", signed.ExpiresAt, read.ExpiresAt}} {
			if !d.mint.Equal(d.read.Time) {
				t.Errorf("at %v: %s minted %v, read %v", now, d.name, d.mint, d.read)
			}
		}
		signed.IssuedAt, signed.NotBefore, signed.ExpiresAt = read.IssuedAt, read.NotBefore, read.ExpiresAt
		if !reflect.DeepEqual(signed, read) {
			t.Errorf("at %v: minted %+v,\nread %+v", now, signed, read)
		}
		if _, exp, _ := i.Issue(guest(t0), now); !exp.Equal(read.ExpiresAt.Time) {
			t.Errorf("at %v: Issue's expiry %v, the token's %v", now, exp, read.ExpiresAt)
		}
	}
}

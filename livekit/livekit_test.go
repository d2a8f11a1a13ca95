package livekit

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testSecret = "0123456789abcdef0123456789abcdef"

func newTestClient(t *testing.T, url string, ttl time.Duration) *Client {
	t.Helper()
	c, err := New(Config{URL: url, APIKey: "APIkey1", APISecret: []byte(testSecret), TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	c.retries = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	return c
}

// parse verifies tok as LiveKit does (HS256 with the secret) and returns its
// claims as JSON values, so that the test sees LiveKit's claim names and not
// this package's struct.
func parse(t *testing.T, tok string, now time.Time) map[string]any {
	t.Helper()
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return []byte(testSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		t.Fatalf("the token does not verify: %v", err)
	}
	return claims
}

// TestTokenClaims protects the participant token, LiveKit's access token with
// the claim names of github.com/livekit/protocol/auth (ClaimGrants and
// VideoGrant): iss the API key, sub the guest id, name the guest's name, and a
// video grant for the room with exactly the role's rights of docs/DESIGN.md
// section 9, each set explicitly (LiveKit reads a grant without permissions
// as all of them). The attributes carry the role and the link, nothing else:
// never an email.
func TestTokenClaims(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	c := newTestClient(t, "wss://lk.example.com", 0)
	for _, tc := range []struct {
		role      string
		wantVideo map[string]any
	}{
		{"viewer", map[string]any{"room": "r1", "roomJoin": true, "canSubscribe": true, "canPublishData": true, "canPublish": false}},
		{"", map[string]any{"room": "r1", "roomJoin": true, "canSubscribe": true, "canPublishData": true, "canPublish": false}},
		{"host", map[string]any{"room": "r1", "roomJoin": true, "canSubscribe": true, "canPublishData": true, "canPublish": false}},
		{"speaker", map[string]any{"room": "r1", "roomJoin": true, "canSubscribe": true, "canPublishData": true, "canPublish": true}},
		{"moderator", map[string]any{"room": "r1", "roomJoin": true, "canSubscribe": true, "canPublishData": true, "canPublish": true, "roomAdmin": true}},
	} {
		t.Run("role "+tc.role, func(t *testing.T) {
			tok, exp, err := c.Token(Participant{Identity: "g_1", Name: "Ada Lovelace", Room: "r1", Role: tc.role, Link: "l_1"}, now, now.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if want := now.Add(DefaultTTL); !exp.Equal(want) {
				t.Errorf("exp = %v, want %v", exp, want)
			}
			got := parse(t, tok, now)
			wantRole := tc.role
			if tc.role == "" || tc.role == "host" {
				wantRole = "viewer"
			}
			want := map[string]any{
				"iss": "APIkey1", "sub": "g_1", "name": "Ada Lovelace",
				"nbf": float64(now.Unix()), "exp": float64(now.Add(DefaultTTL).Unix()),
				"video":      tc.wantVideo,
				"attributes": map[string]any{"guestgate.role": wantRole, "guestgate.link": "l_1"},
			}
			if !reflect.DeepEqual(map[string]any(got), want) {
				t.Errorf("claims =\n%v\nwant\n%v", got, want)
			}
		})
	}
}

// TestTag protects the tag that tells a store's participants from anyone
// else's: a token of a Client with a TagKey carries AttrTag, which Tagged
// accepts for that room and identity only, and only under the same key; a
// Client without a key tags nothing and accepts nobody.
func TestTag(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	client := func(key string) *Client {
		c, err := New(Config{URL: "wss://lk.example.com", APIKey: "APIkey1", APISecret: []byte(testSecret), TagKey: []byte(key)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ours, theirs, none := client(strings.Repeat("k", 32)), client(strings.Repeat("o", 32)), client("")
	present := func(c *Client, room, identity string) Present {
		tok, _, err := c.Token(Participant{Identity: identity, Name: "Ada", Room: room, Link: "l_1"}, now, now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		attrs := map[string]string{}
		for k, v := range parse(t, tok, now)["attributes"].(map[string]any) {
			attrs[k] = v.(string)
		}
		return Present{Identity: identity, Attributes: attrs}
	}
	p := present(ours, "r1", "g_1")
	if tag := p.Attributes[AttrTag]; len(tag) != 22 {
		t.Fatalf("tag %q, want 22 characters (128 bits, base64url)", tag)
	}
	if _, ok := present(none, "r1", "g_1").Attributes[AttrTag]; ok {
		t.Error("a Client without a TagKey tagged its token")
	}
	other := p
	other.Identity = "g_2"
	for _, tc := range []struct {
		name string
		c    *Client
		room string
		p    Present
		want bool
	}{
		{"its own participant", ours, "r1", p, true},
		{"in another room", ours, "r2", p, false},
		{"the tag copied to another identity", ours, "r1", other, false},
		{"another store's participant", ours, "r1", present(theirs, "r1", "g_1"), false},
		{"an untagged participant", ours, "r1", present(none, "r1", "g_1"), false},
		{"a Client without a key", none, "r1", p, false},
	} {
		if got := tc.c.Tagged(tc.room, tc.p); got != tc.want {
			t.Errorf("%s: Tagged = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestTokenExpiry: a token lives token_ttl, but never past the end of the
// guest's session, and a session that has ended gets none.
func TestTokenExpiry(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	c := newTestClient(t, "wss://lk.example.com", 3*time.Minute)
	p := Participant{Identity: "g_1", Name: "Ada", Room: "r1", Role: "viewer", Link: "l_1"}
	for _, tc := range []struct {
		name    string
		until   time.Time
		wantExp time.Time
	}{
		{"token_ttl first", now.Add(time.Hour), now.Add(3 * time.Minute)},
		{"session end first", now.Add(time.Minute), now.Add(time.Minute)},
		{"session ended", now, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, exp, err := c.Token(p, now, tc.until)
			if tc.wantExp.IsZero() {
				if err == nil {
					t.Fatalf("Token for an ended session = %q, want an error", tok)
				}
				return
			}
			if err != nil || !exp.Equal(tc.wantExp) {
				t.Fatalf("Token: exp %v, %v; want %v", exp, err, tc.wantExp)
			}
			if got := parse(t, tok, now)["exp"]; got != float64(tc.wantExp.Unix()) {
				t.Fatalf("exp claim %v, want %d", got, tc.wantExp.Unix())
			}
		})
	}
}

// TestNew refuses what would make forgeable tokens or calls to nowhere.
func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c       Config
		wantErr string
	}{
		{"fine", Config{URL: "ws://127.0.0.1:7880", APIKey: "k", APISecret: []byte(testSecret)}, ""},
		{"short secret", Config{URL: "wss://lk.example.com", APIKey: "k", APISecret: []byte("short")}, "api_secret: must be at least 32 bytes, got 5"},
		{"no key", Config{URL: "wss://lk.example.com", APISecret: []byte(testSecret)}, "api_key is required"},
		{"relative url", Config{URL: "lk.example.com", APIKey: "k", APISecret: []byte(testSecret)}, "must be an absolute"},
		{"other scheme", Config{URL: "grpc://lk.example.com", APIKey: "k", APISecret: []byte(testSecret)}, "the scheme must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.c)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("New = %v, want %q", err, tc.wantErr)
			}
		})
	}
	for _, in := range []string{"wss://user:s3cret@lk.example.com", "user:s3cret@lk.example.com", "wss://lk.example.com:s3cret@x"} {
		if _, err := CheckURL(in); err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("CheckURL(%q): %v, want an error without the password", in, err)
		}
	}
	if _, err := CheckURL("wss://lk.example.com/?"); err == nil {
		t.Error(`CheckURL accepts a URL ending in "?", which would send RoomService calls to its query`)
	}
	for in, want := range map[string]string{"wss://lk.example.com/": "https://lk.example.com", "ws://127.0.0.1:7880": "http://127.0.0.1:7880", "https://lk.example.com/lk": "https://lk.example.com/lk"} {
		if got, err := CheckURL(in); got != want || err != nil {
			t.Errorf("CheckURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestRemoveParticipant protects the removal call: Twirp's JSON form of
// RoomService.RemoveParticipant on the http(s) form of the URL, signed with a
// short room admin token for that room only; a failed attempt (5xx) is tried
// again, a participant not in the room (LiveKit's Twirp not_found) is
// ErrNotFound at once, while a 404 of something else (a proxy, a wrong path)
// is a failure, and a refusal (4xx) is not retried.
func TestRemoveParticipant(t *testing.T) {
	for _, tc := range []struct {
		name      string
		statuses  []int
		body      string // of the answers that are not 200; Twirp's by default
		wantErr   error
		wantCalls int32
	}{
		{"removed", []int{200}, "", nil, 1},
		{"retried after 5xx", []int{503, 502, 200}, "", nil, 3},
		{"gives up", []int{500, 500, 500, 500, 500}, "", errors.New("500"), 4},
		{"not in the room", []int{404}, `{"code":"not_found","msg":"participant not found"}`, ErrNotFound, 1},
		{"a proxy's 404", []int{404}, "404 page not found", errors.New("404 Not Found"), 1},
		{"refused", []int{401, 200}, "", errors.New("401"), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				if r.Method != http.MethodPost || r.URL.Path != "/twirp/livekit.RoomService/RemoveParticipant" || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("request %s %s %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
				}
				auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
				if !ok {
					t.Errorf("no bearer token")
				}
				claims := parse(t, auth, time.Now())
				if claims["iss"] != "APIkey1" || !reflect.DeepEqual(claims["video"], map[string]any{"room": "r1", "roomAdmin": true}) {
					t.Errorf("admin token claims %v", claims)
				}
				body, _ := io.ReadAll(r.Body)
				var got map[string]string
				if json.Unmarshal(body, &got) != nil || !reflect.DeepEqual(got, map[string]string{"room": "r1", "identity": "g_1"}) {
					t.Errorf("body %s", body)
				}
				w.WriteHeader(tc.statuses[n-1])
				if tc.statuses[n-1] != 200 {
					_, _ = w.Write([]byte(cmp.Or(tc.body, `{"code":"x","msg":"y"}`)))
				} else {
					_, _ = w.Write([]byte(`{}`))
				}
			}))
			defer srv.Close()
			c := newTestClient(t, "ws"+strings.TrimPrefix(srv.URL, "http"), 0)
			err := c.RemoveParticipant(context.Background(), "r1", "g_1")
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("RemoveParticipant = %v", err)
			case tc.wantErr == ErrNotFound && !errors.Is(err, ErrNotFound):
				t.Fatalf("RemoveParticipant = %v, want ErrNotFound", err)
			case tc.wantErr != nil && (err == nil || !strings.Contains(err.Error(), tc.wantErr.Error())),
				tc.wantErr != ErrNotFound && errors.Is(err, ErrNotFound):
				t.Fatalf("RemoveParticipant = %v, want %v", err, tc.wantErr)
			}
			if got := calls.Load(); got != tc.wantCalls {
				t.Fatalf("%d calls, want %d", got, tc.wantCalls)
			}
		})
	}
}

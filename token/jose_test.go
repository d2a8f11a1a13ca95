package token

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

// TestTypeIs protects the one comparison every verifier of guestgate makes on a
// JOSE header's "typ": media type names are case-insensitive and "application/"
// may be left out (RFC 7515, section 4.1.9), so a backend that writes "jwt" or
// "application/jwt" is not refused, while anything that is not the same media type
// (a prefix, a suffix, parameters, an OAuth access token's "at+jwt") never matches.
func TestTypeIs(t *testing.T) {
	tests := []struct {
		typ, want string
		ok        bool
	}{
		{"JWT", "JWT", true},
		{"jwt", "JWT", true},
		{"Jwt", "JWT", true},
		{"application/jwt", "JWT", true},
		{"Application/JWT", "JWT", true},
		{SessionType, SessionType, true},
		{"GUESTGATE-SESSION+JWT", SessionType, true},
		{"application/" + SessionType, SessionType, true},
		{ModeratorType, ModeratorType, true},
		{"application/" + ModeratorType, ModeratorType, true},

		{"", "JWT", false},
		{"application/", "JWT", false},
		{"text/jwt", "JWT", false},
		{"JWS", "JWT", false},
		{"JWT ", "JWT", false},
		{" JWT", "JWT", false},
		{"JWT; charset=utf-8", "JWT", false},
		{"at+jwt", "JWT", false},
		{"application/at+jwt", "JWT", false},
		{"jwt+jwt", "JWT", false},
		{SessionType, ModeratorType, false},
		{ModeratorType, SessionType, false},
		{SessionType, "JWT", false},
		{"guestgate-session", SessionType, false},
		{"guestgate-session+jwt+jwt", SessionType, false},
		{"application/application/" + SessionType, SessionType, false},
		{"ſession", "session", false}, // Unicode case folding must not widen it
	}
	for _, tt := range tests {
		if got := TypeIs(tt.typ, tt.want); got != tt.ok {
			t.Errorf("TypeIs(%q, %q) = %v, want %v", tt.typ, tt.want, got, tt.ok)
		}
	}
}

// TestHeaderType: a "typ" is absent, a string, or makes the token unacceptable;
// null or a number never passes for an absent "typ" (which a verifier may accept).
func TestHeaderType(t *testing.T) {
	tests := []struct {
		name    string
		header  map[string]any
		typ     string
		present bool
		err     error
	}{
		{"absent", map[string]any{"alg": "HS256"}, "", false, nil},
		{"JWT", map[string]any{"typ": "JWT"}, "JWT", true, nil},
		{"empty string", map[string]any{"typ": ""}, "", true, nil},
		{"null", map[string]any{"typ": nil}, "", true, ErrTypeNotString},
		{"number", map[string]any{"typ": 1.0}, "", true, ErrTypeNotString},
		{"array", map[string]any{"typ": []any{"JWT"}}, "", true, ErrTypeNotString},
		{"object", map[string]any{"typ": map[string]any{}}, "", true, ErrTypeNotString},
	}
	for _, tt := range tests {
		typ, present, err := HeaderType(tt.header)
		if typ != tt.typ || present != tt.present || !errors.Is(err, tt.err) {
			t.Errorf("%s: HeaderType = %q, %v, %v; want %q, %v, %v", tt.name, typ, present, err, tt.typ, tt.present, tt.err)
		}
	}
}

// TestAudience protects the strict decoding of "aud" that the moderator verifier
// relies on: a missing claim and an empty array must stay apart (an empty array is
// present and names nobody, so it is refused, not taken for a token without
// audience), and every shape RFC 7519 does not allow is an error, which makes the
// token malformed. FuzzModeratorAudience in package admin checks the same rules
// through the verifier.
func TestAudience(t *testing.T) {
	tests := []struct {
		json    string
		present bool
		values  []string
		err     bool
	}{
		{`{}`, false, nil, false},
		{`{"aud":null}`, false, nil, false},
		{`{"aud":"guestgate"}`, true, []string{"guestgate"}, false},
		{`{"aud":""}`, true, []string{""}, false},
		{`{"aud":"\u0067uestgate"}`, true, []string{"guestgate"}, false},
		{`{"aud":[]}`, true, []string{}, false},
		{`{"aud":["a"]}`, true, []string{"a"}, false},
		{`{"aud":["a","guestgate"]}`, true, []string{"a", "guestgate"}, false},
		{`{"aud": [ "a" , "b" ] }`, true, []string{"a", "b"}, false},

		{`{"aud":1}`, false, nil, true},
		{`{"aud":1.5}`, false, nil, true},
		{`{"aud":true}`, false, nil, true},
		{`{"aud":{}}`, false, nil, true},
		{`{"aud":{"aud":"guestgate"}}`, false, nil, true},
		{`{"aud":[1]}`, false, nil, true},
		{`{"aud":["guestgate",1]}`, false, nil, true},
		{`{"aud":["guestgate",null]}`, false, nil, true},
		{`{"aud":[["guestgate"]]}`, false, nil, true},
		{`{"aud":[{}]}`, false, nil, true},
		{`{"aud":[true]}`, false, nil, true},
	}
	for _, tt := range tests {
		var c struct {
			Aud Audience `json:"aud,omitzero"`
		}
		err := json.Unmarshal([]byte(tt.json), &c)
		if tt.err {
			if err == nil {
				t.Errorf("%s: decoded to %+v, want an error", tt.json, c.Aud)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.json, err)
			continue
		}
		if c.Aud.Present != tt.present || !slices.Equal(c.Aud.Values, tt.values) || (tt.values != nil) != (c.Aud.Values != nil) {
			t.Errorf("%s: %+v, want present %v, values %q", tt.json, c.Aud, tt.present, tt.values)
		}
		// Encoding gives back what was decoded.
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var again struct {
			Aud Audience `json:"aud,omitzero"`
		}
		if err := json.Unmarshal(out, &again); err != nil || again.Aud.Present != c.Aud.Present || !slices.Equal(again.Aud.Values, c.Aud.Values) {
			t.Errorf("%s: encoded as %s, which decodes to %+v (%v)", tt.json, out, again.Aud, err)
		}
	}
	if a := (Audience{Values: []string{"x", "guestgate"}, Present: true}); !a.Contains("guestgate") || a.Contains("GUESTGATE") || a.Contains("guest") {
		t.Error("Contains does not compare byte for byte")
	}
}

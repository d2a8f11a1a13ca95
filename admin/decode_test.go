package admin

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// TestStrictJSON protects the decoding rules of every JSON body of the API
// (SECURITY.md, "Strict JSON bodies"). encoding/json matched keys case-insensitively and let the
// last duplicate win, so {"name":"d","max_clicks":1,"MAX_CLICKS":null} made an
// unlimited link and {"name":"e","max_clicks":1,"max_clicks":5} a 5-click one,
// while a reviewer, a log or a proxy reading the body saw a limit of 1. Now keys
// are case-sensitive (another spelling is an unknown field: 422 invalid naming
// it), a duplicate key is 400 duplicate_key naming it, unknown fields and
// values of the wrong type stay 422 invalid with the field, and a body that is
// not one JSON object in UTF-8 is 400 bad_json. Every refusal must leave the
// room exactly as it was; the accepted cases are the controls that show the
// same bodies, spelt plainly, do get through.
func TestStrictJSON(t *testing.T) {
	h, _ := newTestHandler(t, "https://rooms.example.com/guest/")
	openDemoRoom(t, h, testKey)
	const links, access, room = "/api/rooms/demo/links", "/api/rooms/demo/guest-access", "/api/rooms/demo"

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code, field              string
		check                    func(result) string // for accepted bodies
	}{
		// The two bodies of the issue.
		{name: "max_clicks and MAX_CLICKS", method: "POST", path: links, body: `{"name":"d","max_clicks":1,"MAX_CLICKS":null}`,
			status: 422, code: "invalid", field: "MAX_CLICKS"},
		{name: "max_clicks twice", method: "POST", path: links, body: `{"name":"e","max_clicks":1,"max_clicks":5}`,
			status: 400, code: "duplicate_key", field: "max_clicks"},

		// Duplicates, whatever the value and the escaping.
		{name: "max_clicks twice, the second escaped", method: "POST", path: links, body: `{"name":"e","max_clicks":1,"max\u005fclicks":5}`,
			status: 400, code: "duplicate_key", field: "max_clicks"},
		{name: "name twice with one value", method: "POST", path: links, body: `{"name":"x","name":"x"}`,
			status: 400, code: "duplicate_key", field: "name"},
		{name: "max_clicks null then 1", method: "POST", path: links, body: `{"name":"x","max_clicks":null,"max_clicks":1}`,
			status: 400, code: "duplicate_key", field: "max_clicks"},
		{name: "enabled twice", method: "PUT", path: access, body: `{"enabled":false,"enabled":true}`,
			status: 400, code: "duplicate_key", field: "enabled"},
		{name: "available twice", method: "PUT", path: room, body: `{"available":false,"available":true}`,
			status: 400, code: "duplicate_key", field: "available"},

		// Case-sensitive keys: another spelling is an unknown field.
		{name: "Name", method: "POST", path: links, body: `{"Name":"x"}`, status: 422, code: "invalid", field: "Name"},
		{name: "Max_Clicks beside name", method: "POST", path: links, body: `{"name":"x","Max_Clicks":2}`,
			status: 422, code: "invalid", field: "Max_Clicks"},
		{name: "ENABLED", method: "PUT", path: access, body: `{"ENABLED":false}`, status: 422, code: "invalid", field: "ENABLED"},
		{name: "Admission", method: "PUT", path: room, body: `{"admission":"moderator","Admission":"auto"}`,
			status: 422, code: "invalid", field: "Admission"},
		{name: "unknown field with a slash and a tilde", method: "POST", path: links, body: `{"name":"x","a/b~c":1}`,
			status: 422, code: "invalid", field: "a/b~c"},

		// Values of the wrong type keep their 422 with the field.
		{name: "max_clicks a string", method: "POST", path: links, body: `{"name":"x","max_clicks":"3"}`,
			status: 422, code: "invalid", field: "max_clicks"},
		{name: "duration_days fractional", method: "POST", path: links, body: `{"name":"x","duration_days":1.5}`,
			status: 422, code: "invalid", field: "duration_days"},
		{name: "max_clicks out of range", method: "POST", path: links, body: `{"name":"x","max_clicks":1e40}`,
			status: 422, code: "invalid", field: "max_clicks"},
		{name: "enabled a string", method: "PUT", path: access, body: `{"enabled":"false"}`,
			status: 422, code: "invalid", field: "enabled"},
		{name: "not_before not a time", method: "POST", path: links, body: `{"name":"x","not_before":"tomorrow at 10"}`,
			status: 422, code: "invalid", field: "not_before",
			check: func(r result) string {
				if e, _ := r.body["error"].(map[string]any); !strings.Contains(e["message"].(string), "RFC 3339") {
					return "the message does not say how to write a time"
				}
				return ""
			}},
		{name: "not_before a number", method: "POST", path: links, body: `{"name":"x","not_before":1765000000}`,
			status: 422, code: "invalid", field: "not_before"},

		// Roles: a shared link never gives moderator.
		{name: "role moderator", method: "POST", path: links, body: `{"name":"x","role":"moderator"}`,
			status: 422, code: "invalid", field: "role"},
		{name: "role speaker", method: "POST", path: links, body: `{"name":"s","role":"speaker"}`, status: 201,
			check: func(r result) string {
				if r.body["role"] != "speaker" {
					return "role is not speaker"
				}
				return ""
			}},
		{name: "role left out is viewer, not_before null", method: "POST", path: links, body: `{"name":"v","not_before":null}`, status: 201,
			check: func(r result) string {
				if v, ok := r.body["not_before"]; r.body["role"] != "viewer" || !ok || v != nil {
					return "role is not viewer or not_before is not null"
				}
				return ""
			}},

		// Not one JSON object in UTF-8.
		{name: "an array", method: "POST", path: links, body: `[{"name":"x"}]`, status: 400, code: "bad_json"},
		{name: "a second object", method: "POST", path: links, body: `{"name":"x"} {"name":"y"}`, status: 400, code: "bad_json"},
		{name: "invalid UTF-8", method: "POST", path: links, body: "{\"name\":\"x\xff\"}", status: 400, code: "bad_json"},
		{name: "empty", method: "POST", path: links, body: ``, status: 400, code: "bad_json"},
		{name: "over 64 KiB", method: "POST", path: links, body: `{"name":"` + strings.Repeat("x", 64<<10) + `"}`,
			status: 413, code: "too_large"},

		// Controls: the same bodies spelt plainly are accepted as before.
		{name: "max_clicks once", method: "POST", path: links, body: `{"name":"d","max_clicks":1}`, status: 201,
			check: func(r result) string {
				if r.body["max_clicks"] != 1.0 {
					return "max_clicks is not 1"
				}
				return ""
			}},
		{name: "max_clicks null is unlimited", method: "POST", path: links, body: `{"name":"n","max_clicks":null}`, status: 201,
			check: func(r result) string {
				if v, ok := r.body["max_clicks"]; !ok || v != nil {
					return "max_clicks is not null"
				}
				return ""
			}},
		{name: "an escaped key is the key it spells", method: "POST", path: links, body: `{"n\u0061me":"esc"}`, status: 201,
			check: func(r result) string {
				if r.body["name"] != "esc" {
					return "the name is not esc"
				}
				return ""
			}},
		{name: "trailing white space", method: "PUT", path: access, body: "{\"enabled\":true}\r\n\t ", status: 200},
	} {
		before := do(t, h, "GET", room, "", testKey)
		r := do(t, h, tc.method, tc.path, tc.body, testKey)
		code, field := errCode(r)
		if r.status != tc.status || code != tc.code || field != tc.field {
			t.Errorf("%s: %s %s: got %d %q field %q (%v), want %d %q field %q",
				tc.name, tc.method, tc.path, r.status, code, field, r.body, tc.status, tc.code, tc.field)
		}
		if tc.field != "" {
			e, _ := r.body["error"].(map[string]any)
			if msg, _ := e["message"].(string); !strings.Contains(msg, tc.field) {
				t.Errorf("%s: message %q does not name %s", tc.name, msg, tc.field)
			}
		}
		if tc.check != nil {
			if problem := tc.check(r); problem != "" {
				t.Errorf("%s: %s: %v", tc.name, problem, r.body)
			}
		}
		after := do(t, h, "GET", room, "", testKey)
		if tc.status >= 400 && !reflect.DeepEqual(before.body, after.body) {
			t.Errorf("%s: a refused body changed the room:\nbefore %v\nafter  %v", tc.name, before.body, after.body)
		}
		if id, _ := r.body["id"].(string); r.status == 201 && id != "" {
			// Keep below max_links for the next cases.
			if d := do(t, h, "DELETE", links+"/"+id, "", testKey); d.status != 204 {
				t.Fatalf("deleting link %s: %d", id, d.status)
			}
		}
	}
}

// TestStrictJSONOnTheAdminEndpoint: an AdminEndpoint handler (the admin
// endpoint's, caddymodule/adminapi.go) decodes with the same rules.
func TestStrictJSONOnTheAdminEndpoint(t *testing.T) {
	h, _ := newTestHandler(t, "")
	trusted, err := New(Config{Service: h.svc, Authenticators: []Authenticator{AdminEndpoint{}}, LinkBase: "/guest/"})
	if err != nil {
		t.Fatal(err)
	}
	openDemoRoom(t, trusted, "")
	for _, tc := range []struct {
		body        string
		status      int
		code, field string
	}{
		{`{"name":"d","max_clicks":1,"MAX_CLICKS":null}`, 422, "invalid", "MAX_CLICKS"},
		{`{"name":"e","max_clicks":1,"max_clicks":5}`, 400, "duplicate_key", "max_clicks"},
	} {
		r := do(t, trusted, "POST", "/api/rooms/demo/links", tc.body, "")
		if code, field := errCode(r); r.status != tc.status || code != tc.code || field != tc.field {
			t.Errorf("%s: got %d %q field %q, want %d %q field %q", tc.body, r.status, code, field, tc.status, tc.code, tc.field)
		}
	}
	if r := do(t, trusted, "GET", "/api/rooms/demo/links", "", ""); r.status != http.StatusOK || len(r.list) != 0 {
		t.Errorf("links after the refused bodies: %d %v, want none", r.status, r.list)
	}
}

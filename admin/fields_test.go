package admin

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestEveryInvalidFieldAtOnce protects the API's promise that a request with
// several bad fields hears of all of them in one answer: "fields" lists each
// with its own message, in the request's order, "field" stays the first (as
// clients written before "fields" read it), and "message" says them all. An
// answer about one field lists that one; an answer about no field has no
// "fields". Statuses and codes are those of a single bad field.
func TestEveryInvalidFieldAtOnce(t *testing.T) {
	h, _ := newTestHandler(t, "")
	openDemoRoom(t, h, testKey)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
		fields                   []string // nil: no "fields"
	}{
		{"link: every field wrong", "POST", "/api/rooms/demo/links", `{"name":"","max_clicks":0,"duration_days":400}`,
			422, "invalid", []string{"name", "max_clicks", "duration_days"}},
		{"link: 0 clicks and 400 days", "POST", "/api/rooms/demo/links", `{"name":"Guests","max_clicks":0,"duration_days":400}`,
			422, "invalid", []string{"max_clicks", "duration_days"}},
		{"link: one field", "POST", "/api/rooms/demo/links", `{"name":"Guests","duration_days":0}`,
			422, "invalid", []string{"duration_days"}},
		{"room: kind and admission", "PUT", "/api/rooms/demo", `{"kind":"museum","admission":"manual"}`,
			422, "invalid", []string{"kind", "admission"}},
		{"unknown field", "PUT", "/api/rooms/demo", `{"nmae":"typo"}`, 422, "invalid", []string{"nmae"}},
		{"duplicate key", "PUT", "/api/rooms/demo", `{"name":"a","name":"b"}`, 400, "duplicate_key", []string{"name"}},
		{"guest list: format and limit", "GET", "/api/rooms/demo/guests?format=xml&limit=0", "", 422, "invalid", []string{"format", "limit"}},
		{"no field at fault", "GET", "/api/rooms/nope", "", 404, "room_not_found", nil},
		{"not JSON", "PUT", "/api/rooms/demo", `{"name":`, 400, "bad_json", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, h, tc.method, tc.path, tc.body, testKey)
			e, _ := r.body["error"].(map[string]any)
			code, field := errCode(r)
			msg, _ := e["message"].(string)
			if r.status != tc.status || code != tc.code {
				t.Fatalf("%d %q, want %d %q: %v", r.status, code, tc.status, tc.code, r.body)
			}
			list, has := e["fields"].([]any)
			if tc.fields == nil {
				if _, present := e["fields"]; present || field != "" {
					t.Errorf("an error about no field has field %q and fields %v", field, e["fields"])
				}
				return
			}
			if !has {
				t.Fatalf("no fields: %v", r.body)
			}
			var got []string
			for _, f := range list {
				f, _ := f.(map[string]any)
				name, _ := f["field"].(string)
				fmsg, _ := f["message"].(string)
				got = append(got, name)
				if !strings.Contains(fmsg, name) || !strings.Contains(msg, fmsg) {
					t.Errorf("field %s: message %q, which the answer's message %q should hold and which should name the field", name, fmsg, msg)
				}
				if len(tc.fields) == 1 && fmsg != msg {
					t.Errorf("the one field's message %q differs from the answer's %q", fmsg, msg)
				}
			}
			if !slices.Equal(got, tc.fields) {
				t.Errorf("fields %v, want %v", got, tc.fields)
			}
			if field != tc.fields[0] {
				t.Errorf("field %q, want the first, %q", field, tc.fields[0])
			}
		})
	}
	// Nothing was made by the refused requests.
	if r := do(t, h, "GET", "/api/rooms/demo/links", "", testKey); r.status != http.StatusOK || len(r.list) != 0 {
		t.Errorf("links after the refused requests: %d %v", r.status, r.list)
	}
}

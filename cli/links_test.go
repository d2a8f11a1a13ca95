package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/admin"
)

// TestLinkRolesAndOpening protects the role and the opening time in the CLI:
// "links create" sends --role as given (the API names the roles a link may
// give, and its 422 is exit 1) and --not-before as an RFC 3339 time, refusing
// anything else before sending (exit 2); "links list" and "guests list" show
// the role, and the list the opening time ("-" for a link open from its
// creation).
func TestLinkRolesAndOpening(t *testing.T) {
	opens := time.Date(2027, 3, 1, 8, 30, 0, 0, time.UTC)
	var sent []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch path := strings.TrimPrefix(r.URL.Path, admin.EndpointPrefix); {
		case r.Method == http.MethodPost && path == "api/rooms/demo/links":
			var body map[string]any
			b, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(b, &body)
			sent = append(sent, body)
			if body["role"] == "moderator" {
				w.WriteHeader(http.StatusUnprocessableEntity)
				json.NewEncoder(w).Encode(admin.ErrorJSON{Error: admin.APIError{Code: "invalid", Field: "role",
					Message: `role a guest link cannot give "moderator": it is shared; invite the person instead`}})
				return
			}
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(admin.LinkJSON{ID: "l_1", URL: "http://gw/guest/tok"})
		case path == "api/rooms/demo/links":
			json.NewEncoder(w).Encode([]admin.LinkJSON{
				{ID: "l_1", Name: "Panel", Role: "speaker", URL: "http://gw/guest/a", Active: true},
				{ID: "l_2", Name: "Audience", Role: "viewer", URL: "http://gw/guest/b", NotBefore: &opens},
			})
		case path == "api/rooms/demo/guests":
			json.NewEncoder(w).Encode(admin.GuestPageJSON{Guests: []admin.GuestJSON{
				{ID: "g_1", Name: "Marie", Email: "marie@example.org", LinkName: "Panel", Role: "speaker", State: "admitted"},
			}})
		default:
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(admin.ErrorJSON{Error: admin.APIError{Code: "room_not_found", Message: "room not found"}})
		}
	}))
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		name   string
		args   []string
		status int
		sent   map[string]any // the body of the POST; nil for none
		out    []string       // in the output or the error
	}{
		{"speaker, opening later", []string{"links", "create", "demo", "--name", "Panel", "--role", "speaker", "--not-before", "2027-03-01T09:30:00+01:00"}, 0,
			map[string]any{"name": "Panel", "role": "speaker", "not_before": "2027-03-01T09:30:00+01:00"}, []string{"http://gw/guest/tok"}},
		{"neither flag", []string{"links", "create", "demo", "--name", "Press"}, 0,
			map[string]any{"name": "Press"}, []string{"http://gw/guest/tok"}},
		{"moderator refused by the API", []string{"links", "create", "demo", "--name", "Mods", "--role", "moderator"}, 1,
			map[string]any{"name": "Mods", "role": "moderator"}, []string{`cannot give "moderator"`, "field role"}},
		{"not a time", []string{"links", "create", "demo", "--name", "Soon", "--not-before", "tomorrow 9:00"}, 2,
			nil, []string{`--not-before takes an RFC 3339 time`, `got "tomorrow 9:00"`}},
		{"a time without its zone", []string{"links", "create", "demo", "--name", "Soon", "--not-before", "2027-03-01T09:30:00"}, 2,
			nil, []string{`--not-before takes an RFC 3339 time`}},
		{"links list", []string{"links", "list", "demo"}, 0, nil,
			[]string{"ROLE", "OPENS", "speaker", "viewer", when(opens)}},
		{"guests list", []string{"guests", "list", "demo"}, 0, nil,
			[]string{"ROLE", "speaker"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent = nil
			status, err, out := runCLI(t, srv, tc.args...)
			if err != nil {
				out += err.Error()
			}
			if status != tc.status {
				t.Errorf("exit %d (%v), want %d", status, err, tc.status)
			}
			for _, w := range tc.out {
				if !strings.Contains(out, w) {
					t.Errorf("output %q lacks %q", out, w)
				}
			}
			switch {
			case tc.sent == nil && len(sent) != 0:
				t.Errorf("sent %v, want nothing", sent)
			case tc.sent != nil && (len(sent) != 1 || !sameJSON(sent[0], tc.sent)):
				t.Errorf("sent %v, want %v", sent, tc.sent)
			}
		})
	}

	// The columns line up: the opening time and the role are in their own.
	_, _, out := runCLI(t, srv, "links", "list", "demo")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Fields(lines[0])[2] != "ROLE" || strings.Fields(lines[1])[2] != "speaker" ||
		!strings.Contains(lines[1], " - ") || strings.Fields(lines[2])[2] != "viewer" {
		t.Errorf("links list:\n%s", out)
	}
}

// sameJSON reports whether a and b encode alike.
func sameJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestInvitationOpening: "invitations create" reads --not-before as
// "links create" does: an RFC 3339 time is sent as one, and anything else is
// refused before sending (exit 2) with the same message.
func TestInvitationOpening(t *testing.T) {
	var sent []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		sent = append(sent, body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(admin.InvitationJSON{ID: "i_1", URL: "http://gw/guest/inv"})
	}))
	t.Cleanup(srv.Close)
	create := []string{"invitations", "create", "demo", "--email", "ada@example.com", "--name", "Ada", "--not-before"}

	status, err, out := runCLI(t, srv, append(create, "2027-03-01T09:30:00+01:00")...)
	if status != 0 || !strings.Contains(out, "http://gw/guest/inv") {
		t.Errorf("an RFC 3339 time: exit %d (%v), output %q", status, err, out)
	}
	if len(sent) != 1 || sent[0]["not_before"] != "2027-03-01T09:30:00+01:00" {
		t.Errorf("sent %v, want not_before 2027-03-01T09:30:00+01:00", sent)
	}

	sent = nil
	status, err, _ = runCLI(t, srv, append(create, "tomorrow 9:00")...)
	if status != 2 || err == nil || !strings.Contains(err.Error(), `--not-before takes an RFC 3339 time`) ||
		!strings.Contains(err.Error(), `got "tomorrow 9:00"`) {
		t.Errorf("not a time: exit %d (%v), want 2 with the links' message", status, err)
	}
	if len(sent) != 0 {
		t.Errorf("not a time: sent %v, want nothing", sent)
	}
}

package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/guestgate/guestgate/admin"
)

// fakeEndpoint is an admin endpoint that knows one room, demo, in one store,
// and answers everything else with the API's error envelope. It records the
// store each request named.
func fakeEndpoint(t *testing.T) (srv *httptest.Server, stores *[]string) {
	stores = new([]string)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*stores = append(*stores, r.URL.Query().Get("store"))
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == admin.EndpointPrefix+"api/rooms/demo":
			json.NewEncoder(w).Encode(admin.RoomJSON{ID: "demo", Name: "Demo room", Kind: "room", Admission: "auto", MaxLinks: 3, Links: []admin.LinkJSON{}})
		default:
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(admin.ErrorJSON{Error: admin.APIError{Code: "room_not_found", Message: "room not found"}})
		}
	}))
	t.Cleanup(srv.Close)
	return srv, stores
}

// runCLI runs "caddy guestgate <args>" in a Host whose admin endpoint is srv
// and returns the exit status, the error reported and the output.
func runCLI(t *testing.T, srv *httptest.Server, args ...string) (status int, err error, out string) {
	t.Helper()
	status = -1
	c := New(Host{
		DefaultAddress: "localhost:2019",
		AdminEndpoint: func(address, _, _ string) (Endpoint, error) {
			a := strings.TrimPrefix(srv.URL, "http://")
			return Endpoint{Name: a, Network: "tcp", Address: a}, nil
		},
		Exit: func(_ *cobra.Command, s int, e error) error {
			status, err = s, e
			return e
		},
	})
	root := &cobra.Command{Use: "caddy", SilenceErrors: true, SilenceUsage: true}
	cmd := &cobra.Command{Use: c.Name + " " + c.Usage, Short: c.Short, Long: c.Long}
	c.Setup(cmd)
	root.AddCommand(cmd)
	var buf bytes.Buffer
	root.SetOut(&buf)
	root.SetErr(&buf)
	root.SetArgs(append([]string{"guestgate"}, args...))
	_ = root.Execute()
	return status, err, buf.String()
}

// TestExitStatus protects what scripts rely on: 0 on success, 1 when the
// operation failed, with the API's message, code and status in the error, 2
// for a mistake in the command line; and --store reaches the endpoint as an
// absolute path.
func TestExitStatus(t *testing.T) {
	srv, stores := fakeEndpoint(t)
	for _, tc := range []struct {
		name       string
		args       []string
		wantStatus int
		wantErr    string // the error contains it ("" for none)
		wantOut    string // the output contains it
	}{
		{"success", []string{"rooms", "get", "demo"}, 0, "", "Demo room"},
		{"success as JSON", []string{"rooms", "get", "demo", "--json"}, 0, "", `"guest_access": false`},
		{"failed operation", []string{"rooms", "get", "nope"}, 1, "rooms get nope: room not found (room_not_found, HTTP 404)", ""},
		{"missing argument", []string{"rooms", "get"}, 2, "guestgate rooms get takes room, got 0 argument(s)", ""},
		{"extra argument", []string{"rooms", "get", "a", "b"}, 2, "takes room, got 2 argument(s)", ""},
		{"group without command", []string{"rooms"}, 2, "guestgate rooms needs a command", ""},
		{"unknown command", []string{"rooms", "rename"}, 2, `unknown command "rename" for caddy guestgate rooms`, ""},
		{"bad flag value", []string{"links", "create", "demo", "--name", "x", "--days", "abc"}, 2, `invalid argument "abc"`, ""},
		{"bad on/off", []string{"access", "maybe", "demo"}, 2, `access takes on or off, got "maybe"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, err, out := runCLI(t, srv, tc.args...)
			if status != tc.wantStatus {
				t.Errorf("exit status %d (%v), want %d", status, err, tc.wantStatus)
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("output %q lacks %q", out, tc.wantOut)
			}
		})
	}
	*stores = nil
	if status, err, _ := runCLI(t, srv, "rooms", "get", "demo", "--store", "data"); status != 0 {
		t.Fatalf("with --store: %d %v", status, err)
	}
	if abs, _ := filepath.Abs("data"); len(*stores) != 1 || (*stores)[0] != abs {
		t.Errorf("the endpoint got store %q, want %q", *stores, abs)
	}
	// A PostgreSQL store named by its whole DSN reaches the endpoint, whose
	// request lines Caddy logs, without the password; a DSN the command
	// cannot name a database by is refused without being repeated.
	*stores = nil
	if status, err, _ := runCLI(t, srv, "rooms", "get", "demo", "--store", "postgres://gg:s3cret@db.internal/rooms?sslmode=verify-full"); status != 0 {
		t.Fatalf("with --store and a DSN: %d %v", status, err)
	}
	if want := "postgres://gg@db.internal:5432/rooms"; len(*stores) != 1 || (*stores)[0] != want {
		t.Errorf("the endpoint got store %q, want %q", *stores, want)
	}
	for _, dsn := range []string{"host=db user=gg password=s3cret dbname=rooms", "postgrs://gg:s3cret@db.internal/rooms"} {
		*stores = nil
		status, err, out := runCLI(t, srv, "rooms", "get", "demo", "--store", dsn)
		if status != 2 && status != 1 || len(*stores) != 0 {
			t.Errorf("--store %s: status %d, requests %q; want a refusal before any request", dsn, status, *stores)
		}
		if strings.Contains(fmt.Sprint(err)+out, "s3cret") {
			t.Errorf("--store %s: the password shows: %v %s", dsn, err, out)
		}
	}
}

// TestParseOpError: the CLI reads both error bodies the admin endpoint can
// give, guestgate's envelope and Caddy's own {"error": "..."}, and says what
// to check when a 404 does not come from guestgate.
func TestParseOpError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"envelope", 422, `{"error":{"code":"invalid","message":"name is required","field":"name"}}`, "name is required (field name, invalid, HTTP 422)"},
		{"several fields", 422, `{"error":{"code":"invalid","message":"max_clicks must be at least 1; duration_days must be between 1 and 365","field":"max_clicks",` +
			`"fields":[{"field":"max_clicks","message":"max_clicks must be at least 1"},{"field":"duration_days","message":"duration_days must be between 1 and 365"}]}}`,
			"max_clicks must be at least 1; duration_days must be between 1 and 365 (fields max_clicks, duration_days; invalid, HTTP 422)"},
		{"caddy's own", 400, `{"error":"caddy says no"}`, "caddy says no (HTTP 400)"},
		{"not JSON", 502, "bad gateway\n", "bad gateway (HTTP 502)"},
		{"empty", 503, "", "Service Unavailable (HTTP 503)"},
		{"no guestgate", 404, "404 page not found", "404 page not found (is guestgate in this Caddy? 'caddy list-modules' should show admin.api.guestgate) (HTTP 404)"},
		{"guestgate's 404", 404, `{"error":{"code":"room_not_found","message":"room not found"}}`, "room not found (room_not_found, HTTP 404)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseOpError(tc.status, []byte(tc.body)).Error()
			if got != tc.want {
				t.Errorf("error %q, want %q", got, tc.want)
			}
		})
	}
}

// TestList: a listing is a table under its header, or the one line that says
// there is nothing to list.
func TestList(t *testing.T) {
	var buf bytes.Buffer
	c := &invocation{out: &buf}
	header := []string{"GUEST", "NAME"}
	if err := c.list("No one is waiting.", header, nil); err != nil || buf.String() != "No one is waiting.\n" {
		t.Errorf("empty list: %q, %v", buf.String(), err)
	}
	buf.Reset()
	if err := c.list("No one is waiting.", header, [][]string{{"g_1", "Ada"}, {"g_22", "Bo"}}); err != nil ||
		buf.String() != "GUEST  NAME\ng_1    Ada\ng_22   Bo\n" {
		t.Errorf("list of two: %q, %v", buf.String(), err)
	}
}

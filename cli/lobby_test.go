package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/guestgate/guestgate/admin"
)

// TestLobbyMessage protects "lobby message" and "lobby clear-message": the
// text goes to the API as typed (any script, markup and quotes included) in
// the body of PUT .../lobby/message, clearing is DELETE, the answer is said
// back in words; the API's 422 is exit 1 with its message, and a missing
// text a usage error (exit 2) that sends nothing.
func TestLobbyMessage(t *testing.T) {
	type req struct{ method, path, text string }
	var got []req
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Text *string `json:"text"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		rq := req{method: r.Method, path: strings.TrimPrefix(r.URL.Path, admin.EndpointPrefix)}
		if body.Text != nil {
			rq.text = *body.Text
		}
		got = append(got, rq)
		w.Header().Set("Content-Type", "application/json")
		if len([]rune(rq.text)) > 280 {
			w.WriteHeader(http.StatusUnprocessableEntity)
			json.NewEncoder(w).Encode(admin.ErrorJSON{Error: admin.APIError{Code: "invalid", Message: "text The message must be at most 280 characters.", Field: "text"}})
			return
		}
		json.NewEncoder(w).Encode(admin.RoomJSON{ID: "demo", LobbyMessage: rq.text, Links: []admin.LinkJSON{}})
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		args   []string
		status int
		want   req    // the request sent; zero for none
		out    string // in the output or the error
	}{
		{[]string{"lobby", "message", "demo", "We start at 10:05"}, 0,
			req{"PUT", "api/rooms/demo/lobby/message", "We start at 10:05"}, "The guests waiting in room demo now read: We start at 10:05"},
		{[]string{"lobby", "message", "demo", `נתחיל <b>"בקרוב"</b>`}, 0,
			req{"PUT", "api/rooms/demo/lobby/message", `נתחיל <b>"בקרוב"</b>`}, `now read: נתחיל <b>"בקרוב"</b>`},
		{[]string{"lobby", "message", "demo", ""}, 0,
			req{"PUT", "api/rooms/demo/lobby/message", ""}, "Cleared the lobby message of room demo."},
		{[]string{"lobby", "clear-message", "demo"}, 0,
			req{"DELETE", "api/rooms/demo/lobby/message", ""}, "Cleared the lobby message of room demo."},
		{[]string{"lobby", "message", "demo", strings.Repeat("x", 281)}, 1,
			req{"PUT", "api/rooms/demo/lobby/message", strings.Repeat("x", 281)}, "at most 280 characters"},
		{[]string{"lobby", "message", "demo"}, 2, req{}, "takes room text"},
	}
	for _, tc := range tests {
		got = nil
		status, err, out := runCLI(t, srv, tc.args...)
		if err != nil {
			out += err.Error()
		}
		if status != tc.status || !strings.Contains(out, tc.out) {
			t.Errorf("%q: exit %d, %q; want exit %d with %q", tc.args, status, out, tc.status, tc.out)
		}
		switch {
		case tc.want == (req{}) && len(got) != 0:
			t.Errorf("%q sent %v, want nothing", tc.args, got)
		case tc.want != (req{}) && (len(got) != 1 || got[0] != tc.want):
			t.Errorf("%q sent %v, want %v", tc.args, got, tc.want)
		}
	}
}

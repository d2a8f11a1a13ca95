package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/teststore"
)

const testKey = "test-api-key-0123456789"

var epoch = time.Date(2026, 4, 16, 10, 0, 0, 0, time.UTC)

func newTestHandler(t *testing.T, linkBase string) (*Handler, *time.Time) {
	t.Helper()
	svc, now := teststore.Service(t, epoch)
	h, err := New(Config{
		Service:        svc,
		Authenticators: apiKeys(t, testKey, "second-key-0123456789"), LinkBase: linkBase,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, now
}

// apiKeys is the API-key authenticator of keys, as a Config's Authenticators.
func apiKeys(t testing.TB, keys ...string) []Authenticator {
	t.Helper()
	a, err := NewAPIKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	return []Authenticator{a}
}

type result struct {
	status int
	body   map[string]any
	list   []any
	header http.Header
}

func do(t *testing.T, h http.Handler, method, path, body, key string) result {
	t.Helper()
	r := httptest.NewRequest(method, "http://rooms.test"+path, strings.NewReader(body))
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	res := result{status: w.Code, header: w.Header()}
	if w.Body.Len() > 0 {
		if strings.HasPrefix(w.Body.String(), "[") {
			if err := json.Unmarshal(w.Body.Bytes(), &res.list); err != nil {
				t.Fatalf("%s %s: bad JSON %q", method, path, w.Body.String())
			}
		} else if err := json.Unmarshal(w.Body.Bytes(), &res.body); err != nil {
			t.Fatalf("%s %s: bad JSON %q", method, path, w.Body.String())
		}
	}
	return res
}

func errCode(r result) (code, field string) {
	e, _ := r.body["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return
}

// openDemoRoom makes the room "demo" through h with guest access on, as a
// moderator with cred does ("" for an authenticator that needs none), and
// fails the test unless both calls succeed.
func openDemoRoom(t *testing.T, h http.Handler, cred string) {
	t.Helper()
	if r := do(t, h, "PUT", "/api/rooms/demo", `{"name":"Demo room"}`, cred); r.status != http.StatusCreated {
		t.Fatalf("creating the room: %d %v", r.status, r.body)
	}
	if r := do(t, h, "PUT", "/api/rooms/demo/guest-access", `{"enabled":true}`, cred); r.status != http.StatusOK {
		t.Fatalf("turning guest access on: %d %v", r.status, r.body)
	}
}

func TestAPIFlow(t *testing.T) {
	h, now := newTestHandler(t, "https://rooms.example.com/guest")
	steps := []struct {
		method, path, body string
		status             int
		code, field        string
	}{
		{"GET", "/api/rooms/demo", "", 404, "room_not_found", ""},
		{"PUT", "/api/rooms/demo", `{"name":"Demo room"}`, 201, "", ""},
		{"PUT", "/api/rooms/demo", `{"name":"Demo room","admission":"auto"}`, 200, "", ""},
		{"PUT", "/api/rooms/bad%2Fid", `{"name":"x"}`, 422, "invalid", "id"},
		{"PUT", "/api/rooms/demo", `{"kind":"museum"}`, 422, "invalid", "kind"},
		{"PUT", "/api/rooms/demo", `{"name":1}`, 422, "invalid", "name"},
		{"PUT", "/api/rooms/demo", `{"nmae":"typo"}`, 422, "invalid", "nmae"},
		{"PUT", "/api/rooms/demo", `{"name":`, 400, "bad_json", ""},
		{"POST", "/api/rooms/demo/links", `{"name":"A"}`, 409, "guest_access_off", ""},
		{"PUT", "/api/rooms/demo/guest-access", `{}`, 422, "invalid", "enabled"},
		{"PUT", "/api/rooms/demo/guest-access", `{"enabled":true}`, 200, "", ""},
		{"POST", "/api/rooms/demo/links", `{"name":""}`, 422, "invalid", "name"},
		{"POST", "/api/rooms/demo/links", `{"name":"` + strings.Repeat("x", 81) + `"}`, 422, "invalid", "name"},
		{"POST", "/api/rooms/demo/links", `{"name":"A","max_clicks":0}`, 422, "invalid", "max_clicks"},
		{"POST", "/api/rooms/demo/links", `{"name":"A","duration_days":366}`, 422, "invalid", "duration_days"},
		{"POST", "/api/rooms/demo/links", `{"name":"A","duration_days":"7"}`, 422, "invalid", "duration_days"},
		{"POST", "/api/rooms/demo/links", `{"name":"A","max_clicks":2,"duration_days":7}`, 201, "", ""},
		{"POST", "/api/rooms/demo/links", `{"name":"B"}`, 201, "", ""},
		{"POST", "/api/rooms/demo/links", `{"name":"C"}`, 201, "", ""},
		{"POST", "/api/rooms/demo/links", `{"name":"D"}`, 409, "link_limit", ""},
		{"DELETE", "/api/rooms/demo/links/l_aaaaaaaaaaaaaaaa", "", 404, "link_not_found", ""},
		{"POST", "/api/rooms/nope/links", `{"name":"A"}`, 404, "room_not_found", ""},
		{"PUT", "/api/rooms/gal", `{"kind":"gallery"}`, 201, "", ""},
		{"PUT", "/api/rooms/gal/guest-access", `{"enabled":true}`, 422, "gallery_room", ""},
		{"POST", "/api/rooms/gal/links", `{"name":"A"}`, 422, "gallery_room", ""},
		{"GET", "/api/nothing", "", 404, "not_found", ""},
		{"PATCH", "/api/rooms/demo", "", 405, "method_not_allowed", ""},
	}
	for _, s := range steps {
		*now = now.Add(time.Second) // links are listed by creation time
		r := do(t, h, s.method, s.path, s.body, testKey)
		code, field := errCode(r)
		if r.status != s.status || code != s.code || field != s.field {
			t.Fatalf("%s %s %s: got %d %q %q, want %d %q %q (%v)", s.method, s.path, s.body, r.status, code, field, s.status, s.code, s.field, r.body)
		}
	}

	r := do(t, h, "GET", "/api/rooms/demo/links", "", testKey)
	if r.status != 200 || len(r.list) != 3 {
		t.Fatalf("links: %d %v", r.status, r.list)
	}
	first := r.list[0].(map[string]any)
	if first["name"] != "A" || first["max_clicks"] != 2.0 || first["clicks"] != 0.0 || first["active"] != true {
		t.Fatalf("first link: %v", first)
	}
	created, _ := time.Parse(time.RFC3339Nano, first["created_at"].(string))
	if created.IsZero() || first["expires_at"] != created.Add(7*24*time.Hour).Format(time.RFC3339Nano) {
		t.Fatalf("created_at = %v, expires_at = %v", first["created_at"], first["expires_at"])
	}
	url, _ := first["url"].(string)
	if !strings.HasPrefix(url, "https://rooms.example.com/guest/") || !guestlink.WellFormedToken(strings.TrimPrefix(url, "https://rooms.example.com/guest/")) {
		t.Fatalf("url = %q", url)
	}
	second := r.list[1].(map[string]any)
	if second["max_clicks"] != nil || second["expires_at"] != nil {
		t.Fatalf("unlimited link must have null max_clicks and expires_at: %v", second)
	}

	// After 7 days the link is no longer active.
	*now = created.Add(7 * 24 * time.Hour)
	r = do(t, h, "GET", "/api/rooms/demo", "", testKey)
	links := r.body["links"].([]any)
	if links[0].(map[string]any)["active"] != false || links[1].(map[string]any)["active"] != true {
		t.Fatalf("active after expiry: %v", links)
	}
	if r.body["guest_access"] != true || r.body["max_links"] != 3.0 {
		t.Fatalf("room: %v", r.body)
	}

	// Delete is immediate and final.
	id := first["id"].(string)
	if r := do(t, h, "DELETE", "/api/rooms/demo/links/"+id, "", testKey); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	if r := do(t, h, "DELETE", "/api/rooms/demo/links/"+id, "", testKey); r.status != 404 {
		t.Fatalf("second delete: %d", r.status)
	}
	// Access off makes every link inactive.
	do(t, h, "PUT", "/api/rooms/demo/guest-access", `{"enabled":false}`, testKey)
	r = do(t, h, "GET", "/api/rooms/demo/links", "", testKey)
	for _, l := range r.list {
		if l.(map[string]any)["active"] != false {
			t.Fatalf("link active with access off: %v", l)
		}
	}
	if r := do(t, h, "DELETE", "/api/rooms/demo", "", testKey); r.status != 204 {
		t.Fatalf("delete room: %d", r.status)
	}
	if r := do(t, h, "GET", "/api/rooms/demo", "", testKey); r.status != 404 {
		t.Fatalf("room after delete: %d", r.status)
	}
}

func TestAuthentication(t *testing.T) {
	h, _ := newTestHandler(t, "")
	for _, key := range []string{"", "wrong", testKey + "x", strings.ToUpper(testKey)} {
		r := do(t, h, "GET", "/api/rooms/demo", "", key)
		if code, _ := errCode(r); r.status != 401 || code != "unauthorized" || r.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("key %q: %d %v", key, r.status, r.body)
		}
	}
	rq := httptest.NewRequest("GET", "/api/rooms/demo", nil)
	rq.Header.Set("Authorization", "Basic "+testKey)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, rq)
	if w.Code != 401 {
		t.Fatalf("Basic scheme accepted: %d", w.Code)
	}
	if r := do(t, h, "GET", "/api/rooms/demo", "", "second-key-0123456789"); r.status != 404 {
		t.Fatalf("second key: %d", r.status)
	}
	if _, err := NewAPIKeys([]string{"short"}); err == nil {
		t.Fatal("short API key accepted")
	}
}

func TestLinkURLDefault(t *testing.T) {
	h, _ := newTestHandler(t, "")
	openDemoRoom(t, h, testKey)
	r := httptest.NewRequest("POST", "http://rooms.test/api/rooms/demo/links", strings.NewReader(`{"name":"A"}`))
	r.Header.Set("Authorization", "Bearer "+testKey)
	r.Header.Set("X-Forwarded-Host", "evil.example")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var l map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &l)
	if url, _ := l["url"].(string); !strings.HasPrefix(url, "http://rooms.test/guest/") {
		t.Fatalf("url = %q", url)
	}
}

// unreachable is a store whose database cannot be reached: every write and
// read of rooms fails with guestlink.ErrStoreUnavailable, wrapped in a text
// that names the database.
type unreachable struct{ guestlink.Store }

var errUnreachable = fmt.Errorf("guestgate store: dial tcp db.internal:5432: connection refused: %w", guestlink.ErrStoreUnavailable)

func (unreachable) Room(context.Context, string) (guestlink.Room, error) {
	return guestlink.Room{}, errUnreachable
}

func (unreachable) PutRoom(context.Context, string, guestlink.RoomSpec, time.Time) (guestlink.Room, bool, error) {
	return guestlink.Room{}, false, errUnreachable
}

func (unreachable) MakeRoom(context.Context, string, guestlink.RoomSpec, time.Time) (guestlink.Room, bool, error) {
	return guestlink.Room{}, false, errUnreachable
}

func (unreachable) SetGuestAccess(context.Context, string, bool, time.Time) (guestlink.Room, error) {
	return guestlink.Room{}, errUnreachable
}

// TestStoreUnavailable: while the store cannot be reached, the API answers
// reads and writes with 503 store_unavailable and Retry-After
// (docs/DESIGN.md section 6), not 500, and its message says nothing of the
// database.
func TestStoreUnavailable(t *testing.T) {
	h, _ := newTestHandler(t, "")
	h.svc.Store = unreachable{h.svc.Store}
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/api/rooms/demo", ""},
		{"PUT", "/api/rooms/demo", `{"name":"Demo"}`},
		{"PUT", "/api/rooms/demo/guest-access", `{"enabled":true}`},
	} {
		r := do(t, h, tc.method, tc.path, tc.body, testKey)
		code, _ := errCode(r)
		e, _ := r.body["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if r.status != http.StatusServiceUnavailable || code != "store_unavailable" || r.header.Get("Retry-After") != "5" || strings.Contains(msg, "db.internal") {
			t.Errorf("%s %s: %d %q Retry-After %q message %q; want 503 store_unavailable, Retry-After 5, no database in the message",
				tc.method, tc.path, r.status, code, r.header.Get("Retry-After"), msg)
		}
	}
}

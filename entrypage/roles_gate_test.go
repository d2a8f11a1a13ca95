package entrypage_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/entrypage"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/teststore"
	"github.com/guestgate/guestgate/token"
)

// TestGateRoleRules drives the gate with admitted sessions of each role under
// the rules of docs/DESIGN.md section 7, and without rules. It protects what
// a guest and the upstream see: a request outside its role's rules is 403
// not-allowed with a way back to the room and never reaches the upstream; a
// request inside them does, with the identity headers; a WebSocket opened
// with an HTTP/2 extended CONNECT is a GET; and a configuration without role
// blocks lets every session do what the allowlist lets it do, whatever its
// method.
func TestGateRoleRules(t *testing.T) {
	allow := []string{"/rooms/{room}", "/rooms/{room}/*", "/ws/{room}"}
	roles, err := entrypage.ParseRoleRules(map[string]entrypage.RoleRule{
		"viewer":  {Methods: []string{"GET", "HEAD", "OPTIONS"}, Write: []string{"/rooms/{room}/chat"}},
		"speaker": {Allow: []string{"/stage/{room}/*"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		roles    entrypage.RoleRules
		role     string // the session's role claim
		method   string
		path     string
		extended bool // an HTTP/2 extended CONNECT for a WebSocket
		want     bool // reaches the upstream; else 403 not-allowed
	}{
		{"viewer reads the room", roles, "viewer", "GET", "/rooms/demo", false, true},
		{"viewer asks for headers", roles, "viewer", "HEAD", "/rooms/demo/slides", false, true},
		{"viewer posts to the chat", roles, "viewer", "POST", "/rooms/demo/chat", false, true},
		{"viewer posts to an encoded chat path", roles, "viewer", "POST", "/rooms/demo/cha%74", false, true},
		{"viewer opens the WebSocket", roles, "viewer", "CONNECT", "/ws/demo", true, true},
		{"viewer posts outside write", roles, "viewer", "POST", "/rooms/demo/slides", false, false},
		{"viewer deletes the room", roles, "viewer", "DELETE", "/rooms/demo", false, false},
		{"viewer posts past write by a dot segment", roles, "viewer", "POST", "/rooms/demo/chat/../slides", false, false},
		{"viewer reaches for the stage", roles, "viewer", "GET", "/stage/demo/mic", false, false},
		{"session without a role is a viewer", roles, "", "POST", "/rooms/demo/slides", false, false},
		{"session without a role posts to the chat", roles, "", "POST", "/rooms/demo/chat", false, true},
		{"speaker posts in the room", roles, "speaker", "POST", "/rooms/demo/slides", false, true},
		{"speaker takes the stage", roles, "speaker", "PUT", "/stage/demo/mic", false, true},
		{"speaker on another room's stage", roles, "speaker", "GET", "/stage/other/mic", false, false},
		{"speaker outside every allow", roles, "speaker", "GET", "/admin", false, false},
		{"moderator without a block", roles, "moderator", "DELETE", "/rooms/demo/chat/1", false, true},
		{"moderator has no stage", roles, "moderator", "GET", "/stage/demo/mic", false, false},
		{"no rules: a viewer posts", entrypage.RoleRules{}, "viewer", "POST", "/rooms/demo/slides", false, true},
		{"no rules: a viewer deletes", entrypage.RoleRules{}, "viewer", "DELETE", "/rooms/demo", false, true},
		{"no rules: still the allowlist", entrypage.RoleRules{}, "speaker", "GET", "/stage/demo/mic", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw, cookie := roleSession(t, allow, tc.roles, tc.role)
			r := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.extended {
				r.ProtoMajor, r.ProtoMinor, r.Proto = 2, 0, "HTTP/2.0"
				r.Header.Set(":protocol", "websocket")
			}
			r.Header.Set("Cookie", cookie)
			var upstream http.Header
			w := httptest.NewRecorder()
			if err := gw.ServeHTTP(w, r, func(w http.ResponseWriter, r *http.Request) error {
				upstream = r.Header
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if tc.want {
				if upstream == nil || upstream.Get("X-Guest-Room") != "demo" {
					t.Fatalf("%d, upstream headers %v; want the request upstream with the guest's identity", w.Code, upstream)
				}
				return
			}
			if upstream != nil {
				t.Fatal("a request outside its role's rules reached the upstream")
			}
			body := w.Body.String()
			if m := reasonRE.FindStringSubmatch(body); w.Code != http.StatusForbidden || m == nil || m[1] != "not-allowed" || !strings.Contains(body, `href="/rooms/demo"`) {
				t.Fatalf("%d %v, want 403 not-allowed leading back to the room", w.Code, m)
			}
		})
	}
}

// roleSession builds a Gateway with allow and roles over a room "demo" (guests
// admitted at once), redeems its link, and returns the gateway and the Cookie
// header of an admitted session of the guest whose claims have role.
func roleSession(t *testing.T, allow []string, roles entrypage.RoleRules, role string) (*entrypage.Gateway, string) {
	t.Helper()
	svc, _ := teststore.Service(t, time.Now())
	l := teststore.RoomWithLinks(t, svc, "demo", guestlink.RoomSpec{Name: "Demo"}, guestlink.LinkSpec{Name: "Guests"})[0]
	_, _, g, err := svc.Redeem(context.Background(), l.Token, guestlink.GuestInput{Name: "Ada", Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	gw, tokens := newGateway(t, svc, allow, func(c *entrypage.Config) { c.Roles = roles })
	tok, _, err := tokens.Issue(token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: g.ID},
		Room:             g.RoomID, LinkID: g.LinkID, Name: g.Name, Email: g.Email,
		State: g.State, AuthTime: g.RedeemedAt.Unix(), Role: role,
	}, svc.Now())
	if err != nil {
		t.Fatal(err)
	}
	return gw, entrypage.CookieName + "=" + tok
}

package entrypage

import (
	"net/http"
	"strings"
	"testing"
)

// designRoles are the rules of the example of docs/DESIGN.md section 7.
var (
	designAllow = []string{"/rooms/{room}", "/rooms/{room}/*", "/ws/{room}"}
	designRoles = map[string]RoleRule{
		"viewer":  {Methods: []string{"GET", "HEAD", "OPTIONS"}, Write: []string{"/rooms/{room}/chat"}},
		"speaker": {Allow: []string{"/stage/{room}/*"}},
	}
)

// TestRoleRulesPermits is the method and path matrix of every role under the
// rules of docs/DESIGN.md section 7: a viewer reads the room and writes only
// to its chat, a speaker also reaches the stage, a moderator (no block) and a
// role this build does not know have the allowlist alone with every method,
// and a session without a role is a viewer. It protects the two halves of a
// rule: a role's allow widens the paths and never the methods, and write
// widens the methods and never the paths (a write path outside every allow
// stays closed). Methods are compared as sent, so "get" is not GET, and GET
// does not bring HEAD.
func TestRoleRulesPermits(t *testing.T) {
	allow, err := ParseAllowlist(designAllow)
	if err != nil {
		t.Fatal(err)
	}
	roles, err := ParseRoleRules(designRoles)
	if err != nil {
		t.Fatal(err)
	}
	// Methods, one letter each, are GET HEAD OPTIONS POST PUT PATCH DELETE.
	methods := []string{"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"}
	const all, read, none = "GHOPUAD", "GHO", ""
	for _, tc := range []struct {
		role, path string
		want       string // the methods permitted, by their letters
	}{
		{"viewer", "/rooms/demo", read},
		{"viewer", "/rooms/demo/", read},
		{"viewer", "/rooms/demo/slides/3", read},
		{"viewer", "/ws/demo", read},
		{"viewer", "/rooms/demo/chat", all},
		{"viewer", "/rooms/demo/chat/", read},
		{"viewer", "/rooms/demo/chat/1", read},
		{"viewer", "/rooms/demo/chatter", read},
		{"viewer", "/rooms/other/chat", none},
		{"viewer", "/stage/demo/mic", none},
		{"viewer", "/", none},
		{"", "/rooms/demo", read},
		{"", "/rooms/demo/chat", all},
		{"", "/stage/demo/mic", none},
		{"speaker", "/rooms/demo", all},
		{"speaker", "/rooms/demo/chat", all},
		{"speaker", "/ws/demo", all},
		{"speaker", "/stage/demo/mic", all},
		{"speaker", "/stage/demo/", all},
		{"speaker", "/stage/demo", none},
		{"speaker", "/stage/other/mic", none},
		{"speaker", "/stage/demox/mic", none},
		{"speaker", "/", none},
		{"moderator", "/rooms/demo", all},
		{"moderator", "/rooms/demo/chat", all},
		{"moderator", "/stage/demo/mic", none},
		{"host", "/rooms/demo", all},
		{"host", "/stage/demo/mic", none},
	} {
		var got strings.Builder
		for _, m := range methods {
			if roles.Permits(allow, tc.role, m, tc.path, "demo") {
				got.WriteByte(letter(m))
			}
		}
		if got.String() != tc.want {
			t.Errorf("role %q, %s: permits %q, want %q", tc.role, tc.path, got.String(), tc.want)
		}
	}
	for _, m := range []string{"get", "Get", "TRACE", "PROPFIND", ""} {
		if roles.Permits(allow, "viewer", m, "/rooms/demo", "demo") {
			t.Errorf("viewer's %q permitted", m)
		}
	}

	head := mustRoles(t, map[string]RoleRule{"viewer": {Methods: []string{"GET"}}})
	if !head.Permits(allow, "viewer", "GET", "/rooms/demo", "demo") || head.Permits(allow, "viewer", "HEAD", "/rooms/demo", "demo") {
		t.Error("methods GET: GET must pass and HEAD must not")
	}
	// A write path outside every allow widens nothing.
	unreachable := mustRoles(t, map[string]RoleRule{"viewer": {Methods: []string{"GET"}, Write: []string{"/api/{room}/post"}}})
	for _, m := range []string{"GET", "POST"} {
		if unreachable.Permits(allow, "viewer", m, "/api/demo/post", "demo") {
			t.Errorf("%s of a write path outside allow permitted", m)
		}
	}
}

// letter is the one-letter name TestRoleRulesPermits gives method m.
func letter(m string) byte {
	switch m {
	case "PUT":
		return 'U'
	case "PATCH":
		return 'A'
	}
	return m[0]
}

func mustRoles(t *testing.T, rules map[string]RoleRule) RoleRules {
	t.Helper()
	rr, err := ParseRoleRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// TestNoRoleRules protects existing configurations: without role rules, the
// allowlist alone decides for every role and every method, as before roles.
func TestNoRoleRules(t *testing.T) {
	allow, _ := ParseAllowlist(designAllow)
	for _, rules := range []map[string]RoleRule{nil, {}} {
		roles := mustRoles(t, rules)
		for _, role := range []string{"", "viewer", "speaker", "moderator"} {
			for _, m := range []string{"GET", "POST", "DELETE", "PROPFIND"} {
				for path, want := range map[string]bool{"/rooms/demo": true, "/rooms/demo/chat": true, "/ws/demo": true, "/stage/demo/mic": false, "/rooms/other": false} {
					if got := roles.Permits(allow, role, m, path, "demo"); got != want {
						t.Errorf("no rules, role %q: %s %s = %v, want %v", role, m, path, got, want)
					}
				}
			}
		}
	}
}

// TestRoleRulesOnCleanPath is the path the gate gives the rules: CleanPath's
// normalisation, as for allow. An encoded character a role's pattern holds
// matches once decoded; dot segments, encoded "/" and "." and a double "/"
// are refused before any rule is asked, so that neither a write path nor a
// role's extra path can be reached past by a path that reads differently
// upstream.
func TestRoleRulesOnCleanPath(t *testing.T) {
	allow, _ := ParseAllowlist(designAllow)
	roles := mustRoles(t, designRoles)
	for _, tc := range []struct {
		role, method, escaped string
		want                  bool
	}{
		{"viewer", "POST", "/rooms/demo/cha%74", true},
		{"viewer", "POST", "/rooms/%64emo/chat", true},
		{"speaker", "GET", "/stage/%64emo/mic", true},
		{"speaker", "GET", "/stage/demo/a%20b", true},
		{"viewer", "POST", "/rooms/demo/chat/..", false},
		{"viewer", "POST", "/rooms/demo/chat/../../other/chat", false},
		{"viewer", "POST", "/rooms/demo/x/../chat", false},
		{"viewer", "POST", "/rooms/demo/x/%2e%2e/chat", false},
		{"viewer", "POST", "/rooms/demo/x/..;/chat", false},
		{"viewer", "POST", "/rooms/demo/chat%2f..%2fadmin", false},
		{"viewer", "POST", "/rooms/demo//chat", false},
		{"speaker", "GET", "/stage/demo/../../admin", false},
		{"speaker", "GET", "/stage/demo/%2e%2e/%2e%2e/admin", false},
		{"speaker", "GET", "/stage/demo%2fmic", false},
		{"speaker", "GET", "/stage/demo\\..\\admin", false},
	} {
		path, ok := CleanPath(tc.escaped)
		got := ok && roles.Permits(allow, tc.role, tc.method, path, "demo")
		if got != tc.want {
			t.Errorf("role %s, %s %s: permitted %v, want %v", tc.role, tc.method, tc.escaped, got, tc.want)
		}
	}
}

// TestGateMethod protects the method a WebSocket is judged by: GET, whether
// it opens with an Upgrade (HTTP/1.1) or an extended CONNECT (HTTP/2 and
// HTTP/3), so that a role limited to reading keeps its live connection. A
// plain CONNECT stays CONNECT (the gate refuses it before the rules).
func TestGateMethod(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *http.Request
		want string
	}{
		{"HTTP/1.1 upgrade", &http.Request{Method: "GET", ProtoMajor: 1, Header: http.Header{"Upgrade": {"websocket"}}}, "GET"},
		{"HTTP/2 extended CONNECT", &http.Request{Method: "CONNECT", ProtoMajor: 2, Header: http.Header{":protocol": {"websocket"}}}, "GET"},
		{"HTTP/3 extended CONNECT", &http.Request{Method: "CONNECT", ProtoMajor: 3, Proto: "websocket", Header: http.Header{}}, "GET"},
		{"plain CONNECT", &http.Request{Method: "CONNECT", ProtoMajor: 2, Header: http.Header{}}, "CONNECT"},
		{"POST", &http.Request{Method: "POST", ProtoMajor: 2, Header: http.Header{}}, "POST"},
	} {
		if got := gateMethod(tc.r); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestParseRoleRules protects the configuration errors of role rules (each
// names the role and what is wrong) and the upper-casing of methods.
func TestParseRoleRules(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rules   map[string]RoleRule
		wantErr string
	}{
		{"design example", designRoles, ""},
		{"lower-case methods", map[string]RoleRule{"viewer": {Methods: []string{"get", "Head"}}}, ""},
		{"moderator", map[string]RoleRule{"moderator": {Allow: []string{"/mod/{room}/*"}}}, ""},
		{"unknown role", map[string]RoleRule{"admin": {Methods: []string{"GET"}}}, `role "admin": unknown role; must be one of viewer, speaker, moderator`},
		{"empty role name", map[string]RoleRule{"": {Methods: []string{"GET"}}}, `role "": unknown role`},
		{"no rules", map[string]RoleRule{"viewer": {}}, `role "viewer": no rules: give allow, methods or write`},
		{"unknown method", map[string]RoleRule{"viewer": {Methods: []string{"GET", "FETCH"}}}, `role "viewer": methods: unknown method "FETCH": must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS`},
		{"CONNECT", map[string]RoleRule{"viewer": {Methods: []string{"CONNECT"}}}, `unknown method "CONNECT"`},
		{"empty method", map[string]RoleRule{"viewer": {Methods: []string{""}}}, `unknown method ""`},
		{"method twice", map[string]RoleRule{"viewer": {Methods: []string{"GET", "get"}}}, `role "viewer": methods: GET listed twice`},
		{"write without methods", map[string]RoleRule{"viewer": {Write: []string{"/rooms/{room}/chat"}}}, `role "viewer": write needs methods`},
		{"bad allow pattern", map[string]RoleRule{"speaker": {Allow: []string{"stage/{room}"}}}, `role "speaker": allow pattern "stage/{room}": must start with '/'`},
		{"bad write pattern", map[string]RoleRule{"viewer": {Methods: []string{"GET"}, Write: []string{"/rooms/{room}/../chat"}}}, `role "viewer": write pattern "/rooms/{room}/../chat": must not contain '//' or dot segments`},
		{"write pattern with a placeholder", map[string]RoleRule{"viewer": {Methods: []string{"GET"}, Write: []string{"/rooms/{id}/chat"}}}, `role "viewer": write pattern "/rooms/{id}/chat": only {room} and a trailing * are special`},
	} {
		rr, err := ParseRoleRules(tc.rules)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.wantErr)
		}
		if len(rr.rules) != 0 && err != nil {
			t.Errorf("%s: rules returned with the error", tc.name)
		}
	}
	lower := mustRoles(t, map[string]RoleRule{"viewer": {Methods: []string{"get", "Head"}}})
	allow, _ := ParseAllowlist(designAllow)
	if !lower.Permits(allow, "viewer", "GET", "/rooms/demo", "demo") || !lower.Permits(allow, "viewer", "HEAD", "/rooms/demo", "demo") {
		t.Error("methods get and Head were not upper-cased")
	}
}

// TestRoleRulesPermitsDoesNotAllocate keeps the gate's allocations what they
// were before roles: a decision under role rules allocates nothing.
func TestRoleRulesPermitsDoesNotAllocate(t *testing.T) {
	allow, _ := ParseAllowlist(designAllow)
	roles := mustRoles(t, designRoles)
	for _, role := range []string{"", "viewer", "speaker", "moderator"} {
		if n := testing.AllocsPerRun(100, func() {
			roles.Permits(allow, role, "POST", "/rooms/demo/chat", "demo")
			roles.Permits(allow, role, "GET", "/stage/demo/mic", "demo")
		}); n != 0 {
			t.Errorf("role %q: Permits allocates %v times", role, n)
		}
	}
}

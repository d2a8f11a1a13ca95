package entrypage

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/guestgate/guestgate/guestlink"
)

// RoleRule is what the sessions of one role may do at the gate
// (docs/DESIGN.md section 7), on top of the gateway's allowlist, which keeps
// applying to every role: the Caddyfile's "role <name> { ... }" block.
type RoleRule struct {
	// Allow lists the paths this role may reach besides the gateway's allow,
	// in the same syntax ({room} for the guest's own room, a trailing *).
	Allow []string `json:"allow,omitempty"`
	// Methods are the HTTP methods this role may use: GET, HEAD, POST, PUT,
	// PATCH, DELETE or OPTIONS, upper-cased (as Caddy's method matcher does).
	// They are taken as listed: GET does not bring HEAD. A WebSocket upgrade
	// is a GET, also as an HTTP/2 or HTTP/3 extended CONNECT. Default: every
	// method.
	Methods []string `json:"methods,omitempty"`
	// Write lists the paths where this role may use any method although
	// Methods limits it, in the syntax of Allow. A write path widens the
	// methods, not the paths: it must also be reachable, in the gateway's
	// allow or the role's Allow. Needs Methods.
	Write []string `json:"write,omitempty"`
}

// RoleRules are the compiled rules of every role that has some; the zero
// value has none, and then the allowlist alone decides, for every method.
type RoleRules struct {
	rules []roleRule
}

type roleRule struct {
	role    string
	allow   Allowlist
	methods []string // nil: every method
	write   Allowlist
}

// roleMethods are the methods a role's rule may name. CONNECT is not one: a
// tunnel never passes the gate, and a WebSocket's extended CONNECT counts as
// GET.
var roleMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// RoleMethod returns m upper-cased if it is a method a role's rule may name
// (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS), or an error that lists them.
func RoleMethod(m string) (string, error) {
	up := strings.ToUpper(m)
	if !slices.Contains(roleMethods, up) {
		return "", fmt.Errorf("unknown method %q: must be one of %s", m, strings.Join(roleMethods, ", "))
	}
	return up, nil
}

// ParseRoleRules compiles the rules of each role, keyed by role name
// (guestlink.Roles). It refuses an unknown role, a rule with nothing in it,
// a method RoleMethod refuses or one listed twice, write without methods
// (every method would be allowed everywhere anyway), and patterns
// ParseAllowlist refuses; every error names the role.
func ParseRoleRules(rules map[string]RoleRule) (RoleRules, error) {
	var rr RoleRules
	for name := range rules {
		if !slices.Contains(guestlink.Roles, name) {
			return rr, fmt.Errorf("role %q: unknown role; must be one of %s", name, strings.Join(guestlink.Roles, ", "))
		}
	}
	for _, name := range guestlink.Roles { // in a fixed order, so errors are too
		rule, ok := rules[name]
		if !ok {
			continue
		}
		c, err := compileRoleRule(name, rule)
		if err != nil {
			return rr, fmt.Errorf("role %q: %w", name, err)
		}
		rr.rules = append(rr.rules, c)
	}
	return rr, nil
}

func compileRoleRule(name string, rule RoleRule) (roleRule, error) {
	c := roleRule{role: name}
	if len(rule.Allow) == 0 && len(rule.Methods) == 0 && len(rule.Write) == 0 {
		return c, errors.New("no rules: give allow, methods or write")
	}
	if len(rule.Write) > 0 && len(rule.Methods) == 0 {
		return c, errors.New("write needs methods: without them this role may use every method everywhere")
	}
	for _, m := range rule.Methods {
		up, err := RoleMethod(m)
		if err != nil {
			return c, fmt.Errorf("methods: %w", err)
		}
		if slices.Contains(c.methods, up) {
			return c, fmt.Errorf("methods: %s listed twice", up)
		}
		c.methods = append(c.methods, up)
	}
	var err error
	if c.allow, err = parsePatterns("allow", rule.Allow); err != nil {
		return c, err
	}
	c.write, err = parsePatterns("write", rule.Write)
	return c, err
}

// Permits reports whether a session of role ("" is guestlink.RoleViewer) may
// use method on the normalised path (see CleanPath) of room, where allow is
// the gateway's allowlist: the path must match allow or the role's allow,
// and the method must be one of the role's methods, or the path one of its
// write paths. A role without rules has allow alone, and every method. It
// does not allocate.
func (rr RoleRules) Permits(allow Allowlist, role, method, path, room string) bool {
	r := rr.rule(guestlink.RoleOrViewer(role))
	if r == nil {
		return allow.Match(path, room)
	}
	if !allow.Match(path, room) && !r.allow.Match(path, room) {
		return false
	}
	return r.methods == nil || slices.Contains(r.methods, method) || r.write.Match(path, room)
}

// rule returns role's rule, or nil.
func (rr RoleRules) rule(role string) *roleRule {
	for i := range rr.rules {
		if rr.rules[i].role == role {
			return &rr.rules[i]
		}
	}
	return nil
}

package guestgate

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/guestgate/guestgate"

// TestOnlyTheGlueImportsCaddy keeps the dependency rule of docs/DESIGN.md
// section 5: only the Caddy glue (caddymodule, its store modules in
// caddymodule/stores, and internal/caddyconf, the config reading of its
// modules) and cmd import Caddy (and this root package, which only plugs
// caddymodule in, and internal/testcaddy/inproc, the part of the tests'
// harness that loads configs into Caddy). The domain, the HTTP handlers,
// webhook delivery and the CLI stay plain Go that a second host could run, so
// no other package may depend on Caddy, directly or through another package.
func TestOnlyTheGlueImportsCaddy(t *testing.T) {
	glue := map[string]bool{module: true, module + "/caddymodule": true, module + "/cmd/caddy": true,
		module + "/caddymodule/stores": true, module + "/internal/caddyconf": true,
		module + "/internal/testcaddy/inproc": true}
	checkDeps(t, glue, func(dep string) bool { return strings.HasPrefix(dep, "github.com/caddyserver/caddy/") },
		"only the Caddy glue and cmd may import Caddy")
}

// TestTestSMTPServerStaysInTests keeps the SMTP server of the tests
// (github.com/emersion/go-smtp, through internal/smtptest) out of every
// package that a binary could link: only tests import internal/smtptest.
func TestTestSMTPServerStaysInTests(t *testing.T) {
	checkDeps(t, map[string]bool{module + "/internal/smtptest": true}, func(dep string) bool {
		return strings.HasPrefix(dep, "github.com/emersion/") || dep == module+"/internal/smtptest"
	}, "only tests may use the test SMTP server")
}

// TestLiveKitSDKStaysOut keeps LiveKit's SDKs (github.com/livekit/...) out
// of every package of the module, tests included in the Caddy build's sense:
// guestgate speaks LiveKit's token and RoomService formats itself (package
// livekit), and the tests that need LiveKit's Go SDK live in the separate
// module integration/livekit.
func TestLiveKitSDKStaysOut(t *testing.T) {
	checkDeps(t, nil, func(dep string) bool { return strings.HasPrefix(dep, "github.com/livekit/") },
		"LiveKit's SDKs stay out of the module (see integration/livekit)")
}

// TestOpenAPILibraryStaysInTests keeps kin-openapi, which checks the API
// against its OpenAPI document, out of every package that a binary could
// link: the document is served as embedded bytes, and only tests load it.
func TestOpenAPILibraryStaysInTests(t *testing.T) {
	checkDeps(t, nil, func(dep string) bool { return strings.HasPrefix(dep, "github.com/getkin/") },
		"only tests may use kin-openapi")
}

// checkDeps fails t for every package of the module, but those of exempt,
// that depends, directly or not, on a package that forbidden names; why
// says the rule.
func checkDeps(t *testing.T, exempt map[string]bool, forbidden func(dep string) bool, why string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, " ")
		if exempt[pkg] {
			continue
		}
		checked++
		for dep := range strings.FieldsSeq(deps) {
			if forbidden(dep) {
				t.Errorf("%s depends on %s; %s", pkg, dep, why)
				break
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked only %d packages; go list printed:\n%s", checked, out)
	}
}

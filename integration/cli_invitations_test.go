package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/internal/testcaddy"
)

// TestCLIInvitations: caddy guestgate invitations create, list and delete,
// with the API's rules as the command's errors.
func TestCLIInvitations(t *testing.T) {
	bin := testcaddy.Binary(t)
	g, adminAddr := startWithAdmin(t, config{})
	cli := &cliRunner{t: t, bin: bin, admin: adminAddr, env: testcaddy.Env(t.TempDir())}
	g.putRoom("demo", map[string]any{"name": "Demo"})

	res := cli.ok("invitations", "create", "demo", "--email", "ada@example.com", "--name", "Ada Lovelace", "--role", "moderator", "--hours", "48")
	url := strings.TrimSpace(res.stdout)
	if !strings.HasPrefix(url, g.base+"/guest/") || strings.Contains(url, "\n") {
		t.Fatalf("invitations create printed %q, want only the URL", res.stdout)
	}
	cli.ok("invitations", "create", "demo", "--email", "bob@example.com", "--name", "Bob", "--unlimited", "--not-before", time.Now().Add(30*24*time.Hour).In(time.FixedZone("CET", 3600)).Format(time.RFC3339), "--hours", "8760")
	res = cli.ok("invitations", "list", "demo")
	for _, want := range []string{"ada@example.com", "Ada Lovelace", "moderator", "0/1", url, "bob@example.com", "0/unlimited", "opens "} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("invitations list lacks %q:\n%s", want, res)
		}
	}
	var vs []admin.InvitationJSON
	cli.jsonOut(&vs, "invitations", "list", "demo")
	if len(vs) != 2 || vs[0].Role != "moderator" || vs[1].MaxUses != nil || vs[1].NotBefore == nil {
		t.Fatalf("invitations list --json: %+v", vs)
	}

	cli.fails(2, "--email is required", "invitations", "create", "demo", "--name", "X")
	cli.fails(2, "RFC 3339", "invitations", "create", "demo", "--email", "x@example.com", "--name", "X", "--not-before", "tomorrow")
	cli.fails(2, "exclude each other", "invitations", "create", "demo", "--email", "x@example.com", "--name", "X", "--unlimited", "--max-uses", "2")
	cli.fails(1, "role", "invitations", "create", "demo", "--email", "x@example.com", "--name", "X", "--role", "host")

	cli.ok("invitations", "delete", "demo", vs[0].ID)
	cli.fails(1, "invitation_not_found", "invitations", "delete", "demo", vs[0].ID)
	if left := g.invitations("demo"); len(left) != 1 || left[0].ID != vs[1].ID {
		t.Errorf("after delete: %+v", left)
	}
}

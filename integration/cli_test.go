package integration

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/internal/testcaddy"
)

// The "caddy guestgate" command: the built binary, run as a process,
// drives a Caddy running in this process through its admin endpoint
// (admin.api.guestgate), on a real Badger directory.

// cliRunner runs "caddy guestgate ..." against one admin endpoint.
type cliRunner struct {
	t     *testing.T
	bin   string
	admin string // host:port of Caddy's admin endpoint
	env   []string
}

// cliResult is what one run printed and its exit status.
type cliResult struct {
	args   []string
	stdout string
	stderr string
	code   int
}

func (r cliResult) String() string {
	return fmt.Sprintf("caddy guestgate %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// run runs "caddy guestgate <args> --address <admin>".
func (c *cliRunner) run(args ...string) cliResult {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append(append([]string{"guestgate"}, args...), "--address", c.admin)...)
	cmd.Env = c.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		c.t.Fatalf("running caddy guestgate %s: %v", strings.Join(args, " "), err)
	}
	c.t.Logf("$ caddy guestgate %s\n%s%s[exit %d]", strings.Join(args, " "), res.stdout, res.stderr, res.code)
	return res
}

// ok runs and fails the test unless the exit status is 0.
func (c *cliRunner) ok(args ...string) cliResult {
	c.t.Helper()
	res := c.run(args...)
	if res.code != 0 {
		c.t.Fatalf("want exit 0:\n%s", res)
	}
	return res
}

// fails runs and checks the exit status and that stderr holds want.
func (c *cliRunner) fails(code int, want string, args ...string) cliResult {
	c.t.Helper()
	res := c.run(args...)
	if res.code != code || !strings.Contains(res.stderr, want) {
		c.t.Errorf("want exit %d with %q on stderr:\n%s", code, want, res)
	}
	return res
}

// jsonOut runs with --json, wants exit 0 and decodes stdout into out.
func (c *cliRunner) jsonOut(out any, args ...string) {
	c.t.Helper()
	res := c.ok(append(args, "--json")...)
	if err := json.Unmarshal([]byte(res.stdout), out); err != nil {
		c.t.Fatalf("--json output is not JSON: %v\n%s", err, res)
	}
}

// startWithAdmin starts an in-process Caddy like startGateway, with its admin
// endpoint on a free port; it returns the gateway and the admin address.
func startWithAdmin(t *testing.T, cfg config) (*gateway, string) {
	t.Helper()
	g := newGateway(t)
	cfg.Admin = fmt.Sprintf("127.0.0.1:%d", testcaddy.FreePort(t, g.port))
	g.load(cfg)
	return g, cfg.Admin
}

func TestCLISession(t *testing.T) {
	bin := testcaddy.Binary(t)
	dir := t.TempDir()
	env := testcaddy.Env(dir)

	// ---- Caddy A: a room, a link, a guest admitted from the lobby ----
	a, adminA := startWithAdmin(t, config{})
	cli := &cliRunner{t: t, bin: bin, admin: adminA, env: env}

	res := cli.ok("rooms", "put", "demo", "--name", "Demo room", "--admission", "moderator")
	if !strings.Contains(res.stdout, "Room demo created.") || !strings.Contains(res.stdout, "Guest access:  off") {
		t.Errorf("rooms put: unexpected output\n%s", res)
	}
	var room admin.RoomJSON
	cli.jsonOut(&room, "rooms", "get", "demo")
	if room.Name != "Demo room" || room.Admission != "moderator" || room.GuestAccess {
		t.Errorf("rooms get --json: %+v, want Demo room, admission moderator, guest access off", room)
	}
	// Creating a link while guest access is off is refused by the API: exit 1.
	cli.fails(1, "guest_access_off", "links", "create", "demo", "--name", "Too early")
	cli.ok("access", "on", "demo")

	res = cli.ok("links", "create", "demo", "--name", "Guest speakers", "--max-clicks", "5", "--days", "7")
	url := strings.TrimSpace(res.stdout)
	if !strings.HasPrefix(url, a.base+"/guest/") || strings.Contains(url, "\n") {
		t.Fatalf("links create printed %q, want only the link URL under %s/guest/ (link_base)", res.stdout, a.base)
	}
	res = cli.ok("links", "list", "demo")
	if !strings.Contains(res.stdout, "Guest speakers") || !strings.Contains(res.stdout, "0/5") || !strings.Contains(res.stdout, url) {
		t.Errorf("links list: want the link with 0/5 clicks and its URL\n%s", res)
	}
	var links []admin.LinkJSON
	cli.jsonOut(&links, "links", "list", "demo")
	if len(links) != 1 || links[0].URL != url || links[0].Clicks != 0 || links[0].MaxClicks == nil || *links[0].MaxClicks != 5 ||
		links[0].ExpiresAt == nil || !links[0].Active {
		t.Fatalf("links list --json: %+v, want one active link of 5 clicks that expires", links)
	}
	if d := links[0].ExpiresAt.Sub(links[0].CreatedAt); d != 7*24*time.Hour {
		t.Errorf("--days 7 made a link valid for %v", d)
	}
	// The moderator API sees what the CLI made: one store, shared.
	if got := a.link("demo", links[0].ID); got.URL != url {
		t.Errorf("the moderator API shows link URL %q, the CLI %q", got.URL, url)
	}

	cli.ok("lobby", "list", "demo")
	guest := a.browser()
	p := guest.redeem(linkPath(t, links[0]), "Zoë Ada", "zoe@example.com")
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/guest/lobby" {
		t.Fatalf("redeeming in a moderator room: %d Location %q, want 303 to /guest/lobby", p.Status, p.Header.Get("Location"))
	}
	if p := guest.get("/rooms/demo"); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/guest/lobby" {
		t.Errorf("the room before admission: %d to %q, want 303 to the lobby", p.Status, p.Header.Get("Location"))
	}
	res = cli.ok("lobby", "list", "demo")
	if !strings.Contains(res.stdout, "Zoë Ada") || !strings.Contains(res.stdout, "zoe@example.com") {
		t.Errorf("lobby list: want the waiting guest\n%s", res)
	}
	var waiting []struct {
		ID, Name, Email, State string
	}
	cli.jsonOut(&waiting, "lobby", "list", "demo")
	if len(waiting) != 1 || waiting[0].Name != "Zoë Ada" || waiting[0].State != "waiting" {
		t.Fatalf("lobby list --json: %+v, want Zoë Ada waiting", waiting)
	}
	res = cli.ok("lobby", "admit", "demo", waiting[0].ID)
	if !strings.Contains(res.stdout, "Admitted Zoë Ada") {
		t.Errorf("lobby admit: unexpected output\n%s", res)
	}
	cli.fails(1, "already_decided", "lobby", "deny", "demo", waiting[0].ID)
	// The guest sees the admission and reaches the room through the gate.
	if st := guest.get("/guest/lobby/status"); !strings.Contains(st.Body, `"admitted"`) {
		t.Fatalf("lobby/status after the CLI admitted the guest: %d %s", st.Status, st.Body)
	}
	if p := guest.get("/rooms/demo"); p.Status != http.StatusOK || a.up.last(t).Header.Get("X-Guest-Name") != "Zo%C3%AB%20Ada" {
		t.Fatalf("the admitted guest's room: %d (reason %q), want 200 from the upstream with X-Guest-Name", p.Status, p.reason())
	}
	cli.ok("lobby", "admit-all", "demo")

	res = cli.ok("guests", "list", "demo", "--csv")
	rows, err := csv.NewReader(strings.NewReader(res.stdout)).ReadAll()
	if err != nil || len(rows) != 2 || rows[0][0] != "guest_id" || rows[1][0] != waiting[0].ID ||
		rows[1][2] != "zoe@example.com" || rows[1][6] != "admitted" || rows[1][7] != "viewer" {
		t.Errorf("guests list --csv: %v, %q; want a header and Zoë's admitted row, a viewer's", err, rows)
	}
	res = cli.ok("guests", "list", "demo")
	if !strings.Contains(res.stdout, "Zoë Ada") || !strings.Contains(res.stdout, "admitted") {
		t.Errorf("guests list: want Zoë admitted\n%s", res)
	}

	// Exit status: 1 for a failed operation, 2 for a usage error.
	cli.fails(1, "room_not_found", "rooms", "get", "nope")
	cli.fails(1, "link_not_found", "links", "delete", "demo", "l_nope")
	cli.fails(2, "--name is required", "links", "create", "demo")
	cli.fails(2, "invalid argument", "links", "create", "demo", "--name", "X", "--max-clicks", "many")
	cli.fails(2, "unknown flag", "links", "list", "demo", "--colour")
	cli.fails(2, "takes room guest-id", "lobby", "admit", "demo")
	cli.fails(2, "unknown command", "bogus")
	cli.fails(2, "unknown command", "links", "rename")
	cli.fails(2, "on or off", "access", "maybe", "demo")
	cli.fails(1, "store_not_open", "links", "list", "demo", "--store", filepath.Join(dir, "nowhere"))
	if _, err := os.Stat(filepath.Join(dir, "nowhere")); !os.IsNotExist(err) {
		t.Errorf("--store of a directory no handler uses created it: %v", err)
	}
	wrong := &cliRunner{t: t, bin: bin, admin: fmt.Sprintf("127.0.0.1:%d", testcaddy.FreePort(t)), env: env}
	wrong.fails(1, "cannot reach Caddy's admin endpoint", "rooms", "get", "demo")
	if res := cli.run("--help"); res.code != 0 || !strings.Contains(res.stdout, "caddy guestgate links create demo") {
		t.Errorf("--help: want exit 0 and examples\n%s", res)
	}
	if res := cli.run("links", "create", "--help"); res.code != 0 || !strings.Contains(res.stdout, "--max-clicks") {
		t.Errorf("links create --help: want exit 0 and the flags\n%s", res)
	}

	// ---- backup; a restore into this store is refused ----
	backup := filepath.Join(dir, "demo.backup")
	cli.ok("backup", backup)
	if fi, err := os.Stat(backup); err != nil || fi.Size() == 0 {
		t.Fatalf("backup file: %v", err)
	}
	cli.fails(1, "store_not_empty", "restore", backup)
	if n := a.clicks("demo", links[0].ID); n != 1 {
		t.Errorf("after a refused restore the link has %d clicks, want 1", n)
	}
	a.stop()

	// ---- Caddy B, a fresh store: restore, then the guest is still inside ----
	b, adminB := startWithAdmin(t, config{})
	if b.storeDir == a.storeDir {
		t.Fatal("the second Caddy uses the first one's store")
	}
	cliB := &cliRunner{t: t, bin: bin, admin: adminB, env: env}
	var stores admin.StoresJSON
	cliB.jsonOut(&stores, "stores")
	if len(stores.Stores) != 1 || stores.Stores[0].Store != b.storeDir {
		t.Fatalf("stores --json on the new Caddy: %+v, want only %s", stores, b.storeDir)
	}
	cliB.fails(1, "room_not_found", "rooms", "get", "demo")
	cliB.fails(1, "bad_backup", "restore", os.Args[0]) // the test binary is no backup
	res = cliB.ok("restore", backup)
	if !strings.Contains(res.stdout, "restored") || !strings.Contains(res.stdout, "reloaded") {
		t.Errorf("restore: unexpected output\n%s", res)
	}
	cliB.jsonOut(&room, "rooms", "get", "demo")
	if !room.GuestAccess || len(room.Links) != 1 || room.Links[0].ID != links[0].ID || room.Links[0].Clicks != 1 {
		t.Fatalf("the restored room: %+v, want guest access on and the link with 1 click", room)
	}
	if !strings.HasPrefix(room.Links[0].URL, b.base+"/guest/") {
		t.Errorf("restored link URL %q does not follow the new Caddy's link_base %s/guest/", room.Links[0].URL, b.base)
	}
	// Zoë's session, signed on Caddy A, opens the room on Caddy B: the signing
	// key came with the backup and the reload put it to use.
	inside := &browser{t: t, g: b, jar: guest.jar, client: &http.Client{
		Transport: b.tr, Jar: guest.jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	if p := inside.get("/rooms/demo"); p.Status != http.StatusOK || b.up.count() == 0 {
		t.Errorf("Zoë's session after the restore: %d (reason %q), want 200 from the upstream", p.Status, p.reason())
	}
	var guests []struct{ Email, State string }
	cliB.jsonOut(&guests, "guests", "list", "demo")
	if len(guests) != 1 || guests[0].Email != "zoe@example.com" || guests[0].State != "admitted" {
		t.Errorf("guests after the restore: %+v", guests)
	}
	// Now the store holds records: refused again without --force, accepted with it.
	cliB.fails(1, "store_not_empty", "restore", backup)
	cliB.ok("rooms", "put", "later", "--name", "Made after the backup")
	cliB.ok("restore", backup, "--force")
	cliB.fails(1, "room_not_found", "rooms", "get", "later")
	cliB.ok("rooms", "delete", "demo")
	cliB.fails(1, "room_not_found", "rooms", "get", "demo")
	// Link tokens never reach Caddy's log, CLI requests included.
	if tok := strings.TrimPrefix(linkPath(t, links[0]), "/guest/"); strings.Contains(a.logs()+b.logs(), tok) {
		t.Error("Caddy's log holds a link token")
	}
}

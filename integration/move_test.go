package integration

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/internal/testcaddy"
	"github.com/guestgate/guestgate/internal/testpg"
)

// TestMoveToPostgresAndBack protects the move an operator makes when one
// machine is no longer enough, end to end: a guest admitted on Badger and
// webhook events waiting for a receiver that is down; Caddy stopped; "caddy
// guestgate move" (the built binary) into PostgreSQL, the DSN from the
// environment; Caddy started on the database. The guest's session cookie
// still opens the room (the signing key moved), the 2-click link has its
// second click and then refuses, and every event that waited on Badger
// arrives once, with its delivery id. Then back to Badger the same way.
func TestMoveToPostgresAndBack(t *testing.T) {
	bin := testcaddy.Binary(t)
	pg := testpg.Start(t, "fsync=off")
	dsn := pg.CreateDB()
	t.Setenv("GG_MOVE_DSN", dsn) // for the Caddyfile's {env.GG_MOVE_DSN}

	rc, up := newDownReceiver(t)
	cfg := config{AdminExtra: rc.webhook("/moved")}
	g := newGateway(t)
	g.load(cfg)
	l, b := g.guestInside("demo", map[string]any{"name": "Speakers", "max_clicks": 2}, "Ada", "ada@example.com")
	if p, ok := b.reaches("/rooms/demo"); !ok {
		t.Fatalf("the guest on Badger: %d %q", p.Status, p.reason())
	}
	rc.waitAttempted("/moved")
	g.stop()
	waiting := map[string]bool{}
	for _, d := range rc.all("/moved") {
		waiting[d.Event.ID] = true
	}

	move := func(from, to string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "guestgate", "move", "--from", from, "--to", to)
		cmd.Env = append(os.Environ(), "GG_MOVE_DSN="+dsn)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		t.Logf("$ caddy guestgate move --from %s --to %s\n%s%s", from, to, stdout.String(), stderr.String())
		if err != nil {
			t.Fatalf("move: %v", err)
		}
		if strings.Contains(stdout.String()+stderr.String(), pg.Password()) {
			t.Error("the move printed the DSN's password")
		}
		return stdout.String()
	}
	if out := move(g.storeDir, "env:GG_MOVE_DSN"); !strings.Contains(out, ": 1 room, 1 link, 1 guest, 4 secrets, ") {
		t.Errorf("the move said %q", out)
	}

	// On PostgreSQL.
	up()
	g.loadEdited(cfg, func(text string) string {
		return strings.ReplaceAll(text, "store "+g.storeDir, "store postgres {env.GG_MOVE_DSN}")
	})
	if p, ok := b.reaches("/rooms/demo"); !ok {
		t.Errorf("the guest's session after the move to PostgreSQL: %d %q", p.Status, p.reason())
	}
	g.browser().mustRedeem(linkPath(t, l), "Bob", "bob@example.com", "demo")
	wantPage(t, "a third guest on the 2-click link", g.browser().get(linkPath(t, l)), http.StatusGone, "link-used-up")
	deadline := time.Now().Add(60 * time.Second)
	for {
		var ids []string
		for _, d := range rc.delivered("/moved") {
			ids = append(ids, d.Event.ID)
		}
		missing := 0
		for id := range waiting {
			if !slices.Contains(ids, id) {
				missing++
			}
		}
		if missing == 0 {
			slices.Sort(ids)
			if len(slices.Compact(ids)) != len(rc.delivered("/moved")) {
				t.Errorf("an event was delivered twice: %v", types(rc.delivered("/moved")))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the %d events that waited on Badger never arrived from PostgreSQL (delivered: %v)", missing, len(waiting), types(rc.delivered("/moved")))
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.stop()

	// And back to Badger.
	back := filepath.Join(t.TempDir(), "back")
	if out := move("env:GG_MOVE_DSN", "badger:"+back); !strings.Contains(out, ": 1 room, 1 link, 2 guests, 4 secrets, ") {
		t.Errorf("the move back said %q", out)
	}
	g.loadEdited(cfg, func(text string) string { return strings.ReplaceAll(text, "store "+g.storeDir, "store "+back) })
	if p, ok := b.reaches("/rooms/demo"); !ok {
		t.Errorf("the guest's session after the move back to Badger: %d %q", p.Status, p.reason())
	}
	if c := g.clicks("demo", l.ID); c != 2 {
		t.Errorf("clicks after the move back = %d, want 2", c)
	}
}

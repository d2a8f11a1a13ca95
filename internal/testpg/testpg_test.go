package testpg

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestCluster: a cluster starts, takes password logins over TCP, makes
// databases, survives Stop and Start with its data, and cuts connections.
func TestCluster(t *testing.T) {
	c := Start(t)
	dsn := c.CreateDB()
	if !strings.Contains(dsn, c.Password()) || !strings.HasPrefix(dsn, "postgres://postgres:") {
		t.Fatalf("DSN %q lacks the user or the password", dsn)
	}
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	c.SQL(db, "CREATE TABLE t (v int); INSERT INTO t VALUES (42)")
	if got := c.SQL(db, "SELECT v FROM t"); got != "42" {
		t.Fatalf("SELECT: %q", got)
	}
	if got := c.SQL(db, "SHOW listen_addresses"); got != "127.0.0.1" {
		t.Errorf("listen_addresses %q, want 127.0.0.1 only", got)
	}
	c.Stop()
	if out, err := c.psql(db, "SELECT 1"); err == nil {
		t.Fatalf("a query to a stopped cluster answered %q", out)
	}
	c.Start()
	if got := c.SQL(db, "SELECT v FROM t"); got != "42" {
		t.Fatalf("after a restart: %q", got)
	}
	c.TerminateBackends()
}

// TestNewAndClose: a cluster of New, which a program without a test starts,
// answers, and Close stops it and removes its files.
func TestNewAndClose(t *testing.T) {
	c, err := New()
	if Skippable(err) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if out, err := c.psql("postgres", "SELECT 1"); err != nil || strings.TrimSpace(out) != "1" {
		c.Close()
		t.Fatalf("SELECT 1: %q, %v", out, err)
	}
	pid, err := c.PID()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) != "postgres" {
		t.Errorf("PID %d is %q, not the postmaster", pid, comm)
	}
	c.Close()
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Errorf("the cluster's directory after Close: %v, want it gone", err)
	}
	if out, err := c.psql("postgres", "SELECT 1"); err == nil {
		t.Errorf("a closed cluster answered %q", out)
	}
}

// TestNotInstalled: without PostgreSQL's binaries New says ErrNotInstalled,
// which a run may skip only when CI is not set.
func TestNotInstalled(t *testing.T) {
	t.Setenv("GUESTGATE_PG_BIN", t.TempDir())
	_, err := New()
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("New without binaries: %v, want ErrNotInstalled", err)
	}
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		if got := Skippable(err); got != (ci == "") {
			t.Errorf("CI=%q: Skippable = %v", ci, got)
		}
	}
}

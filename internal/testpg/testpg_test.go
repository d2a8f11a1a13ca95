package testpg

import (
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

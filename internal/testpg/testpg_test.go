package testpg

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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

// TestNoServerOutlivesTheTest: a test binary that dies with a cluster
// running takes the server with it. The test runs itself again as a child
// that starts a cluster, says its postmaster's process id, and panics in
// another goroutine, as go test's -timeout does: the binary ends without
// running any Cleanup.
func TestNoServerOutlivesTheTest(t *testing.T) {
	if os.Getenv("TESTPG_ORPHAN") == "1" {
		c := Start(t)
		pid, err := c.PID()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("postmaster %d %s\n", pid, c.dir)
		go panic("the test binary dies with its cluster running")
		select {}
	}
	if _, err := findBin(); err != nil && Skippable(err) {
		t.Skip(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoServerOutlivesTheTest$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TESTPG_ORPHAN=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	var dir, all string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		all += sc.Text() + "\n"
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "postmaster" {
			pid, _ = strconv.Atoi(f[1])
			dir = f[2]
		}
	}
	_ = cmd.Wait()
	if pid == 0 {
		t.Fatalf("the child named no postmaster:\n%s", all)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		os.RemoveAll(dir)
	})
	// The server's immediate shutdown takes milliseconds; 30 s is a bound
	// for a busy machine, not a figure.
	for deadline := time.Now().Add(30 * time.Second); ; {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("postmaster %d still runs 30 s after its test binary died", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

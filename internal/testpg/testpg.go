// Package testpg starts a throwaway PostgreSQL cluster for tests: initdb into a
// new temporary directory, the server on 127.0.0.1 and a free port, password
// authentication (so that DSNs carry a password, as in production), and a stop
// when the test ends. PostgreSQL refuses to run as root; when the tests run as
// root, the cluster runs as the "postgres" user that Debian's postgresql package
// creates.
//
// The binaries are found in $GUESTGATE_PG_BIN, else in the newest
// /usr/lib/postgresql/*/bin, else on PATH. Where there are none, Start skips the
// test, unless the environment variable CI is set: then it fails, so that a CI run
// without PostgreSQL cannot pass by skipping. New starts a cluster for a program
// (the benchmark), which follows the same rule with Skippable.
package testpg

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/guestgate/guestgate/internal/testcaddy"
)

// Cluster is a running (or stopped) throwaway PostgreSQL cluster.
type Cluster struct {
	t        testing.TB // nil for a cluster of New
	bin      string
	dir      string // owned by the cluster's user: data/, the socket, the log
	port     int
	password string
	cred     *syscall.Credential // nil: run as the current user
}

// ErrNotInstalled is New's error when it finds no PostgreSQL binaries.
var ErrNotInstalled = errors.New("PostgreSQL is not installed; apt-get install postgresql")

// Skippable reports whether a run may go on without PostgreSQL after New
// failed with err: the binaries are missing and the environment variable CI
// is not set.
func Skippable(err error) bool {
	return errors.Is(err, ErrNotInstalled) && os.Getenv("CI") == ""
}

// Start initializes and starts a cluster, stopped and removed when t ends.
// settings are extra server settings ("fsync=off", say), passed as -c options.
// It skips t where New finds no PostgreSQL, unless CI is set (Skippable).
func Start(t testing.TB, settings ...string) *Cluster {
	t.Helper()
	c, err := New(settings...)
	switch {
	case Skippable(err):
		t.Skipf("%v", err)
	case errors.Is(err, ErrNotInstalled):
		t.Fatalf("PostgreSQL is needed (CI is set): %v", err)
	case err != nil:
		t.Fatalf("%v", err)
	}
	c.t = t
	t.Cleanup(c.Close)
	return c
}

// New initializes and starts a cluster outside a test (the benchmark's, say),
// as Start does; Close stops it and removes its files. Its error wraps
// ErrNotInstalled when there are no PostgreSQL binaries. The methods that
// take no error (SQL, CreateDB, Start, Stop, TerminateBackends) are for a
// cluster of Start.
func New(settings ...string) (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrNotInstalled, err)
	}
	c := &Cluster{bin: bin, password: randomHex(16)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if c.dir, err = os.MkdirTemp("", "guestgate-pg-"); err != nil {
		return nil, err
	}
	if err := c.init(settings); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// init makes the cluster in c.dir and starts it.
func (c *Cluster) init(settings []string) error {
	if err := c.own(c.dir); err != nil {
		return err
	}
	pwfile := filepath.Join(c.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(c.password+"\n"), 0o600); err != nil {
		return err
	}
	if err := c.own(pwfile); err != nil {
		return err
	}
	if out, err := c.run("initdb", "-D", c.data(), "-U", "postgres", "--pwfile", pwfile,
		"--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	os.Remove(pwfile)
	port, err := testcaddy.Ports(1)
	if err != nil {
		return err
	}
	c.port = port[0]
	opts := []string{
		"-c listen_addresses=127.0.0.1",
		"-c port=" + strconv.Itoa(c.port),
		"-c unix_socket_directories=" + c.dir,
		"-c max_connections=200",
	}
	for _, s := range settings {
		opts = append(opts, "-c "+s)
	}
	conf := filepath.Join(c.data(), "postgresql.auto.conf")
	if err := os.WriteFile(conf, []byte(strings.Join(confLines(opts), "\n")+"\n"), 0o600); err != nil {
		return err
	}
	if err := c.own(conf); err != nil {
		return err
	}
	return c.start()
}

// own gives path to the cluster's user.
func (c *Cluster) own(path string) error {
	if c.cred == nil {
		return nil
	}
	return os.Chown(path, int(c.cred.Uid), int(c.cred.Gid))
}

// confLines turns "-c name=value" options into postgresql.conf lines.
func confLines(opts []string) []string {
	lines := make([]string, 0, len(opts))
	for _, o := range opts {
		name, value, _ := strings.Cut(strings.TrimPrefix(o, "-c "), "=")
		lines = append(lines, fmt.Sprintf("%s = '%s'", name, strings.ReplaceAll(value, "'", "''")))
	}
	return lines
}

// Port is the TCP port the cluster listens on, on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// Password is the password of the superuser "postgres".
func (c *Cluster) Password() string { return c.password }

// DSN is the libpq URL of database db as the superuser, with its password.
func (c *Cluster) DSN(db string) string {
	u := url.URL{
		Scheme: "postgres", User: url.UserPassword("postgres", c.password),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)), Path: "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateDB creates a new empty database with a unique name and returns its DSN.
func (c *Cluster) CreateDB() string {
	c.t.Helper()
	name := "gg_" + randomHex(6)
	c.SQL("postgres", "CREATE DATABASE "+name)
	return c.DSN(name)
}

// SQL runs statements with psql in database db as the superuser and returns
// what psql printed (unaligned, tuples only); it fails the test on an error.
func (c *Cluster) SQL(db, statements string) string {
	c.t.Helper()
	out, err := c.psql(db, statements)
	if err != nil {
		c.t.Fatalf("psql %s: %v\n%s", db, err, out)
	}
	return strings.TrimSpace(out)
}

func (c *Cluster) psql(db, statements string) (string, error) {
	cmd := exec.Command(filepath.Join(c.bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", "postgres", "-d", db, "-c", statements)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+c.password)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Client runs one of PostgreSQL's client programs (pg_dump, pg_restore) of
// the cluster's version with args, as the current user, and returns what it
// wrote to its standard output; an error holds its standard error.
func (c *Cluster) Client(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", name, err, stderr.String())
	}
	return out, nil
}

// TerminateBackends cuts every connection to the cluster but psql's own
// (pg_terminate_backend), as a failover or a restart of a pooler would.
func (c *Cluster) TerminateBackends() {
	c.t.Helper()
	c.SQL("postgres", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'")
}

// PID is the process id of the running server's postmaster; its children
// are the server's other processes, one per connection among them.
func (c *Cluster) PID() (int, error) {
	pid, _, err := c.postmaster()
	return pid, err
}

// Start starts the server again after Stop (Start of the package starts it the
// first time) and waits until it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	if err := c.start(); err != nil {
		c.t.Fatal(err)
	}
}

// start runs the server as a child of this process, not through pg_ctl,
// which would detach it: the child is sent SIGQUIT, PostgreSQL's immediate
// shutdown, when this process ends, so that a test binary that panics, times
// out or is killed leaves no server behind. It returns when the server
// accepts connections.
func (c *Cluster) start() error {
	logPath := filepath.Join(c.dir, "server.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), "-D", c.data())
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGQUIT}
	if c.cred != nil {
		cmd.Env = append(os.Environ(), "HOME="+c.dir)
	}
	started, exited := make(chan error, 1), make(chan struct{})
	go func() {
		// Linux sends the parent-death signal when the thread that started
		// the child ends, so this goroutine keeps its thread until then.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer close(exited)
		defer logf.Close()
		err := cmd.Start()
		started <- err
		if err == nil {
			_ = cmd.Wait()
		}
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	failed := func(why string) error {
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("postgres %s\n%s", why, log)
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			return failed("exited at start")
		case <-time.After(20 * time.Millisecond):
		}
		if pid, status, err := c.postmaster(); err == nil && pid == cmd.Process.Pid && status == "ready" {
			return nil
		}
	}
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	return failed("was not ready after 60 s")
}

// postmaster reads the running server's postmaster.pid: the postmaster's
// process id and its status line ("starting", "ready", "stopping").
func (c *Cluster) postmaster() (pid int, status string, err error) {
	b, err := os.ReadFile(filepath.Join(c.data(), "postmaster.pid"))
	if err != nil {
		return 0, "", err
	}
	lines := strings.Split(string(b), "\n")
	if pid, err = strconv.Atoi(strings.TrimSpace(lines[0])); err != nil {
		return 0, "", err
	}
	if len(lines) > 7 {
		status = strings.TrimSpace(lines[7])
	}
	return pid, status, nil
}

// Stop stops the server (fast shutdown: open connections are cut).
func (c *Cluster) Stop() {
	c.t.Helper()
	if out, err := c.run("pg_ctl", "-D", c.data(), "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		c.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// Close stops the server if it runs and removes the cluster's files; Start
// calls it when the test ends.
func (c *Cluster) Close() {
	if _, err := os.Stat(filepath.Join(c.data(), "postmaster.pid")); err == nil {
		_, _ = c.run("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "-t", "60", "stop")
	}
	os.RemoveAll(c.dir)
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// run runs one of the cluster's binaries as the cluster's user.
func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
		cmd.Env = append(os.Environ(), "HOME="+c.dir)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// findBin returns the directory of initdb, pg_ctl, postgres and psql.
func findBin() (string, error) {
	if d := os.Getenv("GUESTGATE_PG_BIN"); d != "" {
		return d, checkBin(d)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if checkBin(d) == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		return d, checkBin(d)
	}
	return "", fmt.Errorf("no initdb in $GUESTGATE_PG_BIN, /usr/lib/postgresql/*/bin or PATH")
}

func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func checkBin(d string) error {
	for _, name := range []string{"initdb", "pg_ctl", "postgres", "psql"} {
		if _, err := os.Stat(filepath.Join(d, name)); err != nil {
			return err
		}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

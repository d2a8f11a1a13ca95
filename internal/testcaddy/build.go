package testcaddy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// ModuleRoot returns the directory of the go.mod of the module that the
// working directory is in.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the guestgate module: run from its directory")
	}
	return filepath.Dir(gomod), nil
}

// Build builds ./cmd/caddy of the module (Caddy with guestgate) into dir and
// returns the binary's path. Go runs in OriginalEnv.
func Build(ctx context.Context, dir string) (string, error) {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "caddy")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/caddy")
	cmd.Dir = root
	cmd.Env = OriginalEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/caddy: %w\n%s", err, out)
	}
	return bin, nil
}

var built struct {
	once sync.Once
	bin  string
	took time.Duration
	err  error
}

// Binary returns the caddy binary of this module, built once per test binary
// into TempDir and shared by its tests; it fails the test when the build
// fails. It needs Main. Under -short it skips the test, as caddytest skips
// the tests that need a server.
func Binary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the caddy binary (-short)")
	}
	if tempDir == "" {
		t.Fatal("testcaddy.Binary builds into the directory of testcaddy.Main: call Main from TestMain")
	}
	built.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		built.bin, built.err = Build(ctx, tempDir)
		built.took = time.Since(start)
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	t.Logf("caddy binary %s (built once, in %v)", built.bin, built.took.Round(time.Millisecond))
	return built.bin
}

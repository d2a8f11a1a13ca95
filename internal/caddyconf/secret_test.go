package caddyconf

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSecrets: a configured secret is read through placeholders, without the
// newline a secret file ends with, and one too short once resolved is
// refused with its option and place named, its length said and its value
// never shown.
func TestSecrets(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GG_TEST_SECRET", "from-the-env\n")
	for in, want := range map[string]string{
		"literal":              "literal",
		"{env.GG_TEST_SECRET}": "from-the-env",
		"{file." + file + "}":  "from-a-file",
		"{env.GG_TEST_UNSET}":  "",
	} {
		if got := ResolveSecret(in); got != want {
			t.Errorf("ResolveSecret(%q) = %q, want %q", in, got, want)
		}
	}
	got, err := CheckedSecrets("api_key", []string{"{env.GG_TEST_SECRET}", "literal"}, 7, "characters")
	if err != nil || len(got) != 2 || got[0] != "from-the-env" || got[1] != "literal" {
		t.Errorf("CheckedSecrets = %q, %v", got, err)
	}
	const want = "api_key 2: must be at least 8 characters after placeholders are resolved, got 7"
	if _, err := CheckedSecrets("api_key", []string{"{env.GG_TEST_SECRET}", "literal"}, 8, "characters"); err == nil || err.Error() != want {
		t.Errorf("CheckedSecrets with a short secret: %v, want %q", err, want)
	}
}

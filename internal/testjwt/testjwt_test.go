package testjwt

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestReadmeExample keeps ReadmeModeratorToken honest: README.md's minting
// example must set the same claims, aud "guestgate" among them, and sign with
// HS256, since the tests of the moderator API accept the README's token
// through ReadmeModeratorToken.
func TestReadmeExample(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)claims := jwt\.MapClaims\{\n(.*?)\n\}\n(.*?)\n` + "```").FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md has no moderator token example (claims := jwt.MapClaims{...})")
	}
	var keys []string
	for _, k := range regexp.MustCompile(`(?m)^\s*"(\w+)":`).FindAllSubmatch(m[1], -1) {
		keys = append(keys, string(k[1]))
	}
	slices.Sort(keys)
	if want := slices.Sorted(maps.Keys(ReadmeModeratorClaims(time.Now()))); !slices.Equal(keys, want) {
		t.Errorf("README.md's example sets the claims %v; ReadmeModeratorClaims sets %v", keys, want)
	}
	if !regexp.MustCompile(`"aud":\s+"guestgate"`).Match(m[1]) || !strings.Contains(string(m[2]), "jwt.SigningMethodHS256") {
		t.Errorf("README.md's example does not set aud \"guestgate\" or sign with HS256:\n%s\n%s", m[1], m[2])
	}
}

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
	claims, signing := readmeExample(t)
	var keys []string
	for _, k := range regexp.MustCompile(`(?m)^\s*"(\w+)":`).FindAllStringSubmatch(claims, -1) {
		keys = append(keys, k[1])
	}
	slices.Sort(keys)
	if want := slices.Sorted(maps.Keys(ReadmeModeratorClaims(time.Now()))); !slices.Equal(keys, want) {
		t.Errorf("README.md's example sets the claims %v; ReadmeModeratorClaims sets %v", keys, want)
	}
	if !regexp.MustCompile(`"aud":\s+"guestgate"`).MatchString(claims) || !strings.Contains(signing, "jwt.SigningMethodHS256") {
		t.Errorf("README.md's example does not set aud \"guestgate\" or sign with HS256:\n%s\n%s", claims, signing)
	}
}

// readmeExample returns the claims of README.md's moderator token example
// (the lines inside "claims := jwt.MapClaims{...}") and the rest of its code.
func readmeExample(t *testing.T) (claims, signing string) {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)claims := jwt\.MapClaims\{\n(.*?)\n\}\n(.*?)\n` + "```").FindStringSubmatch(string(b))
	if m == nil {
		t.Fatal("README.md has no moderator token example (claims := jwt.MapClaims{...})")
	}
	return m[1], m[2]
}

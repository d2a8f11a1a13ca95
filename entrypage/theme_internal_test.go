package entrypage

import (
	"regexp"
	"testing"
)

// TestEmbeddedColoursContrast: the embedded stylesheet's text colours keep a
// contrast of at least 4.5:1 (WCAG AA) against what they are drawn on.
func TestEmbeddedColoursContrast(t *testing.T) {
	css, err := assetFS.ReadFile("assets/guest.css")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-f]{6});`).FindAllStringSubmatch(string(css), -1) {
		vars[m[1]] = m[2]
	}
	for _, pair := range [][2]string{
		{"text", "card"}, {"muted", "card"}, {"error", "card"}, {"accent", "card"}, // text and links on the card
		{"text", "bg"}, // the theme title above the card
		{"error", "error-bg"},
	} {
		fg, bg := vars[pair[0]], vars[pair[1]]
		if fg == "" || bg == "" {
			t.Fatalf("guest.css has no --%s or --%s (found %v)", pair[0], pair[1], vars)
		}
		if c := contrast(fg, bg); c < minContrast {
			t.Errorf("--%s %s on --%s %s: contrast %.2f:1, want at least %.1f:1", pair[0], fg, pair[1], bg, c, minContrast)
		}
	}
	for _, v := range []string{"accent", "accent-hover"} {
		if c := contrast("#ffffff", vars[v]); c < minContrast {
			t.Errorf("white button text on --%s %s: contrast %.2f:1", v, vars[v], c)
		}
	}
	// A theme's hover shade is darker than its accent, so it keeps the contrast.
	if c, h := contrast("#ffffff", "#767676"), contrast("#ffffff", darken("#767676", 0.15)); h <= c {
		t.Errorf("darken does not raise the contrast: %.2f then %.2f", c, h)
	}
	if c := contrast("#000000", "#ffffff"); c < 20.99 || c > 21.01 {
		t.Errorf("black on white: %.3f, want 21", c)
	}
}

package entrypage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// ThemeConfig styles the guest pages: it is the theme block of guest_gateway,
// in JSON as in the Caddyfile. Every field is optional; the zero value is the
// plain embedded look.
type ThemeConfig struct {
	// Title is shown above the card of every guest page and in <title>, like
	// the site's name.
	Title string `json:"title,omitempty"`
	// Logo is the path of an image file (PNG, JPEG, GIF, WebP or SVG, at most
	// MaxLogoBytes, 512 KiB) shown above the card and served at
	// {prefix}/assets/logo. It is read once, when the handler is provisioned.
	Logo string `json:"logo,omitempty"`
	// Accent is the colour of buttons, links and focus rings, "#rgb" or
	// "#rrggbb". White button text on it must keep a contrast of at least
	// 4.5:1 (WCAG AA), so a colour too light is refused. Default: #1f5fbf.
	Accent string `json:"accent,omitempty"`
	// Templates is a directory whose *.html files replace the embedded
	// templates of the same name (entry.html, lobby.html, message.html,
	// layout.html, which defines "head" and "site"); other *.html files are
	// added. Templates are executed with PageData; they are parsed and tried
	// with sample data in every language when the handler is provisioned.
	Templates string `json:"templates,omitempty"`
}

// MaxLogoBytes bounds the theme's logo file: 512 KiB.
const MaxLogoBytes = 512 << 10

// minContrast is the WCAG AA contrast for normal text: white text on the
// accent colour must reach it.
const minContrast = 4.5

// theme is a loaded ThemeConfig: the files it names are read, the accent is
// turned into a stylesheet.
type theme struct {
	title string

	logo              []byte
	logoType, logoURL string

	css    []byte
	cssURL string
}

var accentRE = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// CheckAccent checks a theme accent colour: "#rgb" or "#rrggbb", dark enough
// that white text on it has a contrast of at least 4.5:1. It returns the
// colour as lower-case "#rrggbb".
func CheckAccent(s string) (string, error) {
	if !accentRE.MatchString(s) {
		return "", fmt.Errorf("theme accent %q: must be a colour like #1f5fbf or #15b", s)
	}
	hexDigits := strings.ToLower(s[1:])
	if len(hexDigits) == 3 {
		hexDigits = string([]byte{hexDigits[0], hexDigits[0], hexDigits[1], hexDigits[1], hexDigits[2], hexDigits[2]})
	}
	c := "#" + hexDigits
	if ratio := contrast(c, "#ffffff"); ratio < minContrast {
		return "", fmt.Errorf("theme accent %q: white button text on it has a contrast of %.2f:1, below the %.1f:1 that readable text needs (WCAG AA); choose a darker colour", s, ratio, minContrast)
	}
	return c, nil
}

// rgb splits "#rrggbb" into its channels.
func rgb(c string) (r, g, b uint8) {
	v, _ := strconv.ParseUint(c[1:], 16, 32)
	return uint8(v >> 16), uint8(v >> 8), uint8(v)
}

// luminance is the WCAG relative luminance of "#rrggbb".
func luminance(c string) float64 {
	lin := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	r, g, b := rgb(c)
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}

// contrast is the WCAG contrast ratio of two "#rrggbb" colours, from 1 to 21.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// darken mixes "#rrggbb" with black: f of 0.15 is 15 % darker.
func darken(c string, f float64) string {
	r, g, b := rgb(c)
	d := func(v uint8) uint8 { return uint8(math.Round(float64(v) * (1 - f))) }
	return fmt.Sprintf("#%02x%02x%02x", d(r), d(g), d(b))
}

// loadTheme reads the files of tc and makes its stylesheet. prefix is where the
// guest pages live.
func loadTheme(tc ThemeConfig, prefix string) (*theme, error) {
	if tc == (ThemeConfig{}) {
		return nil, nil
	}
	th := &theme{title: strings.TrimSpace(tc.Title)}
	if tc.Title != "" && th.title == "" {
		return nil, errors.New("theme title: must not be blank")
	}
	if strings.ContainsFunc(tc.Title, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, errors.New("theme title: must not contain control characters")
	}
	if tc.Logo != "" {
		data, ctype, err := readLogo(tc.Logo)
		if err != nil {
			return nil, fmt.Errorf("theme logo %s: %w", tc.Logo, err)
		}
		th.logo, th.logoType = data, ctype
		th.logoURL = prefix + "/assets/logo?v=" + version(data)
	}
	if tc.Accent != "" {
		c, err := CheckAccent(tc.Accent)
		if err != nil {
			return nil, err
		}
		th.css = fmt.Appendf(nil, "/* guestgate theme: accent %s */\n:root {\n  --accent: %s;\n  --accent-hover: %s;\n}\n", c, c, darken(c, 0.15))
		th.cssURL = prefix + "/assets/theme.css?v=" + version(th.css)
	}
	return th, nil
}

// version is a short hash of data, so a changed logo or accent is fetched anew
// despite the assets' cache lifetime.
func version(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:6])
}

// logoTypes are the raster image types served as logos, as sniffed.
var logoTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// readLogo reads an image file of at most MaxLogoBytes and returns it with its
// content type: sniffed for raster images, image/svg+xml for .svg files that
// hold an <svg> element.
func readLogo(path string) ([]byte, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", err
	}
	if !fi.Mode().IsRegular() {
		return nil, "", errors.New("is not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxLogoBytes+1))
	if err != nil {
		return nil, "", err
	}
	if len(data) > MaxLogoBytes {
		return nil, "", fmt.Errorf("is larger than %d KiB (%d KiB); use a smaller image", MaxLogoBytes>>10, fi.Size()>>10)
	}
	if len(data) == 0 {
		return nil, "", errors.New("is empty")
	}
	if strings.EqualFold(filepath.Ext(path), ".svg") {
		if !looksLikeSVG(data) {
			return nil, "", errors.New("is named .svg but holds no <svg> element")
		}
		return data, "image/svg+xml", nil
	}
	ctype := http.DetectContentType(data)
	if !logoTypes[ctype] {
		return nil, "", fmt.Errorf("is not a PNG, JPEG, GIF, WebP or SVG image (it looks like %s)", ctype)
	}
	return data, ctype, nil
}

// looksLikeSVG reports whether data is text holding an <svg element.
func looksLikeSVG(data []byte) bool {
	if t := http.DetectContentType(data); !strings.HasPrefix(t, "text/") {
		return false
	}
	return bytes.Contains(data, []byte("<svg"))
}

// serveAsset serves the theme's logo and stylesheet (name is the path under
// {prefix}/assets/). It reports false for any other name.
func (p *Pages) serveAsset(w http.ResponseWriter, r *http.Request, name string) bool {
	th := p.theme
	if th == nil {
		return false
	}
	var data []byte
	var ctype string
	switch {
	case name == "logo" && th.logo != nil:
		data, ctype = th.logo, th.logoType
		if ctype == "image/svg+xml" {
			// Opened on its own, an SVG could run script on this origin.
			w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
		}
	case name == "theme.css" && th.css != nil:
		data, ctype = th.css, "text/css; charset=utf-8"
	default:
		return false
	}
	w.Header().Set("Content-Type", ctype)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	return true
}

// pageTemplates are the templates a request renders.
var pageTemplates = []string{"entry.html", "lobby.html", "leave.html", "message.html"}

// parseTemplates parses the embedded templates, with the *.html files of dir
// (if not empty) replacing those of the same name.
func parseTemplates(dir string) (*template.Template, error) {
	texts := map[string]string{}
	embedded, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, name := range embedded {
		b, err := templateFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		texts[filepath.Base(name)] = string(b)
	}
	origin := map[string]string{}
	if dir != "" {
		files, err := filepath.Glob(filepath.Join(dir, "*.html"))
		if err == nil && len(files) == 0 {
			if _, statErr := os.Stat(dir); statErr != nil {
				err = statErr
			} else {
				err = errors.New("holds no *.html file")
			}
		}
		if err != nil {
			return nil, fmt.Errorf("theme templates %s: %w", dir, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("theme templates: %w", err)
			}
			name := filepath.Base(f)
			texts[name], origin[name] = string(b), f
		}
	}
	names := make([]string, 0, len(texts))
	for name := range texts {
		names = append(names, name)
	}
	sort.Strings(names)
	t := template.New("")
	for _, name := range names {
		if _, err := t.New(name).Parse(texts[name]); err != nil {
			if f, ok := origin[name]; ok {
				return nil, fmt.Errorf("theme templates: %s: %w", f, err)
			}
			return nil, err
		}
	}
	for _, name := range pageTemplates {
		if t.Lookup(name) == nil {
			return nil, fmt.Errorf("theme templates: %s is missing", name)
		}
	}
	return t, nil
}

var (
	bodyReasonRE = regexp.MustCompile(`<body[^>]*\sdata-reason="([^"]*)"`)
	csrfFieldRE  = regexp.MustCompile(`<input[^>]*\sname="csrf"[^>]*\svalue="([^"]*)"|<input[^>]*\svalue="([^"]*)"[^>]*\sname="csrf"`)
)

// checkTemplates executes every page template once with sample data in every
// language, so that a template naming a missing field, or one that drops the
// contract (data-reason on <body>, the csrf field of the entry form), is a
// configuration error instead of a 500 or a broken page later.
func (p *Pages) checkTemplates() error {
	const sampleCSRF = "sample-csrf-value"
	for _, tag := range p.cat.Languages() {
		var buf bytes.Buffer
		exec := func(name string, d PageData) error {
			buf.Reset()
			if err := p.tmpl.ExecuteTemplate(&buf, name, d); err != nil {
				return fmt.Errorf("%s (%s): %w", name, tag, err)
			}
			return nil
		}
		d := p.pageIn(tag)
		entryPage(&d, entryForm{
			RoomName: "Sample room", Token: "sample", CSRF: sampleCSRF, Name: "Ada", Email: "ada@",
			FormError: "guest.entry.form_expired",
			Invalid: []*guestlink.ValidationError{
				{Field: "name", Code: guestlink.CodeRequired},
				{Field: "email", Code: guestlink.CodeInvalidEmail},
			},
		})
		if err := exec("entry.html", d); err != nil {
			return err
		}
		if m := csrfFieldRE.FindStringSubmatch(buf.String()); m == nil || m[1]+m[2] != sampleCSRF {
			return fmt.Errorf("entry.html: the form must post the field csrf with the value {{.CSRF}}")
		}
		d = p.pageIn(tag)
		lobbyPage(&d, "Sample room", "Ada", "We start at 10:05", p.prefix+"/lobby/status", sampleCSRF)
		if err := exec("lobby.html", d); err != nil {
			return err
		}
		d = p.pageIn(tag)
		leavePage(&d, p.prefix+"/leave", sampleCSRF, "guest.entry.form_expired")
		if err := exec("leave.html", d); err != nil {
			return err
		}
		if m := csrfFieldRE.FindStringSubmatch(buf.String()); m == nil || m[1]+m[2] != sampleCSRF {
			return fmt.Errorf("leave.html: the form must post the field csrf with the value {{.CSRF}}")
		}
		reasons := make([]string, 0, len(reasonStatus))
		for reason := range reasonStatus {
			reasons = append(reasons, reason)
		}
		sort.Strings(reasons)
		for _, reason := range reasons {
			d = p.pageIn(tag)
			messagePage(&d, reason, "Sample room", p.prefix+"/lobby")
			if err := exec("message.html", d); err != nil {
				return err
			}
			if m := bodyReasonRE.FindStringSubmatch(buf.String()); m == nil || m[1] != reason {
				return fmt.Errorf("message.html: <body> must carry data-reason=\"{{.Reason}}\"")
			}
		}
	}
	return nil
}

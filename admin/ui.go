package admin

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"time"

	"golang.org/x/text/language"

	"github.com/guestgate/guestgate/i18n"
)

// The Manage guest access page (docs/DESIGN.md section 3): plain HTML, CSS and JS
// embedded in the binary, no build step. The page loads without credentials and
// then asks for one (a moderator token in the URL fragment, or an API key typed
// into a form); every call it makes is to the JSON API of this handler, with
// relative URLs, so it works wherever the operator mounts guest_admin.

//go:embed ui
var uiFiles embed.FS

// pageCSP is the Content-Security-Policy of the page and its assets: nothing
// inline, nothing from another origin, no framing.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// uiAsset is one embedded file, with its ETag.
type uiAsset struct {
	body  []byte
	ctype string
	etag  string
}

// uiAssets maps a request path ("/", "/ui/app.js") to its file. It is built once
// from the embedded files and never changes.
var uiAssets = func() map[string]uiAsset {
	m := map[string]uiAsset{}
	types := map[string]string{
		".html": "text/html; charset=utf-8",
		".css":  "text/css; charset=utf-8",
		".js":   "text/javascript; charset=utf-8",
		".svg":  "image/svg+xml",
	}
	err := fs.WalkDir(uiFiles, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := uiFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		a := uiAsset{body: b, ctype: types[path.Ext(p)], etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		if a.ctype == "" {
			a.ctype = "application/octet-stream"
		}
		if p == "ui/index.html" {
			m["/"] = a
			return nil
		}
		m["/"+p] = a
		return nil
	})
	if err != nil {
		panic("admin: embedded ui: " + err.Error())
	}
	return m
}()

// servePage answers GET and HEAD for the page ("/"), its assets ("/ui/...") and
// its messages ("/i18n.json"), none of which needs a credential; it returns false
// for every other request, which the API then handles. Caddy's admin endpoint
// (AdminEndpoint) has no page.
func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) bool {
	if !h.page || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	p := r.URL.Path
	if p == "/i18n.json" {
		h.serveMessages(w, r)
		return true
	}
	a, ok := uiAssets[p]
	if !ok || p == "/ui/index.html" {
		return false
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", pageCSP)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Content-Type", a.ctype)
	if p != "/" {
		// Assets may be cached but are revalidated, so an upgrade shows at once.
		hd.Set("Cache-Control", "no-cache")
		hd.Set("ETag", a.etag)
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	return true
}

// messagesJSON is the answer of GET /i18n.json: the page's strings in the best
// language for the request, and the language's tag and direction for <html lang
// dir>.
type messagesJSON struct {
	Lang     string            `json:"lang"`
	Dir      string            `json:"dir"`
	Messages map[string]string `json:"messages"`
}

// serveMessages answers GET /i18n.json: "moderator.*" messages of the language
// chosen by ?lang= (if supported) or else by Accept-Language, English the fallback.
func (h *Handler) serveMessages(w http.ResponseWriter, r *http.Request) {
	cat := i18n.Default()
	tag := cat.Match(r.Header.Get("Accept-Language"))
	if q := r.URL.Query().Get("lang"); q != "" {
		if t, err := language.Parse(q); err == nil {
			tag = cat.Match(t.String())
		}
	}
	base, _ := tag.Base()
	out := messagesJSON{Lang: base.String(), Dir: cat.Dir(tag), Messages: cat.Messages(tag, "moderator.")}
	b, err := json.Marshal(out)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "internal error", "")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Vary", "Accept-Language")
	hd.Set("Content-Language", base.String())
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

package entrypage

import (
	"net/http"
	"strings"
)

// A response that carries a renewed session cookie must never be stored by a
// shared cache (docs/DESIGN.md section 2): a CDN or proxy that stored an
// upstream's "Cache-Control: public, max-age=3600" stylesheet together with its
// Set-Cookie would hand one guest's session to everybody who asks for that
// stylesheet. The gate sets the cookie before the upstream answers, so it wraps
// the writer of such a request (the renewal comes once per half token_ttl, so
// nearly every request goes unwrapped) and, when the answer's header is written,
// makes the answer private: "public" and "s-maxage" are dropped from Cache-Control
// and "private" is added, the CDN-targeted fields (CDN-Cache-Control of RFC 9213,
// Surrogate-Control) are removed, and "Cookie" is added to Vary. The guest's own
// browser may still cache it, which is harmless. Vary is the second line of
// defence: a handler ordered before the gate that rewrites Cache-Control when the
// answer is written (Caddy's header directive with defer, or ">Cache-Control")
// acts after this rewrite and wins; a shared cache that honours Vary then still
// hands the stored answer only to requests with the same Cookie header, the same
// guest's.

// privateWriter makes the answer it writes private (see above).
type privateWriter struct {
	http.ResponseWriter
	done bool
}

func (w *privateWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *privateWriter) WriteHeader(code int) {
	if !w.done && code >= 200 {
		w.done = true
		makePrivate(w.Header())
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *privateWriter) Write(b []byte) (int, error) {
	if !w.done {
		w.done = true
		makePrivate(w.Header())
	}
	return w.ResponseWriter.Write(b)
}

// Flush flushes the underlying writer (Server-Sent Events through the proxy).
func (w *privateWriter) Flush() {
	if !w.done {
		w.done = true
		makePrivate(w.Header())
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// makePrivate rewrites h's caching fields so that only the browser may store
// the answer, and makes it vary by Cookie (see above).
func makePrivate(h http.Header) {
	h.Del("CDN-Cache-Control")
	h.Del("Surrogate-Control")
	var kept []string
	private := false
	for _, line := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(line, ",") {
			d = strings.TrimSpace(d)
			name, arg, hasArg := strings.Cut(d, "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "", "public", "s-maxage":
				continue
			case "private":
				// private="field" keeps only that field out of shared
				// caches: it is replaced by a bare private.
				if hasArg && strings.Trim(strings.TrimSpace(arg), `"`) != "" {
					continue
				}
				private = true
			}
			kept = append(kept, d)
		}
	}
	if !private {
		kept = append([]string{"private"}, kept...)
	}
	h["Cache-Control"] = []string{strings.Join(kept, ", ")}
	for _, line := range h.Values("Vary") {
		for f := range strings.SplitSeq(line, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, "Cookie") {
				return
			}
		}
	}
	h.Add("Vary", "Cookie")
}

package entrypage

import (
	"net/http"
	"strings"
)

// A response that carries a renewed session cookie must never be stored by a
// shared cache (docs/DESIGN.md section 2): a CDN or proxy that
// stored an upstream's "Cache-Control: public, max-age=3600" stylesheet together
// with its Set-Cookie would hand one guest's session to everybody who asks for
// that stylesheet. The gate sets the cookie before the upstream answers, so it
// wraps the writer of such a request (the renewal comes once per half token_ttl,
// so nearly every request goes unwrapped) and, when the answer's header is
// written, makes the answer private: "public" and "s-maxage" are dropped from
// Cache-Control and "private" is added, and the CDN-targeted fields
// (CDN-Cache-Control of RFC 9213, Surrogate-Control) are removed. The guest's
// own browser may still cache it, which is harmless.

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
// the answer.
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
}

package entrypage

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/guestgate/guestgate/token"
)

// Cookie names: the __Host- prefix binds the cookie to this host, path "/" and
// HTTPS; over plain HTTP browsers refuse that prefix, so the bare name is used.
const (
	CookieName       = "guestgate"
	SecureCookieName = "__Host-guestgate"
	csrfCookieName   = "guestgate-csrf"
	secureCSRFCookie = "__Host-guestgate-csrf"
	// maxCookieLen is the longest cookie value read; longer ones are refused
	// before any parsing.
	maxCookieLen = 4096
)

func isTLS(r *http.Request) bool { return r.TLS != nil }

// sessionCookieName is the name of the session cookie for r's scheme.
func sessionCookieName(r *http.Request) string {
	if isTLS(r) {
		return SecureCookieName
	}
	return CookieName
}

// cookiePair splits one part of a Cookie header ("name=value") as browsers
// and Go's net/http do: whitespace around the part, the name and the value is
// not part of them (RFC 6265bis section 5.4; net/http trims the name), so
// "guestgate =tok" is the cookie guestgate.
func cookiePair(part string) (name, value string) {
	name, value, _ = strings.Cut(part, "=")
	return textproto.TrimString(name), textproto.TrimString(value)
}

// readCookie returns the one value of cookie name in r. Several cookies of that
// name (a planted duplicate), an empty value or a value over maxCookieLen count as
// none. A value in double quotes is read without them.
func readCookie(r *http.Request, name string) (string, bool) {
	var val string
	found := 0
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			k, v := cookiePair(part)
			if k != name {
				continue
			}
			found++
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			val = v
		}
	}
	if found != 1 || val == "" || len(val) > maxCookieLen {
		return "", false
	}
	return val, true
}

// stripCookie removes every cookie called name from r's Cookie header, keeping the
// others as they were, so the upstream never sees the gateway's cookies. Names
// are matched as cookiePair reads them and in every other spelling a backend
// might read as one of the gateway's cookies: without regard to case (some
// frameworks match cookie names so), percent-decoded (PHP and Rack decode
// cookie names), and after a comma (Rack and Python's http.cookies also split
// a Cookie header at commas, as RFC 2965 did), so "x=1, guestgate=<token>" is
// dropped whole.
func stripCookie(r *http.Request, names ...string) {
	dropListItems(r.Header, "Cookie", ";", textproto.TrimString, func(part string) bool {
		return namesCookie(part, names)
	})
}

// namesCookie reports whether a backend could read one of names in part, one
// ";"-separated part of a Cookie header (see stripCookie).
func namesCookie(part string, names []string) bool {
	for sub := range strings.SplitSeq(part, ",") {
		k, _ := cookiePair(sub)
		if d, err := url.PathUnescape(k); err == nil {
			k = d
		}
		for _, n := range names {
			if strings.EqualFold(k, n) {
				return true
			}
		}
	}
	return false
}

// sessionCookie is the session cookie's shape: HttpOnly, Secure over HTTPS,
// SameSite as configured; when the room may be framed (frame_ancestors),
// SameSite=None; Secure; Partitioned (CHIPS), which browsers require for a
// cookie inside a third-party frame.
func (g *Gateway) sessionCookie(r *http.Request, value string) *http.Cookie {
	c := &http.Cookie{
		Name: sessionCookieName(r), Value: value, Path: "/", HttpOnly: true, Secure: isTLS(r), SameSite: g.sameSite,
	}
	if g.framed {
		c.SameSite, c.Secure, c.Partitioned = http.SameSiteNoneMode, true, true
	}
	return c
}

// setSession sets the session cookie to tok until exp.
func (g *Gateway) setSession(w http.ResponseWriter, r *http.Request, tok string, claims *token.Claims) {
	exp := claims.ExpiresAt.Time
	c := g.sessionCookie(r, tok)
	c.Expires, c.MaxAge = exp, max(int(exp.Sub(g.svc.Now())/time.Second), 1)
	http.SetCookie(w, c)
	g.warm(tok, claims)
}

// clearSession removes the session cookie.
func (g *Gateway) clearSession(w http.ResponseWriter, r *http.Request) {
	c := g.sessionCookie(r, "")
	c.MaxAge = -1
	http.SetCookie(w, c)
}

// csrfValue returns the browser's anti-CSRF cookie value, setting a new random one
// when there is none. The form carries an HMAC of it bound to the link token
// (double submit, signed), so another site can neither read nor forge it.
func (g *Gateway) csrfValue(w http.ResponseWriter, r *http.Request) string {
	name := csrfCookieName
	if isTLS(r) {
		name = secureCSRFCookie
	}
	if v, ok := readCookie(r, name); ok && len(v) == 22 {
		return v
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	v := base64.RawURLEncoding.EncodeToString(b[:])
	c := &http.Cookie{Name: name, Value: v, Path: "/", HttpOnly: true, Secure: isTLS(r), SameSite: http.SameSiteStrictMode}
	if g.framed {
		c.SameSite, c.Secure, c.Partitioned = http.SameSiteNoneMode, true, true
	}
	http.SetCookie(w, c)
	return v
}

// csrfToken is the form field value for cookie value c and link token tok.
func (g *Gateway) csrfToken(c, tok string) string {
	m := g.csrfMACs.Get().(hash.Hash)
	m.Write([]byte("csrf\x00" + c + "\x00" + tok))
	var sum [sha256.Size]byte
	field := base64.RawURLEncoding.EncodeToString(m.Sum(sum[:0]))
	m.Reset()
	g.csrfMACs.Put(m)
	return field
}

// checkCSRF reports whether the form's csrf field matches the browser's cookie.
func (g *Gateway) checkCSRF(r *http.Request, tok, field string) bool {
	name := csrfCookieName
	if isTLS(r) {
		name = secureCSRFCookie
	}
	c, ok := readCookie(r, name)
	if !ok || field == "" {
		return false
	}
	return hmac.Equal([]byte(field), []byte(g.csrfToken(c, tok)))
}

// sameOrigin reports whether a state-changing request comes from this site: a
// Sec-Fetch-Site other than same-origin or none, or an Origin that is not this
// request's own scheme and host, is cross-site. Forwarded headers are not read.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	origins := r.Header.Values("Origin")
	if len(origins) == 0 {
		return true
	}
	if len(origins) == 1 && origins[0] == "null" && r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		// Browsers send "Origin: null" for a form posted from a page with
		// Referrer-Policy no-referrer, which the guest pages have to keep link
		// tokens out of Referer headers; Sec-Fetch-Site, which no page can
		// set, still tells same-origin. A null Origin alone is refused.
		return true
	}
	scheme := "http://"
	if isTLS(r) {
		scheme = "https://"
	}
	return len(origins) == 1 && strings.EqualFold(origins[0], scheme+r.Host)
}

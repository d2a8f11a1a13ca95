package entrypage

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/token"
)

// sessionCache remembers verified session tokens, keyed by the exact cookie
// value, so that a returning cookie costs a map lookup instead of an HMAC and a
// JSON decode (docs/PERFORMANCE.md). An entry lives until its token's own
// expiry. It holds only what verification proved (the token is genuine and
// current); the live state (room, access, link, guest) is checked on every
// request from the store's in-memory mirror, so no state change has to
// invalidate it.
type sessionCache struct {
	mu sync.RWMutex
	m  map[string]*cachedSession
}

// cachedSession is a verified token with the header values the gate sends for
// it, encoded once.
type cachedSession struct {
	claims *token.Claims
	exp    time.Time
	// name and email are percent-encoded for X-Guest-Name and X-Guest-Email.
	name, email string
	// identity is the X-Guest-Token value, made on first use.
	identity atomic.Pointer[string]
}

// maxCachedSessions bounds the cache; when it is full, expired entries go, and
// if that is not enough, all of them (each is rebuilt by one verification).
const maxCachedSessions = 50_000

func newSessionCache() *sessionCache {
	return &sessionCache{m: make(map[string]*cachedSession)}
}

func (sc *sessionCache) get(raw string, now time.Time) *cachedSession {
	sc.mu.RLock()
	e := sc.m[raw]
	sc.mu.RUnlock()
	if e == nil || !now.Before(e.exp) {
		return nil
	}
	return e
}

func (sc *sessionCache) put(raw string, c *token.Claims, now time.Time) *cachedSession {
	// A session from before roles is a viewer's: the gate, the headers and
	// the tokens made from it say so.
	c.Role = guestlink.RoleOrViewer(c.Role)
	e := &cachedSession{claims: c, name: headerEscape(c.Name), email: headerEscape(c.Email)}
	if c.ExpiresAt != nil {
		e.exp = c.ExpiresAt.Time
	}
	sc.mu.Lock()
	if len(sc.m) >= maxCachedSessions {
		for k, old := range sc.m {
			if !now.Before(old.exp) {
				delete(sc.m, k)
			}
		}
		if len(sc.m) >= maxCachedSessions {
			clear(sc.m)
		}
	}
	sc.m[raw] = e
	sc.mu.Unlock()
	return e
}

// session returns r's verified session from the cache or by verifying its
// cookie, or nil when there is none or it does not verify.
func (g *Gateway) session(r *http.Request) *cachedSession {
	raw, ok := readCookie(r, sessionCookieName(r))
	if !ok {
		return nil
	}
	now := g.svc.Now()
	if e := g.cache.get(raw, now); e != nil {
		return e
	}
	c, err := g.tokens.Verify(raw, now)
	if err != nil {
		return nil
	}
	return g.cache.put(raw, c, now)
}

// identityToken is the X-Guest-Token of e, made once.
func (g *Gateway) identityToken(e *cachedSession) (string, error) {
	if p := e.identity.Load(); p != nil {
		return *p, nil
	}
	tok, err := g.identity.Token(e.claims, g.svc.Now())
	if err != nil {
		return "", err
	}
	e.identity.Store(&tok)
	return tok, nil
}

// warm puts a token the gateway just issued, with the claims it signed
// (token.Issuer.Mint), into the cache, with its identity token, so that the
// guest's first request through the gate is already a returning one: the
// Ed25519 signature happens on the entry form's post (or the renewal), not on
// the room's first load, and the token is never verified at all. A waiting
// guest's token gets no identity token: the gate sends no request of a
// waiting session upstream, and upgrades it to a new token first once the
// guest is admitted (docs/DESIGN.md section 2).
func (g *Gateway) warm(raw string, c *token.Claims) {
	now := g.svc.Now()
	e := g.cache.put(raw, c, now)
	if g.identity != nil && c.State == guestlink.StateAdmitted {
		_, _ = g.identityToken(e)
	}
}

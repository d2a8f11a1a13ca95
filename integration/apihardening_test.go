package integration

import (
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/guestgate/guestgate/admin"
)

// The moderator API's part of hardening round two:
// strict JSON bodies, the CSV formula guard past invisible characters, and a
// per-client budget of failed authentications, each through a real Caddy.

// TestStrictJSON: two bodies that meant something else than they seemed, sent to the moderator API
// and to the admin endpoint module (the same handler, behind Caddy's admin
// endpoint): {"name":"d","max_clicks":1,"MAX_CLICKS":null} is 422 invalid naming
// MAX_CLICKS (keys are case-sensitive, and an unknown key is refused) and
// {"name":"e","max_clicks":1,"max_clicks":5} is 400 duplicate_key naming
// max_clicks; neither makes a link, which the link list shows afterwards. A
// duplicate "enabled" leaves guest access as it was. The control, the first
// body without its second key, makes the 1-click link it says.
func TestStrictJSON(t *testing.T) {
	g, adminAddr := startWithAdmin(t, config{})
	g.putRoom("demo", map[string]any{"name": "Demo room"})
	g.setAccess("demo", true)

	viaEndpoint := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+adminAddr+"/guestgate"+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := g.admin.Do(req)
		if err != nil {
			t.Fatalf("admin endpoint %s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	viaAPI := func(method, path, body string) (int, []byte) {
		t.Helper()
		return g.api(method, path, body)
	}
	for _, via := range []struct {
		name string
		send func(method, path, body string) (int, []byte)
	}{{"moderator API", viaAPI}, {"admin endpoint", viaEndpoint}} {
		status, body := via.send(http.MethodPost, "/api/rooms/demo/links", `{"name":"d","max_clicks":1,"MAX_CLICKS":null}`)
		wantAPIError(t, via.name+": max_clicks and MAX_CLICKS", status, body, http.StatusUnprocessableEntity, "invalid", "MAX_CLICKS")
		status, body = via.send(http.MethodPost, "/api/rooms/demo/links", `{"name":"e","max_clicks":1,"max_clicks":5}`)
		wantAPIError(t, via.name+": max_clicks twice", status, body, http.StatusBadRequest, "duplicate_key", "max_clicks")
		status, body = via.send(http.MethodPut, "/api/rooms/demo/guest-access", `{"enabled":true,"enabled":false}`)
		wantAPIError(t, via.name+": enabled twice", status, body, http.StatusBadRequest, "duplicate_key", "enabled")
	}

	var room admin.RoomJSON
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/demo", nil, &room)
	if len(room.Links) != 0 {
		t.Errorf("the refused bodies made %d links: %+v", len(room.Links), room.Links)
	}
	if !room.GuestAccess {
		t.Error("a refused body with enabled twice switched guest access off")
	}

	var l admin.LinkJSON
	g.mustAPI(http.StatusCreated, http.MethodPost, "/api/rooms/demo/links", `{"name":"d","max_clicks":1}`, &l)
	if l.MaxClicks == nil || *l.MaxClicks != 1 {
		t.Errorf("the control link has max_clicks %v, want 1", l.MaxClicks)
	}
	var links []admin.LinkJSON
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/demo/links", nil, &links)
	if len(links) != 1 || links[0].ID != l.ID {
		t.Errorf("links = %+v, want only the control link %s", links, l.ID)
	}
}

// TestCSVFormulaGuard: guests whose names hide a formula behind invisible
// characters (U+200B, U+FEFF, U+2060, U+200E: characters the entry form keeps,
// unlike the spaces it trims) redeem a real link through the entry form; in
// the guest list's CSV (?format=csv) each such name starts with the guard's
// apostrophe and is otherwise exactly what the guest typed, and no field's
// first visible character is =, +, - or @. Names with nothing to guard are left
// alone.
func TestCSVFormulaGuard(t *testing.T) {
	g := startGateway(t, config{})
	l := g.openRoomWithLink("demo", map[string]any{"name": "Everyone"})
	path := linkPath(t, l)
	guests := []struct {
		name    string
		guarded bool
	}{
		{"\u200b=HYPERLINK(\"http://evil.example\",\"x\")", true},
		{"\ufeff+1+1", true},
		{"\u2060-2+3", true},
		{"\u200e@SUM(A1)", true},
		{"\u200b\u200b \ufeff=1", true},
		{"Ada \u200b=Lovelace", false},
		{"\u200bZoë", false},
	}
	for i, gu := range guests {
		g.browser().mustRedeem(path, gu.name, fmt.Sprintf("guest%d@example.com", i), "demo")
	}

	status, body := g.api(http.MethodGet, "/api/rooms/demo/guests?format=csv", nil)
	if status != http.StatusOK {
		t.Fatalf("the CSV guest list: %d %s", status, body)
	}
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v\n%s", err, body)
	}
	if len(recs) != 1+len(guests) || recs[0][1] != "name" {
		t.Fatalf("the CSV has %d rows (header %q), want a header and %d guests:\n%s", len(recs), recs[0], len(guests), body)
	}
	var names []string
	for _, rec := range recs[1:] {
		names = append(names, rec[1])
		for _, f := range rec {
			visible := strings.TrimLeftFunc(f, func(r rune) bool { return unicode.In(r, unicode.Zs, unicode.Cc, unicode.Cf) })
			if visible != "" && strings.ContainsRune("=+-@", []rune(visible)[0]) {
				t.Errorf("CSV field %+q starts, past invisible characters, like a formula", f)
			}
		}
	}
	for _, gu := range guests {
		want := gu.name
		if gu.guarded {
			want = "'" + gu.name
		}
		if !slices.Contains(names, want) {
			t.Errorf("no CSV row has the name %+q (names: %+q)", want, names)
		}
	}
}

// TestAuthRateLimit: failed authentications on the moderator API share a budget
// per client (300 wrong keys got 300 answers 401). The
// client is Caddy's client IP: with trusted_proxies, X-Forwarded-For names it;
// without, the peer address counts whatever X-Forwarded-For claims, so rotating
// it buys a guesser nothing.
func TestAuthRateLimit(t *testing.T) {
	const wrongKey = "integration-test-api-key-WRONG-456789"
	trusted := []string{`servers {
	trusted_proxies static 127.0.0.0/8
}`}

	// With rate_limit { auth_failures 5 1h } no refill can happen during the
	// test: 5 failures of any kind are 401, then every request of that client,
	// the right key included, is 429 rate_limited with Retry-After 720 (one
	// event's share of the hour); the Manage page still opens. Another client
	// through the same proxy, and the proxy itself, keep their own budgets and
	// the right key works from a fresh address. Successes cost nothing.
	t.Run("custom budget through a proxy", func(t *testing.T) {
		g := newGateway(t)
		g.load(config{Global: trusted, AdminExtra: []string{`rate_limit {
	auth_failures 5 1h
}`}})
		g.putRoom("demo", map[string]any{"name": "Demo room"})
		proxy := rlClient(t, "127.0.0.8")
		const guesser, other, careful = "203.0.113.1", "203.0.113.2", "203.0.113.3"

		for i, cred := range []string{"", wrongKey, apiKey + "x", "not.a.jwt", wrongKey} {
			status, _, body := apiFrom(t, g, proxy, guesser, cred, http.MethodPut, "/api/rooms/demo/guest-access", `{"enabled":true}`)
			wantAPIError(t, fmt.Sprintf("failure %d of 5", i+1), status, body, http.StatusUnauthorized, "unauthorized", "")
		}
		limited := func(what, cred, method, path, body string) {
			t.Helper()
			status, header, b := apiFrom(t, g, proxy, guesser, cred, method, path, body)
			wantAPIError(t, what, status, b, http.StatusTooManyRequests, "rate_limited", "")
			if ra := header.Get("Retry-After"); ra != "720" {
				t.Errorf("%s: Retry-After %q, want 720 (3600 s / 5)", what, ra)
			}
		}
		limited("a 6th wrong key", wrongKey, http.MethodGet, "/api/rooms/demo", "")
		limited("the right key past the budget", apiKey, http.MethodPut, "/api/rooms/demo/guest-access", `{"enabled":true}`)
		limited("no key past the budget", "", http.MethodGet, "/api/rooms/demo", "")
		if status, _, _ := apiFrom(t, g, proxy, guesser, "", http.MethodGet, "/", ""); status != http.StatusOK {
			t.Errorf("the Manage page past the budget: %d, want 200", status)
		}
		var room admin.RoomJSON
		g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/demo", nil, &room)
		if room.GuestAccess {
			t.Error("a refused PUT switched guest access on")
		}

		// Another client through the same proxy, the proxy itself.
		status, _, body := apiFrom(t, g, proxy, other, wrongKey, http.MethodGet, "/api/rooms/demo", "")
		wantAPIError(t, "a wrong key from another client", status, body, http.StatusUnauthorized, "unauthorized", "")
		if status, _, body := apiFrom(t, g, proxy, other, apiKey, http.MethodGet, "/api/rooms/demo", ""); status != http.StatusOK {
			t.Errorf("the right key from another client: %d %s", status, body)
		}
		if status, _, body := apiFrom(t, g, proxy, "", apiKey, http.MethodGet, "/api/rooms/demo", ""); status != http.StatusOK {
			t.Errorf("the right key from the proxy itself: %d %s", status, body)
		}

		// Successes cost nothing: 50 of them, then still 5 failures.
		for i := range 50 {
			if status, _, body := apiFrom(t, g, proxy, careful, apiKey, http.MethodGet, "/api/rooms/demo", ""); status != http.StatusOK {
				t.Fatalf("success %d: %d %s", i+1, status, body)
			}
		}
		for i := 1; i <= 6; i++ {
			want := http.StatusUnauthorized
			if i == 6 {
				want = http.StatusTooManyRequests
			}
			if status, _, body := apiFrom(t, g, proxy, careful, wrongKey, http.MethodGet, "/api/rooms/demo", ""); status != want {
				t.Errorf("after 50 successes, failure %d: %d %s, want %d", i, status, body, want)
			}
		}
	})

	// Without trusted_proxies a peer is one client whatever X-Forwarded-For it
	// sends; another peer address is another client.
	t.Run("no trusted proxies", func(t *testing.T) {
		g := newGateway(t)
		g.load(config{AdminExtra: []string{`rate_limit {
	auth_failures 3 1h
}`}})
		peer := rlClient(t, "127.0.0.9")
		for i := 1; i <= 4; i++ {
			want := http.StatusUnauthorized
			if i == 4 {
				want = http.StatusTooManyRequests
			}
			xff := fmt.Sprintf("198.51.100.%d", i)
			if status, _, body := apiFrom(t, g, peer, xff, wrongKey, http.MethodGet, "/api/rooms/demo", ""); status != want {
				t.Errorf("failure %d claiming %s: %d %s, want %d", i, xff, status, body, want)
			}
		}
		if status, _, body := apiFrom(t, g, rlClient(t, "127.0.0.10"), "", apiKey, http.MethodGet, "/api/rooms/demo", ""); status != http.StatusNotFound {
			t.Errorf("the right key from another peer: %d %s, want 404 room_not_found", status, body)
		}
	})

	// The default budget: 30 failures, then 429 with Retry-After 2 (60 s / 30),
	// unless the bucket refilled (one event every 2 s) while they were sent.
	t.Run("default budget", func(t *testing.T) {
		g := newGateway(t)
		g.load(config{})
		client := rlClient(t, "127.0.0.11")
		start := time.Now()
		statuses := map[int]int{}
		for range 30 {
			status, _, _ := apiFrom(t, g, client, "", wrongKey, http.MethodGet, "/api/rooms/demo", "")
			statuses[status]++
		}
		status, header, body := apiFrom(t, g, client, "", wrongKey, http.MethodGet, "/api/rooms/demo", "")
		took := time.Since(start)
		if statuses[http.StatusUnauthorized] != 30 {
			t.Errorf("30 failures within the default budget got %v (status: count), want 30 times 401", statuses)
		}
		if refills := int(took / (2 * time.Second)); refills == 0 {
			wantAPIError(t, "failure 31", status, body, http.StatusTooManyRequests, "rate_limited", "")
			if ra := header.Get("Retry-After"); ra != "2" {
				t.Errorf("failure 31: Retry-After %q, want 2", ra)
			}
		} else {
			t.Logf("31 failures took %v: the budget refilled %d times, failure 31 got %d", took, refills, status)
		}
	})
}

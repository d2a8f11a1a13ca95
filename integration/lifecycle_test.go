package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/admin"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/teststore"
	badgerstore "github.com/guestgate/guestgate/store/badger"
)

// TestExpiredLink: links made ten days ago (with an injected clock, straight in
// the store before Caddy starts) with a duration of one day show link-expired
// (410) and spend nothing; one of eleven days still works.
func TestExpiredLink(t *testing.T) {
	g := newGateway(t)
	past := time.Now().Add(-10 * 24 * time.Hour).UTC().Truncate(time.Second)

	svc, closeStore := g.openStore(func() time.Time { return past })
	one, eleven := 1, 11
	links := teststore.RoomWithLinks(t, svc, "demo", guestlink.RoomSpec{Name: "Demo room"},
		guestlink.LinkSpec{Name: "One day", DurationDays: &one}, guestlink.LinkSpec{Name: "Eleven days", DurationDays: &eleven})
	expired, valid := links[0], links[1]
	closeStore()

	g.load(config{})

	// The API shows what the injected clock made.
	l := g.link("demo", expired.ID)
	if !l.CreatedAt.Equal(past) || l.ExpiresAt == nil || !l.ExpiresAt.Equal(past.Add(24*time.Hour)) || l.Active || l.Clicks != 0 {
		t.Errorf("expired link in the API = %+v, want created %v, expires a day later, inactive, 0 clicks", l, past)
	}
	if v := g.link("demo", valid.ID); !v.Active {
		t.Errorf("eleven-day link made ten days ago is not active: %+v", v)
	}

	b := g.browser()
	expiredPath := "/guest/" + expired.Token
	for range 3 {
		wantPage(t, "GET expired link", b.get(expiredPath), http.StatusGone, "link-expired")
	}
	h := b.do(b.request(http.MethodHead, expiredPath, nil))
	if h.Status != http.StatusGone {
		t.Errorf("HEAD expired link: %d, want 410", h.Status)
	}
	p := b.post(expiredPath, map[string][]string{"name": {"Ada"}, "email": {"ada@example.com"}}, nil)
	wantPage(t, "POST expired link", p, http.StatusGone, "link-expired")
	if p.sessionCookie() != nil {
		t.Errorf("POST to an expired link set the session cookie")
	}
	if n := g.clicks("demo", expired.ID); n != 0 {
		t.Errorf("clicks of the expired link = %d, want 0", n)
	}

	// The clock was the only difference: the eleven-day link redeems.
	b.mustRedeem("/guest/"+valid.Token, "Ada", "ada@example.com", "demo")
	if n := g.clicks("demo", valid.ID); n != 1 {
		t.Errorf("clicks of the valid link = %d, want 1", n)
	}
	wantPage(t, "room through the valid link", b.get("/rooms/demo"), http.StatusOK, "")
}

// snapshot is the state the reload test checks is kept.
type snapshot struct {
	room   admin.RoomJSON
	clicks map[string]int
}

func (g *gateway) snapshot(room string) snapshot {
	g.t.Helper()
	var r admin.RoomJSON
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/"+room, nil, &r)
	s := snapshot{room: r, clicks: map[string]int{}}
	for _, l := range r.Links {
		s.clicks[l.ID] = l.Clicks
	}
	return s
}

func wantSameState(t *testing.T, what string, got, want snapshot) {
	t.Helper()
	if got.room.Name != want.room.Name || got.room.GuestAccess != want.room.GuestAccess || len(got.room.Links) != len(want.room.Links) {
		t.Errorf("%s: room %+v, want %+v", what, got.room, want.room)
	}
	for id, n := range want.clicks {
		if got.clicks[id] != n {
			t.Errorf("%s: link %s has %d clicks, want %d (all: %v)", what, id, got.clicks[id], n, got.clicks)
		}
	}
}

// TestReloadKeepsState: a config reload on the same store keeps rooms, links,
// counts and guest sessions, and logs no lock error; so does a full stop and
// start. A failed reload leaves the running config and the store working.
func TestReloadKeepsState(t *testing.T) {
	g := newGateway(t)
	cfg1 := config{AdminExtra: []string{`room demo "Demo room"`}}
	cfg2 := config{AdminExtra: cfg1.AdminExtra, Allow: "/rooms/{room} /rooms/{room}/* /static/*", Order: true}
	g.load(cfg1)

	g.setAccess("demo", true)
	l1 := g.createLink("demo", map[string]any{"name": "Three", "max_clicks": 3})
	l2 := g.createLink("demo", map[string]any{"name": "Open"})
	guest := g.browser()
	guest.mustRedeem(linkPath(t, l1), "Zoë Ada", "zoe@example.com", "demo")
	for range 2 {
		g.browser().mustRedeem(linkPath(t, l2), "Bo", "bo@example.com", "demo")
	}
	wantPage(t, "static before the reload", guest.get("/static/app.css"), http.StatusForbidden, "not-allowed")
	want := g.snapshot("demo")
	if want.clicks[l1.ID] != 1 || want.clicks[l2.ID] != 2 {
		t.Fatalf("clicks before the reload = %v, want 1 and 2", want.clicks)
	}

	inside := func(what string, b *browser) {
		t.Helper()
		if p, ok := b.reaches("/rooms/demo"); !ok {
			t.Errorf("%s: the guest's room answers %d (reason %q), want 200 from the upstream", what, p.Status, p.reason())
			return
		}
		if name := g.up.last(t).Header.Get("X-Guest-Name"); name != "Zo%C3%AB%20Ada" {
			t.Errorf("%s: upstream X-Guest-Name = %q, want Zo%%C3%%AB%%20Ada", what, name)
		}
	}
	inside("before the reload", guest)

	// Reload (three times, alternating, as an operator editing the Caddyfile might).
	for i, cfg := range []config{cfg2, cfg1, cfg2} {
		g.load(cfg)
		wantSameState(t, "after reload "+string(rune('1'+i)), g.snapshot("demo"), want)
	}
	// The new config is the one serving: /static/* is allowed now.
	if p := guest.get("/static/app.css"); p.Status != http.StatusOK {
		t.Errorf("static after the reload: %d (reason %q), want 200: the reload did not take effect", p.Status, p.reason())
	}
	inside("after the reloads", guest)
	// Redemptions go on counting from where they were.
	guest2 := g.browser()
	guest2.mustRedeem(linkPath(t, l1), "Cy", "cy@example.com", "demo")
	want.clicks[l1.ID] = 2
	wantSameState(t, "after a redemption following the reloads", g.snapshot("demo"), want)

	// A reload that fails (a signing key too short) leaves the running config.
	err := g.tryLoad(config{AdminExtra: cfg1.AdminExtra, GatewayExtra: []string{"signing_key too-short"}})
	t.Logf("the failed reload: %v", err)
	if err == nil {
		t.Errorf("a config with a 9-byte signing key loaded")
	} else if lockError.MatchString(err.Error()) {
		t.Errorf("the failed reload's error mentions a lock: %v", err)
	}
	wantSameState(t, "after a failed reload", g.snapshot("demo"), want)
	inside("after a failed reload", guest)

	logs := g.logs()
	if !strings.Contains(logs, `"msg"`) {
		t.Fatalf("Caddy's log %s holds no JSON log line; the log check would prove nothing:\n%s", g.logPath, logs)
	}
	t.Logf("Caddy's log has %d lines", strings.Count(logs, "\n"))
	// Link tokens and session tokens are never logged (STYLE).
	for _, secret := range []string{strings.TrimPrefix(linkPath(t, l1), "/guest/"), strings.TrimPrefix(linkPath(t, l2), "/guest/"), guest.sessionValue()} {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("Caddy's log holds a link or session token")
		}
	}
	if lines := lockLines(logs); len(lines) > 0 {
		t.Errorf("Caddy logged lock errors during the reloads:\n%s", strings.Join(lines, "\n"))
	}

	// A full stop closes the store: the directory can be opened by someone else.
	g.stop()
	if s, err := badgerstore.Open(g.storeDir, badgerstore.Options{}); err != nil {
		t.Errorf("after caddy.Stop the store is still held: %v", err)
	} else if err := s.Close(); err != nil {
		t.Errorf("closing the store: %v", err)
	}

	// Start again on the same store: everything is there, the cookie still works.
	g.load(cfg2)
	wantSameState(t, "after stop and start", g.snapshot("demo"), want)
	inside("after stop and start", guest)
	g.browser().mustRedeem(linkPath(t, l1), "Cy", "cy@example.com", "demo")
	want.clicks[l1.ID] = 3
	wantSameState(t, "after a redemption following the restart", g.snapshot("demo"), want)
	wantPage(t, "the 3-click link after 3 redemptions", g.browser().get(linkPath(t, l1)), http.StatusGone, "link-used-up")
	if lines := lockLines(g.logs()); len(lines) > 0 {
		t.Errorf("Caddy logged lock errors after the restart:\n%s", strings.Join(lines, "\n"))
	}

	// And the last stop releases the store too.
	g.stop()
	if s, err := badgerstore.Open(g.storeDir, badgerstore.Options{}); err != nil {
		t.Errorf("after the last caddy.Stop the store is still held: %v", err)
	} else {
		_ = s.Close()
	}
}

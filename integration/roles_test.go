package integration

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/admin"
)

// Roles and opening times (docs/DESIGN.md section 7), through a real Caddy
// and a recording upstream: the role a link gives reaches the upstream in
// X-Guest-Role, the session and the identity token; speakers skip the lobby
// that viewers wait in; a link that opens later refuses everything before
// its time, spending nothing, and works from it on.

// TestSpeakersSkipTheLobby: in a room where a moderator admits guests, a
// viewer's redemption leads to the lobby and a speaker's straight into the
// room, with the role in the session, the upstream's headers and the identity
// token. The guest list says who is which.
func TestSpeakersSkipTheLobby(t *testing.T) {
	g := startGateway(t, config{})
	g.putRoom("talk", map[string]any{"name": "Talk", "admission": "moderator"})
	g.setAccess("talk", true)
	viewers := g.createLink("talk", map[string]any{"name": "Audience"})
	speakers := g.createLink("talk", map[string]any{"name": "Panel", "role": "speaker"})
	if viewers.Role != "viewer" || speakers.Role != "speaker" {
		t.Fatalf("links' roles %q and %q, want viewer and speaker", viewers.Role, speakers.Role)
	}

	viewer := g.browser()
	if claims := viewer.join(linkPath(t, viewers), "Vera", "vera@example.com"); claims["role"] != "viewer" {
		t.Errorf("the viewer's session has role %v, want viewer", claims["role"])
	}
	wantPage(t, "the waiting viewer's room page", viewer.get("/rooms/talk"), http.StatusSeeOther, "")

	speaker := g.browser()
	p := speaker.mustRedeem(linkPath(t, speakers), "Sam", "sam@example.com", "talk")
	if claims := claimsOf(t, p.sessionCookie().Value); claims["role"] != "speaker" || claims["st"] != "admitted" {
		t.Errorf("the speaker's session has role %v and st %v, want speaker and admitted", claims["role"], claims["st"])
	}
	before := g.up.count()
	if p := speaker.get("/rooms/talk"); p.Status != http.StatusOK || g.up.count() != before+1 {
		t.Fatalf("the speaker's room page: %d, want 200 from the upstream", p.Status)
	}
	up := g.up.last(t)
	if got := up.Header.Values("X-Guest-Role"); len(got) != 1 || got[0] != "speaker" {
		t.Errorf("upstream X-Guest-Role = %q, want [speaker]", got)
	}
	verifyIdentityToken(t, speaker, up.Header, "talk", speakers.ID, "Sam", "sam@example.com")

	var page admin.GuestPageJSON
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/talk/guests", nil, &page)
	roles := map[string]string{}
	for _, gu := range page.Guests {
		roles[gu.Name] = gu.Role + "/" + gu.State
	}
	if roles["Vera"] != "viewer/waiting" || roles["Sam"] != "speaker/admitted" {
		t.Errorf("guest list roles and states %v, want Vera viewer/waiting and Sam speaker/admitted", roles)
	}
}

// TestSharedLinksNeverGiveModerator: a link asking for the moderator role,
// or for an unknown one, is refused on the field role, and no link is made.
func TestSharedLinksNeverGiveModerator(t *testing.T) {
	g := startGateway(t, config{})
	g.putRoom("demo", map[string]any{"name": "Demo"})
	g.setAccess("demo", true)
	for _, role := range []string{"moderator", "host", "Speaker"} {
		status, body := g.api(http.MethodPost, "/api/rooms/demo/links", map[string]any{"name": "x", "role": role})
		wantAPIError(t, "a link with role "+role, status, body, http.StatusUnprocessableEntity, "invalid", "role")
	}
	var links []admin.LinkJSON
	g.mustAPI(http.StatusOK, http.MethodGet, "/api/rooms/demo/links", nil, &links)
	if len(links) != 0 {
		t.Errorf("refused links were made: %+v", links)
	}
}

var opensRE = regexp.MustCompile(`<time id="opens-at" datetime="([^"]+)" data-wait-ms="(\d+)">`)

// TestNotBefore: before its opening time a link's URL answers 403
// not-yet-open with the time, for a GET and for a POST of the entry form, and
// spends nothing; the API shows it inactive with its not_before. From the
// opening time on it is an ordinary link. Opening times are validated.
func TestNotBefore(t *testing.T) {
	g := startGateway(t, config{})
	g.putRoom("class", map[string]any{"name": "Class"})
	g.setAccess("class", true)
	opens := time.Now().Add(2 * time.Second).UTC().Truncate(time.Second).Add(time.Second)
	l := g.createLink("class", map[string]any{"name": "Later", "not_before": opens.Format(time.RFC3339), "duration_days": 1})
	if l.NotBefore == nil || !l.NotBefore.Equal(opens) || l.Active {
		t.Fatalf("link not_before %v active %v, want %v and inactive", l.NotBefore, l.Active, opens)
	}

	b := g.browser()
	path := linkPath(t, l)
	early := b.get(path)
	wantPage(t, "the link before it opens", early, http.StatusForbidden, "not-yet-open")
	m := opensRE.FindStringSubmatch(early.Body)
	if m == nil || m[1] != opens.Format(time.RFC3339) {
		t.Fatalf("the not-yet-open page does not carry the opening time %s: %s", opens.Format(time.RFC3339), early.Body)
	}
	if wait, _ := strconv.Atoi(m[2]); wait <= 0 || time.Duration(wait)*time.Millisecond > 4*time.Second {
		t.Errorf("data-wait-ms = %s, want the time until %s", m[2], opens)
	}
	post := b.post(path, url.Values{"name": {"Early"}, "email": {"early@example.com"}, "csrf": {"x"}}, nil)
	wantPage(t, "the entry form posted before the link opens", post, http.StatusForbidden, "not-yet-open")
	if post.sessionCookie() != nil {
		t.Errorf("a session cookie was set before the link opened")
	}
	if c := g.clicks("class", l.ID); c != 0 {
		t.Errorf("%d clicks spent before the link opened, want 0", c)
	}

	time.Sleep(time.Until(opens))
	b.mustRedeem(path, "On Time", "ontime@example.com", "class")
	if got := g.link("class", l.ID); got.Clicks != 1 || !got.Active {
		t.Errorf("after opening: clicks %d active %v, want 1 and active", got.Clicks, got.Active)
	}

	// The opening time's rules: not after the link expires, at most 365 days
	// ahead, and a time.
	for _, tc := range []struct {
		name string
		spec map[string]any
	}{
		{"after expiry", map[string]any{"name": "x", "duration_days": 1, "not_before": time.Now().Add(48 * time.Hour).Format(time.RFC3339)}},
		{"366 days ahead", map[string]any{"name": "x", "not_before": time.Now().AddDate(0, 0, 366).Format(time.RFC3339)}},
		{"not a time", map[string]any{"name": "x", "not_before": "next monday"}},
	} {
		status, body := g.api(http.MethodPost, "/api/rooms/class/links", tc.spec)
		wantAPIError(t, "not_before "+tc.name, status, body, http.StatusUnprocessableEntity, "invalid", "not_before")
	}
}

// TestRoleRules: the gate's per-role rules with a real Caddy and a recording
// upstream, as docs/DESIGN.md section 7 writes them: a viewer may only read,
// except on the chat path; a speaker may also reach the stage. A request
// outside its role's rules is 403 not-allowed and never reaches the upstream.
func TestRoleRules(t *testing.T) {
	g := startGateway(t, config{
		Allow: "/rooms/{room} /rooms/{room}/*",
		GatewayExtra: []string{`role viewer {
			methods GET HEAD OPTIONS
			write   /rooms/{room}/chat
		}`, `role speaker {
			allow /stage/{room} /stage/{room}/*
		}`},
	})
	g.putRoom("demo", map[string]any{"name": "Demo"})
	g.setAccess("demo", true)
	viewer, speaker := g.browser(), g.browser()
	viewer.mustRedeem(linkPath(t, g.createLink("demo", map[string]any{"name": "Audience"})), "Vera", "vera@example.com", "demo")
	speaker.mustRedeem(linkPath(t, g.createLink("demo", map[string]any{"name": "Panel", "role": "speaker"})), "Sam", "sam@example.com", "demo")

	for _, tc := range []struct {
		who          string
		b            *browser
		method, path string
		pass         bool
	}{
		{"viewer", viewer, http.MethodGet, "/rooms/demo", true},
		{"viewer", viewer, http.MethodHead, "/rooms/demo/slides.pdf", true},
		{"viewer", viewer, http.MethodPost, "/rooms/demo/chat", true},
		{"viewer", viewer, http.MethodPut, "/rooms/demo/chat", true},
		{"viewer", viewer, http.MethodPost, "/rooms/demo", false},
		{"viewer", viewer, http.MethodPost, "/rooms/demo/chat/../hand", false},
		{"viewer", viewer, http.MethodPost, "/rooms/demo/chat2", false},
		{"viewer", viewer, http.MethodDelete, "/rooms/demo/chat/1", false},
		{"viewer", viewer, http.MethodGet, "/stage/demo/", false},
		{"viewer", viewer, http.MethodGet, "/stage/demo", false},
		{"speaker", speaker, http.MethodGet, "/stage/demo/", true},
		{"speaker", speaker, http.MethodPost, "/stage/demo/slides", true},
		{"speaker", speaker, http.MethodPost, "/rooms/demo", true},
		{"speaker", speaker, http.MethodDelete, "/rooms/demo/chat/1", true},
		{"speaker", speaker, http.MethodGet, "/stage/other/", false},
		{"speaker", speaker, http.MethodGet, "/", false},
	} {
		before := g.up.count()
		p := tc.b.do(tc.b.request(tc.method, tc.path, strings.NewReader("x")))
		reached := g.up.count() != before
		switch {
		case tc.pass && (p.Status != http.StatusOK || !reached):
			t.Errorf("%s %s %s: %d (reached the upstream: %v), want 200 from the upstream", tc.who, tc.method, tc.path, p.Status, reached)
		case tc.pass && g.up.last(t).Header.Get("X-Guest-Role") != tc.who:
			t.Errorf("%s %s %s: upstream X-Guest-Role %q", tc.who, tc.method, tc.path, g.up.last(t).Header.Get("X-Guest-Role"))
		case !tc.pass && (p.Status != http.StatusForbidden || reached):
			t.Errorf("%s %s %s: %d (reached the upstream: %v), want 403 and nothing upstream", tc.who, tc.method, tc.path, p.Status, reached)
		case !tc.pass && tc.method != http.MethodHead && p.reason() != "not-allowed" && p.Status == http.StatusForbidden:
			t.Errorf("%s %s %s: data-reason %q, want not-allowed", tc.who, tc.method, tc.path, p.reason())
		}
	}
}

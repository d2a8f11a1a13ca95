package admin

import (
	"context"
	"encoding/csv"
	"errors"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/teststore"
)

// lobbyEnv is a moderator API on a real Badger store with an injected clock, and
// the guestlink.Service of the same store that the guest pages would use, so that
// guests are made by real redemptions.
type lobbyEnv struct {
	t     *testing.T
	h     *Handler
	svc   *guestlink.Service
	now   *time.Time
	token string // the token of the room's link
	link  guestlink.Link
}

// newLobbyEnv makes room "demo" with admission moderator, guest access on and one
// link named "Speakers"; lobbyTimeout 0 is the default (2m).
func newLobbyEnv(t *testing.T, lobbyTimeout time.Duration) *lobbyEnv {
	t.Helper()
	svc, now := teststore.Service(t, epoch)
	svc.LobbyTimeout = lobbyTimeout
	h, err := New(Config{Service: svc, Authenticators: apiKeys(t, testKey), LinkBase: "https://rooms.example.com/guest/"})
	if err != nil {
		t.Fatal(err)
	}
	e := &lobbyEnv{t: t, h: h, svc: svc, now: now}
	e.mustStatus(201, "PUT", "/api/rooms/demo", `{"name":"Demo room","admission":"moderator"}`)
	e.mustStatus(200, "PUT", "/api/rooms/demo/guest-access", `{"enabled":true}`)
	ctx := context.Background()
	l, err := svc.CreateLink(ctx, "demo", guestlink.LinkSpec{Name: "Speakers"})
	if err != nil {
		t.Fatal(err)
	}
	e.link, e.token = l, l.Token
	return e
}

// tick moves the injected clock on.
func (e *lobbyEnv) tick(d time.Duration) { *e.now = e.now.Add(d) }

// redeem redeems the link as a guest would (one click) and returns the guest.
func (e *lobbyEnv) redeem(name, email string) guestlink.Guest {
	e.t.Helper()
	_, _, g, err := e.svc.Redeem(context.Background(), e.token, guestlink.GuestInput{Name: name, Email: email})
	if err != nil {
		e.t.Fatalf("redeeming as %q: %v", name, err)
	}
	if g.State != guestlink.StateWaiting {
		e.t.Fatalf("a guest of a moderator-admission room starts %q, want waiting", g.State)
	}
	return g
}

func (e *lobbyEnv) do(method, path, body string) result {
	e.t.Helper()
	return do(e.t, e.h, method, path, body, testKey)
}

func (e *lobbyEnv) mustStatus(status int, method, path, body string) result {
	e.t.Helper()
	r := e.do(method, path, body)
	if r.status != status {
		e.t.Fatalf("%s %s: %d %v %v, want %d", method, path, r.status, r.body, r.list, status)
	}
	return r
}

// lobbyIDs lists the ids GET .../lobby shows, in order.
func (e *lobbyEnv) lobbyIDs() []string {
	e.t.Helper()
	r := e.mustStatus(200, "GET", "/api/rooms/demo/lobby", "")
	if r.list == nil {
		e.t.Fatalf("lobby: the body is not a JSON array: %v", r.body)
	}
	var ids []string
	for _, x := range r.list {
		ids = append(ids, x.(map[string]any)["id"].(string))
	}
	return ids
}

// state is the guest's stored state.
func (e *lobbyEnv) state(id string) string {
	e.t.Helper()
	g, err := e.svc.Store.Guest(context.Background(), "demo", id)
	if err != nil {
		e.t.Fatalf("reading guest %s: %v", id, err)
	}
	return g.State
}

func ids(gs ...guestlink.Guest) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.ID)
	}
	return out
}

// TestLobbyList: the lobby lists waiting guests oldest first with the fields of
// docs/DESIGN.md (guest id, name, email, link id and name, waiting since); decided
// guests leave the list.
func TestLobbyList(t *testing.T) {
	e := newLobbyEnv(t, 0)
	if got := e.lobbyIDs(); len(got) != 0 {
		t.Fatalf("empty lobby lists %v", got)
	}
	r := e.mustStatus(200, "GET", "/api/rooms/demo/lobby", "")
	if r.list == nil || len(r.list) != 0 {
		t.Errorf("an empty lobby must be [] (not null): %v %v", r.list, r.body)
	}

	var gs []guestlink.Guest
	for _, n := range []string{"Ada", "Bo", "Cy"} {
		gs = append(gs, e.redeem(n, strings.ToLower(n)+"@example.com"))
		e.tick(time.Second)
	}
	r = e.mustStatus(200, "GET", "/api/rooms/demo/lobby", "")
	if len(r.list) != 3 {
		t.Fatalf("lobby: %v, want 3 guests", r.list)
	}
	for i, x := range r.list {
		got := x.(map[string]any)
		want := map[string]any{
			"id": gs[i].ID, "name": gs[i].Name, "email": gs[i].Email,
			"link_id": e.link.ID, "link_name": "Speakers",
			"waiting_since": epoch.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano),
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("lobby entry %d: %s = %v, want %v (entry %v)", i, k, got[k], v, got)
			}
		}
	}

	// A decision takes the guest out of the lobby; the rest keep their order.
	e.mustStatus(200, "POST", "/api/rooms/demo/lobby/"+gs[1].ID+"/admit", "")
	if got, want := e.lobbyIDs(), ids(gs[0], gs[2]); !slices.Equal(got, want) {
		t.Errorf("lobby after admitting the second guest = %v, want %v", got, want)
	}
	e.mustStatus(200, "POST", "/api/rooms/demo/lobby/"+gs[0].ID+"/deny", "")
	if got, want := e.lobbyIDs(), ids(gs[2]); !slices.Equal(got, want) {
		t.Errorf("lobby after declining the first guest = %v, want %v", got, want)
	}

	r = e.do("GET", "/api/rooms/nope/lobby", "")
	if code, _ := errCode(r); r.status != 404 || code != "room_not_found" {
		t.Errorf("lobby of an unknown room: %d %v, want 404 room_not_found", r.status, r.body)
	}
}

// TestLobbyDecisions: admit and deny answer 200 with the guest; repeating a
// decision is harmless; deciding the other way is 409 already_decided; an unknown
// guest is 404 guest_not_found.
func TestLobbyDecisions(t *testing.T) {
	e := newLobbyEnv(t, 0)
	a := e.redeem("Ada", "ada@example.com")
	d := e.redeem("Dee", "dee@example.com")
	rm := e.redeem("Rem", "rem@example.com")
	lobby := "/api/rooms/demo/lobby/"

	steps := []struct {
		what, path  string
		status      int
		code, state string
	}{
		{"admit", lobby + a.ID + "/admit", 200, "", "admitted"},
		{"admit again", lobby + a.ID + "/admit", 200, "", "admitted"},
		{"deny after admit", lobby + a.ID + "/deny", 409, "already_decided", "admitted"},
		{"deny", lobby + d.ID + "/deny", 200, "", "declined"},
		{"deny again", lobby + d.ID + "/deny", 200, "", "declined"},
		{"admit after deny", lobby + d.ID + "/admit", 409, "already_decided", "declined"},
		{"unknown guest", lobby + "g_aaaaaaaaaaaaaaaa/admit", 404, "guest_not_found", ""},
		{"unknown guest deny", lobby + "g_aaaaaaaaaaaaaaaa/deny", 404, "guest_not_found", ""},
		{"malformed guest id", lobby + "nobody/admit", 404, "guest_not_found", ""},
		{"guest of another room", "/api/rooms/elsewhere/lobby/" + a.ID + "/admit", 404, "guest_not_found", ""},
	}
	for _, s := range steps {
		r := e.do("POST", s.path, "")
		code, _ := errCode(r)
		if r.status != s.status || code != s.code {
			t.Errorf("%s: %d %q %v, want %d %q", s.what, r.status, code, r.body, s.status, s.code)
			continue
		}
		if s.status == 200 && r.body["state"] != s.state {
			t.Errorf("%s: the answer shows state %v, want %s (%v)", s.what, r.body["state"], s.state, r.body)
		}
	}
	if got := e.state(a.ID); got != "admitted" {
		t.Errorf("admitted guest is stored %q after a refused deny", got)
	}
	if got := e.state(d.ID); got != "declined" {
		t.Errorf("declined guest is stored %q after a refused admit", got)
	}

	// A removed guest cannot be admitted or declined any more.
	e.mustStatus(204, "DELETE", "/api/rooms/demo/guests/"+rm.ID, "")
	for _, verb := range []string{"admit", "deny"} {
		r := e.do("POST", lobby+rm.ID+"/"+verb, "")
		if code, _ := errCode(r); r.status != 409 || code != "already_decided" {
			t.Errorf("%s a removed guest: %d %v, want 409 already_decided", verb, r.status, r.body)
		}
	}
	if got := e.state(rm.ID); got != "removed" {
		t.Errorf("removed guest is stored %q", got)
	}
}

// TestLobbyAdmitAll: admit-all admits everyone waiting, oldest first, and answers
// with the count; decided guests are left as they are; an empty lobby admits
// nobody.
func TestLobbyAdmitAll(t *testing.T) {
	e := newLobbyEnv(t, 0)
	var waiting []guestlink.Guest
	for i := range 7 {
		g := e.redeem("Guest "+string(rune('A'+i)), "g"+string(rune('a'+i))+"@example.com")
		e.tick(time.Second)
		if i == 3 {
			e.mustStatus(200, "POST", "/api/rooms/demo/lobby/"+g.ID+"/deny", "")
			continue
		}
		waiting = append(waiting, g)
	}
	r := e.mustStatus(200, "POST", "/api/rooms/demo/lobby/admit-all", "")
	if r.body["count"] != float64(len(waiting)) {
		t.Errorf("admit-all count = %v, want %d", r.body["count"], len(waiting))
	}
	list, _ := r.body["admitted"].([]any)
	var got []string
	for _, x := range list {
		m := x.(map[string]any)
		got = append(got, m["id"].(string))
		if m["state"] != "admitted" {
			t.Errorf("admit-all answer: guest %v has state %v", m["id"], m["state"])
		}
	}
	if want := ids(waiting...); !slices.Equal(got, want) {
		t.Errorf("admit-all admitted %v, want oldest first %v", got, want)
	}
	for _, g := range waiting {
		if s := e.state(g.ID); s != "admitted" {
			t.Errorf("guest %s is %q after admit-all", g.Name, s)
		}
	}
	if len(e.lobbyIDs()) != 0 {
		t.Errorf("the lobby is not empty after admit-all: %v", e.lobbyIDs())
	}

	r = e.mustStatus(200, "POST", "/api/rooms/demo/lobby/admit-all", "")
	if list, ok := r.body["admitted"].([]any); r.body["count"] != 0.0 || !ok || len(list) != 0 {
		t.Errorf("admit-all of an empty lobby: %v, want count 0 and admitted []", r.body)
	}
	r = e.do("POST", "/api/rooms/nope/lobby/admit-all", "")
	if code, _ := errCode(r); r.status != 404 || code != "room_not_found" {
		t.Errorf("admit-all of an unknown room: %d %v, want 404 room_not_found", r.status, r.body)
	}
}

// TestLobbyTimeout: a guest whose lobby page has not asked for their status for
// longer than lobby_timeout drops out of the lobby and is not admitted by
// admit-all; they stay waiting, and come back as soon as their page asks again.
func TestLobbyTimeout(t *testing.T) {
	for _, timeout := range []time.Duration{0, 5 * time.Minute} {
		t.Run("timeout "+timeout.String(), func(t *testing.T) {
			e := newLobbyEnv(t, timeout)
			eff := timeout
			if eff == 0 {
				eff = guestlink.DefaultLobbyTimeout
			}
			gone := e.redeem("Gone", "gone@example.com") // closes the page at once
			e.tick(eff / 2)
			here := e.redeem("Here", "here@example.com")

			// Just before the timeout both are listed.
			*e.now = epoch.Add(eff - time.Second)
			if got, want := e.lobbyIDs(), ids(gone, here); !slices.Equal(got, want) {
				t.Fatalf("lobby just before the timeout = %v, want %v", got, want)
			}
			// The other guest's page keeps asking.
			if _, err := e.svc.Seen(context.Background(), "demo", here.ID); err != nil {
				t.Fatal(err)
			}
			// After the timeout, the one not seen is gone from the list.
			*e.now = epoch.Add(eff + time.Second)
			if got, want := e.lobbyIDs(), ids(here); !slices.Equal(got, want) {
				t.Fatalf("lobby after the timeout = %v, want only %v", got, want)
			}
			r := e.mustStatus(200, "POST", "/api/rooms/demo/lobby/admit-all", "")
			if r.body["count"] != 1.0 {
				t.Errorf("admit-all after the timeout: %v, want count 1", r.body)
			}
			if s := e.state(gone.ID); s != "waiting" {
				t.Errorf("the guest who dropped out is %q after admit-all, want still waiting", s)
			}
			if s := e.state(here.ID); s != "admitted" {
				t.Errorf("the guest still seen is %q after admit-all, want admitted", s)
			}
			// The guest's page comes back: listed again.
			if _, err := e.svc.Seen(context.Background(), "demo", gone.ID); err != nil {
				t.Fatal(err)
			}
			if got, want := e.lobbyIDs(), ids(gone); !slices.Equal(got, want) {
				t.Errorf("lobby after the guest's page asked again = %v, want %v", got, want)
			}
		})
	}
}

// TestLobbyTimeoutOpenPage: a guest whose lobby page stays open never drops out
// of the list (only a guest "who closes the lobby page drops out"),
// although LastSeen is written only every guestlink.SeenInterval. The page asks
// with a 25 s long poll and a 2 s gap; lobby_timeout is at least 1m (the Caddy
// glue refuses less).
func TestLobbyTimeoutOpenPage(t *testing.T) {
	tests := []struct {
		timeout, every time.Duration
	}{
		{guestlink.DefaultLobbyTimeout, 27 * time.Second},
		{time.Minute, 27 * time.Second},
		{time.Minute, 14 * time.Second},
		{time.Minute, 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.timeout.String()+" polled every "+tc.every.String(), func(t *testing.T) {
			e := newLobbyEnv(t, tc.timeout)
			g := e.redeem("Ada", "ada@example.com")
			for elapsed := time.Duration(0); elapsed <= 3*time.Minute; elapsed += tc.every {
				*e.now = epoch.Add(elapsed)
				if _, err := e.svc.Seen(context.Background(), "demo", g.ID); err != nil {
					t.Fatal(err)
				}
				// The moderator looks just before the next poll.
				*e.now = epoch.Add(elapsed + tc.every - time.Millisecond)
				if got := e.lobbyIDs(); !slices.Equal(got, ids(g)) {
					t.Fatalf("lobby_timeout %v, page asking every %v: at %v after the redemption the open page's guest is not listed (lobby %v)",
						tc.timeout, tc.every, elapsed+tc.every-time.Millisecond, got)
				}
			}
		})
	}
}

// TestGuestListPages: the guest list is newest first, paginated with limit and
// cursor, shows every state, and refuses bad limits and cursors with 422.
func TestGuestListPages(t *testing.T) {
	e := newLobbyEnv(t, 0)
	var gs []guestlink.Guest
	for i := range 5 {
		gs = append(gs, e.redeem("Guest "+string(rune('A'+i)), "g"+string(rune('a'+i))+"@example.com"))
		e.tick(time.Minute)
	}
	e.mustStatus(200, "POST", "/api/rooms/demo/lobby/"+gs[1].ID+"/admit", "")
	e.mustStatus(200, "POST", "/api/rooms/demo/lobby/"+gs[2].ID+"/deny", "")
	e.mustStatus(204, "DELETE", "/api/rooms/demo/guests/"+gs[3].ID, "")
	if _, err := e.svc.Decide(context.Background(), "demo", gs[4].ID, guestlink.StateLeft); err != nil {
		t.Fatal(err)
	}
	wantStates := map[string]string{gs[0].ID: "waiting", gs[1].ID: "admitted", gs[2].ID: "declined", gs[3].ID: "removed", gs[4].ID: "left"}
	newest := []string{gs[4].ID, gs[3].ID, gs[2].ID, gs[1].ID, gs[0].ID}

	// No limit: everything on one page.
	r := e.mustStatus(200, "GET", "/api/rooms/demo/guests", "")
	all, _ := r.body["guests"].([]any)
	if r.body["next_cursor"] != "" || len(all) != 5 {
		t.Fatalf("guest list: %v, want 5 guests and next_cursor \"\"", r.body)
	}
	for i, x := range all {
		m := x.(map[string]any)
		if m["id"] != newest[i] || m["state"] != wantStates[newest[i]] || m["link_id"] != e.link.ID || m["link_name"] != "Speakers" {
			t.Errorf("guest %d: %v, want id %s state %s", i, m, newest[i], wantStates[newest[i]])
		}
		if m["redeemed_at"] != epoch.Add(time.Duration(4-i)*time.Minute).Format(time.RFC3339Nano) {
			t.Errorf("guest %d: redeemed_at %v", i, m["redeemed_at"])
		}
	}

	// Pages of 2: 2, 2, 1, newest first, no guest twice or missing.
	var got []string
	cursor, pages := "", 0
	for {
		path := "/api/rooms/demo/guests?limit=2"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		r := e.mustStatus(200, "GET", path, "")
		page, _ := r.body["guests"].([]any)
		pages++
		if len(page) > 2 {
			t.Fatalf("page %d has %d guests, limit 2", pages, len(page))
		}
		for _, x := range page {
			got = append(got, x.(map[string]any)["id"].(string))
		}
		next, _ := r.body["next_cursor"].(string)
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("the guest list never ends")
		}
		cursor = next
	}
	if pages != 3 || !slices.Equal(got, newest) {
		t.Errorf("pages of 2: %d pages with %v, want 3 pages with %v", pages, got, newest)
	}
	// A limit that exactly fits ends with an empty next_cursor.
	r = e.mustStatus(200, "GET", "/api/rooms/demo/guests?limit=5", "")
	if p, _ := r.body["guests"].([]any); len(p) != 5 || r.body["next_cursor"] != "" {
		t.Errorf("limit=5 of 5 guests: %v", r.body)
	}
	e.mustStatus(200, "GET", "/api/rooms/demo/guests?limit=1000", "")
	e.mustStatus(200, "GET", "/api/rooms/demo/guests?limit=1", "")

	bad := []struct{ query, field string }{
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=abc", "limit"},
		{"limit=-1", "limit"},
		{"limit=2.5", "limit"},
		{"cursor=abc!", "cursor"},
		{"cursor=" + url.QueryEscape("not a cursor"), "cursor"},
		{"cursor=Zm9vYmFy", "cursor"}, // base64url of "foobar"
		{"format=xml", "format"},
	}
	for _, b := range bad {
		r := e.do("GET", "/api/rooms/demo/guests?"+b.query, "")
		if code, field := errCode(r); r.status != 422 || code != "invalid" || field != b.field {
			t.Errorf("guests?%s: %d %q %q, want 422 invalid field %s (%v)", b.query, r.status, code, field, b.field, r.body)
		}
	}
	r = e.do("GET", "/api/rooms/nope/guests", "")
	if code, _ := errCode(r); r.status != 404 || code != "room_not_found" {
		t.Errorf("guests of an unknown room: %d %v", r.status, r.body)
	}
}

// TestGuestListCSV: ?format=csv is a CSV file with a header row, every field
// quoted, quotes doubled, and values a spreadsheet would read as a formula
// (starting with =, +, - or @) defused with a leading apostrophe.
func TestGuestListCSV(t *testing.T) {
	e := newLobbyEnv(t, 0)
	// The link's name comes from a moderator; it is defused too.
	l, err := e.svc.CreateLink(context.Background(), "demo", guestlink.LinkSpec{Name: "@links"})
	if err != nil {
		t.Fatal(err)
	}
	type in struct{ name, email, link string }
	guests := []in{
		{`=HYPERLINK("http://evil.example","x")`, "eq@example.com", e.token},
		{"+1+1", "+plus@example.com", e.token},
		{"-2+3", "-minus@example.com", e.token},
		{"@SUM(A1)", "at@example.com", e.token},
		{`Say "hi"`, "quote@example.com", l.Token},
		{"Zoë, Ada", "zoe@example.com", l.Token},
		{"a=b", "plain@example.com", e.token},
	}
	var made []guestlink.Guest
	for _, gi := range guests {
		_, _, g, err := e.svc.Redeem(context.Background(), gi.link, guestlink.GuestInput{Name: gi.name, Email: gi.email})
		if err != nil {
			t.Fatalf("redeeming as %q: %v", gi.name, err)
		}
		made = append(made, g)
		e.tick(time.Second)
	}
	e.mustStatus(200, "POST", "/api/rooms/demo/lobby/"+made[0].ID+"/admit", "")

	req := httptest.NewRequest("GET", "http://rooms.test/api/rooms/demo/guests?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("CSV: %d %s", w.Code, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("CSV Content-Type = %q, want text/csv", ct)
	}
	if cd := w.Header().Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") || !strings.Contains(cd, `filename="`) || !strings.Contains(cd, ".csv") {
		t.Errorf("CSV Content-Disposition = %q, want an attachment with a .csv filename", cd)
	}
	body := w.Body.String()
	lines := strings.Split(strings.TrimRight(body, "\r\n"), "\r\n")
	if len(lines) != 1+len(guests) {
		t.Fatalf("CSV has %d lines, want a header and %d rows:\n%s", len(lines), len(guests), body)
	}
	if lines[0] != `"guest_id","name","email","link_id","link_name","redeemed_at","state","role"` {
		t.Errorf("CSV header = %s", lines[0])
	}
	// Every field is quoted: read each line field by field from the raw text.
	for i, line := range lines {
		if !strings.HasPrefix(line, `"`) || !strings.HasSuffix(line, `"`) || strings.Count(line, `","`) < 6 {
			t.Errorf("CSV line %d is not fully quoted: %s", i, line)
		}
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v\n%s", err, body)
	}
	// Newest first: the rows are the guests in reverse order.
	for i, rec := range recs[1:] {
		g := made[len(made)-1-i]
		gi := guests[len(made)-1-i]
		wantName, wantEmail := gi.name, gi.email
		for _, p := range []*string{&wantName, &wantEmail} {
			if strings.ContainsAny((*p)[:1], "=+-@") {
				*p = "'" + *p
			}
		}
		wantLink, wantLinkName := e.link.ID, "Speakers"
		if gi.link == l.Token {
			wantLink, wantLinkName = l.ID, "'@links"
		}
		wantState := "waiting"
		if g.ID == made[0].ID {
			wantState = "admitted"
		}
		want := []string{g.ID, wantName, wantEmail, wantLink, wantLinkName, g.RedeemedAt.Format(time.RFC3339), wantState, "viewer"}
		if !slices.Equal(rec, want) {
			t.Errorf("CSV row %d = %q, want %q", i+1, rec, want)
		}
		for _, f := range rec {
			if f != "" && strings.ContainsAny(f[:1], "=+-@\t\r") {
				t.Errorf("CSV row %d: field %q starts like a formula", i+1, f)
			}
		}
	}
	// Quotes are doubled in the raw text.
	if !strings.Contains(body, `"Say ""hi"""`) || !strings.Contains(body, `"'=HYPERLINK(""http://evil.example"",""x"")"`) {
		t.Errorf("CSV does not double the quotes inside values:\n%s", body)
	}
}

// TestRemoveGuest: DELETE .../guests/{guest} is 204 and the guest is removed (the
// guest list says so, the lobby no longer shows them); again is harmless; an
// unknown guest is 404 guest_not_found.
func TestRemoveGuest(t *testing.T) {
	e := newLobbyEnv(t, 0)
	w := e.redeem("Waiting", "w@example.com")
	a := e.redeem("Admitted", "a@example.com")
	e.mustStatus(200, "POST", "/api/rooms/demo/lobby/"+a.ID+"/admit", "")
	for _, g := range []guestlink.Guest{w, a} {
		r := e.do("DELETE", "/api/rooms/demo/guests/"+g.ID, "")
		if r.status != 204 || r.body != nil {
			t.Errorf("DELETE %s: %d %v, want 204 and no body", g.Name, r.status, r.body)
		}
		if s := e.state(g.ID); s != "removed" {
			t.Errorf("%s is %q after DELETE, want removed", g.Name, s)
		}
		_, _, err := e.svc.Store.Session(context.Background(), "demo", e.link.ID, g.ID)
		if !errors.Is(err, guestlink.ErrGuestRemoved) {
			t.Errorf("%s: the session check after DELETE says %v, want guest removed", g.Name, err)
		}
	}
	if got := e.lobbyIDs(); len(got) != 0 {
		t.Errorf("removed guest still in the lobby: %v", got)
	}
	r := e.mustStatus(200, "GET", "/api/rooms/demo/guests", "")
	for _, x := range r.body["guests"].([]any) {
		if m := x.(map[string]any); m["state"] != "removed" {
			t.Errorf("guest list after removal: %v", m)
		}
	}
	if r := e.do("DELETE", "/api/rooms/demo/guests/"+w.ID, ""); r.status != 204 {
		t.Errorf("second DELETE: %d %v, want 204 (harmless)", r.status, r.body)
	}
	for _, id := range []string{"g_aaaaaaaaaaaaaaaa", "nobody"} {
		r := e.do("DELETE", "/api/rooms/demo/guests/"+id, "")
		if code, _ := errCode(r); r.status != 404 || code != "guest_not_found" {
			t.Errorf("DELETE unknown guest %s: %d %v, want 404 guest_not_found", id, r.status, r.body)
		}
	}
	if r := e.do("DELETE", "/api/rooms/other/guests/"+a.ID, ""); r.status != 404 {
		t.Errorf("DELETE a guest through another room: %d, want 404", r.status)
	}
}

// TestCSVFieldGuard protects the formula guard of the CSV guest list against the
// characters a spreadsheet looks past: white space (spaces,
// NBSP, the other Unicode spaces, line and paragraph separators) and invisible
// characters (U+FEFF, U+200B and the other zero-width and format characters,
// variation selectors, fillers) before =, +, - or @ used to hide a formula from
// a guard that read only the first byte. The guard decides on the first visible
// character; a field that starts with a tab or CR is guarded as before; a
// formula character later in the field, or invisible characters before a
// harmless one, change nothing.
func TestCSVFieldGuard(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		guarded  bool
	}{
		{"=", "=1+1", true},
		{"+", "+1", true},
		{"-", "-1", true},
		{"@", "@SUM(A1)", true},
		{"tab first", "\tAda", true},
		{"CR first", "\rAda", true},
		{"BOM before =", "\ufeff=HYPERLINK(\"http://evil.example\")", true},
		{"zero-width space before =", "\u200b=1", true},
		{"zero-width non-joiner before +", "\u200c+1", true},
		{"zero-width joiner before -", "\u200d-1", true},
		{"word joiner before @", "\u2060@SUM(A1)", true},
		{"Mongolian vowel separator before =", "\u180e=1", true},
		{"left-to-right mark before =", "\u200e=1", true},
		{"right-to-left override before =", "\u202e=1", true},
		{"soft hyphen before =", "\u00ad=1", true},
		{"space before =", " =1", true},
		{"spaces before =", "   =1", true},
		{"NBSP before =", "\u00a0=1", true},
		{"ideographic space before =", "\u3000=1", true},
		{"em space before +", "\u2003+1", true},
		{"narrow NBSP before -", "\u202f-1", true},
		{"line separator before =", "\u2028=1", true},
		{"paragraph separator before =", "\u2029=1", true},
		{"LF before =", "\n=1", true},
		{"NUL before =", "\x00=1", true},
		{"variation selector before =", "\ufe0f=1", true},
		{"Hangul filler before =", "\u3164=1", true},
		{"combining grapheme joiner before =", "\u034f=1", true},
		{"a mix before =", "\u200b \u00a0\ufeff\u2060=1", true},
		{"zero-width space, then tab, then =", "\u200b\t=1", true},

		{"empty", "", false},
		{"plain", "Ada Lovelace", false},
		{"= inside", "a=b", false},
		{"- inside", "Jean-Luc", false},
		{"zero-width space before a letter", "\u200bAda", false},
		{"spaces before a letter", "  Ada", false},
		{"only invisible characters", "\u200b\ufeff ", false},
		{"apostrophe first", "'=1", false},
		{"quote first", `"=1"`, false},
		{"digit first", "1=1", false},
	} {
		want := `"` + strings.ReplaceAll(tc.in, `"`, `""`) + `"`
		if tc.guarded {
			want = `"'` + strings.ReplaceAll(tc.in, `"`, `""`) + `"`
		}
		if got := csvField(tc.in); got != want {
			t.Errorf("%s: csvField(%+q) = %+q, want %+q", tc.name, tc.in, got, want)
		}
	}
}

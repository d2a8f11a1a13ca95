package entrypage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/entrypage"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/teststore"
)

var (
	roomNameRE  = regexp.MustCompile(`<p class="eyebrow" id="room-name"><bdi>([^<]*)</bdi></p>`)
	autofocusRE = regexp.MustCompile(`<input id="(name|email)"[^>]*\sautofocus[\s>]`)
)

// guestBrowser is one guest's browser against a Gateway: it keeps the cookies
// the gateway sets and sends them back.
type guestBrowser struct {
	gw      *entrypage.Gateway
	cookies map[string]*http.Cookie
}

func newGuestBrowser(gw *entrypage.Gateway) *guestBrowser {
	return &guestBrowser{gw: gw, cookies: map[string]*http.Cookie{}}
}

// do sends r with the browser's cookies; the gate's next handler answers 200.
func (b *guestBrowser) do(t *testing.T, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	for _, c := range b.cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	if err := b.gw.ServeHTTP(w, r, func(w http.ResponseWriter, _ *http.Request) error {
		w.WriteHeader(http.StatusOK)
		return nil
	}); err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return w
}

func (b *guestBrowser) get(t *testing.T, path string) *httptest.ResponseRecorder {
	t.Helper()
	return b.do(t, httptest.NewRequest(http.MethodGet, path, nil))
}

// submit opens the entry page at path and posts name and email with its
// anti-CSRF field, from the page's own origin.
func (b *guestBrowser) submit(t *testing.T, path, name, email string) *httptest.ResponseRecorder {
	t.Helper()
	m := csrfRE.FindStringSubmatch(b.get(t, path).Body.String())
	if m == nil {
		t.Fatalf("no entry form at %s", path)
	}
	return b.post(t, path, url.Values{"name": {name}, "email": {email}, "csrf": {m[1]}})
}

// post posts form to path from the page's own origin.
func (b *guestBrowser) post(t *testing.T, path string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", "http://example.com")
	return b.do(t, r)
}

// autofocused is the id of the entry form's input that has autofocus, or ""
// (and the test fails when two have it).
func autofocused(t *testing.T, body string) string {
	t.Helper()
	m := autofocusRE.FindAllStringSubmatch(body, -1)
	switch len(m) {
	case 0:
		return ""
	case 1:
		return m[0][1]
	}
	t.Errorf("several inputs have autofocus: %v", m)
	return m[0][1]
}

// TestEntryFormShowsEveryError protects the entry form's answer to a guest
// who got two things wrong: both messages, each beside its own field, in one
// answer (422, no click spent), with the cursor in the first wrong field; and
// the name field's focus when the page first opens, so that a guest can type
// at once.
func TestEntryFormShowsEveryError(t *testing.T) {
	svc, _ := teststore.Service(t, time.Now())
	l := teststore.RoomWithLinks(t, svc, "demo", guestlink.RoomSpec{Name: "Physics"}, guestlink.LinkSpec{Name: "Guests"})[0]
	gw, _ := newGateway(t, svc, []string{"/rooms/{room}"}, nil)
	path := "/guest/" + l.Token
	if body := newGuestBrowser(gw).get(t, path).Body.String(); autofocused(t, body) != "name" {
		t.Errorf("the entry page opens with the focus in %q, want name", autofocused(t, body))
	}
	for _, tc := range []struct {
		name, email string
		accept      string
		errors      map[string]string // field: message
		focus       string
	}{
		{"", "a@b", "", map[string]string{"name": "Please enter your name.", "email": "Please enter a valid email address, like name@example.com."}, "name"},
		{" ", "name@example", "de", map[string]string{"name": "Bitte geben Sie Ihren Namen ein.", "email": "Bitte geben Sie eine gültige E-Mail-Adresse ein, etwa name@example.com."}, "name"},
		{"Ada\x00", "", "he", map[string]string{"name": "השם מכיל תווים שאינם מותרים.", "email": "נא להזין כתובת דוא״ל."}, "name"},
		{"Ada", "name@example", "", map[string]string{"email": "Please enter a valid email address, like name@example.com."}, "email"},
		{"", "ada@example.com", "", map[string]string{"name": "Please enter your name."}, "name"},
	} {
		r := newGuestBrowser(gw)
		m := csrfRE.FindStringSubmatch(r.get(t, path).Body.String())
		form := url.Values{"name": {tc.name}, "email": {tc.email}, "csrf": {m[1]}}
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://example.com")
		req.Header.Set("Accept-Language", tc.accept)
		w := r.do(t, req)
		body := w.Body.String()
		if w.Code != http.StatusUnprocessableEntity {
			t.Errorf("%q %q: status %d, want 422", tc.name, tc.email, w.Code)
		}
		for _, field := range []string{"name", "email"} {
			msg, bad := tc.errors[field]
			shown := `<p class="error" id="` + field + `-error" data-field="` + field + `">` + msg + `</p>`
			described := regexp.MustCompile(`<input id="` + field + `"[^>]*aria-invalid="true" aria-describedby="` + field + `-error"`)
			switch {
			case bad && (!strings.Contains(body, shown) || !described.MatchString(body)):
				t.Errorf("%q %q in %q: no %s beside its field, described by it\n%s", tc.name, tc.email, tc.accept, shown, body)
			case !bad && strings.Contains(body, `id="`+field+`-error"`):
				t.Errorf("%q %q: an error on %s, which is valid", tc.name, tc.email, field)
			}
		}
		if got := autofocused(t, body); got != tc.focus {
			t.Errorf("%q %q: focus in %q, want %q", tc.name, tc.email, got, tc.focus)
		}
	}
	if _, ls, err := svc.Room(context.Background(), "demo"); err != nil || ls[0].Clicks != 0 {
		t.Errorf("after the rejected forms: %v, %+v; want no click spent", err, ls)
	}
}

// TestMessagePagesNameTheRoom protects the message pages' context: where the
// gateway knows the room (from the link, or from the guest's session), the
// page names it above the message, escaped, so that a guest with several
// invitations knows which session it is about; where it does not (an unknown
// link, no session), it names none. Statuses and data-reason stay those of
// docs/DESIGN.md section 1.
func TestMessagePagesNameTheRoom(t *testing.T) {
	svc, now := teststore.Service(t, time.Now())
	ctx := context.Background()
	ls := teststore.RoomWithLinks(t, svc, "demo", guestlink.RoomSpec{Name: "Physics 101 <live>"},
		guestlink.LinkSpec{Name: "Guests"}, guestlink.LinkSpec{Name: "One day", DurationDays: new(1)}, guestlink.LinkSpec{Name: "Once", MaxClicks: new(1)})
	gw, _ := newGateway(t, svc, []string{"/rooms/{room}", "/rooms/{room}/*"}, nil)
	const name = "Physics 101 &lt;live&gt;"

	inside := newGuestBrowser(gw)
	if w := inside.submit(t, "/guest/"+ls[0].Token, "Ada", "ada@example.com"); w.Code != http.StatusSeeOther {
		t.Fatalf("redeeming: %d", w.Code)
	}
	newGuestBrowser(gw).submit(t, "/guest/"+ls[2].Token, "Bo", "bo@example.com") // the one click of "Once"
	check := func(what string, w *httptest.ResponseRecorder, status int, reason, room string) {
		t.Helper()
		body := w.Body.String()
		m := reasonRE.FindStringSubmatch(body)
		n := roomNameRE.FindStringSubmatch(body)
		gotRoom := ""
		if n != nil {
			gotRoom = n[1]
		}
		if w.Code != status || m == nil || m[1] != reason || gotRoom != room {
			t.Errorf("%s: %d %v naming %q, want %d %s naming %q", what, w.Code, m, gotRoom, status, reason, room)
		}
	}
	check("a page outside the room", inside.get(t, "/elsewhere"), http.StatusForbidden, "not-allowed", name)
	check("a link used up", newGuestBrowser(gw).get(t, "/guest/"+ls[2].Token), http.StatusGone, "link-used-up", name)
	check("an unknown link", newGuestBrowser(gw).get(t, "/guest/"+strings.Repeat("A", 43)), http.StatusNotFound, "link-invalid", "")
	check("no session", newGuestBrowser(gw).get(t, "/rooms/demo"), http.StatusUnauthorized, "no-session", "")

	if _, err := svc.SetGuestAccess(ctx, "demo", false); err != nil {
		t.Fatal(err)
	}
	check("the link with guest access off", newGuestBrowser(gw).get(t, "/guest/"+ls[0].Token), http.StatusForbidden, "guest-access-off", name)
	check("the room with guest access off", inside.get(t, "/rooms/demo"), http.StatusForbidden, "guest-access-off", name)
	if _, err := svc.SetGuestAccess(ctx, "demo", true); err != nil {
		t.Fatal(err)
	}
	m := csrfRE.FindStringSubmatch(inside.get(t, "/guest/leave").Body.String())
	if m == nil {
		t.Fatal("no leave form")
	}
	leave := httptest.NewRequest(http.MethodPost, "/guest/leave", strings.NewReader(url.Values{"csrf": {m[1]}}.Encode()))
	leave.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	leave.Header.Set("Origin", "http://example.com")
	check("leaving", inside.do(t, leave), http.StatusOK, "left", name)
	*now = now.Add(25 * time.Hour)
	check("a link expired", newGuestBrowser(gw).get(t, "/guest/"+ls[1].Token), http.StatusGone, "link-expired", name)
}

// TestWaitingGuestOpensTheRoom protects where a guest who waits in the lobby
// lands when they open their room (a bookmark, the back button, another
// tab): the lobby, by 303, not a page that says the room is not for guests.
// Anything else a waiting session asks for (another room, a path outside
// the room, a non-GET, a WebSocket upgrade) is still refused with not-allowed
// and a way back to the lobby, and nothing reaches the upstream.
func TestWaitingGuestOpensTheRoom(t *testing.T) {
	svc, _ := teststore.Service(t, time.Now())
	l := teststore.RoomWithLinks(t, svc, "demo", guestlink.RoomSpec{Name: "Q&A", Admission: guestlink.AdmissionModerator}, guestlink.LinkSpec{Name: "Guests"})[0]
	gw, _ := newGateway(t, svc, []string{"/rooms/{room}", "/rooms/{room}/*", "/static/*"}, nil)
	b := newGuestBrowser(gw)
	if w := b.submit(t, "/guest/"+l.Token, "Ada", "ada@example.com"); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/guest/lobby" {
		t.Fatalf("redeeming: %d to %q, want 303 to the lobby", w.Code, w.Header().Get("Location"))
	}
	for _, tc := range []struct {
		method, path string
		header       http.Header
		lobby        bool // 303 to the lobby; else 403 not-allowed
	}{
		{"GET", "/rooms/demo", nil, true},
		{"GET", "/rooms/demo/", nil, true},
		{"GET", "/rooms/demo/chat", nil, true},
		{"HEAD", "/rooms/demo", nil, true},
		{"POST", "/rooms/demo", nil, false},
		{"GET", "/rooms/demo", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, false},
		{"GET", "/rooms/other", nil, false},
		{"GET", "/static/app.css", nil, false},
		{"GET", "/", nil, false},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		for k, v := range tc.header {
			r.Header[k] = v
		}
		var reached bool
		for _, c := range b.cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		if err := gw.ServeHTTP(w, r, func(http.ResponseWriter, *http.Request) error { reached = true; return nil }); err != nil {
			t.Fatal(err)
		}
		if reached {
			t.Errorf("%s %s: a waiting session reached the upstream", tc.method, tc.path)
		}
		if tc.lobby {
			if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/guest/lobby" {
				t.Errorf("%s %s: %d to %q, want 303 to /guest/lobby", tc.method, tc.path, w.Code, w.Header().Get("Location"))
			}
			continue
		}
		body := w.Body.String()
		if m := reasonRE.FindStringSubmatch(body); w.Code != http.StatusForbidden || m == nil || m[1] != "not-allowed" || !strings.Contains(body, `href="/guest/lobby"`) {
			t.Errorf("%s %s: %d %v, want 403 not-allowed leading back to the lobby", tc.method, tc.path, w.Code, m)
		}
	}
}

// TestLobbyMessageReachesTheLobby protects what a waiting guest sees of the
// moderator's lobby message: nothing while there is none; the message on the
// lobby page as text (markup in it is escaped, never rendered) and in
// lobby/status; and a long poll that answers when the message changes, not
// only when a moderator decides, so that the page shows it within a second.
func TestLobbyMessageReachesTheLobby(t *testing.T) {
	svc, _ := teststore.Service(t, time.Now())
	l := teststore.RoomWithLinks(t, svc, "demo", guestlink.RoomSpec{Name: "Q&A", Admission: guestlink.AdmissionModerator}, guestlink.LinkSpec{Name: "Guests"})[0]
	gw, _ := newGateway(t, svc, []string{"/rooms/{room}"}, nil)
	b := newGuestBrowser(gw)
	if w := b.submit(t, "/guest/"+l.Token, "Ada", "ada@example.com"); w.Code != http.StatusSeeOther {
		t.Fatalf("redeeming: %d", w.Code)
	}
	status := func(path string) map[string]any {
		t.Helper()
		w := b.get(t, path)
		var st map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || w.Code != http.StatusOK {
			t.Fatalf("%s: %d %q", path, w.Code, w.Body)
		}
		return st
	}
	if body := b.get(t, "/guest/lobby").Body.String(); !strings.Contains(body, `id="lobby-message" role="status" aria-live="polite" hidden`) {
		t.Errorf("the lobby page shows a message box without a message:\n%s", body)
	}
	if st := status("/guest/lobby/status"); st["state"] != "waiting" || st["message"] != nil {
		t.Errorf("status without a message = %v", st)
	}

	ctx := context.Background()
	const text = `<b>Wir</b> beginnen & "gleich"`
	if _, err := svc.SetLobbyMessage(ctx, "demo", text); err != nil {
		t.Fatal(err)
	}
	body := b.get(t, "/guest/lobby").Body.String()
	if !strings.Contains(body, `&lt;b&gt;Wir&lt;/b&gt; beginnen &amp; &#34;gleich&#34;`) || strings.Contains(body, "<b>Wir") {
		t.Errorf("the lobby page does not show the message as escaped text:\n%s", body)
	}
	if strings.Contains(body, `id="lobby-message" role="status" aria-live="polite" hidden`) {
		t.Error("the message box is hidden although there is a message")
	}
	if st := status("/guest/lobby/status"); st["state"] != "waiting" || st["message"] != text {
		t.Errorf("status = %v, want waiting with the message", st)
	}

	// A long poll answers when the message changes. The poll may start after
	// a change (it then waits for the next), so the test changes it until the
	// poll answers, and never waits out the poll's 25 s.
	answer := make(chan map[string]any, 1)
	go func() {
		r := httptest.NewRequest(http.MethodGet, "/guest/lobby/status?wait=25", nil)
		for _, c := range b.cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		_ = gw.ServeHTTP(w, r, nil)
		var st map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &st)
		answer <- st
	}()
	var last string
	for i := 0; ; i++ {
		if i == 10 {
			t.Fatal("the long poll did not answer a change of the message")
		}
		last = fmt.Sprintf("נתחיל בעוד %d דקות", i)
		if _, err := svc.SetLobbyMessage(ctx, "demo", last); err != nil {
			t.Fatal(err)
		}
		select {
		case st := <-answer:
			if st["state"] != "waiting" || st["message"] != last {
				t.Errorf("the long poll answered %v, want waiting with %q", st, last)
			}
			return
		case <-time.After(time.Second):
		}
	}
}

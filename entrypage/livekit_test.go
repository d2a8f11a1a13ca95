package entrypage_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/entrypage"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/teststore"
	"github.com/guestgate/guestgate/livekit"
	"github.com/guestgate/guestgate/token"
)

const (
	lkSecret = "0123456789abcdef0123456789abcdef"
	lkTagKey = "the store's tag key, 32 bytes ..."
)

// fakeLK is a RoomService: present are the participants in its rooms
// ("room/identity"), with their attributes; while down, it answers 503.
// RemoveParticipant calls it answers are sent to removed as
// "room/identity": 200 for a participant present, LiveKit's not_found
// otherwise. It lists its rooms only once lists is set, so that a gateway
// adopts nobody in tests of what it does with its own tokens.
type fakeLK struct {
	mu      sync.Mutex
	present map[string]map[string]string
	down    bool
	lists   bool
	removed chan string
	// onList, if set, is called with each ListRooms request before it is
	// answered, without the lock.
	onList func(*http.Request)
}

// join puts identity in room as a participant of a guestgate token does.
func (f *fakeLK) join(room, identity string) { f.joinWith(room, identity, map[string]string{}) }

// joinWith puts identity in room with attrs.
func (f *fakeLK) joinWith(room, identity string, attrs map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.present[room+"/"+identity] = attrs
}

// has reports whether key ("room/identity") is a participant.
func (f *fakeLK) has(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.present[key]
	return ok
}

func (f *fakeLK) setLists(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists = on
}

func (f *fakeLK) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeLK) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct{ Room, Identity string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.URL.Path == "/twirp/livekit.RoomService/ListRooms" {
		f.mu.Lock()
		onList := f.onList
		f.mu.Unlock()
		if onList != nil {
			onList(r)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	switch r.URL.Path {
	case "/twirp/livekit.RoomService/RemoveParticipant":
		key := body.Room + "/" + body.Identity
		f.removed <- key
		if _, ok := f.present[key]; !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"code":"not_found","msg":"participant not found"}`))
			return
		}
		delete(f.present, key)
		_, _ = w.Write([]byte("{}"))
	case "/twirp/livekit.RoomService/ListParticipants":
		var list struct {
			Participants []livekit.Present `json:"participants"`
		}
		for key, attrs := range f.present {
			if room, id, _ := strings.Cut(key, "/"); room == body.Room {
				list.Participants = append(list.Participants, livekit.Present{Identity: id, Attributes: attrs})
			}
		}
		_ = json.NewEncoder(w).Encode(list)
	case "/twirp/livekit.RoomService/ListRooms":
		if !f.lists {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		type room struct {
			Name string `json:"name"`
		}
		var list struct {
			Rooms []room `json:"rooms"`
		}
		seen := map[string]bool{}
		for key := range f.present {
			if name, _, _ := strings.Cut(key, "/"); !seen[name] {
				seen[name] = true
				list.Rooms = append(list.Rooms, room{name})
			}
		}
		_ = json.NewEncoder(w).Encode(list)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// fakeLiveKit starts a fakeLK and returns a client of it.
func fakeLiveKit(t *testing.T) (*livekit.Client, *fakeLK) {
	t.Helper()
	f := &fakeLK{present: map[string]map[string]string{}, removed: make(chan string, 64)}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := livekit.New(livekit.Config{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), APIKey: "APIkey1", APISecret: []byte(lkSecret),
		TagKey: []byte(lkTagKey)})
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

// lkRoom is a room "demo" with a link of each role, for the token endpoint's
// tests: svc, the gateway, its token issuer and the fake LiveKit's removals.
type lkRoom struct {
	svc     *guestlink.Service
	client  *livekit.Client
	clock   *atomic.Int64 // the Service's clock, in Unix nanoseconds
	gw      *entrypage.Gateway
	tokens  *token.Issuer
	links   map[string]guestlink.Link
	removed <-chan string
	lk      *fakeLK
}

func newLKRoom(t *testing.T, spec guestlink.RoomSpec) *lkRoom {
	t.Helper()
	// A clock the test moves while the watcher reads it.
	clock := new(atomic.Int64)
	clock.Store(time.Now().UnixNano())
	svc := &guestlink.Service{Store: teststore.Open(t), Now: func() time.Time { return time.Unix(0, clock.Load()) }}
	spec.Name = "Demo"
	ls := teststore.RoomWithLinks(t, svc, "demo", spec, guestlink.LinkSpec{Name: "V", Role: "viewer"},
		guestlink.LinkSpec{Name: "S", Role: "speaker"})
	lk, fake := fakeLiveKit(t)
	gw, tokens := newGateway(t, svc, []string{"/rooms/{room}"}, func(c *entrypage.Config) {
		c.LiveKit = lk
		// A token request is no redemption: the redemption metric must not
		// count it, as anything.
		c.OnRedeem = func(result string, _ time.Duration) { t.Errorf("a token request counted as a redemption (%s)", result) }
	})
	return &lkRoom{svc: svc, client: lk, clock: clock, gw: gw, tokens: tokens, removed: fake.removed, lk: fake,
		links: map[string]guestlink.Link{"viewer": ls[0], "speaker": ls[1]}}
}

// guest redeems the link of role as name (for a moderator, a personal
// invitation: moderators come by invitation only) and returns the guest and
// the Cookie header of their session.
func (lr *lkRoom) guest(t *testing.T, role, name string) (guestlink.Guest, string) {
	t.Helper()
	ctx := context.Background()
	in := guestlink.GuestInput{Name: name, Email: strings.ToLower(name) + "@example.com"}
	var g guestlink.Guest
	var err error
	if role == guestlink.RoleModerator {
		var v guestlink.Invitation
		if v, err = lr.svc.CreateInvitation(ctx, "demo", guestlink.InvitationSpec{Email: in.Email, Name: name, Role: role}); err != nil {
			t.Fatal(err)
		}
		_, _, g, err = lr.svc.RedeemInvitation(ctx, v.Token, in)
	} else {
		_, _, g, err = lr.svc.Redeem(ctx, lr.links[role].Token, in)
	}
	if err != nil {
		t.Fatal(err)
	}
	return g, lr.cookie(t, g)
}

// post asks the token endpoint with cookie and body (JSON unless ct says
// otherwise; no body and no Content-Type if body is ""), from this site
// unless edit changes the request.
func (lr *lkRoom) post(t *testing.T, cookie, body string, edit func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://rooms.example.com/guest/livekit/token", strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Origin", "http://rooms.example.com")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	if edit != nil {
		edit(r)
	}
	w := httptest.NewRecorder()
	if err := lr.gw.ServeHTTP(w, r, func(http.ResponseWriter, *http.Request) error {
		t.Error("the token endpoint reached the upstream")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return w
}

// participantClaims verifies the participant token of a 201 answer as
// LiveKit does and returns its claims.
func (lr *lkRoom) participantClaims(t *testing.T, w *httptest.ResponseRecorder) jwt.MapClaims {
	t.Helper()
	var got struct {
		ServerURL        string `json:"server_url"`
		ParticipantToken string `json:"participant_token"`
	}
	if w.Code != http.StatusCreated || json.Unmarshal(w.Body.Bytes(), &got) != nil || !strings.HasPrefix(got.ServerURL, "ws://127.0.0.1:") {
		t.Fatalf("%d %s, want 201 with server_url and participant_token", w.Code, w.Body)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(got.ParticipantToken, claims, func(*jwt.Token) (any, error) { return []byte(lkSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer("APIkey1"), jwt.WithTimeFunc(lr.svc.Now)); err != nil {
		t.Fatalf("the participant token does not verify: %v", err)
	}
	return claims
}

// TestLiveKitTokenEndpoint protects POST {prefix}/livekit/token
// (docs/DESIGN.md section 9): an admitted guest gets a LiveKit token for
// their own room, identity and name, with their role's grants, whatever the
// body confirms; a body asking for another room, identity or name is 403; a
// session that may not be in the room gets the gate's status and reason as
// JSON; and a request another site could make (a cross-site fetch, a form)
// never gets a token.
func TestLiveKitTokenEndpoint(t *testing.T) {
	lr := newLKRoom(t, guestlink.RoomSpec{})
	viewer, viewerCookie := lr.guest(t, "viewer", "Ada")
	_, speakerCookie := lr.guest(t, "speaker", "Grace")
	_, modCookie := lr.guest(t, "moderator", "Edsger")
	for _, tc := range []struct {
		name        string
		cookie      string
		body        string
		edit        func(*http.Request)
		wantStatus  int
		wantReason  string
		wantPublish bool
		wantAdmin   bool
	}{
		{name: "viewer, no body", cookie: viewerCookie, wantStatus: 201},
		{name: "speaker", cookie: speakerCookie, body: `{}`, wantStatus: 201, wantPublish: true},
		{name: "moderator", cookie: modCookie, body: `{}`, wantStatus: 201, wantPublish: true, wantAdmin: true},
		{name: "body confirms the session", cookie: viewerCookie, wantStatus: 201,
			body: `{"room_name":"demo","participant_identity":"` + viewer.ID + `","participant_name":"Ada","participant_metadata":"x","participant_attributes":{"a":"b"},"room_config":{"agents":[]},"extra":1}`},
		{name: "empty fields", cookie: viewerCookie, body: `{"room_name":"","participant_identity":null}`, wantStatus: 201},
		{name: "JSON content type with charset", cookie: viewerCookie, body: `{}`, wantStatus: 201,
			edit: func(r *http.Request) { r.Header.Set("Content-Type", "application/json; charset=utf-8") }},
		{name: "another room", cookie: viewerCookie, body: `{"room_name":"other"}`, wantStatus: 403, wantReason: "not-allowed"},
		{name: "another room, JSON name", cookie: viewerCookie, body: `{"roomName":"other"}`, wantStatus: 403, wantReason: "not-allowed"},
		{name: "another identity", cookie: viewerCookie, body: `{"participant_identity":"g_someone"}`, wantStatus: 403, wantReason: "not-allowed"},
		{name: "another identity, JSON name", cookie: viewerCookie, body: `{"participantIdentity":"g_someone"}`, wantStatus: 403, wantReason: "not-allowed"},
		{name: "another name", cookie: viewerCookie, body: `{"participant_name":"The Host"}`, wantStatus: 403, wantReason: "not-allowed"},
		{name: "room name not a string", cookie: viewerCookie, body: `{"room_name":1}`, wantStatus: 400, wantReason: "bad-request"},
		{name: "not JSON", cookie: viewerCookie, body: `room_name=demo`, wantStatus: 400, wantReason: "bad-request"},
		{name: "no session", body: `{}`, wantStatus: 401, wantReason: "no-session"},
		{name: "forged session", cookie: entrypage.CookieName + "=eyJhbGciOiJIUzI1NiJ9.e30.x", body: `{}`, wantStatus: 401, wantReason: "no-session"},
		{name: "GET", cookie: viewerCookie, wantStatus: 405, wantReason: "bad-request",
			edit: func(r *http.Request) { r.Method = http.MethodGet }},
		{name: "cross-site fetch", cookie: viewerCookie, body: `{}`, wantStatus: 403, wantReason: "not-allowed",
			edit: func(r *http.Request) {
				r.Header.Set("Sec-Fetch-Site", "cross-site")
				r.Header.Set("Origin", "https://evil.example")
			}},
		{name: "another origin", cookie: viewerCookie, wantStatus: 403, wantReason: "not-allowed",
			edit: func(r *http.Request) { r.Header.Del("Sec-Fetch-Site"); r.Header.Set("Origin", "https://evil.example") }},
		{name: "form post", cookie: viewerCookie, body: `room_name=demo`, wantStatus: 403, wantReason: "not-allowed",
			edit: func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }},
		{name: "text/plain post", cookie: viewerCookie, body: `{}`, wantStatus: 403, wantReason: "not-allowed",
			edit: func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }},
		{name: "body without Content-Type", cookie: viewerCookie, body: `{}`, wantStatus: 403, wantReason: "not-allowed",
			edit: func(r *http.Request) { r.Header.Del("Content-Type") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := lr.post(t, tc.cookie, tc.body, tc.edit)
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", w.Header().Get("Cache-Control"))
			}
			if tc.wantStatus != 201 {
				var e struct{ Reason, Error string }
				if w.Code != tc.wantStatus || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Reason != tc.wantReason || e.Error == "" {
					t.Fatalf("%d %s, want %d with reason %q", w.Code, w.Body, tc.wantStatus, tc.wantReason)
				}
				if strings.Contains(w.Body.String(), "token") {
					t.Fatalf("a refusal carries a token: %s", w.Body)
				}
				return
			}
			c := lr.participantClaims(t, w)
			video, _ := c["video"].(map[string]any)
			if video["room"] != "demo" || video["roomJoin"] != true || video["canSubscribe"] != true || video["canPublishData"] != true ||
				video["canPublish"] != tc.wantPublish || (video["roomAdmin"] == true) != tc.wantAdmin {
				t.Fatalf("video grant %v, want publish %v, admin %v", video, tc.wantPublish, tc.wantAdmin)
			}
			if strings.Contains(w.Body.String(), "@") || strings.Contains(strings.ToLower(jsonString(t, c)), "example.com") {
				t.Fatalf("the token carries the email: %v", c)
			}
		})
	}
	c := lr.participantClaims(t, lr.post(t, viewerCookie, "", nil))
	if c["sub"] != viewer.ID || c["name"] != "Ada" {
		t.Fatalf("sub %v name %v, want %s Ada", c["sub"], c["name"], viewer.ID)
	}
	if attrs, _ := c["attributes"].(map[string]any); attrs["guestgate.role"] != "viewer" || attrs["guestgate.link"] != viewer.LinkID {
		t.Fatalf("attributes %v, want the role and the link", c["attributes"])
	}
	// The token ends with the session: at session_max from the redemption,
	// even when token_ttl would run past it.
	lr.clock.Store(viewer.RedeemedAt.Add(12*time.Hour - time.Minute).UnixNano())
	cookie := lr.cookie(t, viewer)
	c = lr.participantClaims(t, lr.post(t, cookie, "", nil))
	if exp, _ := c.GetExpirationTime(); exp == nil || !exp.Equal(viewer.RedeemedAt.Add(12*time.Hour).Truncate(time.Second)) {
		t.Fatalf("exp %v, want the session's end %v", exp, viewer.RedeemedAt.Add(12*time.Hour))
	}
}

// cookie is the Cookie header of a session of guest g issued at the clock's
// time, as the entry form or the gate's renewal would issue it.
func (lr *lkRoom) cookie(t *testing.T, g guestlink.Guest) string {
	t.Helper()
	tok, _, err := lr.tokens.Issue(token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: g.ID},
		Room:             g.RoomID, LinkID: g.LinkID, Name: g.Name, Email: g.Email,
		State: g.State, AuthTime: g.RedeemedAt.Unix(), Role: g.Role,
	}, lr.svc.Now())
	if err != nil {
		t.Fatal(err)
	}
	return entrypage.CookieName + "=" + tok
}

func jsonString(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLiveKitTokenRefusals: sessions that the gate would not let into the
// room get no token, but the gate's status and reason: a guest waiting in the
// lobby, declined, removed or gone, a room made unavailable, guest access
// switched off.
func TestLiveKitTokenRefusals(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		spec       guestlink.RoomSpec
		then       func(lr *lkRoom, g guestlink.Guest) error
		wantStatus int
		wantReason string
	}{
		{"waiting", guestlink.RoomSpec{Admission: guestlink.AdmissionModerator}, nil, 403, "not-allowed"},
		{"declined", guestlink.RoomSpec{Admission: guestlink.AdmissionModerator}, func(lr *lkRoom, g guestlink.Guest) error {
			_, err := lr.svc.Decide(ctx, "demo", g.ID, guestlink.StateDeclined)
			return err
		}, 403, "declined"},
		{"removed", guestlink.RoomSpec{}, func(lr *lkRoom, g guestlink.Guest) error {
			_, err := lr.svc.Decide(ctx, "demo", g.ID, guestlink.StateRemoved)
			return err
		}, 403, "removed"},
		{"left", guestlink.RoomSpec{}, func(lr *lkRoom, g guestlink.Guest) error {
			_, err := lr.svc.Decide(ctx, "demo", g.ID, guestlink.StateLeft)
			return err
		}, 401, "no-session"},
		{"room unavailable", guestlink.RoomSpec{}, func(lr *lkRoom, g guestlink.Guest) error {
			no := false
			_, _, err := lr.svc.PutRoom(ctx, "demo", guestlink.RoomSpec{Name: "Demo", Available: &no})
			return err
		}, 404, "room-unavailable"},
		{"room deleted", guestlink.RoomSpec{}, func(lr *lkRoom, g guestlink.Guest) error {
			return lr.svc.DeleteRoom(ctx, "demo")
		}, 404, "room-unavailable"},
		{"guest access off", guestlink.RoomSpec{}, func(lr *lkRoom, g guestlink.Guest) error {
			_, err := lr.svc.SetGuestAccess(ctx, "demo", false)
			return err
		}, 403, "guest-access-off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lr := newLKRoom(t, tc.spec)
			g, cookie := lr.guest(t, "viewer", "Ada") // speakers skip the lobby
			if tc.then != nil {
				if err := tc.then(lr, g); err != nil {
					t.Fatal(err)
				}
			}
			w := lr.post(t, cookie, `{}`, nil)
			var e struct{ Reason string }
			if w.Code != tc.wantStatus || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Reason != tc.wantReason {
				t.Fatalf("%d %s, want %d %s", w.Code, w.Body, tc.wantStatus, tc.wantReason)
			}
		})
	}
}

// TestLiveKitTokenAtSessionEnd: a session cookie still verifies a few
// seconds past session_max (the check's leeway), but there is no session
// left to give a LiveKit token for: that is 401 no-session, not a failure
// of the gateway's.
func TestLiveKitTokenAtSessionEnd(t *testing.T) {
	lr := newLKRoom(t, guestlink.RoomSpec{})
	g, _ := lr.guest(t, "viewer", "Ada")
	end := g.RedeemedAt.Add(12 * time.Hour)
	lr.clock.Store(end.Add(-30 * time.Second).UnixNano())
	cookie := lr.cookie(t, g) // renewed near the end: it expires with the session
	lr.clock.Store(end.Add(2 * time.Second).UnixNano())
	w := lr.post(t, cookie, "", nil)
	var e struct{ Reason string }
	if w.Code != http.StatusUnauthorized || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Reason != "no-session" {
		t.Fatalf("%d %s, want 401 no-session", w.Code, w.Body)
	}
}

// TestLiveKitRemoval protects the way a removal reaches LiveKit: the
// gateway watches every guest it gave a token to, and removes the
// participant from the LiveKit room (one RoomService call) when the guest
// is removed, the room is made unavailable or deleted, or the session
// reaches session_max; but
// switching guest access off or deleting the guest's link leaves them in
// (docs/DESIGN.md sections 1 and 9). Guests without a token are never
// named to LiveKit.
func TestLiveKitRemoval(t *testing.T) {
	ctx := context.Background()
	lr := newLKRoom(t, guestlink.RoomSpec{})
	ada, adaCookie := lr.guest(t, "viewer", "Ada")
	grace, graceCookie := lr.guest(t, "speaker", "Grace")
	edsger, _ := lr.guest(t, "moderator", "Edsger") // never asks for a token
	for _, c := range []string{adaCookie, graceCookie, adaCookie} {
		if w := lr.post(t, c, "", nil); w.Code != http.StatusCreated {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	// Guest access off and the viewers' link deleted: nobody leaves.
	if _, err := lr.svc.SetGuestAccess(ctx, "demo", false); err != nil {
		t.Fatal(err)
	}
	if err := lr.svc.DeleteLink(ctx, "demo", ada.LinkID); err != nil {
		t.Fatal(err)
	}
	// Then Grace and Edsger are removed: only Grace held a token.
	for _, g := range []guestlink.Guest{grace, edsger} {
		if _, err := lr.svc.Decide(ctx, "demo", g.ID, guestlink.StateRemoved); err != nil {
			t.Fatal(err)
		}
	}
	lr.wantRemoved(t, grace)
	// Ada stays until her session reaches session_max.
	lr.clock.Store(ada.RedeemedAt.Add(12 * time.Hour).UnixNano())
	lr.wantRemoved(t, ada)
	// Ada asked for two tokens but is one participant: the next call is
	// for the next guest removed, not Ada again.
	if _, err := lr.svc.SetGuestAccess(ctx, "demo", true); err != nil {
		t.Fatal(err)
	}
	barbara := lr.participant(t, "speaker", "Barbara")
	if _, err := lr.svc.Decide(ctx, "demo", barbara.ID, guestlink.StateRemoved); err != nil {
		t.Fatal(err)
	}
	lr.wantRemoved(t, barbara)

	// A room made unavailable by its backend, or deleted, takes its
	// participants out.
	closed := false
	for _, end := range []func(lr *lkRoom) error{
		func(lr *lkRoom) error {
			_, _, err := lr.svc.PutRoom(ctx, "demo", guestlink.RoomSpec{Name: "Demo", Available: &closed})
			return err
		},
		func(lr *lkRoom) error { return lr.svc.DeleteRoom(ctx, "demo") },
	} {
		lr := newLKRoom(t, guestlink.RoomSpec{})
		joan := lr.participant(t, "speaker", "Joan")
		if err := end(lr); err != nil {
			t.Fatal(err)
		}
		lr.wantRemoved(t, joan)
	}
}

// TestLiveKitAdoption protects the participants whose tokens another
// gateway of the same store gave (an instance since restarted, or gone): a
// gateway finds them in the LiveKit rooms of its store's rooms by their tag,
// removes at once one whose session has ended, and watches the others from
// then on. It never touches a participant without the store's tag, however
// much it looks like a guest: another application's, a guest of another
// store in a room of the same name, or one whose tag was made for someone
// else; nor anyone in a room its store does not have.
func TestLiveKitAdoption(t *testing.T) {
	ctx := context.Background()
	lr := newLKRoom(t, guestlink.RoomSpec{})
	lr.gw.Close()                            // the instance that is gone
	late, _ := lr.guest(t, "viewer", "Late") // an hour before the others
	lr.clock.Add(int64(time.Hour))
	ended, _ := lr.guest(t, "viewer", "Ended")
	kept, _ := lr.guest(t, "speaker", "Kept")
	untagged, _ := lr.guest(t, "viewer", "Untagged") // a token from before the tag, or a tag stripped
	tagged := func(room string, g guestlink.Guest) map[string]string {
		return lr.tokenAttrs(t, room, g.ID, g.LinkID)
	}
	for _, g := range []guestlink.Guest{ended, kept, late} {
		lr.lk.joinWith("demo", g.ID, tagged("demo", g))
	}
	lr.lk.joinWith("demo", untagged.ID, map[string]string{livekit.AttrRole: "viewer", livekit.AttrLink: untagged.LinkID})
	lr.lk.joinWith("demo", "presenter", map[string]string{"app": "slides"})
	otherStore := guestlink.NewID("g")
	lr.lk.joinWith("demo", otherStore, map[string]string{livekit.AttrRole: "viewer", livekit.AttrLink: kept.LinkID,
		livekit.AttrTag: "AAAAAAAAAAAAAAAAAAAAAA"})
	copied := guestlink.NewID("g")
	lr.lk.joinWith("demo", copied, tagged("demo", kept)) // Kept's tag on another identity
	stranger := guestlink.NewID("g")
	lr.lk.joinWith("elsewhere", stranger, tagged("elsewhere", guestlink.Guest{ID: stranger, LinkID: kept.LinkID}))
	for _, g := range []guestlink.Guest{ended, untagged} {
		if _, err := lr.svc.Decide(ctx, "demo", g.ID, guestlink.StateRemoved); err != nil {
			t.Fatal(err)
		}
	}
	// Late's session has reached session_max (12 h); the others' have not.
	lr.clock.Store(late.RedeemedAt.Add(12*time.Hour + time.Minute).UnixNano())
	lr.lk.setLists(true)

	// The restarted instance: a gateway that gave no token, which adopts
	// once (a second after its start) in this test.
	newGateway(t, lr.svc, []string{"/rooms/{room}"}, func(c *entrypage.Config) {
		c.LiveKit, c.LiveKitAdopt = lr.client, time.Hour
		c.OnLiveKitAdoptError = func(err error) { t.Errorf("a round of adopting failed: %v", err) }
	})
	got := map[string]bool{}
	for len(got) < 3 {
		got[waitRemoved(t, lr.removed)] = true
	}
	if !got["demo/"+ended.ID] || !got["demo/"+late.ID] || !got["demo/"+untagged.ID] {
		t.Fatalf("removed %v, want the two removed guests and the one past session_max", got)
	}
	if !lr.lk.has("demo/" + kept.ID) {
		t.Fatal("the admitted guest was removed")
	}
	// Kept is watched now (no second round comes): a removal through any
	// instance reaches LiveKit.
	if _, err := lr.svc.Decide(ctx, "demo", kept.ID, guestlink.StateRemoved); err != nil {
		t.Fatal(err)
	}
	for {
		key := waitRemoved(t, lr.removed)
		if key == "demo/"+kept.ID {
			break
		}
		if !got[key] {
			t.Fatalf("RemoveParticipant %s, want demo/%s", key, kept.ID)
		}
	}
	for _, key := range []string{"demo/presenter", "demo/" + otherStore, "demo/" + copied, "elsewhere/" + stranger} {
		if !lr.lk.has(key) {
			t.Errorf("%s was removed: not this store's to remove", key)
		}
	}
}

// TestLiveKitAdoptionStops: Close ends a gateway's adopting, so that no
// round comes after it, and a round under way that waits on LiveKit does
// not hold it up (the round's own limit is 10 s, its client's 1 min).
func TestLiveKitAdoptionStops(t *testing.T) {
	lr := newLKRoom(t, guestlink.RoomSpec{})
	lr.gw.Close()
	lists := make(chan struct{}, 1000)
	var block atomic.Bool
	lr.lk.mu.Lock()
	lr.lk.onList = func(r *http.Request) {
		lists <- struct{}{}
		if block.Load() {
			<-r.Context().Done() // LiveKit does not answer
		}
	}
	lr.lk.mu.Unlock()
	lr.lk.setLists(true)
	patient, err := livekit.New(livekit.Config{URL: lr.client.ServerURL(), APIKey: "APIkey1", APISecret: []byte(lkSecret),
		TagKey: []byte(lkTagKey), HTTPClient: &http.Client{Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	start := func() *entrypage.Gateway {
		gw, _ := newGateway(t, lr.svc, []string{"/rooms/{room}"}, func(c *entrypage.Config) {
			c.LiveKit, c.LiveKitAdopt = patient, 10*time.Millisecond
		})
		select {
		case <-lists:
		case <-time.After(10 * time.Second):
			t.Fatal("no round of adopting within 10 s")
		}
		return gw
	}
	drain := func() {
		for len(lists) > 0 {
			<-lists
		}
	}

	gw := start()
	gw.Close()
	drain()
	time.Sleep(200 * time.Millisecond) // twenty rounds' time
	if n := len(lists); n > 0 {
		t.Errorf("%d rounds after Close", n)
	}

	block.Store(true)
	gw = start()
	closed := make(chan struct{})
	go func() {
		gw.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited more than 5 s for a round that waits on LiveKit")
	}
}

// TestLiveKitAdoptionDeletedRoom: a room deleted while nobody watched some
// of its participants (the instance that gave their tokens gone, the next
// round not come yet) is no room of the store any more, but the gateways
// that knew it still look into it: its tagged guests are removed, and an
// untagged participant, who may be another store's, is left alone.
func TestLiveKitAdoptionDeletedRoom(t *testing.T) {
	lr := newLKRoom(t, guestlink.RoomSpec{})
	lr.gw.Close() // the instance that is gone
	gone, _ := lr.guest(t, "speaker", "Gone")
	goneAttrs := lr.tokenAttrs(t, "demo", gone.ID, gone.LinkID)
	stranger := guestlink.NewID("g")
	lr.lk.join("demo", "presenter") // the room is live in LiveKit from the start

	// The second round finds the room deleted and the guest joined, both
	// just before it lists LiveKit's rooms: the first round knew the room
	// but not the guest.
	var rounds atomic.Int32
	lr.lk.mu.Lock()
	lr.lk.onList = func(*http.Request) {
		if rounds.Add(1) != 2 {
			return
		}
		if err := lr.svc.DeleteRoom(context.Background(), "demo"); err != nil {
			t.Errorf("DeleteRoom: %v", err)
		}
		lr.lk.joinWith("demo", gone.ID, goneAttrs)
		lr.lk.joinWith("demo", stranger, map[string]string{livekit.AttrRole: "viewer", livekit.AttrLink: gone.LinkID})
	}
	lr.lk.mu.Unlock()
	lr.lk.setLists(true)
	newGateway(t, lr.svc, []string{"/rooms/{room}"}, func(c *entrypage.Config) {
		c.LiveKit, c.LiveKitAdopt = lr.client, 50*time.Millisecond
		c.OnLiveKitAdoptError = func(err error) { t.Errorf("a round of adopting failed: %v", err) }
	})
	if got := waitRemoved(t, lr.removed); got != "demo/"+gone.ID {
		t.Fatalf("RemoveParticipant %s, want demo/%s", got, gone.ID)
	}
	for deadline := time.Now().Add(10 * time.Second); rounds.Load() < 5; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) { // three rounds more that might remove the others
			t.Fatal("no further rounds of adopting")
		}
	}
	for _, key := range []string{"demo/presenter", "demo/" + stranger} {
		if !lr.lk.has(key) {
			t.Errorf("%s was removed: not this store's to remove", key)
		}
	}
}

// tokenAttrs returns the attributes of the token the gateway's LiveKit
// client gives guest id of room, who came by link.
func (lr *lkRoom) tokenAttrs(t *testing.T, room, id, link string) map[string]string {
	t.Helper()
	now := lr.svc.Now()
	tok, _, err := lr.client.Token(livekit.Participant{Identity: id, Room: room, Link: link}, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Attributes map[string]string `json:"attributes"`
	}
	payload, err := jwt.NewParser().DecodeSegment(strings.Split(tok, ".")[1])
	if err != nil || json.Unmarshal(payload, &claims) != nil {
		t.Fatalf("the token's claims: %v", err)
	}
	return claims.Attributes
}

// participant is a guest of role who got a LiveKit token.
func (lr *lkRoom) participant(t *testing.T, role, name string) guestlink.Guest {
	t.Helper()
	g, cookie := lr.guest(t, role, name)
	if w := lr.post(t, cookie, "", nil); w.Code != http.StatusCreated {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	return g
}

// wantRemoved fails t unless the next RemoveParticipant call is for g.
func (lr *lkRoom) wantRemoved(t *testing.T, g guestlink.Guest) {
	t.Helper()
	if got := waitRemoved(t, lr.removed); got != g.RoomID+"/"+g.ID {
		t.Fatalf("RemoveParticipant %s, want %s/%s", got, g.RoomID, g.ID)
	}
}

// waitRemoved returns the next RemoveParticipant call, failing after a
// generous wait (the watcher ticks every 100 ms).
func waitRemoved(t *testing.T, removed <-chan string) string {
	t.Helper()
	select {
	case got := <-removed:
		return got
	case <-time.After(10 * time.Second):
		t.Fatal("no RemoveParticipant call")
		return ""
	}
}

// TestLiveKitRemovalLingers: LiveKit's RemoveParticipant revokes nothing for
// a guest who is not in the room yet, so a guest removed before joining who
// then joins with the token they hold is removed again; and a removal that
// failed while LiveKit was down goes through once it is back.
func TestLiveKitRemovalLingers(t *testing.T) {
	ctx := context.Background()
	lr := newLKRoom(t, guestlink.RoomSpec{})

	early := lr.participant(t, "speaker", "Ada")
	if _, err := lr.svc.Decide(ctx, "demo", early.ID, guestlink.StateRemoved); err != nil {
		t.Fatal(err)
	}
	lr.wantRemoved(t, early) // not there: LiveKit's not_found
	lr.lk.join("demo", early.ID)
	lr.wantRemoved(t, early) // joined with the token held: cut again

	late := lr.participant(t, "speaker", "Grace")
	lr.lk.join("demo", late.ID)
	lr.lk.setDown(true)
	if _, err := lr.svc.Decide(ctx, "demo", late.ID, guestlink.StateRemoved); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the first removal's attempts (2 s) all fail
	lr.lk.setDown(false)
	lr.wantRemoved(t, late)
	lr.lk.mu.Lock()
	defer lr.lk.mu.Unlock()
	_, lateIn := lr.lk.present["demo/"+late.ID]
	_, earlyIn := lr.lk.present["demo/"+early.ID]
	if lateIn || earlyIn {
		t.Errorf("still in the LiveKit room: %v", lr.lk.present)
	}
}

// TestLiveKitRemovalOutlastsRenewedTokens: a connected participant does
// not keep the token the gateway gave: LiveKit gives them a new one at once
// and every 5 minutes, each valid 10 minutes (livekit.RenewedTTL), and
// RemoveParticipant revokes none of them. A removed guest who saved one
// could join again once the gateway's own token had expired, and stay until
// an adopting round found them, then do so again with the token that join
// brought. So a removal is watched for as long as a renewed token may be
// valid: a guest removed past the gateway's token who joins again is
// removed at once, and so is each later join, each of which brings a new
// renewed token.
func TestLiveKitRemovalOutlastsRenewedTokens(t *testing.T) {
	ctx := context.Background()
	lr := newLKRoom(t, guestlink.RoomSpec{})
	ada := lr.participant(t, "speaker", "Ada") // a token valid 10 minutes
	lr.lk.join("demo", ada.ID)
	// Twenty minutes in the room: the gateway's token has long expired,
	// and Ada holds the one LiveKit renewed at minute 20, valid to 30.
	lr.clock.Add(int64(20 * time.Minute))
	if _, err := lr.svc.Decide(ctx, "demo", ada.ID, guestlink.StateRemoved); err != nil {
		t.Fatal(err)
	}
	lr.wantRemoved(t, ada)
	for _, after := range []time.Duration{time.Minute, 9 * time.Minute, 9 * time.Minute} {
		// Ada joins again with the newest token LiveKit gave her: each
		// join is cut, and brings her a token valid 10 minutes more.
		lr.clock.Add(int64(after))
		lr.lk.join("demo", ada.ID)
		lr.wantRemoved(t, ada)
	}
}

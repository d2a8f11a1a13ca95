package livekit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"google.golang.org/protobuf/proto"

	"github.com/guestgate/guestgate/internal/testcaddy"
	"github.com/guestgate/guestgate/internal/testcaddy/inproc"
	"github.com/guestgate/guestgate/internal/testlivekit"
)

func TestMain(m *testing.M) { testcaddy.Main(m) }

const apiKey = "livekit-test-api-key-0123456789"

// site is guestgate in this process's Caddy, in front of a real LiveKit
// server, with rooms "demo" and "hall" (a moderated lobby).
type site struct {
	t    *testing.T
	cf   string // the Caddyfile
	base string // http://127.0.0.1:<port>
	lk   *testlivekit.Server
	rs   *lksdk.RoomServiceClient
}

// startSite starts the site; livekitOptions are lines added to its livekit
// block.
func startSite(t *testing.T, livekitOptions ...string) *site {
	t.Helper()
	lk := testlivekit.Start(t)
	var options string
	for _, o := range livekitOptions {
		options += "\n\t\t\t\t" + o
	}
	port := testcaddy.FreePort(t)
	store := "store " + t.TempDir()
	cf := fmt.Sprintf(`{
	admin off
	persist_config off
	storage file_system %s
	skip_install_trust
}

http://127.0.0.1:%d {
	bind 127.0.0.1
	handle_path /guest-admin/* {
		guest_admin {
			%s
			api_key %s
			link_base http://127.0.0.1:%d/guest/
			room demo Demo
		}
	}
	route {
		guest_gateway {
			%s
			livekit {
				url %s
				api_key %s
				api_secret %s%s
			}
		}
		respond "room page" 200
	}
}
`, t.TempDir(), port, store, apiKey, port, store, lk.URL, lk.APIKey, lk.APISecret, options)
	s := &site{t: t, cf: cf, base: fmt.Sprintf("http://127.0.0.1:%d", port), lk: lk,
		rs: lksdk.NewRoomServiceClient(strings.Replace(lk.URL, "ws://", "http://", 1), lk.APIKey, lk.APISecret)}
	s.start()
	s.api(http.MethodPut, "/rooms/demo/guest-access", `{"enabled":true}`, nil)
	s.api(http.MethodPut, "/rooms/hall", `{"name":"Hall","admission":"moderator"}`, nil)
	s.api(http.MethodPut, "/rooms/hall/guest-access", `{"enabled":true}`, nil)
	return s
}

// start loads the site's config and waits until guestgate answers.
func (s *site) start() {
	s.t.Helper()
	if err := inproc.Load(s.t, s.cf); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.base + "/guest-admin/api/rooms")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("guestgate does not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// api calls the moderator API with the API key and decodes a JSON answer
// into out, failing the test on a status above 299.
func (s *site) api(method, path, body string, out any) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.base+"/guest-admin/api"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode > 299 {
		s.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// link makes a link of role in room and returns its URL.
func (s *site) link(room, role string) string {
	var l struct{ URL string }
	s.api(http.MethodPost, "/rooms/"+room+"/links", `{"name":"`+role+`s","role":"`+role+`"}`, &l)
	return l.URL
}

// invitation invites name to room as role and returns its URL.
func (s *site) invitation(room, role, name, email string) string {
	var v struct{ URL string }
	s.api(http.MethodPost, "/rooms/"+room+"/invitations", `{"name":"`+name+`","email":"`+email+`","role":"`+role+`"}`, &v)
	return v.URL
}

// guest is a browser of one guest.
type guest struct {
	s      *site
	client *http.Client
	id     string
}

var csrfRE = regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]*)">`)

// redeem opens the entry page at link (a URL) and submits name and email, as a
// browser does.
func (s *site) redeem(link, name, email string) *guest {
	s.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(link)
	if err != nil {
		s.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRE.FindSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		s.t.Fatalf("entry page: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, link, strings.NewReader(url.Values{"name": {name}, "email": {email}, "csrf": {string(m[1])}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.base)
	if resp, err = c.Do(req); err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		s.t.Fatalf("entry form: %d", resp.StatusCode)
	}
	return &guest{s: s, client: c}
}

// token asks guestgate's LiveKit token endpoint, as LiveKit's endpoint
// TokenSource does, and returns the status and the answer's fields.
func (g *guest) token(body string) (int, map[string]string) {
	g.s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.s.base+"/guest/livekit/token", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", g.s.base)
	resp, err := g.client.Do(req)
	if err != nil {
		g.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// join gets a token and joins the LiveKit room with LiveKit's Go SDK.
func (g *guest) join(cb *lksdk.RoomCallback) *lksdk.Room {
	g.s.t.Helper()
	status, ans := g.token(`{"room_name":"demo"}`)
	if status != http.StatusCreated || ans["server_url"] != g.s.lk.URL || ans["participant_token"] == "" {
		g.s.t.Fatalf("token endpoint: %d %v", status, ans)
	}
	if cb == nil {
		cb = lksdk.NewRoomCallback()
	}
	room, err := lksdk.ConnectToRoomWithToken(ans["server_url"], ans["participant_token"], cb, lksdk.WithAutoSubscribe(true))
	if err != nil {
		g.s.t.Fatalf("joining the LiveKit room: %v", err)
	}
	g.s.t.Cleanup(room.Disconnect)
	g.id = string(room.LocalParticipant.Identity())
	return room
}

// remove removes guest g of room demo through the moderator API and
// returns how long it took until g left the LiveKit room, failing after
// 10 s; who names g in the messages.
func (s *site) remove(g *guest, who string) time.Duration {
	s.t.Helper()
	start := time.Now()
	s.api(http.MethodDelete, "/rooms/demo/guests/"+g.id, "", nil)
	for s.participants("demo")[g.id] != nil {
		if time.Since(start) > 10*time.Second {
			s.t.Fatalf("%s is still in the LiveKit room after 10 s", who)
		}
		time.Sleep(25 * time.Millisecond)
	}
	took := time.Since(start)
	s.t.Logf("%s left the LiveKit room %v after the removal through the API", who, took.Round(time.Millisecond))
	return took
}

// participants lists the LiveKit room's participants by identity.
func (s *site) participants(room string) map[string]*livekit.ParticipantInfo {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := s.rs.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: room})
	if err != nil {
		s.t.Fatalf("ListParticipants: %v", err)
	}
	out := map[string]*livekit.ParticipantInfo{}
	for _, p := range res.Participants {
		out[p.Identity] = p
	}
	return out
}

// TestLiveKitRoom walks guests through guestgate into a real LiveKit room
// (docs/DESIGN.md section 9) with LiveKit's own Go SDK: the participants
// carry the names typed on the entry page and their role's rights (a
// viewer's attempt to publish is refused, a speaker's track reaches the
// viewer, a moderator's token is a room admin's); a waiting guest gets no
// token; and a guest removed through the moderator API leaves the LiveKit
// room within 2 s.
func TestLiveKitRoom(t *testing.T) {
	s := startSite(t)
	viewer := s.redeem(s.link("demo", "viewer"), "Ada Viewer", "ada@example.com")
	speaker := s.redeem(s.link("demo", "speaker"), "Grace Speaker", "grace@example.com")
	moderator := s.redeem(s.invitation("demo", "moderator", "Edsger Moderator", "edsger@example.com"), "Edsger Moderator", "edsger@example.com")

	var received atomic.Pointer[string]
	vroom := viewer.join(&lksdk.RoomCallback{ParticipantCallback: lksdk.ParticipantCallback{
		OnTrackSubscribed: func(track *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
			from := rp.Name() + ":" + track.Kind().String()
			received.Store(&from)
		},
	}})
	sroom := speaker.join(nil)
	mroom := moderator.join(nil)
	_ = mroom

	ps := s.participants("demo")
	for _, tc := range []struct {
		g          *guest
		name, role string
		publish    bool
	}{
		{viewer, "Ada Viewer", "viewer", false},
		{speaker, "Grace Speaker", "speaker", true},
		{moderator, "Edsger Moderator", "moderator", true},
	} {
		p := ps[tc.g.id]
		if p == nil {
			t.Fatalf("%s (%s) is not in the LiveKit room: %v", tc.name, tc.g.id, ps)
		}
		if p.Name != tc.name || p.Attributes["guestgate.role"] != tc.role || p.Permission.CanPublish != tc.publish ||
			!p.Permission.CanSubscribe || !p.Permission.CanPublishData || p.Permission.CanUpdateMetadata {
			t.Errorf("participant %s: name %q, attributes %v, permission %v; want %q, role %s, publish %v",
				tc.g.id, p.Name, p.Attributes, p.Permission, tc.name, tc.role, tc.publish)
		}
		if len(p.Attributes["guestgate.tag"]) != 22 {
			t.Errorf("participant %s: attributes %v, want the store's 22-character tag", tc.g.id, p.Attributes)
		}
		if strings.Contains(p.Metadata+fmt.Sprint(p.Attributes), "@") {
			t.Errorf("participant %s carries an email: %q %v", tc.g.id, p.Metadata, p.Attributes)
		}
	}

	// The viewer may not publish; the speaker's track reaches the viewer.
	if _, err := vroom.LocalParticipant.PublishTrack(opusTrack(t), &lksdk.TrackPublicationOptions{Name: "mic"}); err == nil {
		t.Error("a viewer published a track")
	}
	track := opusTrack(t)
	if _, err := sroom.LocalParticipant.PublishTrack(track, &lksdk.TrackPublicationOptions{Name: "mic"}); err != nil {
		t.Fatalf("the speaker cannot publish: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for received.Load() == nil && time.Now().Before(deadline) {
		_ = track.WriteSample(media.Sample{Data: []byte{0xf8, 0xff, 0xfe}, Duration: 20 * time.Millisecond}, nil)
		time.Sleep(20 * time.Millisecond)
	}
	if got := received.Load(); got == nil || *got != "Grace Speaker:audio" {
		t.Fatalf("the viewer received %v, want the speaker's audio", got)
	}

	// The moderator's token is a room admin's for its room only: RoomService
	// answers it for that room and refuses it for another; the viewer's it
	// refuses.
	for _, tc := range []struct {
		g    *guest
		room string
		want int
	}{{moderator, "demo", 200}, {moderator, "hall", 401}, {viewer, "demo", 401}} {
		_, ans := tc.g.token("")
		req, _ := http.NewRequest(http.MethodPost, strings.Replace(s.lk.URL, "ws://", "http://", 1)+"/twirp/livekit.RoomService/ListParticipants", bytes.NewReader([]byte(`{"room":"`+tc.room+`"}`)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+ans["participant_token"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("ListParticipants of room %s with the token of %s: %d, want %d", tc.room, tc.g.id, resp.StatusCode, tc.want)
		}
	}

	// A token for another room is refused; so is one for a guest waiting in
	// the lobby.
	if status, _ := viewer.token(`{"room_name":"hall"}`); status != http.StatusForbidden {
		t.Errorf("a token for another room: %d, want 403", status)
	}
	waiting := s.redeem(s.link("hall", "viewer"), "Wendy Waiting", "wendy@example.com")
	if status, ans := waiting.token(""); status != http.StatusForbidden || ans["participant_token"] != "" {
		t.Errorf("a waiting guest's token: %d %v, want 403 without a token", status, ans)
	}

	// Removed through the API, the viewer leaves the LiveKit room.
	if took := s.remove(viewer, "the removed viewer"); took > 2*time.Second {
		t.Errorf("the removal took %v, want at most 2 s", took)
	}
	if ps := s.participants("demo"); ps[speaker.id] == nil || ps[moderator.id] == nil {
		t.Errorf("the other guests left too: %v", ps)
	}

	// A guest removed before joining cannot stay with the token they hold:
	// LiveKit revokes nothing for someone not in the room, so the gateway
	// removes them when they appear.
	early := s.redeem(s.link("demo", "viewer"), "Barbara Early", "barbara@example.com")
	status, ans := early.token("")
	if status != http.StatusCreated {
		t.Fatalf("token endpoint: %d %v", status, ans)
	}
	var claims struct{ Sub string }
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(ans["participant_token"], ".")[1])
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Sub == "" {
		t.Fatalf("the participant token's subject: %v %s", err, payload)
	}
	s.api(http.MethodDelete, "/rooms/demo/guests/"+claims.Sub, "", nil)
	// Join once the removal has told LiveKit (the watcher looks every 100
	// ms): its RemoveParticipant found nobody, so this join is the case.
	time.Sleep(time.Second)
	cut := make(chan lksdk.DisconnectionReason, 1)
	room, err := lksdk.ConnectToRoomWithToken(ans["server_url"], ans["participant_token"], &lksdk.RoomCallback{
		OnDisconnectedWithReason: func(reason lksdk.DisconnectionReason) { cut <- reason },
	})
	if err != nil {
		t.Logf("the removed guest could not join: %v", err)
		return
	}
	t.Cleanup(room.Disconnect)
	joined := time.Now()
	select {
	case reason := <-cut:
		t.Logf("disconnected: %v", reason)
	case <-time.After(10 * time.Second):
		t.Fatal("a guest removed before joining is still connected to the LiveKit room 10 s after joining with their token")
	}
	if s.participants("demo")[claims.Sub] != nil {
		t.Error("a guest removed before joining is still listed in the LiveKit room")
	}
	t.Logf("a guest removed before joining left the LiveKit room %v after joining", time.Since(joined).Round(time.Millisecond))
}

// opusTrack is a local Opus track.
func opusTrack(t *testing.T) *lksdk.LocalTrack {
	t.Helper()
	tr, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestLiveKitAfterRestart protects the participants of a gateway that
// restarted: the process that gave the tokens is gone, and with it what it
// watched, yet a guest removed after the restart still leaves the LiveKit
// room within a few seconds, and the others stay.
func TestLiveKitAfterRestart(t *testing.T) {
	s := startSite(t)
	kept := s.redeem(s.link("demo", "viewer"), "Kay Kept", "kay@example.com")
	gone := s.redeem(s.link("demo", "speaker"), "Gus Gone", "gus@example.com")
	kept.join(nil)
	gone.join(nil)

	if err := inproc.Stop(); err != nil {
		t.Fatal(err)
	}
	s.start()
	// The restarted gateway adopts them a second after its start.
	time.Sleep(2 * time.Second)
	if ps := s.participants("demo"); ps[kept.id] == nil || ps[gone.id] == nil {
		t.Fatalf("a guest left the LiveKit room on the restart: %v", ps)
	}
	s.remove(gone, "a guest removed after the restart")
	if s.participants("demo")[kept.id] == nil {
		t.Error("the other guest left too")
	}
}

// TestLiveKitRenewedTokenAfterRemoval protects a removal against the tokens
// LiveKit gives a connected participant itself: one as they join and one
// every 5 minutes, each valid 10 minutes whatever the gateway's token said,
// none revoked by RemoveParticipant. A guest who keeps one (any client can:
// it comes over the signalling connection) and is removed once the
// gateway's own token has expired joins again with it; the gateway must
// remove them within about a second, as it does a guest removed before
// joining, not leave them in until a round of adopting finds them (30 s),
// after which the token their join brought lets them in again. It waits for
// the gateway's token to expire: token_ttl is 1m, the shortest.
func TestLiveKitRenewedTokenAfterRemoval(t *testing.T) {
	s := startSite(t, "token_ttl 1m")
	g := s.redeem(s.link("demo", "speaker"), "Rita Renewed", "rita@example.com")
	status, ans := g.token("")
	if status != http.StatusCreated {
		t.Fatalf("token endpoint: %d %v", status, ans)
	}
	renewed, id := renewedToken(t, s.lk.URL, ans["participant_token"])
	g.id = id
	time.Sleep(62 * time.Second) // the gateway's token has expired; the renewed one has not
	s.api(http.MethodDelete, "/rooms/demo/guests/"+id, "", nil)
	time.Sleep(time.Second) // the removal has told LiveKit

	room, err := lksdk.ConnectToRoomWithToken(ans["server_url"], renewed, lksdk.NewRoomCallback())
	if err != nil {
		t.Logf("the removed guest could not join with the renewed token: %v", err)
		return
	}
	t.Cleanup(room.Disconnect)
	joined := time.Now()
	for s.participants("demo")[id] != nil {
		if time.Since(joined) > 3*time.Second {
			t.Fatal("a removed guest who joined again with a token LiveKit renewed for them is still in the LiveKit room 3 s later")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the removed guest left the LiveKit room %v after joining again", time.Since(joined).Round(time.Millisecond))
}

// renewedToken joins LiveKit's signalling with tok, as a client does before
// any media, and returns the token LiveKit renews for the participant on
// joining, and the participant's identity.
func renewedToken(t *testing.T, server, tok string) (renewed, identity string) {
	t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+tok)
	conn, resp, err := websocket.DefaultDialer.Dial(server+"/rtc?protocol=17&auto_subscribe=0&sdk=go", h)
	if err != nil {
		t.Fatalf("LiveKit signalling: %v", err)
	}
	resp.Body.Close()
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for renewed == "" || identity == "" {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("LiveKit signalling: %v (identity %q, renewed token %v)", err, identity, renewed != "")
		}
		var sr livekit.SignalResponse
		if err := proto.Unmarshal(msg, &sr); err != nil {
			t.Fatal(err)
		}
		if j := sr.GetJoin(); j != nil {
			identity = j.GetParticipant().GetIdentity()
		}
		if r := sr.GetRefreshToken(); r != "" {
			renewed = r
		}
	}
	return renewed, identity
}

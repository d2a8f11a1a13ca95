package browser

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/guestgate/guestgate/internal/testcaddy"
	"github.com/guestgate/guestgate/internal/testcaddy/inproc"
	"github.com/guestgate/guestgate/internal/testlivekit"
)

// liveKitExample is examples/livekit/Caddyfile made to run beside other
// tests: its address, store, site and LiveKit server moved, nothing else. It
// fails the test when the example no longer has one of the lines it moves,
// so that the walk keeps walking the example and not a copy of it.
func liveKitExample(t *testing.T, port int, lk *testlivekit.Server) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(root, "examples", "livekit", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	cf := string(text)
	for _, r := range [][2]string{
		{"localhost:8080", fmt.Sprintf("127.0.0.1:%d", port)},
		{"examples/livekit/data", filepath.Join(t.TempDir(), "data")},
		{"examples/livekit/site", filepath.Join(root, "examples", "livekit", "site")},
		{"url ws://127.0.0.1:7880", "url " + lk.URL},
	} {
		if !strings.Contains(cf, r[0]) {
			t.Fatalf("examples/livekit/Caddyfile has no %q any more", r[0])
		}
		cf = strings.ReplaceAll(cf, r[0], r[1])
	}
	return cf
}

// TestLiveKitExample walks examples/livekit as its Caddyfile's comment tells
// a user to, against a real livekit-server and the livekit-client SDK that
// examples/livekit/fetch-sdk.sh fetches, in Chromium with fake camera and
// microphone: a speaker and a viewer each open their link, type their names
// on the entry page, and land on the room page, which gets its LiveKit token
// from guestgate and lists the participants with the names typed and the
// roles of their links. The speaker turns the camera on and the viewer
// receives it; the viewer is offered no camera button. When the moderator
// removes the speaker through the API, the speaker's page is disconnected
// and the viewer's list loses them.
func TestLiveKitExample(t *testing.T) {
	sdk := filepath.Join("..", "examples", "livekit", "site", "static", "livekit-client.umd.js")
	if _, err := os.Stat(sdk); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the livekit-client SDK is missing (CI is set): run examples/livekit/fetch-sdk.sh: %v", err)
		}
		t.Skipf("the livekit-client SDK is missing; run examples/livekit/fetch-sdk.sh: %v", err)
	}
	sess := newSession(t,
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"))
	lk := testlivekit.Start(t)
	t.Setenv("LIVEKIT_API_KEY", lk.APIKey)
	t.Setenv("LIVEKIT_API_SECRET", lk.APISecret)
	t.Setenv("GUESTGATE_API_KEY", apiKey)

	port := testcaddy.FreePort(t)
	// The package's server (if running) is replaced: make the next
	// startServer start it again.
	srvOnce, srv, srvErr = sync.Once{}, nil, nil
	if err := inproc.Load(t, liveKitExample(t, port, lk)); err != nil {
		t.Fatalf("loading examples/livekit/Caddyfile: %v", err)
	}
	s := &server{base: fmt.Sprintf("http://127.0.0.1:%d", port), client: &http.Client{Timeout: 10 * time.Second}}
	testcaddy.WaitReady(t, s.base+"/guest/leave", nil)

	// The Caddyfile's comment: guest access on for "demo", then links.
	s.api(t, http.StatusOK, "PUT", "/api/rooms/demo/guest-access", map[string]any{"enabled": true}, nil)
	speakers := s.newLink(t, "demo", map[string]any{"name": "Speakers", "role": "speaker"})
	audience := s.newLink(t, "demo", map[string]any{"name": "Audience"})

	// participantsJS lists the room page's participants as its text shows
	// them, "name (role)", and the identities beside them.
	const participantsJS = `Array.from(document.querySelectorAll("#participants li")).map(function (li) { return li.textContent; }).sort().join(" | ")`
	join := func(tb *tab, url, name string) {
		t.Helper()
		tb.open(url)
		tb.submitEntry(name, strings.ToLower(strings.Fields(name)[0])+"@example.org")
		tb.wait("the room page, connected", `location.pathname === "/rooms/demo" && document.getElementById("status").textContent === "Connected."`)
	}

	speaker := sess.newTab("speaker", view{})
	join(speaker, speakers.URL, "Ada Lovelace")
	if got, want := evalJS[string](speaker, participantsJS), "Ada Lovelace (speaker, you)"; got != want {
		t.Errorf("the speaker's participants: %q, want %q", got, want)
	}
	if speaker.hidden("#media") {
		t.Fatal("the speaker is offered no camera and microphone button")
	}
	speaker.do("turning the camera on", chromedp.Click(chromedp.CSS("#media")))
	speaker.wait("the camera on", `document.getElementById("media").textContent === "Turn camera and microphone off"`)

	viewer := sess.newTab("viewer", view{})
	join(viewer, audience.URL, "Grace Hopper")
	viewer.wait("both participants", participantsJS+` === "Ada Lovelace (speaker) | Grace Hopper (viewer, you)"`)
	speaker.wait("the viewer on the speaker's page", participantsJS+` === "Ada Lovelace (speaker, you) | Grace Hopper (viewer)"`)
	if !viewer.hidden("#media") {
		t.Error("the viewer is offered a camera and microphone button")
	}
	viewer.wait("the speaker's camera on the viewer's page", `document.querySelector("#videos video") !== null`)

	// The moderator removes the speaker: LiveKit disconnects them.
	ada := evalJS[string](viewer, `Array.from(document.querySelectorAll("#participants li")).find(function (li) { return li.textContent.indexOf("Ada Lovelace") === 0; }).dataset.identity`)
	s.api(t, http.StatusNoContent, "DELETE", "/api/rooms/demo/guests/"+ada, nil, nil)
	speaker.wait("the speaker's page told of the removal", `document.getElementById("status").textContent === "You left the room, or were removed from it."`)
	viewer.wait("the speaker gone from the viewer's list", participantsJS+` === "Grace Hopper (viewer, you)"`)
}

package browser

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// fakeAlertsJS replaces the browser's AudioContext and Notification with
// fakes that count what the page plays and shows (window.knocks, the
// oscillators started; window.notes, the notifications' bodies), with the
// notification permission granted, as a moderator who allowed it has it.
const fakeAlertsJS = `(function () {
  window.knocks = 0; window.notes = [];
  function Node() {}
  Node.prototype.connect = function (n) { return n || this; };
  function FakeAudio() { this.currentTime = 0; this.destination = new Node(); }
  FakeAudio.prototype.resume = function () { return Promise.resolve(); };
  FakeAudio.prototype.createGain = function () {
    var g = new Node(); g.gain = { setValueAtTime: function () {}, exponentialRampToValueAtTime: function () {} }; return g;
  };
  FakeAudio.prototype.createOscillator = function () {
    var o = new Node(); o.frequency = {}; o.start = function () { window.knocks++; }; o.stop = function () {}; return o;
  };
  window.AudioContext = FakeAudio;
  function FakeNote(title, opts) { window.notes.push(title + " | " + opts.body); }
  FakeNote.permission = "granted";
  FakeNote.requestPermission = function () { return Promise.resolve("granted"); };
  window.Notification = FakeNote;
  return true;
})()`

// TestLobbyMessageAndKnock: a moderator tells the waiting guests something on
// the Manage page and they read it on their lobby page, as text (markup in it
// is shown, not obeyed), in the page's language and direction; the page shows
// how many wait in a badge and in the tab's title; a sound and a desktop
// notification come only after the moderator turned them on (nothing before
// that click, which is the gesture browsers ask for); when the lobby empties
// the message is gone. Desktop and phone, English, German and Hebrew.
func TestLobbyMessageAndKnock(t *testing.T) {
	s := startServer(t)
	messages := map[string]string{
		"en": "We start at 10:05 — <b>please</b> wait",
		"de": "Wir beginnen um 10:05 Uhr — <b>bitte</b> warten",
		"he": "נתחיל בשעה 10:05 — <b>נא</b> להמתין",
	}
	for _, v := range uxViews {
		t.Run(v.name, func(t *testing.T) {
			roomID := uniqueID("lobbymsg-" + v.lang)
			link := guestLink(t, s, roomID, "Sprechstunde", "moderator")
			sess := newSession(t)
			guests := []*tab{sess.newTab("guest-1-"+v.name, v.view)}
			guests[0].open(link)
			guests[0].submitEntry("Lena", "lena@example.com")
			guests[0].wait("the lobby", `location.pathname === "/guest/lobby"`)
			if !guests[0].hidden("#lobby-message") {
				t.Error("the lobby shows a message box before there is a message")
			}

			mod := sess.newTab("moderator-"+v.name, v.view)
			openAsModerator(s, mod, roomID, moderatorToken(t, "mod-1", "Mo", []string{roomID}, time.Hour))
			one := tr(v.lang, "moderator.lobby.waiting_count.one")
			mod.wait("the badge with one waiting guest", `document.getElementById("waiting-badge").textContent === `+jsString(one)+` && !document.getElementById("waiting-badge").hidden`)
			if title := evalJS[string](mod, `document.title`); !strings.HasPrefix(title, "(1) ") {
				t.Errorf("the tab's title is %q, want it to start with the count (1)", title)
			}

			// The message, typed and sent on the Manage page.
			msg := messages[v.lang]
			mod.setValue("lobby-message-input", msg)
			mod.do("sending the message", chromedp.Click(chromedp.CSS("#lobby-message-send")))
			mod.wait("the message shown as sent", `document.getElementById("lobby-message-shown").textContent === `+jsString(msg))
			guests[0].wait("the message on the lobby page", `document.getElementById("lobby-message-text").textContent === `+jsString(msg)+` && !document.getElementById("lobby-message").hidden`)
			type box struct {
				Bold      int
				Label     string
				Direction string
			}
			got := evalJS[box](guests[0], `({Bold: document.querySelectorAll("#lobby-message b").length, Label: document.querySelector("#lobby-message .eyebrow").textContent, Direction: getComputedStyle(document.getElementById("lobby-message-text")).direction})`)
			wantDir := "ltr"
			if v.lang == "he" {
				wantDir = "rtl"
			}
			if want := (box{0, tr(v.lang, "guest.lobby.message"), wantDir}); got != want {
				t.Errorf("the lobby's message box = %+v, want %+v (the markup as text)", got, want)
			}
			noSidewaysScroll(t, guests[0], "the lobby with a message")
			keepScreenshot(t, guests[0], "lobby-message-guest-"+v.name)

			// Too long: said beside the field, nothing sent.
			mod.setValue("lobby-message-input", strings.Repeat("x", 281))
			mod.do("sending a long message", chromedp.Click(chromedp.CSS("#lobby-message-send")))
			if f := fieldErrors(mod, "-error", "lobby-message-input")["lobby-message-input"]; !f.Shown || f.Invalid != "true" || f.Text != tr(v.lang, "moderator.error.field.text") {
				t.Errorf("a message of 281 characters: %+v, want the error beside the field", f)
			}
			mod.setValue("lobby-message-input", "")

			// A second guest before the alerts are on: the count, no sound.
			evalJS[bool](mod, fakeAlertsJS)
			guests = append(guests, sess.newTab("guest-2-"+v.name, v.view))
			guests[1].open(link)
			guests[1].submitEntry("Ari", "ari@example.com")
			two := tr(v.lang, "moderator.lobby.waiting_count.other", 2)
			if v.lang == "he" {
				two = tr(v.lang, "moderator.lobby.waiting_count.two")
			}
			mod.wait("the badge with two", `document.getElementById("waiting-badge").textContent === `+jsString(two)+` && document.title.indexOf("(2) ") === 0`)
			guests[1].wait("the message for the second guest", `document.getElementById("lobby-message-text").textContent === `+jsString(msg))
			if n := evalJS[int](mod, `window.knocks + window.notes.length`); n != 0 {
				t.Errorf("%d sounds and notifications before the moderator turned them on", n)
			}

			// On, by a click: the third guest knocks.
			mod.do("turning the alerts on", chromedp.Click(chromedp.CSS("#lobby-alerts")))
			guests = append(guests, sess.newTab("guest-3-"+v.name, v.view))
			guests[2].open(link)
			guests[2].submitEntry("Kim", "kim@example.com")
			mod.wait("the sound and the notification", `window.knocks > 0 && window.notes.length === 1`)
			if note := evalJS[string](mod, `window.notes[0]`); !strings.Contains(note, "Kim") || !strings.Contains(note, "Sprechstunde") {
				t.Errorf("the notification says %q, want the guest's and the room's names", note)
			}
			if got, want := mod.text("#guests-empty"), tr(v.lang, "moderator.guests.all_waiting"); got != want || mod.hidden("#guests-empty") {
				t.Errorf("the guest list with everyone in the lobby says %q, want %q", got, want)
			}
			noSidewaysScroll(t, mod, "the Manage page with waiting guests")
			keepScreenshot(t, mod, "lobby-message-manage-"+v.name)

			// Admitted, all of them: the lobby is empty, the message gone.
			s.api(t, http.StatusOK, "POST", "/api/rooms/"+roomID+"/lobby/admit-all", nil, nil)
			for _, g := range guests {
				g.wait("the room", `location.pathname === "/rooms/`+roomID+`"`)
			}
			mod.wait("the lobby empty and its message gone", `document.getElementById("waiting-badge").hidden && document.getElementById("lobby-message-current").hidden && document.title.indexOf("(") !== 0`)
			if r := s.room(t, roomID); r.LobbyMessage != "" {
				t.Errorf("the room keeps the message %q after the lobby emptied", r.LobbyMessage)
			}
		})
	}
}

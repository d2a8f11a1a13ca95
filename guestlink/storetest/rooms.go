package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/atonce"
)

// roomTests protect the room records and their guest access switch: what
// PutRoom makes and keeps (RoomSpec.Apply's rules: the switch and CreatedAt
// survive an update, a gallery has no guest access), what MakeRoom makes and
// leaves alone, CheckGuestAccess on the
// switch, the lobby message (stored, kept by PutRoom, answered from memory and
// raising the generation that wakes the lobby pages), and DeleteRoom taking
// the room's links and guests with it.
var roomTests = []subtest{
	{"PutRoom", testPutRoom},
	{"MakeRoom", testMakeRoom},
	{"SetGuestAccess", testSetGuestAccess},
	{"SetLobbyMessage", testSetLobbyMessage},
	{"ClearLobbyMessage", testClearLobbyMessage},
	{"DeleteRoom", testDeleteRoom},
}

func testPutRoom(t *testing.T, e *env) {
	if _, err := e.s.Room(e.ctx, "demo"); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Fatalf("Room before PutRoom: %v, want ErrRoomNotFound", err)
	}
	spec := e.normalize("demo", guestlink.RoomSpec{Name: "Demo"})
	r, created, err := e.s.PutRoom(e.ctx, "demo", spec, t0)
	if err != nil || !created {
		t.Fatalf("PutRoom: created %v, err %v; want created", created, err)
	}
	want := guestlink.Room{ID: "demo", Name: "Demo", Kind: guestlink.KindRoom, Available: true,
		Admission: guestlink.AdmissionAuto, CreatedAt: t0, UpdatedAt: t0}
	if !sameRoom(r, want) {
		t.Fatalf("PutRoom = %+v, want %+v", r, want)
	}
	if got, err := e.s.Room(e.ctx, "demo"); err != nil || !sameRoom(got, want) {
		t.Fatalf("Room = %+v, %v; want %+v", got, err, want)
	}
	if _, err := e.s.SetGuestAccess(e.ctx, "demo", true, t0); err != nil {
		t.Fatal(err)
	}

	// Update: the switch and CreatedAt are kept.
	t1 := t0.Add(time.Hour)
	spec = e.normalize("demo", guestlink.RoomSpec{Name: "Demo 2", Admission: guestlink.AdmissionModerator})
	r, created, err = e.s.PutRoom(e.ctx, "demo", spec, t1)
	if err != nil || created {
		t.Fatalf("PutRoom update: created %v, err %v; want updated", created, err)
	}
	if !r.GuestAccess || r.Name != "Demo 2" || r.Admission != guestlink.AdmissionModerator || !r.CreatedAt.Equal(t0) || !r.UpdatedAt.Equal(t1) {
		t.Fatalf("updated room = %+v", r)
	}
	if got, err := e.s.Room(e.ctx, "demo"); err != nil || !sameRoom(got, r) {
		t.Fatalf("Room = %+v, %v; want %+v", got, err, r)
	}

	// Becoming a gallery switches guest access off, and stays so.
	r, _, err = e.s.PutRoom(e.ctx, "demo", e.normalize("demo", guestlink.RoomSpec{Kind: guestlink.KindGallery}), t1)
	if err != nil || r.GuestAccess || r.Kind != guestlink.KindGallery {
		t.Fatalf("PutRoom gallery = %+v, %v; want a gallery with guest access off", r, err)
	}
	if got, _ := e.s.Room(e.ctx, "demo"); got.GuestAccess || got.Kind != guestlink.KindGallery {
		t.Fatalf("stored gallery = %+v", got)
	}

	// A second room is a second record; unknown ids are not found.
	e.putRoom("demo.2", guestlink.RoomSpec{}, t1)
	if st := e.stats(); st.Rooms != 2 {
		t.Errorf("Stats.Rooms = %d, want 2", st.Rooms)
	}
	// Rooms lists both, by id.
	e.putRoom("a-first", guestlink.RoomSpec{Name: "First"}, t1)
	all, err := e.s.Rooms(e.ctx)
	if err != nil {
		t.Fatalf("Rooms: %v", err)
	}
	var got []string
	for _, r := range all {
		got = append(got, r.ID+"="+r.Name)
	}
	if want := []string{"a-first=First", "demo=" + r.Name, "demo.2=demo.2"}; !slices.Equal(got, want) {
		t.Errorf("Rooms = %v, want %v", got, want)
	}
	if err := e.s.DeleteRoom(e.ctx, "a-first"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"dem", "demo.", "missing", "DEMO"} {
		if _, err := e.s.Room(e.ctx, id); !errors.Is(err, guestlink.ErrRoomNotFound) {
			t.Errorf("Room(%q): %v, want ErrRoomNotFound", id, err)
		}
	}
}

// testMakeRoom: MakeRoom makes a room that does not exist, as PutRoom would;
// a room that exists comes back as it is stored, with nothing written (the
// generation stays); of 20 concurrent calls for a new id, exactly one makes
// the room and every call returns that one's room.
func testMakeRoom(t *testing.T, e *env) {
	spec := e.normalize("demo", guestlink.RoomSpec{Name: "Demo"})
	gen := e.s.Generation()
	r, created, err := e.s.MakeRoom(e.ctx, "demo", spec, t0)
	want := guestlink.Room{ID: "demo", Name: "Demo", Kind: guestlink.KindRoom, Available: true,
		Admission: guestlink.AdmissionAuto, CreatedAt: t0, UpdatedAt: t0}
	if err != nil || !created || !sameRoom(r, want) {
		t.Fatalf("MakeRoom = %+v, created %v, %v; want %+v, created", r, created, err, want)
	}
	if g := e.s.Generation(); g <= gen {
		t.Errorf("MakeRoom of a new room: Generation %d -> %d, want it to grow", gen, g)
	}
	if got, err := e.s.Room(e.ctx, "demo"); err != nil || !sameRoom(got, want) {
		t.Fatalf("Room = %+v, %v; want %+v", got, err, want)
	}

	// A moderator's changes stay.
	t1 := t0.Add(time.Hour)
	e.putRoom("demo", guestlink.RoomSpec{Name: "Renamed", Admission: guestlink.AdmissionModerator}, t1)
	if _, err := e.s.SetGuestAccess(e.ctx, "demo", true, t1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.SetLobbyMessage(e.ctx, "demo", "Back soon", t1); err != nil {
		t.Fatal(err)
	}
	stored, err := e.s.Room(e.ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	gen = e.s.Generation()
	r, created, err = e.s.MakeRoom(e.ctx, "demo", spec, t1.Add(time.Hour))
	if err != nil || created || !sameRoom(r, stored) {
		t.Fatalf("MakeRoom of an existing room = %+v, created %v, %v; want %+v as stored", r, created, err, stored)
	}
	if got, err := e.s.Room(e.ctx, "demo"); err != nil || !sameRoom(got, stored) {
		t.Fatalf("Room after MakeRoom = %+v, %v; want %+v", got, err, stored)
	}
	if g := e.s.Generation(); g != gen {
		t.Errorf("MakeRoom of an existing room: Generation %d -> %d, want no write", gen, g)
	}

	// Concurrent calls: one maker.
	rooms := atonce.Run(20, func(i int) guestlink.Room {
		spec := e.normalize("race", guestlink.RoomSpec{Name: fmt.Sprintf("Race %d", i)})
		r, created, err := e.s.MakeRoom(e.ctx, "race", spec, t0)
		if err != nil {
			t.Errorf("MakeRoom %d: %v", i, err)
		}
		if !created {
			r.ID = "" // marks the calls that did not make it
		}
		return r
	})
	stored, err = e.s.Room(e.ctx, "race")
	if err != nil {
		t.Fatal(err)
	}
	makers := 0
	for i, r := range rooms {
		if r.ID != "" {
			makers++
			r.ID = stored.ID
		}
		if r.Name != stored.Name {
			t.Errorf("MakeRoom %d returned %q, the store holds %q", i, r.Name, stored.Name)
		}
	}
	if makers != 1 {
		t.Errorf("%d of 20 concurrent MakeRoom calls made the room, want 1", makers)
	}

	var ve *guestlink.ValidationError
	if _, _, err := e.s.MakeRoom(e.ctx, "Bad Id", guestlink.RoomSpec{}, t0); !errors.As(err, &ve) {
		t.Errorf("MakeRoom with an invalid id: %v, want a *ValidationError", err)
	}
}

func testSetGuestAccess(t *testing.T, e *env) {
	e.putRoom("room", guestlink.RoomSpec{Kind: guestlink.KindRoom}, t0)
	e.putRoom("gallery", guestlink.RoomSpec{Kind: guestlink.KindGallery}, t0)
	t1 := t0.Add(time.Minute)
	tests := []struct {
		room    string
		on      bool
		wantErr error
	}{
		{"room", true, nil},
		{"room", false, nil},
		{"room", true, nil},
		{"gallery", true, guestlink.ErrGalleryRoom},
		{"gallery", false, nil},
		{"missing", true, guestlink.ErrRoomNotFound},
		{"missing", false, guestlink.ErrRoomNotFound},
	}
	for i, tc := range tests {
		now := t1.Add(time.Duration(i) * time.Second)
		r, err := e.s.SetGuestAccess(e.ctx, tc.room, tc.on, now)
		if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
			t.Fatalf("#%d SetGuestAccess(%s, %v): %v, want %s", i, tc.room, tc.on, err, errName(tc.wantErr))
		}
		if err != nil {
			continue
		}
		if r.ID != tc.room || r.GuestAccess != tc.on || !r.UpdatedAt.Equal(now) {
			t.Errorf("#%d returned %+v, want guest access %v updated at %v", i, r, tc.on, now)
		}
		if stored, _ := e.s.Room(e.ctx, tc.room); stored.GuestAccess != tc.on || !stored.UpdatedAt.Equal(now) {
			t.Errorf("#%d stored %+v, want guest access %v", i, stored, tc.on)
		}
	}
	if r, _ := e.s.Room(e.ctx, "gallery"); r.GuestAccess {
		t.Error("gallery room has guest access on")
	}
}

// testClearLobbyMessage: the lobby's own clearing takes away the message it
// read and no other: one a moderator set since stays, and a clearing that
// races a new message, many times over, never loses it.
func testClearLobbyMessage(t *testing.T, e *env) {
	t1 := t0.Add(time.Minute)
	e.putRoom("room", guestlink.RoomSpec{Admission: guestlink.AdmissionModerator}, t0)
	if _, err := e.s.SetLobbyMessage(e.ctx, "room", "Back soon", t0); err != nil {
		t.Fatal(err)
	}
	r, cleared, err := e.s.ClearLobbyMessage(e.ctx, "room", "We start at 10:05", t1)
	if err != nil || cleared || r.LobbyMessage != "Back soon" {
		t.Errorf("clearing a message the room no longer has = %+v, %v, %v; want it kept", r, cleared, err)
	}
	gen := e.s.Generation()
	r, cleared, err = e.s.ClearLobbyMessage(e.ctx, "room", "Back soon", t1)
	if err != nil || !cleared || r.LobbyMessage != "" || !r.UpdatedAt.Equal(t1) {
		t.Errorf("clearing the room's message = %+v, %v, %v; want it cleared at %v", r, cleared, err, t1)
	}
	if stored, _ := e.s.Room(e.ctx, "room"); stored.LobbyMessage != "" || e.s.LobbyMessage("room") != "" {
		t.Errorf("after the clearing the room holds %q, the live state %q", stored.LobbyMessage, e.s.LobbyMessage("room"))
	}
	if e.s.Generation() == gen {
		t.Error("the clearing did not raise the generation: lobby pages would not be woken")
	}
	if _, _, err := e.s.ClearLobbyMessage(e.ctx, "missing", "", t1); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("clearing a missing room's message = %v, want ErrRoomNotFound", err)
	}
	// A clearing of "old" racing the setting of "new": "new" stays.
	for i := range 20 {
		if _, err := e.s.SetLobbyMessage(e.ctx, "room", "old", t1); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, _, _ = e.s.ClearLobbyMessage(e.ctx, "room", "old", t1)
		}()
		go func() {
			defer wg.Done()
			_, _ = e.s.SetLobbyMessage(e.ctx, "room", "new", t1)
		}()
		wg.Wait()
		if stored, _ := e.s.Room(e.ctx, "room"); stored.LobbyMessage != "new" {
			t.Fatalf("round %d: a clearing of the old message raced the new one, and the room holds %q", i, stored.LobbyMessage)
		}
	}
}

func testSetLobbyMessage(t *testing.T, e *env) {
	e.putRoom("room", guestlink.RoomSpec{Admission: guestlink.AdmissionModerator}, t0)
	e.putRoom("other", guestlink.RoomSpec{}, t0)
	if got := e.s.LobbyMessage("room"); got != "" {
		t.Fatalf("LobbyMessage of a new room = %q, want none", got)
	}
	tests := []struct {
		room, text string
		wantErr    error
	}{
		{"room", "We start at 10:05", nil},
		{"room", "Wir beginnen um 10:05 — <b>bitte</b> warten", nil},
		{"room", "נתחיל בעוד חמש דקות", nil},
		{"room", "", nil},
		{"room", "again", nil},
		{"missing", "hello", guestlink.ErrRoomNotFound},
	}
	for i, tc := range tests {
		now := t0.Add(time.Duration(i+1) * time.Minute)
		gen := e.s.Generation()
		r, err := e.s.SetLobbyMessage(e.ctx, tc.room, tc.text, now)
		if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
			t.Fatalf("#%d SetLobbyMessage(%s, %q): %v, want %s", i, tc.room, tc.text, err, errName(tc.wantErr))
		}
		if err != nil {
			if got := e.s.LobbyMessage(tc.room); got != "" {
				t.Errorf("#%d LobbyMessage of a missing room = %q", i, got)
			}
			continue
		}
		if r.LobbyMessage != tc.text || !r.UpdatedAt.Equal(now) {
			t.Errorf("#%d returned %+v, want message %q updated at %v", i, r, tc.text, now)
		}
		if stored, _ := e.s.Room(e.ctx, tc.room); stored.LobbyMessage != tc.text {
			t.Errorf("#%d stored message %q, want %q", i, stored.LobbyMessage, tc.text)
		}
		if got := e.s.LobbyMessage(tc.room); got != tc.text {
			t.Errorf("#%d LobbyMessage = %q, want %q", i, got, tc.text)
		}
		if e.s.Generation() == gen {
			t.Errorf("#%d the generation did not grow: lobby pages would not be woken", i)
		}
	}
	if got := e.s.LobbyMessage("other"); got != "" {
		t.Errorf("the other room's message = %q, want none", got)
	}
	// PutRoom and the guest access switch keep the message.
	r, _, err := e.s.PutRoom(e.ctx, "room", e.normalize("room", guestlink.RoomSpec{Name: "Renamed", Admission: guestlink.AdmissionModerator}), t0.Add(time.Hour))
	if err != nil || r.LobbyMessage != "again" {
		t.Errorf("PutRoom update = %+v, %v; want the message kept", r, err)
	}
	if r, err := e.s.SetGuestAccess(e.ctx, "room", true, t0.Add(time.Hour)); err != nil || r.LobbyMessage != "again" {
		t.Errorf("SetGuestAccess = %+v, %v; want the message kept", r, err)
	}
	if got := e.s.LobbyMessage("room"); got != "again" {
		t.Errorf("LobbyMessage after PutRoom = %q, want %q", got, "again")
	}
	// A deleted room has none.
	if err := e.s.DeleteRoom(e.ctx, "room"); err != nil {
		t.Fatal(err)
	}
	if got := e.s.LobbyMessage("room"); got != "" {
		t.Errorf("LobbyMessage of a deleted room = %q", got)
	}
}

func testDeleteRoom(t *testing.T, e *env) {
	e.room("r", guestlink.RoomSpec{})
	e.room("r.2", guestlink.RoomSpec{Admission: guestlink.AdmissionModerator}) // an id that extends "r"
	var links []guestlink.Link
	var guests []guestlink.Guest
	for i := range 3 {
		l := e.link("r", guestlink.LinkSpec{Name: fmt.Sprintf("l%d", i)}, t0)
		links = append(links, l)
		guests = append(guests, e.redeem(l.Token, t0), e.redeem(l.Token, t0))
	}
	other := e.link("r.2", guestlink.LinkSpec{}, t0)
	otherGuest := e.redeem(other.Token, t0)

	if err := e.s.DeleteRoom(e.ctx, "r"); err != nil {
		t.Fatalf("DeleteRoom: %v", err)
	}
	if _, err := e.s.Room(e.ctx, "r"); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("Room after delete: %v, want ErrRoomNotFound", err)
	}
	if _, err := e.s.Links(e.ctx, "r"); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("Links after delete: %v, want ErrRoomNotFound", err)
	}
	if _, _, err := e.s.Guests(e.ctx, "r", 10, ""); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("Guests after delete: %v, want ErrRoomNotFound", err)
	}
	for _, l := range links {
		if _, _, err := e.s.LinkByToken(e.ctx, l.Token); !errors.Is(err, guestlink.ErrLinkNotFound) {
			t.Errorf("LinkByToken after room delete: %v, want ErrLinkNotFound", err)
		}
	}
	for _, g := range guests {
		if _, err := e.s.Guest(e.ctx, "r", g.ID); !errors.Is(err, guestlink.ErrGuestNotFound) {
			t.Errorf("Guest after room delete: %v, want ErrGuestNotFound", err)
		}
	}
	if st, want := e.stats(), (guestlink.Stats{Rooms: 1, Links: 1, GuestsWaiting: 1}); st != want {
		t.Errorf("Stats after delete = %+v, want %+v (the other room's)", st, want)
	}
	// The other room is untouched.
	if _, l, err := e.s.LinkByToken(e.ctx, other.Token); err != nil || l.ID != other.ID {
		t.Errorf("other room's link: %+v, %v", l, err)
	}
	if _, err := e.s.Guest(e.ctx, "r.2", otherGuest.ID); err != nil {
		t.Errorf("other room's guest: %v", err)
	}

	if err := e.s.DeleteRoom(e.ctx, "r"); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("second DeleteRoom: %v, want ErrRoomNotFound", err)
	}
	if err := e.s.DeleteRoom(e.ctx, "missing"); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("DeleteRoom(missing): %v, want ErrRoomNotFound", err)
	}
	// A new room with the same id starts empty.
	if _, created, err := e.s.PutRoom(e.ctx, "r", e.normalize("r", guestlink.RoomSpec{}), t0); err != nil || !created {
		t.Fatalf("PutRoom after delete: created %v, %v; want created", created, err)
	}
	if ls, err := e.s.Links(e.ctx, "r"); err != nil || len(ls) != 0 {
		t.Errorf("Links of the new room = %+v, %v; want none", ls, err)
	}
	if gs := e.allGuests("r"); len(gs) != 0 {
		t.Errorf("Guests of the new room = %v, want none", ids(gs))
	}
}

// linkTests protect the links of a room: CheckNewLink inside AddLink (also
// under concurrency: the record-counting limit of the Store's doc comment),
// their order, their lookup by token, which never spends a click, and
// DeleteLink, which is final.
var linkTests = []subtest{
	{"AddLinkRules", testAddLinkRules},
	{"AddLinkConcurrentLimit", testAddLinkConcurrentLimit},
	{"LinksOldestFirst", testLinksOldestFirst},
	{"LinkByToken", testLinkByToken},
	{"DeleteLinkIsFinal", testDeleteLinkIsFinal},
	{"AddLinkRefusesAnInvitationID", testAddLinkRefusesAnInvitationID},
}

// testAddLinkRefusesAnInvitationID: a link's id never has an invitation's
// shape, since a guest's LinkID says by its shape which of the two let them
// in (guestlink.IsInvitation).
func testAddLinkRefusesAnInvitationID(t *testing.T, e *env) {
	e.putRoom("r", guestlink.RoomSpec{}, t0)
	if _, err := e.s.SetGuestAccess(e.ctx, "r", true, t0); err != nil {
		t.Fatal(err)
	}
	l := e.newLink("r", guestlink.LinkSpec{Name: "x"}, t0)
	l.ID = guestlink.NewID("i")
	if _, err := e.s.AddLink(e.ctx, l, guestlink.DefaultMaxLinks); err == nil {
		t.Fatal("AddLink took a link with an invitation's id")
	}
	if _, _, err := e.s.LinkByToken(e.ctx, l.Token); !errors.Is(err, guestlink.ErrLinkNotFound) {
		t.Errorf("the refused link's token resolves: %v", err)
	}
}

func testAddLinkRules(t *testing.T, e *env) {
	tests := []struct {
		name     string
		spec     guestlink.RoomSpec
		access   bool
		maxLinks int
		ok       int // links that must be accepted before the refusal
		wantErr  error
	}{
		{"limit 3", guestlink.RoomSpec{}, true, 3, 3, guestlink.ErrLinkLimit},
		{"limit 1", guestlink.RoomSpec{}, true, 1, 1, guestlink.ErrLinkLimit},
		{"limit 5", guestlink.RoomSpec{}, true, 5, 5, guestlink.ErrLinkLimit},
		{"guest access off", guestlink.RoomSpec{}, false, 3, 0, guestlink.ErrGuestAccessOff},
		{"gallery", guestlink.RoomSpec{Kind: guestlink.KindGallery}, false, 3, 0, guestlink.ErrGalleryRoom},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := e.in(t)
			id := fmt.Sprintf("r%d", i)
			e.putRoom(id, tc.spec, t0)
			if tc.access {
				if _, err := e.s.SetGuestAccess(e.ctx, id, true, t0); err != nil {
					t.Fatal(err)
				}
			}
			var added []guestlink.Link
			for j := 0; j <= tc.ok; j++ {
				// Every other link gives speakers; the second opens later.
				spec := guestlink.LinkSpec{Name: fmt.Sprintf("link %d", j), Role: []string{guestlink.RoleViewer, guestlink.RoleSpeaker}[j%2]}
				if j == 1 {
					spec.NotBefore = new(t0.Add(time.Hour))
				}
				l := e.newLink(id, spec, t0)
				got, err := e.s.AddLink(e.ctx, l, tc.maxLinks)
				if j < tc.ok {
					if err != nil {
						t.Fatalf("link %d: %v", j, err)
					}
					if !sameLink(got, l) {
						t.Errorf("AddLink returned %+v, want the link as given %+v", got, l)
					}
					added = append(added, l)
					continue
				}
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("link %d: %v, want %v", j, err, tc.wantErr)
				}
				if _, _, err := e.s.LinkByToken(e.ctx, l.Token); !errors.Is(err, guestlink.ErrLinkNotFound) {
					t.Errorf("the refused link's token resolves: %v", err)
				}
			}
			ls, err := e.s.Links(e.ctx, id)
			if err != nil || len(ls) != tc.ok {
				t.Fatalf("Links: %d links, %v; want %d", len(ls), err, tc.ok)
			}
			for _, l := range added {
				if r, got, err := e.s.LinkByToken(e.ctx, l.Token); err != nil || !sameLink(got, l) || r.ID != id {
					t.Errorf("LinkByToken of an added link = %+v, %+v, %v; want the link as added", r, got, err)
				}
			}
		})
	}

	t.Run("missing room", func(t *testing.T) {
		e := e.in(t)
		l := e.newLink("nope", guestlink.LinkSpec{}, t0)
		if _, err := e.s.AddLink(e.ctx, l, 3); !errors.Is(err, guestlink.ErrRoomNotFound) {
			t.Fatalf("AddLink: %v, want ErrRoomNotFound", err)
		}
	})

	t.Run("deleting a link frees a place", func(t *testing.T) {
		e := e.in(t)
		e.room("free", guestlink.RoomSpec{})
		l := e.link("free", guestlink.LinkSpec{}, t0)
		l2 := e.newLink("free", guestlink.LinkSpec{Name: "second"}, t0)
		if _, err := e.s.AddLink(e.ctx, l2, 1); !errors.Is(err, guestlink.ErrLinkLimit) {
			t.Fatalf("AddLink: %v, want ErrLinkLimit", err)
		}
		if err := e.s.DeleteLink(e.ctx, "free", l.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.AddLink(e.ctx, l2, 1); err != nil {
			t.Fatalf("AddLink after DeleteLink: %v", err)
		}
	})
}

// testAddLinkConcurrentLimit races 30 AddLink calls for a room with max_links
// 3: exactly 3 succeed, the rest are ErrLinkLimit, and Stats counts 3.
func testAddLinkConcurrentLimit(t *testing.T, e *env) {
	addConcurrentLimit(t, e, linkKind, 30, 3)
	if st := e.stats(); st.Links != 3 {
		t.Errorf("Stats.Links = %d, want 3", st.Links)
	}
}

func testLinksOldestFirst(t *testing.T, e *env) {
	e.room("r", guestlink.RoomSpec{})
	e.room("empty", guestlink.RoomSpec{})
	e.room("r2", guestlink.RoomSpec{}) // a room whose id extends "r"
	c := e.link("r", guestlink.LinkSpec{Name: "c"}, t0.Add(2*time.Hour))
	a := e.link("r", guestlink.LinkSpec{Name: "a"}, t0)
	b := e.link("r", guestlink.LinkSpec{Name: "b"}, t0.Add(time.Hour))
	e.link("r2", guestlink.LinkSpec{Name: "other"}, t0)

	ls, err := e.s.Links(e.ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls {
		got = append(got, l.ID)
	}
	if want := []string{a.ID, b.ID, c.ID}; !slices.Equal(got, want) {
		t.Fatalf("Links order %v, want %v", got, want)
	}
	if ls[0].Token != a.Token || ls[0].Name != "a" || ls[0].RoomID != "r" || !ls[0].CreatedAt.Equal(t0) {
		t.Errorf("first link %+v, want %+v", ls[0], a)
	}

	// Same CreatedAt: by ID.
	e.room("same", guestlink.RoomSpec{})
	x := e.link("same", guestlink.LinkSpec{Name: "x"}, t0)
	y := e.link("same", guestlink.LinkSpec{Name: "y"}, t0)
	first, second := min(x.ID, y.ID), max(x.ID, y.ID)
	if ls, _ := e.s.Links(e.ctx, "same"); len(ls) != 2 || ls[0].ID != first || ls[1].ID != second {
		t.Errorf("Links with equal CreatedAt = %+v, want ids %s, %s", ls, first, second)
	}

	if ls, err := e.s.Links(e.ctx, "empty"); err != nil || len(ls) != 0 {
		t.Errorf("Links(empty) = %v, %v; want none", ls, err)
	}
	if _, err := e.s.Links(e.ctx, "missing"); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("Links(missing): %v, want ErrRoomNotFound", err)
	}
}

func testLinkByToken(t *testing.T, e *env) {
	e.room("r", guestlink.RoomSpec{Name: "Room R"})
	l := e.link("r", guestlink.LinkSpec{MaxClicks: new(1)}, t0)
	e.redeem(l.Token, t0)

	r, got, err := e.s.LinkByToken(e.ctx, l.Token)
	if err != nil || r.ID != "r" || r.Name != "Room R" || got.ID != l.ID || got.Clicks != 1 || got.Token != l.Token {
		t.Fatalf("LinkByToken = %+v, %+v, %v", r, got, err)
	}
	// It never checks nor writes: a used-up link is still found, Clicks
	// unchanged, and the live state keeps its generation.
	gen := e.s.Generation()
	for range 3 {
		if _, got, err := e.s.LinkByToken(e.ctx, l.Token); err != nil || got.Clicks != 1 {
			t.Errorf("another lookup = %+v, %v; want the link with 1 click", got, err)
		}
	}
	if g := e.s.Generation(); g != gen {
		t.Errorf("Generation %d -> %d after lookups", gen, g)
	}
	for _, tok := range []string{"", guestlink.NewToken(), l.Token[:len(l.Token)-1], l.Token + "A"} {
		if _, _, err := e.s.LinkByToken(e.ctx, tok); !errors.Is(err, guestlink.ErrLinkNotFound) {
			t.Errorf("LinkByToken(%q): %v, want ErrLinkNotFound", tok, err)
		}
	}
}

func testDeleteLinkIsFinal(t *testing.T, e *env) {
	e.room("r", guestlink.RoomSpec{})
	e.room("r2", guestlink.RoomSpec{})
	l := e.link("r", guestlink.LinkSpec{}, t0)
	keep := e.link("r", guestlink.LinkSpec{Name: "keep"}, t0)
	g := e.redeem(l.Token, t0)

	if err := e.s.DeleteLink(e.ctx, "r2", l.ID); !errors.Is(err, guestlink.ErrLinkNotFound) {
		t.Errorf("DeleteLink through another room: %v, want ErrLinkNotFound", err)
	}
	if _, gotL, err := e.s.LinkByToken(e.ctx, l.Token); err != nil || gotL.ID != l.ID {
		t.Fatalf("LinkByToken before delete: %+v, %v", gotL, err)
	}
	if err := e.s.DeleteLink(e.ctx, "r", l.ID); err != nil {
		t.Fatalf("DeleteLink: %v", err)
	}
	if _, _, err := e.s.LinkByToken(e.ctx, l.Token); !errors.Is(err, guestlink.ErrLinkNotFound) {
		t.Errorf("LinkByToken after delete: %v, want ErrLinkNotFound", err)
	}
	if _, _, _, err := e.s.Redeem(e.ctx, l.Token, newGuest(gid(9)), t0); !errors.Is(err, guestlink.ErrLinkNotFound) {
		t.Errorf("Redeem after delete: %v, want ErrLinkNotFound", err)
	}
	if err := e.s.DeleteLink(e.ctx, "r", l.ID); !errors.Is(err, guestlink.ErrLinkNotFound) {
		t.Errorf("second DeleteLink: %v, want ErrLinkNotFound", err)
	}
	for _, tc := range [][2]string{{"r", "l_nope"}, {"missing", l.ID}, {"r", ""}, {"r/x", "y"}} {
		if err := e.s.DeleteLink(e.ctx, tc[0], tc[1]); !errors.Is(err, guestlink.ErrLinkNotFound) {
			t.Errorf("DeleteLink(%q, %q): %v, want ErrLinkNotFound", tc[0], tc[1], err)
		}
	}
	if ls, _ := e.s.Links(e.ctx, "r"); len(ls) != 1 || ls[0].ID != keep.ID {
		t.Errorf("Links after delete = %+v, want only %s", ls, keep.ID)
	}
	if _, got, err := e.s.LinkByToken(e.ctx, keep.Token); err != nil || got.ID != keep.ID {
		t.Errorf("the other link: %+v, %v", got, err)
	}
	// The guest list still has the guest and the link's name.
	if got, err := e.s.Guest(e.ctx, "r", g.ID); err != nil || got.LinkName != l.Name || got.LinkID != l.ID {
		t.Errorf("Guest after DeleteLink = %+v, %v; want it kept with link name %q", got, err, l.Name)
	}
	if st := e.stats(); st.Links != 1 {
		t.Errorf("Stats.Links = %d, want 1", st.Links)
	}
}

package storetest

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// lobbyTests protect the waiting room and the guest list: every transition of
// a guest's state that Transition allows or refuses, AdmitAll and the lobby
// listing with their seenSince cut-off, paging through the guest list,
// SeenGuest's grain, and WaitGuest, which the lobby page's long poll rests
// on: woken by a decision, never losing one, and answering with the current
// guest when its context ends.
var lobbyTests = []subtest{
	{"SetGuestStateTransitions", testTransitions},
	{"GuestStateNotFound", testGuestStateNotFound},
	{"AdmitAll", testAdmitAll},
	{"AdmitAllRacesSetGuestState", testAdmitAllRaces},
	{"Lobby", testLobby},
	{"GuestsPaging", testGuestsPaging},
	{"GuestsMalformedCursor", testGuestsMalformedCursor},
	{"SeenGuest", testSeenGuest},
	{"SeenGuestConcurrent", testSeenGuestConcurrent},
	{"WaitGuest", testWaitGuest},
}

func testTransitions(t *testing.T, e *env) {
	type step struct {
		to        string
		wantState string
		wantErr   error
	}
	W, A, D, R, L := guestlink.StateWaiting, guestlink.StateAdmitted, guestlink.StateDeclined, guestlink.StateRemoved, guestlink.StateLeft
	tests := []struct {
		name  string
		steps []step
	}{
		{"admit", []step{{A, A, nil}}},
		{"admit twice", []step{{A, A, nil}, {A, A, nil}}},
		{"decline twice", []step{{D, D, nil}, {D, D, nil}}},
		{"decline after admit", []step{{A, A, nil}, {D, A, guestlink.ErrAlreadyDecided}}},
		{"admit after decline", []step{{D, D, nil}, {A, D, guestlink.ErrAlreadyDecided}}},
		{"remove a waiting guest, then admit", []step{{R, R, nil}, {A, R, guestlink.ErrAlreadyDecided}}},
		{"remove after admit, twice", []step{{A, A, nil}, {R, R, nil}, {R, R, nil}}},
		{"remove after decline", []step{{D, D, nil}, {R, R, nil}, {D, R, guestlink.ErrAlreadyDecided}}},
		{"left from waiting", []step{{L, L, nil}, {A, L, guestlink.ErrAlreadyDecided}, {D, L, guestlink.ErrAlreadyDecided}}},
		{"left from admitted, twice", []step{{A, A, nil}, {L, L, nil}, {L, L, nil}}},
		{"left after decline changes nothing", []step{{D, D, nil}, {L, D, nil}}},
		{"left after remove changes nothing", []step{{R, R, nil}, {L, R, nil}}},
		{"remove after left", []step{{L, L, nil}, {R, R, nil}}},
		{"back to waiting", []step{{A, A, nil}, {W, A, guestlink.ErrAlreadyDecided}}},
		{"unknown state", []step{{"vip", W, guestlink.ErrAlreadyDecided}}},
	}
	l := e.lobbyRoom("r")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := e.in(t)
			g := e.redeem(l.Token, t0)
			lastChange, prev := t0, g.State
			for i, st := range tc.steps {
				now := minutes(i + 1)
				got, err := e.s.SetGuestState(e.ctx, "r", g.ID, st.to, now)
				if !errors.Is(err, st.wantErr) || (st.wantErr == nil) != (err == nil) {
					t.Fatalf("step %d (%s): error %v, want %s", i, st.to, err, errName(st.wantErr))
				}
				// UpdatedAt equals now exactly when this call changed the state.
				if st.wantState != prev {
					lastChange = now
				}
				prev = st.wantState
				if got.State != st.wantState || got.ID != g.ID || !got.UpdatedAt.Equal(lastChange) {
					t.Errorf("step %d (%s): got %s updated %v, want %s updated %v", i, st.to, got.State, got.UpdatedAt, st.wantState, lastChange)
				}
				if stored := e.guest("r", g.ID); !sameGuest(stored, got) {
					t.Errorf("step %d: stored %+v, returned %+v", i, stored, got)
				}
			}
			// Nothing but the state and UpdatedAt changed.
			stored := e.guest("r", g.ID)
			stored.State, stored.UpdatedAt = g.State, g.UpdatedAt
			if !sameGuest(stored, g) {
				t.Errorf("guest %+v, want %+v apart from the state", stored, g)
			}
		})
	}
}

// testGuestStateNotFound: the calls on one guest say ErrGuestNotFound for a
// guest that is not there (another room's, a missing room's, a malformed id)
// and change nothing.
func testGuestStateNotFound(t *testing.T, e *env) {
	l := e.lobbyRoom("r")
	e.room("r2", guestlink.RoomSpec{})
	g := e.redeemAs(l.Token, gid(1), t0)
	cancelled, cancel := context.WithCancel(e.ctx)
	cancel()
	for _, tc := range [][2]string{{"r", gid(2)}, {"r2", g.ID}, {"missing", g.ID}, {"r", ""}, {"r", "a/b"}, {"a/b", g.ID}, {"", g.ID}} {
		if _, err := e.s.SetGuestState(e.ctx, tc[0], tc[1], guestlink.StateAdmitted, t0); !errors.Is(err, guestlink.ErrGuestNotFound) {
			t.Errorf("SetGuestState(%q, %q): %v, want ErrGuestNotFound", tc[0], tc[1], err)
		}
		if _, err := e.s.SeenGuest(e.ctx, tc[0], tc[1], t0.Add(time.Hour)); !errors.Is(err, guestlink.ErrGuestNotFound) {
			t.Errorf("SeenGuest(%q, %q): %v, want ErrGuestNotFound", tc[0], tc[1], err)
		}
		// A cancelled context: WaitGuest still looks the guest up.
		if _, err := e.s.WaitGuest(cancelled, tc[0], tc[1], guestlink.StateWaiting); !errors.Is(err, guestlink.ErrGuestNotFound) {
			t.Errorf("WaitGuest(%q, %q): %v, want ErrGuestNotFound", tc[0], tc[1], err)
		}
	}
	if gs := e.allGuests("r"); len(gs) != 1 || !sameGuest(gs[0], g) {
		t.Errorf("guests after the calls = %+v, want only %+v unchanged", gs, g)
	}
	if gs := e.allGuests("r2"); len(gs) != 0 {
		t.Errorf("guests of r2 = %v, want none", ids(gs))
	}
}

func testAdmitAll(t *testing.T, e *env) {
	l := e.lobbyRoom("r")
	other := e.lobbyRoom("other")
	// Ids sort against the redemption times, so that id order is not the answer.
	var gs []guestlink.Guest
	for i := range 8 {
		gs = append(gs, e.redeemAs(l.Token, gid(10-i), minutes(i)))
	}
	tie := e.redeemAs(l.Token, gid(20), gs[5].RedeemedAt) // same time as gs[5], larger id
	otherGuest := e.redeemAs(other.Token, gid(30), minutes(5))
	// gs[0] and gs[1] were redeemed before the cut-off; gs[0] was seen since.
	if _, err := e.s.SeenGuest(e.ctx, "r", gs[0].ID, minutes(10)); err != nil {
		t.Fatal(err)
	}
	e.setState("r", gs[3].ID, guestlink.StateDeclined, minutes(1))
	e.setState("r", gs[4].ID, guestlink.StateAdmitted, minutes(1))
	e.setState("r", gs[6].ID, guestlink.StateLeft, minutes(1))
	e.setState("r", gs[7].ID, guestlink.StateRemoved, minutes(1))

	seenSince, now := minutes(2), t0.Add(time.Hour)
	got, err := e.s.AdmitAll(e.ctx, "r", seenSince, now)
	if err != nil {
		t.Fatalf("AdmitAll: %v", err)
	}
	want := []string{gs[0].ID, gs[2].ID, gs[5].ID, tie.ID}
	if !slices.Equal(ids(got), want) {
		t.Fatalf("AdmitAll admitted %v, want %v (oldest first)", ids(got), want)
	}
	for _, g := range got {
		if g.State != guestlink.StateAdmitted || !g.UpdatedAt.Equal(now) {
			t.Errorf("returned %+v, want admitted at %v", g, now)
		}
		if stored := e.guest("r", g.ID); !sameGuest(stored, g) {
			t.Errorf("stored %+v, returned %+v", stored, g)
		}
	}
	wantStates := map[string]string{
		gs[1].ID: guestlink.StateWaiting, // not seen since the cut-off
		gs[3].ID: guestlink.StateDeclined, gs[4].ID: guestlink.StateAdmitted,
		gs[6].ID: guestlink.StateLeft, gs[7].ID: guestlink.StateRemoved,
	}
	for id, st := range wantStates {
		if g := e.guest("r", id); g.State != st || g.UpdatedAt.Equal(now) {
			t.Errorf("guest %s: %s updated %v; want %s, untouched", id, g.State, g.UpdatedAt, st)
		}
	}
	if g := e.guest("other", otherGuest.ID); g.State != guestlink.StateWaiting {
		t.Errorf("other room's guest: %s, want waiting", g.State)
	}

	// Again: nobody left to admit.
	got, err = e.s.AdmitAll(e.ctx, "r", seenSince, now.Add(time.Minute))
	if err != nil || len(got) != 0 {
		t.Errorf("second AdmitAll = %v, %v; want none", ids(got), err)
	}
	if _, err := e.s.AdmitAll(e.ctx, "missing", seenSince, now); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("AdmitAll of a missing room: %v, want ErrRoomNotFound", err)
	}
}

// testAdmitAllRaces admits 20 guests one by one from 20 goroutines while
// AdmitAll runs: every guest ends admitted exactly once (by whoever came
// first: the other sees it admitted), no update is lost.
func testAdmitAllRaces(t *testing.T, e *env) {
	l := e.lobbyRoom("r")
	const single, bulkOnly = 20, 5
	var gs []guestlink.Guest
	for i := range single + bulkOnly {
		gs = append(gs, e.redeemAs(l.Token, gid(i+1), t0.Add(time.Duration(i)*time.Second)))
	}
	unseen := e.redeemAs(l.Token, gid(99), t0.Add(-time.Hour))

	tSingle, tBulk := t0.Add(time.Hour), t0.Add(2*time.Hour)
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		bulk  []guestlink.Guest
	)
	for i := range single {
		wg.Go(func() {
			<-start
			g, err := e.s.SetGuestState(e.ctx, "r", gs[i].ID, guestlink.StateAdmitted, tSingle)
			if err != nil || g.State != guestlink.StateAdmitted {
				t.Errorf("SetGuestState(%s) = %s, %v", gs[i].ID, g.State, err)
			}
		})
	}
	wg.Go(func() {
		<-start
		var err error
		if bulk, err = e.s.AdmitAll(e.ctx, "r", t0, tBulk); err != nil {
			t.Errorf("AdmitAll: %v", err)
		}
	})
	close(start)
	wg.Wait()

	byBulk := map[string]bool{}
	for _, g := range bulk {
		if byBulk[g.ID] {
			t.Errorf("AdmitAll returned %s twice", g.ID)
		}
		byBulk[g.ID] = true
	}
	for i, g := range gs {
		stored, err := e.s.Guest(e.ctx, "r", g.ID)
		if err != nil || stored.State != guestlink.StateAdmitted {
			t.Errorf("guest %d: %s, %v; want admitted", i, stored.State, err)
			continue
		}
		// Whoever admitted the guest wrote UpdatedAt; the other changed nothing.
		want := tSingle
		if byBulk[g.ID] {
			want = tBulk
		}
		if !stored.UpdatedAt.Equal(want) {
			t.Errorf("guest %d updated at %v, want %v (AdmitAll returned it: %v)", i, stored.UpdatedAt, want, byBulk[g.ID])
		}
		if i >= single && !byBulk[g.ID] {
			t.Errorf("guest %d, only AdmitAll's, not returned by it", i)
		}
	}
	if !slices.IsSortedFunc(bulk, func(a, b guestlink.Guest) int { return a.RedeemedAt.Compare(b.RedeemedAt) }) {
		t.Errorf("AdmitAll result not oldest first: %v", ids(bulk))
	}
	if g := e.guest("r", unseen.ID); g.State != guestlink.StateWaiting {
		t.Errorf("unseen guest: %s, want waiting", g.State)
	}
}

func testLobby(t *testing.T, e *env) {
	l := e.lobbyRoom("r")
	other := e.lobbyRoom("other")
	a := e.redeemAs(l.Token, gid(9), t0)
	b := e.redeemAs(l.Token, gid(5), minutes(1))
	c := e.redeemAs(l.Token, gid(3), minutes(1)) // ties with b, smaller id
	d := e.redeemAs(l.Token, gid(1), minutes(2))
	x := e.redeemAs(l.Token, gid(7), minutes(3))
	e.redeemAs(other.Token, gid(2), t0)
	e.setState("r", x.ID, guestlink.StateDeclined, minutes(4))
	// a, redeemed first, was seen last.
	if _, err := e.s.SeenGuest(e.ctx, "r", a.ID, minutes(5)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		seenSince time.Time
		want      []string
	}{
		{time.Time{}, []string{a.ID, c.ID, b.ID, d.ID}},
		{minutes(1), []string{a.ID, c.ID, b.ID, d.ID}},
		{minutes(1).Add(1), []string{a.ID, d.ID}},
		{minutes(5), []string{a.ID}},
		{minutes(5).Add(1), []string{}},
	}
	for _, tc := range tests {
		got, err := e.s.Lobby(e.ctx, "r", tc.seenSince)
		if err != nil || !slices.Equal(ids(got), tc.want) {
			t.Errorf("Lobby(seen since %v) = %v, %v; want %v", tc.seenSince.Sub(t0), ids(got), err, tc.want)
		}
	}
	// InLobby agrees with the store's filter.
	got, _ := e.s.Lobby(e.ctx, "r", minutes(1))
	for _, g := range got {
		if !guestlink.InLobby(g, minutes(3), 2*time.Minute+time.Nanosecond) {
			t.Errorf("%s listed but not InLobby", g.ID)
		}
	}
	if _, err := e.s.Lobby(e.ctx, "missing", t0); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("Lobby of a missing room: %v, want ErrRoomNotFound", err)
	}
}

func testGuestsPaging(t *testing.T, e *env) {
	l := e.lobbyRoom("r")
	other := e.lobbyRoom("r2")
	var all []guestlink.Guest
	for i := range 250 {
		// Pairs share a redemption time; ids run against time within them.
		g := e.redeemAs(l.Token, gid(1000-i), t0.Add(time.Duration(i/2)*time.Second))
		if i%3 == 0 {
			g = e.setState("r", g.ID, guestlink.StateDeclined, t0.Add(time.Hour))
		}
		all = append(all, g)
	}
	e.redeemAs(other.Token, gid(5000), t0.Add(time.Hour))
	want := slices.Clone(all)
	slices.SortFunc(want, func(a, b guestlink.Guest) int {
		return cmp.Or(b.RedeemedAt.Compare(a.RedeemedAt), cmp.Compare(a.ID, b.ID))
	})

	var got []guestlink.Guest
	var sizes []int
	cursor := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("too many pages")
		}
		gs, next, err := e.s.Guests(e.ctx, "r", 100, cursor)
		if err != nil {
			t.Fatalf("Guests page %d: %v", page, err)
		}
		sizes = append(sizes, len(gs))
		got = append(got, gs...)
		if page == 0 {
			// A guest redeemed meanwhile sorts before the cursor: the next pages
			// are not shifted.
			e.redeemAs(l.Token, gid(4000), t0.Add(24*time.Hour))
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(sizes, []int{100, 100, 50}) {
		t.Errorf("page sizes %v, want [100 100 50]", sizes)
	}
	if len(got) != len(want) {
		t.Fatalf("%d guests listed, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameGuest(got[i], want[i]) {
			t.Fatalf("guest %d: %+v, want %+v", i, got[i], want[i])
		}
	}

	// Page sizes: 0 means 100; the last page has no next cursor.
	for _, tc := range []struct{ limit, want int }{{0, 100}, {1, 1}, {250, 250}, {251, 251}, {1000, 251}} {
		gs, next, err := e.s.Guests(e.ctx, "r", tc.limit, "")
		if err != nil || len(gs) != tc.want || (next == "") != (tc.want == 251) {
			t.Errorf("Guests(limit %d) = %d guests, next %q, %v; want %d", tc.limit, len(gs), next, err, tc.want)
		}
	}
	// One at a time, to the end.
	n, cursor := 0, ""
	for {
		gs, next, err := e.s.Guests(e.ctx, "r", 1, cursor)
		if err != nil || len(gs) > 1 {
			t.Fatalf("Guests(limit 1) = %v, %v", ids(gs), err)
		}
		n += len(gs)
		if next == "" {
			break
		}
		if n > 251 {
			t.Fatal("a next cursor after the last guest")
		}
		cursor = next
	}
	if n != 251 {
		t.Errorf("paging one by one listed %d, want 251", n)
	}

	if _, _, err := e.s.Guests(e.ctx, "missing", 10, ""); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("Guests of a missing room: %v, want ErrRoomNotFound", err)
	}
	e.lobbyRoom("empty")
	if gs, next, err := e.s.Guests(e.ctx, "empty", 10, ""); err != nil || len(gs) != 0 || next != "" {
		t.Errorf("Guests of an empty room = %v, %q, %v", gs, next, err)
	}
}

// testGuestsMalformedCursor: a cursor that Guests cannot have made is a
// *ValidationError on field "cursor" (the admin API answers it with 422).
func testGuestsMalformedCursor(t *testing.T, e *env) {
	l := e.lobbyRoom("r")
	for range 3 {
		e.redeem(l.Token, t0)
	}
	_, next, err := e.s.Guests(e.ctx, "r", 1, "")
	if err != nil || next == "" {
		t.Fatalf("Guests(limit 1) = next %q, %v; want a cursor", next, err)
	}
	for _, cursor := range []string{"!!!", "not a cursor", next + "\n", "\x00" + next} {
		_, _, err := e.s.Guests(e.ctx, "r", 10, cursor)
		var ve *guestlink.ValidationError
		if !errors.As(err, &ve) || ve.Field != "cursor" {
			t.Errorf("Guests(cursor %q): %v, want a validation error for cursor", cursor, err)
		}
	}
	if gs, _, err := e.s.Guests(e.ctx, "r", 10, next); err != nil || len(gs) != 2 {
		t.Errorf("Guests(the cursor made) = %v, %v; want the other 2", ids(gs), err)
	}
}

func testSeenGuest(t *testing.T, e *env) {
	l := e.lobbyRoom("r")
	g := e.redeemAs(l.Token, gid(1), t0)
	if !g.LastSeen.Equal(t0) {
		t.Fatalf("LastSeen after Redeem = %v, want the redemption time", g.LastSeen)
	}
	steps := []struct {
		at       time.Duration
		wantSeen time.Duration
	}{
		{5 * time.Second, 0},
		{guestlink.SeenInterval - 1, 0},
		{guestlink.SeenInterval, guestlink.SeenInterval},
		{guestlink.SeenInterval + 5*time.Second, guestlink.SeenInterval},
		{2*guestlink.SeenInterval - 1, guestlink.SeenInterval},
		{2 * guestlink.SeenInterval, 2 * guestlink.SeenInterval},
		{time.Second, 2 * guestlink.SeenInterval}, // the clock went back
	}
	for _, st := range steps {
		got, err := e.s.SeenGuest(e.ctx, "r", g.ID, t0.Add(st.at))
		if err != nil {
			t.Fatal(err)
		}
		want := t0.Add(st.wantSeen)
		stored := e.guest("r", g.ID)
		if !got.LastSeen.Equal(want) || !sameGuest(stored, got) {
			t.Errorf("SeenGuest(+%v): LastSeen %v, stored %v; want %v", st.at, got.LastSeen.Sub(t0), stored.LastSeen.Sub(t0), st.wantSeen)
		}
		if got.State != guestlink.StateWaiting || !got.UpdatedAt.Equal(t0) {
			t.Errorf("SeenGuest changed the state: %+v", got)
		}
	}
	// Only waiting guests are tracked.
	e.setState("r", g.ID, guestlink.StateAdmitted, t0.Add(time.Hour))
	got, err := e.s.SeenGuest(e.ctx, "r", g.ID, t0.Add(2*time.Hour))
	if err != nil || got.State != guestlink.StateAdmitted || !got.LastSeen.Equal(t0.Add(2*guestlink.SeenInterval)) {
		t.Errorf("SeenGuest of an admitted guest = %+v, %v; want LastSeen unchanged", got, err)
	}
	if stored := e.guest("r", g.ID); !stored.LastSeen.Equal(t0.Add(2 * guestlink.SeenInterval)) {
		t.Errorf("stored LastSeen %v, want unchanged", stored.LastSeen)
	}
}

func testSeenGuestConcurrent(t *testing.T, e *env) {
	l := e.lobbyRoom("r")
	g := e.redeemAs(l.Token, gid(1), t0)

	// Concurrent polls of one interval all see it recorded.
	now := minutes(1)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if got, err := e.s.SeenGuest(e.ctx, "r", g.ID, now); err != nil || !got.LastSeen.Equal(now) {
				t.Errorf("SeenGuest = %v, %v; want LastSeen %v", got.LastSeen, err, now)
			}
		})
	}
	wg.Wait()
	if stored := e.guest("r", g.ID); !stored.LastSeen.Equal(now) {
		t.Errorf("stored LastSeen %v, want %v", stored.LastSeen, now)
	}

	// A decision racing the polls is never lost.
	later := now.Add(time.Minute)
	for range 10 {
		wg.Go(func() {
			// A poll that still finds the guest waiting records the visit; one
			// that finds the guest admitted returns the record as it is, whose
			// LastSeen is later when an earlier poll wrote it before the admit.
			got, err := e.s.SeenGuest(e.ctx, "r", g.ID, later)
			if err != nil || (got.State == guestlink.StateWaiting && !got.LastSeen.Equal(later)) {
				t.Errorf("SeenGuest = %s seen %v, %v", got.State, got.LastSeen, err)
			}
		})
	}
	wg.Go(func() {
		if _, err := e.s.SetGuestState(e.ctx, "r", g.ID, guestlink.StateAdmitted, later); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	stored := e.guest("r", g.ID)
	if stored.State != guestlink.StateAdmitted || !stored.UpdatedAt.Equal(later) {
		t.Errorf("guest %s updated %v after racing SeenGuest, want admitted", stored.State, stored.UpdatedAt)
	}
	// A poll of an admitted guest records nothing.
	if got, err := e.s.SeenGuest(e.ctx, "r", g.ID, later.Add(time.Minute)); err != nil || !got.LastSeen.Equal(stored.LastSeen) {
		t.Errorf("SeenGuest of an admitted guest = seen %v, %v; want %v unchanged", got.LastSeen, err, stored.LastSeen)
	}
}

// wakes are the changes that end a WaitGuest on a waiting guest, each made at
// minutes(1) in a lobby room of its own, with what WaitGuest answers after it:
// the guest in state want, or wantErr.
var wakes = []struct {
	name    string
	act     func(e *env, room string, g guestlink.Guest)
	want    string
	wantErr error
}{
	{"admit", setStateTo(guestlink.StateAdmitted), guestlink.StateAdmitted, nil},
	{"decline", setStateTo(guestlink.StateDeclined), guestlink.StateDeclined, nil},
	{"remove", setStateTo(guestlink.StateRemoved), guestlink.StateRemoved, nil},
	{"left", setStateTo(guestlink.StateLeft), guestlink.StateLeft, nil},
	{"AdmitAll", func(e *env, room string, g guestlink.Guest) {
		if got, err := e.s.AdmitAll(e.ctx, room, t0, minutes(1)); err != nil || len(got) != 1 {
			e.t.Fatalf("AdmitAll = %v, %v", ids(got), err)
		}
	}, guestlink.StateAdmitted, nil},
	{"DeleteRoom", func(e *env, room string, g guestlink.Guest) {
		if err := e.s.DeleteRoom(e.ctx, room); err != nil {
			e.t.Fatal(err)
		}
	}, "", guestlink.ErrGuestNotFound},
}

// setStateTo is the change of wakes that moves the guest to state.
func setStateTo(state string) func(e *env, room string, g guestlink.Guest) {
	return func(e *env, room string, g guestlink.Guest) { e.setState(room, g.ID, state, minutes(1)) }
}

func testWaitGuest(t *testing.T, e *env) {
	// Each case waits on a waiting guest of its own room until act changes
	// something, and wants WaitGuest to answer with the guest as act left it.
	for i, tc := range wakes {
		t.Run("wakes on "+tc.name, func(t *testing.T) {
			e := e.in(t)
			room := string(rune('a'+i)) + "-room"
			l := e.lobbyRoom(room)
			g := e.redeemAs(l.Token, gid(1), t0)
			w := e.startWait(room, g.ID, guestlink.StateWaiting)
			w.waiting()
			tc.act(e, room, g)
			r := w.result()
			if !errors.Is(r.err, tc.wantErr) || (tc.wantErr == nil) != (r.err == nil) || r.g.State != tc.want {
				t.Fatalf("WaitGuest = %+v, %v; want %q, %s", r.g, r.err, tc.want, errName(tc.wantErr))
			}
			if tc.wantErr == nil && !r.g.UpdatedAt.Equal(minutes(1)) {
				t.Errorf("WaitGuest returned the guest updated %v, want the change at %v", r.g.UpdatedAt, minutes(1))
			}
		})
	}

	l := e.lobbyRoom("r")
	t.Run("state already differs", func(t *testing.T) {
		e := e.in(t)
		g := e.redeem(l.Token, t0)
		w := e.startWait("r", g.ID, guestlink.StateAdmitted)
		if r := w.result(); r.err != nil || !sameGuest(r.g, g) {
			t.Errorf("WaitGuest = %+v, %v; want the waiting guest at once", r.g, r.err)
		}
	})
	t.Run("context ends", func(t *testing.T) {
		e := e.in(t)
		g := e.redeem(l.Token, t0)
		w := e.startWait("r", g.ID, guestlink.StateWaiting)
		w.waiting()
		// A change that is not of the state does not end the wait, and the
		// answer at the end is the guest as it is then.
		seen, err := e.s.SeenGuest(e.ctx, "r", g.ID, minutes(1))
		if err != nil || !seen.LastSeen.Equal(minutes(1)) {
			t.Fatalf("SeenGuest = %+v, %v", seen, err)
		}
		w.notYet()
		w.cancel()
		if r := w.result(); r.err != nil || !sameGuest(r.g, seen) {
			t.Errorf("WaitGuest when its context ended = %+v, %v; want the current guest %+v", r.g, r.err, seen)
		}
		// An already cancelled context answers with the guest, too.
		cancelled, cancel := context.WithCancel(e.ctx)
		cancel()
		if got, err := e.s.WaitGuest(cancelled, "r", g.ID, guestlink.StateWaiting); err != nil || !sameGuest(got, seen) {
			t.Errorf("WaitGuest with a cancelled context = %+v, %v; want %+v", got, err, seen)
		}
	})
	t.Run("many waiters", func(t *testing.T) {
		e := e.in(t)
		a, b := e.redeem(l.Token, t0), e.redeem(l.Token, t0)
		var onA, onB []*waiter
		for range 5 {
			onA = append(onA, e.startWait("r", a.ID, guestlink.StateWaiting))
			onB = append(onB, e.startWait("r", b.ID, guestlink.StateWaiting))
		}
		for _, w := range append(slices.Clone(onA), onB...) {
			w.waiting()
		}
		e.setState("r", a.ID, guestlink.StateDeclined, minutes(1))
		for i, w := range onA {
			if r := w.result(); r.err != nil || r.g.State != guestlink.StateDeclined {
				t.Errorf("waiter %d on the declined guest: %s, %v", i, r.g.State, r.err)
			}
		}
		for i, w := range onB {
			w.notYet()
			w.cancel()
			if r := w.result(); r.err != nil || r.g.State != guestlink.StateWaiting {
				t.Errorf("waiter %d on the other guest: %s, %v; want waiting", i, r.g.State, r.err)
			}
		}
	})
	t.Run("no lost wake-up", func(t *testing.T) {
		e := e.in(t)
		// The decision races the start of the wait: whichever comes first,
		// WaitGuest must answer with it (a lost wake-up never answers).
		for i := range 50 {
			g := e.redeem(l.Token, t0)
			w := e.startWait("r", g.ID, guestlink.StateWaiting)
			e.setState("r", g.ID, guestlink.StateAdmitted, t0)
			if r := w.result(); r.err != nil || r.g.State != guestlink.StateAdmitted {
				t.Fatalf("round %d: WaitGuest = %s, %v; want admitted", i, r.g.State, r.err)
			}
		}
	})
}

// waiter is one WaitGuest call running in its own goroutine.
type waiter struct {
	t      *testing.T
	asked  chan struct{}
	done   chan waitResult
	cancel context.CancelFunc
}

type waitResult struct {
	g   guestlink.Guest
	err error
}

// startWait calls WaitGuest in a goroutine with a context that ends only when
// the waiter's cancel is called (or the subtest ends).
func (e *env) startWait(roomID, guestID, state string) *waiter {
	ctx, cancel := context.WithCancel(e.ctx)
	e.t.Cleanup(cancel)
	w := &waiter{t: e.t, asked: make(chan struct{}), done: make(chan waitResult, 1), cancel: cancel}
	actx := &askedContext{Context: ctx, asked: w.asked}
	go func() {
		g, err := e.s.WaitGuest(actx, roomID, guestID, state)
		w.done <- waitResult{g, err}
	}()
	return w
}

// waiting returns once WaitGuest asked its context whether it is done: it
// does so when it is about to wait, after it read the guest. (A store that
// asks earlier is tested less strictly, never wrongly.) WaitGuest must not
// have answered: the guest's state is still the one it waits on.
func (w *waiter) waiting() {
	w.t.Helper()
	select {
	case <-w.asked:
	case r := <-w.done:
		w.t.Fatalf("WaitGuest answered %+v, %v before the guest's state changed", r.g, r.err)
	case <-time.After(hangAfter):
		w.t.Fatal("WaitGuest never asked its context whether it is done")
	}
}

// notYet fails the subtest if WaitGuest has answered already.
func (w *waiter) notYet() {
	w.t.Helper()
	select {
	case r := <-w.done:
		w.t.Fatalf("WaitGuest answered %+v, %v before the guest's state changed or its context ended", r.g, r.err)
	default:
	}
}

// result waits for WaitGuest's answer.
func (w *waiter) result() waitResult {
	w.t.Helper()
	select {
	case r := <-w.done:
		return r
	case <-time.After(hangAfter):
		w.t.Fatalf("WaitGuest did not answer within %v of the change (a lost wake-up)", hangAfter)
		return waitResult{}
	}
}

// askedContext closes asked the first time Done or Err is called.
type askedContext struct {
	context.Context
	once  sync.Once
	asked chan struct{}
}

func (c *askedContext) Done() <-chan struct{} {
	c.once.Do(func() { close(c.asked) })
	return c.Context.Done()
}

func (c *askedContext) Err() error {
	c.once.Do(func() { close(c.asked) })
	return c.Context.Err()
}

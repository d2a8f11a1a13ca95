package badger

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/guestgate/guestgate/guestlink"
)

// The methods of the waiting room, until guestlink.Store carries them.
var _ guestlink.Store = (*Store)(nil)

// gid returns a well-formed guest id (guestlink.ValidID("g", ...)) that sorts
// by i.
func gid(i int) string {
	b := []byte("aaaaaaaaaaaaaaaa")
	for j := len(b) - 1; i > 0; j-- {
		b[j] = 'a' + byte(i%26)
		i /= 26
	}
	return "g_" + string(b)
}

// lobbyRoom creates room id with moderator admission and guest access on, and
// an unlimited link.
func lobbyRoom(t testing.TB, s *Store, id string) guestlink.Link {
	t.Helper()
	putRoom(t, s, id, guestlink.RoomSpec{Admission: guestlink.AdmissionModerator})
	return addLink(t, s, id, guestlink.LinkSpec{}, t0)
}

// redeemAs redeems the link with token for a guest with id at at, to be purged
// at purgeAt (zero: kept).
func redeemAs(t testing.TB, s *Store, token, id string, at, purgeAt time.Time) guestlink.Guest {
	t.Helper()
	in := guestlink.Guest{ID: id, Name: "Guest " + id, Email: id + "@example.com", PurgeAt: purgeAt}
	_, _, g, err := s.Redeem(context.Background(), token, in, at)
	if err != nil {
		t.Fatalf("Redeem(%s): %v", id, err)
	}
	return g
}

// itemMeta returns the version and expiry of key; found is false if it is absent.
func itemMeta(t testing.TB, s *Store, key []byte) (version, expiresAt uint64, found bool) {
	t.Helper()
	err := s.db.View(func(txn *badgerdb.Txn) error {
		item, err := txn.Get(key)
		if errors.Is(err, badgerdb.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		version, expiresAt, found = item.Version(), item.ExpiresAt(), true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return version, expiresAt, found
}

// writeRaw stores guests directly with a write batch (with their index keys when
// index is true), for rooms too big to fill through Redeem.
func writeRaw(t testing.TB, s *Store, gs []guestlink.Guest, index bool) {
	t.Helper()
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, g := range gs {
		b, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		if err := wb.Set(guestKey(g.RoomID, g.ID), b); err != nil {
			t.Fatal(err)
		}
		if index {
			if err := wb.Set(newestKey(g.RoomID, g.RedeemedAt, g.ID), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
}

func ids(gs []guestlink.Guest) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.ID
	}
	return out
}

func TestSetGuestStateTransitions(t *testing.T) {
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
		{"remove then admit", []step{{R, R, nil}, {A, R, guestlink.ErrAlreadyDecided}}},
		{"remove after admit, twice", []step{{A, A, nil}, {R, R, nil}, {R, R, nil}}},
		{"left from waiting", []step{{L, L, nil}, {A, L, guestlink.ErrAlreadyDecided}}},
		{"left from admitted", []step{{A, A, nil}, {L, L, nil}}},
		{"left after decline changes nothing", []step{{D, D, nil}, {L, D, nil}}},
		{"unknown state", []step{{"vip", W, guestlink.ErrAlreadyDecided}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openStore(t)
			ctx := context.Background()
			l := lobbyRoom(t, s, "r")
			g := redeemAs(t, s, l.Token, gid(1), t0, time.Time{})
			lastChange, prev := t0, g.State
			for i, st := range tc.steps {
				at := t0.Add(time.Duration(i+1) * time.Minute)
				v0, _, _ := itemMeta(t, s, guestKey("r", g.ID))
				got, err := s.SetGuestState(ctx, "r", g.ID, st.to, at)
				if err != st.wantErr {
					t.Fatalf("step %d (%s): error %v, want %v", i, st.to, err, st.wantErr)
				}
				v1, _, _ := itemMeta(t, s, guestKey("r", g.ID))
				wantChange := st.wantState != prev
				if wrote := v1 != v0; wrote != wantChange {
					t.Errorf("step %d (%s): wrote %v, want %v", i, st.to, wrote, wantChange)
				}
				if wantChange {
					lastChange = at
				}
				prev = st.wantState
				if got.State != st.wantState || got.ID != g.ID || !got.UpdatedAt.Equal(lastChange) {
					t.Errorf("step %d (%s): got %s updated %v, want %s updated %v", i, st.to, got.State, got.UpdatedAt, st.wantState, lastChange)
				}
				stored, err := s.Guest(ctx, "r", g.ID)
				if err != nil || stored != got {
					t.Errorf("step %d: stored %+v, %v; want %+v", i, stored, err, got)
				}
			}
			// Nothing but the state and UpdatedAt changed.
			stored, _ := s.Guest(ctx, "r", g.ID)
			stored.State, stored.UpdatedAt = g.State, g.UpdatedAt
			if stored != g {
				t.Errorf("guest %+v, want %+v apart from the state", stored, g)
			}
		})
	}
}

func TestSetGuestStateWritesOnlyChanges(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	l := lobbyRoom(t, s, "r")
	g := redeemAs(t, s, l.Token, gid(1), t0, time.Time{})
	if _, err := s.SetGuestState(ctx, "r", g.ID, guestlink.StateAdmitted, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	v0, _, _ := itemMeta(t, s, guestKey("r", g.ID))
	for _, to := range []string{guestlink.StateAdmitted, guestlink.StateDeclined, "nonsense"} {
		s.SetGuestState(ctx, "r", g.ID, to, t0.Add(time.Hour))
	}
	if v1, _, _ := itemMeta(t, s, guestKey("r", g.ID)); v1 != v0 {
		t.Errorf("guest record written (version %d -> %d) by transitions that change nothing", v0, v1)
	}
}

func TestSetGuestStateNotFound(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	l := lobbyRoom(t, s, "r")
	putRoom(t, s, "r2", guestlink.RoomSpec{})
	g := redeemAs(t, s, l.Token, gid(1), t0, time.Time{})
	for _, tc := range [][2]string{{"r", gid(2)}, {"r2", g.ID}, {"missing", g.ID}, {"r", ""}, {"r", "a/b"}, {"a/b", g.ID}, {"", g.ID}} {
		if _, err := s.SetGuestState(ctx, tc[0], tc[1], guestlink.StateAdmitted, t0); !errors.Is(err, guestlink.ErrGuestNotFound) {
			t.Errorf("SetGuestState(%q, %q): %v, want ErrGuestNotFound", tc[0], tc[1], err)
		}
		if _, err := s.SeenGuest(ctx, tc[0], tc[1], t0.Add(time.Hour)); !errors.Is(err, guestlink.ErrGuestNotFound) {
			t.Errorf("SeenGuest(%q, %q): %v, want ErrGuestNotFound", tc[0], tc[1], err)
		}
		if _, err := s.WaitGuest(ctx, tc[0], tc[1], guestlink.StateWaiting); !errors.Is(err, guestlink.ErrGuestNotFound) {
			t.Errorf("WaitGuest(%q, %q): %v, want ErrGuestNotFound", tc[0], tc[1], err)
		}
	}
	if n := countKeys(t, s, prefixGuest); n != 1 {
		t.Errorf("%d guests, want 1", n)
	}
	if got, _ := s.Guest(ctx, "r", g.ID); got.State != guestlink.StateWaiting {
		t.Errorf("guest changed: %+v", got)
	}
}

func TestAdmitAll(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	l := lobbyRoom(t, s, "r")
	other := lobbyRoom(t, s, "other")
	// Ids sort against the redemption times, so that key order is not the answer.
	var gs []guestlink.Guest
	for i := range 8 {
		gs = append(gs, redeemAs(t, s, l.Token, gid(10-i), t0.Add(time.Duration(i)*time.Minute), time.Time{}))
	}
	tie := redeemAs(t, s, l.Token, gid(20), gs[5].RedeemedAt, time.Time{}) // same time as gs[5], larger id
	otherGuest := redeemAs(t, s, other.Token, gid(30), t0.Add(5*time.Minute), time.Time{})
	// gs[0] and gs[1] were redeemed before the cut-off; gs[0] was seen since.
	if _, err := s.SeenGuest(ctx, "r", gs[0].ID, t0.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	mustSet := func(g guestlink.Guest, to string) {
		t.Helper()
		if _, err := s.SetGuestState(ctx, "r", g.ID, to, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	mustSet(gs[3], guestlink.StateDeclined)
	mustSet(gs[4], guestlink.StateAdmitted)
	mustSet(gs[6], guestlink.StateLeft)
	mustSet(gs[7], guestlink.StateRemoved)

	seenSince, now := t0.Add(2*time.Minute), t0.Add(time.Hour)
	got, err := s.AdmitAll(ctx, "r", seenSince, now)
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
		if stored, _ := s.Guest(ctx, "r", g.ID); stored != g {
			t.Errorf("stored %+v, returned %+v", stored, g)
		}
	}
	wantStates := map[string]string{
		gs[1].ID: guestlink.StateWaiting, // not seen since the cut-off
		gs[3].ID: guestlink.StateDeclined, gs[4].ID: guestlink.StateAdmitted,
		gs[6].ID: guestlink.StateLeft, gs[7].ID: guestlink.StateRemoved,
	}
	for id, st := range wantStates {
		if g, _ := s.Guest(ctx, "r", id); g.State != st || g.UpdatedAt.Equal(now) {
			t.Errorf("guest %s: %s updated %v; want %s, untouched", id, g.State, g.UpdatedAt, st)
		}
	}
	if g, _ := s.Guest(ctx, "other", otherGuest.ID); g.State != guestlink.StateWaiting {
		t.Errorf("other room's guest: %s, want waiting", g.State)
	}

	// Again: nobody left to admit.
	got, err = s.AdmitAll(ctx, "r", seenSince, now.Add(time.Minute))
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("second AdmitAll = %v, %v; want an empty list", got, err)
	}
	if _, err := s.AdmitAll(ctx, "missing", seenSince, now); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("AdmitAll of a missing room: %v, want ErrRoomNotFound", err)
	}
}

// TestAdmitAllRacesSetGuestState admits 20 guests one by one from 20 goroutines
// while AdmitAll runs: every guest ends admitted exactly once (by whoever came
// first: the other sees it admitted), no update is lost.
func TestAdmitAllRacesSetGuestState(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	l := lobbyRoom(t, s, "r")
	const single, bulkOnly = 20, 5
	var gs []guestlink.Guest
	for i := range single + bulkOnly {
		gs = append(gs, redeemAs(t, s, l.Token, gid(i+1), t0.Add(time.Duration(i)*time.Second), time.Time{}))
	}
	unseen := redeemAs(t, s, l.Token, gid(99), t0.Add(-time.Hour), time.Time{})

	tSingle, tBulk := t0.Add(time.Hour), t0.Add(2*time.Hour)
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		bulk  []guestlink.Guest
	)
	for i := range single {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			g, err := s.SetGuestState(ctx, "r", gs[i].ID, guestlink.StateAdmitted, tSingle)
			if err != nil || g.State != guestlink.StateAdmitted {
				t.Errorf("SetGuestState(%s) = %s, %v", gs[i].ID, g.State, err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		var err error
		if bulk, err = s.AdmitAll(ctx, "r", t0, tBulk); err != nil {
			t.Errorf("AdmitAll: %v", err)
		}
	}()
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
		stored, err := s.Guest(ctx, "r", g.ID)
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
	if g, _ := s.Guest(ctx, "r", unseen.ID); g.State != guestlink.StateWaiting {
		t.Errorf("unseen guest: %s, want waiting", g.State)
	}
	t.Logf("AdmitAll admitted %d of %d, %d retries", len(bulk), single+bulkOnly, s.retries.Load())
}

// TestAdmitAllInBatches admits more waiting guests than one transaction holds.
func TestAdmitAllInBatches(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	lobbyRoom(t, s, "big")
	const n = 8000
	gs := make([]guestlink.Guest, n)
	for i := range gs {
		gs[i] = guestlink.Guest{ID: gid(i), RoomID: "big", LinkID: "l_x", Name: "Guest", Email: "guest@example.com",
			State: guestlink.StateWaiting, RedeemedAt: t0.Add(time.Duration(n-i) * time.Second), LastSeen: t0.Add(time.Hour)}
	}
	gs[17].State = guestlink.StateDeclined
	gs[4711].LastSeen = t0 // not seen since the cut-off
	writeRaw(t, s, gs, true)
	seenSince, now := t0.Add(time.Minute), t0.Add(2*time.Hour)
	// One transaction cannot hold it.
	err := s.update(ctx, func(txn *badgerdb.Txn) error {
		_, _, _, err := admitWaiting(txn, "big", seenSince, now, false, 0)
		return err
	})
	if !errors.Is(err, badgerdb.ErrTxnTooBig) {
		t.Fatalf("single transaction: %v, want ErrTxnTooBig", err)
	}

	got, err := s.AdmitAll(ctx, "big", seenSince, now)
	if err != nil {
		t.Fatalf("AdmitAll: %v", err)
	}
	if len(got) != n-2 {
		t.Errorf("admitted %d, want %d", len(got), n-2)
	}
	seen := map[string]bool{}
	for i, g := range got {
		if seen[g.ID] || g.State != guestlink.StateAdmitted {
			t.Fatalf("result %d: %+v (duplicate: %v)", i, g, seen[g.ID])
		}
		seen[g.ID] = true
		if i > 0 && !got[i-1].RedeemedAt.Before(g.RedeemedAt) {
			t.Fatalf("result not oldest first at %d", i)
		}
	}
	lobby, err := s.Lobby(ctx, "big", time.Time{})
	if err != nil || len(lobby) != 1 || lobby[0].ID != gs[4711].ID {
		t.Errorf("Lobby after AdmitAll = %v, %v; want only the unseen guest", ids(lobby), err)
	}
	if g, _ := s.Guest(ctx, "big", gs[17].ID); g.State != guestlink.StateDeclined {
		t.Errorf("declined guest: %s", g.State)
	}
}

// TestAdmitAllPurgesInBatches: waiting guests past their PurgeAt are deleted,
// with their index keys, not admitted, also when it takes several transactions
// and a guest's two deletions straddle the end of one (which one of the two
// parities of kept guests before the deletions makes happen).
func TestAdmitAllPurgesInBatches(t *testing.T) {
	ctx := context.Background()
	straddled := false
	for _, kept := range []int{1, 2} {
		t.Run(fmt.Sprintf("kept=%d", kept), func(t *testing.T) {
			s, _ := openStore(t)
			lobbyRoom(t, s, "big")
			const n = 7000 // two deletions each: more than one transaction holds
			gs := make([]guestlink.Guest, n+kept)
			for i := range gs {
				gs[i] = guestlink.Guest{ID: gid(i), RoomID: "big", LinkID: "l_x", Name: "Guest", Email: "guest@example.com",
					State: guestlink.StateWaiting, RedeemedAt: t0, LastSeen: t0, PurgeAt: t0.Add(time.Hour)}
				if i < kept {
					gs[i].PurgeAt = time.Time{} // kept and admitted, one write each, first in key order
				}
			}
			writeRaw(t, s, gs, true)
			now := t0.Add(2 * time.Hour)
			s.update(ctx, func(txn *badgerdb.Txn) error {
				_, _, _, err := admitWaiting(txn, "big", t0, now, true, 0)
				var fewer errAdmitFewer
				straddled = straddled || errors.As(err, &fewer)
				return errors.New("discard")
			})

			got, err := s.AdmitAll(ctx, "big", t0, now)
			if err != nil {
				t.Fatalf("AdmitAll: %v", err)
			}
			if !slices.Equal(ids(got), ids(gs[:kept])) {
				t.Errorf("admitted %v, want %v", ids(got), ids(gs[:kept]))
			}
			if g, _, _ := s.Guests(ctx, "big", 10, ""); len(g) != kept {
				t.Errorf("Guests lists %d, want %d", len(g), kept)
			}
			if k := countKeys(t, s, string(guestPrefix("big"))); k != kept {
				t.Errorf("%d guest keys left, want %d", k, kept)
			}
			if k := countKeys(t, s, string(newestPrefix("big"))); k != kept {
				t.Errorf("%d index keys left, want %d", k, kept)
			}
		})
	}
	if !straddled {
		t.Error("no batch ended in the middle of a guest's change: the errAdmitFewer path was not tested")
	}
}

func TestLobby(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	l := lobbyRoom(t, s, "r")
	other := lobbyRoom(t, s, "other")
	a := redeemAs(t, s, l.Token, gid(9), t0, time.Time{})
	b := redeemAs(t, s, l.Token, gid(5), t0.Add(time.Minute), time.Time{})
	c := redeemAs(t, s, l.Token, gid(3), t0.Add(time.Minute), time.Time{}) // ties with b, smaller id
	d := redeemAs(t, s, l.Token, gid(1), t0.Add(2*time.Minute), time.Time{})
	e := redeemAs(t, s, l.Token, gid(7), t0.Add(3*time.Minute), time.Time{})
	redeemAs(t, s, other.Token, gid(2), t0, time.Time{})
	if _, err := s.SetGuestState(ctx, "r", e.ID, guestlink.StateDeclined, t0.Add(4*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// a, redeemed first, was seen last.
	if _, err := s.SeenGuest(ctx, "r", a.ID, t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		seenSince time.Time
		want      []string
	}{
		{time.Time{}, []string{a.ID, c.ID, b.ID, d.ID}},
		{t0.Add(time.Minute), []string{a.ID, c.ID, b.ID, d.ID}},
		{t0.Add(time.Minute + 1), []string{a.ID, d.ID}},
		{t0.Add(5 * time.Minute), []string{a.ID}},
		{t0.Add(5*time.Minute + 1), []string{}},
	}
	for _, tc := range tests {
		got, err := s.Lobby(ctx, "r", tc.seenSince)
		if err != nil || got == nil || !slices.Equal(ids(got), tc.want) {
			t.Errorf("Lobby(seen since %v) = %v, %v; want %v", tc.seenSince.Sub(t0), ids(got), err, tc.want)
		}
	}
	// InLobby agrees with the store's filter.
	got, _ := s.Lobby(ctx, "r", t0.Add(time.Minute))
	for _, g := range got {
		if !guestlink.InLobby(g, t0.Add(3*time.Minute), 2*time.Minute+time.Nanosecond) {
			t.Errorf("%s listed but not InLobby", g.ID)
		}
	}
	if _, err := s.Lobby(ctx, "missing", t0); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("Lobby of a missing room: %v, want ErrRoomNotFound", err)
	}
}

func TestGuestsPagination(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	l := lobbyRoom(t, s, "r")
	other := lobbyRoom(t, s, "r2")
	var all []guestlink.Guest
	for i := range 250 {
		// Pairs share a redemption time; ids run against time within them.
		g := redeemAs(t, s, l.Token, gid(1000-i), t0.Add(time.Duration(i/2)*time.Second), time.Time{})
		if i%3 == 0 {
			var err error
			if g, err = s.SetGuestState(ctx, "r", g.ID, guestlink.StateDeclined, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		all = append(all, g)
	}
	redeemAs(t, s, other.Token, gid(5000), t0.Add(time.Hour), time.Time{})
	want := slices.Clone(all)
	slices.SortFunc(want, func(a, b guestlink.Guest) int {
		if c := b.RedeemedAt.Compare(a.RedeemedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})

	var got []guestlink.Guest
	var sizes []int
	cursor := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("too many pages")
		}
		gs, next, err := s.Guests(ctx, "r", 100, cursor)
		if err != nil {
			t.Fatalf("Guests page %d: %v", page, err)
		}
		sizes = append(sizes, len(gs))
		got = append(got, gs...)
		if page == 0 {
			// A guest redeemed meanwhile sorts before the cursor: the next pages
			// are not shifted.
			redeemAs(t, s, l.Token, gid(4000), t0.Add(24*time.Hour), time.Time{})
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
		if got[i] != want[i] {
			t.Fatalf("guest %d: %+v, want %+v", i, got[i], want[i])
		}
	}

	for _, tc := range []struct{ limit, want int }{{0, 100}, {-1, 100}, {1, 1}, {1000, 251}, {5000, 251}} {
		gs, next, err := s.Guests(ctx, "r", tc.limit, "")
		if err != nil || len(gs) != tc.want || (next == "") != (tc.want == 251) {
			t.Errorf("Guests(limit %d) = %d guests, next %q, %v; want %d", tc.limit, len(gs), next, err, tc.want)
		}
	}
	// The last guest's cursor is the end.
	gs, next, err := s.Guests(ctx, "r", 251, "")
	if err != nil || len(gs) != 251 || next != "" {
		t.Fatalf("Guests(251) = %d, %q, %v", len(gs), next, err)
	}
	lastCursor := encodeCursor(newestSuffix(gs[250].RedeemedAt, gs[250].ID))
	if gs, next, err := s.Guests(ctx, "r", 10, lastCursor); err != nil || len(gs) != 0 || gs == nil || next != "" {
		t.Errorf("Guests after the last = %v, %q, %v; want an empty page", ids(gs), next, err)
	}
	if _, _, err := s.Guests(ctx, "missing", 10, ""); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("Guests of a missing room: %v, want ErrRoomNotFound", err)
	}
	lobbyRoom(t, s, "empty")
	if gs, next, err := s.Guests(ctx, "empty", 10, ""); err != nil || gs == nil || len(gs) != 0 || next != "" {
		t.Errorf("Guests of an empty room = %v, %q, %v", gs, next, err)
	}
}

func TestGuestsMalformedCursor(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	l := lobbyRoom(t, s, "r")
	g := redeemAs(t, s, l.Token, gid(1), t0, time.Time{})
	enc := base64.RawURLEncoding.EncodeToString
	good := enc([]byte("0000000000000000/" + gid(2)))
	for name, cursor := range map[string]string{
		"not base64":          "!!!",
		"padded":              enc([]byte("0000000000000000/g_x")) + "==",
		"std alphabet":        base64.StdEncoding.EncodeToString([]byte("0000000000000000/g_x??>")),
		"newline inside":      good[:8] + "\n" + good[8:],
		"trailing bits":       good[:len(good)-1] + "B",
		"no slash":            enc([]byte("0000000000000000")),
		"short hex":           enc([]byte("000000000000000/g_x")),
		"long hex":            enc([]byte("00000000000000000/g_x")),
		"upper hex":           enc([]byte("00000000000000AB/g_x")),
		"not hex":             enc([]byte("000000000000000g/g_x")),
		"above MaxInt64":      enc([]byte("8000000000000000/g_x")),
		"empty id":            enc([]byte("0000000000000000/")),
		"slash in id":         enc([]byte("0000000000000000/g_x/y")),
		"garbage":             enc([]byte("hello")),
		"room prefix as well": enc([]byte("gnew/r/0000000000000000/g_x")),
	} {
		if name == "trailing bits" && len(good)%4 == 0 {
			continue // no spare bits to set
		}
		_, _, err := s.Guests(ctx, "r", 10, cursor)
		var ve *guestlink.ValidationError
		if !errors.As(err, &ve) || ve.Field != "cursor" {
			t.Errorf("%s: Guests(cursor %q): %v, want a validation error for cursor", name, cursor, err)
		}
	}
	// A well-formed cursor, even one Guests never returned, is accepted.
	if gs, _, err := s.Guests(ctx, "r", 10, good); err != nil || len(gs) != 1 || gs[0].ID != g.ID {
		t.Errorf("Guests(well-formed cursor) = %v, %v", ids(gs), err)
	}
}

func TestSeenGuest(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	l := lobbyRoom(t, s, "r")
	g := redeemAs(t, s, l.Token, gid(1), t0, time.Time{})
	if !g.LastSeen.Equal(t0) {
		t.Fatalf("LastSeen after Redeem = %v, want the redemption time", g.LastSeen)
	}
	key := guestKey("r", g.ID)
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
		v0, _, _ := itemMeta(t, s, key)
		got, err := s.SeenGuest(ctx, "r", g.ID, t0.Add(st.at))
		if err != nil {
			t.Fatal(err)
		}
		want := t0.Add(st.wantSeen)
		stored, _ := s.Guest(ctx, "r", g.ID)
		if !got.LastSeen.Equal(want) || stored != got {
			t.Errorf("SeenGuest(+%v): LastSeen %v, stored %v; want %v", st.at, got.LastSeen.Sub(t0), stored.LastSeen.Sub(t0), st.wantSeen)
		}
		v1, _, _ := itemMeta(t, s, key)
		if wrote := v1 != v0; wrote != (st.wantSeen == st.at) {
			t.Errorf("SeenGuest(+%v) wrote: %v", st.at, wrote)
		}
	}
	// Only waiting guests are tracked.
	if _, err := s.SetGuestState(ctx, "r", g.ID, guestlink.StateAdmitted, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	v0, _, _ := itemMeta(t, s, key)
	got, err := s.SeenGuest(ctx, "r", g.ID, t0.Add(2*time.Hour))
	if v1, _, _ := itemMeta(t, s, key); err != nil || got.State != guestlink.StateAdmitted || !got.LastSeen.Equal(t0.Add(2*guestlink.SeenInterval)) || v1 != v0 {
		t.Errorf("SeenGuest of an admitted guest = %+v, %v (wrote: %v)", got, err, v1 != v0)
	}
}

func TestSeenGuestConcurrent(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	l := lobbyRoom(t, s, "r")
	g := redeemAs(t, s, l.Token, gid(1), t0, time.Time{})
	key := guestKey("r", g.ID)

	// Concurrent polls of one interval write once.
	v0, _, _ := itemMeta(t, s, key)
	now := t0.Add(time.Minute)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := s.SeenGuest(ctx, "r", g.ID, now); err != nil || !got.LastSeen.Equal(now) {
				t.Errorf("SeenGuest = %v, %v; want LastSeen %v", got.LastSeen, err, now)
			}
		}()
	}
	wg.Wait()
	if v1, _, _ := itemMeta(t, s, key); v1 != v0+1 {
		t.Errorf("%d writes for 10 concurrent polls, want 1", v1-v0)
	}

	// A decision racing the polls is never lost.
	later := now.Add(time.Minute)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A poll that still finds the guest waiting records the visit; one
			// that finds the guest admitted returns the record as it is, whose
			// LastSeen is later when an earlier poll wrote it before the admit.
			got, err := s.SeenGuest(ctx, "r", g.ID, later)
			if err != nil || (got.State == guestlink.StateWaiting && !got.LastSeen.Equal(later)) {
				t.Errorf("SeenGuest = %s seen %v, %v", got.State, got.LastSeen, err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := s.SetGuestState(ctx, "r", g.ID, guestlink.StateAdmitted, later); err != nil {
			t.Error(err)
		}
	}()
	wg.Wait()
	if stored, _ := s.Guest(ctx, "r", g.ID); stored.State != guestlink.StateAdmitted || !stored.UpdatedAt.Equal(later) {
		t.Errorf("guest %s updated %v after racing SeenGuest, want admitted", stored.State, stored.UpdatedAt)
	}
	// A poll of an admitted guest records nothing.
	v2, _, _ := itemMeta(t, s, key)
	before, _ := s.Guest(ctx, "r", g.ID)
	if got, err := s.SeenGuest(ctx, "r", g.ID, later.Add(time.Minute)); err != nil || !got.LastSeen.Equal(before.LastSeen) {
		t.Errorf("SeenGuest of an admitted guest = seen %v, %v; want %v unchanged", got.LastSeen, err, before.LastSeen)
	}
	if v3, _, _ := itemMeta(t, s, key); v3 != v2 {
		t.Errorf("SeenGuest of an admitted guest wrote %d times, want 0", v3-v2)
	}
}

func TestWaitGuest(t *testing.T) {
	ctx := context.Background()
	t.Run("state already differs", func(t *testing.T) {
		s, _ := openStore(t)
		l := lobbyRoom(t, s, "r")
		g := redeemAs(t, s, l.Token, gid(1), t0, time.Time{})
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		start := time.Now()
		got, err := s.WaitGuest(wctx, "r", g.ID, guestlink.StateAdmitted)
		if err != nil || got.State != guestlink.StateWaiting || time.Since(start) > 2*time.Second {
			t.Errorf("WaitGuest = %s, %v after %v; want waiting at once", got.State, err, time.Since(start))
		}
		if n := s.waiters.len(); n != 0 {
			t.Errorf("%d registry entries left", n)
		}
	})
	t.Run("wakes on SetGuestState", func(t *testing.T) {
		s, _ := openStore(t)
		l := lobbyRoom(t, s, "r")
		g := redeemAs(t, s, l.Token, gid(1), t0, time.Time{})
		done := waitAsync(s, "r", g.ID, guestlink.StateWaiting, 10*time.Second)
		waitRegistered(t, s, 1)
		if _, err := s.SetGuestState(ctx, "r", g.ID, guestlink.StateAdmitted, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		r := expectResult(t, done, 5*time.Second)
		if r.err != nil || r.g.State != guestlink.StateAdmitted || !r.g.UpdatedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("WaitGuest = %+v, %v; want admitted", r.g, r.err)
		}
		if n := s.waiters.len(); n != 0 {
			t.Errorf("%d registry entries left", n)
		}
	})
	t.Run("wakes on AdmitAll", func(t *testing.T) {
		s, _ := openStore(t)
		l := lobbyRoom(t, s, "r")
		g := redeemAs(t, s, l.Token, gid(1), t0, time.Time{})
		done := waitAsync(s, "r", g.ID, guestlink.StateWaiting, 10*time.Second)
		waitRegistered(t, s, 1)
		if got, err := s.AdmitAll(ctx, "r", t0, t0.Add(time.Minute)); err != nil || len(got) != 1 {
			t.Fatal(got, err)
		}
		if r := expectResult(t, done, 5*time.Second); r.err != nil || r.g.State != guestlink.StateAdmitted {
			t.Errorf("WaitGuest = %+v, %v; want admitted", r.g, r.err)
		}
	})
	t.Run("wakes on DeleteRoom", func(t *testing.T) {
		s, _ := openStore(t)
		l := lobbyRoom(t, s, "r")
		g := redeemAs(t, s, l.Token, gid(1), t0, time.Time{})
		done := waitAsync(s, "r", g.ID, guestlink.StateWaiting, 10*time.Second)
		waitRegistered(t, s, 1)
		if err := s.DeleteRoom(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		if r := expectResult(t, done, 5*time.Second); !errors.Is(r.err, guestlink.ErrGuestNotFound) {
			t.Errorf("WaitGuest after DeleteRoom = %+v, %v; want ErrGuestNotFound", r.g, r.err)
		}
		if n := s.waiters.len(); n != 0 {
			t.Errorf("%d registry entries left", n)
		}
	})
	t.Run("wakes on Close", func(t *testing.T) {
		s, _ := openStore(t)
		l := lobbyRoom(t, s, "r")
		g := redeemAs(t, s, l.Token, gid(1), t0, time.Time{})
		done := waitAsync(s, "r", g.ID, guestlink.StateWaiting, 10*time.Second)
		waitRegistered(t, s, 1)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if r := expectResult(t, done, 5*time.Second); !errors.Is(r.err, ErrClosed) {
			t.Errorf("WaitGuest after Close = %+v, %v; want ErrClosed", r.g, r.err)
		}
	})
	t.Run("context ends", func(t *testing.T) {
		s, _ := openStore(t)
		l := lobbyRoom(t, s, "r")
		g := redeemAs(t, s, l.Token, gid(1), t0, time.Time{})
		wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		got, err := s.WaitGuest(wctx, "r", g.ID, guestlink.StateWaiting)
		if err != nil || got != g {
			t.Errorf("WaitGuest at timeout = %+v, %v; want the current guest %+v", got, err, g)
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Errorf("returned after %v, before the timeout", d)
		}
		// An already cancelled context answers at once, with the guest.
		cctx, cancel2 := context.WithCancel(ctx)
		cancel2()
		if got, err := s.WaitGuest(cctx, "r", g.ID, guestlink.StateWaiting); err != nil || got != g {
			t.Errorf("WaitGuest with a cancelled context = %+v, %v", got, err)
		}
		if _, err := s.WaitGuest(cctx, "r", gid(2), guestlink.StateWaiting); !errors.Is(err, guestlink.ErrGuestNotFound) {
			t.Errorf("WaitGuest of an unknown guest with a cancelled context: %v", err)
		}
		if n := s.waiters.len(); n != 0 {
			t.Errorf("%d registry entries left", n)
		}
	})
	t.Run("registry empties", func(t *testing.T) {
		s, _ := openStore(t)
		l := lobbyRoom(t, s, "r")
		a := redeemAs(t, s, l.Token, gid(1), t0, time.Time{})
		b := redeemAs(t, s, l.Token, gid(2), t0, time.Time{})
		c := redeemAs(t, s, l.Token, gid(3), t0, time.Time{})
		var dones []chan waitResult
		for range 5 {
			dones = append(dones, waitAsync(s, "r", a.ID, guestlink.StateWaiting, 10*time.Second)) // signalled
			dones = append(dones, waitAsync(s, "r", b.ID, guestlink.StateWaiting, 500*time.Millisecond))
		}
		dones = append(dones, waitAsync(s, "r", c.ID, guestlink.StateWaiting, 700*time.Millisecond))
		waitRegistered(t, s, 3)
		if _, err := s.SetGuestState(ctx, "r", a.ID, guestlink.StateDeclined, t0); err != nil {
			t.Fatal(err)
		}
		for i, d := range dones {
			r := expectResult(t, d, 5*time.Second)
			want := guestlink.StateWaiting
			if i < 10 && i%2 == 0 {
				want = guestlink.StateDeclined
			}
			if r.err != nil || r.g.State != want {
				t.Errorf("waiter %d: %s, %v; want %s", i, r.g.State, r.err, want)
			}
		}
		s.waiters.mu.Lock()
		n := len(s.waiters.m)
		s.waiters.mu.Unlock()
		if n != 0 {
			t.Errorf("%d registry entries left after every waiter left", n)
		}
	})
	t.Run("no lost wake-up", func(t *testing.T) {
		s, _ := openStore(t)
		l := lobbyRoom(t, s, "r")
		for i := range 50 {
			g := redeemAs(t, s, l.Token, gid(i+1), t0, time.Time{})
			// A lost wake-up would only end at the context's timeout (with the
			// right answer, read then): the result must come well before it.
			done := waitAsync(s, "r", g.ID, guestlink.StateWaiting, time.Minute)
			if _, err := s.SetGuestState(ctx, "r", g.ID, guestlink.StateAdmitted, t0); err != nil {
				t.Fatal(err)
			}
			if r := expectResult(t, done, 5*time.Second); r.err != nil || r.g.State != guestlink.StateAdmitted {
				t.Fatalf("round %d: WaitGuest = %s, %v; want admitted", i, r.g.State, r.err)
			}
		}
		if n := s.waiters.len(); n != 0 {
			t.Errorf("%d registry entries left", n)
		}
	})
}

type waitResult struct {
	g   guestlink.Guest
	err error
}

// waitAsync runs WaitGuest with timeout in a goroutine.
func waitAsync(s *Store, roomID, guestID, state string, timeout time.Duration) chan waitResult {
	done := make(chan waitResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		g, err := s.WaitGuest(ctx, roomID, guestID, state)
		done <- waitResult{g, err}
	}()
	return done
}

func expectResult(t *testing.T, done chan waitResult, within time.Duration) waitResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(within):
		t.Fatalf("WaitGuest did not return within %v", within)
		return waitResult{}
	}
}

// waitRegistered waits until n guests are waited on.
func waitRegistered(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.waiters.len() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d guests waited on, want %d", s.waiters.len(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRetentionTTL checks that guest records and their index keys carry a
// Badger expiry at PurgeAt, through every write.
func TestRetentionTTL(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	l := lobbyRoom(t, s, "r")
	now := time.Now()
	purge := now.Truncate(time.Second).Add(time.Hour)
	g := redeemAs(t, s, l.Token, gid(1), now, purge)
	kept := redeemAs(t, s, l.Token, gid(2), now, time.Time{})
	if !g.PurgeAt.Equal(purge) {
		t.Fatalf("Redeem dropped PurgeAt: %+v", g)
	}
	check := func(what string, wantExp int64) {
		t.Helper()
		for _, k := range [][]byte{guestKey("r", g.ID), newestKey("r", g.RedeemedAt, g.ID)} {
			_, exp, found := itemMeta(t, s, k)
			if !found || int64(exp) != wantExp {
				t.Errorf("%s: %s expires at %d (found %v), want %d", what, k, exp, found, wantExp)
			}
		}
	}
	check("Redeem", purge.Unix())
	if stored, _ := s.Guest(ctx, "r", g.ID); !stored.PurgeAt.Equal(purge) {
		t.Errorf("stored PurgeAt %v, want %v", stored.PurgeAt, purge)
	}
	if _, err := s.SetGuestState(ctx, "r", g.ID, guestlink.StateDeclined, time.Now()); err != nil {
		t.Fatal(err)
	}
	check("SetGuestState", purge.Unix())
	if _, err := s.SetGuestState(ctx, "r", g.ID, guestlink.StateRemoved, time.Now()); err != nil {
		t.Fatal(err)
	}
	check("SetGuestState again", purge.Unix())

	// AdmitAll and SeenGuest on a second guest.
	h := redeemAs(t, s, l.Token, gid(3), now, purge)
	// SeenGuest writes at now + SeenInterval: the TTL runs from the real clock.
	seenAt := now.Add(guestlink.SeenInterval)
	if got, err := s.SeenGuest(ctx, "r", h.ID, seenAt); err != nil || !got.LastSeen.Equal(seenAt) {
		t.Fatal(got, err)
	}
	if _, exp, _ := itemMeta(t, s, guestKey("r", h.ID)); int64(exp) < purge.Add(-guestlink.SeenInterval).Unix() || int64(exp) > purge.Add(-guestlink.SeenInterval).Unix()+1 {
		t.Errorf("SeenGuest: expires at %d, want PurgeAt - (now - real now) = %d", exp, purge.Add(-guestlink.SeenInterval).Unix())
	}
	if got, err := s.AdmitAll(ctx, "r", seenAt, time.Now()); err != nil || len(got) != 1 || got[0].ID != h.ID {
		t.Fatal(ids(got), err)
	}
	if _, exp, _ := itemMeta(t, s, guestKey("r", h.ID)); int64(exp) != purge.Unix() {
		t.Errorf("AdmitAll: expires at %d, want %d", exp, purge.Unix())
	}

	// A guest without PurgeAt never expires.
	for _, k := range [][]byte{guestKey("r", kept.ID), newestKey("r", kept.RedeemedAt, kept.ID)} {
		if _, exp, found := itemMeta(t, s, k); !found || exp != 0 {
			t.Errorf("%s expires at %d (found %v), want never", k, exp, found)
		}
	}
}

// TestRetentionExpires waits for a real expiry (about 1-2 s).
func TestRetentionExpires(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	l := lobbyRoom(t, s, "r")
	now := time.Now()
	purge := now.Truncate(time.Second).Add(2 * time.Second)
	g := redeemAs(t, s, l.Token, gid(1), now, purge)
	kept := redeemAs(t, s, l.Token, gid(2), now, time.Time{})
	if gs, _, err := s.Guests(ctx, "r", 10, ""); err != nil || len(gs) != 2 {
		t.Fatalf("Guests before expiry = %v, %v", ids(gs), err)
	}
	time.Sleep(time.Until(purge) + 50*time.Millisecond)
	if _, err := s.Guest(ctx, "r", g.ID); !errors.Is(err, guestlink.ErrGuestNotFound) {
		t.Errorf("Guest after PurgeAt: %v, want ErrGuestNotFound", err)
	}
	if gs, _, err := s.Guests(ctx, "r", 10, ""); err != nil || !slices.Equal(ids(gs), []string{kept.ID}) {
		t.Errorf("Guests after PurgeAt = %v, %v; want only the kept guest", ids(gs), err)
	}
	if gs, err := s.Lobby(ctx, "r", time.Time{}); err != nil || !slices.Equal(ids(gs), []string{kept.ID}) {
		t.Errorf("Lobby after PurgeAt = %v, %v", ids(gs), err)
	}
	if n := countKeys(t, s, prefixNewest); n != 1 {
		t.Errorf("%d index keys visible, want 1", n)
	}
	if _, err := s.SetGuestState(ctx, "r", g.ID, guestlink.StateAdmitted, time.Now()); !errors.Is(err, guestlink.ErrGuestNotFound) {
		t.Errorf("SetGuestState after PurgeAt: %v, want ErrGuestNotFound", err)
	}
}

// TestRetentionPurgeOnWrite: a write at or after PurgeAt deletes the guest.
func TestRetentionPurgeOnWrite(t *testing.T) {
	ctx := context.Background()
	for name, write := range map[string]func(s *Store, g guestlink.Guest, at time.Time) error{
		"SetGuestState": func(s *Store, g guestlink.Guest, at time.Time) error {
			_, err := s.SetGuestState(ctx, "r", g.ID, guestlink.StateAdmitted, at)
			return err
		},
		"SeenGuest": func(s *Store, g guestlink.Guest, at time.Time) error {
			_, err := s.SeenGuest(ctx, "r", g.ID, at)
			return err
		},
		"AdmitAll": func(s *Store, g guestlink.Guest, at time.Time) error {
			got, err := s.AdmitAll(ctx, "r", time.Time{}, at)
			if err == nil && len(got) != 0 {
				return fmt.Errorf("admitted %v", ids(got))
			}
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			s, _ := openStore(t)
			l := lobbyRoom(t, s, "r")
			g := redeemAs(t, s, l.Token, gid(1), t0, t0.Add(time.Hour))
			err := write(s, g, t0.Add(time.Hour))
			if name == "AdmitAll" {
				if err != nil {
					t.Fatal(err)
				}
			} else if !errors.Is(err, guestlink.ErrGuestNotFound) {
				t.Errorf("%s at PurgeAt: %v, want ErrGuestNotFound", name, err)
			}
			if _, err := s.Guest(ctx, "r", g.ID); !errors.Is(err, guestlink.ErrGuestNotFound) {
				t.Errorf("Guest after a write at PurgeAt: %v", err)
			}
			if n := countKeys(t, s, prefixGuest) + countKeys(t, s, prefixNewest); n != 0 {
				t.Errorf("%d guest and index keys left", n)
			}
		})
	}

	// Redeem refuses a guest to be purged at once, and spends nothing.
	s, _ := openStore(t)
	l := lobbyRoom(t, s, "r")
	in := newGuest("Late")
	in.PurgeAt = t0
	if _, _, _, err := s.Redeem(ctx, l.Token, in, t0); err == nil {
		t.Error("Redeem with PurgeAt = now succeeded")
	}
	if _, got, _ := s.LinkByToken(ctx, l.Token); got.Clicks != 0 || countKeys(t, s, prefixGuest) != 0 {
		t.Errorf("refused Redeem spent a click (%d) or stored a guest", got.Clicks)
	}
}

func TestLobbyPersistenceAcrossReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := lobbyRoom(t, s, "r")
	purge := time.Now().Add(time.Hour)
	var gs []guestlink.Guest
	for i := range 5 {
		gs = append(gs, redeemAs(t, s, l.Token, gid(i+1), t0.Add(time.Duration(i)*time.Minute), purge))
	}
	want := map[string]guestlink.Guest{}
	for i, to := range []string{guestlink.StateAdmitted, guestlink.StateDeclined, guestlink.StateRemoved, guestlink.StateLeft} {
		g, err := s.SetGuestState(ctx, "r", gs[i].ID, to, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want[g.ID] = g
	}
	g, err := s.SeenGuest(ctx, "r", gs[4].ID, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want[g.ID] = g
	before, _, _ := s.Guests(ctx, "r", 10, "")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for id, w := range want {
		got, err := s.Guest(ctx, "r", id)
		if err != nil || got.State != w.State || !got.UpdatedAt.Equal(w.UpdatedAt) || !got.LastSeen.Equal(w.LastSeen) || !got.PurgeAt.Equal(w.PurgeAt) {
			t.Errorf("guest %s after reopen = %+v, %v; want %+v", id, got, err, w)
		}
	}
	after, _, err := s.Guests(ctx, "r", 10, "")
	if err != nil || !slices.Equal(ids(after), ids(before)) || len(after) != 5 {
		t.Errorf("Guests after reopen = %v, %v; want %v", ids(after), err, ids(before))
	}
	if lobby, err := s.Lobby(ctx, "r", t0.Add(2*time.Hour)); err != nil || !slices.Equal(ids(lobby), []string{gs[4].ID}) {
		t.Errorf("Lobby after reopen = %v, %v", ids(lobby), err)
	}
	if _, exp, _ := itemMeta(t, s, guestKey("r", gs[0].ID)); exp == 0 {
		t.Error("expiry lost across reopen")
	}
}

func TestStats(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	if st, err := s.Stats(ctx); err != nil || st != (guestlink.Stats{}) {
		t.Fatalf("empty store: %+v, %v", st, err)
	}
	for _, id := range []string{"a", "b"} {
		if _, _, err := s.PutRoom(ctx, id, guestlink.RoomSpec{Name: id, Admission: guestlink.AdmissionModerator}, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetGuestAccess(ctx, id, true, t0); err != nil {
			t.Fatal(err)
		}
	}
	l, err := guestlink.LinkSpec{Name: "x"}.NewLink("a", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddLink(ctx, l, 3); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < 3; i++ {
		_, _, g, err := s.Redeem(ctx, l.Token, guestlink.Guest{ID: guestlink.NewID("g"), Name: "n", Email: "e@x.test"}, t0)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, g.ID)
	}
	if _, err := s.SetGuestState(ctx, "a", ids[0], guestlink.StateAdmitted, t0); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx)
	if want := (guestlink.Stats{Rooms: 2, Links: 1, GuestsWaiting: 2}); err != nil || st != want {
		t.Fatalf("Stats = %+v, %v; want %+v", st, err, want)
	}
}

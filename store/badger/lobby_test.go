package badger

import (
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

// gid returns a guest id that sorts by i.
func gid(i int) string { return fmt.Sprintf("g_%016d", i) }

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

// TestSetGuestStateWritesOnlyChanges: SetGuestState writes the guest record
// only when guestlink.Transition changed the guest (the record keeps its
// version otherwise), and returns Transition's error itself, not wrapped;
// for every state a guest can be in and every target.
func TestSetGuestStateWritesOnlyChanges(t *testing.T) {
	ctx := context.Background()
	states := []string{guestlink.StateWaiting, guestlink.StateAdmitted, guestlink.StateDeclined, guestlink.StateRemoved, guestlink.StateLeft}
	s, _ := openStore(t)
	l := lobbyRoom(t, s, "r")
	for i, from := range states {
		for j, to := range append(states, "vip") {
			g := redeemAs(t, s, l.Token, gid(10*i+j+1), t0, time.Time{})
			if from != guestlink.StateWaiting {
				var err error
				if g, err = s.SetGuestState(ctx, "r", g.ID, from, t0.Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
			}
			now := t0.Add(time.Hour)
			_, changed, wantErr := guestlink.Transition(g, to, now)
			v0, _, _ := itemMeta(t, s, guestKey("r", g.ID))
			if _, err := s.SetGuestState(ctx, "r", g.ID, to, now); err != wantErr {
				t.Errorf("%s -> %s: error %v, want %v itself", from, to, err, wantErr)
			}
			if v1, _, _ := itemMeta(t, s, guestKey("r", g.ID)); (v1 != v0) != changed {
				t.Errorf("%s -> %s: wrote %v, want %v", from, to, v1 != v0, changed)
			}
		}
	}
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

// TestEmptyListsAreNotNil: the lists of the waiting room are empty, non-nil
// slices when there is nothing to list, so that they encode as [] in JSON.
func TestEmptyListsAreNotNil(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	l := lobbyRoom(t, s, "r")
	lobbyRoom(t, s, "empty")
	g := redeemAs(t, s, l.Token, gid(1), t0, time.Time{})
	if _, err := s.SetGuestState(ctx, "r", g.ID, guestlink.StateDeclined, t0); err != nil {
		t.Fatal(err)
	}
	if gs, err := s.Lobby(ctx, "r", time.Time{}); err != nil || gs == nil || len(gs) != 0 {
		t.Errorf("Lobby = %#v, %v; want an empty list", gs, err)
	}
	if gs, err := s.AdmitAll(ctx, "r", time.Time{}, t0); err != nil || gs == nil || len(gs) != 0 {
		t.Errorf("AdmitAll = %#v, %v; want an empty list", gs, err)
	}
	if gs, next, err := s.Guests(ctx, "empty", 10, ""); err != nil || gs == nil || len(gs) != 0 || next != "" {
		t.Errorf("Guests of an empty room = %#v, %q, %v", gs, next, err)
	}
	// After the last guest: the cursor Guests makes from the last one's key.
	last := encodeCursor(newestSuffix(g.RedeemedAt, g.ID))
	if gs, next, err := s.Guests(ctx, "r", 10, last); err != nil || gs == nil || len(gs) != 0 || next != "" {
		t.Errorf("Guests after the last = %#v, %q, %v; want an empty page", gs, next, err)
	}
}

// TestGuestsPageBounds: a limit of 0 or less is 100, and one above 1000 is
// 1000.
func TestGuestsPageBounds(t *testing.T) {
	s, _ := openStore(t)
	lobbyRoom(t, s, "r")
	gs := make([]guestlink.Guest, 1001)
	for i := range gs {
		gs[i] = guestlink.Guest{ID: gid(i), RoomID: "r", LinkID: "l_x", Name: "Guest", Email: "guest@example.com",
			State: guestlink.StateAdmitted, RedeemedAt: t0.Add(time.Duration(i) * time.Second)}
	}
	writeRaw(t, s, gs, true)
	for _, tc := range []struct{ limit, want int }{{0, 100}, {-1, 100}, {1000, 1000}, {1001, 1000}, {5000, 1000}} {
		page, next, err := s.Guests(context.Background(), "r", tc.limit, "")
		if err != nil || len(page) != tc.want || next == "" {
			t.Errorf("Guests(limit %d) = %d guests, next %q, %v; want %d and more", tc.limit, len(page), next, err, tc.want)
		}
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

// TestSeenGuestWrites: SeenGuest writes the guest record at most once per
// SeenInterval, also when many polls come at once, and never for a guest who
// is not waiting.
func TestSeenGuestWrites(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	l := lobbyRoom(t, s, "r")
	g := redeemAs(t, s, l.Token, gid(1), t0, time.Time{})
	key := guestKey("r", g.ID)
	for _, st := range []struct {
		at    time.Duration
		write bool
	}{
		{5 * time.Second, false},
		{guestlink.SeenInterval - 1, false},
		{guestlink.SeenInterval, true},
		{guestlink.SeenInterval + 5*time.Second, false},
		{2 * guestlink.SeenInterval, true},
		{time.Second, false}, // the clock went back
	} {
		v0, _, _ := itemMeta(t, s, key)
		if _, err := s.SeenGuest(ctx, "r", g.ID, t0.Add(st.at)); err != nil {
			t.Fatal(err)
		}
		if v1, _, _ := itemMeta(t, s, key); (v1 != v0) != st.write {
			t.Errorf("SeenGuest(+%v) wrote: %v, want %v", st.at, v1 != v0, st.write)
		}
	}

	// Concurrent polls of one interval write once.
	v0, _, _ := itemMeta(t, s, key)
	now := t0.Add(time.Minute)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := s.SeenGuest(ctx, "r", g.ID, now); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if v1, _, _ := itemMeta(t, s, key); v1 != v0+1 {
		t.Errorf("%d writes for 10 concurrent polls, want 1", v1-v0)
	}

	// Only waiting guests are tracked.
	if _, err := s.SetGuestState(ctx, "r", g.ID, guestlink.StateAdmitted, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	v2, _, _ := itemMeta(t, s, key)
	if _, err := s.SeenGuest(ctx, "r", g.ID, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if v3, _, _ := itemMeta(t, s, key); v3 != v2 {
		t.Errorf("SeenGuest of an admitted guest wrote %d times, want 0", v3-v2)
	}
}

// TestWaitGuestRegistry: WaitGuest leaves nothing in the in-process registry
// of waiters however it returns (so that guests nobody waits on hold no
// memory), waiters of one guest share its entry, and Close wakes every waiter
// with ErrClosed.
func TestWaitGuestRegistry(t *testing.T) {
	ctx := context.Background()
	empty := func(t *testing.T, s *Store) {
		t.Helper()
		if n := s.waiters.Len(); n != 0 {
			t.Errorf("%d registry entries left", n)
		}
	}
	ends := []struct {
		name    string
		end     func(s *Store, g guestlink.Guest, cancel func()) error
		want    string // the state WaitGuest answers with
		wantErr error
	}{
		{"woken", func(s *Store, g guestlink.Guest, _ func()) error {
			_, err := s.SetGuestState(ctx, "r", g.ID, guestlink.StateAdmitted, t0.Add(time.Minute))
			return err
		}, guestlink.StateAdmitted, nil},
		{"room deleted", func(s *Store, _ guestlink.Guest, _ func()) error { return s.DeleteRoom(ctx, "r") }, "", guestlink.ErrGuestNotFound},
		{"context ends", func(_ *Store, _ guestlink.Guest, cancel func()) error { cancel(); return nil }, guestlink.StateWaiting, nil},
		{"Close", func(s *Store, _ guestlink.Guest, _ func()) error { return s.Close() }, "", ErrClosed},
	}
	for _, tc := range ends {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openStore(t)
			l := lobbyRoom(t, s, "r")
			g := redeemAs(t, s, l.Token, gid(1), t0, time.Time{})
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			done := make(chan waitResult, 1)
			go func() {
				g, err := s.WaitGuest(wctx, "r", g.ID, guestlink.StateWaiting)
				done <- waitResult{g, err}
			}()
			waitRegistered(t, s, 1)
			if err := tc.end(s, g, cancel); err != nil {
				t.Fatal(err)
			}
			if r := expectResult(t, done, 5*time.Second); !errors.Is(r.err, tc.wantErr) || r.g.State != tc.want {
				t.Errorf("WaitGuest = %+v, %v; want %q, %v", r.g, r.err, tc.want, tc.wantErr)
			}
			empty(t, s)
		})
	}
	t.Run("no wait", func(t *testing.T) {
		s, _ := openStore(t)
		l := lobbyRoom(t, s, "r")
		g := redeemAs(t, s, l.Token, gid(1), t0, time.Time{})
		if got, err := s.WaitGuest(ctx, "r", g.ID, guestlink.StateAdmitted); err != nil || got.State != guestlink.StateWaiting {
			t.Errorf("WaitGuest = %s, %v; want waiting", got.State, err)
		}
		if _, err := s.WaitGuest(ctx, "r", gid(2), guestlink.StateWaiting); !errors.Is(err, guestlink.ErrGuestNotFound) {
			t.Errorf("WaitGuest of an unknown guest: %v", err)
		}
		empty(t, s)
	})
	t.Run("many waiters", func(t *testing.T) {
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
		// Waiters of one guest share its entry.
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
		if n := s.waiters.Len(); n != 0 {
			t.Errorf("%d registry entries left after every waiter left", n)
		}
	})
	t.Run("racing decisions", func(t *testing.T) {
		s, _ := openStore(t)
		l := lobbyRoom(t, s, "r")
		for i := range 50 {
			g := redeemAs(t, s, l.Token, gid(i+1), t0, time.Time{})
			done := waitAsync(s, "r", g.ID, guestlink.StateWaiting, time.Minute)
			if _, err := s.SetGuestState(ctx, "r", g.ID, guestlink.StateAdmitted, t0); err != nil {
				t.Fatal(err)
			}
			if r := expectResult(t, done, 5*time.Second); r.err != nil || r.g.State != guestlink.StateAdmitted {
				t.Fatalf("round %d: WaitGuest = %s, %v; want admitted", i, r.g.State, r.err)
			}
		}
		empty(t, s)
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
	for s.waiters.Len() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d guests waited on, want %d", s.waiters.Len(), n)
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

// TestRetentionSurvivesReopen: the Badger expiry of a guest record, and the
// record's PurgeAt, are kept across a reopen.
func TestRetentionSurvivesReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := lobbyRoom(t, s, "r")
	purge := time.Now().Add(time.Hour).Truncate(time.Second)
	g := redeemAs(t, s, l.Token, gid(1), time.Now(), purge)
	_, before, _ := itemMeta(t, s, guestKey("r", g.ID))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, exp, found := itemMeta(t, s, guestKey("r", g.ID)); !found || exp == 0 || exp != before {
		t.Errorf("expiry after reopen %d (found %v), want %d", exp, found, before)
	}
	if got, err := s.Guest(context.Background(), "r", g.ID); err != nil || !got.PurgeAt.Equal(purge) {
		t.Errorf("PurgeAt after reopen = %v, %v; want %v", got.PurgeAt, err, purge)
	}
}

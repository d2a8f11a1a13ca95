package badger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/guestgate/guestgate/guestlink"
)

var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

func openStore(t testing.TB) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// putRoom creates room id with spec and guest access on (unless it is a gallery).
func putRoom(t testing.TB, s *Store, id string, spec guestlink.RoomSpec) guestlink.Room {
	t.Helper()
	ctx := context.Background()
	if _, _, err := s.PutRoom(ctx, id, spec, t0); err != nil {
		t.Fatalf("PutRoom(%s): %v", id, err)
	}
	r, err := s.SetGuestAccess(ctx, id, spec.Kind != guestlink.KindGallery, t0)
	if err != nil {
		t.Fatalf("SetGuestAccess(%s): %v", id, err)
	}
	return r
}

func addLink(t testing.TB, s *Store, roomID string, spec guestlink.LinkSpec, at time.Time) guestlink.Link {
	t.Helper()
	if spec.Name == "" {
		spec.Name = "Guest speakers"
	}
	l, err := spec.NewLink(roomID, at)
	if err != nil {
		t.Fatalf("NewLink: %v", err)
	}
	l, err = s.AddLink(context.Background(), l, 0)
	if err != nil {
		t.Fatalf("AddLink: %v", err)
	}
	return l
}

func newGuest(name string) guestlink.Guest {
	return guestlink.Guest{ID: guestlink.NewID("g"), Name: name, Email: strings.ToLower(name) + "@example.com"}
}

func redeem(t testing.TB, s *Store, token string, at time.Time) guestlink.Guest {
	t.Helper()
	_, _, g, err := s.Redeem(context.Background(), token, newGuest("Ada"), at)
	if err != nil {
		t.Fatalf("Redeem: %v", err)
	}
	return g
}

// countKeys counts the keys under prefix.
func countKeys(t testing.TB, s *Store, prefix string) int {
	t.Helper()
	var n int
	err := s.db.View(func(txn *badgerdb.Txn) error {
		n = len(keysWithPrefix(txn, []byte(prefix), 0))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOpenCreatesDirectory0700(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	for _, d := range []string{filepath.Dir(dir), dir} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want a directory with 0700", d, fi.Mode())
		}
	}
}

// TestOpenMakesDirectoryPrivate: an operator often makes the store's
// directory beforehand (mkdir /var/lib/guestgate, with the usual umask:
// 0755). Badger creates its files with the umask too, 0644, so every local
// user could read the link tokens and the session signing key in them (seen:
// user nobody read both from a running gateway's memtable). Open makes such a
// directory 0700.
func TestOpenMakesDirectoryPrivate(t *testing.T) {
	for _, mode := range []os.FileMode{0o755, 0o750, 0o777, 0o700} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			if err := os.Mkdir(dir, mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, mode); err != nil { // past the umask
				t.Fatal(err)
			}
			s, err := Open(dir, Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != 0o700 {
				t.Errorf("a store directory made %v beforehand is %v after Open, want 0700", mode, got)
			}
		})
	}
}

func TestOpenTwiceFailsClearly(t *testing.T) {
	s, dir := openStore(t)
	_, err := Open(dir, Options{})
	if err == nil {
		t.Fatal("second Open of the same directory succeeded")
	}
	for _, want := range []string{"store " + dir + " is already open in another process", "caddy reload"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

// TestClose: Close may be called more than once, and every method returns
// ErrClosed afterwards.
func TestClose(t *testing.T) {
	s, _ := openStore(t)
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"Room":    func() error { _, err := s.Room(ctx, "r"); return err },
		"PutRoom": func() error { _, _, err := s.PutRoom(ctx, "r", guestlink.RoomSpec{}, t0); return err },
		"Enqueue": func() error { _, err := s.Enqueue(ctx, "wh", []byte("x"), 0); return err },
		"Backup":  func() error { return s.Backup(ctx, new(bytes.Buffer)) },
	} {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// TestPutRoomNormalizes: PutRoom normalizes the spec again, so that a caller
// that did not still stores a well-formed room, and an invalid id or spec is a
// *guestlink.ValidationError that stores nothing.
func TestPutRoomNormalizes(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	r, created, err := s.PutRoom(ctx, "demo", guestlink.RoomSpec{Name: " Demo "}, t0)
	want := guestlink.Room{ID: "demo", Name: "Demo", Kind: guestlink.KindRoom, Available: true,
		Admission: guestlink.AdmissionAuto, CreatedAt: t0, UpdatedAt: t0}
	if err != nil || !created || r != want {
		t.Fatalf("PutRoom = %+v, %v, %v; want %+v, created", r, created, err, want)
	}
	for _, tc := range []struct {
		id   string
		spec guestlink.RoomSpec
	}{
		{"a/b", guestlink.RoomSpec{}},
		{"..", guestlink.RoomSpec{}},
		{"", guestlink.RoomSpec{}},
		{"ok", guestlink.RoomSpec{Kind: "hall"}},
		{"ok", guestlink.RoomSpec{Admission: "maybe"}},
	} {
		var ve *guestlink.ValidationError
		if _, _, err := s.PutRoom(ctx, tc.id, tc.spec, t0); !errors.As(err, &ve) {
			t.Errorf("PutRoom(%q, %+v): %v, want a ValidationError", tc.id, tc.spec, err)
		}
	}
	if n := countKeys(t, s, prefixRoom); n != 1 {
		t.Errorf("%d rooms stored, want 1", n)
	}
}

// TestKeysFollowRecords protects the key layout: a link's token index entry
// comes and goes with the link (a refused link leaves none), a guest's list
// index key with the guest, and a deleted room leaves no key of its own.
func TestKeysFollowRecords(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	want := func(what string, counts map[string]int) {
		t.Helper()
		for prefix, n := range counts {
			if got := countKeys(t, s, prefix); got != n {
				t.Errorf("%s: %d keys under %q, want %d", what, got, prefix, n)
			}
		}
	}
	putRoom(t, s, "r", guestlink.RoomSpec{})
	putRoom(t, s, "r.2", guestlink.RoomSpec{}) // an id that extends "r"
	var links []guestlink.Link
	for i := range 3 {
		l := addLink(t, s, "r", guestlink.LinkSpec{Name: fmt.Sprintf("l%d", i)}, t0)
		links = append(links, l)
		redeem(t, s, l.Token, t0)
		redeem(t, s, l.Token, t0)
	}
	l, _ := guestlink.LinkSpec{Name: "one too many"}.NewLink("r", t0)
	if _, err := s.AddLink(ctx, l, 3); !errors.Is(err, guestlink.ErrLinkLimit) {
		t.Fatalf("AddLink: %v, want ErrLinkLimit", err)
	}
	if _, err := s.SetGuestAccess(ctx, "r.2", false, t0); err != nil {
		t.Fatal(err)
	}
	off, _ := guestlink.LinkSpec{Name: "access off"}.NewLink("r.2", t0)
	if _, err := s.AddLink(ctx, off, 3); !errors.Is(err, guestlink.ErrGuestAccessOff) {
		t.Fatalf("AddLink: %v, want ErrGuestAccessOff", err)
	}
	want("refused links", map[string]int{prefixLink: 3, prefixToken: 3, prefixGuest: 6, prefixNewest: 6})

	if err := s.DeleteLink(ctx, "r", links[0].ID); err != nil {
		t.Fatal(err)
	}
	want("DeleteLink", map[string]int{prefixLink: 2, prefixToken: 2, prefixGuest: 6, prefixNewest: 6})

	if _, err := s.SetGuestAccess(ctx, "r.2", true, t0); err != nil {
		t.Fatal(err)
	}
	redeem(t, s, addLink(t, s, "r.2", guestlink.LinkSpec{}, t0).Token, t0)
	if err := s.DeleteRoom(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	want("DeleteRoom", map[string]int{
		prefixRoom: 1, prefixLink: 1, prefixToken: 1, prefixGuest: 1, prefixNewest: 1,
		string(linkPrefix("r")): 0, string(guestPrefix("r")): 0, string(newestPrefix("r")): 0,
	})
}

// TestAddLinkDefaultLimit: a maxLinks of 0 or less is DefaultMaxLinks.
func TestAddLinkDefaultLimit(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	for _, maxLinks := range []int{0, -1} {
		room := fmt.Sprintf("r%d", -maxLinks)
		putRoom(t, s, room, guestlink.RoomSpec{})
		for i := 0; i <= guestlink.DefaultMaxLinks; i++ {
			l, _ := guestlink.LinkSpec{Name: fmt.Sprintf("link %d", i)}.NewLink(room, t0)
			_, err := s.AddLink(ctx, l, maxLinks)
			if i < guestlink.DefaultMaxLinks && err != nil {
				t.Fatalf("maxLinks %d, link %d: %v", maxLinks, i, err)
			}
			if i == guestlink.DefaultMaxLinks && !errors.Is(err, guestlink.ErrLinkLimit) {
				t.Fatalf("maxLinks %d, link %d: %v, want ErrLinkLimit", maxLinks, i, err)
			}
		}
	}
}

// TestLinkByTokenWithoutRoom: a link whose room record is gone is gone too.
func TestLinkByTokenWithoutRoom(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	putRoom(t, s, "r", guestlink.RoomSpec{})
	l := addLink(t, s, "r", guestlink.LinkSpec{}, t0)
	if err := s.db.Update(func(txn *badgerdb.Txn) error { return txn.Delete(roomKey("r")) }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LinkByToken(ctx, l.Token); !errors.Is(err, guestlink.ErrLinkNotFound) {
		t.Errorf("LinkByToken without room: %v, want ErrLinkNotFound", err)
	}
}

// TestRedeemRefusal: a refused redemption returns the sentinel error itself,
// not wrapped, with the room and link it read (so that callers can show the
// right page) and no guest; a guest id already stored is refused without
// spending a click.
func TestRedeemRefusal(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		room     guestlink.RoomSpec
		link     guestlink.LinkSpec
		prepare  func(t *testing.T, s *Store, l guestlink.Link)
		at       time.Time
		wantErr  error
		wantRead bool // the room and link come back with the error
	}{
		{name: "expired", link: guestlink.LinkSpec{DurationDays: new(1)}, at: t0.Add(24 * time.Hour), wantErr: guestlink.ErrLinkExpired, wantRead: true},
		{name: "expired long ago", link: guestlink.LinkSpec{DurationDays: new(365)}, at: t0.AddDate(2, 0, 0), wantErr: guestlink.ErrLinkExpired, wantRead: true},
		{
			name: "used up", link: guestlink.LinkSpec{MaxClicks: new(1)}, at: t0, wantErr: guestlink.ErrLinkUsedUp, wantRead: true,
			prepare: func(t *testing.T, s *Store, l guestlink.Link) { redeem(t, s, l.Token, t0) },
		},
		{name: "room unavailable", room: guestlink.RoomSpec{Available: new(false)}, at: t0, wantErr: guestlink.ErrRoomUnavailable, wantRead: true},
		{
			name: "guest access off", at: t0, wantErr: guestlink.ErrGuestAccessOff, wantRead: true,
			prepare: func(t *testing.T, s *Store, l guestlink.Link) {
				if _, err := s.SetGuestAccess(ctx, "r", false, t0); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "room became a gallery", at: t0, wantErr: guestlink.ErrGuestAccessOff, wantRead: true,
			prepare: func(t *testing.T, s *Store, l guestlink.Link) {
				if _, _, err := s.PutRoom(ctx, "r", guestlink.RoomSpec{Kind: guestlink.KindGallery}, t0); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "link deleted", at: t0, wantErr: guestlink.ErrLinkNotFound,
			prepare: func(t *testing.T, s *Store, l guestlink.Link) {
				if err := s.DeleteLink(ctx, "r", l.ID); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "room deleted", at: t0, wantErr: guestlink.ErrLinkNotFound,
			prepare: func(t *testing.T, s *Store, l guestlink.Link) {
				if err := s.DeleteRoom(ctx, "r"); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openStore(t)
			putRoom(t, s, "r", tc.room)
			l := addLink(t, s, "r", tc.link, t0)
			if tc.prepare != nil {
				tc.prepare(t, s, l)
			}
			r, gotL, g, err := s.Redeem(ctx, l.Token, newGuest("Eve"), tc.at)
			if err != tc.wantErr {
				t.Fatalf("Redeem: %v, want the sentinel %v itself", err, tc.wantErr)
			}
			if tc.wantRead && (r.ID != "r" || gotL.ID != l.ID) {
				t.Errorf("refused Redeem returned room %+v, link %+v; want both", r, gotL)
			}
			if g != (guestlink.Guest{}) {
				t.Errorf("refused Redeem returned guest %+v", g)
			}
		})
	}

	t.Run("guest id in use", func(t *testing.T) {
		s, _ := openStore(t)
		putRoom(t, s, "r", guestlink.RoomSpec{})
		l := addLink(t, s, "r", guestlink.LinkSpec{MaxClicks: new(2)}, t0)
		in := newGuest("Ada")
		if _, _, _, err := s.Redeem(ctx, l.Token, in, t0); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := s.Redeem(ctx, l.Token, in, t0); err == nil {
			t.Error("Redeem with a used guest id succeeded")
		}
		if _, ls, _ := s.LinkByToken(ctx, l.Token); ls.Clicks != 1 {
			t.Errorf("Clicks after a refused redemption = %d, want 1", ls.Clicks)
		}
	})
}

// TestRedeemSerialized: redemptions of one link are serialized inside the
// process (linkLock), so 50 at once cost no retried transaction.
func TestRedeemSerialized(t *testing.T) {
	for _, n := range []int{1, 5} {
		t.Run(fmt.Sprintf("max_clicks=%d", n), func(t *testing.T) {
			s, _ := openStore(t)
			putRoom(t, s, "r", guestlink.RoomSpec{})
			l := addLink(t, s, "r", guestlink.LinkSpec{MaxClicks: new(n)}, t0)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 50 {
				wg.Go(func() {
					<-start
					_, _, _, err := s.Redeem(context.Background(), l.Token, newGuest(fmt.Sprintf("G%d", i)), t0)
					if err != nil && !errors.Is(err, guestlink.ErrLinkUsedUp) {
						t.Errorf("Redeem: %v", err)
					}
				})
			}
			close(start)
			wg.Wait()
			if r := s.retries.Load(); r != 0 {
				t.Errorf("%d retries among redemptions of one link, want 0", r)
			}
		})
	}
}

// TestDeleteRoomManyGuests covers the fallback for a room too big for one
// transaction.
func TestDeleteRoomManyGuests(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	putRoom(t, s, "big", guestlink.RoomSpec{})
	putRoom(t, s, "small", guestlink.RoomSpec{})
	l := addLink(t, s, "big", guestlink.LinkSpec{}, t0)
	keep := redeem(t, s, addLink(t, s, "small", guestlink.LinkSpec{}, t0).Token, t0)

	n := int(s.db.MaxBatchCount()) * 2
	wb := s.db.NewWriteBatch()
	for i := range n {
		g := guestlink.Guest{ID: fmt.Sprintf("g_%08d", i), RoomID: "big", LinkID: l.ID, Name: "x", Email: "x@example.com", State: guestlink.StateAdmitted}
		b, _ := json.Marshal(g)
		if err := wb.Set(guestKey("big", g.ID), b); err != nil {
			t.Fatal(err)
		}
		if err := wb.Set(newestKey("big", g.RedeemedAt, g.ID), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := countKeys(t, s, string(guestPrefix("big"))); got != n {
		t.Fatalf("%d guests written, want %d", got, n)
	}
	// One transaction cannot hold it: the fallback is needed.
	if err := s.update(ctx, func(txn *badgerdb.Txn) error { return deleteRoom(txn, "big") }); !errors.Is(err, badgerdb.ErrTxnTooBig) {
		t.Fatalf("single-transaction delete: %v, want ErrTxnTooBig", err)
	}
	if _, err := s.Room(ctx, "big"); err != nil {
		t.Fatalf("room gone after a failed transaction: %v", err)
	}

	if err := s.DeleteRoom(ctx, "big"); err != nil {
		t.Fatalf("DeleteRoom: %v", err)
	}
	if got := countKeys(t, s, string(guestPrefix("big"))); got != 0 {
		t.Errorf("%d guests left", got)
	}
	if got := countKeys(t, s, string(newestPrefix("big"))); got != 0 {
		t.Errorf("%d guest list index keys left", got)
	}
	if got := countKeys(t, s, string(newestPrefix("small"))); got != 1 {
		t.Errorf("other room: %d guest list index keys, want 1", got)
	}
	if _, err := s.Room(ctx, "big"); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("Room after delete: %v", err)
	}
	if _, _, err := s.LinkByToken(ctx, l.Token); !errors.Is(err, guestlink.ErrLinkNotFound) {
		t.Errorf("LinkByToken after delete: %v", err)
	}
	if _, err := s.Guest(ctx, "small", keep.ID); err != nil {
		t.Errorf("other room's guest: %v", err)
	}
}

// TestSecretRefuses: a stored secret is never replaced by one of another size,
// and names and sizes out of range are refused.
func TestSecretRefuses(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	a, err := s.Secret(ctx, "a", 32)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Secret(ctx, "a", 64); err == nil {
		t.Error("Secret with another size for a stored secret succeeded")
	}
	if again, _ := s.Secret(ctx, "a", 32); !bytes.Equal(again, a) {
		t.Error("the stored secret changed")
	}
	for _, tc := range []struct {
		name string
		size int
	}{{"", 32}, {"a/b", 32}, {"c", 0}, {"c", -1}, {"c", MaxSecretSize + 1}} {
		if _, err := s.Secret(ctx, tc.name, tc.size); err == nil {
			t.Errorf("Secret(%q, %d) succeeded", tc.name, tc.size)
		}
	}
	if n := countKeys(t, s, prefixSecret); n != 1 {
		t.Errorf("%d secrets stored, want 1", n)
	}
}

func TestContextCancelled(t *testing.T) {
	s, _ := openStore(t)
	putRoom(t, s, "r", guestlink.RoomSpec{})
	l := addLink(t, s, "r", guestlink.LinkSpec{}, t0)
	g := redeem(t, s, l.Token, t0)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l2, _ := guestlink.LinkSpec{Name: "x"}.NewLink("r", t0)
	calls := map[string]func() error{
		"PutRoom": func() error {
			_, _, err := s.PutRoom(ctx, "new", guestlink.RoomSpec{}, t0)
			return err
		},
		"Room":           func() error { _, err := s.Room(ctx, "r"); return err },
		"DeleteRoom":     func() error { return s.DeleteRoom(ctx, "r") },
		"SetGuestAccess": func() error { _, err := s.SetGuestAccess(ctx, "r", false, t0); return err },
		"Links":          func() error { _, err := s.Links(ctx, "r"); return err },
		"AddLink":        func() error { _, err := s.AddLink(ctx, l2, 3); return err },
		"DeleteLink":     func() error { return s.DeleteLink(ctx, "r", l.ID) },
		"LinkByToken":    func() error { _, _, err := s.LinkByToken(ctx, l.Token); return err },
		"Redeem":         func() error { _, _, _, err := s.Redeem(ctx, l.Token, newGuest("Bob"), t0); return err },
		"Guest":          func() error { _, err := s.Guest(ctx, "r", g.ID); return err },
		"Session":        func() error { _, _, err := s.Session(ctx, "r", l.ID, g.ID); return err },
		"Secret":         func() error { _, err := s.Secret(ctx, "k", 32); return err },
		"SetGuestState": func() error {
			_, err := s.SetGuestState(ctx, "r", g.ID, guestlink.StateRemoved, t0)
			return err
		},
		"AdmitAll":  func() error { _, err := s.AdmitAll(ctx, "r", t0, t0); return err },
		"Lobby":     func() error { _, err := s.Lobby(ctx, "r", t0); return err },
		"Guests":    func() error { _, _, err := s.Guests(ctx, "r", 0, ""); return err },
		"SeenGuest": func() error { _, err := s.SeenGuest(ctx, "r", g.ID, t0.Add(time.Hour)); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", name, err)
		}
	}
	// Nothing changed.
	bg := context.Background()
	if _, err := s.Room(bg, "new"); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("PutRoom wrote despite the cancelled context: %v", err)
	}
	if r, err := s.Room(bg, "r"); err != nil || !r.GuestAccess {
		t.Errorf("room changed despite the cancelled context: %+v, %v", r, err)
	}
	if _, got, err := s.LinkByToken(bg, l.Token); err != nil || got.Clicks != 1 {
		t.Errorf("link changed despite the cancelled context: %+v, %v", got, err)
	}
	if n := countKeys(t, s, prefixLink); n != 1 {
		t.Errorf("%d links, want 1", n)
	}
	if n := countKeys(t, s, prefixSecret); n != 0 {
		t.Errorf("%d secrets, want 0", n)
	}
	if got, err := s.Guest(bg, "r", g.ID); err != nil || got.State != g.State || !got.LastSeen.Equal(g.LastSeen) {
		t.Errorf("guest changed despite the cancelled context: %+v, %v", got, err)
	}
}

// TestUpdateRetriesOnConflict forces a conflict: while the helper's transaction
// runs, another transaction commits a write to the key it read. The commit fails
// with ErrConflict and update must run fn again on the new state.
func TestUpdateRetriesOnConflict(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	key := []byte("test/counter")
	if err := s.db.Update(func(txn *badgerdb.Txn) error { return txn.Set(key, []byte("1")) }); err != nil {
		t.Fatal(err)
	}
	attempts := 0
	err := s.update(ctx, func(txn *badgerdb.Txn) error {
		attempts++
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, _ := item.ValueCopy(nil)
		if attempts == 1 {
			// A racing writer commits between our read and our commit.
			if err := s.db.Update(func(other *badgerdb.Txn) error { return other.Set(key, []byte("10")) }); err != nil {
				return err
			}
		}
		return txn.Set(key, append(v, '0')) // "multiply by ten"
	})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if attempts != 2 || s.retries.Load() != 1 {
		t.Errorf("%d attempts, %d retries; want 2 and 1", attempts, s.retries.Load())
	}
	var got []byte
	s.db.View(func(txn *badgerdb.Txn) error {
		item, err := txn.Get(key)
		if err == nil {
			got, err = item.ValueCopy(nil)
		}
		return err
	})
	// The retry read the racing writer's "10": a lost update would leave "10" or "100" from "1".
	if string(got) != "100" {
		t.Errorf("final value %q, want %q", got, "100")
	}
}

func TestUpdateGivesUp(t *testing.T) {
	s, _ := openStore(t)
	s.maxAttempts = 3
	key := []byte("test/k")
	attempts := 0
	err := s.update(context.Background(), func(txn *badgerdb.Txn) error {
		attempts++
		if _, err := txn.Get(key); err != nil && !errors.Is(err, badgerdb.ErrKeyNotFound) {
			return err
		}
		if err := s.db.Update(func(other *badgerdb.Txn) error { return other.Set(key, []byte("x")) }); err != nil {
			return err
		}
		return txn.Set(key, []byte("mine"))
	})
	if !errors.Is(err, badgerdb.ErrConflict) {
		t.Fatalf("update: %v, want ErrConflict", err)
	}
	if attempts != 3 || s.retries.Load() != 2 {
		t.Errorf("%d attempts, %d retries; want 3 and 2", attempts, s.retries.Load())
	}
}

func TestLoggerWarningsAndAbove(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	l := newLogger(zap.New(core))
	l.Debugf("debug %d", 1)
	l.Infof("info %d", 2)
	l.Warningf("warn %d\n", 3)
	l.Errorf("error %d", 4)
	got := logs.AllUntimed()
	if len(got) != 2 || got[0].Level != zapcore.WarnLevel || got[0].Message != "warn 3" ||
		got[1].Level != zapcore.ErrorLevel || got[1].Message != "error 4" {
		t.Errorf("logged %+v; want the warning and the error only", got)
	}
	if newLogger(nil) != nil {
		t.Error("newLogger(nil) is not nil")
	}

	// A store opened with a logger works.
	s, err := Open(filepath.Join(t.TempDir(), "db"), Options{Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, e := range logs.AllUntimed() {
		if e.Level < zapcore.WarnLevel {
			t.Errorf("below-warning Badger log passed: %+v", e)
		}
	}
}

func BenchmarkRedeem(b *testing.B) {
	s, _ := openStore(b)
	putRoom(b, s, "r", guestlink.RoomSpec{})
	l := addLink(b, s, "r", guestlink.LinkSpec{}, t0)
	ctx := context.Background()
	for b.Loop() {
		if _, _, _, err := s.Redeem(ctx, l.Token, newGuest("Bench"), t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedeemParallel redeems one hot, unlimited link from many goroutines
// (GOMAXPROCS x 32): redemptions of one link are serialized, so this measures
// the per-link ceiling (about one synced commit per redemption).
func BenchmarkRedeemParallel(b *testing.B) {
	s, _ := openStore(b)
	putRoom(b, s, "r", guestlink.RoomSpec{})
	l := addLink(b, s, "r", guestlink.LinkSpec{}, t0)
	ctx := context.Background()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, _, err := s.Redeem(ctx, l.Token, newGuest("Bench"), t0); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(s.retries.Load()), "retries")
}

// TestOpenAfterCrashLeftEmptyLogs: a process killed between creating a memtable
// or value log file and sizing it leaves a 0-byte file behind; Open still opens
// the directory and loses nothing that was written before.
func TestOpenAfterCrashLeftEmptyLogs(t *testing.T) {
	for _, tc := range []struct{ name, format string }{
		{"memtable", "%05d.mem"},
		{"value log", "%06d.vlog"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := openStore(t)
			ctx := context.Background()
			if _, _, err := s.PutRoom(ctx, "r1", guestlink.RoomSpec{Name: "Before"}, t0); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			empty := filepath.Join(dir, fmt.Sprintf(tc.format, 90))
			if err := os.WriteFile(empty, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir, Options{})
			if err != nil {
				t.Fatalf("Open with an empty %s: %v", filepath.Base(empty), err)
			}
			defer s.Close()
			if r, err := s.Room(ctx, "r1"); err != nil || r.Name != "Before" {
				t.Fatalf("the room written before: %+v, %v", r, err)
			}
			if _, _, err := s.PutRoom(ctx, "r2", guestlink.RoomSpec{Name: "After"}, t0); err != nil {
				t.Fatalf("writing after the reopen: %v", err)
			}
		})
	}
}

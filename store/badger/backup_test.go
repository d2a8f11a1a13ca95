package badger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/guestgate/guestgate/guestlink"
)

// filledStore is a store with a room, a link with one click, a guest and a
// secret, and its full backup.
func filledStore(t *testing.T) (s *Store, l guestlink.Link, g guestlink.Guest, secret []byte, backup []byte) {
	t.Helper()
	ctx := context.Background()
	s, _ = openStore(t)
	putRoom(t, s, "demo", guestlink.RoomSpec{Name: "Demo room"})
	l = addLink(t, s, "demo", guestlink.LinkSpec{MaxClicks: new(5)}, t0)
	g = redeem(t, s, l.Token, t0)
	secret, err := s.Secret(ctx, "session-signing-key", 32)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Backup(ctx, &buf); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if buf.Len() == 0 {
		t.Fatal("Backup wrote nothing")
	}
	return s, l, g, secret, buf.Bytes()
}

// wantRestored checks that s holds what filledStore made.
func wantRestored(t *testing.T, s *Store, l guestlink.Link, g guestlink.Guest, secret []byte) {
	t.Helper()
	ctx := context.Background()
	room, got, err := s.LinkByToken(ctx, l.Token)
	if err != nil {
		t.Fatalf("LinkByToken after restore: %v", err)
	}
	if room.Name != "Demo room" || !room.GuestAccess || got.ID != l.ID || got.Clicks != 1 {
		t.Errorf("after restore: room %+v link %+v, want Demo room with guest access and link %s with 1 click", room, got, l.ID)
	}
	gg, err := s.Guest(ctx, "demo", g.ID)
	if err != nil || gg.Email != g.Email || gg.State != g.State {
		t.Errorf("guest after restore: %+v, %v; want %+v", gg, err, g)
	}
	gs, _, err := s.Guests(ctx, "demo", 10, "")
	if err != nil || len(gs) != 1 {
		t.Errorf("guest list after restore: %d guests, %v; want 1 (the index was restored too)", len(gs), err)
	}
	k, err := s.Secret(ctx, "session-signing-key", 32)
	if err != nil || !bytes.Equal(k, secret) {
		t.Errorf("signing key after restore differs from the backup's (err %v)", err)
	}
}

// TestRestoreRefusesBadFrames: a stream of whole frames that do not hold
// Badger's key lists is not a backup, and changes nothing.
func TestRestoreRefusesBadFrames(t *testing.T) {
	ctx := context.Background()
	_, l, g, secret, backup := filledStore(t)
	frame := make([]byte, 8)
	binary.LittleEndian.PutUint64(frame, 3)
	s, _ := openStore(t)
	if err := s.Restore(ctx, bytes.NewReader(backup), false); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(ctx, bytes.NewReader(append(frame, 0xff, 0xff, 0xff)), true); !errors.Is(err, guestlink.ErrBadBackup) {
		t.Fatalf("Restore of a frame that is not a key list = %v, want ErrBadBackup", err)
	}
	wantRestored(t, s, l, g, secret)
}

// Transactions that arrive during a restore wait for it and then see the
// restored store; none fails.
func TestRestoreWithConcurrentReaders(t *testing.T) {
	ctx := context.Background()
	_, l, _, _, backup := filledStore(t)
	s, _ := openStore(t)
	done := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, _, err := s.LinkByToken(ctx, l.Token); err != nil && !errors.Is(err, guestlink.ErrLinkNotFound) {
				done <- err
				return
			}
		}
	}()
	err := s.Restore(ctx, bytes.NewReader(backup), false)
	close(stop)
	if rerr := <-done; rerr != nil {
		t.Errorf("a reader during the restore failed: %v", rerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LinkByToken(ctx, l.Token); err != nil {
		t.Errorf("LinkByToken after the restore: %v", err)
	}
}

// TestReplaceCancelledKeepsAStore: a restore or an import with force drops
// the store's contents before it loads the new ones. A client that goes away
// cancels the request's context; if that stopped the load after the drop,
// the store would be left empty, or holding part of the backup without its
// keys, and everything in it would be lost (seen through Caddy: an import of
// 400,000 guests cut by a killed command left 92,127 guests and no
// secrets). The client goes away once its upload has arrived, before the
// drop, and, through the store's hook, just after it; either way the store
// must end up holding its old contents or the whole backup.
func TestReplaceCancelledKeepsAStore(t *testing.T) {
	for _, op := range []string{"restore", "load"} {
		for _, when := range []string{"after the upload", "after the drop"} {
			t.Run(op+" cancelled "+when, func(t *testing.T) {
				_, l, g, secret, backup := filledStore(t)
				s, _ := openStore(t)
				if err := s.Restore(context.Background(), bytes.NewReader(backup), false); err != nil {
					t.Fatal(err)
				}
				var recs []guestlink.Record
				if err := s.Dump(context.Background(), func(r guestlink.Record) error {
					recs = append(recs, r)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				atEOF := func() {}
				if when == "after the upload" {
					atEOF = cancel
				} else {
					s.afterDrop = cancel
				}
				var err error
				switch op {
				case "restore":
					err = s.Restore(ctx, eofReader{r: bytes.NewReader(backup), atEOF: atEOF}, true)
				case "load":
					i := 0
					err = s.Load(ctx, func() (guestlink.Record, error) {
						if i == len(recs) {
							atEOF()
							return guestlink.Record{}, io.EOF
						}
						i++
						return recs[i-1], nil
					}, true)
				}
				t.Logf("%s with a client that went away %s: %v", op, when, err)
				wantRestored(t, s, l, g, secret)
			})
		}
	}
}

// eofReader reads r and calls atEOF when r is read to its end.
type eofReader struct {
	r     io.Reader
	atEOF func()
}

func (e eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if errors.Is(err, io.EOF) {
		e.atEOF()
	}
	return n, err
}

// TestCloseWaitsForRestore: Caddy closes the store when it stops, and a
// stop may come while a restore loads (an import through the admin
// endpoint, then Ctrl-C). Closing the database under the load would leave
// part of the backup; Close waits for the load's end instead.
func TestCloseWaitsForRestore(t *testing.T) {
	_, l, g, secret, backup := filledStore(t)
	s, dir := openStore(t)
	closed := make(chan error, 1)
	s.afterDrop = func() {
		go func() { closed <- s.Close() }()
		time.Sleep(50 * time.Millisecond) // Close, unless it waits, runs now
	}
	if err := s.Restore(context.Background(), bytes.NewReader(backup), true); err != nil {
		t.Fatalf("Restore with a Close meanwhile: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantRestored(t, reopen(t, s, dir, Options{}), l, g, secret)
}

// reopen closes s and opens its directory dir again with opts; the new
// Store is closed when t ends.
func reopen(t *testing.T, s *Store, dir string, opts Options) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open again: %v", err)
	}
	t.Cleanup(func() { s2.Close() })
	return s2
}

// dieAfterDrop runs a restore of backup into s that stops just after the
// drop, its marker written, as a process that dies there would.
func dieAfterDrop(s *Store, backup []byte) {
	s.afterDrop = func() { panic("died") }
	defer func() {
		s.afterDrop = nil
		_ = recover()
	}()
	_ = s.Restore(context.Background(), bytes.NewReader(backup), true)
}

// TestInterruptedRestoreDropped: a process that dies while a restore loads
// leaves part of the backup (rooms without their links, guests without the
// keys of their sessions). The next Open drops that part and says so,
// rather than serve it: the store is empty, as before a restore into it,
// and the restore can run again without force.
func TestInterruptedRestoreDropped(t *testing.T) {
	_, l, g, secret, backup := filledStore(t)
	s, dir := openStore(t)
	putRoom(t, s, "old", guestlink.RoomSpec{Name: "Old room"})
	// The process "dies" just after the drop, and a room written next
	// stands for the part loaded.
	dieAfterDrop(s, backup)
	putRoom(t, s, "demo", guestlink.RoomSpec{Name: "Demo room"})

	core, logs := observer.New(zap.InfoLevel)
	s2 := reopen(t, s, dir, Options{Logger: zap.New(core)})
	rooms, err := s2.Rooms(context.Background())
	if err != nil || len(rooms) != 0 {
		t.Errorf("rooms after the interrupted restore: %+v, %v; want none", rooms, err)
	}
	if n := logs.FilterMessageSnippet("stopped before its end").Len(); n != 1 {
		t.Errorf("%d log lines say that the restore stopped, want 1: %v", n, logs.All())
	}
	if err := s2.Restore(context.Background(), bytes.NewReader(backup), false); err != nil {
		t.Fatalf("the restore again, without force: %v", err)
	}
	wantRestored(t, s2, l, g, secret)
	// A restore that ended leaves no marker: the next Open keeps it all.
	wantRestored(t, reopen(t, s2, dir, Options{}), l, g, secret)
}

// TestRestoredMarkerTombstoneHidesNoMarker: a restore deletes its marker
// when it ends, and Badger's backups carry deletions, at their versions: a
// backup of a store that was once restored holds the marker's deletion. A
// store younger than that one (a new directory, restored after a disk was
// lost) writes its own marker at a lower version, and loading the backup's
// deletion above it would hide it: a process that dies after that part of
// the load would reopen serving half a backup. What a restore loads must
// hold no marker of the store the backup came from.
func TestRestoredMarkerTombstoneHidesNoMarker(t *testing.T) {
	ctx := context.Background()
	old, _, _, _, first := filledStore(t)
	if err := old.Restore(ctx, bytes.NewReader(first), true); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := old.Backup(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	backup := buf.Bytes()

	s, dir := openStore(t)
	dieAfterDrop(s, backup)
	// The process "dies" once the load has put in everything the restore
	// would load, before it deletes its marker.
	f, _, err := spoolBackup(ctx, bytes.NewReader(backup))
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := s.db.Load(f, restorePendingWrites); err != nil {
		t.Fatal(err)
	}
	if rooms, err := reopen(t, s, dir, Options{}).Rooms(ctx); err != nil || len(rooms) != 0 {
		t.Errorf("rooms after a restore cut at its end: %d, %v; want none (the marker was hidden)", len(rooms), err)
	}
}

// TestRestoreWouldEmpty: a backup of a store without rooms (one Caddy made
// but never used, or whose rooms were deleted) does not replace a store
// that holds rooms, even with force; into an empty store it goes.
func TestRestoreWouldEmpty(t *testing.T) {
	ctx := context.Background()
	_, l, g, secret, full := filledStore(t)
	backupOf := func(s *Store) []byte {
		var buf bytes.Buffer
		if err := s.Backup(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	unused, _ := openStore(t)
	if _, err := unused.Secret(ctx, "session-signing-key", 32); err != nil {
		t.Fatal(err)
	}
	emptied, _ := openStore(t)
	putRoom(t, emptied, "gone", guestlink.RoomSpec{Name: "Gone"})
	if err := emptied.DeleteRoom(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	for name, backup := range map[string][]byte{"unused": backupOf(unused), "rooms deleted": backupOf(emptied)} {
		t.Run(name, func(t *testing.T) {
			s, _ := openStore(t)
			if err := s.Restore(ctx, bytes.NewReader(full), false); err != nil {
				t.Fatal(err)
			}
			if err := s.Restore(ctx, bytes.NewReader(backup), true); !errors.Is(err, guestlink.ErrWouldEmpty) {
				t.Fatalf("restore with force of a backup without rooms = %v, want ErrWouldEmpty", err)
			}
			wantRestored(t, s, l, g, secret)
			if fresh, _ := openStore(t); fresh.Restore(ctx, bytes.NewReader(backup), true) != nil {
				t.Error("the same restore into an empty store failed")
			}
		})
	}
}

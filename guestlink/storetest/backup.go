package storetest

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// backupTests protect guestlink.Backupper, behind "caddy guestgate backup" and
// "restore": a backup restored into an empty store gives back every record
// and secret, live; a store with records is not replaced without force; what
// is not a whole backup changes nothing; and one backup or restore runs at a
// time while the store keeps serving.
var backupTests = []subtest{
	{"BackupRestore", testBackupRestore},
	{"RestoreIntoStoreWithoutRecords", testRestoreWithoutRecords},
	{"RestoreRefusesBadBackups", testRestoreBadBackups},
	{"BackupBusy", testBackupBusy},
	{"BackupWriteFails", testBackupWriteFails},
}

// backupper returns the store as a Backupper, or skips the subtest.
func (e *env) backupper() guestlink.Backupper {
	e.t.Helper()
	return implements[guestlink.Backupper](e)
}

// filled is what fill stored, and its backup.
type filled struct {
	link   guestlink.Link
	guest  guestlink.Guest
	secret []byte
	backup []byte
}

// fill stores a room with guest access on, a link with one click, a waiting
// guest and a secret, and backs the store up.
func (e *env) fill() filled {
	e.t.Helper()
	b := e.backupper()
	e.room("demo", guestlink.RoomSpec{Name: "Demo room", Admission: guestlink.AdmissionModerator})
	var f filled
	f.link = e.link("demo", guestlink.LinkSpec{MaxClicks: new(5)}, t0)
	f.guest = e.redeem(f.link.Token, t0)
	var err error
	if f.secret, err = e.s.Secret(e.ctx, "session-signing-key", 32); err != nil {
		e.t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := b.Backup(e.ctx, &buf); err != nil {
		e.t.Fatalf("Backup: %v", err)
	}
	if buf.Len() == 0 {
		e.t.Fatal("Backup wrote nothing")
	}
	f.backup = buf.Bytes()
	return f
}

// restored checks that the store holds what fill stored.
func (e *env) restored(f filled) {
	e.t.Helper()
	room, l, err := e.s.LinkByToken(e.ctx, f.link.Token)
	if err != nil {
		e.t.Fatalf("LinkByToken after the restore: %v", err)
	}
	if room.Name != "Demo room" || !room.GuestAccess || l.ID != f.link.ID || l.Clicks != 1 {
		e.t.Errorf("after the restore: room %+v link %+v, want Demo room with guest access and link %s with 1 click", room, l, f.link.ID)
	}
	if g, err := e.s.Guest(e.ctx, "demo", f.guest.ID); err != nil || !sameGuest(g, f.guest) {
		e.t.Errorf("guest after the restore: %+v, %v; want %+v", g, err, f.guest)
	}
	if gs := e.allGuests("demo"); len(gs) != 1 {
		e.t.Errorf("guest list after the restore: %d guests, want 1", len(gs))
	}
	if lobby, err := e.s.Lobby(e.ctx, "demo", t0); err != nil || len(lobby) != 1 {
		e.t.Errorf("lobby after the restore: %v, %v; want the guest", ids(lobby), err)
	}
	if k, err := e.s.Secret(e.ctx, "session-signing-key", 32); err != nil || !bytes.Equal(k, f.secret) {
		e.t.Errorf("signing key after the restore differs from the backup's (%v)", err)
	}
	// The live state follows the restore.
	if st, err := e.s.Check(e.ctx, "demo", f.link.ID, f.guest.ID, t0); err != nil || st != guestlink.StateWaiting {
		e.t.Errorf("Check after the restore = %q, %v; want waiting", st, err)
	}
}

func testBackupRestore(t *testing.T, e *env) {
	f := e.fill()

	// A fresh store of a running gateway already holds its own secrets: it
	// still counts as empty, and the backup's secrets replace them.
	dst := e.fresh()
	b := dst.backupper()
	for _, name := range []string{"session-signing-key", "csrf-key"} {
		if _, err := dst.s.Secret(dst.ctx, name, 32); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := dst.s.Check(dst.ctx, "demo", f.link.ID, f.guest.ID, t0); !errors.Is(err, guestlink.ErrRoomUnavailable) {
		t.Fatalf("Check before the restore = %q, %v; want ErrRoomUnavailable", st, err)
	}
	gen := dst.s.Generation()
	if err := b.Restore(dst.ctx, bytes.NewReader(f.backup), false); err != nil {
		t.Fatalf("Restore into a fresh store: %v", err)
	}
	dst.restored(f)
	if g := dst.s.Generation(); g <= gen {
		t.Errorf("Generation %d -> %d across a restore, want it to grow", gen, g)
	}
	// The restored link keeps counting: one more click is the second.
	dst.redeem(f.link.Token, t0)
	if c := dst.clicks(f.link.Token); c != 2 {
		t.Errorf("clicks after a redemption on the restored store = %d, want 2", c)
	}

	// Now it holds records: a restore without force is refused and changes
	// nothing.
	if err := b.Restore(dst.ctx, bytes.NewReader(f.backup), false); !errors.Is(err, guestlink.ErrStoreNotEmpty) {
		t.Fatalf("Restore into a store with records = %v, want ErrStoreNotEmpty", err)
	}
	if c := dst.clicks(f.link.Token); c != 2 {
		t.Errorf("a refused restore changed the store: clicks = %d, want 2", c)
	}

	// With force, the store becomes the backup again.
	dst.room("other", guestlink.RoomSpec{})
	if err := b.Restore(dst.ctx, bytes.NewReader(f.backup), true); err != nil {
		t.Fatalf("Restore with force: %v", err)
	}
	dst.restored(f)
	if _, err := dst.s.Room(dst.ctx, "other"); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("a room made after the backup survived a forced restore: %v", err)
	}
	if st := dst.stats(); st != (guestlink.Stats{Rooms: 1, Links: 1, GuestsWaiting: 1}) {
		t.Errorf("Stats after a forced restore = %+v", st)
	}
}

// testRestoreWithoutRecords: a store counts as empty when it holds no room,
// link or guest, whatever it held before (records that were all deleted) and
// whatever else it holds (secrets; queue items, which are not records).
func testRestoreWithoutRecords(t *testing.T, e *env) {
	f := e.fill()
	t.Run("records deleted", func(t *testing.T) {
		dst := e.fresh().in(t)
		for range 30 {
			dst.room("demo", guestlink.RoomSpec{Name: "Someone else's"})
			if err := dst.s.DeleteRoom(dst.ctx, "demo"); err != nil {
				t.Fatal(err)
			}
		}
		if err := dst.backupper().Restore(dst.ctx, bytes.NewReader(f.backup), false); err != nil {
			t.Fatalf("Restore: %v", err)
		}
		dst.restored(f)
	})
	t.Run("queues", func(t *testing.T) {
		dst := e.fresh().in(t)
		q := dst.queuer()
		dst.enqueue("delivered", "x", 0)
		for _, it := range dst.dueAll("delivered") {
			if err := q.Ack(dst.ctx, "delivered", it.ID); err != nil {
				t.Fatal(err)
			}
		}
		dst.enqueue("pending", "y", 0)
		if err := dst.backupper().Restore(dst.ctx, bytes.NewReader(f.backup), false); err != nil {
			t.Fatalf("Restore into a store with queue items and no records: %v", err)
		}
		dst.restored(f)
	})
}

func testRestoreBadBackups(t *testing.T, e *env) {
	f := e.fill()
	for _, tc := range []struct {
		name  string
		input []byte
	}{
		{"truncated by one byte", f.backup[:len(f.backup)-1]},
		{"truncated by three bytes", f.backup[:len(f.backup)-3]},
		{"half", f.backup[:len(f.backup)/2]},
		{"first four bytes", f.backup[:4]},
		{"text file", []byte("this is not a backup, it is a text file\n")},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The target holds the backup already; a bad restore, even with
			// force, must leave it whole.
			dst := e.fresh().in(t)
			b := dst.backupper()
			if err := b.Restore(dst.ctx, bytes.NewReader(f.backup), false); err != nil {
				t.Fatal(err)
			}
			if err := b.Restore(dst.ctx, bytes.NewReader(tc.input), true); !errors.Is(err, guestlink.ErrBadBackup) {
				t.Fatalf("Restore(%s) = %v, want ErrBadBackup", tc.name, err)
			}
			dst.restored(f)
		})
	}
}

// testBackupBusy holds a backup, then a restore, half way, blocked on its
// writer or reader: another backup or restore is refused with ErrStoreBusy
// meanwhile, the store keeps serving reads and writes during the backup, and
// each completes when it may go on.
func testBackupBusy(t *testing.T, e *env) {
	f := e.fill()
	b := e.backupper()
	busy := func(during string) {
		t.Helper()
		if err := b.Backup(e.ctx, io.Discard); !errors.Is(err, guestlink.ErrStoreBusy) {
			t.Errorf("Backup during a %s = %v, want ErrStoreBusy", during, err)
		}
		if err := b.Restore(e.ctx, bytes.NewReader(f.backup), true); !errors.Is(err, guestlink.ErrStoreBusy) {
			t.Errorf("Restore during a %s = %v, want ErrStoreBusy", during, err)
		}
	}

	w := &blocked{started: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- b.Backup(e.ctx, w) }()
	w.wait(t, done)
	busy("backup")
	// The store keeps serving.
	e.room("during", guestlink.RoomSpec{})
	e.redeem(f.link.Token, t0)
	if c := e.clicks(f.link.Token); c != 2 {
		t.Errorf("clicks during the backup = %d, want 2", c)
	}
	if err := w.finish(t, done); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	dst := e.fresh()
	if err := dst.backupper().Restore(dst.ctx, bytes.NewReader(w.buf.Bytes()), false); err != nil {
		t.Fatalf("Restore of the backup taken while the store served: %v", err)
	}
	if _, l, err := dst.s.LinkByToken(dst.ctx, f.link.Token); err != nil || l.Clicks < 1 {
		t.Errorf("link in that backup = %+v, %v", l, err)
	}

	r := &blocked{started: make(chan struct{}), release: make(chan struct{})}
	r.buf.Write(f.backup)
	go func() { done <- b.Restore(e.ctx, r, true) }()
	r.wait(t, done)
	busy("restore")
	if err := r.finish(t, done); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	e.restored(f)
	if err := b.Backup(e.ctx, io.Discard); err != nil {
		t.Errorf("Backup after the others finished: %v", err)
	}
}

// blocked is a writer or reader whose first Write or Read waits until release
// is closed; buf holds what was written, or what is to be read.
type blocked struct {
	once    sync.Once
	started chan struct{}
	release chan struct{}
	buf     bytes.Buffer
}

func (b *blocked) Write(p []byte) (int, error) {
	b.once.Do(func() { close(b.started) })
	<-b.release
	return b.buf.Write(p)
}

func (b *blocked) Read(p []byte) (int, error) {
	b.once.Do(func() { close(b.started) })
	<-b.release
	return b.buf.Read(p)
}

// wait returns once the backup or restore has called Write or Read; it must
// not have returned before.
func (b *blocked) wait(t *testing.T, done chan error) {
	t.Helper()
	t.Cleanup(func() {
		select {
		case <-b.release:
		default:
			close(b.release)
		}
	})
	select {
	case <-b.started:
	case err := <-done:
		t.Fatalf("returned %v before its writer or reader let it", err)
	case <-time.After(hangAfter):
		t.Fatal("never wrote or read")
	}
}

// finish lets the backup or restore go on and returns its result.
func (b *blocked) finish(t *testing.T, done chan error) error {
	t.Helper()
	close(b.release)
	select {
	case err := <-done:
		return err
	case <-time.After(hangAfter):
		t.Fatal("did not finish after its writer or reader moved on")
		return nil
	}
}

// testBackupWriteFails: a backup that cannot be written whole is an error.
func testBackupWriteFails(t *testing.T, e *env) {
	f := e.fill()
	for _, n := range []int{0, len(f.backup) / 2} {
		w := &failingWriter{left: n}
		if err := e.backupper().Backup(e.ctx, w); err == nil {
			t.Errorf("Backup to a writer that fails after %d bytes succeeded", n)
		}
	}
}

// failingWriter fails once left bytes were written.
type failingWriter struct{ left int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, errors.New("disk full")
	}
	w.left -= len(p)
	return len(p), nil
}

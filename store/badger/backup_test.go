package badger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/guestgate/guestgate/guestlink"
)

// filledStore is a store with a room, a link with one click, a guest and a
// secret, and its full backup.
func filledStore(t *testing.T) (s *Store, l guestlink.Link, g guestlink.Guest, secret []byte, backup []byte) {
	t.Helper()
	ctx := context.Background()
	s, _ = openStore(t)
	putRoom(t, s, "demo", guestlink.RoomSpec{Name: "Demo room"})
	l = addLink(t, s, "demo", guestlink.LinkSpec{MaxClicks: ptr(5)}, t0)
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

func TestBackupRestoreIntoFreshStore(t *testing.T) {
	ctx := context.Background()
	_, l, g, secret, backup := filledStore(t)

	// A fresh store of a running gateway already holds its own secrets: it
	// still counts as empty, and the backup's secrets replace them.
	b, _ := openStore(t)
	if _, err := b.Secret(ctx, "session-signing-key", 32); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Secret(ctx, "csrf-key", 32); err != nil {
		t.Fatal(err)
	}
	if err := b.Restore(ctx, bytes.NewReader(backup), false); err != nil {
		t.Fatalf("Restore into a fresh store: %v", err)
	}
	wantRestored(t, b, l, g, secret)
	// The restored link keeps counting: one more click is the second.
	redeem(t, b, l.Token, t0)
	if _, got, _ := b.LinkByToken(ctx, l.Token); got.Clicks != 2 {
		t.Errorf("clicks after a redemption on the restored store = %d, want 2", got.Clicks)
	}

	// Now it holds records: a second restore without force is refused and
	// changes nothing.
	err := b.Restore(ctx, bytes.NewReader(backup), false)
	if !errors.Is(err, guestlink.ErrStoreNotEmpty) {
		t.Fatalf("Restore into a store with records = %v, want ErrStoreNotEmpty", err)
	}
	if _, got, _ := b.LinkByToken(ctx, l.Token); got.Clicks != 2 {
		t.Errorf("a refused restore changed the store: clicks = %d, want 2", got.Clicks)
	}

	// With force, the store becomes the backup again.
	putRoom(t, b, "other", guestlink.RoomSpec{})
	if err := b.Restore(ctx, bytes.NewReader(backup), true); err != nil {
		t.Fatalf("Restore with force: %v", err)
	}
	wantRestored(t, b, l, g, secret)
	if _, err := b.Room(ctx, "other"); !errors.Is(err, guestlink.ErrRoomNotFound) {
		t.Errorf("room made after the backup survived a forced restore: %v", err)
	}
}

// A store whose records were all deleted is empty, but its deletion markers
// carry higher versions than the backup's keys: the restore must still show
// the backup's room.
func TestRestoreOverDeletedRecords(t *testing.T) {
	ctx := context.Background()
	_, l, g, secret, backup := filledStore(t)
	c, _ := openStore(t)
	for range 30 {
		putRoom(t, c, "demo", guestlink.RoomSpec{Name: "Someone else's"})
		if err := c.DeleteRoom(ctx, "demo"); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Restore(ctx, bytes.NewReader(backup), false); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	wantRestored(t, c, l, g, secret)
}

func TestRestoreRefusesBadBackups(t *testing.T) {
	ctx := context.Background()
	_, l, g, secret, backup := filledStore(t)
	frame := make([]byte, 8)
	binary.LittleEndian.PutUint64(frame, 3)
	for _, tc := range []struct {
		name  string
		input []byte
		want  error
	}{
		{"truncated", backup[:len(backup)-3], guestlink.ErrBadBackup},
		{"truncated length", backup[:4], guestlink.ErrBadBackup},
		{"text file", []byte("this is not a backup, it is a text file\n"), guestlink.ErrBadBackup},
		{"frame that is not a key list", append(frame, 0xff, 0xff, 0xff), guestlink.ErrBadBackup},
		{"empty", nil, guestlink.ErrBadBackup},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The target holds the backup already; a bad restore with force
			// must leave it whole.
			s, _ := openStore(t)
			if err := s.Restore(ctx, bytes.NewReader(backup), false); err != nil {
				t.Fatal(err)
			}
			err := s.Restore(ctx, bytes.NewReader(tc.input), true)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Restore(%s) = %v, want %v", tc.name, err, tc.want)
			}
			wantRestored(t, s, l, g, secret)
		})
	}
}

func TestBackupRestoreBusy(t *testing.T) {
	ctx := context.Background()
	s, _, _, _, backup := filledStore(t)
	s.maintMu.Lock()
	if err := s.Backup(ctx, new(bytes.Buffer)); !errors.Is(err, guestlink.ErrStoreBusy) {
		t.Errorf("Backup during another = %v, want ErrStoreBusy", err)
	}
	if err := s.Restore(ctx, bytes.NewReader(backup), true); !errors.Is(err, guestlink.ErrStoreBusy) {
		t.Errorf("Restore during another = %v, want ErrStoreBusy", err)
	}
	s.maintMu.Unlock()
	s.Close()
	if err := s.Backup(ctx, new(bytes.Buffer)); !errors.Is(err, ErrClosed) {
		t.Errorf("Backup after Close = %v, want ErrClosed", err)
	}
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

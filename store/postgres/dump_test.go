package postgres

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/guestgate/guestgate/guestlink"
)

// TestLoadReachesEveryInstance protects what a load into a shared database
// promises beyond the conformance suite: every other instance's gate follows
// it (through a reset in the change log, as after any write), and a second
// load while one runs is refused rather than interleaved.
func TestLoadReachesEveryInstance(t *testing.T) {
	ctx := context.Background()
	a, b, _, g := twoInstances(t, Options{}, Options{}, 0)

	// The same contents, but guest access off in room r: b must refuse the
	// guest it let in.
	var recs []guestlink.Record
	if err := a.Dump(ctx, func(r guestlink.Record) error {
		if r.Room != nil && r.Room.ID == "r" {
			r.Room.GuestAccess = false
		}
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	gen := b.Generation()
	next := func() func() (guestlink.Record, error) {
		i := 0
		return func() (guestlink.Record, error) {
			if i == len(recs) {
				return guestlink.Record{}, io.EOF
			}
			i++
			return recs[i-1], nil
		}
	}
	if err := a.Load(ctx, next(), true); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if _, err := a.Check(ctx, g.RoomID, g.LinkID, g.ID, t0); !errors.Is(err, guestlink.ErrGuestAccessOff) {
		t.Errorf("the loading instance's Check = %v, want ErrGuestAccessOff at once", err)
	}
	if _, ok := until(propagationBound, checks(b, g, guestlink.ErrGuestAccessOff)); !ok {
		t.Errorf("the other instance never followed the load (Check still lets the guest in)")
	}
	if b.Generation() <= gen {
		t.Errorf("the other instance's Generation %d -> %d across the load, want it to grow", gen, b.Generation())
	}

	// A load holds an advisory lock for its transaction; while another
	// session holds it, a load is refused and changes nothing.
	conn, err := a.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", loadLock); err != nil {
		t.Fatal(err)
	}
	if err := b.Load(ctx, next(), true); !errors.Is(err, guestlink.ErrStoreBusy) {
		t.Errorf("Load while another runs = %v, want ErrStoreBusy", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", loadLock); err != nil {
		t.Fatal(err)
	}
	if err := b.Load(ctx, next(), true); err != nil {
		t.Errorf("Load once the other ended: %v", err)
	}
}

package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/guestgate/guestgate/guestlink"
)

// TestFallenBehind: an instance that missed changes the log no longer holds
// (pruned while it was cut off) reloads its live state, rooms, links and the
// guests it held, instead of applying what is left of the log, and so
// follows the changes it never read.
func TestFallenBehind(t *testing.T) {
	var logs logBuffer
	a, b, l, g := twoInstances(t, Options{}, Options{Logger: logs.logger()}, 0)
	ctx := context.Background()

	// b's listener cannot apply anything while the test holds applyMu: the
	// changes through a pile up, and a prunes them all.
	b.applyMu.Lock()
	if _, err := a.SetGuestState(ctx, "r", g.ID, guestlink.StateRemoved, t0); err != nil {
		b.applyMu.Unlock()
		t.Fatal(err)
	}
	if err := a.DeleteLink(ctx, "r", l.ID); err != nil {
		b.applyMu.Unlock()
		t.Fatal(err)
	}
	a.keepChanges = 0
	_, pruned, err := a.sweepOnce(ctx)
	b.applyMu.Unlock()
	if err != nil || pruned < 2 {
		t.Fatalf("sweepOnce pruned %d changes, %v; want every change", pruned, err)
	}
	// The guest is removed and its link gone: the guest's own state decides
	// only after the link (CheckSession's order).
	if _, ok := until(propagationBound, checks(b, g, guestlink.ErrLinkNotFound)); !ok {
		_, err := b.Check(ctx, "r", l.ID, g.ID, time.Now())
		t.Fatalf("b's Check = %v after the changes it missed, want ErrLinkNotFound", err)
	}
	if !strings.Contains(logs.String(), "reloading the live state") {
		t.Errorf("b did not say it reloaded:\n%s", logs.String())
	}
	if state, _ := b.Check(ctx, "r", l.ID, g.ID, time.Now()); state != guestlink.StateRemoved {
		t.Errorf("b holds the guest as %q, want removed (read again at the reload)", state)
	}
}

// TestChangeOfANewerVersion: during a rolling upgrade, a newer guestgate on
// the same database may record a change of a kind this one does not know.
// The instance reads its live state afresh rather than skip it, and goes on
// following the changes after it.
func TestChangeOfANewerVersion(t *testing.T) {
	var logs logBuffer
	a, b, _, g := twoInstances(t, Options{}, Options{Logger: logs.logger()}, 0)
	ctx := context.Background()
	// Written as bump writes a change, with a kind of no version of this one.
	if _, err := a.pool.Exec(ctx, `WITH g AS (UPDATE gg_generation SET gen = gen + 1 RETURNING gen)
		INSERT INTO gg_changes (gen, kind, room_id, item_id) SELECT gen, 'a-newer-kind', 'r', '' FROM g`); err != nil {
		t.Fatal(err)
	}
	if _, ok := until(propagationBound, func() bool { return strings.Contains(logs.String(), "reloading the live state") }); !ok {
		t.Fatalf("b did not read its live state afresh after the unknown change:\n%s", logs.String())
	}
	if _, err := a.SetGuestAccess(ctx, "r", false, t0); err != nil {
		t.Fatal(err)
	}
	if _, ok := until(propagationBound, checks(b, g, guestlink.ErrGuestAccessOff)); !ok {
		_, err := b.Check(ctx, g.RoomID, g.LinkID, g.ID, time.Now())
		t.Fatalf("b's Check = %v after access went off through a, want ErrGuestAccessOff", err)
	}
}

// TestRetention: a guest whose purge time has passed is gone for every read
// at once, though its record is still there, and the sweep deletes the
// record; a guest whose purge time is ahead stays.
func TestRetention(t *testing.T) {
	c := cluster(t)
	dsn := newDB(t)
	s := openStore(t, dsn, Options{})
	ctx := context.Background()
	spec, _ := guestlink.RoomSpec{Admission: guestlink.AdmissionModerator}.Normalize("r")
	if _, _, err := s.PutRoom(ctx, "r", spec, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetGuestAccess(ctx, "r", true, t0); err != nil {
		t.Fatal(err)
	}
	l, _ := guestlink.LinkSpec{Name: "Guests"}.NewLink("r", t0)
	if _, err := s.AddLink(ctx, l, 0); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	redeemed := now.Add(-2 * time.Hour)
	in := func(purge time.Time) guestlink.Guest {
		g := newGuest()
		g.PurgeAt = purge
		_, _, g, err := s.Redeem(ctx, l.Token, g, redeemed)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	gone, kept := in(now.Add(-time.Hour)), in(now.Add(time.Hour))

	if _, err := s.Guest(ctx, "r", gone.ID); !errors.Is(err, guestlink.ErrGuestNotFound) {
		t.Errorf("Guest of a purged guest: %v, want ErrGuestNotFound", err)
	}
	if _, err := s.Check(ctx, "r", l.ID, gone.ID, now); !errors.Is(err, guestlink.ErrGuestNotFound) {
		t.Errorf("Check of a purged guest: %v, want ErrGuestNotFound", err)
	}
	if gs, _, err := s.Guests(ctx, "r", 0, ""); err != nil || len(gs) != 1 || gs[0].ID != kept.ID {
		t.Errorf("Guests = %v, %v; want only the kept guest", gs, err)
	}
	if gs, err := s.Lobby(ctx, "r", time.Time{}); err != nil || len(gs) != 1 {
		t.Errorf("Lobby = %v, %v; want only the kept guest", gs, err)
	}
	if st, err := s.Stats(ctx); err != nil || st.GuestsWaiting != 1 {
		t.Errorf("Stats = %+v, %v; want 1 waiting", st, err)
	}
	if got := c.SQL(dbName(t, dsn), "SELECT count(*) FROM gg_guests"); got != "2" {
		t.Errorf("%s records before the sweep, want 2", got)
	}
	if purged, _, err := s.sweepOnce(ctx); err != nil || purged != 1 {
		t.Errorf("sweepOnce purged %d, %v; want 1", purged, err)
	}
	if got := c.SQL(dbName(t, dsn), "SELECT id FROM gg_guests"); got != kept.ID {
		t.Errorf("after the sweep the records are %q, want the kept guest's", got)
	}
}

// TestNewGuestsReachEveryInstance: a guest redeemed through one instance is
// in every other's live state within a read of it, before the guest's first
// request reaches them, so that an outage does not refuse an admitted guest
// on an instance they had not reached yet. Redemptions commit in any order:
// a guest whose transaction was still open while an instance read the live
// state, and committed after a later one, is read all the same.
func TestNewGuestsReachEveryInstance(t *testing.T) {
	dsn := newDB(t)
	opts := Options{PollInterval: 20 * time.Millisecond}
	a, b := openStore(t, dsn, opts), openStore(t, dsn, opts)
	l := room(t, a, "r", 0)
	held := func(id string) func() bool {
		return func() bool {
			_, err := b.mirror.Check("r", l.ID, id, time.Now(), nil)
			return err == nil
		}
	}
	g := redeem(t, a, l.Token)
	if _, ok := until(propagationBound, held(g.ID)); !ok {
		t.Fatal("b never took in the guest redeemed through a")
	}

	// A transaction stores a guest and stays open over several of b's
	// reads, while a redemption after it commits and reaches b.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	late := guestlink.NewID("g")
	if _, err := tx.Exec(ctx, "INSERT INTO gg_guests ("+guestCols+") SELECT room_id, $1, "+
		"link_id, link_name, name, email, state, redeemed_at, updated_at, last_seen, purge_at, role FROM gg_guests WHERE id = $2", late, g.ID); err != nil {
		t.Fatal(err)
	}
	early := redeem(t, a, l.Token)
	if _, ok := until(propagationBound, held(early.ID)); !ok {
		t.Fatal("b never took in the later guest")
	}
	time.Sleep(5 * opts.PollInterval) // more of b's reads while the first is open
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := until(propagationBound, held(late)); !ok {
		t.Fatal("b never took in a guest whose transaction was open during its reads and committed last")
	}
}

// TestNewGuestsFromTheFuture: a guest row whose transaction id the cluster
// has not reached (a dump of another cluster restored here) is not read by
// every read of the live state until it does: only the rows of transactions
// the last read could not see, and that this one can, are.
func TestNewGuestsFromTheFuture(t *testing.T) {
	dsn := newDB(t)
	s := openStore(t, dsn, Options{})
	l := room(t, s, "r", 0)
	ctx := context.Background()
	read := func(seen string) ([]guestlink.Guest, string) {
		t.Helper()
		var (
			gs  []guestlink.Guest
			now string
		)
		err := pgx.BeginTxFunc(ctx, s.pool, snapshot, func(tx pgx.Tx) error {
			var gen int64
			if err := tx.QueryRow(ctx, genAndSnapshot).Scan(&gen, &now); err != nil {
				return err
			}
			var err error
			gs, err = readNewGuests(ctx, tx, seen)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return gs, now
	}
	_, seen := read("")
	g := redeem(t, s, l.Token)
	future := guestlink.NewID("g")
	if _, err := s.pool.Exec(ctx, "INSERT INTO gg_guests ("+guestCols+", txid) SELECT room_id, $1, "+
		"link_id, link_name, name, email, state, redeemed_at, updated_at, last_seen, purge_at, role, "+
		"(pg_current_xact_id()::text::bigint + 1000000)::text::xid8 FROM gg_guests WHERE id = $2", future, g.ID); err != nil {
		t.Fatal(err)
	}
	gs, seen := read(seen)
	if len(gs) != 1 || gs[0].ID != g.ID {
		t.Fatalf("read %v, want only the guest redeemed since", gs)
	}
	if gs, _ := read(seen); len(gs) != 0 {
		t.Fatalf("the next read got %v, want nothing new", gs)
	}
}

// TestNewGuestsReadByIndex: each read of the live state (every PollInterval,
// on every instance) finds the guests stored since the last one through the
// index on gg_guests.txid, also when most rows share one transaction id, as
// they do after an import or a move (one transaction) and after the
// migration that added the column (every older row has its id). A plan that
// scans the whole table instead makes every instance read every guest record
// every second: a load on the database that grows with the records kept for
// retention, up to reads that outlast syncTimeout and leave the instances
// stale.
func TestNewGuestsReadByIndex(t *testing.T) {
	dsn := newDB(t)
	s := openStore(t, dsn, Options{})
	l := room(t, s, "r", 0)
	g := redeem(t, s, l.Token)
	ctx := context.Background()
	// One transaction stores many guests, as a load does, and the table is
	// analyzed, as autovacuum does after it.
	if _, err := s.pool.Exec(ctx, "INSERT INTO gg_guests ("+guestCols+") SELECT room_id, 'bulk' || i, "+
		"link_id, link_name, name, email, state, redeemed_at, updated_at, last_seen, purge_at, role FROM gg_guests, generate_series(1, 50000) AS i WHERE id = $1", g.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, "ANALYZE gg_guests"); err != nil {
		t.Fatal(err)
	}
	var seen string
	if err := s.pool.QueryRow(ctx, "SELECT pg_current_snapshot()::text").Scan(&seen); err != nil {
		t.Fatal(err)
	}
	fresh := redeem(t, s, l.Token)
	for _, mode := range []string{"auto", "force_generic_plan"} { // pgx prepares the statement: PostgreSQL may switch to a generic plan
		var plan string
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = "+mode); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "PREPARE feed(text) AS "+newGuestsStmt); err != nil {
				return err
			}
			lines, err := collect(func(row pgx.Row) (string, error) {
				var line string
				return line, row.Scan(&line)
			})(tx.Query(ctx, "EXPLAIN EXECUTE feed('"+seen+"')"))
			if err != nil {
				return err
			}
			plan = strings.Join(lines, "\n")
			_, err = tx.Exec(ctx, "DEALLOCATE feed")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(plan, "Seq Scan on gg_guests") {
			t.Errorf("plan_cache_mode %s: the read of new guests scans the whole table:\n%s", mode, plan)
		}
	}
	// And it still reads exactly the guest stored since.
	err := pgx.BeginTxFunc(ctx, s.pool, snapshot, func(tx pgx.Tx) error {
		gs, err := readNewGuests(ctx, tx, seen)
		if err == nil && (len(gs) != 1 || gs[0].ID != fresh.ID) {
			t.Errorf("read %v, want only %s", gs, fresh.ID)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNewGuestOfARoomMadeAgain: a room deleted and made again, and a guest
// redeemed in the new room, all between two of an instance's reads of the
// live state, reach it in one read. The guest stays in its live state, as
// every new guest does, so that an outage serves them there too: taking in
// the new guests before the change that drops the old room's guests dropped
// the new one with them.
func TestNewGuestOfARoomMadeAgain(t *testing.T) {
	a, b, _, _ := twoInstances(t, Options{}, Options{}, 0)
	ctx := context.Background()

	// b's listener cannot read while the test holds applyMu: the deletion,
	// the new room and the redemption reach it in one read.
	var (
		l   guestlink.Link
		g   guestlink.Guest
		gen int64
	)
	func() {
		b.applyMu.Lock()
		defer b.applyMu.Unlock()
		if err := a.DeleteRoom(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		l = room(t, a, "r", 0)
		g = redeem(t, a, l.Token)
		if err := a.pool.QueryRow(ctx, "SELECT gen FROM gg_generation").Scan(&gen); err != nil {
			t.Fatal(err)
		}
	}()
	if _, ok := until(propagationBound, func() bool { return b.Live().Generation >= gen }); !ok {
		t.Fatalf("b never read generation %d", gen)
	}
	// The mirror alone, as Check answers when the database cannot be reached.
	if _, err := b.mirror.Check("r", l.ID, g.ID, time.Now(), nil); err != nil {
		t.Errorf("b's live state does not let in the guest redeemed in the room made again: %v", err)
	}
}

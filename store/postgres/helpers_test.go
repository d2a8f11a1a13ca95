package postgres

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/testcaddy"
)

var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// room makes room id on s with guest access on, admission auto, and one link
// with maxClicks (0: unlimited).
func room(t *testing.T, s *Store, id string, maxClicks int) guestlink.Link {
	t.Helper()
	ctx := context.Background()
	spec, _ := guestlink.RoomSpec{}.Normalize(id)
	if _, _, err := s.PutRoom(ctx, id, spec, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetGuestAccess(ctx, id, true, t0); err != nil {
		t.Fatal(err)
	}
	ls := guestlink.LinkSpec{Name: "Guests"}
	if maxClicks > 0 {
		ls.MaxClicks = &maxClicks
	}
	l, err := ls.NewLink(id, t0)
	if err != nil {
		t.Fatal(err)
	}
	if l, err = s.AddLink(ctx, l, 0); err != nil {
		t.Fatal(err)
	}
	return l
}

// twoInstances opens a and b on a new database, with their options, makes
// room "r" with a link of maxClicks and a guest redeemed through a, and
// waits until b lets the guest in.
func twoInstances(t *testing.T, optsA, optsB Options, maxClicks int) (a, b *Store, l guestlink.Link, g guestlink.Guest) {
	t.Helper()
	dsn := newDB(t)
	a, b = openStore(t, dsn, optsA), openStore(t, dsn, optsB)
	l = room(t, a, "r", maxClicks)
	g = redeem(t, a, l.Token)
	if _, ok := until(propagationBound, checks(b, g, nil)); !ok {
		t.Fatal("b never let the guest in")
	}
	return a, b, l, g
}

// redeem redeems the link with token on s for a new guest.
func redeem(t *testing.T, s *Store, token string) guestlink.Guest {
	t.Helper()
	_, _, g, err := s.Redeem(context.Background(), token, newGuest(), t0)
	if err != nil {
		t.Fatalf("Redeem: %v", err)
	}
	return g
}

func newGuest() guestlink.Guest {
	return guestlink.Guest{ID: guestlink.NewID("g"), Name: "Guest", Email: "guest@example.com"}
}

// until calls f every millisecond until it returns true, for at most
// within, and returns how long that took and whether it did.
func until(within time.Duration, f func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if f() {
			return time.Since(start), true
		}
		if time.Since(start) > within {
			return time.Since(start), false
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// checks returns the function that reports whether s's Check of guest g
// answers err (nil for a good session).
func checks(s *Store, g guestlink.Guest, want error) func() bool {
	return func() bool {
		_, err := s.Check(context.Background(), g.RoomID, g.LinkID, g.ID, time.Now())
		return errors.Is(err, want) && (want == nil) == (err == nil)
	}
}

// percentile returns the p-th percentile (0-100) of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

// dbName is the database of dsn.
func dbName(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// logBuffer is a slog.Logger's output, safe for the Store's goroutines.
type logBuffer struct{ testcaddy.Buffer }

// logger returns a logger of every level into b.
func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

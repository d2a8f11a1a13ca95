package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// TestOutage stops PostgreSQL under two instances and starts it again, the
// failure of docs/DESIGN.md section 6: while it is down, writes and reads
// fail at once with guestlink.ErrStoreUnavailable (a redemption spends
// nothing), a guest redeemed through the other instance is let in from the
// live state though its first request comes during the outage, a guest the
// instance cannot know (redeemed after its last read) is unavailable rather
// than unknown (no cookie is cleared because of an outage), a secret read
// before is still given (a config reload in the outage keeps its keys), and
// Check keeps
// letting admitted guests in from the live state until max_stale has passed
// since the last read of the change log, then answers ErrStoreUnavailable
// too. When PostgreSQL is back, both instances recover by themselves: their
// Check lets guests in again, writes succeed, and a change through one
// reaches the other. The log says when the database was lost and when it was
// back, and no error or log line holds the DSN's password.
func TestOutage(t *testing.T) {
	c := cluster(t)
	const maxStale = 3 * time.Second
	var logs logBuffer
	opts := Options{MaxStale: maxStale, Logger: logs.logger()}
	a, b, l, g := twoInstances(t, opts, opts, 4)
	ctx := context.Background()
	// fed reaches b's live state with b's next read; b never checks it
	// before the outage.
	fed := redeem(t, a, l.Token)
	if _, ok := until(propagationBound, func() bool {
		_, err := b.mirror.Check("r", l.ID, fed.ID, time.Now(), nil)
		return err == nil
	}); !ok {
		t.Fatal("b never took in the guest redeemed through a")
	}
	// unseen is redeemed while b's listener cannot apply what it reads, and
	// the database stops before it can.
	key, err := b.Secret(ctx, "outage-key", 32)
	if err != nil {
		t.Fatal(err)
	}
	b.applyMu.Lock()
	unseen := redeem(t, a, l.Token)
	before := b.Live()
	c.Stop()
	stopped := time.Now()
	b.applyMu.Unlock()
	var errs []error
	unavailable := func(what string, err error) {
		t.Helper()
		errs = append(errs, err)
		if !errors.Is(err, guestlink.ErrStoreUnavailable) {
			t.Errorf("%s while PostgreSQL is down: %v, want ErrStoreUnavailable", what, err)
		}
	}
	if state, err := a.Check(ctx, "r", l.ID, g.ID, time.Now()); err != nil || state != guestlink.StateAdmitted {
		t.Errorf("Check right after the stop = %q, %v; want the admitted guest, from the live state", state, err)
	}
	start := time.Now()
	_, err = a.SetGuestAccess(ctx, "r", false, t0)
	unavailable("SetGuestAccess", err)
	_, _, _, err = b.Redeem(ctx, l.Token, newGuest(), t0)
	unavailable("Redeem", err)
	_, err = b.Room(ctx, "r")
	unavailable("Room", err)
	_, err = b.Check(ctx, "r", l.ID, unseen.ID, time.Now())
	unavailable("Check of a guest the instance cannot know", err)
	if state, err := b.Check(ctx, "r", l.ID, fed.ID, time.Now()); err != nil || state != guestlink.StateAdmitted {
		t.Errorf("Check of a guest redeemed through a, first seen by b during the outage = %q, %v; want admitted, from the live state", state, err)
	}
	if got, err := b.Secret(ctx, "outage-key", 32); err != nil || string(got) != string(key) {
		t.Errorf("Secret of a secret read before the stop = %x, %v; want %x, the one read", got, err, key)
	}
	_, err = b.Secret(ctx, "never-read", 32)
	unavailable("Secret of a secret never read", err)
	t.Logf("five calls failed in %v", time.Since(start).Round(time.Millisecond))
	// b failed four of them; the metrics count them as unreachable.
	if after := b.Live(); after.Unreachable < before.Unreachable+4 || after.Failed != before.Failed {
		t.Errorf("b's error counts went from %d unreachable, %d failed to %d, %d; want at least 4 more unreachable and no more failed",
			before.Unreachable, before.Failed, after.Unreachable, after.Failed)
	}
	if d := time.Since(start); d > 4*DefaultConnectTimeout {
		t.Errorf("the failing calls took %v: they should fail fast", d)
	}

	// The live state serves until max_stale after the last read of the log,
	// which was at most a poll before the stop.
	time.Sleep(maxStale - DefaultPollInterval - 500*time.Millisecond - time.Since(stopped))
	if state, err := b.Check(ctx, "r", l.ID, g.ID, time.Now()); err != nil || state != guestlink.StateAdmitted {
		t.Errorf("Check %v after the stop = %q, %v; want the admitted guest until max_stale", time.Since(stopped).Round(time.Millisecond), state, err)
	}
	// Each instance read the log last at its own moment before the stop, so
	// each refuses from its own max_stale on; both within max_stale of it.
	for name, s := range map[string]*Store{"a": a, "b": b} {
		if _, ok := until(maxStale+5*time.Second-time.Since(stopped), checks(s, g, guestlink.ErrStoreUnavailable)); !ok {
			t.Errorf("%s's Check still lets the guest in %v after the stop, max_stale %v", name, time.Since(stopped).Round(time.Millisecond), maxStale)
		}
		_, err = s.Check(ctx, "r", l.ID, g.ID, time.Now())
		unavailable(name+"'s Check after max_stale", err)
	}
	t.Logf("Check served from the live state for %v after the stop (max_stale %v)", time.Since(stopped).Round(time.Millisecond), maxStale)

	c.Start()
	started := time.Now()
	for name, s := range map[string]*Store{"a": a, "b": b} {
		if _, ok := until(15*time.Second, checks(s, g, nil)); !ok {
			t.Fatalf("%s's Check did not recover", name)
		}
	}
	t.Logf("both instances let the guest in again %v after the start", time.Since(started).Round(time.Millisecond))
	if _, err := a.SetGuestAccess(ctx, "r", false, t0); err != nil {
		t.Fatalf("a write after the start: %v", err)
	}
	if _, ok := until(propagationBound, checks(b, g, guestlink.ErrGuestAccessOff)); !ok {
		t.Error("a change after the start did not reach b")
	}
	// Nothing was spent while it was down.
	if _, got, err := b.LinkByToken(ctx, l.Token); err != nil || got.Clicks != 3 {
		t.Errorf("clicks after the outage = %d, %v; want 3", got.Clicks, err)
	}

	out := logs.String()
	for _, want := range []string{"lost the database", "the database is back"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %q:\n%s", want, out)
		}
	}
	for _, err := range errs {
		if err != nil && strings.Contains(err.Error(), c.Password()) {
			t.Errorf("an error holds the password: %v", err)
		}
	}
	if strings.Contains(out, c.Password()) {
		t.Errorf("the log holds the password:\n%s", out)
	}
}

// TestOpenWaits protects a start in the order a machine's boot may take: a
// Caddy whose PostgreSQL is not up yet waits for it, for Options.Wait (its
// last attempt when Wait is over), rather than failing its start at once, and
// says so in the log; past Wait it fails
// with ErrStoreUnavailable, and no line or error holds the password.
func TestOpenWaits(t *testing.T) {
	c := cluster(t)
	dsn := newDB(t)
	var logs logBuffer
	c.Stop()
	started := false
	defer func() {
		if !started { // for the tests after this one
			c.Start()
		}
	}()
	_, err := Open(context.Background(), dsn, Options{Wait: 1500 * time.Millisecond, Logger: logs.logger()})
	if !errors.Is(err, guestlink.ErrStoreUnavailable) {
		t.Fatalf("Open past Wait with the database down = %v, want ErrStoreUnavailable", err)
	}
	if strings.Contains(err.Error(), c.Password()) {
		t.Errorf("Open's error holds the password: %v", err)
	}
	// Attempts at 0, 1 s and 1.5 s: the last one when Wait is over, not a
	// whole pause before it.
	if n := strings.Count(logs.String(), "trying again"); n != 2 {
		t.Errorf("Open with a Wait of 1.5 s tried again %d times, want 2 (after 1 s, and at 1.5 s):\n%s", n, logs.String())
	}

	type opened struct {
		s   *Store
		err error
	}
	done := make(chan opened, 1)
	go func() {
		s, err := Open(context.Background(), dsn, Options{Wait: time.Minute, Logger: logs.logger()})
		done <- opened{s, err}
	}()
	time.Sleep(2 * time.Second)
	select {
	case o := <-done:
		t.Fatalf("Open returned while the database was down: %v", o.err)
	default:
	}
	c.Start()
	started = true
	o := <-done
	if o.err != nil {
		t.Fatalf("Open after the database came up: %v", o.err)
	}
	o.s.Close()
	out := logs.String()
	if !strings.Contains(out, "the database cannot be reached: trying again") {
		t.Errorf("the log does not say Open waits:\n%s", out)
	}
	if strings.Contains(out, c.Password()) {
		t.Errorf("the log holds the password:\n%s", out)
	}
}

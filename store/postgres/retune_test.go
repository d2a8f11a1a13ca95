package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

// TestWithoutPassword: two DSNs compare equal without their passwords when
// the password is all that differs, in either syntax, quoted or escaped.
func TestWithoutPassword(t *testing.T) {
	same := [][2]string{
		{"postgres://gg:old@db:5432/gg?sslmode=verify-full", "postgres://gg:n%40w@db:5432/gg?sslmode=verify-full"},
		{"postgres://gg@db/gg?password=old&sslmode=require", "postgres://gg@db/gg?sslmode=require&password=new"},
		{"postgresql://gg:old@db/gg", "postgresql://gg@db/gg"},
		{"host=db user=gg password=old dbname=gg", "host=db user=gg password=new dbname=gg"},
		{"host=db password = 'o l\\'d' dbname=gg", "host=db password=new dbname=gg"},
		{"host=db password=o\\ ld dbname=gg", "host=db dbname=gg"},
	}
	for _, p := range same {
		if a, b := withoutPassword(p[0]), withoutPassword(p[1]); a != b {
			t.Errorf("%q and %q: %q != %q", p[0], p[1], a, b)
		}
		for _, dsn := range p {
			if w := withoutPassword(dsn); strings.Contains(w, "old") || strings.Contains(w, "new") || strings.Contains(w, "n@w") {
				t.Errorf("withoutPassword(%q) = %q keeps the password", dsn, w)
			}
		}
	}
	differ := [][2]string{
		{"postgres://gg:pw@db:5432/gg?sslmode=verify-full", "postgres://gg:pw@db:5432/gg?sslmode=disable"},
		{"postgres://gg:pw@db/gg", "postgres://gg:pw@db2/gg"},
		{"host=db password=pw dbname=gg", "host=db password=pw dbname=gg2"},
		{"host=db password='pw' sslrootcert=a", "host=db password='pw' sslrootcert=b"},
		{"host=db password='unterminated", "host=db password='unterminated2"},
	}
	for _, p := range differ {
		if withoutPassword(p[0]) == withoutPassword(p[1]) {
			t.Errorf("%q and %q compare equal", p[0], p[1])
		}
	}
}

// TestRetune: a Store given a new password by Retune makes its new
// connections, the listener's among them, with it, after the role's password
// changed and every connection was cut; without it they fail as in an outage
// (ErrStoreUnavailable, secrets read before still given), and the log says
// that the database refuses the login. Retune takes
// max_stale too; given a DSN that differs in more than the password, it
// still gives the password and says that the rest needs a restart, and it
// refuses a DSN of another user. CheckLogin tells a password the server
// refuses from the role's.
func TestRetune(t *testing.T) {
	c := cluster(t)
	dsn := newDB(t)
	db := dbName(t, dsn)
	c.SQL("postgres", fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'first-pw'; ALTER DATABASE %s OWNER TO %s", db, db, db))
	roleDSN := func(pw string) string {
		u, _ := url.Parse(dsn)
		u.User = url.UserPassword(db, pw)
		return u.String()
	}
	ctx := context.Background()
	var logs logBuffer
	s := openStore(t, roleDSN("first-pw"), Options{PollInterval: 50 * time.Millisecond, Logger: logs.logger()})
	g := redeem(t, s, room(t, s, "r", 0).Token)
	if _, err := s.Secret(ctx, "k", 32); err != nil {
		t.Fatal(err)
	}

	c.SQL("postgres", "ALTER ROLE "+db+" PASSWORD 'second-pw'")
	c.TerminateBackends()
	_, err := s.SetGuestAccess(ctx, "r", false, t0)
	if err == nil {
		t.Fatal("a write with the old password succeeded after the connections were cut")
	}
	// Until Retune, the Store serves as in an outage: the moderator API
	// answers 503, and the reload that brings the new password reads the
	// secrets it had (a 500 and a failed reload left a restart as the only
	// way out).
	if !errors.Is(err, guestlink.ErrStoreUnavailable) {
		t.Errorf("a write with the old password: %v, want ErrStoreUnavailable", err)
	}
	if _, err := s.Secret(ctx, "k", 32); err != nil {
		t.Errorf("Secret with the old password, of a secret read before: %v", err)
	}
	// The log says why the outage lasts, not only what began it (the cut).
	if _, ok := until(10*time.Second, func() bool { return strings.Contains(logs.String(), "refuses the store's login") }); !ok {
		t.Errorf("the log does not say that the database refuses the login:\n%s", logs.String())
	}
	for _, pw := range []string{"first-pw", "second-pw"} {
		if strings.Contains(logs.String(), pw) {
			t.Errorf("the log holds the password %q", pw)
		}
	}
	for _, pw := range []string{"first-pw", "second-pw"} {
		if strings.Contains(err.Error(), pw) {
			t.Errorf("the error holds a password: %v", err)
		}
	}

	// CheckLogin, before a reload: the server refuses a mistyped password,
	// and the error does not repeat it; it takes the new one.
	if err := s.CheckLogin(ctx, roleDSN("mistyped-pw")); err == nil || strings.Contains(err.Error(), "mistyped-pw") {
		t.Errorf("CheckLogin with a password the server refuses: %v, want an error without the password", err)
	}
	if err := s.CheckLogin(ctx, roleDSN("second-pw")); err != nil {
		t.Errorf("CheckLogin with the role's password: %v", err)
	}
	stranger, _ := url.Parse(roleDSN("second-pw"))
	stranger.User = url.UserPassword("someone_else", "second-pw")
	if err := s.Retune(stranger.String(), 0, 0); err == nil || errors.Is(err, ErrRestartNeeded) {
		t.Errorf("Retune with another user: %v, want an error other than ErrRestartNeeded", err)
	}
	// A DSN that also changes sslmode, which needs a new Store, still gives
	// the password: a change that waits for a restart must not hold back
	// the rotation of a password.
	if err := s.Retune(roleDSN("second-pw")+"&sslmode=require", 0, 0); !errors.Is(err, ErrRestartNeeded) {
		t.Errorf("Retune with another sslmode: %v, want ErrRestartNeeded", err)
	}
	if _, err := s.SetGuestAccess(ctx, "r", false, t0); err != nil {
		t.Fatalf("a write after a Retune with the new password and another sslmode: %v", err)
	}
	if err := s.Retune(roleDSN("second-pw"), 0, 0); err != nil {
		t.Fatalf("Retune: %v", err)
	}
	// The listener connects again with the new password: a change made
	// without this Store reaches its live state.
	if _, ok := until(10*time.Second, func() bool { return s.Live().Listening }); !ok {
		t.Fatal("the listener did not connect again after Retune")
	}
	other := openStore(t, roleDSN("second-pw"), Options{})
	if _, err := other.SetGuestAccess(ctx, "r", true, t0); err != nil {
		t.Fatal(err)
	}
	if _, ok := until(10*time.Second, checks(s, g, nil)); !ok {
		t.Error("a change through another Store did not reach this one's live state")
	}

	// max_stale: 1 ns is passed by the time of any Check.
	if err := s.Retune(roleDSN("second-pw"), time.Nanosecond, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Check(ctx, g.RoomID, g.LinkID, g.ID, t0); !errors.Is(err, guestlink.ErrStoreUnavailable) {
		t.Errorf("Check past a max_stale of 1 ns: %v, want ErrStoreUnavailable", err)
	}
	if err := s.Retune(roleDSN("second-pw"), 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Check(ctx, g.RoomID, g.LinkID, g.ID, t0); err != nil {
		t.Errorf("Check with max_stale back at its default: %v", err)
	}
}

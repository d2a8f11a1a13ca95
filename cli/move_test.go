package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/testpg"
	"github.com/guestgate/guestgate/store/badger"
	"github.com/guestgate/guestgate/store/postgres"
	"github.com/guestgate/guestgate/token"
)

// TestParseStoreArg protects how move reads --from and --to, and that what it
// prints of a PostgreSQL store, and its errors, never hold the DSN's password:
// a DSN move cannot read as one was once taken for a Badger directory, which
// the error then printed, password and all.
func TestParseStoreArg(t *testing.T) {
	env := map[string]string{"GG_DSN": "postgres://gg:s3cret@db.internal:5432/rooms", "GG_KV": "host=db user=gg password=s3cret dbname=rooms"}
	abs, _ := filepath.Abs("data")
	for _, tc := range []struct {
		arg, wantName, wantErr string
		badger                 bool
	}{
		{"badger:/srv/guestgate", "badger:/srv/guestgate", "", true},
		{"/srv/guestgate/", "badger:/srv/guestgate", "", true},
		{"data", "badger:" + abs, "", true},
		{"postgres://gg:s3cret@db.internal:5432/rooms?sslmode=verify-full", "postgres://gg@db.internal:5432/rooms", "", false},
		{"postgresql://gg:s3cret@db.internal/rooms", "postgres://gg@db.internal:5432/rooms", "", false},
		{"postgres:host=db port=6432 user=gg password=s3cret dbname=rooms", "postgres://gg@db:6432/rooms", "", false},
		{"env:GG_DSN", "postgres://gg@db.internal:5432/rooms", "", false},
		{"env:GG_KV", "postgres://gg@db:5432/rooms", "", false},
		{"env:GG_NONE", "", "the environment variable GG_NONE is empty or not set", false},
		{"postgres://gg:s3cret@db.internal:notaport/rooms", "", "does not parse", false},
		{"postgres:host=db password=s3cret port=x", "", "does not parse", false},
		{"", "", "--to is required", false},
		// A DSN in a form move does not read is no directory: refused
		// without being repeated.
		{"host=db user=gg password=s3cret dbname=rooms", "", "neither a Badger directory nor a PostgreSQL DSN", false},
		{"postgrs://gg:s3cret@db.internal/rooms", "", "neither a Badger directory nor a PostgreSQL DSN", false},
		{"badger:host=db password=s3cret", "", "neither a Badger directory nor a PostgreSQL DSN", false},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			a, err := parseStoreArg("to", tc.arg, func(k string) string { return env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if a.name != tc.wantName || (a.dir != "") != tc.badger {
				t.Errorf("store %+v, want name %q (Badger %v)", a, tc.wantName, tc.badger)
			}
			if strings.Contains(fmt.Sprint(err), "s3cret") || strings.Contains(a.name, "s3cret") || strings.Contains(a.caddyfile(), "s3cret") {
				t.Errorf("the password shows: %q, %v", a.name, err)
			}
		})
	}
}

// moveFixture is what fillForMove stored, to check the store it moved to.
type moveFixture struct {
	limited  guestlink.Link // 2 clicks of 3 spent
	admitted guestlink.Guest
	// session is a guest session token issued, before the move, with the
	// store's session signing key.
	session string
	// jwks are the identity key's public keys, as the gateway publishes them.
	jwks []byte
}

var m0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// issuer is the gateway's session token issuer on the store's signing key.
func issuer(t *testing.T, s guestlink.Store) *token.Issuer {
	t.Helper()
	key, err := s.Secret(context.Background(), "session-signing-key", 32)
	if err != nil {
		t.Fatal(err)
	}
	i, err := token.New(token.Config{Keys: [][]byte{key}, Issuer: "guestgate", Audience: token.SessionAudience,
		TTL: 10 * time.Minute, MaxAge: 365 * 24 * time.Hour, Leeway: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// jwks is the identity key's JWKS on the store's seed.
func jwks(t *testing.T, s guestlink.Store) []byte {
	t.Helper()
	seed, err := s.Secret(context.Background(), "identity-ed25519-seed", 32)
	if err != nil {
		t.Fatal(err)
	}
	id, err := token.NewIdentity(seed, "guestgate")
	if err != nil {
		t.Fatal(err)
	}
	return id.JWKS()
}

// fillForMove stores, through the Service as the handlers do, a moderated
// room with a 3-click link redeemed twice (one guest waiting, one
// admitted), an unlimited link whose guest was removed, an auto room with an
// admitted guest, the handlers' secrets and two webhook events, one retried;
// and issues the admitted guest a session.
func fillForMove(t *testing.T, s *badger.Store) moveFixture {
	t.Helper()
	ctx := context.Background()
	now := m0
	svc := &guestlink.Service{Store: s, Now: func() time.Time { return now }, Retention: 10 * 365 * 24 * time.Hour}
	var f moveFixture
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	redeem := func(token, name string) guestlink.Guest {
		t.Helper()
		now = now.Add(time.Minute)
		_, _, g, err := svc.Redeem(ctx, token, guestlink.GuestInput{Name: name, Email: strings.ToLower(name) + "@example.com"})
		must(err)
		return g
	}
	for _, r := range []struct {
		id        string
		admission string
	}{{"demo", guestlink.AdmissionModerator}, {"auto", guestlink.AdmissionAuto}} {
		_, _, err := svc.PutRoom(ctx, r.id, guestlink.RoomSpec{Name: "Room " + r.id, Admission: r.admission})
		must(err)
		_, err = svc.SetGuestAccess(ctx, r.id, true)
		must(err)
	}
	var err error
	f.limited, err = svc.CreateLink(ctx, "demo", guestlink.LinkSpec{Name: "Speakers", MaxClicks: new(3), DurationDays: new(30)})
	must(err)
	press, err := svc.CreateLink(ctx, "demo", guestlink.LinkSpec{Name: "Press"})
	must(err)
	open, err := svc.CreateLink(ctx, "auto", guestlink.LinkSpec{Name: "Everyone"})
	must(err)
	redeem(f.limited.Token, "Waiting")
	f.admitted = redeem(f.limited.Token, "Admitted")
	f.admitted, err = svc.Decide(ctx, "demo", f.admitted.ID, guestlink.StateAdmitted)
	must(err)
	removed := redeem(press.Token, "Removed")
	_, err = svc.Decide(ctx, "demo", removed.ID, guestlink.StateRemoved)
	must(err)
	redeem(open.Token, "Auto")
	for _, name := range []string{"csrf-key", "identity-ed25519-seed"} {
		_, err := s.Secret(ctx, name, 32)
		must(err)
	}
	f.session, _, err = issuer(t, s).Issue(token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: f.admitted.ID}, Room: "demo", LinkID: f.limited.ID,
		Name: f.admitted.Name, Email: f.admitted.Email, State: token.StateAdmitted, AuthTime: f.admitted.RedeemedAt.Unix(),
	}, time.Now())
	must(err)
	f.jwks = jwks(t, s)
	for _, body := range []string{`{"id":"evt_1"}`, `{"id":"evt_2"}`} {
		_, err := s.Enqueue(ctx, "webhook-1", []byte(body), 0)
		must(err)
	}
	items, _, err := s.Due(ctx, "webhook-1", time.Now(), 1)
	must(err)
	must(s.Retry(ctx, "webhook-1", items[0].ID, 4, m0.Add(time.Hour)))
	return f
}

// records dumps s, sorted, one JSON line a record: the same contents
// compare equal from any kind of store (whose orders differ).
func records(t *testing.T, s guestlink.Dumper) string {
	t.Helper()
	var lines []string
	if err := s.Dump(context.Background(), func(r guestlink.Record) error {
		b, err := json.Marshal(r)
		lines = append(lines, string(b))
		return err
	}); err != nil {
		t.Fatalf("Dump: %v", err)
	}
	// Queue items, last, keep their order; the other records are sorted.
	items := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, `"Item":{`) })
	if items < 0 {
		items = len(lines)
	}
	slices.Sort(lines[:items])
	return strings.Join(lines, "\n")
}

// checkMoved checks that s holds what fillForMove stored, live: the
// session issued before the move verifies with s's key, the identity key is
// the same, the guests keep their states, and the webhook events their
// order and attempts.
func checkMoved(t *testing.T, s guestlink.Store, f moveFixture) {
	t.Helper()
	ctx := context.Background()
	c, err := issuer(t, s).Verify(f.session, time.Now())
	if err != nil || c.Subject != f.admitted.ID {
		t.Errorf("the session issued before the move: %+v, %v; want it to verify", c, err)
	}
	if !bytes.Equal(jwks(t, s), f.jwks) {
		t.Error("the identity key changed in the move")
	}
	if st, err := s.Check(ctx, "demo", f.limited.ID, f.admitted.ID, m0.Add(2*time.Hour)); err != nil || st != guestlink.StateAdmitted {
		t.Errorf("the gate's check of the admitted guest: %q, %v", st, err)
	}
	if lobby, err := s.Lobby(ctx, "demo", m0); err != nil || len(lobby) == 0 || lobby[0].Name != "Waiting" {
		t.Errorf("the lobby: %+v, %v; want the waiting guest first", lobby, err)
	}
	q := s.(guestlink.Queuer)
	items, _, err := q.Due(ctx, "webhook-1", time.Now().AddDate(1, 0, 0), 10)
	if err != nil || len(items) != 2 || string(items[0].Body) != `{"id":"evt_1"}` || items[0].Attempts != 4 || !items[0].NextAt.Equal(m0.Add(time.Hour)) {
		t.Errorf("the webhook queue: %+v, %v", items, err)
	}
}

// runMoveCLI runs "caddy guestgate move args..." and returns the exit status,
// the error and the output.
func runMoveCLI(t *testing.T, args ...string) (int, error, string) {
	t.Helper()
	return runCLI(t, nil, append([]string{"move"}, args...)...)
}

// TestMove protects "caddy guestgate move": a Badger store moved into
// PostgreSQL and back keeps every field of every record, and keeps working
// (tokens redeem up to their limits, guests keep their states, a session made
// before the move still verifies, the webhook events wait in order); a target
// with records is refused without --force and left as it was; and no output
// or error holds the DSN's password.
func TestMove(t *testing.T) {
	c := testpg.Start(t, "fsync=off")
	ctx := context.Background()
	dsn := c.CreateDB()
	name, _ := postgres.Name(dsn)
	password := c.Password()
	t.Setenv("GG_TEST_DSN", dsn)
	noPassword := func(what string, s ...any) {
		t.Helper()
		if text := fmt.Sprint(s...); strings.Contains(text, password) {
			t.Errorf("%s holds the DSN's password: %s", what, text)
		}
	}

	dirA := filepath.Join(t.TempDir(), "a")
	a, err := badger.Open(dirA, badger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := fillForMove(t, a)
	before := records(t, a)
	a.Close()

	// Badger to PostgreSQL.
	start := time.Now()
	status, err, out := runMoveCLI(t, "--from", dirA, "--to", "env:GG_TEST_DSN")
	t.Logf("move to PostgreSQL took %v", time.Since(start))
	noPassword("the output of a move", out, err)
	if status != 0 {
		t.Fatalf("move to PostgreSQL: %d %v", status, err)
	}
	for _, want := range []string{"Moved badger:" + dirA + " to " + name + ": 2 rooms, 3 links, 4 guests, 3 secrets, 2 queue items.",
		"Give the handlers 'store postgres {env.GG_TEST_DSN}'"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	p, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := records(t, p); got != before {
		t.Errorf("PostgreSQL holds\n%s\nwant, as Badger held:\n%s", got, before)
	}
	checkMoved(t, p, f)
	// The moved link counts on: its third click is the last.
	g := guestlink.Guest{ID: guestlink.NewID("g"), Name: "Third", Email: "third@example.com"}
	if _, _, _, err := p.Redeem(ctx, f.limited.Token, g, m0.Add(time.Hour)); err != nil {
		t.Errorf("the third click on PostgreSQL: %v", err)
	}
	g.ID = guestlink.NewID("g")
	if _, _, _, err := p.Redeem(ctx, f.limited.Token, g, m0.Add(time.Hour)); !errors.Is(err, guestlink.ErrLinkUsedUp) {
		t.Errorf("a fourth click on PostgreSQL = %v, want ErrLinkUsedUp", err)
	}
	onPostgres := records(t, p)
	p.Close()

	// And back, with the DSN as key=value after postgres:.
	u, _ := url.Parse(dsn)
	kv := fmt.Sprintf("postgres:host=%s port=%s user=postgres password=%s dbname=%s sslmode=disable",
		u.Hostname(), u.Port(), password, strings.TrimPrefix(u.Path, "/"))
	dirB := filepath.Join(t.TempDir(), "b")
	status, err, out = runMoveCLI(t, "--from", kv, "--to", "badger:"+dirB, "--json")
	noPassword("the output of a move", out, err)
	if status != 0 {
		t.Fatalf("move back to Badger: %d %v", status, err)
	}
	var res MoveJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.From != name || res.To != "badger:"+dirB || res.Moved.Guests != 5 {
		t.Errorf("move --json printed %s (%v)", out, err)
	}
	b, err := badger.Open(dirB, badger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := records(t, b); got != onPostgres {
		t.Errorf("Badger holds\n%s\nwant, as PostgreSQL held:\n%s", got, onPostgres)
	}
	checkMoved(t, b, f)
	if _, _, _, err := b.Redeem(ctx, f.limited.Token, g, m0.Add(time.Hour)); !errors.Is(err, guestlink.ErrLinkUsedUp) {
		t.Errorf("a fourth click on Badger = %v, want ErrLinkUsedUp", err)
	}
	b.Close()

	// A target with records: refused, and left as it was; --force replaces.
	status, err, out = runMoveCLI(t, "--from", dirA, "--to", "badger:"+dirB)
	if status != 1 || err == nil || !strings.Contains(err.Error(), "badger:"+dirB+" holds rooms, links or guests: nothing was moved; move with --force") {
		t.Errorf("move into a store with records: %d %v %s", status, err, out)
	}
	status, err, _ = runMoveCLI(t, "--from", dirA, "--to", "env:GG_TEST_DSN")
	noPassword("the error of a refused move", err)
	if status != 1 || !strings.Contains(fmt.Sprint(err), name+" holds rooms") {
		t.Errorf("move into a database with records: %d %v", status, err)
	}
	if b, err = badger.Open(dirB, badger.Options{}); err != nil {
		t.Fatal(err)
	}
	if got := records(t, b); got != onPostgres {
		t.Errorf("a refused move changed the target")
	}
	b.Close()
	if status, err, _ := runMoveCLI(t, "--from", dirA, "--to", "badger:"+dirB, "--force"); status != 0 {
		t.Fatalf("move --force: %d %v", status, err)
	}
	if b, err = badger.Open(dirB, badger.Options{}); err != nil {
		t.Fatal(err)
	}
	if got := records(t, b); got != before {
		t.Errorf("after move --force the target holds\n%s\nwant\n%s", got, before)
	}

	// Mistakes: no password in any of their errors.
	wrong := strings.Replace(dsn, password, "Wr0ng-"+password[:4], 1)
	for _, tc := range []struct {
		args       []string
		wantStatus int
		wantErr    string
	}{
		{[]string{"--from", dirA, "--to", wrong}, 1, "password authentication failed"},
		{[]string{"--from", dirA}, 2, "--to is required"},
		{[]string{"--from", dirA, "--to", "badger:" + dirA}, 2, "name the same store"},
		{[]string{"--from", "env:GG_TEST_DSN", "--to", dsn}, 2, "name the same store, " + name},
		{[]string{"--from", filepath.Join(t.TempDir(), "none"), "--to", dirB}, 1, "no guestgate store there"},
		{[]string{"--from", dirB, "--to", dirA, "--force"}, 1, "the move needs Caddy stopped"}, // dirB is open in b
	} {
		status, err, out := runMoveCLI(t, tc.args...)
		noPassword("move "+strings.Join(tc.args, " "), out, err)
		if strings.Contains(fmt.Sprint(out, err), "Wr0ng-") {
			t.Errorf("move %v shows the wrong password: %s %v", tc.args, out, err)
		}
		if status != tc.wantStatus || err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("move %v: %d %v, want %d and an error saying %q", tc.args, status, err, tc.wantStatus, tc.wantErr)
		}
	}
	b.Close()
}

// TestMoveSaysARestoreWasCut: a Badger store whose last restore a crash
// cut is emptied by the first Open, which says so; when that Open is a
// move's, the move must print it, or the operator never learns why the
// store is empty.
func TestMoveSaysARestoreWasCut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cut")
	s, err := badger.Open(dir, badger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fillForMove(t, s)
	s.Close()
	// The marker a restore leaves when the process dies during its load.
	db, err := badgerdb.Open(badgerdb.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badgerdb.Txn) error {
		return txn.Set([]byte("replacing"), []byte(`{"op":"restore"}`))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	status, err, out := runMoveCLI(t, "--from", dir, "--to", filepath.Join(t.TempDir(), "to"))
	t.Logf("move: %d %v\n%s", status, err, out)
	if !strings.Contains(out, "stopped before its end") {
		t.Errorf("the move's output does not say that the restore was cut:\n%s", out)
	}
}

// TestMoveFromAnEmptyStore: --force replaces everything in the target, and a
// source that holds no room (a directory Caddy made but never used, the wrong
// path, a store emptied after a cut restore) would replace it with nothing.
// Such a move is refused and the target kept; into an empty target it goes.
func TestMoveFromAnEmptyStore(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	s, err := badger.Open(empty, badger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	full := filepath.Join(t.TempDir(), "full")
	if s, err = badger.Open(full, badger.Options{}); err != nil {
		t.Fatal(err)
	}
	fillForMove(t, s)
	before := records(t, s)
	s.Close()

	status, err, out := runMoveCLI(t, "--from", empty, "--to", full, "--force")
	if status != 1 || err == nil || !strings.Contains(err.Error(), "holds no rooms") {
		t.Errorf("move --force from an empty store: %d %v\n%s\nwant exit 1 saying the source holds no rooms", status, err, out)
	}
	if s, err = badger.Open(full, badger.Options{}); err != nil {
		t.Fatal(err)
	}
	if got := records(t, s); got != before {
		t.Errorf("the target after the refused move holds\n%s\nwant what it held:\n%s", got, before)
	}
	s.Close()

	if status, err, out := runMoveCLI(t, "--from", empty, "--to", filepath.Join(t.TempDir(), "new")); status != 0 {
		t.Errorf("move from an empty store into an empty one: %d %v\n%s", status, err, out)
	}
}

package export

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// memStore is a guestlink.Dumper in memory. Its Load takes every record
// first and replaces the contents only when next said io.EOF, as the
// interface asks of every store, so that a test can tell what the Reader let
// through.
type memStore struct {
	recs    []guestlink.Record
	dumpErr error // Dump fails with it after its first record
	loads   int   // loads that replaced the contents
}

func (m *memStore) Dump(_ context.Context, emit func(guestlink.Record) error) error {
	for i, r := range m.recs {
		if i == 1 && m.dumpErr != nil {
			return m.dumpErr
		}
		if err := emit(r); err != nil {
			return err
		}
	}
	return nil
}

func (m *memStore) Load(_ context.Context, next func() (guestlink.Record, error), force bool) error {
	if len(m.recs) > 0 && !force {
		return guestlink.ErrStoreNotEmpty
	}
	var got []guestlink.Record
	for {
		r, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		got = append(got, r)
	}
	m.recs = got
	m.loads++
	return nil
}

// sample is one record of every kind, in the format's order.
func sample() []guestlink.Record {
	room := guestlink.Room{ID: "demo", Name: "Demo room", Kind: guestlink.KindRoom, Available: true,
		Admission: guestlink.AdmissionModerator, GuestAccess: true, CreatedAt: t0, UpdatedAt: t0.Add(time.Minute)}
	link := guestlink.Link{ID: "l_aaaaaaaaaaaaaaaa", RoomID: "demo", Name: "Speakers", Token: strings.Repeat("A", guestlink.TokenLen),
		MaxClicks: 5, Clicks: 2, CreatedAt: t0, ExpiresAt: t0.AddDate(0, 0, 7)}
	invitation := guestlink.Invitation{ID: "i_aaaaaaaaaaaaaaaa", RoomID: "demo", Token: strings.Repeat("B", guestlink.TokenLen),
		Email: "bob@example.com", Name: "Bob", Role: guestlink.RoleModerator, MaxUses: 1, Uses: 1, CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
	guest := guestlink.Guest{ID: "g_aaaaaaaaaaaaaaaa", RoomID: "demo", LinkID: link.ID, LinkName: link.Name, Name: "Ada",
		Email: "ada@example.com", State: guestlink.StateWaiting, RedeemedAt: t0, UpdatedAt: t0, LastSeen: t0, PurgeAt: t0.AddDate(0, 1, 0)}
	return []guestlink.Record{
		{Room: &room},
		{Link: &link},
		{Invitation: &invitation},
		{Guest: &guest},
		{Secret: &guestlink.Secret{Name: "session-signing-key", Value: bytes.Repeat([]byte{7}, 32)}},
		{Item: &guestlink.QueuedItem{Queue: "hooks", Body: []byte(`{"id":"evt_1"}`), Attempts: 3, NextAt: t0.Add(time.Hour)}},
		{Item: &guestlink.QueuedItem{Queue: "hooks", Body: []byte(`{"id":"evt_2"}`), NextAt: t0}},
	}
}

// written is the export of sample.
func written(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	c, err := Write(context.Background(), &b, &memStore{recs: sample()}, t0)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if want := (Counts{Rooms: 1, Links: 1, Invitations: 1, Guests: 1, Secrets: 1, QueueItems: 2}); c != want {
		t.Fatalf("Write counted %+v, want %+v", c, want)
	}
	return b.Bytes()
}

// TestRoundTrip protects the format's promise: what Write writes, Read loads
// back record for record, every field, and counts.
func TestRoundTrip(t *testing.T) {
	file := written(t)
	if lines := bytes.Count(file, []byte("\n")); lines != len(sample())+2 {
		t.Errorf("the export has %d lines, want a header, %d records and the end record", lines, len(sample()))
	}
	if !bytes.HasPrefix(file, []byte(`{"guestgate_export":{"version":1,"created_at":"2026-03-04T10:00:00Z"}}`+"\n")) {
		t.Errorf("the export starts with %q", file[:min(len(file), 80)])
	}
	dst := &memStore{}
	c, err := Read(context.Background(), bytes.NewReader(file), dst, false)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if c != (Counts{Rooms: 1, Links: 1, Invitations: 1, Guests: 1, Secrets: 1, QueueItems: 2}) {
		t.Errorf("Read counted %+v", c)
	}
	if !reflect.DeepEqual(dst.recs, sample()) {
		t.Errorf("Read loaded\n%+v\nwant\n%+v", dst.recs, sample())
	}
	// Without invitations, the end record counts none, as before there were
	// invitations; an export of the time reads.
	var old bytes.Buffer
	if _, err := Write(context.Background(), &old, &memStore{recs: sample()[:2]}, t0); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(old.String(), "invitation") {
		t.Errorf("an export without invitations speaks of them:\n%s", old.String())
	}
	if c, err := Read(context.Background(), &old, &memStore{}, false); err != nil || c != (Counts{Rooms: 1, Links: 1}) {
		t.Errorf("Read of an export without invitations = %+v, %v", c, err)
	}
	// An empty store exports and loads too.
	var b bytes.Buffer
	if _, err := Write(context.Background(), &b, &memStore{}, t0); err != nil {
		t.Fatal(err)
	}
	if c, err := Read(context.Background(), &b, &memStore{}, false); err != nil || c != (Counts{}) {
		t.Errorf("Read of an empty store's export = %+v, %v", c, err)
	}
}

// TestTruncatedLoadsNothing: a file cut anywhere, at a line's end or inside
// one, is refused before the store changes.
func TestTruncatedLoadsNothing(t *testing.T) {
	file := written(t)
	for n := range len(file) {
		dst := &memStore{}
		_, err := Read(context.Background(), bytes.NewReader(file[:n]), dst, false)
		if !errors.Is(err, guestlink.ErrBadBackup) {
			t.Fatalf("Read of the first %d of %d bytes = %v, want ErrBadBackup", n, len(file), err)
		}
		if dst.loads != 0 {
			t.Fatalf("Read of the first %d of %d bytes loaded %d records", n, len(file), len(dst.recs))
		}
	}
}

// reseal replaces the end record of file with one that counts and checksums
// what is before it, so that a change made by a test is refused for what it
// is and not for the checksum.
func reseal(t *testing.T, file []byte) []byte {
	t.Helper()
	body := file[:bytes.LastIndex(file[:len(file)-1], []byte("\n"))+1]
	rd, err := NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := rd.Next(); err != nil {
			break
		}
	}
	sum := sha256.Sum256(body)
	end, err := json.Marshal(line{End: &end{Counts: rd.Counts(), SHA256: hex.EncodeToString(sum[:])}})
	if err != nil {
		t.Fatal(err)
	}
	return append(append(append([]byte(nil), body...), end...), '\n')
}

// TestRefusesBadExports: every way a file can fail to be a whole, valid
// export is refused with ErrBadBackup and loads nothing, and the error says
// what is wrong.
func TestRefusesBadExports(t *testing.T) {
	file := written(t)
	lines := strings.SplitAfter(string(file), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last '\n'
	join := func(ls ...string) []byte { return []byte(strings.Join(ls, "")) }
	swap := func(old, new string) []byte { return bytes.Replace(file, []byte(old), []byte(new), 1) }
	for _, tc := range []struct {
		name, want string
		input      []byte
	}{
		{"empty", "empty", nil},
		{"a Badger backup", "restore", []byte{0x10, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3}},
		{"a newer version", "version 2", swap(`"version":1`, `"version":2`)},
		{"a changed byte", "checksum", swap(`"name":"Ada"`, `"name":"Eve"`)},
		{"a wrong count", "counts", swap(`"queue_items":2`, `"queue_items":3`)},
		{"a line dropped", "", join(append(lines[:2:2], lines[3:]...)...)},
		{"something after the end", "follows the end", append(append([]byte(nil), file...), "{}\n"...)},
		{"a second export after the end", "follows the end", append(append([]byte(nil), file...), file...)},
		{"no end record", "without the end record", join(lines[:len(lines)-1]...)},
		{"an unknown field", "unknown field", reseal(t, swap(`"name":"Ada"`, `"name":"Ada","rank":"host"`))},
		{"an unknown kind", "unknown field", reseal(t, join(lines[0], `{"webhook":{}}`+"\n", lines[len(lines)-1]))},
		{"two records on a line", "exactly one record", reseal(t, join(lines[0], strings.TrimSuffix(lines[1], "}\n")+`,"secret":{"name":"x","value":"eA=="}}`+"\n", lines[len(lines)-1]))},
		{"a link before its room", "no room before it", reseal(t, join(lines[0], lines[2], lines[1], lines[len(lines)-1]))},
		{"out of order", "out of order", reseal(t, join(lines[0], lines[1], lines[5], lines[2], lines[len(lines)-1]))},
		{"an invitation after a guest", "out of order", reseal(t, join(lines[0], lines[1], lines[4], lines[3], lines[len(lines)-1]))},
		{"a room twice", "second time", reseal(t, join(lines[0], lines[1], lines[1], lines[len(lines)-1]))},
		{"a link twice", "link l_aaaaaaaaaaaaaaaa of room demo a second time", reseal(t, join(lines[0], lines[1], lines[2], lines[2], lines[len(lines)-1]))},
		{"an invitation twice", "invitation i_aaaaaaaaaaaaaaaa of room demo a second time", reseal(t, join(lines[0], lines[1], lines[3], lines[3], lines[len(lines)-1]))},
		{"a guest twice", "guest g_aaaaaaaaaaaaaaaa of room demo a second time", reseal(t, join(lines[0], lines[1], lines[2], lines[4], lines[4], lines[len(lines)-1]))},
		{"a guest before its room", `a guest of room "demo", which no room before it is`, reseal(t, join(lines[0], lines[4], lines[len(lines)-1]))},
		{"an invitation before its room", `an invitation of room "demo", which no room before it is`, reseal(t, join(lines[0], lines[3], lines[len(lines)-1]))},
		{"a bad link id", `link id "l/a" is not valid`, reseal(t, swap(`"id":"l_aaaaaaaaaaaaaaaa"`, `"id":"l/a"`))},
		{"a bad token", "not a link token", reseal(t, swap(strings.Repeat("A", guestlink.TokenLen), "short"))},
		{"a bad invitation token", "invitation i_aaaaaaaaaaaaaaaa: the token is not a link token", reseal(t, swap(strings.Repeat("B", guestlink.TokenLen), "short"))},
		{"an invitation with a link's token", "invitation i_aaaaaaaaaaaaaaaa: a token that another link or invitation has",
			reseal(t, swap(strings.Repeat("B", guestlink.TokenLen), strings.Repeat("A", guestlink.TokenLen)))},
		{"a link with an invitation's id", "link i_aaaaaaaaaaaaaaab: an invitation's id", reseal(t, swap(`"id":"l_aaaaaaaaaaaaaaaa"`, `"id":"i_aaaaaaaaaaaaaaab"`))},
		{"an invitation with a link's id", "invitation l_aaaaaaaaaaaaaaab: not an invitation's id", reseal(t, swap(`"id":"i_aaaaaaaaaaaaaaaa"`, `"id":"l_aaaaaaaaaaaaaaab"`))},
		{"a bad invitation role", `invitation i_aaaaaaaaaaaaaaaa: role "host"`, reseal(t, swap(`"role":"moderator"`, `"role":"host"`))},
		{"an invitation without a role", `invitation i_aaaaaaaaaaaaaaaa: role ""`, reseal(t, swap(`"role":"moderator",`, ``))},
		{"an invitation without an email", "invitation i_aaaaaaaaaaaaaaaa: no email", reseal(t, swap(`"email":"bob@example.com"`, `"email":" "`))},
		{"negative uses", "invitation i_aaaaaaaaaaaaaaaa: negative uses", reseal(t, swap(`"uses":1`, `"uses":-1`))},
		{"a bad room id", "not valid", reseal(t, bytes.ReplaceAll(file, []byte(`"demo"`), []byte(`"de/mo"`)))},
		{"a bad state", "state", reseal(t, swap(`"state":"waiting"`, `"state":"vip"`))},
		{"a bad guest role", `role "host"`, reseal(t, swap(`"state":"waiting"`, `"state":"waiting","role":"host"`))},
		{"a link giving moderator", `role "moderator" (a link gives viewer or speaker)`, reseal(t, swap(`"clicks":`, `"role":"moderator","clicks":`))},
		{"a bad queue name", "queue name", reseal(t, swap(`"queue":"hooks"`, `"queue":"a b"`))},
		{"a second header", "second header", reseal(t, join(lines[0], lines[0], lines[len(lines)-1]))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := &memStore{}
			_, err := Read(context.Background(), bytes.NewReader(tc.input), dst, false)
			if !errors.Is(err, guestlink.ErrBadBackup) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Read = %v, want ErrBadBackup saying %q", err, tc.want)
			}
			if dst.loads != 0 {
				t.Errorf("Read loaded %d records", len(dst.recs))
			}
		})
	}
	// reseal itself makes a file that reads: the cases above fail for their
	// change, not for the seal.
	if _, err := Read(context.Background(), bytes.NewReader(reseal(t, file)), &memStore{}, false); err != nil {
		t.Errorf("Read of a resealed export: %v", err)
	}
}

// TestCopy: Copy moves every record through the format; a target that
// refuses gets its error back and stops the source; a source that fails
// leaves the target as it was and returns the source's error.
func TestCopy(t *testing.T) {
	ctx := context.Background()
	src, dst := &memStore{recs: sample()}, &memStore{}
	c, err := Copy(ctx, src, dst, false, t0)
	if err != nil || c.QueueItems != 2 || !reflect.DeepEqual(dst.recs, sample()) {
		t.Fatalf("Copy = %+v, %v; loaded %d records", c, err, len(dst.recs))
	}
	if _, err := Copy(ctx, src, dst, false, t0); !errors.Is(err, guestlink.ErrStoreNotEmpty) {
		t.Errorf("Copy into a store with records = %v, want ErrStoreNotEmpty", err)
	}
	broken := errors.New("the disk is gone")
	empty := &memStore{}
	if _, err := Copy(ctx, &memStore{recs: sample(), dumpErr: broken}, empty, false, t0); !errors.Is(err, broken) {
		t.Errorf("Copy from a failing source = %v, want its error", err)
	}
	if empty.loads != 0 {
		t.Errorf("a failed Copy loaded %d records", len(empty.recs))
	}
}

// TestCountsString protects what the commands print of an export's counts:
// every kind, in the format's order, invitations only when there are any (as
// the commands printed before there were invitations).
func TestCountsString(t *testing.T) {
	for _, tc := range []struct {
		c    Counts
		want string
	}{
		{Counts{}, "0 rooms, 0 links, 0 guests, 0 secrets, 0 queue items"},
		{Counts{Rooms: 1, Links: 2, Guests: 1, Secrets: 3, QueueItems: 1}, "1 room, 2 links, 1 guest, 3 secrets, 1 queue item"},
		{Counts{Rooms: 2, Links: 1, Invitations: 1, Guests: 4, Secrets: 3}, "2 rooms, 1 link, 1 invitation, 4 guests, 3 secrets, 0 queue items"},
		{Counts{Invitations: 5}, "0 rooms, 0 links, 5 invitations, 0 guests, 0 secrets, 0 queue items"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.c, got, tc.want)
		}
	}
}

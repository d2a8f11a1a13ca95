// Package export is guestgate's store-neutral export: the whole contents of a
// store (guestlink.Dumper) as lines of JSON that a store of any kind loads
// back. "caddy guestgate move" streams one store into another through it, and
// "caddy guestgate export" and "import" write and read it as a file
// (docs/DESIGN.md section 6).
//
// The format, version 1, is UTF-8 text, one JSON object per line, each with
// one key that names what the line holds:
//
//	{"guestgate_export":{"version":1,"created_at":"2026-03-04T10:00:00Z"}}
//	{"room":{"id":"demo","name":"Demo room",...}}                       a guestlink.Room
//	{"link":{"id":"l_...","room_id":"demo","token":"...","clicks":2,...}} a guestlink.Link
//	{"invitation":{"id":"i_...","room_id":"demo","token":"...","uses":1,...}} a guestlink.Invitation
//	{"guest":{"id":"g_...","room_id":"demo","state":"admitted",...}}      a guestlink.Guest
//	{"secret":{"name":"session-signing-key","value":"<base64>"}}          a guestlink.Secret
//	{"queue_item":{"queue":"...","body":"<base64>","attempts":0,"next_at":"..."}}
//	{"end":{"counts":{"rooms":1,"links":1,...},"sha256":"<hex>"}}
//
// The header comes first and the end record last. Between them come the
// rooms, links, invitations, guests, secrets and queue items, in that order
// (a link, an invitation or a guest after its room; each queue's items
// oldest first). Invitations came to version 1 later: an export without
// them has no "invitations" count and reads as before, and a guestgate that
// does not know them refuses an export that holds one (an unknown field),
// rather than loading it without. The end record
// counts the records before it, and its sha256 is the SHA-256 of every byte
// before its line. A reader refuses, with an error wrapping
// guestlink.ErrBadBackup: a version it does not know, a file without its end
// record (a truncated file) or with anything after it, a checksum or a count
// that does not match (a corrupt file), an unknown field, a record out of
// order or twice, and a record that no store could hold (a malformed token or
// one that two links or invitations share, an invalid room id, a role that
// the record cannot give). Since a store loads all or nothing (Dumper.Load), such a
// file loads nothing.
//
// The export holds everything that lets a guest in: link and invitation
// tokens, the invited emails, the session
// signing key, the anti-CSRF key, the identity key and the guests' names and
// emails. Keep it as private as the store itself.
package export

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/guestgate/guestgate/guestlink"
)

// Version is the version of the format that this package writes, and the
// newest it reads.
const Version = 1

// maxLine bounds one line of an export, in bytes: far above any record (a
// webhook event is some hundred bytes), so that a file that is not an export
// is refused instead of read whole into memory.
const maxLine = 16 << 20

// Counts are how many records of each kind an export holds.
type Counts struct {
	Rooms int `json:"rooms"`
	Links int `json:"links"`
	// Invitations is left out of the JSON when 0, as in exports from before
	// invitations.
	Invitations int `json:"invitations,omitempty"`
	Guests      int `json:"guests"`
	Secrets     int `json:"secrets"`
	QueueItems  int `json:"queue_items"`
}

// String is the counts for people: "2 rooms, 3 links, 10 guests, 3 secrets,
// 1 queue item", with "1 invitation" after the links when there are any.
func (c Counts) String() string {
	parts := make([]string, 0, 6)
	for _, p := range []struct {
		n          int
		one, other string
		optional   bool // said only when not 0
	}{
		{c.Rooms, "room", "rooms", false}, {c.Links, "link", "links", false}, {c.Invitations, "invitation", "invitations", true},
		{c.Guests, "guest", "guests", false}, {c.Secrets, "secret", "secrets", false}, {c.QueueItems, "queue item", "queue items", false},
	} {
		if p.n == 0 && p.optional {
			continue
		}
		word := p.other
		if p.n == 1 {
			word = p.one
		}
		parts = append(parts, fmt.Sprintf("%d %s", p.n, word))
	}
	return strings.Join(parts, ", ")
}

// Header is the first line's content.
type Header struct {
	// Version is the format's version.
	Version int `json:"version"`
	// CreatedAt is when the export was written (UTC), for people.
	CreatedAt time.Time `json:"created_at"`
}

// end is the last line's content.
type end struct {
	Counts Counts `json:"counts"`
	SHA256 string `json:"sha256"`
}

// line is one line of an export: exactly one field is set.
type line struct {
	Header     *Header               `json:"guestgate_export,omitempty"`
	Room       *guestlink.Room       `json:"room,omitempty"`
	Link       *guestlink.Link       `json:"link,omitempty"`
	Invitation *guestlink.Invitation `json:"invitation,omitempty"`
	Guest      *guestlink.Guest      `json:"guest,omitempty"`
	Secret     *guestlink.Secret     `json:"secret,omitempty"`
	Item       *guestlink.QueuedItem `json:"queue_item,omitempty"`
	End        *end                  `json:"end,omitempty"`
}

// Write writes the contents of src (guestlink.Dumper.Dump) to w in the export
// format, with now as the header's CreatedAt, and returns what it wrote. When
// it fails (src, or writing to w), what it wrote has no end record, which
// Read refuses.
func Write(ctx context.Context, w io.Writer, src guestlink.Dumper, now time.Time) (Counts, error) {
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 64<<10)
	put := func(l line) error {
		b, err := json.Marshal(l)
		if err != nil {
			return fmt.Errorf("export: encoding a record: %w", err)
		}
		if _, err := bw.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("export: writing: %w", err)
		}
		return nil
	}
	var c Counts
	if err := put(line{Header: &Header{Version: Version, CreatedAt: now.UTC()}}); err != nil {
		return c, err
	}
	err := src.Dump(ctx, func(r guestlink.Record) error {
		l, ok := fromRecord(r, &c)
		if !ok {
			return errors.New("export: the store handed out an empty record")
		}
		return put(l)
	})
	if err != nil {
		return c, err
	}
	// The checksum covers what was written before the end record's line.
	if err := bw.Flush(); err != nil {
		return c, fmt.Errorf("export: writing: %w", err)
	}
	if err := put(line{End: &end{Counts: c, SHA256: hex.EncodeToString(h.Sum(nil))}}); err != nil {
		return c, err
	}
	if err := bw.Flush(); err != nil {
		return c, fmt.Errorf("export: writing: %w", err)
	}
	return c, nil
}

// fromRecord is the line of r, counted in c; ok is false for an empty record.
func fromRecord(r guestlink.Record, c *Counts) (l line, ok bool) {
	switch {
	case r.Room != nil:
		c.Rooms++
		return line{Room: r.Room}, true
	case r.Link != nil:
		c.Links++
		return line{Link: r.Link}, true
	case r.Invitation != nil:
		c.Invitations++
		return line{Invitation: r.Invitation}, true
	case r.Guest != nil:
		c.Guests++
		return line{Guest: r.Guest}, true
	case r.Secret != nil:
		c.Secrets++
		return line{Secret: r.Secret}, true
	case r.Item != nil:
		c.QueueItems++
		return line{Item: r.Item}, true
	}
	return line{}, false
}

// statser is a Dumper that counts its rooms (every guestlink.Store).
type statser interface {
	Stats(ctx context.Context) (guestlink.Stats, error)
}

// Read loads the export read from r into dst (guestlink.Dumper.Load), all or
// nothing, and returns what it loaded. A file that is not a whole, valid
// export is an error wrapping guestlink.ErrBadBackup, and dst is left as it
// was; so it is after the errors of Load (guestlink.ErrStoreNotEmpty unless
// force, guestlink.ErrStoreBusy), and after guestlink.ErrWouldEmpty: with
// force, an export that holds no room is refused for a store that holds
// some.
func Read(ctx context.Context, r io.Reader, dst guestlink.Dumper, force bool) (Counts, error) {
	rd, err := NewReader(r)
	if err != nil {
		return Counts{}, err
	}
	next := rd.Next
	if st, ok := dst.(statser); ok && force {
		// The store is counted before Load takes a connection or a lock of
		// its own; the input's rooms are known at its end, where the error
		// makes Load change nothing.
		held, err := st.Stats(ctx)
		if err != nil {
			return Counts{}, err
		}
		next = func() (guestlink.Record, error) {
			rec, err := rd.Next()
			if errors.Is(err, io.EOF) && rd.counts.Rooms == 0 && held.Rooms > 0 {
				return rec, fmt.Errorf("%w (%d rooms): nothing was changed", guestlink.ErrWouldEmpty, held.Rooms)
			}
			return rec, err
		}
	}
	if err := dst.Load(ctx, next, force); err != nil {
		return Counts{}, err
	}
	if !rd.done {
		// Load returned before next said io.EOF: it loaded what was not
		// checked whole. A defect of the store; say so.
		return rd.Counts(), errors.New("export: the store finished loading before the end of the export")
	}
	return rd.Counts(), nil
}

// Copy loads the contents of src into dst through the export format, so that
// dst checks them as it would a file, all or nothing, and returns what it
// copied. src is left as it was. Errors are those of Write (src's first) and
// Read.
func Copy(ctx context.Context, src, dst guestlink.Dumper, force bool, now time.Time) (Counts, error) {
	pr, pw := io.Pipe()
	werr := make(chan error, 1)
	go func() {
		_, err := Write(ctx, pw, src, now)
		pw.CloseWithError(err)
		werr <- err
	}()
	c, err := Read(ctx, pr, dst, force)
	// Unblock the writer if the reader stopped early (dst refused).
	pr.CloseWithError(errTargetStopped)
	if wErr := <-werr; wErr != nil && err != nil && !errors.Is(wErr, errTargetStopped) {
		return Counts{}, wErr // what went wrong first: the source
	}
	return c, err
}

// errTargetStopped is what Copy's writer gets once the reader stopped.
var errTargetStopped = errors.New("export: the target stopped reading")

// Reader reads an export, checking it as it goes. Make one with NewReader.
type Reader struct {
	sc     *bufio.Scanner
	hash   hash.Hash
	header Header
	n      int // lines read
	counts Counts
	done   bool
	// stage is the rank of the last record's kind (rankRoom...), which the
	// next record's may not be below.
	stage int
	// What was read, to refuse a second record of the same id and a link or
	// guest of an unknown room.
	rooms       map[string]bool
	links       map[[2]string]bool
	invitations map[[2]string]bool
	tokens      map[string]bool // of links and invitations
	guests      map[[2]string]bool
	secrets     map[string]bool
}

// Ranks of the kinds of record, in the order of the format.
const (
	rankRoom = iota + 1
	rankLink
	rankInvitation
	rankGuest
	rankSecret
	rankItem
)

// NewReader reads the header of the export in r and returns the Reader of
// the rest. A file that does not start with the header of a version this
// package knows is an error wrapping guestlink.ErrBadBackup.
func NewReader(r io.Reader) (*Reader, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	sc.Split(splitLines)
	rd := &Reader{
		sc: sc, hash: sha256.New(),
		rooms: map[string]bool{}, links: map[[2]string]bool{}, invitations: map[[2]string]bool{}, tokens: map[string]bool{},
		guests: map[[2]string]bool{}, secrets: map[string]bool{},
	}
	raw, err := rd.line()
	var l line
	switch {
	case errors.Is(err, io.EOF):
		return nil, fmt.Errorf("%w: the file is empty", guestlink.ErrBadBackup)
	case errors.Is(err, errUnterminated) && json.Unmarshal(raw, &l) == nil && l.Header != nil:
		return nil, err // a header cut short, with nothing after it
	case err != nil && !errors.Is(err, errUnterminated):
		return nil, err
	}
	rd.hash.Write(raw)
	if json.Unmarshal(raw, &l) != nil || l.Header == nil {
		return nil, fmt.Errorf("%w: it does not start with the header of a guestgate export "+
			"(a backup made by 'caddy guestgate backup' is restored with 'caddy guestgate restore')", guestlink.ErrBadBackup)
	}
	if l.Header.Version != Version {
		return nil, fmt.Errorf("%w: export format version %d; this guestgate reads version %d (an export of a newer guestgate needs that guestgate)",
			guestlink.ErrBadBackup, l.Header.Version, Version)
	}
	if err := rd.decode(raw, &l); err != nil {
		return nil, err
	}
	rd.header = *l.Header
	return rd, nil
}

// Header is the export's header.
func (rd *Reader) Header() Header { return rd.header }

// Counts is what Next returned so far.
func (rd *Reader) Counts() Counts { return rd.counts }

// splitLines is bufio.ScanLines keeping each line's '\n', so that the
// checksum covers the bytes as written, and an unterminated last line is
// seen as one.
func splitLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i+1], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// errUnterminated is line's error for a last line without its '\n'.
var errUnterminated = fmt.Errorf("%w: the file ends in the middle of a line: it is truncated", guestlink.ErrBadBackup)

// line reads the next line, with its '\n'; io.EOF at the end of the input,
// errUnterminated with the line when it lacks its '\n'.
func (rd *Reader) line() ([]byte, error) {
	if !rd.sc.Scan() {
		err := rd.sc.Err()
		switch {
		case err == nil:
			return nil, io.EOF
		case errors.Is(err, bufio.ErrTooLong):
			return nil, rd.bad("a line longer than %d bytes: this is not an export", maxLine)
		}
		return nil, fmt.Errorf("export: reading: %w", err)
	}
	rd.n++
	raw := rd.sc.Bytes()
	if raw[len(raw)-1] != '\n' {
		return raw, fmt.Errorf("%w (line %d)", errUnterminated, rd.n)
	}
	return raw, nil
}

// bad is an error wrapping guestlink.ErrBadBackup about the current line.
func (rd *Reader) bad(format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", guestlink.ErrBadBackup, rd.n, fmt.Sprintf(format, args...))
}

// decode reads raw into l strictly: one JSON object, no unknown field,
// exactly one record.
func (rd *Reader) decode(raw []byte, l *line) error {
	*l = line{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(l); err != nil {
		return rd.bad("not a record of this export version: %v", err)
	}
	if dec.More() {
		return rd.bad("more than one JSON value")
	}
	n := 0
	for _, set := range []bool{l.Header != nil, l.Room != nil, l.Link != nil, l.Invitation != nil, l.Guest != nil, l.Secret != nil, l.Item != nil, l.End != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return rd.bad("a line holds exactly one record, this one %d", n)
	}
	return nil
}

// Next returns the next record, checked; io.EOF after the end record, once
// the whole export was found whole and valid. Any other error wraps
// guestlink.ErrBadBackup (the file is not a whole, valid export) or is the
// error of reading.
func (rd *Reader) Next() (guestlink.Record, error) {
	if rd.done {
		return guestlink.Record{}, io.EOF
	}
	sum := rd.hash.Sum(nil) // of everything before this line
	raw, err := rd.line()
	if errors.Is(err, io.EOF) {
		return guestlink.Record{}, fmt.Errorf("%w: the file ends after line %d without the end record: it is truncated", guestlink.ErrBadBackup, rd.n)
	}
	if err != nil {
		return guestlink.Record{}, err
	}
	rd.hash.Write(raw)
	var l line
	if err := rd.decode(raw, &l); err != nil {
		return guestlink.Record{}, err
	}
	if l.End != nil {
		return guestlink.Record{}, rd.finish(*l.End, sum)
	}
	return rd.check(l)
}

// finish checks the end record against what was read, and that nothing
// follows it; io.EOF when all is well.
func (rd *Reader) finish(e end, sum []byte) error {
	if e.SHA256 != hex.EncodeToString(sum) {
		return rd.bad("the checksum does not match: the file was changed or damaged")
	}
	if e.Counts != rd.counts {
		return rd.bad("the end record counts %+v, the file holds %+v", e.Counts, rd.counts)
	}
	if _, err := rd.line(); !errors.Is(err, io.EOF) {
		if err != nil && !errors.Is(err, guestlink.ErrBadBackup) {
			return err
		}
		return rd.bad("something follows the end record")
	}
	rd.done = true
	return io.EOF
}

// check checks one record of l and counts it.
func (rd *Reader) check(l line) (guestlink.Record, error) {
	var (
		rank int
		err  error
		rec  guestlink.Record
	)
	switch {
	case l.Header != nil:
		return rec, rd.bad("a second header")
	case l.Room != nil:
		rank, rec.Room, err = rankRoom, l.Room, rd.checkRoom(*l.Room)
	case l.Link != nil:
		rank, rec.Link, err = rankLink, l.Link, rd.checkLink(*l.Link)
	case l.Invitation != nil:
		rank, rec.Invitation, err = rankInvitation, l.Invitation, rd.checkInvitation(*l.Invitation)
	case l.Guest != nil:
		rank, rec.Guest, err = rankGuest, l.Guest, rd.checkGuest(*l.Guest)
	case l.Secret != nil:
		rank, rec.Secret, err = rankSecret, l.Secret, rd.checkSecret(*l.Secret)
	case l.Item != nil:
		rank, rec.Item, err = rankItem, l.Item, rd.checkItem(*l.Item)
	}
	if err != nil {
		return guestlink.Record{}, err
	}
	if rank < rd.stage {
		return guestlink.Record{}, rd.bad("records out of order: rooms, links, invitations, guests, secrets, then queue items")
	}
	rd.stage = rank
	fromRecord(rec, &rd.counts)
	return rec, nil
}

func (rd *Reader) checkRoom(r guestlink.Room) error {
	switch {
	case !guestlink.ValidRoomID(r.ID):
		return rd.bad("room id %q is not valid", r.ID)
	case rd.rooms[r.ID]:
		return rd.bad("room %s a second time", r.ID)
	case r.Kind != guestlink.KindRoom && r.Kind != guestlink.KindGallery:
		return rd.bad("room %s: kind %q", r.ID, r.Kind)
	case r.Admission != guestlink.AdmissionAuto && r.Admission != guestlink.AdmissionModerator:
		return rd.bad("room %s: admission %q", r.ID, r.Admission)
	}
	rd.rooms[r.ID] = true
	return nil
}

// checkOfRoom refuses a record of a room (kind is "link", "invitation" or
// "guest") whose
// room came not before it, whose id is not valid, or that came already; seen
// holds the room and id of every such record accepted.
func (rd *Reader) checkOfRoom(kind, room, id string, seen map[[2]string]bool) error {
	switch {
	case !rd.rooms[room]:
		article := "a"
		if strings.HasPrefix(kind, "i") {
			article = "an"
		}
		return rd.bad("%s %s of room %q, which no room before it is", article, kind, room)
	case !validKey(id):
		return rd.bad("%s id %q is not valid", kind, id)
	case seen[[2]string{room, id}]:
		return rd.bad("%s %s of room %s a second time", kind, id, room)
	}
	return nil
}

func (rd *Reader) checkLink(l guestlink.Link) error {
	if err := rd.checkOfRoom("link", l.RoomID, l.ID, rd.links); err != nil {
		return err
	}
	switch {
	case guestlink.IsInvitation(l.ID):
		return rd.bad("link %s: an invitation's id", l.ID)
	case !guestlink.WellFormedToken(l.Token):
		return rd.bad("link %s: the token is not a link token", l.ID)
	case rd.tokens[l.Token]:
		return rd.bad("link %s: a token that another link or invitation has", l.ID)
	case l.MaxClicks < 0 || l.Clicks < 0:
		return rd.bad("link %s: negative clicks", l.ID)
	case l.Role != "" && l.Role != guestlink.RoleViewer && l.Role != guestlink.RoleSpeaker:
		return rd.bad("link %s: role %q (a link gives viewer or speaker)", l.ID, l.Role)
	}
	rd.links[[2]string{l.RoomID, l.ID}], rd.tokens[l.Token] = true, true
	return nil
}

func (rd *Reader) checkInvitation(v guestlink.Invitation) error {
	if err := rd.checkOfRoom("invitation", v.RoomID, v.ID, rd.invitations); err != nil {
		return err
	}
	switch {
	case !guestlink.IsInvitation(v.ID):
		return rd.bad("invitation %s: not an invitation's id", v.ID)
	case !guestlink.WellFormedToken(v.Token):
		return rd.bad("invitation %s: the token is not a link token", v.ID)
	case rd.tokens[v.Token]:
		return rd.bad("invitation %s: a token that another link or invitation has", v.ID)
	case v.MaxUses < 0 || v.Uses < 0:
		return rd.bad("invitation %s: negative uses", v.ID)
	case !slices.Contains(guestlink.Roles, v.Role):
		return rd.bad("invitation %s: role %q", v.ID, v.Role)
	case strings.TrimSpace(v.Email) == "":
		return rd.bad("invitation %s: no email", v.ID)
	case v.ExpiresAt.IsZero():
		return rd.bad("invitation %s: no expiry (an invitation always expires)", v.ID)
	}
	rd.invitations[[2]string{v.RoomID, v.ID}], rd.tokens[v.Token] = true, true
	return nil
}

func (rd *Reader) checkGuest(g guestlink.Guest) error {
	if err := rd.checkOfRoom("guest", g.RoomID, g.ID, rd.guests); err != nil {
		return err
	}
	switch g.State {
	case guestlink.StateWaiting, guestlink.StateAdmitted, guestlink.StateDeclined, guestlink.StateRemoved, guestlink.StateLeft:
	default:
		return rd.bad("guest %s: state %q", g.ID, g.State)
	}
	if g.Role != "" && !slices.Contains(guestlink.Roles, g.Role) {
		return rd.bad("guest %s: role %q", g.ID, g.Role)
	}
	rd.guests[[2]string{g.RoomID, g.ID}] = true
	return nil
}

func (rd *Reader) checkSecret(s guestlink.Secret) error {
	switch {
	case !validKey(s.Name):
		return rd.bad("secret name %q is not valid", s.Name)
	case rd.secrets[s.Name]:
		return rd.bad("secret %s a second time", s.Name)
	case len(s.Value) == 0:
		return rd.bad("secret %s is empty", s.Name)
	}
	rd.secrets[s.Name] = true
	return nil
}

func (rd *Reader) checkItem(it guestlink.QueuedItem) error {
	switch {
	case !guestlink.ValidQueueName(it.Queue):
		return rd.bad("queue name %q is not valid", it.Queue)
	case it.Attempts < 0:
		return rd.bad("a queue item with negative attempts")
	}
	return nil
}

// validKey reports whether s may be a link or guest id, or a secret's name,
// in any store: 1 to 256 bytes of UTF-8, without NUL or '/'.
func validKey(s string) bool {
	return s != "" && len(s) <= 256 && utf8.ValidString(s) && !strings.ContainsAny(s, "\x00/")
}

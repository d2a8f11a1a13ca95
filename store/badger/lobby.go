package badger

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/waiters"
)

// SetGuestState moves guest guestID of room roomID to state to at now by
// guestlink.Transition, in one transaction that re-reads the guest, and returns
// the guest as it is afterwards with Transition's error unchanged
// (guestlink.ErrAlreadyDecided, with the guest as it was). The guest is written
// only when it changed; then the WaitGuest callers of the guest are woken.
// guestlink.ErrGuestNotFound if there is no such guest (or the ids are
// malformed), or if the guest's PurgeAt is not after now: the record is then
// deleted instead of written.
func (s *Store) SetGuestState(ctx context.Context, roomID, guestID, to string, now time.Time) (guestlink.Guest, error) {
	var terr error
	out, changed, purged, err := s.rewriteGuest(ctx, roomID, guestID, now, func(g guestlink.Guest) (next guestlink.Guest, changed bool) {
		next, changed, terr = guestlink.Transition(g, to, now)
		return next, changed
	})
	if err != nil {
		return guestlink.Guest{}, err
	}
	if changed {
		s.guestsChanged(waiters.Key(roomID, guestID))
	}
	if purged {
		return guestlink.Guest{}, guestlink.ErrGuestNotFound
	}
	return out, terr
}

// rewriteGuest re-reads guest guestID of room roomID and writes what next
// makes of it at now, in one transaction; next says whether to write
// (written) or leave the guest as it is. It returns next's guest, and purged
// when the write deleted the guest instead, its PurgeAt not being after now.
// guestlink.ErrGuestNotFound if there is no such guest.
func (s *Store) rewriteGuest(ctx context.Context, roomID, guestID string, now time.Time,
	next func(g guestlink.Guest) (out guestlink.Guest, write bool),
) (out guestlink.Guest, written, purged bool, err error) {
	err = s.update(ctx, func(txn *badgerdb.Txn) error {
		out, written, purged = guestlink.Guest{}, false, false
		g, err := getGuest(txn, roomID, guestID)
		if err != nil {
			return err
		}
		out, written = next(g)
		if !written {
			return nil
		}
		purged, err = writeGuest(txn, roomID, out, now)
		return err
	})
	return out, written, purged, err
}

// errAdmitFewer asks AdmitAll to run a batch again with at most n guests: the
// change of guest n+1 only partly fit in the transaction (errHalfWritten).
type errAdmitFewer struct{ n int }

func (e errAdmitFewer) Error() string {
	return fmt.Sprintf("guestgate store: admitting %d guests at most", e.n)
}

// AdmitAll admits, at now, every guest of room roomID who is waiting and was
// seen at or after seenSince (guestlink.InLobby with the caller's cut-off), and
// returns them as admitted, oldest first (by RedeemedAt, then ID); an empty,
// non-nil slice when there were none. guestlink.ErrRoomNotFound if the room does
// not exist.
//
// It is one transaction that re-reads the room and its guests. When the
// admissions do not fit in one Badger transaction (badgerdb.ErrTxnTooBig), they
// are committed in batches of as many guests as fit, each batch re-reading the
// room and the guests; every guest's own change is in one batch. If a batch
// fails, the error is returned and the batches committed before it stay.
// A waiting guest whose PurgeAt is not after now is deleted, not admitted.
// The WaitGuest callers of the changed guests are woken after each commit.
func (s *Store) AdmitAll(ctx context.Context, roomID string, seenSince, now time.Time) ([]guestlink.Guest, error) {
	var (
		admitted []guestlink.Guest
		touched  []string
		more     bool
	)
	run := func(batch bool, limit int) error {
		return s.update(ctx, func(txn *badgerdb.Txn) error {
			var err error
			admitted, touched, more, err = admitWaiting(txn, roomID, seenSince, now, batch, limit)
			return err
		})
	}
	err := run(false, 0)
	if err == nil {
		s.guestsChanged(touched...)
		return sortOldest(admitted), nil
	}
	if !errors.Is(err, badgerdb.ErrTxnTooBig) {
		return nil, err
	}
	// Too big for one transaction: commit in batches.
	all := []guestlink.Guest{}
	limit := 0
	for {
		err := run(true, limit)
		var fewer errAdmitFewer
		if errors.As(err, &fewer) {
			limit = fewer.n
			continue
		}
		if err != nil {
			return nil, err
		}
		s.guestsChanged(touched...)
		all = append(all, admitted...)
		if !more {
			return sortOldest(all), nil
		}
	}
}

// admitWaiting admits in txn the waiting guests of room roomID seen at or after
// seenSince, at most limit of them when limit > 0. In batch mode, a guest that
// does not fit in txn ends the batch (more is true) and the guests before it are
// committed; otherwise badgerdb.ErrTxnTooBig is returned. touched lists the
// waiter keys of the guests changed (admitted or purged).
func admitWaiting(txn *badgerdb.Txn, roomID string, seenSince, now time.Time, batch bool, limit int) (admitted []guestlink.Guest, touched []string, more bool, err error) {
	if _, err := getRoom(txn, roomID); err != nil {
		return nil, nil, false, err
	}
	gs, err := roomGuests(txn, roomID)
	if err != nil {
		return nil, nil, false, err
	}
	admitted = []guestlink.Guest{}
	done := 0
	for _, g := range gs {
		if g.State != guestlink.StateWaiting || g.LastSeen.Before(seenSince) {
			continue
		}
		if limit > 0 && done >= limit {
			return admitted, touched, true, nil
		}
		next, changed, err := guestlink.Transition(g, guestlink.StateAdmitted, now)
		if err != nil || !changed {
			continue // cannot happen for a waiting guest
		}
		purged, err := writeGuest(txn, roomID, next, now)
		switch {
		case batch && errors.Is(err, errHalfWritten):
			if done == 0 {
				return nil, nil, false, err
			}
			return nil, nil, false, errAdmitFewer{n: done}
		case batch && errors.Is(err, badgerdb.ErrTxnTooBig):
			if done == 0 {
				return nil, nil, false, err
			}
			return admitted, touched, true, nil
		case err != nil:
			return nil, nil, false, err
		}
		done++
		touched = append(touched, waiters.Key(roomID, g.ID))
		if !purged {
			admitted = append(admitted, next)
		}
	}
	return admitted, touched, false, nil
}

// sortOldest sorts gs oldest first: by RedeemedAt, then by ID.
func sortOldest(gs []guestlink.Guest) []guestlink.Guest {
	slices.SortFunc(gs, func(a, b guestlink.Guest) int {
		return cmp.Or(a.RedeemedAt.Compare(b.RedeemedAt), cmp.Compare(a.ID, b.ID))
	})
	return gs
}

// Lobby returns the guests of room roomID who are waiting and were seen at or
// after seenSince (guestlink.InLobby with the caller's cut-off), oldest first (by
// RedeemedAt, then ID), in one read-only transaction; an empty, non-nil slice
// when there are none. guestlink.ErrRoomNotFound if the room does not exist.
func (s *Store) Lobby(ctx context.Context, roomID string, seenSince time.Time) ([]guestlink.Guest, error) {
	out := []guestlink.Guest{}
	err := s.view(ctx, func(txn *badgerdb.Txn) error {
		if _, err := getRoom(txn, roomID); err != nil {
			return err
		}
		gs, err := roomGuests(txn, roomID)
		if err != nil {
			return err
		}
		for _, g := range gs {
			if g.State == guestlink.StateWaiting && !g.LastSeen.Before(seenSince) {
				out = append(out, g)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sortOldest(out), nil
}

// Guests returns one page of the guest list of room roomID: every guest record
// of the room, whatever its state, newest first (by RedeemedAt, then by ID), in
// one read-only transaction. limit is the page size, 1 to 1000 (a limit <= 0
// means 100, a larger one 1000). cursor is "" for the first page, and the next
// cursor returned with the previous page for the following ones; next is "" on
// the last page. The page is an empty, non-nil slice when there are no guests.
//
// A cursor that Guests did not make is a *guestlink.ValidationError for the
// field "cursor"; guestlink.ErrRoomNotFound if the room does not exist. A page
// that starts at a cursor is stable under concurrent redemptions (newer guests
// sort before the cursor) and deletions.
func (s *Store) Guests(ctx context.Context, roomID string, limit int, cursor string) ([]guestlink.Guest, string, error) {
	limit = guestlink.GuestPageSize(limit)
	after, err := parseCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	var (
		out  []guestlink.Guest
		next string
	)
	err = s.view(ctx, func(txn *badgerdb.Txn) error {
		if _, err := getRoom(txn, roomID); err != nil {
			return err
		}
		prefix := newestPrefix(roomID)
		opts := badgerdb.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		seek := prefix
		if after != "" {
			// The first key after the cursor's: no key lies between k and k+"\x00".
			seek = append([]byte(string(prefix)+after), 0)
		}
		out, next = make([]guestlink.Guest, 0, min(limit, 64)), ""
		last := ""
		for it.Seek(seek); it.Valid(); it.Next() {
			suffix := string(it.Item().Key()[len(prefix):])
			_, guestID, ok := cutLast(suffix)
			if !ok {
				continue
			}
			g, err := getGuest(txn, roomID, guestID)
			if errors.Is(err, guestlink.ErrGuestNotFound) {
				continue // expired a moment ago, or a stale index key
			}
			if err != nil {
				return err
			}
			if len(out) == limit {
				next = encodeCursor(last)
				return nil
			}
			out, last = append(out, g), suffix
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// cutLast splits an index key suffix "<rev>/<guest id>".
func cutLast(suffix string) (rev, guestID string, ok bool) {
	if len(suffix) < 18 || suffix[16] != '/' {
		return "", "", false
	}
	rev, guestID = suffix[:16], suffix[17:]
	return rev, guestID, validPart(guestID)
}

// SeenGuest returns guest guestID of room roomID and records that their lobby
// page asked for their status at now: when the guest is waiting and was last
// seen guestlink.SeenInterval or longer before now, LastSeen becomes now (one
// transaction that re-reads the guest) and the guest is returned as written.
// Otherwise nothing is written and the guest comes from one read-only
// transaction. guestlink.ErrGuestNotFound if there is no such guest, or if the
// write was due and the guest's PurgeAt is not after now (it is then deleted).
func (s *Store) SeenGuest(ctx context.Context, roomID, guestID string, now time.Time) (guestlink.Guest, error) {
	g, err := s.Guest(ctx, roomID, guestID)
	if err != nil || !seenDue(g, now) {
		return g, err
	}
	g, _, purged, err := s.rewriteGuest(ctx, roomID, guestID, now, func(cur guestlink.Guest) (guestlink.Guest, bool) {
		if !seenDue(cur, now) {
			return cur, false // another caller wrote it meanwhile
		}
		cur.LastSeen = now
		return cur, true
	})
	if err != nil {
		return guestlink.Guest{}, err
	}
	if purged {
		s.guestsChanged(waiters.Key(roomID, guestID))
		return guestlink.Guest{}, guestlink.ErrGuestNotFound
	}
	return g, nil
}

// seenDue reports whether SeenGuest writes LastSeen = now for g.
func seenDue(g guestlink.Guest, now time.Time) bool {
	return g.State == guestlink.StateWaiting && now.Sub(g.LastSeen) >= guestlink.SeenInterval
}

// WaitGuest returns guest guestID of room roomID as soon as its State differs
// from state (at once if it already does), or, when ctx is done first, the guest
// as it is then with a nil error, so that a long-polling caller just answers with
// the current state. guestlink.ErrGuestNotFound if there is no such guest, also
// when it is deleted while waiting (DeleteRoom, a purge on write); ErrClosed
// when the Store is closed.
//
// Only changes made through this Store wake it (SetGuestState, AdmitAll,
// DeleteRoom, a purge by SeenGuest, Close): it waits on an in-process registry, in the caller's goroutine,
// and leaves nothing behind when it returns. A guest record that expires by its
// TTL while the caller waits is noticed when ctx is done.
func (s *Store) WaitGuest(ctx context.Context, roomID, guestID, state string) (guestlink.Guest, error) {
	if !guestlink.ValidRoomID(roomID) || !validPart(guestID) {
		return guestlink.Guest{}, guestlink.ErrGuestNotFound
	}
	// The reads must succeed after ctx is done, to return the current guest.
	rctx := context.WithoutCancel(ctx)
	return s.waiters.Wait(ctx, waiters.Key(roomID, guestID), state, func() (guestlink.Guest, error) {
		return s.Guest(rctx, roomID, guestID)
	})
}

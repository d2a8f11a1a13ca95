package guestlink

import (
	"context"
	"time"
)

// Store keeps rooms, links and guests. Every method that changes state is atomic
// (one transaction, retried on conflict by the implementation), and re-checks the
// domain rules (CheckNewLink, CheckLinkOpen, ...) on the state it read inside that
// transaction, so concurrent callers can never break a rule: a link with MaxClicks
// N is redeemed exactly N times, never N+1.
//
// A limit that counts records (max_links counts a room's links) needs more than a
// read inside the transaction: two transactions that each count and insert a
// different key do not conflict. Implementations must also write the record they
// counted under (the room), so that racing writers conflict and one retries.
//
// Implementations: store/badger (one process, embedded). The interface carries no
// Badger types so that a clustered implementation can follow without touching the
// handlers. Methods return the sentinel errors of this package, wrapped or not;
// callers test them with errors.Is.
type Store interface {
	// PutRoom creates room id from the normalized spec, or updates it, at now.
	// created is true when the room did not exist.
	PutRoom(ctx context.Context, id string, spec RoomSpec, now time.Time) (room Room, created bool, err error)
	// Room returns room id, or ErrRoomNotFound.
	Room(ctx context.Context, id string) (Room, error)
	// DeleteRoom removes room id with its links and guests; ErrRoomNotFound if absent.
	DeleteRoom(ctx context.Context, id string) error
	// SetGuestAccess flips the room's guest access switch (CheckGuestAccess applies).
	SetGuestAccess(ctx context.Context, id string, on bool, now time.Time) (Room, error)

	// Links lists the room's links, oldest first; ErrRoomNotFound if absent.
	Links(ctx context.Context, roomID string) ([]Link, error)
	// AddLink stores l, a link made by LinkSpec.NewLink, if CheckNewLink allows it
	// for l.RoomID with maxLinks.
	AddLink(ctx context.Context, l Link, maxLinks int) (Link, error)
	// DeleteLink removes a link at once and for good; ErrLinkNotFound if absent.
	DeleteLink(ctx context.Context, roomID, linkID string) error
	// LinkByToken finds the link whose token is token and its room; ErrLinkNotFound
	// if there is none. It never writes.
	LinkByToken(ctx context.Context, token string) (Room, Link, error)

	// Redeem spends one click of the link with token for guest g (whose ID, Name and
	// Email are set) at now, if CheckLinkOpen allows it, and stores the guest with
	// its room, link and InitialState. It returns the room, the link after the
	// click and the stored guest.
	Redeem(ctx context.Context, token string, g Guest, now time.Time) (Room, Link, Guest, error)
	// Guest returns a guest of a room, or ErrGuestNotFound.
	Guest(ctx context.Context, roomID, guestID string) (Guest, error)
	// Session reads the live state that decides whether a guest's session still
	// opens the room and returns CheckSession's verdict with the room and guest.
	Session(ctx context.Context, roomID, linkID, guestID string) (Room, Guest, error)

	// SetGuestState moves a guest of the room to state to by Transition's rules
	// (admit, decline, remove, left) and returns the guest as it now is: its
	// UpdatedAt equals now exactly when this call changed the state.
	// ErrGuestNotFound, ErrAlreadyDecided. Waiters on the guest are woken.
	SetGuestState(ctx context.Context, roomID, guestID, to string, now time.Time) (Guest, error)
	// AdmitAll admits every waiting guest of the room last seen at or after
	// seenSince and returns them, oldest first; ErrRoomNotFound.
	AdmitAll(ctx context.Context, roomID string, seenSince, now time.Time) ([]Guest, error)
	// Lobby lists the room's waiting guests last seen at or after seenSince,
	// oldest first; ErrRoomNotFound.
	Lobby(ctx context.Context, roomID string, seenSince time.Time) ([]Guest, error)
	// Guests lists every guest of the room, newest first, limit at a time (1 to
	// 1000; 0 means 100) from an opaque cursor; next is "" after the last page.
	// A malformed cursor is a *ValidationError on field "cursor"; ErrRoomNotFound.
	Guests(ctx context.Context, roomID string, limit int, cursor string) (guests []Guest, next string, err error)
	// SeenGuest records that a waiting guest's lobby page is open (LastSeen, at
	// most one write per SeenInterval) and returns the guest; ErrGuestNotFound.
	SeenGuest(ctx context.Context, roomID, guestID string, now time.Time) (Guest, error)
	// WaitGuest returns the guest as soon as its state differs from state, or
	// when ctx ends (then with the current guest and no error); ErrGuestNotFound.
	WaitGuest(ctx context.Context, roomID, guestID, state string) (Guest, error)

	// Stats counts what the store holds, for metrics.
	Stats(ctx context.Context) (Stats, error)

	// Secret returns the random secret called name, of size bytes, made and stored
	// the first time it is asked for (for example the session signing key).
	Secret(ctx context.Context, name string, size int) ([]byte, error)

	// Close releases the store.
	Close() error
}

// InitialState is the state of a guest right after redemption in room r: waiting
// in the lobby when a moderator admits guests, admitted otherwise.
func InitialState(r Room) string {
	if r.Admission == AdmissionModerator {
		return StateWaiting
	}
	return StateAdmitted
}

// Stats are the store's counts, for metrics gauges.
type Stats struct {
	Rooms, Links, GuestsWaiting int
}

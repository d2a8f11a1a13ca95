package guestlink

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	// MakeRoom creates room id from the normalized spec at now unless it
	// exists, and returns the room as stored: one that exists is left as it
	// is, however it differs from spec. created is true when this call made
	// it; of concurrent calls for one id, exactly one makes it.
	MakeRoom(ctx context.Context, id string, spec RoomSpec, now time.Time) (room Room, created bool, err error)
	// Room returns room id, or ErrRoomNotFound.
	Room(ctx context.Context, id string) (Room, error)
	// Rooms lists every room, by id (byte order).
	Rooms(ctx context.Context) ([]Room, error)
	// DeleteRoom removes room id with its links and guests; ErrRoomNotFound if absent.
	DeleteRoom(ctx context.Context, id string) error
	// SetGuestAccess flips the room's guest access switch as Room.WithGuestAccess
	// does (CheckGuestAccess applies).
	SetGuestAccess(ctx context.Context, id string, on bool, now time.Time) (Room, error)
	// SetLobbyMessage sets the room's LobbyMessage to text (already normalized
	// by NormalizeLobbyMessage; "" clears it) at now and returns the room;
	// ErrRoomNotFound. PutRoom keeps the message. The change raises Generation
	// like any change of the live state, so that waiting lobby pages are woken.
	SetLobbyMessage(ctx context.Context, id, text string, now time.Time) (Room, error)
	// ClearLobbyMessage clears the room's LobbyMessage at now if it is text,
	// in one transaction, and returns the room and whether it cleared it;
	// ErrRoomNotFound. The lobby clears its message with it when it empties,
	// so that a message a moderator set meanwhile, through any instance,
	// stays.
	ClearLobbyMessage(ctx context.Context, id, text string, now time.Time) (Room, bool, error)
	// LobbyMessage is the room's LobbyMessage without a store read, from the
	// same memory as Check; "" for a room it does not know.
	LobbyMessage(roomID string) string

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

	// Invitations lists the room's invitations, oldest first;
	// ErrRoomNotFound if absent.
	Invitations(ctx context.Context, roomID string) ([]Invitation, error)
	// AddInvitation stores v, an invitation made by
	// InvitationSpec.NewInvitation, if CheckNewInvitation allows it for
	// v.RoomID with maxInvitations; ErrRoomNotFound.
	AddInvitation(ctx context.Context, v Invitation, maxInvitations int) (Invitation, error)
	// DeleteInvitation removes an invitation at once and for good, as
	// DeleteLink a link: its token no longer resolves and the sessions made
	// with it end. ErrInvitationNotFound if absent.
	DeleteInvitation(ctx context.Context, roomID, id string) error
	// InvitationByToken finds the invitation whose token is token and its
	// room; ErrInvitationNotFound if there is none (also for a link's token).
	// It never writes.
	InvitationByToken(ctx context.Context, token string) (Room, Invitation, error)
	// RedeemInvitation spends one use of the invitation with token for guest
	// g (ID, Name and Email set; the caller has checked the email) at now, if
	// CheckInvitationOpen allows it, and stores the guest with the room, the
	// invitation's id as LinkID, its name as LinkName, its role and
	// InitialState for that role. It returns the room, the invitation after
	// the use and the stored guest (InvitationGuest); on a refusal, the room
	// and invitation read. An invitation with MaxUses N is redeemed exactly N times.
	RedeemInvitation(ctx context.Context, token string, g Guest, now time.Time) (Room, Invitation, Guest, error)

	// Redeem spends one click of the link with token for guest g (whose ID, Name and
	// Email are set) at now, if CheckLinkOpen allows it, and stores the guest with
	// its room, link, the link's role and InitialState. It returns the room, the link after the
	// click and the stored guest (LinkGuest).
	Redeem(ctx context.Context, token string, g Guest, now time.Time) (Room, Link, Guest, error)
	// Guest returns a guest of a room, or ErrGuestNotFound.
	Guest(ctx context.Context, roomID, guestID string) (Guest, error)
	// Session reads the live state that decides whether a guest's session still
	// opens the room and returns CheckSession's verdict with the room and guest.
	// It reads the store; the gate's hot path uses Check.
	Session(ctx context.Context, roomID, linkID, guestID string) (Room, Guest, error)
	// Check is Session's verdict and the guest's state without a store read: the
	// implementation keeps the state that decides (room available, guest access
	// on, link exists, guest not removed) in memory, updated by the same code
	// path that writes it, so a write is visible to the next Check. A clustered
	// implementation refreshes that state from the other instances' writes.
	// state is the guest's state whenever the guest was found, with or without
	// an error: a removed guest of a room whose guest access is off is
	// (StateRemoved, ErrGuestAccessOff), so that the gate's watcher can tell a
	// removal, which ends open connections, from a switch, which does not.
	Check(ctx context.Context, roomID, linkID, guestID string, now time.Time) (state string, err error)
	// Generation grows with every change of that state (for caches of decisions).
	Generation() uint64

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
	// Guests lists every guest of the room, newest first, GuestPageSize(limit)
	// at a time from an opaque cursor; next is "" after the last page.
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

// InitialState is the state of a guest with role right after redemption in
// room r: a viewer waits in the lobby when a moderator admits guests; speakers
// and moderators, and every guest of other rooms, are admitted at once.
func InitialState(r Room, role string) string {
	if r.Admission == AdmissionModerator && RoleOrViewer(role) == RoleViewer {
		return StateWaiting
	}
	return StateAdmitted
}

// Stats are the store's counts, for metrics gauges.
type Stats struct {
	Rooms, Links, GuestsWaiting int
}

// InvitationLinkName is the LinkName of a guest who came in by an invitation.
const InvitationLinkName = "Invitation"

// InvitationGuest is the guest g redeeming invitation v of room r at now, as
// RedeemInvitation stores it.
func InvitationGuest(r Room, v Invitation, g Guest, now time.Time) Guest {
	g.RoomID, g.LinkID, g.LinkName, g.Role = r.ID, v.ID, InvitationLinkName, v.Role
	g.State = InitialState(r, v.Role)
	g.RedeemedAt, g.UpdatedAt, g.LastSeen = now, now, now
	return g
}

// LinkGuest is the guest g redeeming link l of room r at now, as Redeem
// stores it: the link's id and name as LinkID and LinkName, its role
// (RoleOrViewer) and InitialState for that role.
func LinkGuest(r Room, l Link, g Guest, now time.Time) Guest {
	g.RoomID, g.LinkID, g.LinkName, g.Role = r.ID, l.ID, l.Name, RoleOrViewer(l.Role)
	g.State = InitialState(r, g.Role)
	g.RedeemedAt, g.UpdatedAt, g.LastSeen = now, now, now
	return g
}

// Backupper is implemented by stores that can write and read a full backup of
// themselves (store/badger: Badger's backup stream). It is not part of Store,
// because a clustered store backs up differently (store/postgres: with
// pg_dump); the admin endpoint ("caddy guestgate backup" and "restore")
// asserts it and answers 501 when a store does not implement it. Dumper is the
// backup that every store has.
type Backupper interface {
	// Backup writes a consistent full backup of the store to w while the store
	// keeps serving. It returns an error if it could not write all of it; what
	// was written is then incomplete and must not be restored.
	Backup(ctx context.Context, w io.Writer) error
	// Restore replaces the store's contents with the backup read from r. The
	// whole backup is read and checked before the store changes, so a truncated
	// or corrupt backup leaves the store as it was. Unless force, a store that
	// holds any record (a room, link or guest; the secrets a handler makes at
	// start-up do not count) is refused with ErrStoreNotEmpty; with force, a
	// backup that holds no room into a store that holds some is refused with
	// ErrWouldEmpty. ErrStoreBusy while another backup or restore of the store
	// runs.
	Restore(ctx context.Context, r io.Reader, force bool) error
}

// Errors of Backupper.
var (
	// ErrStoreNotEmpty: a restore without force into a store that holds records.
	ErrStoreNotEmpty = errors.New("the store is not empty: it holds rooms, links or guests; restore with force to replace them")
	// ErrStoreBusy: a backup or restore of the store is already running.
	ErrStoreBusy = errors.New("a backup or restore of the store is already running")
	// ErrBadBackup: what Restore read is not a whole backup (truncated, corrupt,
	// or not a backup at all).
	ErrBadBackup = errors.New("not a valid guestgate backup")
	// ErrWouldEmpty: a restore or an import with force whose input holds no
	// room, into a store that holds some: it would replace them with nothing
	// (a backup or export of an unused or the wrong store). Nothing is changed.
	ErrWouldEmpty = errors.New("the input holds no room, and would leave the store's rooms replaced by nothing")
)

// Dumper is implemented by stores that can hand out their whole contents as
// Records and load them back (store/badger, store/postgres): the two sides of
// the store-neutral export (package guestlink/export), behind "caddy
// guestgate move", "export" and "import". Unlike a Backupper's stream, a dump
// of one store loads into a store of another kind.
type Dumper interface {
	// Dump calls emit with every record of the store, as of one consistent
	// snapshot taken while the store keeps serving, in this order: the rooms,
	// the links, the invitations, the guests, the secrets, the queue items
	// (each queue's oldest first, queue by queue). Guests past their PurgeAt
	// are left out. It stops at emit's first error and returns it. A store
	// may refuse with ErrStoreBusy while a backup, a restore or a load of it
	// runs.
	Dump(ctx context.Context, emit func(Record) error) error
	// Load replaces the store's contents (rooms, links, invitations, guests,
	// secrets and queues) with the records next returns, in Dump's order,
	// until next returns io.EOF. It is all or nothing: when next returns any
	// other error (the input was found truncated or corrupt), or a record
	// breaks a rule of the store, the store is left as it was and the error
	// returned. Unless force, a store that holds a room, link, invitation or
	// guest is refused with ErrStoreNotEmpty (secrets and queue items do not
	// count, and are replaced). ErrStoreBusy while a backup, a restore or
	// another load runs. Every instance's live state follows the load;
	// handlers that loaded secrets at start-up keep their copies until they
	// are provisioned again.
	Load(ctx context.Context, next func() (Record, error), force bool) error
}

// Record is one record of a store's contents, as a Dumper hands it out:
// exactly one field is set. Links, invitations and guests come after their
// room.
type Record struct {
	Room       *Room
	Link       *Link
	Invitation *Invitation
	Guest      *Guest
	Secret     *Secret
	Item       *QueuedItem
}

// Secret is a secret of the store (Store.Secret): the session signing key,
// the anti-CSRF key, the identity key's seed.
type Secret struct {
	Name  string `json:"name"`
	Value []byte `json:"value"`
}

// QueuedItem is an item of a Queuer's queue, as a Dumper hands it out. Its
// place in the queue is its place among the records; its id is the store's
// own and is made afresh by Load.
type QueuedItem struct {
	Queue    string    `json:"queue"`
	Body     []byte    `json:"body"`
	Attempts int       `json:"attempts"`
	NextAt   time.Time `json:"next_at"`
}

// Queuer is implemented by stores that keep durable, bounded FIFO queues of
// opaque items, for deliveries that must survive a restart (webhooks). It is
// not part of Store, because a clustered store queues differently; the Caddy
// glue asserts it and refuses webhooks on a store that does not implement it.
//
// A queue is named by 1 to 64 characters of [A-Za-z0-9._-] (ValidQueueName).
// Items are ordered
// by the time they were enqueued (their ids sort that way). Every change is one
// transaction. Enqueue and Ack of one queue conflict with each other and are
// retried like any transaction, so they are safe from many goroutines; a caller
// that changes one queue from many goroutines at once serializes them to spare
// the retries (the webhook hub does).
type Queuer interface {
	// Enqueue appends body to queue, made ready at once (NextAt now, Attempts 0).
	// A queue holds at most maxLen items (DefaultQueueLen if maxLen <= 0): when it
	// is full, the oldest items are dropped in the same transaction to make room,
	// and dropped says how many.
	Enqueue(ctx context.Context, queue string, body []byte, maxLen int) (dropped int, err error)
	// Due returns up to limit items of queue whose NextAt is at or before now,
	// oldest first (limit <= 0 means DefaultDueLimit). next is the earliest NextAt of the
	// items it passed over because they are not due yet, or the zero time if
	// there were none; it may miss later items when limit items were found.
	Due(ctx context.Context, queue string, now time.Time, limit int) (items []QueueItem, next time.Time, err error)
	// Retry records a failed attempt of the item: its attempts count and the
	// time it is due again. ErrQueueItemNotFound if it is gone (acknowledged, or
	// dropped to make room).
	Retry(ctx context.Context, queue, id string, attempts int, next time.Time) error
	// Ack removes the item for good: delivered, or given up. Removing an item
	// that is already gone is not an error.
	Ack(ctx context.Context, queue, id string) error
	// Queues lists the queues that hold at least one item, sorted.
	Queues(ctx context.Context) ([]string, error)
}

// QueueLeaser is implemented by Queuers that several processes share
// (store/postgres): a queue's lease names the one process that delivers its
// items, so that every item is delivered by one process in normal operation,
// in order. A process delivers a queue's items only while it holds the
// queue's lease; a process that stops renewing (it crashed, or it lost the
// database) loses the lease when it runs out, and another takes over. That
// handover is where an item may be delivered twice (at least once, never
// lost): receivers deduplicate by the item's own id. A store that one process
// opens (store/badger) does not implement it, and its deliverer needs none.
type QueueLeaser interface {
	// LeaseQueue takes the lease of queue for holder, until until, when no
	// other holder's lease runs (none was taken, or its until has passed), or
	// renews it when holder holds it already; ok is false, and nothing
	// changes, while another holder's lease runs. A holder gives its lease up
	// by renewing it until a time already past. The store judges whether a
	// lease runs by one clock for all processes (until is taken as a
	// duration from the caller's now), so that processes whose clocks
	// disagree still agree on who holds a queue.
	LeaseQueue(ctx context.Context, queue, holder string, until time.Time) (ok bool, err error)
}

// ValidQueueName reports whether name may name a Queuer's queue: 1 to 64
// characters of [A-Za-z0-9._-].
func ValidQueueName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// QueueItem is one item of a Queuer's queue.
type QueueItem struct {
	// ID is the item's id in its queue; ids sort in the order of enqueuing.
	ID string
	// Body is what was enqueued.
	Body []byte
	// Attempts counts the failed attempts recorded with Retry.
	Attempts int
	// NextAt is when the item is due (again).
	NextAt time.Time
}

// DefaultQueueLen is the most items a Queuer's queue holds unless told
// otherwise: at a few hundred bytes per webhook event, some megabytes on disk.
const DefaultQueueLen = 10000

// DefaultDueLimit is how many items Queuer.Due returns at most when it is
// given no limit.
const DefaultDueLimit = 100

// CheckQueueName is the check a Queuer makes of the queue it is to write or
// read: an error that names queue if it is not ValidQueueName, else nil.
func CheckQueueName(queue string) error {
	if !ValidQueueName(queue) {
		return fmt.Errorf("guestgate store: invalid queue name %q", queue)
	}
	return nil
}

// DueLimit checks the arguments of a Queuer's Due: CheckQueueName's error
// for queue, else the limit to apply, DefaultDueLimit when limit <= 0.
func DueLimit(queue string, limit int) (int, error) {
	return queueBound(queue, limit, DefaultDueLimit)
}

// QueueLen checks the arguments of a Queuer's Enqueue: CheckQueueName's
// error for queue, else the most items the queue may hold, DefaultQueueLen
// when maxLen <= 0.
func QueueLen(queue string, maxLen int) (int, error) {
	return queueBound(queue, maxLen, DefaultQueueLen)
}

// queueBound is CheckQueueName's error for queue, else n, or def when n <= 0.
func queueBound(queue string, n, def int) (int, error) {
	if err := CheckQueueName(queue); err != nil {
		return 0, err
	}
	if n <= 0 {
		return def, nil
	}
	return n, nil
}

// ErrQueueItemNotFound: Retry of an item that is no longer in its queue.
var ErrQueueItemNotFound = errors.New("queue item not found")

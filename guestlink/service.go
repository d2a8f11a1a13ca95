package guestlink

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Service applies the domain rules over a Store with an injected clock. The admin
// API and the guest pages reach state only through it, so its methods are where
// the rules they rely on are written down; it holds no state of its own.
type Service struct {
	// Store keeps the state. Handlers do not call it; the Service does.
	Store Store
	// Now is the clock; it must not be nil.
	Now func() time.Time
	// MaxLinks is the most links a room may have (max_links); DefaultMaxLinks if 0.
	MaxLinks int
	// MaxInvitations is the most invitations a room may have
	// (max_invitations); DefaultMaxInvitations if 0.
	MaxInvitations int
	// LobbyTimeout is how long a waiting guest stays listed without a status
	// request (lobby_timeout); DefaultLobbyTimeout if 0. It must exceed the
	// longest gap between a lobby page's status requests (about 27 s) plus
	// SeenInterval, or open pages drop out; the Caddy glue enforces at least 1m.
	LobbyTimeout time.Duration
	// Retention is how long a guest record is kept after the redemption
	// (retention); DefaultRetention if 0.
	Retention time.Duration
	// Events, if set, is told of every state change made through the Service,
	// after it committed. It must not block (queue, don't deliver).
	Events func(Event)
}

// emit tells Events of a change.
func (s *Service) emit(ctx context.Context, e Event) {
	if s.Events == nil {
		return
	}
	e.ID = NewID("e")
	e.Time = s.now()
	if e.Actor == "" {
		e.Actor = ActorFrom(ctx)
	}
	s.Events(e)
}

func (s *Service) emitGuest(ctx context.Context, typ string, g Guest) {
	e := Event{Type: typ, Room: g.RoomID, Link: g.LinkID, Guest: g.ID, GuestName: g.Name, GuestEmail: g.Email, Role: RoleOrViewer(g.Role)}
	if IsInvitation(g.LinkID) {
		e.Link, e.Invitation = "", g.LinkID
	}
	s.emit(ctx, e)
}

func (s *Service) lobbySince() time.Time {
	t := s.LobbyTimeout
	if t <= 0 {
		t = DefaultLobbyTimeout
	}
	return s.now().Add(-t)
}

func (s *Service) now() time.Time { return s.Now().UTC() }

// retention is the effective retention.
func (s *Service) retention() time.Duration {
	if s.Retention > 0 {
		return s.Retention
	}
	return DefaultRetention
}

// Limit returns the effective max_links.
func (s *Service) Limit() int {
	if s.MaxLinks > 0 {
		return s.MaxLinks
	}
	return DefaultMaxLinks
}

// PutRoom validates spec and creates or updates room id.
func (s *Service) PutRoom(ctx context.Context, id string, spec RoomSpec) (Room, bool, error) {
	spec, err := spec.Normalize(id)
	if err != nil {
		return Room{}, false, err
	}
	r, created, err := s.Store.PutRoom(ctx, id, spec, s.now())
	if err == nil {
		s.emit(ctx, Event{Type: EventRoomPut, Room: r.ID})
	}
	return r, created, err
}

// DeleteRoom deletes room id with its links and guests.
func (s *Service) DeleteRoom(ctx context.Context, id string) error {
	err := s.Store.DeleteRoom(ctx, id)
	if err == nil {
		s.emit(ctx, Event{Type: EventRoomDeleted, Room: id})
	}
	return err
}

// DeleteLink deletes a link at once and for good.
func (s *Service) DeleteLink(ctx context.Context, roomID, linkID string) error {
	err := s.Store.DeleteLink(ctx, roomID, linkID)
	if err == nil {
		s.emit(ctx, Event{Type: EventLinkDeleted, Room: roomID, Link: linkID})
	}
	return err
}

// Room returns room id and its links.
func (s *Service) Room(ctx context.Context, id string) (Room, []Link, error) {
	r, err := s.Store.Room(ctx, id)
	if err != nil {
		return Room{}, nil, err
	}
	links, err := s.Store.Links(ctx, id)
	return r, links, err
}

// Rooms lists every room, by id.
func (s *Service) Rooms(ctx context.Context) ([]Room, error) { return s.Store.Rooms(ctx) }

// SetGuestAccess switches guest access of room id on or off.
func (s *Service) SetGuestAccess(ctx context.Context, id string, on bool) (Room, error) {
	r, err := s.Store.SetGuestAccess(ctx, id, on, s.now())
	if err == nil {
		typ := EventAccessOff
		if on {
			typ = EventAccessOn
		}
		s.emit(ctx, Event{Type: typ, Room: id})
	}
	return r, err
}

// CreateLink validates spec and adds a link to room roomID.
func (s *Service) CreateLink(ctx context.Context, roomID string, spec LinkSpec) (Link, error) {
	l, err := spec.NewLink(roomID, s.now())
	if err != nil {
		return Link{}, err
	}
	l, err = s.Store.AddLink(ctx, l, s.Limit())
	if err == nil {
		s.emit(ctx, Event{Type: EventLinkCreated, Room: roomID, Link: l.ID, Role: l.Role})
	}
	return l, limitReached(err, ErrLinkLimit, s.Limit(), "links")
}

// limitReached is err, or, when err is limit (ErrLinkLimit,
// ErrInvitationLimit), limit with the room's limit of n things and the way
// out, not only that it was reached.
func limitReached(err, limit error, n int, things string) error {
	if errors.Is(err, limit) {
		return fmt.Errorf("%w: a room has at most %d %s; delete one to make another", limit, n, things)
	}
	return err
}

// OpenLink finds the link with token and says whether a guest may use it now:
// ErrLinkNotFound, or CheckLinkOpen's verdict. The room and link are returned
// whenever they were found. It never spends a click.
func (s *Service) OpenLink(ctx context.Context, token string) (Room, Link, error) {
	r, l, err := s.Store.LinkByToken(ctx, token)
	if err != nil {
		return r, l, err
	}
	return r, l, CheckLinkOpen(r, l, s.now())
}

// Redeem validates in and spends one click of the link with token for a new guest.
// Validation errors are *ValidationError and spend nothing.
func (s *Service) Redeem(ctx context.Context, token string, in GuestInput) (Room, Link, Guest, error) {
	in, err := in.Normalize()
	if err != nil {
		return Room{}, Link{}, Guest{}, err
	}
	now := s.now()
	r, l, g, err := s.Store.Redeem(ctx, token, s.newGuest(in, now), now)
	if err == nil {
		s.redeemed(ctx, r.ID, g)
	}
	return r, l, g, err
}

// newGuest is the guest that a redemption at now of in, normalized, makes.
func (s *Service) newGuest(in GuestInput, now time.Time) Guest {
	return Guest{ID: NewID("g"), Name: in.Name, Email: in.Email, PurgeAt: now.Add(s.retention())}
}

// redeemed follows a redemption of a link or an invitation that let guest g
// into room roomID: it tells Events, the guest being the actor.
func (s *Service) redeemed(ctx context.Context, roomID string, g Guest) {
	if g.State == StateWaiting {
		// A guest entering a lobby whose guests dropped out does not see the
		// message left for them.
		_ = s.clearDroppedOut(ctx, roomID, g.ID)
	}
	s.emitGuest(WithActor(ctx, "guest"), EventGuestRedeemed, g)
}

// Lobby lists the guests waiting in room roomID whose lobby page is open (seen
// within LobbyTimeout), oldest first. A lobby found emptied since its message
// was set (its last guests dropped out) loses the message.
func (s *Service) Lobby(ctx context.Context, roomID string) ([]Guest, error) {
	gs, err := s.Store.Lobby(ctx, roomID, s.lobbySince())
	if err == nil && len(gs) == 0 {
		err = s.clearDroppedOut(ctx, roomID, "")
	}
	return gs, err
}

// SetLobbyMessage normalizes text (NormalizeLobbyMessage; "" clears) and sets
// it as room id's lobby message.
func (s *Service) SetLobbyMessage(ctx context.Context, id, text string) (Room, error) {
	text, err := NormalizeLobbyMessage(text)
	if err != nil {
		return Room{}, err
	}
	return s.Store.SetLobbyMessage(ctx, id, text, s.now())
}

// LobbyMessage is room roomID's lobby message, from memory.
func (s *Service) LobbyMessage(roomID string) string { return s.Store.LobbyMessage(roomID) }

// The lobby message is cleared when the lobby empties: what a moderator told
// the guests who waited is not for the next ones. A message set while nobody
// waits stays for the guests who come. The lobby empties when its last
// waiting guest is admitted, declined or removed, or leaves (Decide,
// AdmitAll), or drops out after LobbyTimeout, which the service sees when the
// Manage page lists the lobby or the next guest enters it.

// clearMessage clears room roomID's lobby message if it is still text: one a
// moderator set since it was read, through this instance or another, stays.
func (s *Service) clearMessage(ctx context.Context, roomID, text string) error {
	_, _, err := s.Store.ClearLobbyMessage(ctx, roomID, text, s.now())
	if errors.Is(err, ErrRoomNotFound) {
		return nil
	}
	return err
}

// inLobby reports whether room roomID's lobby holds a guest other than
// except, last seen at or after since.
func (s *Service) inLobby(ctx context.Context, roomID, except string, since time.Time) (bool, error) {
	gs, err := s.Store.Lobby(ctx, roomID, since)
	if err != nil {
		return false, err
	}
	for _, g := range gs {
		if g.ID != except {
			return true, nil
		}
	}
	return false, nil
}

// clearDroppedOut clears room roomID's lobby message when the lobby (but for
// guest except) is empty and was not when the message was set (the room's
// UpdatedAt): its guests dropped out after LobbyTimeout.
func (s *Service) clearDroppedOut(ctx context.Context, roomID, except string) error {
	if s.Store.LobbyMessage(roomID) == "" {
		return nil
	}
	since := s.lobbySince()
	if busy, err := s.inLobby(ctx, roomID, except, since); busy || err != nil {
		return err
	}
	r, err := s.Store.Room(ctx, roomID)
	if err != nil {
		return err
	}
	if r.LobbyMessage == "" || r.UpdatedAt.After(s.now()) {
		return nil
	}
	// Waiting guests seen within LobbyTimeout of the message were in the lobby
	// when it was set.
	if was, err := s.inLobby(ctx, roomID, except, r.UpdatedAt.Add(since.Sub(s.now()))); !was || err != nil {
		return err
	}
	return s.clearMessage(ctx, roomID, r.LobbyMessage)
}

// clearEmptied clears room roomID's lobby message when a decision took a
// guest out of the lobby and none is left.
func (s *Service) clearEmptied(ctx context.Context, roomID string) {
	if s.Store.LobbyMessage(roomID) == "" {
		return
	}
	if busy, err := s.inLobby(ctx, roomID, "", s.lobbySince()); busy || err != nil {
		return
	}
	// The message as stored: one set through another instance may not have
	// reached this one's live state yet.
	if r, err := s.Store.Room(ctx, roomID); err == nil && r.LobbyMessage != "" {
		_ = s.clearMessage(ctx, roomID, r.LobbyMessage)
	}
}

// AdmitAll admits every guest Lobby lists.
func (s *Service) AdmitAll(ctx context.Context, roomID string) ([]Guest, error) {
	gs, err := s.Store.AdmitAll(ctx, roomID, s.lobbySince(), s.now())
	for _, g := range gs {
		s.emitGuest(ctx, EventGuestAdmitted, g)
	}
	if err == nil && len(gs) > 0 {
		s.clearEmptied(ctx, roomID)
	}
	return gs, err
}

// Decide moves a guest to state to (StateAdmitted, StateDeclined, StateRemoved or
// StateLeft) by Transition's rules.
// Guests who leave are their own actors.
func (s *Service) Decide(ctx context.Context, roomID, guestID, to string) (Guest, error) {
	now := s.now()
	waited := false // whether the guest was in the lobby, when it has a message
	if s.Store.LobbyMessage(roomID) != "" {
		if g, err := s.Store.Guest(ctx, roomID, guestID); err == nil {
			waited = InLobby(g, now, now.Sub(s.lobbySince()))
		}
	}
	g, err := s.Store.SetGuestState(ctx, roomID, guestID, to, now)
	if err == nil && g.UpdatedAt.Equal(now) { // this call made the change
		switch to {
		case StateAdmitted:
			s.emitGuest(ctx, EventGuestAdmitted, g)
		case StateDeclined:
			s.emitGuest(ctx, EventGuestDeclined, g)
		case StateRemoved:
			s.emitGuest(ctx, EventGuestRemoved, g)
		case StateLeft:
			s.emitGuest(WithActor(ctx, "guest"), EventGuestLeft, g)
		}
		if waited {
			s.clearEmptied(ctx, roomID)
		}
	}
	return g, err
}

// Seen records that the guest's lobby page is open and returns the guest.
func (s *Service) Seen(ctx context.Context, roomID, guestID string) (Guest, error) {
	return s.Store.SeenGuest(ctx, roomID, guestID, s.now())
}

// The live state of a session: whether a guest's session still opens its room.
// The guest pages ask Session, the gate asks Check on every request, and the
// gate's watcher asks Check again whenever Generation moves.

// Session reads from the store whether the session of guest guestID, redeemed
// from link linkID of room roomID, still opens the room: CheckSession's verdict
// (ErrRoomUnavailable for a room that is gone or unavailable, ErrGuestAccessOff,
// ErrLinkNotFound, ErrGuestNotFound, ErrGuestRemoved, ErrGuestDeclined,
// ErrGuestLeft), with the room and the guest as far as they were found. Pages
// that show the guest use it; the gate's hot path uses Check.
func (s *Service) Session(ctx context.Context, roomID, linkID, guestID string) (Room, Guest, error) {
	return s.Store.Session(ctx, roomID, linkID, guestID)
}

// Guest returns guest guestID of room roomID, or ErrGuestNotFound. It reads
// the store.
func (s *Service) Guest(ctx context.Context, roomID, guestID string) (Guest, error) {
	return s.Store.Guest(ctx, roomID, guestID)
}

// Check is Session's verdict at now and the guest's state, without a store read:
// the store keeps the state that decides in memory, and a write is visible to
// the next Check. state is the guest's state whenever the guest was found, with
// or without an error: a removed guest of a room whose guest access is off is
// (StateRemoved, ErrGuestAccessOff), so that a removal, which ends the guest's
// open connections, can be told from the switch, which does not. now is the
// caller's reading of Now, so that one instant decides a whole request, or a
// whole round of the watcher's re-checks. It only forwards to the Store, and
// stays cheap enough to inline into the gate.
func (s *Service) Check(ctx context.Context, roomID, linkID, guestID string, now time.Time) (state string, err error) {
	return s.Store.Check(ctx, roomID, linkID, guestID, now)
}

// Generation grows with every change of the state Check reads. Read it before
// Check: a change that lands between the two then shows as a newer generation,
// and whoever keeps Check's answer (the gate's watcher) asks again.
func (s *Service) Generation() uint64 { return s.Store.Generation() }

// WaitDecision returns guest guestID of room roomID as soon as it is no longer
// waiting (a moderator admitted, declined or removed it, or it left), at once
// if it is not waiting, and when ctx ends with the guest as it then is and no
// error; ErrGuestNotFound. It waits for the guest's own state only: guest access
// switched off, the link deleted or the room made unavailable do not end it, so
// a lobby that must close on those watches Check as well.
func (s *Service) WaitDecision(ctx context.Context, roomID, guestID string) (Guest, error) {
	return s.Store.WaitGuest(ctx, roomID, guestID, StateWaiting)
}

// Sizes of a page of Guests.
const (
	// DefaultGuestPage is the size of a page when the caller names none (0).
	DefaultGuestPage = 100
	// MaxGuestPage is the largest page.
	MaxGuestPage = 1000
)

// GuestPageSize is the size of the page a Store's Guests serves for limit:
// DefaultGuestPage for 0 or less, at most MaxGuestPage.
func GuestPageSize(limit int) int {
	switch {
	case limit <= 0:
		return DefaultGuestPage
	case limit > MaxGuestPage:
		return MaxGuestPage
	}
	return limit
}

// Guests lists the guests of room roomID, whatever their state, newest first,
// one page at a time: limit guests (1 to MaxGuestPage; 0 means
// DefaultGuestPage) from cursor, "" for the first page. next is the cursor of
// the next page, "" after the last. A malformed cursor is a *ValidationError on
// field "cursor"; ErrRoomNotFound.
func (s *Service) Guests(ctx context.Context, roomID string, limit int, cursor string) (guests []Guest, next string, err error) {
	return s.Store.Guests(ctx, roomID, limit, cursor)
}

// AllGuests lists every guest of room roomID, newest first: Guests, page after
// page of MaxGuestPage. ErrRoomNotFound.
func (s *Service) AllGuests(ctx context.Context, roomID string) ([]Guest, error) {
	var all []Guest
	cursor := ""
	for {
		gs, next, err := s.Store.Guests(ctx, roomID, MaxGuestPage, cursor)
		if err != nil {
			return nil, err
		}
		all = append(all, gs...)
		if next == "" {
			return all, nil
		}
		cursor = next
	}
}

// InvitationLimit returns the effective max_invitations.
func (s *Service) InvitationLimit() int {
	if s.MaxInvitations > 0 {
		return s.MaxInvitations
	}
	return DefaultMaxInvitations
}

// CreateInvitation validates spec and adds an invitation to room roomID.
func (s *Service) CreateInvitation(ctx context.Context, roomID string, spec InvitationSpec) (Invitation, error) {
	v, err := spec.NewInvitation(roomID, s.now())
	if err != nil {
		return Invitation{}, err
	}
	v, err = s.Store.AddInvitation(ctx, v, s.InvitationLimit())
	if err == nil {
		s.emit(ctx, Event{Type: EventInvitationCreated, Room: roomID, Invitation: v.ID, Role: v.Role})
	}
	return v, limitReached(err, ErrInvitationLimit, s.InvitationLimit(), "invitations")
}

// Invitations lists the invitations of room roomID, oldest first.
func (s *Service) Invitations(ctx context.Context, roomID string) ([]Invitation, error) {
	return s.Store.Invitations(ctx, roomID)
}

// DeleteInvitation removes an invitation at once; the sessions made with it
// end.
func (s *Service) DeleteInvitation(ctx context.Context, roomID, id string) error {
	err := s.Store.DeleteInvitation(ctx, roomID, id)
	if err == nil {
		s.emit(ctx, Event{Type: EventInvitationDeleted, Room: roomID, Invitation: id})
	}
	return err
}

// OpenInvitation finds the invitation with token and says whether it may be
// used now: ErrInvitationNotFound, or CheckInvitationOpen's verdict. The room
// and invitation are returned whenever they were found. It spends nothing.
func (s *Service) OpenInvitation(ctx context.Context, token string) (Room, Invitation, error) {
	r, v, err := s.Store.InvitationByToken(ctx, token)
	if err != nil {
		return r, v, err
	}
	return r, v, CheckInvitationOpen(r, v, s.now())
}

// errWrongEmail is the entry form's answer when the typed email is not the
// invited one: a *ValidationError on the field email, so that it shows
// beside the field; nothing is spent.
var errWrongEmail = &ValidationError{Field: "email", Code: CodeWrongEmail,
	Message: "This invitation is for another email address. Enter the address it was sent to."}

// RedeemInvitation validates in, checks that its email is the invited one
// (a *ValidationError on "email" otherwise, spending nothing) and spends one
// use of the invitation with token for a new guest.
func (s *Service) RedeemInvitation(ctx context.Context, token string, in GuestInput) (Room, Invitation, Guest, error) {
	in, err := in.Normalize()
	if err != nil {
		return Room{}, Invitation{}, Guest{}, err
	}
	r, v, err := s.Store.InvitationByToken(ctx, token)
	if err != nil {
		return r, v, Guest{}, err
	}
	if !v.SameEmail(in.Email) {
		return r, v, Guest{}, errWrongEmail
	}
	now := s.now()
	r, v, g, err := s.Store.RedeemInvitation(ctx, token, s.newGuest(in, now), now)
	if err == nil {
		s.redeemed(ctx, r.ID, g)
	}
	return r, v, g, err
}

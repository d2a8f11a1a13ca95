package guestlink

import (
	"context"
	"time"
)

// Service applies the domain rules over a Store with an injected clock. The admin
// API and the guest pages use it; it holds no state of its own.
type Service struct {
	// Store keeps the state.
	Store Store
	// Now is the clock; it must not be nil.
	Now func() time.Time
	// MaxLinks is the most links a room may have (max_links); DefaultMaxLinks if 0.
	MaxLinks int
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
	s.emit(ctx, Event{Type: typ, Room: g.RoomID, Link: g.LinkID, Guest: g.ID, GuestName: g.Name, GuestEmail: g.Email})
}

func (s *Service) lobbySince() time.Time {
	t := s.LobbyTimeout
	if t <= 0 {
		t = DefaultLobbyTimeout
	}
	return s.now().Add(-t)
}

func (s *Service) now() time.Time { return s.Now().UTC() }

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
		s.emit(ctx, Event{Type: EventLinkCreated, Room: roomID, Link: l.ID})
	}
	return l, err
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
	keep := s.Retention
	if keep <= 0 {
		keep = DefaultRetention
	}
	g := Guest{ID: NewID("g"), Name: in.Name, Email: in.Email, PurgeAt: now.Add(keep)}
	r, l, g, err := s.Store.Redeem(ctx, token, g, now)
	if err == nil {
		s.emit(WithActor(ctx, "guest"), Event{Type: EventGuestRedeemed, Room: g.RoomID, Link: g.LinkID, Guest: g.ID, GuestName: g.Name, GuestEmail: g.Email})
	}
	return r, l, g, err
}

// Lobby lists the guests waiting in room roomID whose lobby page is open (seen
// within LobbyTimeout), oldest first.
func (s *Service) Lobby(ctx context.Context, roomID string) ([]Guest, error) {
	return s.Store.Lobby(ctx, roomID, s.lobbySince())
}

// AdmitAll admits every guest Lobby lists.
func (s *Service) AdmitAll(ctx context.Context, roomID string) ([]Guest, error) {
	gs, err := s.Store.AdmitAll(ctx, roomID, s.lobbySince(), s.now())
	for _, g := range gs {
		s.emitGuest(ctx, EventGuestAdmitted, g)
	}
	return gs, err
}

// Decide moves a guest to state to (StateAdmitted, StateDeclined, StateRemoved or
// StateLeft) by Transition's rules.
// Guests who leave are their own actors.
func (s *Service) Decide(ctx context.Context, roomID, guestID, to string) (Guest, error) {
	now := s.now()
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
	}
	return g, err
}

// Seen records that the guest's lobby page is open and returns the guest.
func (s *Service) Seen(ctx context.Context, roomID, guestID string) (Guest, error) {
	return s.Store.SeenGuest(ctx, roomID, guestID, s.now())
}

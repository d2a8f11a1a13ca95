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
	// request (lobby_timeout); DefaultLobbyTimeout if 0.
	LobbyTimeout time.Duration
	// Retention is how long a guest record is kept after the redemption
	// (retention); DefaultRetention if 0.
	Retention time.Duration
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
	return s.Store.PutRoom(ctx, id, spec, s.now())
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
	return s.Store.SetGuestAccess(ctx, id, on, s.now())
}

// CreateLink validates spec and adds a link to room roomID.
func (s *Service) CreateLink(ctx context.Context, roomID string, spec LinkSpec) (Link, error) {
	l, err := spec.NewLink(roomID, s.now())
	if err != nil {
		return Link{}, err
	}
	return s.Store.AddLink(ctx, l, s.Limit())
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
	return s.Store.Redeem(ctx, token, g, now)
}

// Lobby lists the guests waiting in room roomID whose lobby page is open (seen
// within LobbyTimeout), oldest first.
func (s *Service) Lobby(ctx context.Context, roomID string) ([]Guest, error) {
	return s.Store.Lobby(ctx, roomID, s.lobbySince())
}

// AdmitAll admits every guest Lobby lists.
func (s *Service) AdmitAll(ctx context.Context, roomID string) ([]Guest, error) {
	return s.Store.AdmitAll(ctx, roomID, s.lobbySince(), s.now())
}

// Decide moves a guest to state to (StateAdmitted, StateDeclined, StateRemoved or
// StateLeft) by Transition's rules.
func (s *Service) Decide(ctx context.Context, roomID, guestID, to string) (Guest, error) {
	return s.Store.SetGuestState(ctx, roomID, guestID, to, s.now())
}

// Seen records that the guest's lobby page is open and returns the guest.
func (s *Service) Seen(ctx context.Context, roomID, guestID string) (Guest, error) {
	return s.Store.SeenGuest(ctx, roomID, guestID, s.now())
}

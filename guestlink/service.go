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
	g := Guest{ID: NewID("g"), Name: in.Name, Email: in.Email}
	return s.Store.Redeem(ctx, token, g, s.now())
}

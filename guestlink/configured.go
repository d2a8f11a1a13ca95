package guestlink

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ConfiguredRoom is a room that a configuration names (guest_admin's room
// subdirective): made unless the store holds it, left as it is if it does.
type ConfiguredRoom struct {
	ID   string
	Spec RoomSpec
}

// MakeRooms makes, in order, the rooms of rooms that the store lacks, with
// the actor "config", and calls made with the id of each one it made. A room
// the store holds is left as it is, also one that a moderator changes or
// another instance makes meanwhile (Store.MakeRoom). When the store is
// unavailable (a database that is down while Caddy reloads), it returns the
// rooms from the one it could not make on, and no error: MakeRoomsLater
// makes them once the store answers. Any other error is returned, naming the
// room.
func (s *Service) MakeRooms(ctx context.Context, rooms []ConfiguredRoom, made func(id string)) ([]ConfiguredRoom, error) {
	ctx = WithActor(ctx, "config")
	for i, rc := range rooms {
		spec, err := rc.Spec.Normalize(rc.ID)
		var created bool
		if err == nil {
			_, created, err = s.Store.MakeRoom(ctx, rc.ID, spec, s.now())
		}
		if created {
			s.emit(ctx, Event{Type: EventRoomPut, Room: rc.ID})
			made(rc.ID)
		}
		if errors.Is(err, ErrStoreUnavailable) {
			return rooms[i:], nil
		}
		if err != nil {
			return nil, fmt.Errorf("room %q: %w", rc.ID, err)
		}
	}
	return nil, nil
}

// MakeRoomsLater runs MakeRooms on rooms again after a second, and then at
// most every 8 seconds, until it has made them all, it fails otherwise, or ctx
// ends (a config unloaded): it returns the error of the last two.
func (s *Service) MakeRoomsLater(ctx context.Context, rooms []ConfiguredRoom, made func(id string)) error {
	for wait := time.Second; len(rooms) > 0; wait = min(2*wait, 8*time.Second) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		var err error
		if rooms, err = s.MakeRooms(ctx, rooms, made); err != nil {
			return err
		}
	}
	return nil
}

package guestlink_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/teststore"
)

// downStore is a store whose room reads and writes fail with
// ErrStoreUnavailable while down is set, as PostgreSQL's do in an outage.
type downStore struct {
	guestlink.Store
	down atomic.Bool
}

func (s *downStore) Room(ctx context.Context, id string) (guestlink.Room, error) {
	if s.down.Load() {
		return guestlink.Room{}, guestlink.ErrStoreUnavailable
	}
	return s.Store.Room(ctx, id)
}

func (s *downStore) MakeRoom(ctx context.Context, id string, spec guestlink.RoomSpec, now time.Time) (guestlink.Room, bool, error) {
	if s.down.Load() {
		return guestlink.Room{}, false, guestlink.ErrStoreUnavailable
	}
	return s.Store.MakeRoom(ctx, id, spec, now)
}

// TestMakeRooms protects the rooms of a configuration: those the store lacks
// are made, one it holds keeps its name, and a reload while the store cannot
// be reached neither fails nor drops a room: MakeRooms hands the rooms it
// could not check to MakeRoomsLater, which makes them once the store answers.
func TestMakeRooms(t *testing.T) {
	ctx := context.Background()
	svc, _ := teststore.Service(t, time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	store := &downStore{Store: svc.Store}
	svc.Store = store
	if _, _, err := svc.PutRoom(ctx, "kept", guestlink.RoomSpec{Name: "Renamed by a moderator"}); err != nil {
		t.Fatal(err)
	}
	rooms := []guestlink.ConfiguredRoom{
		{ID: "kept", Spec: guestlink.RoomSpec{Name: "Kept"}},
		{ID: "new", Spec: guestlink.RoomSpec{Name: "New"}},
	}
	var made []string
	record := func(id string) { made = append(made, id) }

	store.down.Store(true)
	pending, err := svc.MakeRooms(ctx, rooms, record)
	if err != nil || !slices.Equal(pending, rooms) || made != nil {
		t.Fatalf("MakeRooms with the store down = %v, %v, made %v; want every room pending, no error", pending, err, made)
	}
	later := make(chan error, 1)
	go func() { later <- svc.MakeRoomsLater(ctx, pending, record) }()
	time.Sleep(1500 * time.Millisecond) // one attempt, still down
	store.down.Store(false)
	select {
	case err := <-later:
		if err != nil {
			t.Fatalf("MakeRoomsLater: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("MakeRoomsLater did not return after the store came back")
	}
	if !slices.Equal(made, []string{"new"}) {
		t.Errorf("rooms made = %v, want [new]", made)
	}
	for id, want := range map[string]string{"kept": "Renamed by a moderator", "new": "New"} {
		if r, err := svc.Store.Room(ctx, id); err != nil || r.Name != want {
			t.Errorf("room %s = %q, %v; want %q", id, r.Name, err, want)
		}
	}

	// A config unloaded while the store is down stops trying.
	store.down.Store(true)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := svc.MakeRoomsLater(cctx, []guestlink.ConfiguredRoom{{ID: "never"}}, record); !errors.Is(err, context.Canceled) {
		t.Errorf("MakeRoomsLater after its context ended = %v, want context.Canceled", err)
	}
	// An error other than the store's absence is returned, with the room.
	store.down.Store(false)
	if _, err := svc.MakeRooms(ctx, []guestlink.ConfiguredRoom{{ID: "bad id!"}}, record); err == nil {
		t.Error("MakeRooms of an invalid room id: no error")
	}
}

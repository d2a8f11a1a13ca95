package mirror

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/guestgate/guestgate/guestlink"
)

var t0 = time.Date(2026, 4, 16, 10, 0, 0, 0, time.UTC)

// withRoom is a new mirror holding room "r", open to guests, its link "l" and
// the guests gs.
func withRoom(gs ...guestlink.Guest) *Mirror {
	m := New()
	m.Update(func(tx Tx) {
		tx.PutRoom(guestlink.Room{ID: "r", Available: true, GuestAccess: true, Kind: guestlink.KindRoom})
		tx.PutLink("r", "l")
		for _, g := range gs {
			tx.PutGuest(g)
		}
	})
	return m
}

// TestCheck: the verdict follows the order of Store's Session (room, guest,
// then CheckSession), returns the guest's state also with an error, reads a
// guest it does not hold once, and never lets a guest of another room or
// link, or one past its purge time, pass.
func TestCheck(t *testing.T) {
	m := New()
	m.Update(func(tx Tx) {
		tx.PutRoom(guestlink.Room{ID: "r", Available: true, GuestAccess: true, Kind: guestlink.KindRoom})
		tx.PutRoom(guestlink.Room{ID: "off", Available: true, Kind: guestlink.KindRoom})
		tx.PutLink("r", "l")
		tx.PutLink("off", "l")
		tx.PutGuest(guestlink.Guest{ID: "g_in", RoomID: "r", LinkID: "l", State: guestlink.StateAdmitted})
		tx.PutGuest(guestlink.Guest{ID: "g_gone", RoomID: "off", LinkID: "l", State: guestlink.StateRemoved})
		tx.PutGuest(guestlink.Guest{ID: "g_old", RoomID: "r", LinkID: "l", State: guestlink.StateAdmitted, PurgeAt: t0})
	})
	loads := 0
	load := func(roomID, guestID string) (guestlink.Guest, bool) {
		loads++
		if guestID == "g_new" {
			return guestlink.Guest{ID: "g_new", RoomID: roomID, LinkID: "l", State: guestlink.StateWaiting}, true
		}
		return guestlink.Guest{}, false
	}
	for _, tc := range []struct {
		room, link, guest string
		state             string
		err               error
	}{
		{"r", "l", "g_in", guestlink.StateAdmitted, nil},
		{"nope", "l", "g_in", "", guestlink.ErrRoomUnavailable},
		{"r", "other", "g_in", "", guestlink.ErrGuestNotFound},
		{"off", "l", "g_in", "", guestlink.ErrGuestNotFound},
		{"off", "l", "g_gone", guestlink.StateRemoved, guestlink.ErrGuestAccessOff},
		{"r", "l", "g_old", "", guestlink.ErrGuestNotFound},
		{"r", "l", "g_unknown", "", guestlink.ErrGuestNotFound},
		{"r", "l", "g_new", guestlink.StateWaiting, nil},
		{"r", "l", "g_new", guestlink.StateWaiting, nil},
	} {
		state, err := m.Check(tc.room, tc.link, tc.guest, t0, load)
		if state != tc.state || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("Check(%s, %s, %s) = %q, %v; want %q, %v", tc.room, tc.link, tc.guest, state, err, tc.state, tc.err)
		}
	}
	if loads != 2 {
		t.Errorf("the store was read %d times, want 2 (g_unknown once, g_new once and then kept)", loads)
	}
}

// TestUpdatesWinOverLoads: a guest an update put in while Check read it from
// the store keeps the update's state (the later read).
func TestUpdatesWinOverLoads(t *testing.T) {
	m := withRoom()
	load := func(roomID, guestID string) (guestlink.Guest, bool) {
		m.Update(func(tx Tx) {
			tx.PutGuest(guestlink.Guest{ID: guestID, RoomID: roomID, LinkID: "l", State: guestlink.StateRemoved})
		})
		return guestlink.Guest{ID: guestID, RoomID: roomID, LinkID: "l", State: guestlink.StateAdmitted}, true
	}
	if state, err := m.Check("r", "l", "g", t0, load); state != guestlink.StateRemoved || !errors.Is(err, guestlink.ErrGuestRemoved) {
		t.Fatalf("Check = %q, %v; want the update's removed", state, err)
	}
}

// TestDropsWinOverLoads protects a removal against a read that came before
// it: a guest that Check reads from the store (one the mirror dropped a day
// after taking it in, say) while an update forgets it (a deleted record, a
// deleted room, a reload of the whole state after a restore) must not be
// kept from that read, which may hold the guest as it was before: the next
// Check reads it again. Kept, a guest a restore took away would be let in
// for a day.
func TestDropsWinOverLoads(t *testing.T) {
	admitted := guestlink.Guest{ID: "g", RoomID: "r", LinkID: "l", State: guestlink.StateAdmitted}
	for _, tc := range []struct {
		name string
		drop func(m *Mirror)
	}{
		{"guest dropped", func(m *Mirror) { m.Update(func(tx Tx) { tx.DropGuest("g") }) }},
		{"room dropped and made again", func(m *Mirror) {
			m.Update(func(tx Tx) { tx.DropRoom("r") })
			m.Update(func(tx Tx) {
				tx.PutRoom(guestlink.Room{ID: "r", Available: true, GuestAccess: true, Kind: guestlink.KindRoom})
				tx.PutLink("r", "l")
			})
		}},
		{"reset", func(m *Mirror) {
			_ = m.Reset(func(tx Tx) error {
				tx.PutRoom(guestlink.Room{ID: "r", Available: true, GuestAccess: true, Kind: guestlink.KindRoom})
				tx.PutLink("r", "l")
				return nil
			})
		}},
	} {
		m := withRoom()
		stale := func(string, string) (guestlink.Guest, bool) {
			tc.drop(m)
			return admitted, true
		}
		if _, err := m.Check("r", "l", "g", t0, stale); err != nil {
			t.Fatalf("%s: Check with the read before the drop = %v, want that read's verdict", tc.name, err)
		}
		gone := func(string, string) (guestlink.Guest, bool) { return guestlink.Guest{}, false }
		if state, err := m.Check("r", "l", "g", t0, gone); !errors.Is(err, guestlink.ErrGuestNotFound) {
			t.Errorf("%s: the next Check, the guest gone from the store = %q, %v; want ErrGuestNotFound", tc.name, state, err)
		}
	}
}

// TestGenerationAndReset: every Update and Reset raises the generation; a Reset
// replaces everything, and one that fails changes nothing; DropRoom takes the
// room's links and guests along.
func TestGenerationAndReset(t *testing.T) {
	m := New()
	g0 := m.Generation()
	m.Update(func(tx Tx) {
		tx.PutRoom(guestlink.Room{ID: "r", Available: true, GuestAccess: true})
		tx.PutLink("r", "l")
		tx.PutGuest(guestlink.Guest{ID: "g", RoomID: "r", LinkID: "l", State: guestlink.StateAdmitted})
	})
	if m.Generation() != g0+1 {
		t.Fatalf("generation %d after one update, want %d", m.Generation(), g0+1)
	}
	if err := m.Reset(func(Tx) error { return errors.New("read failed") }); err == nil || m.Generation() != g0+1 {
		t.Fatalf("a failed Reset: %v, generation %d", err, m.Generation())
	}
	if _, err := m.Check("r", "l", "g", t0, nil); err != nil {
		t.Fatalf("after a failed Reset: %v", err)
	}
	if err := m.Reset(func(tx Tx) error { tx.PutRoom(guestlink.Room{ID: "s", Available: true}); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Check("r", "l", "g", t0, nil); !errors.Is(err, guestlink.ErrRoomUnavailable) {
		t.Fatalf("after a Reset without room r: %v", err)
	}
	m.Update(func(tx Tx) {
		tx.PutLink("s", "l")
		tx.PutGuest(guestlink.Guest{ID: "h", RoomID: "s", LinkID: "l", State: guestlink.StateAdmitted})
		tx.DropLink("s", "l")
	})
	if _, err := m.Check("s", "l", "h", t0, nil); !errors.Is(err, guestlink.ErrGuestAccessOff) {
		t.Fatalf("room s has guest access off: %v", err)
	}
	m.Update(func(tx Tx) { tx.DropRoom("s") })
	m.Update(func(tx Tx) {
		tx.PutRoom(guestlink.Room{ID: "s", Available: true, GuestAccess: true})
		tx.PutLink("s", "l")
	})
	if _, err := m.Check("s", "l", "h", t0, nil); !errors.Is(err, guestlink.ErrGuestNotFound) {
		t.Fatalf("a guest of a dropped room came back: %v", err)
	}
}

// TestAddGuestAndGuests: AddGuest puts in only a guest the mirror does not
// hold (a later read's state wins over a write's own copy), and Guests lists
// the guests held, which a Reset forgets.
func TestAddGuestAndGuests(t *testing.T) {
	m := withRoom(guestlink.Guest{ID: "g", RoomID: "r", LinkID: "l", State: guestlink.StateRemoved})
	m.Update(func(tx Tx) {
		tx.AddGuest(guestlink.Guest{ID: "g", RoomID: "r", LinkID: "l", State: guestlink.StateAdmitted})
		tx.AddGuest(guestlink.Guest{ID: "h", RoomID: "r", LinkID: "l", State: guestlink.StateWaiting})
	})
	for _, tc := range []struct {
		guest, state string
		err          error
	}{
		{"g", guestlink.StateRemoved, guestlink.ErrGuestRemoved},
		{"h", guestlink.StateWaiting, nil},
	} {
		if state, err := m.Check("r", "l", tc.guest, t0, nil); state != tc.state || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("Check(%s) = %q, %v; want %q, %v", tc.guest, state, err, tc.state, tc.err)
		}
	}
	ids := m.Guests()
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"g", "h"}) {
		t.Errorf("Guests = %v, want [g h]", ids)
	}
	if err := m.Reset(func(tx Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if ids := m.Guests(); len(ids) != 0 {
		t.Errorf("Guests after a Reset = %v, want none", ids)
	}
}

// TestSweepKeepsADay protects the mirror's memory: a sweep drops the guests
// put in KeepGuests ago or more and those whose record was purged, and keeps
// the others; a guest it dropped whose session still lives is read from the
// store again on its next Check, so that dropping it changes no verdict.
func TestSweepKeepsADay(t *testing.T) {
	m := withRoom(
		guestlink.Guest{ID: "old", RoomID: "r", LinkID: "l", State: guestlink.StateAdmitted},
		guestlink.Guest{ID: "purged", RoomID: "r", LinkID: "l", State: guestlink.StateAdmitted, PurgeAt: time.Now().Add(time.Hour)},
	)
	later := time.Now().Add(KeepGuests - time.Hour)
	m.mu.Lock()
	m.guests["young"] = guest{room: "r", link: "l", state: guestlink.StateAdmitted, putAt: later.UnixNano()}
	m.sweep(time.Now().Add(30 * time.Minute).UnixNano())
	if len(m.guests) != 3 {
		t.Errorf("a sweep half an hour on kept %d guests, want all 3", len(m.guests))
	}
	m.sweep(time.Now().Add(KeepGuests).UnixNano())
	m.mu.Unlock()
	ids := m.Guests()
	if !slices.Equal(ids, []string{"young"}) {
		t.Errorf("after a sweep a day on, the mirror holds %v, want [young]", ids)
	}
	loads := 0
	load := func(roomID, guestID string) (guestlink.Guest, bool) {
		loads++
		return guestlink.Guest{ID: guestID, RoomID: roomID, LinkID: "l", State: guestlink.StateAdmitted}, true
	}
	if state, err := m.Check("r", "l", "old", t0, load); err != nil || state != guestlink.StateAdmitted || loads != 1 {
		t.Errorf("Check of a dropped guest = %q, %v after %d reads; want admitted, read once", state, err, loads)
	}
}

package metrics

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/internal/teststore"
	"github.com/guestgate/guestgate/store/postgres"
)

// TestRegisterTwiceAndCount protects what the gate and the entry form report:
// registering the collectors twice into one registry (two handlers in one
// config) is no error, a redemption counts by result with its latency, and a
// gate decision counts by result, one without a counter resolved in advance
// too; every series a dashboard reads is there.
func TestRegisterTwiceAndCount(t *testing.T) {
	m := New(maps.All(map[string]guestlink.Store{}))
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := m.Register(reg); err != nil { // a second handler in the same config
		t.Fatalf("second registration: %v", err)
	}
	m.ObserveRedemption("used_up", 3*time.Millisecond)
	m.ObserveGate("not-allowed")
	m.ObserveGate("odd") // a result without a resolved counter still counts
	for _, tc := range []struct {
		counter prometheus.Collector
		want    float64
	}{
		{m.redemptions.WithLabelValues("used_up"), 1},
		{m.decisions.WithLabelValues("not-allowed"), 1},
		{m.decisions.WithLabelValues("odd"), 1},
		{m.decisions.WithLabelValues("allowed"), 0},
	} {
		if got := testutil.ToFloat64(tc.counter); got != tc.want {
			t.Errorf("%v = %v, want %v", tc.counter.(prometheus.Metric).Desc(), got, tc.want)
		}
	}
	for name, want := range map[string]int{
		"guestgate_redemptions_total": 1, "guestgate_redemption_duration_seconds": 1,
		// One series per gate result, from zero, and odd.
		"guestgate_gate_decisions_total": len(gateResults) + 1,
		"guestgate_rooms":                1, "guestgate_links": 1, "guestgate_guests_waiting": 1,
	} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != want {
			t.Errorf("%s: %d series (%v), want %d", name, n, err, want)
		}
	}
}

// liveStub is a store that several instances share, with its listener's state.
type liveStub struct {
	guestlink.Store
	live postgres.Live
}

func (s liveStub) Live() postgres.Live { return s.live }

// TestStoreGauges protects the gauges of the open stores: rooms, links and
// waiting guests are summed over every store, and only a store that several
// instances share reports its listener, the age of its live state and its
// database errors, labelled with its name.
func TestStoreGauges(t *testing.T) {
	svc, _ := teststore.Service(t, time.Now())
	teststore.RoomWithLinks(t, svc, "a", guestlink.RoomSpec{}, guestlink.LinkSpec{Name: "1"}, guestlink.LinkSpec{Name: "2"})
	shared, _ := teststore.Service(t, time.Now())
	teststore.RoomWithLinks(t, shared, "b", guestlink.RoomSpec{}, guestlink.LinkSpec{Name: "3"})
	m := New(maps.All(map[string]guestlink.Store{
		"/srv/a":               svc.Store,
		"postgres://db:5432/b": liveStub{shared.Store, postgres.Live{Listening: true, SinceSync: 2 * time.Second, Unreachable: 7, Failed: 2}},
	}))
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	const want = `
# HELP guestgate_guests_waiting Guests waiting in a lobby (including pages closed within retention).
# TYPE guestgate_guests_waiting gauge
guestgate_guests_waiting 0
# HELP guestgate_links Guest links in the store.
# TYPE guestgate_links gauge
guestgate_links 3
# HELP guestgate_rooms Rooms in the store.
# TYPE guestgate_rooms gauge
guestgate_rooms 2
# HELP guestgate_store_errors_total Store operations that failed on the database: kind unreachable (it could not be reached) or failed (it refused the statement).
# TYPE guestgate_store_errors_total counter
guestgate_store_errors_total{kind="failed",store="postgres://db:5432/b"} 2
guestgate_store_errors_total{kind="unreachable",store="postgres://db:5432/b"} 7
# HELP guestgate_store_listening 1 while the store's listener for the other instances' changes is connected, else 0.
# TYPE guestgate_store_listening gauge
guestgate_store_listening{store="postgres://db:5432/b"} 1
# HELP guestgate_store_sync_age_seconds Seconds since the live state was last brought up to date with the database: how far it may lag.
# TYPE guestgate_store_sync_age_seconds gauge
guestgate_store_sync_age_seconds{store="postgres://db:5432/b"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "guestgate_rooms", "guestgate_links", "guestgate_guests_waiting",
		"guestgate_store_listening", "guestgate_store_sync_age_seconds", "guestgate_store_errors_total"); err != nil {
		t.Error(err)
	}
}

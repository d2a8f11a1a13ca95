package caddymodule

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/store/postgres"
	"github.com/guestgate/guestgate/webhook"
)

func TestAuditSink(t *testing.T) {
	e := guestlink.Event{
		ID: "e_1", Type: guestlink.EventGuestRedeemed, Room: "demo", Link: "l_1", Guest: "g_1",
		Actor: "guest", GuestName: "Ada", GuestEmail: "ada@example.com",
	}
	for _, emails := range []bool{false, true} {
		core, logs := observer.New(zap.InfoLevel)
		var forwarded []guestlink.Event
		auditSink(zap.New(core), emails, func(e guestlink.Event) { forwarded = append(forwarded, e) })(e)
		entries := logs.All()
		if len(entries) != 1 || entries[0].Message != "guest.redeemed" || len(forwarded) != 1 {
			t.Fatalf("emails=%v: entries %v, forwarded %v", emails, entries, forwarded)
		}
		f := entries[0].ContextMap()
		if f["room"] != "demo" || f["link"] != "l_1" || f["guest"] != "g_1" || f["actor"] != "guest" || f["event_id"] != "e_1" {
			t.Errorf("fields %v", f)
		}
		_, hasEmail := f["guest_email"]
		_, hasName := f["guest_name"]
		if hasEmail != emails || hasName != emails {
			t.Errorf("audit_emails=%v but email present=%v name present=%v", emails, hasEmail, hasName)
		}
	}
	// A room event has no guest fields at all.
	core, logs := observer.New(zap.InfoLevel)
	auditSink(zap.New(core), true, nil)(guestlink.Event{Type: guestlink.EventAccessOff, Room: "demo", Actor: "api-key:abcd1234"})
	if f := logs.All()[0].ContextMap(); f["actor"] != "api-key:abcd1234" || f["guest_email"] != nil || f["link"] != nil {
		t.Errorf("room event fields %v", f)
	}
}

func TestMetricsRegisterTwiceAndCount(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := registerMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if err := registerMetrics(reg); err != nil { // a second handler in the same config
		t.Fatalf("second registration: %v", err)
	}
	before := testutil.ToFloat64(metrics.redemptions.WithLabelValues("used_up"))
	notAllowed, odd := testutil.ToFloat64(metrics.decisions.WithLabelValues("not-allowed")), testutil.ToFloat64(metrics.decisions.WithLabelValues("odd"))
	observeRedemption("used_up", 3*time.Millisecond)
	observeGate("not-allowed")
	observeGate("odd") // a result without a resolved counter still counts
	if got := testutil.ToFloat64(metrics.redemptions.WithLabelValues("used_up")); got != before+1 {
		t.Fatalf("redemptions used_up = %v, want %v", got, before+1)
	}
	if got := testutil.ToFloat64(metrics.decisions.WithLabelValues("not-allowed")); got != notAllowed+1 {
		t.Errorf("gate decisions not-allowed = %v, want %v", got, notAllowed+1)
	}
	if got := testutil.ToFloat64(metrics.decisions.WithLabelValues("odd")); got != odd+1 {
		t.Errorf("gate decisions odd = %v, want %v", got, odd+1)
	}
	n, err := testutil.GatherAndCount(reg, "guestgate_gate_decisions_total", "guestgate_redemption_duration_seconds", "guestgate_rooms")
	if err != nil || n < 3 {
		t.Fatalf("gathered %d series, %v", n, err)
	}
	mfs, _ := reg.Gather()
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	for _, want := range []string{"guestgate_redemptions_total", "guestgate_gate_decisions_total", "guestgate_rooms", "guestgate_links", "guestgate_guests_waiting", "guestgate_redemption_duration_seconds"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("metric %s missing from %v", want, names)
		}
	}
}

// liveFake is a shared store as the metrics see it: its counts and its
// listener's state.
type liveFake struct {
	guestlink.Store
	live postgres.Live
}

func (liveFake) Stats(context.Context) (guestlink.Stats, error) {
	return guestlink.Stats{Rooms: 2, Links: 5, GuestsWaiting: 1}, nil
}
func (f liveFake) Live() postgres.Live { return f.live }
func (liveFake) Close() error          { return nil }

// TestStoreMetrics: for a store that several instances share, the metrics
// show whether its listener is connected, how far its live state may lag and
// how many operations failed on the database, labelled by the store's key
// (which never holds the DSN's password).
func TestStoreMetrics(t *testing.T) {
	const key = "postgres://gg@db.example.com:5432/rooms"
	fake := liveFake{live: postgres.Live{Listening: true, SinceSync: 1500 * time.Millisecond, Unreachable: 7, Failed: 2}}
	if _, _, err := storePool.LoadOrNew(key, func() (caddy.Destructor, error) { return pooledStore{Store: fake, hub: webhook.NewHub(nil, zap.NewNop())}, nil }); err != nil {
		t.Fatal(err)
	}
	defer storePool.Delete(key)
	want := `
# HELP guestgate_store_errors_total Store operations that failed on the database: kind unreachable (it could not be reached) or failed (it refused the statement).
# TYPE guestgate_store_errors_total counter
guestgate_store_errors_total{kind="failed",store="postgres://gg@db.example.com:5432/rooms"} 2
guestgate_store_errors_total{kind="unreachable",store="postgres://gg@db.example.com:5432/rooms"} 7
# HELP guestgate_store_listening 1 while the store's listener for the other instances' changes is connected, else 0.
# TYPE guestgate_store_listening gauge
guestgate_store_listening{store="postgres://gg@db.example.com:5432/rooms"} 1
# HELP guestgate_store_sync_age_seconds Seconds since the live state was last brought up to date with the database: how far it may lag.
# TYPE guestgate_store_sync_age_seconds gauge
guestgate_store_sync_age_seconds{store="postgres://gg@db.example.com:5432/rooms"} 1.5
`
	if err := testutil.CollectAndCompare(newStoreCollector(), strings.NewReader(want),
		"guestgate_store_errors_total", "guestgate_store_listening", "guestgate_store_sync_age_seconds"); err != nil {
		t.Error(err)
	}
}

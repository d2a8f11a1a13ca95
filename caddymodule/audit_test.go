package caddymodule

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/guestgate/guestgate/caddymodule/stores"
	"github.com/guestgate/guestgate/guestlink"
)

func TestAuditSink(t *testing.T) {
	e := guestlink.Event{
		ID: "e_1", Type: guestlink.EventGuestRedeemed, Room: "demo", Link: "l_1", Guest: "g_1",
		Actor: "guest", GuestName: "Ada", GuestEmail: "ada@example.com", Role: "speaker",
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
		if f["room"] != "demo" || f["link"] != "l_1" || f["guest"] != "g_1" || f["actor"] != "guest" || f["event_id"] != "e_1" || f["role"] != "speaker" {
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
	if f := logs.All()[0].ContextMap(); f["actor"] != "api-key:abcd1234" || f["guest_email"] != nil || f["link"] != nil || f["role"] != nil {
		t.Errorf("room event fields %v", f)
	}
	// An invitation's event names it.
	core, logs = observer.New(zap.InfoLevel)
	auditSink(zap.New(core), false, nil)(guestlink.Event{Type: guestlink.EventInvitationCreated, Room: "demo", Invitation: "i_1", Role: "moderator", Actor: "moderator:u-1"})
	if f := logs.All()[0].ContextMap(); f["invitation"] != "i_1" || f["role"] != "moderator" || f["link"] != nil {
		t.Errorf("invitation event fields %v", f)
	}
}

// TestMetricsOfTheConfig protects the metrics' glue: a handler registers the
// process's collectors into its config's registry, a second handler of the
// config too, and the store gauges read the stores of the pool by key.
func TestMetricsOfTheConfig(t *testing.T) {
	reg := prometheus.NewRegistry()
	for range 2 {
		if err := registerMetrics(reg); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "guestgate_gate_decisions_total", "guestgate_rooms"); err != nil || n < 2 {
		t.Errorf("gathered %d series of the gate and the stores, %v", n, err)
	}
	key, _ := useStore(t, t.TempDir())
	var keys []string
	for k, s := range stores.All {
		if s == nil {
			t.Errorf("store %s is nil", k)
		}
		keys = append(keys, k)
	}
	if !slices.Equal(keys, []string{key}) {
		t.Errorf("pooled stores %v, want %v", keys, []string{key})
	}
}

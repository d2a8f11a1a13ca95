// Package metrics holds guestgate's Prometheus collectors: the entry form's
// redemptions and their latency and the gate's decisions, which entrypage
// reports through its OnRedeem and OnGate hooks, and gauges of what the open
// stores hold. It is plain Go: the host makes one Metrics per process and
// registers it into every registry it serves (caddymodule: each config's),
// so that counters keep counting across config reloads.
package metrics

import (
	"context"
	"errors"
	"iter"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/guestgate/guestgate/entrypage"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/store/postgres"
)

// Metrics are guestgate's collectors. Make them with New.
type Metrics struct {
	redemptions *prometheus.CounterVec
	latency     prometheus.Histogram
	decisions   *prometheus.CounterVec
	stores      *storeCollector
	// decided holds the decisions counter of every result the gate can give,
	// resolved once: WithLabelValues hashes the label and takes a lock on
	// every call, which the gate would pay on every request. Read-only after
	// New.
	decided map[string]prometheus.Counter
}

// gateResults are the results entrypage reports to OnGate: the gate's own and
// every data-reason a gate refusal can carry. Their series start at zero.
var gateResults = []string{
	entrypage.GateAllowed, entrypage.GatePassed, entrypage.GateError,
	entrypage.ReasonNoSession, entrypage.ReasonNotAllowed, entrypage.ReasonRateLimited,
	entrypage.ReasonGuestAccessOff, entrypage.ReasonRoomUnavailable, entrypage.ReasonLinkInvalid,
	entrypage.ReasonLinkExpired, entrypage.ReasonLinkUsedUp, entrypage.ReasonDeclined, entrypage.ReasonRemoved,
	entrypage.ReasonUnavailable,
}

// New makes the collectors. stores yields the open stores by name (the name
// labels the gauges of a store that several instances share); the gauges read
// them at scrape time.
func New(stores iter.Seq2[string, guestlink.Store]) *Metrics {
	const ns = "guestgate"
	m := &Metrics{
		redemptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "redemptions_total",
			Help: "Entry form posts by result: ok, used_up, expired, invalid, access_off, bad_input, rate_limited, error.",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Name: "redemption_duration_seconds",
			Help:    "Time to answer an entry form post, in seconds.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "gate_decisions_total",
			Help: "Gate decisions: allowed, passed, error, or the data-reason of the refusal.",
		}, []string{"result"}),
		stores:  newStoreCollector(stores),
		decided: make(map[string]prometheus.Counter, len(gateResults)),
	}
	for _, r := range gateResults {
		m.decided[r] = m.decisions.WithLabelValues(r)
	}
	return m
}

// Register adds the collectors to reg. Registering them again into the same
// registry (a second handler in one config) is no error.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.redemptions, m.latency, m.decisions, m.stores} {
		if err := reg.Register(c); err != nil {
			var dup prometheus.AlreadyRegisteredError
			if !errors.As(err, &dup) {
				return err
			}
		}
	}
	return nil
}

// ObserveRedemption counts an entry form post by result and records how long
// its answer took: entrypage's OnRedeem.
func (m *Metrics) ObserveRedemption(result string, took time.Duration) {
	m.redemptions.WithLabelValues(result).Inc()
	m.latency.Observe(took.Seconds())
}

// ObserveGate counts a gate decision: entrypage's OnGate.
func (m *Metrics) ObserveGate(result string) {
	if c, ok := m.decided[result]; ok {
		c.Inc()
		return
	}
	m.decisions.WithLabelValues(result).Inc()
}

// storeCollector reports the rooms, links and waiting guests of every open
// store, summed, as gauges read at scrape time (at most every 5 s; a scrape in
// between gets the last counts); and, per store that several instances share
// (PostgreSQL), whether its listener is connected, how old its live state is
// and how many of its operations failed on the database. A store's failures
// also show as the gate's "unavailable" decisions.
type storeCollector struct {
	stores                iter.Seq2[string, guestlink.Store]
	rooms, links, waiting *prometheus.Desc
	listening, syncAge    *prometheus.Desc
	storeErrors           *prometheus.Desc

	mu   sync.Mutex
	last guestlink.Stats
	at   time.Time
}

func newStoreCollector(stores iter.Seq2[string, guestlink.Store]) *storeCollector {
	return &storeCollector{
		stores:  stores,
		rooms:   prometheus.NewDesc("guestgate_rooms", "Rooms in the store.", nil, nil),
		links:   prometheus.NewDesc("guestgate_links", "Guest links in the store.", nil, nil),
		waiting: prometheus.NewDesc("guestgate_guests_waiting", "Guests waiting in a lobby (including pages closed within retention).", nil, nil),
		listening: prometheus.NewDesc("guestgate_store_listening",
			"1 while the store's listener for the other instances' changes is connected, else 0.", []string{"store"}, nil),
		syncAge: prometheus.NewDesc("guestgate_store_sync_age_seconds",
			"Seconds since the live state was last brought up to date with the database: how far it may lag.", []string{"store"}, nil),
		storeErrors: prometheus.NewDesc("guestgate_store_errors_total",
			"Store operations that failed on the database: kind unreachable (it could not be reached) or failed (it refused the statement).",
			[]string{"store", "kind"}, nil),
	}
}

// liveStore is a store that several instances share: it reports its listener.
type liveStore interface{ Live() postgres.Live }

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.rooms
	ch <- c.links
	ch <- c.waiting
	ch <- c.listening
	ch <- c.syncAge
	ch <- c.storeErrors
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if time.Since(c.at) >= 5*time.Second {
		var sum guestlink.Stats
		for _, s := range c.stores {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if st, err := s.Stats(ctx); err == nil {
				sum.Rooms += st.Rooms
				sum.Links += st.Links
				sum.GuestsWaiting += st.GuestsWaiting
			}
			cancel()
		}
		c.last, c.at = sum, time.Now()
	}
	st := c.last
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.rooms, prometheus.GaugeValue, float64(st.Rooms))
	ch <- prometheus.MustNewConstMetric(c.links, prometheus.GaugeValue, float64(st.Links))
	ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(st.GuestsWaiting))
	for name, s := range c.stores {
		if ls, ok := s.(liveStore); ok {
			live, listening := ls.Live(), 0.0
			if live.Listening {
				listening = 1
			}
			ch <- prometheus.MustNewConstMetric(c.listening, prometheus.GaugeValue, listening, name)
			ch <- prometheus.MustNewConstMetric(c.syncAge, prometheus.GaugeValue, live.SinceSync.Seconds(), name)
			ch <- prometheus.MustNewConstMetric(c.storeErrors, prometheus.CounterValue, float64(live.Unreachable), name, "unreachable")
			ch <- prometheus.MustNewConstMetric(c.storeErrors, prometheus.CounterValue, float64(live.Failed), name, "failed")
		}
	}
}

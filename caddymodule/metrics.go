package caddymodule

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/guestgate/guestgate/entrypage"
	"github.com/guestgate/guestgate/guestlink"
	"github.com/guestgate/guestgate/store/postgres"
)

// guestgate's Prometheus metrics. Like Caddy's own handlers (reverse_proxy's
// upstreams_healthy), the collectors are made once per process and registered
// into each config's registry, so counters keep counting across reloads.
var metrics struct {
	once        sync.Once
	redemptions *prometheus.CounterVec
	latency     prometheus.Histogram
	decisions   *prometheus.CounterVec
	gauges      *storeCollector
	// decided holds the decisions counter of every result the gate can give,
	// resolved once: WithLabelValues hashes the label and takes a lock on
	// every call, which the gate would pay on every request. Read-only after
	// initMetrics.
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

func initMetrics() {
	metrics.once.Do(func() {
		const ns = "guestgate"
		metrics.redemptions = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "redemptions_total",
			Help: "Entry form posts by result: ok, used_up, expired, invalid, access_off, bad_input, rate_limited, error.",
		}, []string{"result"})
		metrics.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Name: "redemption_duration_seconds",
			Help:    "Time to answer an entry form post, in seconds.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		})
		metrics.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "gate_decisions_total",
			Help: "Gate decisions: allowed, passed, error, or the data-reason of the refusal.",
		}, []string{"result"})
		metrics.decided = make(map[string]prometheus.Counter, len(gateResults))
		for _, r := range gateResults {
			metrics.decided[r] = metrics.decisions.WithLabelValues(r)
		}
		metrics.gauges = newStoreCollector()
	})
}

// registerMetrics adds guestgate's collectors to a config's registry (a nil
// registry, as in tests without metrics, is fine).
func registerMetrics(reg *prometheus.Registry) error {
	initMetrics()
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{metrics.redemptions, metrics.latency, metrics.decisions, metrics.gauges} {
		if err := reg.Register(c); err != nil {
			var dup prometheus.AlreadyRegisteredError
			if !errors.As(err, &dup) {
				return err
			}
		}
	}
	return nil
}

func observeRedemption(result string, took time.Duration) {
	metrics.redemptions.WithLabelValues(result).Inc()
	metrics.latency.Observe(took.Seconds())
}

func observeGate(result string) {
	if c, ok := metrics.decided[result]; ok {
		c.Inc()
		return
	}
	metrics.decisions.WithLabelValues(result).Inc()
}

// storeCollector reports the rooms, links and waiting guests of every open
// store, summed, as gauges read at scrape time (at most every 5 s; a scrape in
// between gets the last counts); and, per store that several instances share
// (PostgreSQL), whether its listener is connected and how old its live state
// is. A store's failures show as the gate's "unavailable" decisions.
type storeCollector struct {
	rooms, links, waiting *prometheus.Desc
	listening, syncAge    *prometheus.Desc
	storeErrors           *prometheus.Desc

	mu   sync.Mutex
	last guestlink.Stats
	at   time.Time
}

func newStoreCollector() *storeCollector {
	return &storeCollector{
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
		storePool.Range(func(_, v any) bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if st, err := v.(pooledStore).Stats(ctx); err == nil {
				sum.Rooms += st.Rooms
				sum.Links += st.Links
				sum.GuestsWaiting += st.GuestsWaiting
			}
			return true
		})
		c.last, c.at = sum, time.Now()
	}
	st := c.last
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.rooms, prometheus.GaugeValue, float64(st.Rooms))
	ch <- prometheus.MustNewConstMetric(c.links, prometheus.GaugeValue, float64(st.Links))
	ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(st.GuestsWaiting))
	storePool.Range(func(k, v any) bool {
		if ls, ok := v.(pooledStore).Store.(liveStore); ok {
			live, listening := ls.Live(), 0.0
			if live.Listening {
				listening = 1
			}
			ch <- prometheus.MustNewConstMetric(c.listening, prometheus.GaugeValue, listening, k.(string))
			ch <- prometheus.MustNewConstMetric(c.syncAge, prometheus.GaugeValue, live.SinceSync.Seconds(), k.(string))
			ch <- prometheus.MustNewConstMetric(c.storeErrors, prometheus.CounterValue, float64(live.Unreachable), k.(string), "unreachable")
			ch <- prometheus.MustNewConstMetric(c.storeErrors, prometheus.CounterValue, float64(live.Failed), k.(string), "failed")
		}
		return true
	})
}

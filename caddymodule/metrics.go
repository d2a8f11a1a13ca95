package caddymodule

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/guestgate/guestgate/caddymodule/stores"
	"github.com/guestgate/guestgate/metrics"
)

// processMetrics are guestgate's collectors (package metrics). Like Caddy's
// own handlers (reverse_proxy's upstreams_healthy), they are made once per
// process and registered into each config's registry, so counters keep
// counting across reloads; their store gauges read the store pool.
var processMetrics = sync.OnceValue(func() *metrics.Metrics { return metrics.New(stores.All) })

// registerMetrics adds guestgate's collectors to a config's registry (a nil
// registry, as in tests without metrics, is fine).
func registerMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	return processMetrics().Register(reg)
}

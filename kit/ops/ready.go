package ops

import "github.com/prometheus/client_golang/prometheus"

// withReady returns g's metrics (g may be nil) and natter_ready, the
// gauge every service's /metrics carries: 1 while ready returns nil (a
// nil ready always does, as for /readyz), else 0, asked at each scrape as
// /readyz asks it at each probe.
func withReady(g prometheus.Gatherer, ready Ready) prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "natter_ready",
		Help: "1 while the service is ready (its /readyz answers 200), 0 while it is not.",
	}, func() float64 {
		if ready != nil && ready() != nil {
			return 0
		}
		return 1
	}))
	if g == nil {
		return reg
	}
	return prometheus.Gatherers{g, reg}
}

package gateway

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/services/gateway/internal/engineio"
)

// metrics are the gateway's Prometheus metrics; see docs/metrics.md.
type metrics struct {
	sessions      *prometheus.GaugeVec
	opened        *prometheus.CounterVec
	closed        *prometheus.CounterVec
	upgrades      prometheus.Counter
	slowConsumers prometheus.Counter
}

var _ engineio.Observer = (*metrics)(nil)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "natter_gateway_sessions",
			Help: "Open Engine.IO sessions, by transport.",
		}, []string{"transport"}),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natter_gateway_sessions_opened_total",
			Help: "Engine.IO sessions opened, by the transport they opened on.",
		}, []string{"transport"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natter_gateway_sessions_closed_total",
			Help: "Engine.IO sessions closed, by transport and reason.",
		}, []string{"transport", "reason"}),
		upgrades: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_gateway_upgrades_total",
			Help: "Sessions upgraded from polling to WebSocket.",
		}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_gateway_slow_consumer_disconnects_total",
			Help: "Sessions closed because their send queue overflowed.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.sessions, m.opened, m.closed, m.upgrades, m.slowConsumers)
	}
	return m
}

func (m *metrics) SessionOpened(transport string) {
	m.sessions.WithLabelValues(transport).Inc()
	m.opened.WithLabelValues(transport).Inc()
}

func (m *metrics) SessionClosed(transport, reason string) {
	m.sessions.WithLabelValues(transport).Dec()
	m.closed.WithLabelValues(transport, reason).Inc()
}

func (m *metrics) Upgraded() {
	m.sessions.WithLabelValues("polling").Dec()
	m.sessions.WithLabelValues("websocket").Inc()
	m.upgrades.Inc()
}

func (m *metrics) SlowConsumer() { m.slowConsumers.Inc() }

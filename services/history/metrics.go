package history

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/proto"
)

// metrics are the history service's Prometheus metrics; see docs/metrics.md.
type metrics struct {
	messages prometheus.Counter
	queries  *prometheus.CounterVec
	duration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_history_messages_total",
			Help: "Messages read from the stream since start (each stored message once).",
		}),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natter_history_queries_total",
			Help: "History queries answered, by result code (ok or an error code).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "natter_history_query_duration_seconds",
			Help:    "Time to answer a history query.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.queries, m.duration)
	}
	return m
}

func (m *metrics) observeQuery(start time.Time, err *proto.Error) {
	result := "ok"
	if err != nil {
		result = err.Code
	}
	m.queries.WithLabelValues(result).Inc()
	m.duration.Observe(time.Since(start).Seconds())
}

package history

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/proto"
)

// metrics are the history service's Prometheus metrics; see docs/metrics.md.
type metrics struct {
	messages *prometheus.CounterVec
	queries  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	rereads  prometheus.Counter
}

// Kinds of messages and queries, as metric labels.
const (
	kindRoom    = "room"
	kindWhisper = "whisper"
	kindRead    = "read"   // a read position moved (read.go)
	kindUnread  = "unread" // read positions and unread counts
	kindEdit    = "edit"   // change records read, and edit and delete requests
)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natter_history_messages_total",
			Help: "Messages read from the stream since start (each stored message once), by kind: room, whisper, or edit (a change record of a room message).",
		}, []string{"kind"}),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natter_history_queries_total",
			Help: "Queries answered, by kind (room history, whisper, read, unread, or edit: an edit or delete request) and result code (ok or an error code).",
		}, []string{"kind", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "natter_history_query_duration_seconds",
			Help:    "Time to answer a query, by kind: room, whisper, read, unread or edit.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"kind"}),
		rereads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_history_stream_rereads_total",
			Help: "Times the reading of the stream stalled behind it and was started again from where the caches are.",
		}),
	}
	for _, kind := range []string{kindRoom, kindWhisper, kindEdit} {
		m.messages.WithLabelValues(kind) // a series from the start, at 0
	}
	for _, kind := range []string{kindRoom, kindWhisper, kindRead, kindUnread, kindEdit} {
		m.queries.WithLabelValues(kind, "ok")
		m.duration.WithLabelValues(kind)
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.queries, m.duration, m.rereads)
	}
	return m
}

func (m *metrics) observeQuery(kind string, start time.Time, err *proto.Error) {
	result := "ok"
	if err != nil {
		result = err.Code
	}
	m.queries.WithLabelValues(kind, result).Inc()
	m.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
}

package ops

import (
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// NATSOptions returns options for a service's NATS connection named name:
// it reconnects for ever, logs its disconnections, and counts them, its
// reconnections and its asynchronous errors in natter_nats_* metrics
// labelled with the connection's name.
func NATSOptions(reg prometheus.Registerer, log *slog.Logger, name string) []nats.Option {
	labels := prometheus.Labels{"conn": name}
	disconnects := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "natter_nats_disconnects_total", Help: "NATS connections lost.", ConstLabels: labels,
	})
	reconnects := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "natter_nats_reconnects_total", Help: "NATS connections re-established.", ConstLabels: labels,
	})
	errs := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "natter_nats_errors_total", Help: "Asynchronous NATS errors (slow consumers, permissions, ...).", ConstLabels: labels,
	})
	if reg != nil {
		reg.MustRegister(disconnects, reconnects, errs)
	}
	return []nats.Option{
		nats.Name("natter-" + name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true), // start before NATS does; connect when it comes
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			disconnects.Inc()
			log.Warn("nats disconnected", "conn", name, "err", err)
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			reconnects.Inc()
			log.Info("nats reconnected", "conn", name)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			errs.Inc()
			log.Warn("nats error", "conn", name, "err", err)
		}),
	}
}

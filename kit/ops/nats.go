package ops

import (
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// The timing of the services' NATS connections (see NATSOptions).
const (
	PingInterval        = 10 * time.Second
	MaxPingsOutstanding = 2
	ReconnectWait       = time.Second
	ReconnectJitter     = 500 * time.Millisecond
)

// NATSOptions returns options for a service's NATS connection named name:
// it reconnects for ever, logs its disconnections, and counts them, its
// reconnections and its asynchronous errors in natter_nats_* metrics
// labelled with the connection's name.
//
// nats.go's defaults are tuned for the server going away loudly: it pings
// every 2 minutes, so a server that stops answering without closing the
// connection (a host gone, a partition, a stopped process) would be
// noticed after 4 to 6 minutes. natter pings every PingInterval and gives
// up on a server after MaxPingsOutstanding unanswered pings, 20 to 30 s,
// then tries the others of the cluster; a stall shorter than that is
// ridden out on the same connection. Reconnection is tried every
// ReconnectWait plus up to ReconnectJitter, so that a restarted server is
// found within about 1.5 s, and the clients of many services do not all
// come at once.
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
		nats.PingInterval(PingInterval),
		nats.MaxPingsOutstanding(MaxPingsOutstanding),
		nats.ReconnectWait(ReconnectWait),
		nats.ReconnectJitter(ReconnectJitter, ReconnectJitter),
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

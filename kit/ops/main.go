package ops

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
)

// ShutdownTimeout bounds how long the operational endpoints take to shut
// down.
const ShutdownTimeout = 5 * time.Second

// Main runs the command of the service name: run, with a JSON logger,
// under a context that SIGINT and SIGTERM cancel. It exits 1, logging
// why, when run fails.
//
// "name healthcheck" instead probes the running service (for images with
// no shell or curl, such as compose's): it GETs /readyz at the listen
// address httpAddr returns (read from the environment as the service
// reads it; flags do not count), within HealthcheckTimeout, and exits 0
// when it answers 200, else 1, saying why.
func Main(name string, httpAddr func() (string, error), run func(ctx context.Context, log *slog.Logger) error) {
	if len(os.Args) == 2 && os.Args[1] == "healthcheck" {
		os.Exit(runHealthcheck(os.Stdout, name, httpAddr, HealthcheckTimeout))
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, log)
	stop()
	if err != nil {
		log.Error(name, "err", err)
		os.Exit(1)
	}
}

// ConnectNATS connects the service name to the NATS servers url, with
// NATSOptions. url is NATS_URL: one server, or several comma-separated
// (nats://n1:4222,nats://n2:4222); nats.go tries them in random order,
// learns the cluster's other servers from the one it reaches, and when that
// one goes away reconnects to another that answers.
func ConnectNATS(url string, reg prometheus.Registerer, log *slog.Logger, name string) (*nats.Conn, error) {
	return nats.Connect(url, NATSOptions(reg, log, name)...)
}

// Endpoints are a service's operational HTTP endpoints (see Mux): on
// Addr, with net/http/pprof too when Pprof (see Pprof).
type Endpoints struct {
	Addr     string
	Pprof    bool
	Gatherer prometheus.Gatherer
	Ready    Ready
}

// ServeBeside runs run and serves the endpoints beside it, until ctx is
// cancelled or either fails; it returns once both have stopped, with the
// first error.
func (e Endpoints) ServeBeside(ctx context.Context, log *slog.Logger, run func(context.Context) error) error {
	mux := Mux(e.Gatherer, e.Ready)
	if e.Pprof {
		Pprof(mux)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return run(ctx) })
	g.Go(func() error { return Serve(ctx, log, e.Addr, mux, ShutdownTimeout) })
	return g.Wait()
}

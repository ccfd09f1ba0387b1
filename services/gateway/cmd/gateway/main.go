// Command gateway runs one natter gateway against NATS (NATS_URL),
// configured by the environment that gateway.Env lists.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/kit/ops"
	"github.com/natter/natter/services/gateway"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("gateway", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	cfg, err := gateway.ConfigFromEnv()
	if err != nil {
		return err
	}
	flag.StringVar(&cfg.HTTPAddr, "addr", cfg.HTTPAddr, "listen address (NATTER_HTTP_ADDR; default :8080)")
	flag.StringVar(&cfg.ID, "id", cfg.ID, "gateway id (NATTER_GATEWAY_ID; default the host name)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	reg := ops.Registry()
	nc, err := nats.Connect(cfg.WithDefaults().NATSURL, ops.NATSOptions(reg, log, "gateway")...)
	if err != nil {
		return err
	}
	defer nc.Drain()
	gw, err := gateway.New(cfg, nc, log, reg)
	if err != nil {
		return err
	}
	return gw.Run(ctx)
}

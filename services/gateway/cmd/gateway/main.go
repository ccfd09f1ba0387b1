// Command gateway runs one natter gateway against NATS, configured by the
// environment that gateway.Env lists (the README's table): wiring only.
package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/natter/natter/kit/ops"
	"github.com/natter/natter/services/gateway"
)

func main() { ops.Main("gateway", httpAddr, run) }

// httpAddr is where gateway serves /readyz, for its healthcheck subcommand.
func httpAddr() (string, error) {
	cfg, err := gateway.ConfigFromEnv()
	return cfg.WithDefaults().HTTPAddr, err
}

func run(ctx context.Context, log *slog.Logger) error {
	cfg, err := gateway.ConfigFromEnv()
	if err != nil {
		return err
	}
	flag.StringVar(&cfg.HTTPAddr, "addr", cfg.HTTPAddr, "listen address (NATTER_HTTP_ADDR; default :8080)")
	flag.StringVar(&cfg.ID, "id", cfg.ID, "gateway id (NATTER_GATEWAY_ID; default the host name)")
	flag.Parse()

	reg := ops.Registry()
	nc, err := ops.ConnectNATS(cfg.WithDefaults().NATSURL, reg, log, "gateway")
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

// Command history runs natter's history service against NATS, configured
// by the environment that history.Env lists (the README's table): wiring
// only.
package main

import (
	"context"
	"log/slog"

	"github.com/natter/natter/kit/ops"
	"github.com/natter/natter/services/history"
)

func main() { ops.Main("history", httpAddr, run) }

// httpAddr is where history serves /readyz, for its healthcheck subcommand.
func httpAddr() (string, error) {
	cfg, err := history.ConfigFromEnv()
	return cfg.WithDefaults().HTTPAddr, err
}

func run(ctx context.Context, log *slog.Logger) error {
	cfg, err := history.ConfigFromEnv()
	if err != nil {
		return err
	}
	cfg = cfg.WithDefaults()
	reg := ops.Registry()
	nc, err := ops.ConnectNATS(cfg.NATSURL, reg, log, "history")
	if err != nil {
		return err
	}
	defer nc.Drain()

	svc, err := history.New(cfg, nc, log, reg)
	if err != nil {
		return err
	}
	return cfg.Endpoints(reg, svc.Ready).ServeBeside(ctx, log, svc.Run)
}

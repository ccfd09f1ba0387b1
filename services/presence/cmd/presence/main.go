// Command presence runs natter's presence service against NATS and Redis,
// configured by the environment that presence.Env lists (the README's
// table): wiring only.
package main

import (
	"context"
	"log/slog"

	"github.com/natter/natter/kit/ops"
	"github.com/natter/natter/services/presence"
)

func main() { ops.Main("presence", httpAddr, run) }

// httpAddr is where presence serves /readyz, for its healthcheck subcommand.
func httpAddr() (string, error) {
	cfg, err := presence.ConfigFromEnv()
	return cfg.WithDefaults().HTTPAddr, err
}

func run(ctx context.Context, log *slog.Logger) error {
	cfg, err := presence.ConfigFromEnv()
	if err != nil {
		return err
	}
	cfg = cfg.WithDefaults()
	rdb, err := cfg.RedisClient()
	if err != nil {
		return err
	}
	defer rdb.Close()
	reg := ops.Registry()
	nc, err := ops.ConnectNATS(cfg.NATSURL, reg, log, "presence")
	if err != nil {
		return err
	}
	defer nc.Drain()

	svc := presence.New(cfg, nc, presence.NewRedisStore(rdb, cfg.RedisPrefix, cfg.SessionTTL), log, reg)
	return cfg.Endpoints(reg, svc.Ready).ServeBeside(ctx, log, svc.Run)
}

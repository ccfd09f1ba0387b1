// Command presence runs natter's presence service against NATS (NATS_URL)
// and Redis (REDIS_URL). NATTER_PRESENCE_GRACE (5s) is how long a lost
// connection keeps its user in the room; NATTER_GATEWAY_TIMEOUT (6s) how long
// a gateway may miss heartbeats before its connections are let go;
// NATTER_PRESENCE_WORKERS (64) how many requests it serves at once.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/natter/natter/kit/ops"
	"github.com/natter/natter/services/presence"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("presence", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ttl, err := ops.EnvDuration("NATTER_SESSION_TTL")
	if err != nil {
		return err
	}
	var cfg presence.Config
	if cfg.Grace, err = ops.EnvDuration("NATTER_PRESENCE_GRACE"); err != nil {
		return err
	}
	if cfg.GatewayTimeout, err = ops.EnvDuration("NATTER_GATEWAY_TIMEOUT"); err != nil {
		return err
	}
	if cfg.Workers, err = ops.EnvInt("NATTER_PRESENCE_WORKERS"); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ropts, err := redis.ParseURL(ops.Env("REDIS_URL", "redis://127.0.0.1:6379"))
	if err != nil {
		return err
	}
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	reg := ops.Registry()
	nc, err := nats.Connect(ops.Env("NATS_URL", nats.DefaultURL), ops.NATSOptions(reg, log, "presence")...)
	if err != nil {
		return err
	}
	defer nc.Drain()

	store := presence.NewRedisStore(rdb, ops.Env("NATTER_REDIS_PREFIX", "natter:"), ttl)
	svc := presence.New(cfg, nc, store, log, reg)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return svc.Run(ctx) })
	g.Go(func() error {
		mux := ops.Mux(reg, svc.Ready)
		if ops.PprofFromEnv() {
			ops.Pprof(mux)
		}
		return ops.Serve(ctx, log, ops.Env("NATTER_HTTP_ADDR", ":8081"), mux, 5*time.Second)
	})
	return g.Wait()
}

// Command history runs natter's history service against NATS (NATS_URL).
//
// Retention and the other settings come from NATTER_HISTORY_MAX_AGE (a
// duration; 720h), NATTER_HISTORY_MAX_PER_ROOM (messages per room and
// whispers per pair of users; 10000), NATTER_HISTORY_CACHE_PER_ROOM (held
// in memory; all that is kept), NATTER_HISTORY_DUPLICATES (JetStream's
// deduplication window; 2m), NATTER_HISTORY_DEDUP_TTL (the guard past it;
// 24h) and NATTER_RECOVERY_TTL (how long after its last join a connection
// can be recovered; 24h).
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/natter/natter/kit/ops"
	"github.com/natter/natter/services/history"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("history", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	var cfg history.Config
	var err error
	if cfg.MaxAge, err = ops.EnvDuration("NATTER_HISTORY_MAX_AGE"); err != nil {
		return err
	}
	perRoom, err := ops.EnvInt("NATTER_HISTORY_MAX_PER_ROOM")
	if err != nil {
		return err
	}
	cfg.MaxPerRoom = int64(perRoom)
	if cfg.CachePerRoom, err = ops.EnvInt("NATTER_HISTORY_CACHE_PER_ROOM"); err != nil {
		return err
	}
	if cfg.Duplicates, err = ops.EnvDuration("NATTER_HISTORY_DUPLICATES"); err != nil {
		return err
	}
	if cfg.DedupTTL, err = ops.EnvDuration("NATTER_HISTORY_DEDUP_TTL"); err != nil {
		return err
	}
	if cfg.RecoveryTTL, err = ops.EnvDuration("NATTER_RECOVERY_TTL"); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	reg := ops.Registry()
	nc, err := nats.Connect(ops.Env("NATS_URL", nats.DefaultURL), ops.NATSOptions(reg, log, "history")...)
	if err != nil {
		return err
	}
	defer nc.Drain()
	svc, err := history.New(cfg, nc, log, reg)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return svc.Run(ctx) })
	g.Go(func() error {
		mux := ops.Mux(reg, svc.Ready)
		if ops.PprofFromEnv() {
			ops.Pprof(mux)
		}
		return ops.Serve(ctx, log, ops.Env("NATTER_HTTP_ADDR", ":8082"), mux, 5*time.Second)
	})
	return g.Wait()
}

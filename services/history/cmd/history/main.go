// Command history runs natter's history service against NATS (NATS_URL).
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
		return ops.Serve(ctx, log, ops.Env("NATTER_HTTP_ADDR", ":8082"), ops.Mux(reg, svc.Ready), 5*time.Second)
	})
	return g.Wait()
}

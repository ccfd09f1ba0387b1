// Command presence runs natter's presence service.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/natter/natter/services/presence"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := presence.New(presence.ConfigFromEnv(), log).Run(ctx); err != nil {
		log.Error("presence", "err", err)
		os.Exit(1)
	}
}

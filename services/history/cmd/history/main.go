// Command history runs natter's history service.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/natter/natter/services/history"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := history.New(history.ConfigFromEnv(), log).Run(ctx); err != nil {
		log.Error("history", "err", err)
		os.Exit(1)
	}
}

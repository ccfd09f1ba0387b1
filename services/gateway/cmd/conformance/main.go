// Command conformance serves the app that the Engine.IO v4 and Socket.IO v5
// protocol test suites run against.
//
//	conformance -addr 127.0.0.1:3000 -ping-interval 300ms -ping-timeout 200ms
//
// NATTER_HTTP_ADDR sets the default address.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/natter/natter/services/gateway/internal/conformance"
)

func main() {
	addr := os.Getenv("NATTER_HTTP_ADDR")
	if addr == "" {
		addr = "127.0.0.1:3000"
	}
	var cfg conformance.Config
	var origins string
	flag.StringVar(&addr, "addr", addr, "listen address")
	flag.DurationVar(&cfg.PingInterval, "ping-interval", 300*time.Millisecond, "Engine.IO ping interval")
	flag.DurationVar(&cfg.PingTimeout, "ping-timeout", 200*time.Millisecond, "Engine.IO ping timeout")
	flag.IntVar(&cfg.MaxPayload, "max-payload", 1_000_000, "Engine.IO max payload, bytes")
	flag.StringVar(&origins, "origins", "", "comma-separated origins allowed besides the same origin (* for any)")
	flag.Parse()
	if origins != "" {
		cfg.AllowedOrigins = strings.Split(origins, ",")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg.Logger = logger

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, addr, cfg, logger); err != nil {
		logger.Error("conformance", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string, cfg conformance.Config, logger *slog.Logger) error {
	app := conformance.New(cfg)
	srv := &http.Server{Addr: addr, Handler: app, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	logger.Info("conformance app listening", "addr", addr, "pingInterval", cfg.PingInterval, "pingTimeout", cfg.PingTimeout)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	app.Close()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

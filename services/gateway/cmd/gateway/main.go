// Command gateway runs one natter gateway.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/natter/natter/services/gateway"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := gateway.ConfigFromEnv()
	if err != nil {
		log.Error("config", "err", err)
		os.Exit(2)
	}
	flag.StringVar(&cfg.HTTPAddr, "addr", cfg.HTTPAddr, "listen address (NATTER_HTTP_ADDR; default :8080)")
	flag.StringVar(&cfg.ID, "id", cfg.ID, "gateway id (NATTER_GATEWAY_ID; default the host name)")
	flag.Parse()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := gateway.New(cfg, log, reg).Run(ctx, reg); err != nil {
		log.Error("gateway", "err", err)
		os.Exit(1)
	}
}

// Command natter runs the whole system in one process: an embedded NATS
// server with JetStream, presence with an in-memory store, history, and a
// gateway serving the web client and Socket.IO on :8080. Nothing to
// install; production runs each service alone against NATS and Redis.
//
//	natter [-addr :8080] [-data ./data]
//
// NATTER_HTTP_ADDR and NATTER_DATA_DIR set the defaults. The other variables
// of the gateway, presence and history (the README's tables) configure
// them as they do the separate commands.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/natter/natter/kit/ops"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("natter", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	gcfg, err := gateway.ConfigFromEnv()
	if err != nil {
		return err
	}
	if gcfg.HTTPAddr == "" {
		gcfg.HTTPAddr = ":8080"
	}
	if gcfg.ID == "" {
		gcfg.ID = "embedded"
	}
	pcfg, err := presence.ConfigFromEnv()
	if err != nil {
		return err
	}
	hcfg, err := history.ConfigFromEnv()
	if err != nil {
		return err
	}
	hcfg.Replicas = 1 // the one embedded server holds the only copy
	cfg, err := configFromEnv()
	if err != nil {
		return err
	}
	flag.StringVar(&gcfg.HTTPAddr, "addr", gcfg.HTTPAddr, "listen address (NATTER_HTTP_ADDR)")
	flag.StringVar(&cfg.DataDir, "data", cfg.DataDir, "folder for JetStream's files (NATTER_DATA_DIR)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ns, err := startNATS(filepath.Join(cfg.DataDir, "nats"))
	if err != nil {
		return err
	}
	defer ns.WaitForShutdown()
	defer ns.Shutdown()
	reg := ops.Registry()
	connect := func(name string) (*nats.Conn, error) {
		return nats.Connect("", append(ops.NATSOptions(reg, log, name), nats.InProcessServer(ns))...)
	}

	hnc, err := connect("history")
	if err != nil {
		return err
	}
	defer hnc.Drain()
	hist, err := history.New(hcfg, hnc, log.With("service", "history"), reg)
	if err != nil {
		return err
	}
	pnc, err := connect("presence")
	if err != nil {
		return err
	}
	defer pnc.Drain()
	pres := presence.New(pcfg, pnc, presence.NewMemoryStore(pcfg.SessionTTL, nil), log.With("service", "presence"), reg)
	gnc, err := connect("gateway")
	if err != nil {
		return err
	}
	defer gnc.Drain()
	gw, err := gateway.New(gcfg, gnc, log.With("service", "gateway"), reg)
	if err != nil {
		return err
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return hist.Run(ctx) })
	g.Go(func() error { return pres.Run(ctx) })
	g.Go(func() error { return gw.Run(ctx) })
	log.Info("natter running", "addr", gcfg.HTTPAddr, "data", cfg.DataDir)
	return g.Wait()
}

// startNATS starts an embedded NATS server with JetStream that listens on
// no port: the services connect in process.
func startNATS(storeDir string) (*server.Server, error) {
	ns, err := server.NewServer(&server.Options{
		ServerName: "natter-embedded",
		DontListen: true,
		JetStream:  true,
		StoreDir:   storeDir,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		return nil, fmt.Errorf("embedded nats: not ready")
	}
	return ns, nil
}

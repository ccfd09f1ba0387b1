// Package history is natter's history service. Until the chat layer lands it
// serves only its health and metrics endpoints.
package history

import (
	"context"
	"log/slog"
	"os"
)

// Config configures the service. The zero value of every field means its default.
type Config struct {
	HTTPAddr string // health and metrics; ":8082"
}

// ConfigFromEnv reads NATTER_HISTORY_ADDR.
func ConfigFromEnv() Config { return Config{HTTPAddr: os.Getenv("NATTER_HISTORY_ADDR")} }

// Service is the history service.
type Service struct {
	cfg Config
	log *slog.Logger
}

// New returns the service; Run serves it.
func New(cfg Config, log *slog.Logger) *Service {
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = ":8082"
	}
	return &Service{cfg: cfg, log: log}
}

// Run blocks until ctx is cancelled.
func (s *Service) Run(ctx context.Context) error {
	s.log.Info("history started", "addr", s.cfg.HTTPAddr)
	<-ctx.Done()
	return nil
}

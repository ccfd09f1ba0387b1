// Package gateway is natter's edge: it speaks Socket.IO to clients over
// WebSocket and HTTP long-polling, and holds no durable state.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/natter/natter/services/gateway/internal/engineio"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// Config configures a gateway. The zero value of every field means its default.
type Config struct {
	HTTPAddr        string        // listen address; ":8080"
	ID              string        // this gateway's id; the host name
	PingInterval    time.Duration // Engine.IO; 25s
	PingTimeout     time.Duration // Engine.IO; 20s
	MaxPayload      int           // Engine.IO, bytes; 1,000,000
	SendQueueBytes  int           // per session; 4 MiB
	AllowedOrigins  []string      // besides the same origin; "*" for any
	ShutdownTimeout time.Duration // for draining; 10s
}

// ConfigFromEnv reads NATTER_HTTP_ADDR, NATTER_GATEWAY_ID,
// NATTER_PING_INTERVAL, NATTER_PING_TIMEOUT (durations such as 25s),
// NATTER_MAX_PAYLOAD, NATTER_SEND_QUEUE_BYTES and NATTER_ALLOWED_ORIGINS
// (comma-separated). Unset variables keep their defaults.
func ConfigFromEnv() (Config, error) {
	c := Config{
		HTTPAddr: os.Getenv("NATTER_HTTP_ADDR"),
		ID:       os.Getenv("NATTER_GATEWAY_ID"),
	}
	var err error
	if c.PingInterval, err = envDuration("NATTER_PING_INTERVAL"); err != nil {
		return c, err
	}
	if c.PingTimeout, err = envDuration("NATTER_PING_TIMEOUT"); err != nil {
		return c, err
	}
	if c.MaxPayload, err = envInt("NATTER_MAX_PAYLOAD"); err != nil {
		return c, err
	}
	if c.SendQueueBytes, err = envInt("NATTER_SEND_QUEUE_BYTES"); err != nil {
		return c, err
	}
	if v := os.Getenv("NATTER_ALLOWED_ORIGINS"); v != "" {
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.AllowedOrigins = append(c.AllowedOrigins, o)
			}
		}
	}
	return c, nil
}

func envDuration(name string) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}

func envInt(name string) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

func (c Config) withDefaults() Config {
	if c.HTTPAddr == "" {
		c.HTTPAddr = ":8080"
	}
	if c.ID == "" {
		c.ID, _ = os.Hostname()
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	return c
}

// Service is a gateway.
type Service struct {
	cfg     Config
	log     *slog.Logger
	sio     *socketio.Server
	eio     *engineio.Server
	mux     *http.ServeMux
	metrics *metrics
}

// New returns a gateway; Run serves it.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) *Service {
	cfg = cfg.withDefaults()
	m := newMetrics(reg)
	ecfg := engineio.Config{
		PingInterval:   cfg.PingInterval,
		PingTimeout:    cfg.PingTimeout,
		MaxPayload:     cfg.MaxPayload,
		SendQueueBytes: cfg.SendQueueBytes,
		Observer:       m,
	}
	if len(cfg.AllowedOrigins) > 0 {
		ecfg.CheckOrigin = engineio.AllowOrigins(cfg.AllowedOrigins)
	}
	sio := socketio.NewServer(socketio.Config{MaxAttachmentBytes: cfg.MaxPayload})
	s := &Service{
		cfg:     cfg,
		log:     log,
		sio:     sio,
		eio:     engineio.NewServer(ecfg, sio),
		mux:     http.NewServeMux(),
		metrics: m,
	}
	s.mux.Handle("/socket.io/", s.eio)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	return s
}

// Handler returns the gateway's HTTP handler: Socket.IO at /socket.io/,
// /healthz and /readyz. /metrics is served by Run, or by the embedder.
func (s *Service) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Natter-Gateway", s.cfg.ID)
		s.mux.ServeHTTP(w, r)
	})
}

// Run serves until ctx is cancelled, then drains: it closes every session
// (clients reconnect elsewhere) and shuts the HTTP server down.
func (s *Service) Run(ctx context.Context, gatherer prometheus.Gatherer) error {
	ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("gateway listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", s.Handler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("gateway listening", "addr", ln.Addr().String(), "id", s.cfg.ID)

	select {
	case err := <-errc:
		return fmt.Errorf("gateway serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("gateway draining", "sessions", s.eio.Len())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	s.eio.Close(engineio.ReasonServerShutdown)
	err = srv.Shutdown(shutdownCtx)
	<-errc
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("gateway shutdown: %w", err)
	}
	return nil
}

// Package ops holds what every natter service does the same way: its
// operational HTTP endpoints and reading its configuration from the
// environment.
package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Ready reports whether a service can do its work; nil when it can.
type Ready func() error

// Mux returns a mux with /healthz (the process is up), /readyz (ready
// returns nil) and /metrics (what g gathers, and natter_ready from ready).
func Mux(g prometheus.Gatherer, ready Ready) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(withReady(g, ready), promhttp.HandlerOpts{}))
	return mux
}

// Defaults for the zero values of HTTPTimeouts.
const (
	DefaultHeaderTimeout = 10 * time.Second
	// Longer than a proxy keeps an idle upstream connection (nginx: 60s),
	// so that the proxy, not the server, closes it: a proxy that sends a
	// request on a connection the server has just closed fails it.
	DefaultIdleTimeout = 120 * time.Second
)

// HTTPTimeouts bound how long a client may keep a connection without
// sending a request. The zero value of every field means its default.
// A request body's bound is the handler's (see the gateway's BodyTimeout):
// a server-wide ReadTimeout would also cut long-polling GETs.
type HTTPTimeouts struct {
	Header time.Duration // to send a request's headers; 10s
	Idle   time.Duration // between requests on a kept-alive connection; 120s
}

// Serve serves h on addr until ctx is cancelled, then shuts down within
// timeout. It returns once the server has stopped.
func Serve(ctx context.Context, log *slog.Logger, addr string, h http.Handler, timeout time.Duration) error {
	return ServeTimeouts(ctx, log, addr, h, timeout, HTTPTimeouts{})
}

// ServeTimeouts is Serve with the connections' timeouts t.
func ServeTimeouts(ctx context.Context, log *slog.Logger, addr string, h http.Handler, timeout time.Duration, t HTTPTimeouts) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	return ServeOn(ctx, log, ln, h, timeout, t)
}

// ServeOn is ServeTimeouts on the listener ln, which it closes.
func ServeOn(ctx context.Context, log *slog.Logger, ln net.Listener, h http.Handler, timeout time.Duration, t HTTPTimeouts) error {
	if t.Header <= 0 {
		t.Header = DefaultHeaderTimeout
	}
	if t.Idle <= 0 {
		t.Idle = DefaultIdleTimeout
	}
	addr := ln.Addr().String()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: t.Header, IdleTimeout: t.Idle}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("http listening", "addr", addr)
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown %s: %w", addr, err)
	}
	return nil
}

// Registry returns a registry with the Go and process collectors.
func Registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectorsGo(), collectorsProcess())
	return reg
}

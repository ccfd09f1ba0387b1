// Package gateway is natter's edge: it speaks Socket.IO to clients over
// WebSocket and HTTP long-polling, carries their chat over NATS, and holds
// no durable state.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/kit/ops"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/engineio"
	"github.com/natter/natter/services/gateway/internal/socketio"
	"github.com/natter/natter/services/gateway/web"
)

// Service is a gateway.
type Service struct {
	cfg  Config
	log  *slog.Logger
	eio  *engineio.Server
	chat *chat
	// forwarded serves the polls other gateways pass here; ws passes
	// WebSockets on to them.
	forwarded *forwardedServer
	ws        *wsProxy
	nc        *nats.Conn
	handler   http.Handler
}

// New returns a gateway on the NATS connection nc; Run serves it. Its
// metrics register with reg.
func New(cfg Config, nc *nats.Conn, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	cfg = cfg.WithDefaults()
	if !proto.ValidGatewayID(cfg.ID) {
		return nil, fmt.Errorf("gateway id %q: use letters, digits, _ and -", cfg.ID)
	}
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
	} else {
		hosts := cfg.AllowedHosts
		if h, _, err := net.SplitHostPort(cfg.AdvertiseAddr); err == nil {
			hosts = append(slices.Clip(hosts), h)
		}
		ecfg.CheckOrigin = engineio.SameOriginOn(hosts)
	}
	peers := newPeers(nc)
	ws := newWSProxy(cfg.ID, peers, log, reg)
	fwd := newForwarder(cfg.ID, nc, peers, ws, cfg.MaxPayload, cfg.forwardWait(), log, reg)
	ecfg.NewID, ecfg.Forward = fwd.newSID, fwd.forward
	sio := socketio.NewServer(socketio.Config{
		MaxAttachmentBytes: cfg.MaxPayload,
		AttachmentTimeout:  cfg.AttachmentTimeout,
		Observer:           m,
	})
	ch, err := newChat(cfg.ID, nc, log, newChatMetrics(reg), cfg)
	if err != nil {
		return nil, err
	}
	ch.register(sio.Of("/"))
	eio := engineio.NewServer(ecfg, sio)
	s := &Service{
		cfg: cfg, log: log, eio: eio, chat: ch, nc: nc, ws: ws,
		forwarded: newForwardedServer(cfg.ID, cfg.AdvertiseAddr, nc, eio, peers, cfg.forwardWait(), log),
	}
	if err := s.forwarded.start(); err != nil {
		return nil, fmt.Errorf("gateway: forwarding: %w", err)
	}

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", s.eio)
	mux.Handle("GET /socket.io/socket.io.js", web.ClientHandler())
	mux.Handle("GET /socket.io/socket.io.min.js", web.ClientHandler())
	mux.Handle("/", web.Handler())
	bounded := bodyDeadline{next: mux, timeout: cfg.BodyTimeout, timedOut: m.bodyTimeouts}
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Natter-Gateway", cfg.ID)
		bounded.ServeHTTP(w, r)
	})
	return s, nil
}

// Ready reports whether the gateway can serve chat: NATS is connected.
func (s *Service) Ready() error {
	if !s.nc.IsConnected() {
		return errors.New("gateway: NATS disconnected")
	}
	return nil
}

// Handler returns the gateway's HTTP handler: Socket.IO at /socket.io/
// and the web client at /. Every response names the gateway in the
// X-Natter-Gateway header.
func (s *Service) Handler() http.Handler { return s.handler }

// Run serves on cfg.HTTPAddr, with /healthz, /readyz and the metrics that g
// gathers, until ctx is cancelled; then it drains (see Drain) and shuts the
// HTTP server down.
func (s *Service) Run(ctx context.Context, g prometheus.Gatherer) error {
	mux := ops.Mux(g, s.Ready)
	if s.cfg.Pprof {
		ops.Pprof(mux)
	}
	mux.Handle("/", s.Handler())
	srvCtx, stop := context.WithCancel(context.Background())
	defer stop()
	errc := make(chan error, 1)
	t := ops.HTTPTimeouts{Header: s.cfg.HeaderTimeout, Idle: s.cfg.IdleTimeout}
	go func() { errc <- ops.ServeTimeouts(srvCtx, s.log, s.cfg.HTTPAddr, mux, s.cfg.ShutdownTimeout, t) }()
	select {
	case err := <-errc:
		return fmt.Errorf("gateway: %w", err)
	case <-ctx.Done():
	}
	s.Drain()
	stop()
	return <-errc
}

// Drain closes every session, so that clients reconnect (through the
// balancer, to another gateway), closes the WebSockets it passes on to
// other gateways, and waits for the chat layer to have told presence.
func (s *Service) Drain() {
	s.log.Info("gateway draining", "sessions", s.eio.Len())
	s.eio.Close(engineio.ReasonServerShutdown)
	s.forwarded.close()
	s.ws.close()
	s.chat.close()
}

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
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

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
	api       *apiNATS
	stats     *gatewayStats
	handler   http.Handler        // Socket.IO and the web client
	gatherer  prometheus.Gatherer // for /metrics

	serving atomic.Bool // Run has subscribed
	drain   sync.Once
}

// New returns a gateway on the NATS connection nc; Run serves it. Its
// metrics register with reg. New starts nothing: the goroutines, the
// subscriptions (the chat layer's and the forwarding's) and the HTTP
// server are Run's.
func New(cfg Config, nc *nats.Conn, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	cfg = cfg.WithDefaults()
	if !proto.ValidGatewayID(cfg.ID) {
		return nil, fmt.Errorf("gateway id %q: use letters, digits, _ and -", cfg.ID)
	}
	if n := len(cfg.APIKey); n > 0 && n < MinAPIKeyBytes {
		return nil, fmt.Errorf("gateway: the API key is %d bytes; at least %d", n, MinAPIKeyBytes)
	}
	if n := len(cfg.AdminKey); n > 0 && n < MinAPIKeyBytes {
		return nil, fmt.Errorf("gateway: the admin key is %d bytes; at least %d", n, MinAPIKeyBytes)
	}
	m := newMetrics(reg)
	ecfg := engineio.Config{
		PingInterval:   cfg.PingInterval,
		PingTimeout:    cfg.PingTimeout,
		MaxPayload:     cfg.MaxPayload,
		SendQueueBytes: cfg.SendQueueBytes,
		Observer:       m,
		RequestHeaders: clientAddrHeaders,
	}
	ecfg.CheckOrigin = checkOrigin(cfg)
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
	auth, err := newAuthenticator(cfg.Auth, cfg.RequestTimeout, ch.floods.proxies, reg)
	if err != nil {
		return nil, err
	}
	if auth != nil {
		sio.Of("/").Use(auth.check)
	}
	ch.register(sio.Of("/"))
	eio := engineio.NewServer(ecfg, sio)
	s := &Service{
		cfg: cfg, log: log, eio: eio, chat: ch, nc: nc, ws: ws,
		forwarded: newForwardedServer(cfg.ID, cfg.AdvertiseAddr, nc, eio, peers, cfg.forwardWait(), log),
	}
	s.gatherer = cfg.Gatherer
	if s.gatherer == nil {
		s.gatherer, _ = reg.(prometheus.Gatherer)
	}
	if s.gatherer == nil {
		s.gatherer = prometheus.NewRegistry() // nothing to serve
	}

	mux := http.NewServeMux()
	operations := &apiOps{chat: ch, timeout: cfg.RequestTimeout}
	s.api = &apiNATS{nc: nc}
	if len(cfg.APIKey) > 0 {
		s.api.http = newAPIServer(cfg.APIKey, operations, newAPILimiter(cfg.APIRate, cfg.TrustedProxies), log, reg)
		mux.Handle(apiRoot, s.api.http)
	} else {
		mux.HandleFunc(apiRoot, apiOff)
	}
	s.stats = newGatewayStats(cfg.ID, nc, m, ch)
	if len(cfg.AdminKey) > 0 {
		mux.Handle(proto.AdminPrefix, newAdminServer(cfg.AdminKey, operations, s.stats, log))
	} else {
		mux.HandleFunc(proto.AdminPrefix, adminOff)
	}
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

// checkOrigin is the engine's CheckOrigin for cfg: AllowedOrigins when
// set, else the same origin on a trusted host.
func checkOrigin(cfg Config) func(*http.Request) bool {
	if len(cfg.AllowedOrigins) > 0 {
		return engineio.AllowOrigins(cfg.AllowedOrigins)
	}
	hosts := cfg.AllowedHosts
	if h, _, err := net.SplitHostPort(cfg.AdvertiseAddr); err == nil {
		hosts = append(slices.Clip(hosts), h)
	}
	return engineio.SameOriginOn(hosts)
}

// Ready reports whether the gateway can serve chat: Run has subscribed,
// and NATS is connected.
func (s *Service) Ready() error {
	if !s.serving.Load() {
		return errors.New("gateway: not serving yet")
	}
	if !s.nc.IsConnected() {
		return errors.New("gateway: NATS disconnected")
	}
	return nil
}

// Run subscribes to what other gateways pass here and serves HTTP on
// cfg.Listener, or else cfg.HTTPAddr: Socket.IO at /socket.io/, the web
// client at /, the server API at /api/ and the admin page at /admin/
// (each while its key is set), /healthz, /readyz and /metrics (every
// response names the gateway in the X-Natter-Gateway header), until ctx
// is cancelled. Then it
// drains (see Drain), shuts the HTTP server down, and returns nil. Run
// drains on its errors too: a gateway is run once.
func (s *Service) Run(ctx context.Context) error {
	ln := s.cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.HTTPAddr); err != nil {
			s.Drain()
			return fmt.Errorf("gateway: listen %s: %w", s.cfg.HTTPAddr, err)
		}
	}
	if err := s.chat.start(); err != nil {
		ln.Close()
		s.Drain()
		return fmt.Errorf("gateway: chat: %w", err)
	}
	if err := s.forwarded.start(); err != nil {
		ln.Close()
		s.Drain()
		return fmt.Errorf("gateway: forwarding: %w", err)
	}
	if err := s.api.start(s.chat.onDisconnectRequest); err != nil {
		ln.Close()
		s.Drain()
		return fmt.Errorf("gateway: server API: %w", err)
	}
	if err := s.stats.start(len(s.cfg.AdminKey) > 0); err != nil {
		ln.Close()
		s.Drain()
		return fmt.Errorf("gateway: stats: %w", err)
	}
	s.serving.Store(true)

	mux := ops.Mux(s.gatherer, s.Ready)
	if s.cfg.Pprof {
		ops.Pprof(mux)
	}
	mux.Handle("/", s.handler)
	t := ops.HTTPTimeouts{Header: s.cfg.HeaderTimeout, Idle: s.cfg.IdleTimeout}
	// The HTTP server stops after the drain, which needs it no more.
	httpCtx, stopHTTP := context.WithCancel(context.Background())
	defer stopHTTP()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return ops.ServeOn(httpCtx, s.log, ln, mux, s.cfg.ShutdownTimeout, t) })
	g.Go(func() error {
		<-gctx.Done()
		s.Drain()
		stopHTTP()
		return nil
	})
	if err := g.Wait(); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	return nil
}

// Drain closes every session, so that clients reconnect (through the
// balancer, to another gateway), stops serving what other gateways pass
// here, closes the WebSockets it passes on to them, and waits for the chat
// layer to have told presence. Run drains when its ctx is cancelled; a
// Drain before that leaves the HTTP server up (sessions and WebSockets
// passed on are refused). Only the first call drains.
func (s *Service) Drain() {
	s.drain.Do(func() {
		s.log.Info("gateway draining", "sessions", s.eio.Len())
		s.api.close()
		s.stats.close()
		s.eio.Close(engineio.ReasonServerShutdown)
		s.forwarded.close()
		s.ws.close()
		s.chat.close()
	})
}

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
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/kit/ops"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/engineio"
	"github.com/natter/natter/services/gateway/internal/socketio"
	"github.com/natter/natter/services/gateway/web"
)

// Config configures a gateway. The zero value of every field means its default.
type Config struct {
	HTTPAddr string // listen address; ":8080"
	// AdvertiseAddr is where other gateways reach this one over TCP
	// (host:port), to pass on a WebSocket for a session that lives here:
	// HTTPAddr when it names a host, else the host name with HTTPAddr's port.
	AdvertiseAddr  string
	ID             string        // this gateway's id; the host name
	PingInterval   time.Duration // Engine.IO; 25s
	PingTimeout    time.Duration // Engine.IO; 20s
	MaxPayload     int           // Engine.IO, bytes; 1,000,000
	SendQueueBytes int           // per session; 4 MiB
	// AllowedOrigins, when set, are the only origins (scheme://host[:port])
	// whose pages may connect; "*" for any. Unset: the same origin, on a
	// trusted host (AllowedHosts).
	AllowedOrigins []string
	// AllowedHosts are the hosts (name, or name:port) that browsers reach
	// the gateway by, besides loopback ones and AdvertiseAddr's: a page is
	// of the same origin only on one of them (docs/design.md, "Origins").
	AllowedHosts    []string
	ShutdownTimeout time.Duration // for draining; 10s
	RequestTimeout  time.Duration // for a request to presence, history or JetStream; 3s
	MessageRate     float64       // messages and whispers per second per connection; 10
	MessageBurst    int           // above the rate, at once; 20
	// Limits overrides the flood control of other events and scopes, by
	// "event.scope" (see ParseLimits and limits.go).
	Limits map[string]Rate
	// Pprof mounts net/http/pprof at /debug/pprof/ on HTTPAddr
	// (NATTER_PPROF=1); off by default.
	Pprof bool
	// TypingInterval is how often a room hears a user's typing on; 1s.
	TypingInterval time.Duration
	// TrustedProxies are the peers whose X-Forwarded-For and X-Real-IP
	// name the client; nil is loopback's, empty none.
	TrustedProxies []netip.Prefix
	// HeartbeatInterval is how often the gateway tells presence it lives; 2s.
	HeartbeatInterval time.Duration
	// NoRecovery turns Socket.IO's connection state recovery off: no pid
	// in CONNECT answers, no offsets on events.
	NoRecovery bool
	// HeaderTimeout bounds the time a client takes to send a request's
	// headers; 10s. IdleTimeout, the time a kept-alive connection may wait
	// for its next request; 120s, longer than nginx keeps an idle
	// upstream connection.
	HeaderTimeout time.Duration
	IdleTimeout   time.Duration
	// BodyTimeout bounds the time a request's body (a polling POST) takes
	// to arrive, from its headers; the ping timeout. A POST that is slower
	// is answered 408 and its session closed.
	BodyTimeout time.Duration
	// AttachmentTimeout bounds the time the binary attachments of a
	// Socket.IO packet take to arrive, from its header; the ping timeout.
	// A packet whose attachments are late closes its session.
	AttachmentTimeout time.Duration
}

// ConfigFromEnv reads NATTER_HTTP_ADDR, NATTER_ADVERTISE_ADDR, NATTER_GATEWAY_ID,
// NATTER_PING_INTERVAL, NATTER_PING_TIMEOUT (durations such as 25s),
// NATTER_MAX_PAYLOAD, NATTER_SEND_QUEUE_BYTES, NATTER_HEADER_TIMEOUT,
// NATTER_BODY_TIMEOUT, NATTER_IDLE_TIMEOUT, NATTER_ATTACHMENT_TIMEOUT,
// NATTER_ALLOWED_ORIGINS and NATTER_ALLOWED_HOSTS (comma-separated),
// NATTER_MESSAGE_RATE, NATTER_MESSAGE_BURST, NATTER_RATE_LIMITS (see
// ParseLimits), NATTER_TYPING_INTERVAL, NATTER_TRUSTED_PROXIES (see
// ParseTrustedProxies), NATTER_PPROF and NATTER_RECOVERY ("off" turns
// recovery off).
// Unset variables keep their defaults.
func ConfigFromEnv() (Config, error) {
	c := Config{
		HTTPAddr:      os.Getenv("NATTER_HTTP_ADDR"),
		AdvertiseAddr: os.Getenv("NATTER_ADVERTISE_ADDR"),
		ID:            os.Getenv("NATTER_GATEWAY_ID"),
	}
	switch v := os.Getenv("NATTER_RECOVERY"); v {
	case "", "on":
	case "off":
		c.NoRecovery = true
	default:
		return c, fmt.Errorf("NATTER_RECOVERY=%q: on or off", v)
	}
	var err error
	if c.PingInterval, err = ops.EnvDuration("NATTER_PING_INTERVAL"); err != nil {
		return c, err
	}
	if c.PingTimeout, err = ops.EnvDuration("NATTER_PING_TIMEOUT"); err != nil {
		return c, err
	}
	if c.MaxPayload, err = ops.EnvInt("NATTER_MAX_PAYLOAD"); err != nil {
		return c, err
	}
	if c.HeaderTimeout, err = ops.EnvDuration("NATTER_HEADER_TIMEOUT"); err != nil {
		return c, err
	}
	if c.BodyTimeout, err = ops.EnvDuration("NATTER_BODY_TIMEOUT"); err != nil {
		return c, err
	}
	if c.IdleTimeout, err = ops.EnvDuration("NATTER_IDLE_TIMEOUT"); err != nil {
		return c, err
	}
	if c.AttachmentTimeout, err = ops.EnvDuration("NATTER_ATTACHMENT_TIMEOUT"); err != nil {
		return c, err
	}
	if c.SendQueueBytes, err = ops.EnvInt("NATTER_SEND_QUEUE_BYTES"); err != nil {
		return c, err
	}
	rate, err := ops.EnvInt("NATTER_MESSAGE_RATE")
	if err != nil {
		return c, err
	}
	c.MessageRate = float64(rate)
	if c.MessageBurst, err = ops.EnvInt("NATTER_MESSAGE_BURST"); err != nil {
		return c, err
	}
	if c.Limits, err = ParseLimits(os.Getenv("NATTER_RATE_LIMITS")); err != nil {
		return c, fmt.Errorf("NATTER_RATE_LIMITS: %w", err)
	}
	if c.TypingInterval, err = ops.EnvDuration("NATTER_TYPING_INTERVAL"); err != nil {
		return c, err
	}
	if v, ok := os.LookupEnv("NATTER_TRUSTED_PROXIES"); ok {
		if c.TrustedProxies, err = ParseTrustedProxies(v); err != nil {
			return c, fmt.Errorf("NATTER_TRUSTED_PROXIES: %w", err)
		}
	}
	c.Pprof = ops.PprofFromEnv()
	c.AllowedOrigins = splitList(os.Getenv("NATTER_ALLOWED_ORIGINS"))
	c.AllowedHosts = splitList(os.Getenv("NATTER_ALLOWED_HOSTS"))
	return c, nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var list []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			list = append(list, v)
		}
	}
	return list
}

func (c Config) withDefaults() Config {
	if c.HTTPAddr == "" {
		c.HTTPAddr = ":8080"
	}
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = strings.Map(func(r rune) rune {
			if r == '.' || r == ' ' {
				return '-'
			}
			return r
		}, host)
	}
	if c.AdvertiseAddr == "" {
		c.AdvertiseAddr = advertiseAddr(c.HTTPAddr)
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 3 * time.Second
	}
	if c.MessageRate <= 0 {
		c.MessageRate = 10
	}
	if c.MessageBurst <= 0 {
		c.MessageBurst = 20
	}
	if c.TypingInterval <= 0 {
		c.TypingInterval = DefaultTypingInterval
	}
	if c.TrustedProxies == nil {
		c.TrustedProxies = DefaultTrustedProxies
	}
	pingTimeout := c.PingTimeout
	if pingTimeout <= 0 {
		pingTimeout = engineio.DefaultPingTimeout
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = pingTimeout
	}
	if c.AttachmentTimeout <= 0 {
		c.AttachmentTimeout = pingTimeout
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 2 * time.Second
	}
	return c
}

// advertiseAddr is the default AdvertiseAddr for a listen address: itself
// when it names a host, else the host name with its port (":8080" and
// "0.0.0.0:8080" listen everywhere, so they say nothing of where to call).
func advertiseAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return listen
	}
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = "localhost"
	}
	return net.JoinHostPort(name, port)
}

// Service is a gateway.
type Service struct {
	cfg     Config
	log     *slog.Logger
	eio     *engineio.Server
	chat    *chat
	fwd     *forwarder
	nc      *nats.Conn
	handler http.Handler
}

// New returns a gateway on the NATS connection nc; Run serves it. Its
// metrics register with reg.
func New(cfg Config, nc *nats.Conn, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	cfg = cfg.withDefaults()
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
	fwd := newForwarder(cfg.ID, cfg.AdvertiseAddr, nc, cfg.MaxPayload, 0, log, reg)
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
	s := &Service{cfg: cfg, log: log, eio: engineio.NewServer(ecfg, sio), chat: ch, nc: nc, fwd: fwd}
	// A forwarded poll may wait as long as a direct one: until the next ping.
	ec := s.eio.Config()
	fwd.eio, fwd.maxPayload = s.eio, ec.MaxPayload
	fwd.wait = ec.PingInterval + ec.PingTimeout + 5*time.Second
	if err := fwd.start(); err != nil {
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
	s.fwd.close()
	s.chat.close()
}

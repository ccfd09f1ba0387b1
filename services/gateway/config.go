package gateway

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/kit/ops"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/engineio"
)

// Defaults for the zero values of Config. DefaultTypingInterval
// (limits.go) and DefaultTrustedProxies (clientaddr.go) are the others.
const (
	DefaultNATSURL           = nats.DefaultURL
	DefaultHTTPAddr          = ":8080"
	DefaultPingInterval      = engineio.DefaultPingInterval
	DefaultPingTimeout       = engineio.DefaultPingTimeout
	DefaultMaxPayload        = engineio.DefaultMaxPayload
	DefaultSendQueueBytes    = engineio.DefaultSendQueueBytes
	DefaultShutdownTimeout   = 10 * time.Second
	DefaultRequestTimeout    = 3 * time.Second
	DefaultMessageRate       = 10
	DefaultMessageBurst      = 20
	DefaultHeartbeatInterval = 2 * time.Second
	DefaultHeaderTimeout     = ops.DefaultHeaderTimeout
	DefaultIdleTimeout       = ops.DefaultIdleTimeout
)

// forwardSlack is how much longer than a direct poll a forwarded one may
// wait at its owner: the NATS round trip.
const forwardSlack = 5 * time.Second

// Config configures a gateway. The zero value of every field means its default.
type Config struct {
	// NATSURL is where the command connects to NATS; nats.DefaultURL. New
	// takes a connection made already.
	NATSURL  string
	HTTPAddr string // listen address; ":8080"
	// Listener, when set, is where Run serves instead of HTTPAddr (a test
	// listens first, to know its address). Run closes it.
	Listener net.Listener
	// Gatherer is what /metrics serves; nil: the registry New was given,
	// when it gathers too (a *prometheus.Registry), else nothing.
	Gatherer prometheus.Gatherer
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
	// MaxRooms is how many rooms one connection may be in; 20
	// (proto.DefaultMaxRooms).
	MaxRooms int
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
	// Auth turns authentication on: a JWT in the Socket.IO CONNECT (see
	// AuthConfig). The zero value: off, everyone is anonymous.
	Auth AuthConfig
	// APIKey turns the server API on (proto.APIPrefix over HTTP, and
	// proto.APISubject over NATS): the key a backend sends, at least
	// MinAPIKeyBytes. Empty: off.
	APIKey Secret
	// APIRate is the server API's budget per client (see apiLimiter);
	// DefaultAPIRate. Off for none.
	APIRate Rate
	// AdminKey turns the admin page on (/admin/, see admin.go): the key
	// an operator logs in with, at least MinAPIKeyBytes. Empty: off.
	AdminKey Secret
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.NATSURL == "" {
		c.NATSURL = DefaultNATSURL
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
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
	// The engine's own defaults: the forwarding needs them here.
	e := engineio.Config{
		PingInterval: c.PingInterval, PingTimeout: c.PingTimeout,
		MaxPayload: c.MaxPayload, SendQueueBytes: c.SendQueueBytes,
	}.WithDefaults()
	c.PingInterval, c.PingTimeout, c.MaxPayload, c.SendQueueBytes = e.PingInterval, e.PingTimeout, e.MaxPayload, e.SendQueueBytes
	ops.Default(&c.ShutdownTimeout, DefaultShutdownTimeout)
	ops.Default(&c.RequestTimeout, DefaultRequestTimeout)
	ops.Default(&c.MessageRate, DefaultMessageRate)
	ops.Default(&c.MessageBurst, DefaultMessageBurst)
	ops.Default(&c.TypingInterval, DefaultTypingInterval)
	ops.Default(&c.MaxRooms, proto.DefaultMaxRooms)
	if c.TrustedProxies == nil {
		c.TrustedProxies = DefaultTrustedProxies
	}
	ops.Default(&c.BodyTimeout, c.PingTimeout)
	ops.Default(&c.AttachmentTimeout, c.PingTimeout)
	ops.Default(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	ops.Default(&c.HeaderTimeout, DefaultHeaderTimeout)
	ops.Default(&c.IdleTimeout, DefaultIdleTimeout)
	if c.APIRate == (Rate{}) {
		c.APIRate = DefaultAPIRate
	}
	return c
}

// forwardWait is the longest a forwarded poll may wait at its owner: as
// long as a direct one, until the next ping, and the round trip. c has its
// defaults.
func (c Config) forwardWait() time.Duration {
	return c.PingInterval + c.PingTimeout + forwardSlack
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

// Env lists every environment variable that ConfigFromEnv reads, as the
// README documents them. An empty value keeps the default, but for
// NATTER_TRUSTED_PROXIES (empty: none).
var Env = []ops.EnvVar{
	{Name: "NATS_URL", Default: DefaultNATSURL, Doc: "the NATS server (or servers, comma-separated)"},
	{Name: "NATTER_HTTP_ADDR", Default: DefaultHTTPAddr, Doc: "listen address"},
	{Name: "NATTER_ADVERTISE_ADDR", Doc: "where other gateways reach it; host name and port of NATTER_HTTP_ADDR"},
	{Name: "NATTER_GATEWAY_ID", Doc: "this gateway's id; the host name"},
	{Name: "NATTER_ALLOWED_ORIGINS", Doc: "when set, the only origins whose pages may connect (comma-separated)"},
	{Name: "NATTER_ALLOWED_HOSTS", Doc: "hosts on which a page of the same origin may connect (comma-separated)"},
	{Name: "NATTER_PING_INTERVAL", Default: DefaultPingInterval.String(), Doc: "Engine.IO ping interval"},
	{Name: "NATTER_PING_TIMEOUT", Default: DefaultPingTimeout.String(), Doc: "Engine.IO ping timeout"},
	{Name: "NATTER_MAX_PAYLOAD", Default: strconv.Itoa(DefaultMaxPayload), Doc: "bytes: a message, a POST body, a packet with its attachments"},
	{Name: "NATTER_SEND_QUEUE_BYTES", Default: strconv.Itoa(DefaultSendQueueBytes), Doc: "bytes queued for a session (4 MiB) before it is a slow consumer"},
	{Name: "NATTER_HEADER_TIMEOUT", Default: DefaultHeaderTimeout.String(), Doc: "to send a request's headers"},
	{Name: "NATTER_BODY_TIMEOUT", Doc: "a POST body; the ping timeout"},
	{Name: "NATTER_ATTACHMENT_TIMEOUT", Doc: "a packet's attachments; the ping timeout"},
	{Name: "NATTER_IDLE_TIMEOUT", Default: DefaultIdleTimeout.String(), Doc: "between requests on a kept-alive connection"},
	{Name: "NATTER_MESSAGE_RATE", Default: strconv.Itoa(DefaultMessageRate), Doc: "messages and whispers a second per connection (a whole number)"},
	{Name: "NATTER_MESSAGE_BURST", Default: strconv.Itoa(DefaultMessageBurst), Doc: "messages above the rate at once"},
	{Name: "NATTER_RATE_LIMITS", Doc: "flood control of every event per connection, user and address (see ParseLimits)"},
	{Name: "NATTER_TYPING_INTERVAL", Default: DefaultTypingInterval.String(), Doc: "a room hears one typing on per user per interval"},
	{Name: "NATTER_MAX_ROOMS", Default: strconv.Itoa(proto.DefaultMaxRooms), Doc: "rooms one connection may be in at once (joins with keep)"},
	{Name: "NATTER_TRUSTED_PROXIES", Doc: "loopback when unset: addresses or CIDRs whose X-Forwarded-For/X-Real-IP name the client, or none (see ParseTrustedProxies)"},
	{Name: "NATTER_PPROF", Default: "off", Doc: "1: net/http/pprof at /debug/pprof/, which nginx does not pass on"},
	{Name: "NATTER_AUTH_HS256_SECRET", Doc: "turns authentication on: the shared secret of HS256 tokens (at least 32 bytes)"},
	{Name: "NATTER_AUTH_HS256_SECRET_FILE", Doc: "turns authentication on: a file holding the HS256 secret"},
	{Name: "NATTER_AUTH_PUBLIC_KEY_FILE", Doc: "turns authentication on: a PEM public key (RSA: RS256, P-256: ES256) of tokens"},
	{Name: "NATTER_AUTH_JWKS_URL", Doc: "turns authentication on: the URL of the key set (JWKS) of tokens"},
	{Name: "NATTER_AUTH_AUDIENCE", Doc: "when set, tokens' aud must name it"},
	{Name: "NATTER_AUTH_ISSUER", Doc: "when set, tokens' iss must be it"},
	{Name: "NATTER_AUTH_ANONYMOUS", Default: "off", Doc: "with authentication on, 1: clients without a token join anonymously too"},
	{Name: "NATTER_RECOVERY", Default: "on", Doc: "Socket.IO's connection state recovery: on or off"},
	{Name: "NATTER_API_KEY", Doc: "turns the server API on: the key backends send (at least 16 bytes)"},
	{Name: "NATTER_API_KEY_FILE", Doc: "the same, read from a file"},
	{Name: "NATTER_API_RATE_LIMIT", Default: "20/50", Doc: "server API requests a second per client (HTTP: address, NATS: connection) / at once above it, or off"},
	{Name: "NATTER_ADMIN_KEY", Doc: "turns the admin page (/admin/) on: the key operators log in with (at least 16 bytes)"},
	{Name: "NATTER_ADMIN_KEY_FILE", Doc: "the same, read from a file"},
}

// ConfigFromEnv reads the variables in Env; unset (or empty) ones keep
// their defaults. It is the gateway's only reader of the environment.
func ConfigFromEnv() (Config, error) {
	r := ops.NewEnvReader(Env)
	c := Config{
		NATSURL:           r.String("NATS_URL"),
		HTTPAddr:          r.String("NATTER_HTTP_ADDR"),
		AdvertiseAddr:     r.String("NATTER_ADVERTISE_ADDR"),
		ID:                r.String("NATTER_GATEWAY_ID"),
		AllowedOrigins:    r.List("NATTER_ALLOWED_ORIGINS"),
		AllowedHosts:      r.List("NATTER_ALLOWED_HOSTS"),
		PingInterval:      r.Duration("NATTER_PING_INTERVAL"),
		PingTimeout:       r.Duration("NATTER_PING_TIMEOUT"),
		MaxPayload:        r.Int("NATTER_MAX_PAYLOAD"),
		SendQueueBytes:    r.Int("NATTER_SEND_QUEUE_BYTES"),
		HeaderTimeout:     r.Duration("NATTER_HEADER_TIMEOUT"),
		BodyTimeout:       r.Duration("NATTER_BODY_TIMEOUT"),
		AttachmentTimeout: r.Duration("NATTER_ATTACHMENT_TIMEOUT"),
		IdleTimeout:       r.Duration("NATTER_IDLE_TIMEOUT"),
		MessageRate:       float64(r.Int("NATTER_MESSAGE_RATE")),
		MessageBurst:      r.Int("NATTER_MESSAGE_BURST"),
		Limits:            ops.Parse(r, "NATTER_RATE_LIMITS", ParseLimits),
		TypingInterval:    r.Duration("NATTER_TYPING_INTERVAL"),
		MaxRooms:          r.Int("NATTER_MAX_ROOMS"),
		TrustedProxies:    ops.Parse(r, "NATTER_TRUSTED_PROXIES", ParseTrustedProxies),
		Pprof:             r.Switch("NATTER_PPROF"),
		NoRecovery:        ops.Parse(r, "NATTER_RECOVERY", parseRecoveryOff),
		Auth:              authFromEnv(r),
		APIKey:            keyFromEnv(r, "NATTER_API_KEY"),
		APIRate:           ops.Parse(r, "NATTER_API_RATE_LIMIT", ParseAPIRate),
		AdminKey:          keyFromEnv(r, "NATTER_ADMIN_KEY"),
	}
	return c, r.Err()
}

// authFromEnv reads the NATTER_AUTH_ variables. The secret's file, when
// set, wins over the secret itself; neither is ever in an error.
func authFromEnv(r *ops.EnvReader) AuthConfig {
	a := AuthConfig{
		PublicKeyFile: r.String("NATTER_AUTH_PUBLIC_KEY_FILE"),
		JWKSURL:       r.String("NATTER_AUTH_JWKS_URL"),
		Audience:      r.String("NATTER_AUTH_AUDIENCE"),
		Issuer:        r.String("NATTER_AUTH_ISSUER"),
		Anonymous:     r.Switch("NATTER_AUTH_ANONYMOUS"),
	}
	if v := r.String("NATTER_AUTH_HS256_SECRET"); v != "" {
		a.HS256Secret = Secret(v)
	}
	if r.String("NATTER_AUTH_HS256_SECRET_FILE") != "" {
		a.HS256Secret = ops.Parse(r, "NATTER_AUTH_HS256_SECRET_FILE", readSecret)
	}
	return a
}

// keyFromEnv reads a key from the variable name, or name_FILE, which
// wins; the key is never in an error.
func keyFromEnv(r *ops.EnvReader, name string) Secret {
	key := Secret(r.String(name))
	if r.String(name+"_FILE") != "" {
		key = ops.Parse(r, name+"_FILE", readSecret)
	}
	if len(key) == 0 {
		return nil
	}
	return key
}

// parseRecoveryOff parses NATTER_RECOVERY: whether it is "off"; "on" (or
// "", the default) is not.
func parseRecoveryOff(v string) (bool, error) {
	switch v {
	case "", "on":
		return false, nil
	case "off":
		return true, nil
	}
	return false, errors.New("on or off")
}

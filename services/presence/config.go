package presence

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/natter/natter/kit/ops"
)

// Defaults for the zero values of Config.
const (
	DefaultOpTimeout      = 2 * time.Second
	DefaultGrace          = 5 * time.Second
	DefaultGatewayTimeout = 6 * time.Second
	DefaultReapInterval   = 500 * time.Millisecond
	DefaultWorkers        = 64
	DefaultRedisURL       = "redis://127.0.0.1:6379"
	DefaultRedisPrefix    = "natter:"
	DefaultHTTPAddr       = ":8081"
)

// Config configures the service. The zero value of every field means its
// default. New reads the first five; the command presence wires the rest.
type Config struct {
	OpTimeout time.Duration // bounds one Store operation; 2s
	// Grace is how long a connection whose transport was lost keeps its
	// user in the room: a reload or a reconnect within it announces
	// nothing; 5s.
	Grace time.Duration
	// GatewayTimeout is how long a gateway may go without a heartbeat
	// before its connections are let go (they then linger for Grace); 6s,
	// three of the gateways' 2s beats.
	GatewayTimeout time.Duration
	// ReapInterval is how often lingering connections past their grace
	// are removed and their leaves announced; 500ms.
	ReapInterval time.Duration
	// Workers is how many requests the replica serves at once, each on
	// its own lane: one connection's requests share a lane, and are
	// served in the order they came; 64.
	Workers int

	// SessionTTL is how long a session lives after its last connection
	// went, for its token to resume it: the Store's; DefaultSessionTTL.
	SessionTTL  time.Duration
	RedisURL    string // the RedisStore's server; DefaultRedisURL
	RedisPrefix string // before every key of the RedisStore; DefaultRedisPrefix
	ops.Process        // NATS and the HTTP endpoints; HTTPAddr DefaultHTTPAddr
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	ops.Default(&c.OpTimeout, DefaultOpTimeout)
	ops.Default(&c.Grace, DefaultGrace)
	ops.Default(&c.GatewayTimeout, DefaultGatewayTimeout)
	ops.Default(&c.ReapInterval, DefaultReapInterval)
	ops.Default(&c.Workers, DefaultWorkers)
	ops.Default(&c.SessionTTL, DefaultSessionTTL)
	ops.Default(&c.RedisURL, DefaultRedisURL)
	ops.Default(&c.RedisPrefix, DefaultRedisPrefix)
	c.Process = c.Process.WithDefaults(DefaultHTTPAddr)
	return c
}

// Env lists the environment variables ConfigFromEnv reads, with their
// defaults as the README gives them.
var Env = append([]ops.EnvVar{
	{Name: "REDIS_URL", Default: DefaultRedisURL, Doc: "the Redis server of sessions, names, colours and rooms"},
	{Name: "NATTER_REDIS_PREFIX", Default: DefaultRedisPrefix, Doc: "before every Redis key; on Redis Cluster a hash tag such as `{natter}:`"},
	{Name: "NATTER_SESSION_TTL", Default: "24h", Doc: "how long a session lives after its last connection closed"},
	{Name: "NATTER_PRESENCE_GRACE", Default: "5s", Doc: "how long a lost connection keeps its user in the room"},
	{Name: "NATTER_GATEWAY_TIMEOUT", Default: "6s", Doc: "how long a gateway may miss heartbeats before its connections are let go"},
	{Name: "NATTER_PRESENCE_WORKERS", Default: "64", Doc: "requests served at once"},
}, ops.ProcessEnv(DefaultHTTPAddr)...)

// ConfigFromEnv reads the variables of Env; unset ones keep their
// defaults. It is the only place presence reads the environment.
func ConfigFromEnv() (Config, error) {
	r := ops.NewEnvReader(Env)
	c := Config{
		RedisURL:       r.String("REDIS_URL"),
		RedisPrefix:    r.String("NATTER_REDIS_PREFIX"),
		SessionTTL:     r.Duration("NATTER_SESSION_TTL"),
		Grace:          r.Duration("NATTER_PRESENCE_GRACE"),
		GatewayTimeout: r.Duration("NATTER_GATEWAY_TIMEOUT"),
		Workers:        r.Int("NATTER_PRESENCE_WORKERS"),
		Process:        ops.ProcessFromEnv(r),
	}
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	if c.RedisURL != "" {
		if _, err := redis.ParseURL(c.RedisURL); err != nil {
			return Config{}, fmt.Errorf("REDIS_URL=%q: %w", c.RedisURL, err)
		}
	}
	return c, nil
}

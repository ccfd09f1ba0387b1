package presence

import (
	"errors"
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
	DefaultRedisMaster    = "natter"
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
	// RedisSentinels, when set, are the host:ports of the sentinels that
	// name the primary of RedisMaster (DefaultRedisMaster), which the
	// RedisStore uses instead of RedisURL's server.
	RedisSentinels []string
	RedisMaster    string
	// RedisCluster, when set, are host:ports of nodes of a Redis Cluster,
	// which the RedisStore uses instead of RedisURL's server.
	RedisCluster []string
	// RedisPassword is the Redis servers' password (with RedisURL, the
	// URL's own wins), RedisSentinelPassword the sentinels'; none when "".
	RedisPassword         string
	RedisSentinelPassword string
	ops.Process           // NATS and the HTTP endpoints; HTTPAddr DefaultHTTPAddr
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
	ops.Default(&c.RedisMaster, DefaultRedisMaster)
	c.Process = c.Process.WithDefaults(DefaultHTTPAddr)
	return c
}

// Env lists the environment variables ConfigFromEnv reads, with their
// defaults as the README gives them.
var Env = append([]ops.EnvVar{
	{Name: "REDIS_URL", Default: DefaultRedisURL, Doc: "the Redis server of sessions, names, colours and rooms"},
	{Name: "NATTER_REDIS_SENTINELS", Doc: "host:port,... of Redis Sentinels: presence uses the primary they name instead of `REDIS_URL`'s server"},
	{Name: "NATTER_REDIS_MASTER", Default: DefaultRedisMaster, Doc: "the name under which the sentinels monitor the primary"},
	{Name: "NATTER_REDIS_CLUSTER", Doc: "host:port,... of nodes of a Redis Cluster, used instead of `REDIS_URL`'s server"},
	{Name: "NATTER_REDIS_PASSWORD", Doc: "the Redis servers' password (`REDIS_URL`'s own wins); never logged"},
	{Name: "NATTER_REDIS_SENTINEL_PASSWORD", Doc: "the sentinels' own password, if they have one"},
	{Name: "NATTER_REDIS_PREFIX", Default: DefaultRedisPrefix, Doc: "before every Redis key; all keys of a store share one hash tag (one Redis Cluster slot): the prefix's own, such as `{natter}:`, or one made of it"},
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
		RedisURL:      r.String("REDIS_URL"),
		RedisPrefix:   r.String("NATTER_REDIS_PREFIX"),
		RedisMaster:   r.String("NATTER_REDIS_MASTER"),
		RedisPassword: r.String("NATTER_REDIS_PASSWORD"),

		RedisSentinelPassword: r.String("NATTER_REDIS_SENTINEL_PASSWORD"),
		SessionTTL:            r.Duration("NATTER_SESSION_TTL"),
		Grace:                 r.Duration("NATTER_PRESENCE_GRACE"),
		GatewayTimeout:        r.Duration("NATTER_GATEWAY_TIMEOUT"),
		Workers:               r.Int("NATTER_PRESENCE_WORKERS"),
		Process:               ops.ProcessFromEnv(r),
	}
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	if c.RedisURL != "" {
		if _, err := redis.ParseURL(c.RedisURL); err != nil {
			return Config{}, fmt.Errorf("REDIS_URL: %w", withoutURL(err))
		}
	}
	var err error
	if c.RedisSentinels, err = hostPorts("NATTER_REDIS_SENTINELS", r.List("NATTER_REDIS_SENTINELS")); err != nil {
		return Config{}, err
	}
	if c.RedisCluster, err = hostPorts("NATTER_REDIS_CLUSTER", r.List("NATTER_REDIS_CLUSTER")); err != nil {
		return Config{}, err
	}
	if c.RedisSentinels != nil && c.RedisCluster != nil {
		return Config{}, errors.New("NATTER_REDIS_SENTINELS and NATTER_REDIS_CLUSTER: set one at most")
	}
	return c, nil
}

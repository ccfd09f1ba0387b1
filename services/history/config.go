package history

import (
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/kit/ops"
	"github.com/natter/natter/proto"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxAge         = 30 * 24 * time.Hour
	DefaultMaxPerRoom     = 10_000
	DefaultDuplicates     = 2 * time.Minute
	DefaultDedupTTL       = 24 * time.Hour
	DefaultRecoveryTTL    = 24 * time.Hour
	DefaultReplicas       = 1
	DefaultCatchUpTimeout = 2 * time.Second
	DefaultNATSURL        = nats.DefaultURL
	DefaultHTTPAddr       = ":8082"
)

// Config configures the service. The zero value of every field means its
// default. NATSURL, HTTPAddr and Pprof are for the command history to wire.
type Config struct {
	MaxAge time.Duration // how long messages and whispers are kept; 30 days
	// MaxPerRoom is how many messages are kept per room, and whispers per
	// pair of sessions; 10,000.
	MaxPerRoom int64
	// CachePerRoom is how many of the newest messages of a room, and
	// whispers of a session, are held in memory to answer queries; pages
	// reach back that far. MaxPerRoom: all that is kept.
	CachePerRoom int
	// Duplicates is JetStream's deduplication window for message ids; 2m.
	Duplicates time.Duration
	// DedupTTL is how long the deduplication bucket remembers a message
	// id past that window; 24h.
	DedupTTL time.Duration
	// RecoveryTTL is how long a connection can be recovered after its
	// last join; 24h.
	RecoveryTTL time.Duration
	Replicas    int // stream replicas, for a NATS cluster; 1

	NATSURL  string // DefaultNATSURL
	HTTPAddr string // of /healthz, /readyz and /metrics; DefaultHTTPAddr
	Pprof    bool   // mounts net/http/pprof on HTTPAddr; off
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.MaxPerRoom <= 0 {
		c.MaxPerRoom = DefaultMaxPerRoom
	}
	if c.CachePerRoom <= 0 {
		c.CachePerRoom = int(c.MaxPerRoom)
	}
	if c.Duplicates <= 0 {
		c.Duplicates = DefaultDuplicates
	}
	if c.DedupTTL <= 0 {
		c.DedupTTL = DefaultDedupTTL
	}
	if c.RecoveryTTL <= 0 {
		c.RecoveryTTL = DefaultRecoveryTTL
	}
	if c.Replicas <= 0 {
		c.Replicas = DefaultReplicas
	}
	if c.NATSURL == "" {
		c.NATSURL = DefaultNATSURL
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	return c
}

// Env lists the environment variables ConfigFromEnv reads, with their
// defaults as the README gives them.
var Env = []ops.EnvVar{
	{Name: "NATS_URL", Default: DefaultNATSURL, Doc: "the NATS server (or servers, comma-separated)"},
	{Name: "NATTER_HISTORY_MAX_AGE", Default: "720h", Doc: "how long messages and whispers are kept"},
	{Name: "NATTER_HISTORY_MAX_PER_ROOM", Default: "10000", Doc: "messages kept per room, and whispers per pair of users"},
	{Name: "NATTER_HISTORY_CACHE_PER_ROOM", Default: "", Doc: "messages of a room held in memory to answer queries; all that is kept"},
	{Name: "NATTER_HISTORY_DUPLICATES", Default: "2m", Doc: "JetStream's deduplication window for message ids"},
	{Name: "NATTER_HISTORY_DEDUP_TTL", Default: "24h", Doc: "how long a message id is remembered past that window"},
	{Name: "NATTER_RECOVERY_TTL", Default: "24h", Doc: "how long after its last join a connection can be recovered"},
	{Name: "NATTER_HTTP_ADDR", Default: DefaultHTTPAddr, Doc: "the address of /healthz, /readyz and /metrics"},
	{Name: "NATTER_PPROF", Default: "off", Doc: "`1`: net/http/pprof at `/debug/pprof/` on the HTTP address"},
}

// ConfigFromEnv reads the variables of Env; unset ones keep their
// defaults. It is the only place history reads the environment.
func ConfigFromEnv() (Config, error) {
	r := ops.NewEnvReader(Env)
	c := Config{
		NATSURL:      r.String("NATS_URL"),
		MaxAge:       r.Duration("NATTER_HISTORY_MAX_AGE"),
		MaxPerRoom:   int64(r.Int("NATTER_HISTORY_MAX_PER_ROOM")),
		CachePerRoom: r.Int("NATTER_HISTORY_CACHE_PER_ROOM"),
		Duplicates:   r.Duration("NATTER_HISTORY_DUPLICATES"),
		DedupTTL:     r.Duration("NATTER_HISTORY_DEDUP_TTL"),
		RecoveryTTL:  r.Duration("NATTER_RECOVERY_TTL"),
		HTTPAddr:     r.String("NATTER_HTTP_ADDR"),
		Pprof:        r.Switch("NATTER_PPROF"),
	}
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// StreamConfig returns the configuration of the messages stream: file
// storage, retention by age and per room (and per pair of users, for
// whispers), deduplication, and republishing of every stored message
// under natter.stored.>, so that gateways fan out only what is stored,
// once, in order.
func (c Config) StreamConfig() jetstream.StreamConfig {
	c = c.WithDefaults()
	return jetstream.StreamConfig{
		Name:              proto.MessagesStream,
		Description:       "natter room messages and whispers",
		Subjects:          []string{proto.MessagesStreamSubjects},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxAge:            c.MaxAge,
		MaxMsgsPerSubject: c.MaxPerRoom,
		Duplicates:        c.Duplicates,
		Replicas:          c.Replicas,
		RePublish: &jetstream.RePublish{
			Source:      proto.MessagesStreamSubjects,
			Destination: proto.StoredSubjects,
		},
	}
}

// BucketConfigs returns the configurations of the recovery and
// deduplication buckets.
func (c Config) BucketConfigs() []jetstream.KeyValueConfig {
	c = c.WithDefaults()
	return []jetstream.KeyValueConfig{
		{
			Bucket:      proto.RecoveryBucket,
			Description: "natter: connection recovery, by a hash of the pid",
			TTL:         c.RecoveryTTL,
			Storage:     jetstream.FileStorage,
			Replicas:    c.Replicas,
		},
		{
			Bucket:      proto.DedupBucket,
			Description: "natter: message deduplication ids past the stream's window",
			TTL:         c.DedupTTL,
			Storage:     jetstream.FileStorage,
			Replicas:    c.Replicas,
		},
	}
}

package history

import (
	"fmt"
	"time"

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
	MaxReplicas           = 5 // JetStream's most
	DefaultCatchUpTimeout = 2 * time.Second
	DefaultStallAfter     = 5 * time.Second
	DefaultHTTPAddr       = ":8082"
)

// Config configures the service. The zero value of every field means its
// default. Process is for the command history to wire.
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
	// Replicas is how many servers of a NATS cluster hold a copy of the
	// stream and of each bucket (1 to MaxReplicas, no more than the
	// cluster has); 1. With 3, JetStream keeps acking writes, and loses
	// none it acked, while one server of the three is down.
	Replicas int
	// Events turns on the events stream (proto.EventsStream): every join
	// and leave notice stored, for other services to follow at least
	// once. Off by default: each notice is then a JetStream write.
	Events bool
	// StallAfter is how long the caches may stay behind the stream, not
	// moving, before the service reads the stream again from where they
	// are (reader.go); 5s.
	StallAfter time.Duration

	ops.Process // NATS and the HTTP endpoints; HTTPAddr DefaultHTTPAddr
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	ops.Default(&c.MaxAge, DefaultMaxAge)
	ops.Default(&c.MaxPerRoom, DefaultMaxPerRoom)
	ops.Default(&c.CachePerRoom, int(c.MaxPerRoom))
	ops.Default(&c.Duplicates, DefaultDuplicates)
	ops.Default(&c.DedupTTL, DefaultDedupTTL)
	ops.Default(&c.RecoveryTTL, DefaultRecoveryTTL)
	ops.Default(&c.Replicas, DefaultReplicas)
	if c.StallAfter <= 0 {
		c.StallAfter = DefaultStallAfter
	}
	c.Process = c.Process.WithDefaults(DefaultHTTPAddr)
	return c
}

// Env lists the environment variables ConfigFromEnv reads, with their
// defaults as the README gives them.
var Env = append([]ops.EnvVar{
	{Name: "NATTER_HISTORY_MAX_AGE", Default: "720h", Doc: "how long messages and whispers are kept"},
	{Name: "NATTER_HISTORY_MAX_PER_ROOM", Default: "10000", Doc: "messages kept per room, and whispers per pair of users"},
	{Name: "NATTER_HISTORY_CACHE_PER_ROOM", Default: "", Doc: "messages of a room held in memory to answer queries; all that is kept"},
	{Name: "NATTER_HISTORY_DUPLICATES", Default: "2m", Doc: "JetStream's deduplication window for message ids"},
	{Name: "NATTER_HISTORY_DEDUP_TTL", Default: "24h", Doc: "how long a message id is remembered past that window"},
	{Name: "NATTER_RECOVERY_TTL", Default: "24h", Doc: "how long after its last join a connection can be recovered"},
	{Name: "NATTER_JETSTREAM_REPLICAS", Default: "1", Doc: "copies of the stream and the buckets in a NATS cluster, 1 to 5: 3 survives a server's loss"},
	{Name: "NATTER_EVENTS_STREAM", Default: "off", Doc: "on: join and leave notices stored in the NATTER_EVENTS stream, for other services"},
}, ops.ProcessEnv(DefaultHTTPAddr)...)

// ConfigFromEnv reads the variables of Env; unset ones keep their
// defaults. It is the only place history reads the environment.
func ConfigFromEnv() (Config, error) {
	r := ops.NewEnvReader(Env)
	c := Config{
		MaxAge:       r.Duration("NATTER_HISTORY_MAX_AGE"),
		MaxPerRoom:   int64(r.Int("NATTER_HISTORY_MAX_PER_ROOM")),
		CachePerRoom: r.Int("NATTER_HISTORY_CACHE_PER_ROOM"),
		Duplicates:   r.Duration("NATTER_HISTORY_DUPLICATES"),
		DedupTTL:     r.Duration("NATTER_HISTORY_DEDUP_TTL"),
		RecoveryTTL:  r.Duration("NATTER_RECOVERY_TTL"),
		Replicas:     r.Int("NATTER_JETSTREAM_REPLICAS"),
		Events:       r.Switch("NATTER_EVENTS_STREAM"),
		Process:      ops.ProcessFromEnv(r),
	}
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	if c.Replicas > MaxReplicas {
		return Config{}, fmt.Errorf("NATTER_JETSTREAM_REPLICAS=%d: want 1 to %d", c.Replicas, MaxReplicas)
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

// Bounds of the events stream (proto.EventsStream).
const (
	EventsMaxAge   = 24 * time.Hour
	EventsMaxBytes = 256 << 20
)

// EventsStreamConfig returns the configuration of the events stream:
// every room's join and leave notices, kept a day (and at most
// EventsMaxBytes), stored once per event id.
func (c Config) EventsStreamConfig() jetstream.StreamConfig {
	c = c.WithDefaults()
	return jetstream.StreamConfig{
		Name:        proto.EventsStream,
		Description: "natter join and leave notices, for services that follow along",
		Subjects:    []string{proto.EventsStreamSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      EventsMaxAge,
		MaxBytes:    EventsMaxBytes,
		Duplicates:  c.Duplicates,
		Replicas:    c.Replicas,
	}
}

// BucketConfigs returns the configurations of the recovery,
// deduplication and read-position buckets. A session's read positions
// are kept as long as messages are (MaxAge) after their last move.
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
		{
			Bucket:      proto.ReadBucket,
			Description: "natter: each session's read positions, by session id",
			TTL:         c.MaxAge,
			Storage:     jetstream.FileStorage,
			Replicas:    c.Replicas,
		},
	}
}

// Package history is natter's history service. It owns the JetStream
// stream of room messages — creating it and setting its retention — and
// answers history queries from a per-room cache that it builds by reading
// the stream, so that a restart of the service or of NATS loses nothing.
package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/proto"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxAge         = 30 * 24 * time.Hour
	DefaultMaxPerRoom     = 10_000
	DefaultCachePerRoom   = 1000
	DefaultDuplicates     = 2 * time.Minute
	DefaultCatchUpTimeout = 2 * time.Second
)

// Config configures the service. The zero value of every field means its default.
type Config struct {
	MaxAge       time.Duration // how long messages are kept; 30 days
	MaxPerRoom   int64         // messages kept per room; 10,000
	CachePerRoom int           // newest messages held in memory per room; 1,000
	// Duplicates is JetStream's deduplication window for message ids; 2m.
	Duplicates time.Duration
	Replicas   int // stream replicas, for a NATS cluster; 1
}

func (c Config) withDefaults() Config {
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.MaxPerRoom <= 0 {
		c.MaxPerRoom = DefaultMaxPerRoom
	}
	if c.CachePerRoom <= 0 {
		c.CachePerRoom = DefaultCachePerRoom
	}
	if c.Duplicates <= 0 {
		c.Duplicates = DefaultDuplicates
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	return c
}

// StreamConfig returns the configuration of the messages stream: file
// storage, retention by age and per room, deduplication, and republishing
// of every stored message to the room's live subject, so that gateways
// fan out only what is stored, once.
func (c Config) StreamConfig() jetstream.StreamConfig {
	c = c.withDefaults()
	return jetstream.StreamConfig{
		Name:              proto.MessagesStream,
		Description:       "natter room messages",
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
			Destination: proto.LiveMessagesTemplate,
		},
	}
}

// Service is the history service.
type Service struct {
	cfg     Config
	log     *slog.Logger
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream // set by Run before queries are served
	metrics *metrics

	mu      sync.Mutex
	rooms   map[string]*roomLog
	applied uint64        // the stream sequence the cache has reached
	changed chan struct{} // closed and replaced when applied moves
	ready   bool
}

type roomLog struct {
	msgs []entry // oldest first, at most CachePerRoom
}

type entry struct {
	seq uint64
	msg proto.Message
}

// New returns the service on the NATS connection nc; Run serves it.
func New(cfg Config, nc *nats.Conn, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("history: jetstream: %w", err)
	}
	return &Service{
		cfg:     cfg.withDefaults(),
		log:     log,
		nc:      nc,
		js:      js,
		metrics: newMetrics(reg),
		rooms:   make(map[string]*roomLog),
		changed: make(chan struct{}),
	}, nil
}

// Ready reports whether the service has its stream and answers queries.
func (s *Service) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready {
		return errors.New("history: not ready")
	}
	if !s.nc.IsConnected() {
		return errors.New("history: NATS disconnected")
	}
	return nil
}

// Run creates or updates the stream, reads it into the cache and answers
// queries until ctx is cancelled.
func (s *Service) Run(ctx context.Context) error {
	stream, err := s.ensureStream(ctx)
	if err != nil {
		return err
	}
	s.stream = stream
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{proto.MessagesStreamSubjects},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("history: consumer: %w", err)
	}
	cc, err := cons.Consume(s.apply)
	if err != nil {
		return fmt.Errorf("history: consume: %w", err)
	}
	defer cc.Stop()

	sub, err := s.nc.QueueSubscribe(proto.HistoryQuerySubject, proto.HistoryQueue, s.serveQuery)
	if err != nil {
		return fmt.Errorf("history: subscribe: %w", err)
	}
	defer sub.Drain()
	s.mu.Lock()
	s.ready = true
	s.mu.Unlock()
	s.log.Info("history serving", "stream", proto.MessagesStream)
	<-ctx.Done()
	return nil
}

// ensureStream creates the stream or updates its configuration. NATS may
// still be starting: it retries until ctx ends.
func (s *Service) ensureStream(ctx context.Context) (jetstream.Stream, error) {
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		stream, err := s.js.CreateOrUpdateStream(cctx, s.cfg.StreamConfig())
		cancel()
		if err == nil {
			return stream, nil
		}
		s.log.Warn("history: stream not ready, retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("history: stream %s: %w", proto.MessagesStream, err)
		case <-time.After(time.Second):
		}
	}
}

// apply adds one stored message to the cache.
func (s *Service) apply(m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		return
	}
	var msg proto.Message
	if err := json.Unmarshal(m.Data(), &msg); err != nil {
		s.log.Warn("history: undecodable message", "seq", meta.Sequence.Stream)
		msg = proto.Message{}
	}
	room, rerr := proto.FromToken(strings.TrimPrefix(m.Subject(), "natter.msg."))
	s.mu.Lock()
	defer s.mu.Unlock()
	if meta.Sequence.Stream <= s.applied {
		return // redelivered after the ordered consumer was reset
	}
	s.metrics.messages.Inc()
	if rerr == nil && msg.ID != "" {
		l := s.rooms[room]
		if l == nil {
			l = &roomLog{}
			s.rooms[room] = l
		}
		l.msgs = append(l.msgs, entry{seq: meta.Sequence.Stream, msg: msg})
		if over := len(l.msgs) - s.cfg.CachePerRoom; over > 0 {
			l.msgs = append(l.msgs[:0], l.msgs[over:]...)
		}
	}
	s.applied = meta.Sequence.Stream
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Service) serveQuery(m *nats.Msg) {
	start := time.Now()
	var q proto.HistoryQuery
	reply := func(r proto.HistoryReply) {
		if r.Messages == nil {
			r.Messages = []proto.Message{}
		}
		b, _ := json.Marshal(r)
		m.Respond(b)
		s.metrics.observeQuery(start, r.Error)
	}
	if err := json.Unmarshal(m.Data, &q); err != nil {
		reply(proto.HistoryReply{Error: proto.ErrBadRequest})
		return
	}
	room, err := proto.NormalizeRoom(q.Room)
	if err != nil {
		reply(proto.HistoryReply{Error: proto.AsError(err)})
		return
	}
	if q.Limit <= 0 || q.Limit > 100 {
		q.Limit = proto.HistoryOnJoin
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultCatchUpTimeout)
	defer cancel()
	if err := s.catchUp(ctx, room); err != nil {
		s.log.Warn("history: behind the stream", "err", err)
		reply(proto.HistoryReply{Error: proto.ErrUnavailable})
		return
	}
	msgs, through := s.page(room, q.Before, q.Limit)
	reply(proto.HistoryReply{Messages: msgs, Through: through})
}

// catchUp waits until the cache holds the room's newest stored message, so
// that an answer never misses a message that was acked before the query.
func (s *Service) catchUp(ctx context.Context, room string) error {
	raw, err := s.stream.GetLastMsgForSubject(ctx, proto.RoomMsgSubject(room))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for {
		s.mu.Lock()
		applied, changed := s.applied, s.changed
		s.mu.Unlock()
		if applied >= raw.Sequence {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("cache at %d, stream at %d: %w", applied, raw.Sequence, ctx.Err())
		}
	}
}

// page returns up to limit messages of room before the message with id
// before (all of the newest when before is ""), oldest first, and the
// stream sequence the cache is complete through. Pages reach back through
// the cache (CachePerRoom messages); an id older than that gives none.
func (s *Service) page(room, before string, limit int) ([]proto.Message, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.rooms[room]
	if l == nil {
		return nil, s.applied
	}
	end := len(l.msgs)
	if before != "" {
		// Stream order, not id order: ids from different gateways may
		// interleave within a millisecond.
		end = 0
		for i := len(l.msgs) - 1; i >= 0; i-- {
			if l.msgs[i].msg.ID == before {
				end = i
				break
			}
		}
	}
	start := max(end-limit, 0)
	out := make([]proto.Message, 0, end-start)
	for _, e := range l.msgs[start:end] {
		out = append(out, e.msg)
	}
	return out, s.applied
}

// Package history is natter's history service. It owns natter's JetStream
// resources — the stream of room messages and whispers, with its
// retention, and the key-value buckets of connection recovery and of
// deduplication — and answers history and whispers queries from caches it
// builds by reading the stream, so that a restart of the service or of
// NATS loses nothing.
package history

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/kit/ops"
	"github.com/natter/natter/proto"
)

// Service is the history service.
type Service struct {
	cfg     Config
	log     *slog.Logger
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream   // set by Run before queries are served
	reads   jetstream.KeyValue // read positions (read.go), set with stream
	metrics *metrics

	mu       sync.Mutex
	rooms    map[string]*timeline // by room name
	whispers map[string]*timeline // by session id (proto.SessionID), never by name
	applied  uint64               // the stream sequence the caches have reached
	changed  chan struct{}        // closed and replaced when applied moves
	ready    bool
}

// New returns the service on the NATS connection nc; Run serves it.
func New(cfg Config, nc *nats.Conn, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("history: jetstream: %w", err)
	}
	return &Service{
		cfg:      cfg.WithDefaults(),
		log:      log,
		nc:       nc,
		js:       js,
		metrics:  newMetrics(reg),
		rooms:    make(map[string]*timeline),
		whispers: make(map[string]*timeline),
		changed:  make(chan struct{}),
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

// Run creates or updates the stream and the buckets, reads the stream
// into the caches and answers queries until ctx is cancelled; then it
// drains its subscriptions, stops reading the stream, and returns once
// the queries it took are answered and the reading has stopped.
func (s *Service) Run(ctx context.Context) error {
	stream, err := s.ensure(ctx)
	if err != nil {
		return err
	}
	s.stream = stream
	if s.reads, err = s.js.KeyValue(ctx, proto.ReadBucket); err != nil {
		return fmt.Errorf("history: bucket %s: %w", proto.ReadBucket, err)
	}
	r, err := s.consume(ctx)
	if err != nil {
		return err
	}
	// Queries wait on the caches (catchUp): the stream is read, and its
	// reading watched, until the last of them is answered.
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s.watch(watchCtx, r)
	}()
	defer func() {
		stopWatch()
		<-watched
	}()
	var subs []*nats.Subscription
	defer func() {
		if ops.Drain(subs, DefaultCatchUpTimeout+time.Second) != nil {
			s.log.Warn("history: subscriptions not drained in time")
		}
	}()
	for subject, serve := range map[string]nats.MsgHandler{
		proto.HistoryQuerySubject:  s.answer(kindRoom, s.historyQuery),
		proto.WhispersQuerySubject: s.answer(kindWhisper, s.whispersQuery),
		proto.ReadMarkSubject:      s.answer(kindRead, s.markRead),
		proto.UnreadQuerySubject:   s.answer(kindUnread, s.unreadQuery),
		proto.HistoryEditSubject:   s.answer(kindEdit, s.editQuery),
	} {
		sub, err := s.nc.QueueSubscribe(subject, proto.HistoryQueue, serve)
		if err != nil {
			return fmt.Errorf("history: subscribe: %w", err)
		}
		subs = append(subs, sub)
	}
	s.mu.Lock()
	s.ready = true
	s.mu.Unlock()
	s.log.Info("history serving", "stream", proto.MessagesStream)
	<-ctx.Done()
	return nil
}

// ensure creates the stream and the buckets or updates their
// configuration. NATS may still be starting: it retries until ctx ends.
func (s *Service) ensure(ctx context.Context) (jetstream.Stream, error) {
	for {
		stream, err := s.create(ctx)
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

func (s *Service) create(ctx context.Context) (jetstream.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stream, err := s.js.CreateOrUpdateStream(ctx, s.cfg.StreamConfig())
	if err != nil {
		return nil, err
	}
	if s.cfg.Events {
		if _, err := s.js.CreateOrUpdateStream(ctx, s.cfg.EventsStreamConfig()); err != nil {
			return nil, fmt.Errorf("stream %s: %w", proto.EventsStream, err)
		}
	}
	for _, kv := range s.cfg.BucketConfigs() {
		if _, err := s.js.CreateOrUpdateKeyValue(ctx, kv); err != nil {
			return nil, fmt.Errorf("bucket %s: %w", kv.Bucket, err)
		}
	}
	return stream, nil
}

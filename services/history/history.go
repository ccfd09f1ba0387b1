// Package history is natter's history service. It owns natter's JetStream
// resources — the stream of room messages and whispers, with its
// retention, and the key-value buckets of connection recovery and of
// deduplication — and answers history and whispers queries from caches it
// builds by reading the stream, so that a restart of the service or of
// NATS loses nothing.
package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/kit/ops"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/proto/rpc"
)

// Service is the history service.
type Service struct {
	cfg     Config
	log     *slog.Logger
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream // set by Run before queries are served
	metrics *metrics

	mu       sync.Mutex
	rooms    map[string]*timeline // by room name
	whispers map[string]*timeline // by session id (proto.SessionID), never by name
	applied  uint64               // the stream sequence the caches have reached
	changed  chan struct{}        // closed and replaced when applied moves
	ready    bool
}

// timeline is the newest stored messages of a room, or whispers of a
// session, oldest first, at most CachePerRoom.
type timeline struct {
	entries []entry
}

type entry struct {
	seq     uint64
	id      string
	msg     *proto.Message // a room message
	whisper *proto.Whisper // or a whisper
	with    string         // for a whisper: the other session's id
}

func (l *timeline) add(e entry, limit int) {
	l.entries = append(l.entries, e)
	if over := len(l.entries) - limit; over > 0 {
		l.entries = append(l.entries[:0], l.entries[over:]...)
	}
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
	// Queries wait on the caches (catchUp): the stream is read until the
	// last of them is answered.
	defer func() {
		cc.Stop()
		<-cc.Closed()
	}()
	var subs []*nats.Subscription
	defer func() {
		if ops.Drain(subs, DefaultCatchUpTimeout+time.Second) != nil {
			s.log.Warn("history: subscriptions not drained in time")
		}
	}()
	for subject, serve := range map[string]nats.MsgHandler{
		proto.HistoryQuerySubject:  s.serveQuery,
		proto.WhispersQuerySubject: s.serveWhispers,
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
	for _, kv := range s.cfg.BucketConfigs() {
		if _, err := s.js.CreateOrUpdateKeyValue(ctx, kv); err != nil {
			return nil, fmt.Errorf("bucket %s: %w", kv.Bucket, err)
		}
	}
	return stream, nil
}

// apply adds one stored message to the caches.
func (s *Service) apply(m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		return
	}
	seq := meta.Sequence.Stream
	subject := m.Subject()
	var room string
	var w *proto.Whisper
	var msg *proto.Message
	var a, b string
	switch {
	case strings.HasPrefix(subject, proto.RoomMsgPrefix):
		msg = new(proto.Message)
		r, err := proto.FromToken(subject[len(proto.RoomMsgPrefix):])
		if json.Unmarshal(m.Data(), msg) != nil || err != nil || msg.ID == "" {
			s.log.Warn("history: undecodable message", "seq", seq)
			msg = nil
		}
		room = r
	case strings.HasPrefix(subject, proto.WhisperMsgPrefix):
		w = new(proto.Whisper)
		var ok bool
		a, b, ok = proto.WhisperParties(subject[len(proto.WhisperMsgPrefix):])
		if !ok {
			// Not two session ids: stored before whispers belonged to
			// sessions, under name keys, and nobody's now.
			w = nil
			break
		}
		if json.Unmarshal(m.Data(), w) != nil || w.ID == "" {
			s.log.Warn("history: undecodable whisper", "seq", seq)
			w = nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.applied {
		return // redelivered after the ordered consumer was reset
	}
	switch {
	case msg != nil:
		s.metrics.messages.WithLabelValues(kindRoom).Inc()
		s.logOf(s.rooms, room).add(entry{seq: seq, id: msg.ID, msg: msg}, s.cfg.CachePerRoom)
	case w != nil:
		s.metrics.messages.WithLabelValues(kindWhisper).Inc()
		s.logOf(s.whispers, a).add(entry{seq: seq, id: w.ID, whisper: w, with: b}, s.cfg.CachePerRoom)
		if b != a {
			s.logOf(s.whispers, b).add(entry{seq: seq, id: w.ID, whisper: w, with: a}, s.cfg.CachePerRoom)
		}
	}
	s.applied = seq
	close(s.changed)
	s.changed = make(chan struct{})
}

// logOf returns logs[key], making it. The caller holds s.mu.
func (s *Service) logOf(logs map[string]*timeline, key string) *timeline {
	l := logs[key]
	if l == nil {
		l = &timeline{}
		logs[key] = l
	}
	return l
}

func (s *Service) serveQuery(m *nats.Msg) {
	start := time.Now()
	var q proto.HistoryQuery
	reply := func(r proto.HistoryReply) {
		r.Messages = proto.NonNil(r.Messages)
		s.respond(m, r)
		s.metrics.observeQuery(kindRoom, start, r.Error)
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
	if q.Limit <= 0 || q.Limit > proto.MaxHistoryPage {
		q.Limit = proto.HistoryOnJoin
	}
	if err := s.catchUp(proto.RoomMsgSubject(room)); err != nil {
		s.log.Warn("history: behind the stream", "err", err)
		reply(proto.HistoryReply{Error: proto.ErrUnavailable})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var r proto.HistoryReply
	var entries []entry
	if l := s.rooms[room]; l != nil {
		entries = l.entries
	}
	if q.After != "" {
		rest, ok := after(entries, q.After, q.Limit)
		if ok {
			entries = rest
		} else {
			r.Gap = true
			entries = before(entries, "", q.Limit, nil)
		}
	} else {
		entries = before(entries, q.Before, q.Limit, nil)
	}
	r.Messages = make([]proto.Message, 0, len(entries))
	for _, e := range entries {
		r.Messages = append(r.Messages, *e.msg)
	}
	r.Through = s.applied
	reply(r)
}

func (s *Service) serveWhispers(m *nats.Msg) {
	start := time.Now()
	var q proto.WhispersQuery
	reply := func(r proto.WhispersReply) {
		r.Whispers = proto.NonNil(r.Whispers)
		s.respond(m, r)
		s.metrics.observeQuery(kindWhisper, start, r.Error)
	}
	if err := json.Unmarshal(m.Data, &q); err != nil || !proto.ValidSessionID(q.User) || (q.With != "" && !proto.ValidSessionID(q.With)) {
		reply(proto.WhispersReply{Error: proto.ErrBadRequest})
		return
	}
	if q.Limit <= 0 || q.Limit > proto.MaxHistoryPage {
		q.Limit = proto.HistoryOnJoin
	}
	if err := s.catchUp(""); err != nil {
		s.log.Warn("history: behind the stream", "err", err)
		reply(proto.WhispersReply{Error: proto.ErrUnavailable})
		return
	}
	var keep func(entry) bool
	if q.With != "" {
		keep = func(e entry) bool { return e.with == q.With }
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var entries []entry
	if l := s.whispers[q.User]; l != nil {
		entries = before(l.entries, q.Before, q.Limit, keep)
	}
	r := proto.WhispersReply{Whispers: make([]proto.Whisper, 0, len(entries))}
	for _, e := range entries {
		r.Whispers = append(r.Whispers, *e.whisper)
	}
	reply(r)
}

// respond sends reply to the asker of m.
func (s *Service) respond(m *nats.Msg, reply any) {
	if err := rpc.Respond(m, reply); err != nil {
		s.log.Warn("history: reply", "subject", m.Subject, "err", err)
	}
}

// catchUp waits until the caches hold the newest stored message of
// subject (of the whole stream, for ""), so that an answer never misses a
// message that was acked before the query.
func (s *Service) catchUp(subject string) error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultCatchUpTimeout)
	defer cancel()
	var last uint64
	if subject == "" {
		info, err := s.stream.Info(ctx)
		if err != nil {
			return err
		}
		last = info.State.LastSeq
	} else {
		raw, err := s.stream.GetLastMsgForSubject(ctx, subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		last = raw.Sequence
	}
	for {
		s.mu.Lock()
		applied, changed := s.applied, s.changed
		s.mu.Unlock()
		if applied >= last {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("cache at %d, stream at %d: %w", applied, last, ctx.Err())
		}
	}
}

// before returns up to limit of the entries that keep accepts (all, for
// nil) before the one with id before (the newest, when before is ""),
// oldest first. The order is the stream's, not the ids': ids from
// different gateways may interleave within a millisecond. An id that is
// not held gives none.
func before(entries []entry, before string, limit int, keep func(entry) bool) []entry {
	end := len(entries)
	if before != "" {
		end = 0
		for i := len(entries) - 1; i >= 0; i-- {
			if entries[i].id == before {
				end = i
				break
			}
		}
	}
	if keep == nil {
		return entries[max(end-limit, 0):end]
	}
	var out []entry
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		if keep(entries[i]) {
			out = append(out, entries[i])
		}
	}
	slices.Reverse(out)
	return out
}

// after returns the entries after the one with id after, oldest first,
// and true; or false when that id is not held or more than limit entries
// follow it.
func after(entries []entry, after string, limit int) ([]entry, bool) {
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].id == after {
			rest := entries[i+1:]
			return rest, len(rest) <= limit
		}
	}
	return nil, false
}

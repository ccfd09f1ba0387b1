package history

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/proto"
)

// The caches are filled by an ordered consumer of the stream, from the
// first message they do not hold. JetStream's ordered consumer makes its
// server-side consumer again after a reconnection or a missed heartbeat,
// but not always after the loss of the node that led the stream: seen in
// CI, a kill -9 of the leader that also served history's connection left
// the caches behind the stream for the rest of the run, every query
// refused as unavailable (TestNATSLeaderKilled). So the service watches
// its reading too: caches that stay behind the stream's last message for
// Config.StallAfter, not moving, have their consumer stopped and made
// again from where they are (natter_history_stream_rereads_total).

// reading is one reading of the stream: the ordered consumer and its
// consumption.
type reading struct {
	cons jetstream.Consumer
	cc   jetstream.ConsumeContext
}

// consume starts reading the stream into the caches, from the message
// after the last one applied.
func (s *Service) consume(ctx context.Context) (*reading, error) {
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{proto.MessagesStreamSubjects},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if from := s.appliedSeq() + 1; from > 1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
	}
	cons, err := s.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("history: consumer: %w", err)
	}
	cc, err := cons.Consume(s.apply, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		s.log.Warn("history: reading the stream", "err", err)
	}))
	if err != nil {
		return nil, fmt.Errorf("history: consume: %w", err)
	}
	return &reading{cons: cons, cc: cc}, nil
}

// watch checks the reading r of the stream every StallAfter/5 until ctx
// ends, reads the stream again when it has stalled, and stops the last
// reading before it returns.
func (s *Service) watch(ctx context.Context, r *reading) {
	defer func() { s.stopReading(r) }()
	tick := time.NewTicker(max(s.cfg.StallAfter/5, time.Millisecond))
	defer tick.Stop()
	seen, since := s.appliedSeq(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		applied := s.appliedSeq()
		if applied != seen {
			seen, since = applied, time.Now()
			continue
		}
		last, err := s.streamLast(ctx)
		if err != nil || last <= applied {
			since = time.Now() // up to date, or the stream cannot tell (no leader): not stalled
			continue
		}
		if time.Since(since) < s.cfg.StallAfter {
			continue
		}
		s.log.Warn("history: reading the stream stalled; reading it again", "applied", applied, "stream", last)
		s.metrics.rereads.Inc()
		s.stopReading(r)
		s.dropConsumer(r)
		r = nil
		since = time.Now()
		next, err := s.consume(ctx)
		if err != nil {
			s.log.Warn("history: reading the stream again", "err", err)
			continue
		}
		r = next
	}
}

// stopReading stops a reading of the stream (nil: none) and waits, a
// while, until it has.
func (s *Service) stopReading(r *reading) {
	if r == nil {
		return
	}
	r.cc.Stop()
	select {
	case <-r.cc.Closed():
	case <-time.After(DefaultCatchUpTimeout + time.Second):
		s.log.Warn("history: the stream's reading did not stop in time")
	}
}

// dropConsumer deletes a stalled reading's consumer from the stream, if
// the stream still can: left alone, JetStream would delete it after
// minutes without a pull.
func (s *Service) dropConsumer(r *reading) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultCatchUpTimeout)
	defer cancel()
	name := r.cons.CachedInfo().Name
	if err := s.stream.DeleteConsumer(ctx, name); err != nil {
		s.log.Info("history: the stalled consumer was not deleted; JetStream will", "consumer", name, "err", err)
	}
}

// streamLast returns the sequence of the stream's newest message, 0 when
// it holds none (all of them past their age, say: nothing left to read).
func (s *Service) streamLast(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultCatchUpTimeout)
	defer cancel()
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	if info.State.Msgs == 0 {
		return 0, nil
	}
	return info.State.LastSeq, nil
}

// appliedSeq is the stream sequence the caches have reached.
func (s *Service) appliedSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied
}

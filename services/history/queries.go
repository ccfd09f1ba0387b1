package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/proto/rpc"
)

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

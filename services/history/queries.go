package history

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/proto/rpc"
)

// answer serves the queries of one kind with f: it times each, sends
// its reply and counts it.
func (s *Service) answer(kind string, f func(data []byte) rpc.Reply) nats.MsgHandler {
	return func(m *nats.Msg) {
		start := time.Now()
		r := f(m.Data)
		s.respond(m, r)
		s.metrics.observeQuery(kind, start, r.ReplyError())
	}
}

// historyError and whispersError are the replies of failed queries,
// whose lists are [] to a client, as those of answered ones.
func historyError(e *proto.Error) proto.HistoryReply {
	return proto.HistoryReply{Messages: []proto.Message{}, Error: e}
}

func whispersError(e *proto.Error) proto.WhispersReply {
	return proto.WhispersReply{Whispers: []proto.Whisper{}, Error: e}
}

// historyQuery answers a query of a room's history.
func (s *Service) historyQuery(data []byte) rpc.Reply {
	var q proto.HistoryQuery
	if err := json.Unmarshal(data, &q); err != nil {
		return historyError(proto.ErrBadRequest)
	}
	room, err := proto.NormalizeRoom(q.Room)
	if err != nil {
		return historyError(proto.AsError(err))
	}
	if q.Limit <= 0 || q.Limit > proto.MaxHistoryPage {
		q.Limit = proto.HistoryOnJoin
	}
	if err := s.catchUp(proto.RoomMsgSubject(room)); err != nil {
		s.log.Warn("history: behind the stream", "err", err)
		return historyError(proto.ErrUnavailable)
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
			// And what changed before it since, for the client to show.
			r.Changed, ok = changedBefore(entries, q.After, q.Limit)
		}
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
	return r
}

// whispersQuery answers a query of a session's whispers.
func (s *Service) whispersQuery(data []byte) rpc.Reply {
	var q proto.WhispersQuery
	if err := json.Unmarshal(data, &q); err != nil || !proto.ValidSessionID(q.User) || (q.With != "" && !proto.ValidSessionID(q.With)) {
		return whispersError(proto.ErrBadRequest)
	}
	if q.Limit <= 0 || q.Limit > proto.MaxHistoryPage {
		q.Limit = proto.HistoryOnJoin
	}
	if err := s.catchUp(""); err != nil {
		s.log.Warn("history: behind the stream", "err", err)
		return whispersError(proto.ErrUnavailable)
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
	return r
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
		var err error
		if last, err = s.streamLast(ctx); err != nil {
			return err
		}
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
	return s.reach(ctx, last)
}

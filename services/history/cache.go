package history

import (
	"encoding/json"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/proto"
)

// timeline is the newest stored messages of a room, or whispers of a
// session, oldest first, at most CachePerRoom.
type timeline struct {
	entries []entry
}

type entry struct {
	seq     uint64
	id      string
	msg     *proto.Message // a room message, as it is now (edited, or a tombstone)
	whisper *proto.Whisper // or a whisper
	with    string         // for a whisper: the other session's id
	// A room message's sender (proto.HeaderSender; "" for a backend's or
	// one stored before the header), and the stream sequences of every
	// version of it stored, oldest first: those to erase once a newer one
	// is stored (edits.go).
	sender string
	stored []uint64
}

func (l *timeline) add(e entry, limit int) {
	l.entries = append(l.entries, e)
	if over := len(l.entries) - limit; over > 0 {
		l.entries = append(l.entries[:0], l.entries[over:]...)
	}
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
	r, isRoom, roomErr := proto.ParseRoomMsgSubject(subject)
	// A whisper stored before whispers belonged to sessions (under name
	// keys) is not one: nobody's now.
	wa, wb, isWhisper := proto.ParseWhisperMsgSubject(subject)
	switch {
	case isRoom:
		msg = new(proto.Message)
		if json.Unmarshal(m.Data(), msg) != nil || roomErr != nil || msg.ID == "" {
			s.log.Warn("history: undecodable message", "seq", seq)
			msg = nil
		}
		room = r
	case isWhisper:
		w, a, b = new(proto.Whisper), wa, wb
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
	case msg != nil && m.Headers().Get(proto.HeaderRecord) != "":
		s.applyRecord(s.logOf(s.rooms, room), seq, m.Headers(), msg)
	case msg != nil:
		s.metrics.messages.WithLabelValues(kindRoom).Inc()
		s.logOf(s.rooms, room).add(entry{seq: seq, id: msg.ID, msg: msg,
			sender: m.Headers().Get(proto.HeaderSender), stored: []uint64{seq}}, s.cfg.CachePerRoom)
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

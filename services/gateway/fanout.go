package gateway

import (
	"encoding/json"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// maxPending bounds what a joining connection buffers while its join ack
// is being made; past it the connection is closed as a slow consumer.
const maxPending = 4096

// storedQueue bounds the stored messages waiting for the delivery
// goroutine; NATS drops what would overflow it (see run).
const storedQueue = 1 << 16

// audience is whom the fan-out writes to: the hub's local members.
type audience interface {
	room(token string) []*member
	user(sid string) []*member
	// roomCursor is where the fan-out keeps the stream sequence of the
	// last message it delivered to a room's local members; nil when the
	// room has none.
	roomCursor(token string) *uint64
}

// backfill reads back from the stream the messages stored on subject
// after the sequence after and before the sequence before, in order.
type backfill func(subject string, after, before uint64) ([]*jetstream.RawStreamMsg, error)

// fanout writes what NATS brings to the local members it is for. Stored
// messages and whispers all arrive on one channel, in the stream's order,
// and one goroutine fans them out, so that every connection receives them
// in that order: the order recovery offsets assume. Each outgoing frame
// is encoded once, and the same bytes go to every local member.
type fanout struct {
	to      audience
	stored  chan *nats.Msg
	lastSeq uint64 // of the last stored message fanned out; owned by run
	offsets bool   // stored frames carry their sequence as the recovery offset
	floods  *floods
	metrics *chatMetrics
	missed  backfill // nil: none
	// moderating records a moderation notice's mute or unmute before the
	// room is told of it (moderation.record), so that no message of a
	// member told of a mute passes here after; moderated carries out a
	// kick or ban on the room's members here once they are told of it
	// (moderation.enforce). nil: none.
	moderating func(msg *nats.Msg)
	moderated  func(members []*member, msg *nats.Msg)

	stop     chan struct{}
	running  sync.WaitGroup
	stopOnce sync.Once
}

func newFanout(to audience, stored chan *nats.Msg, offsets bool, f *floods, m *chatMetrics, missed backfill) *fanout {
	return &fanout{
		to:      to,
		stored:  stored,
		offsets: offsets,
		floods:  f,
		metrics: m,
		missed:  missed,
		stop:    make(chan struct{}),
	}
}

// start starts the delivery goroutine; close stops it (and may come
// without a start).
func (f *fanout) start() {
	f.running.Add(1)
	go f.run()
}

// run fans out the stored messages and whispers, one at a time, in the
// order the stream stored them, until close.
func (f *fanout) run() {
	defer f.running.Done()
	for {
		select {
		case msg := <-f.stored:
			f.fanOutStored(msg)
		case <-f.stop:
			return
		}
	}
}

// close stops the delivery goroutine and waits for it.
func (f *fanout) close() {
	f.stopOnce.Do(func() { close(f.stop) })
	f.running.Wait()
}

// fanOutStored delivers one stored message to the local members of its
// room, or one whisper to the local connections of its two sessions but
// the one it came from.
func (f *fanout) fanOutStored(msg *nats.Msg) {
	seq, _ := strconv.ParseUint(msg.Header.Get(jetstream.SequenceHeader), 10, 64)
	if seq != 0 && seq == f.lastSeq {
		return // a whisper to oneself, which both of its subscriptions saw
	}
	f.lastSeq = seq
	if room, ok := proto.StoredRoomToken(msg.Subject); ok {
		frame := encodeStored(proto.StoredEvent(msg.Header.Get(proto.HeaderRecord)), msg.Data, seq, f.offsets)
		members := f.to.room(room)
		if members == nil || frame == nil {
			return
		}
		if !f.inOrder(room, msg, seq, members) {
			return
		}
		for _, m := range members {
			m.send(frame, seq, false)
		}
		f.metrics.messagesOut.Add(float64(len(members)))
		f.metrics.observeFanOut(msg.Header.Get(jetstream.TimeStampHeaer))
		return
	}
	a, b, isWhisper, ok := proto.StoredWhisperParties(msg.Subject)
	if !isWhisper {
		return
	}
	frame := encodeStored(proto.EventWhisper, msg.Data, seq, f.offsets)
	if !ok || frame == nil {
		return
	}
	origin := msg.Header.Get(proto.HeaderOrigin)
	parties := []string{a, b}
	if a == b {
		parties = parties[:1]
	}
	for _, sid := range parties {
		for _, m := range f.to.user(sid) {
			if m.origin != origin {
				m.send(frame, seq, true)
			}
		}
	}
}

// inOrder keeps the room's cursor, and reports whether the stored message
// msg, of sequence seq, is new to the room's members: not delivered yet.
// Each republished message names the sequence of the one stored before it
// on its subject (Nats-Last-Sequence); when that one is after what the
// room was last delivered, the republish lost some (a stream leader that
// died between storing and republishing, a NATS subscription too slow),
// and they are read back from the stream and delivered first.
func (f *fanout) inOrder(room string, msg *nats.Msg, seq uint64, members []*member) bool {
	cur := f.to.roomCursor(room)
	if cur == nil || seq == 0 {
		return true
	}
	if seq <= *cur {
		return false // a copy of one delivered
	}
	prev, _ := strconv.ParseUint(msg.Header.Get(jetstream.LastSequenceHeader), 10, 64)
	if *cur != 0 && prev > *cur && f.missed != nil {
		f.backfill(msg.Header.Get(jetstream.SubjectHeader), *cur, seq, members)
	}
	*cur = seq
	return true
}

// backfill delivers to members the messages stored on subject between the
// sequences after and before.
func (f *fanout) backfill(subject string, after, before uint64, members []*member) {
	msgs, err := f.missed(subject, after, before)
	for _, raw := range msgs {
		frame := encodeStored(proto.StoredEvent(raw.Header.Get(proto.HeaderRecord)), raw.Data, raw.Sequence, f.offsets)
		if frame == nil {
			continue
		}
		for _, m := range members {
			m.send(frame, raw.Sequence, false)
		}
		f.metrics.messagesOut.Add(float64(len(members)))
	}
	f.metrics.backfilled.WithLabelValues(backfillOK).Add(float64(len(msgs)))
	if err != nil {
		f.metrics.backfilled.WithLabelValues(backfillFailed).Inc()
	}
}

// fanOutNotice delivers a room's presence or typing notice to its local
// members but the user concerned.
func (f *fanout) fanOutNotice(msg *nats.Msg) {
	var event string
	room := proto.RoomLiveToken(msg.Subject)
	switch proto.RoomLiveKind(msg.Subject) {
	case proto.LivePresence:
		event = msg.Header.Get(proto.HeaderEvent)
		if event != proto.EventJoin && event != proto.EventLeave && event != proto.EventModeration && event != proto.EventUserRenamed {
			return
		}
	case proto.LiveTyping:
		if !f.floods.typingIn.passNotice(room, msg.Data) {
			f.floods.limited.WithLabelValues(limitTyping, "coalesced_in").Inc()
			return
		}
		event = proto.EventTyping
	default:
		return
	}
	frame, err := socketio.EncodeEvent("/", event, -1, []json.RawMessage{msg.Data}, 0)
	if err != nil {
		return
	}
	skipKey, skipSession := userKey(msg.Data), ""
	switch event {
	case proto.EventModeration:
		skipKey = "" // its user is told too
	case proto.EventUserRenamed:
		// Its session's connections are told by "renamed", whether they
		// have the new name yet or not.
		skipKey, skipSession = "", msg.Header.Get(proto.HeaderSession)
	}
	if event == proto.EventModeration && f.moderating != nil {
		f.moderating(msg)
	}
	members := f.to.room(room)
	for _, m := range members {
		if (skipKey == "" || m.key() != skipKey) && (skipSession == "" || m.sid != skipSession) {
			m.send(frame, 0, false)
		}
	}
	if event == proto.EventModeration && f.moderated != nil {
		f.moderated(members, msg)
	}
}

// encodeStored encodes the event of a stored message or whisper, with its
// sequence as the recovery offset when offsets is set.
func encodeStored(event string, data []byte, seq uint64, offsets bool) []byte {
	args := []json.RawMessage{data}
	if offsets {
		args = append(args, json.RawMessage(`"`+strconv.FormatUint(seq, 10)+`"`))
	}
	frame, err := socketio.EncodeEvent("/", event, -1, args, 0)
	if err != nil {
		return nil
	}
	return frame
}

// userKey returns the name key of the "username" of a notice.
func userKey(data []byte) string {
	var n struct {
		Username string `json:"username"`
	}
	json.Unmarshal(data, &n)
	return proto.NameKey(n.Username)
}

// send writes frame to the member, or holds it while the member's join is
// being answered; seq is the stream sequence of a stored message or
// whisper (0 for a notice), which the join's answer may already hold.
func (m *member) send(frame []byte, seq uint64, whisper bool) {
	h := m.holdback()
	if !h.live.Load() {
		h.mu.Lock()
		if !h.live.Load() {
			if len(h.pending) >= maxPending {
				h.mu.Unlock()
				m.out.CloseSession()
				return
			}
			h.pending = append(h.pending, pendingFrame{frame, seq, whisper})
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
	}
	if !h.answered(seq, whisper) {
		m.out.SendFrame(frame, nil)
	}
}

// goLive sends what waited during the join, except what the join's answer
// carried: room messages through the stream sequence rooms, whispers
// through whispers; from then on it sends directly, but for a late copy
// of what the answer carried.
func (m *member) goLive(rooms, whispers uint64) {
	h := m.holdback()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rooms.Store(rooms)
	h.whispers.Store(whispers)
	for _, p := range h.pending {
		if !h.answered(p.seq, p.whisper) {
			m.out.SendFrame(p.frame, nil)
		}
	}
	h.pending = nil
	h.live.Store(true)
}

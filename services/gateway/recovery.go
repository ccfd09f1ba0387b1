package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// Connection state recovery. Every stored message and whisper reaches a
// client with its stream sequence as the Socket.IO offset, and in the
// stream's order. A connection joined to a room is kept in the recovery
// bucket under a hash of its pid: who, where, and through which sequence
// its join's history went. A client that comes back, to any gateway, with
// its pid and last offset is joined again as the same user, in the same
// room, and is sent exactly what the stream stored for it after the
// offset: its room's messages and its whispers. When that is no longer
// all stored, or too much to replay, the client is told by a new pid (it
// is not recovered) and joins again, with the id of its last message.

// maxReplay bounds what a recovery sends; a longer gap is a gap.
const maxReplay = 1000

// recovery keeps each joined connection's state in the recovery bucket,
// and recovers connections by it (socketio.Recovery). It joins a
// recovered connection through presence and places it in the hub, reads
// what it missed from the journal, and hands the connection the frames
// to send once its CONNECT is answered.
type recovery struct {
	id         string // the gateway's
	journal    *journal
	hub        placer
	up         *upstream
	recoveries *prometheus.CounterVec // by result
	offsets    bool                   // as the fan-out's: frames carry their sequence
	timeout    time.Duration
	proxies    trustedProxies
	log        *slog.Logger
	// moderated takes what the join's answer says of a recovered member:
	// its granted role and mute (moderation.joined); nil: nothing.
	moderated func(cn *conn, m *member, pr *proto.PresenceJoinReply)
}

var _ socketio.Recovery = (*recovery)(nil)

// placer is where a recovered connection's members go: the hub.
type placer interface {
	place(cn *conn, m *member) []*member
	add(cn *conn, m *member)
}

// resumption is what a recovered connection missed, sent once its CONNECT
// has been answered.
type resumption struct {
	m       *member // its first member, whose holdback its others share
	frames  [][]byte
	through uint64 // the stream sequence the frames are complete through
}

// finish sends the missed frames, then what came meanwhile.
func (r *resumption) finish() {
	for _, f := range r.frames {
		r.m.out.SendFrame(f, nil)
	}
	r.m.goLive(r.through, r.through)
}

// NewPID implements socketio.Recovery.
func (rc *recovery) NewPID() string { return proto.NewToken() }

// Recover implements socketio.Recovery.
func (rc *recovery) Recover(s *socketio.Socket, pid, offset string) bool {
	result := rc.recover(s, pid, offset)
	rc.recoveries.WithLabelValues(result).Inc()
	return result == recoveryOK
}

func (rc *recovery) recover(s *socketio.Socket, pid, offset string) string {
	// No offset: the client has received nothing stored since it joined.
	var from uint64
	if offset != "" {
		var err error
		if from, err = strconv.ParseUint(offset, 10, 64); err != nil {
			return recoveryUnknown
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*rc.timeout)
	defer cancel()
	kv := rc.journal.bucket(ctx, proto.RecoveryBucket)
	if kv == nil {
		return recoveryError
	}
	entry, err := kv.Get(ctx, recoveryKey(pid))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return recoveryUnknown
	}
	if err != nil {
		return recoveryError
	}
	var st proto.RecoveryState
	if json.Unmarshal(entry.Value(), &st) != nil || st.Token == "" {
		return recoveryUnknown
	}
	// The connection recovers its own session only: an authenticated
	// one, its identity's; an anonymous one, not an identity's.
	if tok, err := connOf(s).sessionToken(st.Token); err != nil || tok != st.Token {
		return recoveryRefused
	}
	if offset == "" {
		from = st.Through
	}
	stream, err := rc.journal.messages(ctx)
	if err != nil {
		return recoveryError
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return recoveryError
	}
	if from > info.State.LastSeq || info.State.FirstSeq > from+1 {
		return recoveryGap // another stream's offset, or older than what is kept
	}
	// What was missed until now; then, once the connection receives live
	// again, what came meanwhile. The whispers are the session's, by the
	// token kept: never those of whoever holds the name now.
	sid := proto.SessionID(st.Token)
	rooms := st.Rooms
	if len(rooms) == 0 {
		rooms = []proto.RecoveryRoom{{Room: st.Room, Through: st.Through}}
	}
	missed := &replay{stream: stream, rooms: rooms, sid: sid, offsets: rc.offsets}
	if err := missed.read(ctx, from, info.State.LastSeq); err != nil {
		return recoveryError
	}
	if len(missed.frames) > maxReplay ||
		(info.Config.MaxMsgsPerSubject > 0 && missed.roomMsgs >= info.Config.MaxMsgsPerSubject) {
		return recoveryGap
	}

	cn := connOf(s) // the authenticated connection's
	if cn == nil {
		cn = newConn(s, rc.proxies)
	}
	m, result := rc.rejoin(s, cn, st.Token, rooms)
	if m == nil {
		return result
	}
	now, err := stream.Info(ctx)
	if err == nil {
		err = missed.read(ctx, info.State.LastSeq, now.State.LastSeq)
	}
	if err != nil {
		// Joined but not caught up: let the disconnect undo it.
		cn.resume = &resumption{m: m, through: ^uint64(0)}
		s.CloseSession()
		return recoveryError
	}
	cn.resume = &resumption{m: m, frames: missed.sorted(), through: now.State.LastSeq}
	// The state stays as the joins left it: what this connection is sent
	// now, the client acknowledges only by the offsets it will present.
	rc.keep(pid, cn)
	return recoveryOK
}

// rejoin joins a recovered connection again to each of its rooms, through
// presence, and places its members in the hub: the first, on the socket's
// own presence connection, and the others, kept besides it, sharing its
// holdback. It returns the first member; nil and the result when none
// could be joined. When a later room cannot be, the connection is closed
// (its disconnect undoes the others), and the result is an error.
func (rc *recovery) rejoin(s *socketio.Socket, cn *conn, token string, rooms []proto.RecoveryRoom) (*member, string) {
	var first *member
	for i, room := range rooms {
		ref := s.ID()
		if i > 0 {
			ref = subRef(s.ID(), room.Room)
		}
		cn.ask(ref)
		// The token alone: it resumes the session if it lives, and
		// nothing else. With the name too, a session that has ended would
		// make way for a new one under the name, which is not the one
		// recovered (nor one whose token the client knows).
		pr, err := rc.up.join(proto.PresenceJoin{
			ConnRef:  proto.ConnRef{Gateway: rc.id, Conn: ref},
			Room:     room.Room,
			Token:    token,
			Identity: cn.identityID(),
		})
		switch {
		case err != nil && first != nil:
			cn.resume = &resumption{m: first, through: ^uint64(0)}
			s.CloseSession()
			return nil, recoveryError
		case noAnswer(err):
			return nil, recoveryError
		case err != nil:
			return nil, recoveryRefused
		}
		m := newMember(rc.id, s, &pr)
		m.ref = ref
		m.through.Store(room.Through)
		if rc.moderated != nil {
			rc.moderated(cn, m, &pr) // its granted role, its mute
		}
		if first == nil {
			first = m
			s.SetData(cn)
			rc.hub.place(cn, m)
			continue
		}
		m.shared = &first.joining
		rc.hub.add(cn, m)
	}
	return first, recoveryOK
}

// replay collects a room's stored messages and a session's whispers.
type replay struct {
	stream   jetstream.Stream
	rooms    []proto.RecoveryRoom
	sid      string
	offsets  bool
	frames   []seqFrame
	roomMsgs int64 // the most of one room's messages that one read found
}
type seqFrame struct {
	seq   uint64
	frame []byte
}

// read adds each room's messages after from (and after what its join's
// history held) and the whispers after from, through the stream sequence
// to.
func (r *replay) read(ctx context.Context, from, to uint64) error {
	for _, room := range r.rooms {
		n, err := r.readSubject(ctx, proto.RoomMsgSubject(room.Room), proto.EventServerMessage, max(from, room.Through), to)
		if err != nil {
			return err
		}
		r.roomMsgs = max(r.roomMsgs, n)
	}
	for _, filter := range proto.UserWhisperFilters(r.sid) {
		if _, err := r.readSubject(ctx, filter, proto.EventWhisper, from, to); err != nil {
			return err
		}
	}
	return nil
}

func (r *replay) readSubject(ctx context.Context, filter, event string, from, to uint64) (int64, error) {
	var n int64
	for seq := from + 1; seq <= to && len(r.frames) <= maxReplay; {
		raw, err := r.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return n, err
		}
		if raw.Sequence > to {
			break
		}
		ev := event
		if rec := raw.Header.Get(proto.HeaderRecord); rec != "" {
			ev = proto.StoredEvent(rec) // an edit or deletion of a room message
		}
		r.frames = append(r.frames, seqFrame{raw.Sequence, encodeStored(ev, raw.Data, raw.Sequence, r.offsets)})
		n++
		seq = raw.Sequence + 1
	}
	return n, nil
}

// sorted returns the frames in stream order, each once (a whisper to
// oneself matches both whisper filters).
func (r *replay) sorted() [][]byte {
	slices.SortFunc(r.frames, func(a, b seqFrame) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	out := make([][]byte, 0, len(r.frames))
	var last uint64
	for _, f := range r.frames {
		if f.seq != last && f.frame != nil {
			out = append(out, f.frame)
		}
		last = f.seq
	}
	return out
}

// joined records a connection's join, if the client has a pid: through
// is the stream sequence its join's history went through, or, when the
// join went without history (historyFailed), the stream's head, about
// now. Without that head, the connection is not recoverable, rather than
// recovered with the whole room.
func (rc *recovery) joined(s *socketio.Socket, m *member, through uint64, historyFailed bool) {
	if historyFailed {
		head, err := rc.journal.head()
		if err != nil {
			return
		}
		through = head
	}
	m.through.Store(through)
	rc.keepConn(s, connOf(s))
}

// keepConn keeps the state of s's connection cn, if the client has a pid.
func (rc *recovery) keepConn(s *socketio.Socket, cn *conn) {
	if pid := s.PID(); pid != "" && cn != nil {
		rc.keep(pid, cn)
	}
}

// keep keeps the state of cn under pid: its session, and each of its
// rooms with the sequence its join's history went through.
func (rc *recovery) keep(pid string, cn *conn) {
	members := cn.members()
	if len(members) == 0 {
		return
	}
	m := members[len(members)-1]
	state := proto.RecoveryState{Username: m.username(), Token: m.token, Room: m.room, Through: m.through.Load()}
	if len(members) > 1 {
		for _, o := range members {
			state.Rooms = append(state.Rooms, proto.RecoveryRoom{Room: o.room, Through: o.through.Load()})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), rc.timeout)
	defer cancel()
	kv := rc.journal.bucket(ctx, proto.RecoveryBucket)
	if kv == nil {
		return
	}
	st, _ := json.Marshal(state)
	if _, err := kv.Put(ctx, recoveryKey(pid), st); err != nil {
		rc.log.Warn("recovery state", "err", err)
	}
}

// forget drops a connection's recovery state: it left on purpose.
func (rc *recovery) forget(s *socketio.Socket) {
	pid := s.PID()
	if pid == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), rc.timeout)
	defer cancel()
	if kv := rc.journal.bucket(ctx, proto.RecoveryBucket); kv != nil {
		kv.Delete(ctx, recoveryKey(pid))
	}
}

// recoveryKey is the bucket key of a pid: a hash, so that the bucket's
// keys do not hand out pids.
func recoveryKey(pid string) string {
	h := sha256.Sum256([]byte(pid))
	return hex.EncodeToString(h[:])
}

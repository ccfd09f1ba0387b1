package gateway

import (
	"encoding/json"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// chat is the gateway's chat layer: proto's events over NATS. It wires the
// pieces, each in its own file, and its handlers (handlers_*.go) answer
// the clients' events with them:
//
//   - hub: local membership, and the NATS subscriptions rooms and
//     sessions share;
//   - fanout: what NATS brings, written to the local members it is for;
//   - upstream: the requests to presence and history;
//   - journal: the messages stream and buckets, under publisher (the
//     send path) and recovery (connection state recovery);
//   - heartbeat: this gateway's beats and resyncs with presence.
type chat struct {
	id      string
	nc      *nats.Conn
	log     *slog.Logger
	metrics *chatMetrics
	floods  *floods

	up   *upstream
	hub  *hub
	fan  *fanout
	pub  *publisher
	rec  *recovery
	beat *heartbeat
	mod  *moderation

	presenceWork *admission // bounds the joins and leaves under way at once

	leaves   leaves // presence leaves under way
	maxRooms int    // a connection's rooms at most (Config.MaxRooms)
}

// leaves are the presence leaves under way, each in a goroutine of its
// own, and the signal that ends their retries.
type leaves struct {
	running sync.WaitGroup
	closing chan struct{} // closed by the chat's close
}

func newChat(id string, nc *nats.Conn, log *slog.Logger, m *chatMetrics, cfg Config) (*chat, error) {
	j, err := newJournal(nc, cfg.RequestTimeout, log)
	if err != nil {
		return nil, err
	}
	c := &chat{
		id:           id,
		nc:           nc,
		log:          log,
		metrics:      m,
		floods:       newFloods(cfg, m.limited),
		up:           newUpstream(nc, cfg.RequestTimeout, log),
		leaves:       leaves{closing: make(chan struct{})},
		maxRooms:     cfg.MaxRooms,
		presenceWork: newAdmission(maxPresenceWork, m.waiting),
	}
	stored := make(chan *nats.Msg, storedQueue)
	// The hub subscribes rooms to their notices for the fan-out, which
	// writes to the hub's members: made second, it is there before the
	// first member is placed.
	c.hub = newHub(nc, log, m.rooms, stored, func(msg *nats.Msg) { c.fan.fanOutNotice(msg) })
	c.fan = newFanout(c.hub, stored, !cfg.NoRecovery, c.floods, m, j.between)
	c.pub = newPublisher(j, cfg.RequestTimeout, m, log)
	c.rec = &recovery{
		id:         id,
		journal:    j,
		hub:        c.hub,
		up:         c.up,
		recoveries: m.recoveries,
		offsets:    !cfg.NoRecovery,
		timeout:    cfg.RequestTimeout,
		proxies:    c.floods.proxies,
		log:        log,
	}
	c.mod = newModeration(nc, c.hub, c.rec.forget, log)
	c.fan.moderating, c.fan.moderated = c.mod.record, c.mod.enforce
	c.rec.moderated = c.mod.joined
	c.beat = newHeartbeat(id, nc, cfg.HeartbeatInterval, c.up, c.hub.snapshot, c.disconnect, log)
	return c, nil
}

// start starts the fan-out and the heartbeat; close stops them, after a
// start that failed too.
func (c *chat) start() error {
	c.fan.start()
	if err := c.mod.start(); err != nil {
		return err
	}
	return c.beat.start(c.onSessionEnded, c.onSessionRenamed)
}

// register installs the chat's handlers on a namespace.
func (c *chat) register(n *socketio.Namespace) {
	n.OnConnect(c.onConnect)
	n.OnDisconnect(c.onDisconnect)
	if c.rec.offsets {
		n.SetRecovery(c.rec)
	}
	n.On(proto.EventJoin, c.onJoin)
	n.On(proto.EventClientMessage, c.onMessage)
	n.On(proto.EventWhisper, c.onWhisper)
	n.On(proto.EventTyping, c.onTyping)
	n.On(proto.EventMembers, c.onMembers)
	n.On(proto.EventRooms, c.onRooms)
	n.On(proto.EventHistory, c.onHistory)
	n.On(proto.EventWhispers, c.onWhispers)
	n.On(proto.EventLogout, c.onLogout)
	n.On(proto.EventRename, c.onRename)
	n.On(proto.EventEditMessage, c.onEditMessage)
	n.On(proto.EventDeleteMessage, c.onDeleteMessage)
	for _, action := range proto.ModerationActions {
		n.On(action, c.onModerate(action))
	}
	n.On(proto.EventRead, c.onRead)
	n.On(proto.EventLeaveRoom, c.onLeaveRoom)
}

func (c *chat) onConnect(s *socketio.Socket) {
	cn := connOf(s)
	if cn == nil {
		s.SetData(newConn(s, c.floods.proxies))
		return
	}
	cn.watchExpiry(s)
	if r := cn.resume; r != nil {
		cn.resume = nil
		r.finish()
	}
}

// close stops what start started, waits for the presence leaves under way
// and drops the subscriptions.
func (c *chat) close() {
	c.beat.close()
	c.mod.close()
	c.fan.close()
	close(c.leaves.closing)
	c.leaves.running.Wait()
	c.pub.wait()
	c.hub.close()
}

// reply acks e, if the client asked, with v.
func reply(e *socketio.EventMessage, v any) {
	if e.WantsAck() {
		e.Ack(v)
	}
}

func fail(e *socketio.EventMessage, err error) { reply(e, proto.Ack(err)) }

// decodeArg decodes the event's first argument into v.
func decodeArg(e *socketio.EventMessage, v any) error {
	if len(e.Args) > 0 && !jsonTextValid(e.Args[0]) {
		// Checked before decoding, which would put U+FFFD in its place.
		if e.Name == proto.EventClientMessage || e.Name == proto.EventWhisper || e.Name == proto.EventEditMessage {
			return proto.Errorf(proto.CodeInvalidMessage, "a message must be valid UTF-8")
		}
		return proto.Errorf(proto.CodeBadRequest, "%s takes valid UTF-8", e.Name)
	}
	if len(e.Args) == 0 || json.Unmarshal(e.Args[0], v) != nil {
		return proto.Errorf(proto.CodeBadRequest, "%s takes one object argument", e.Name)
	}
	return nil
}

// joined returns the connection's member, or fails e with not_joined.
func joined(s *socketio.Socket, e *socketio.EventMessage) (*conn, *member) {
	cn := connOf(s)
	if cn == nil {
		fail(e, proto.ErrNotJoined)
		return nil, nil
	}
	m := cn.cur.Load()
	if m == nil {
		fail(e, proto.ErrNotJoined)
		return nil, nil
	}
	return cn, m
}

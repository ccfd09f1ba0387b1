package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// maxPending bounds what a joining connection buffers while its join ack
// is being made; past it the connection is closed as a slow consumer.
const maxPending = 4096

// storedQueue bounds the stored messages waiting for the delivery
// goroutine; NATS drops what would overflow it (see deliver).
const storedQueue = 1 << 16

// chat is the gateway's chat layer: proto's events over NATS. For each
// room with local members it holds a subscription to the room's notices
// and one to its stored messages; for each local user's session, two to
// its stored whispers. Stored messages and whispers all arrive on one
// channel, in the stream's order, and one goroutine fans them out, so that
// every connection receives them in that order: the order recovery
// offsets assume. Each outgoing frame is encoded once, and the same bytes
// go to every local member.
type chat struct {
	id         string
	nc         *nats.Conn
	js         jetstream.JetStream
	log        *slog.Logger
	metrics    *chatMetrics
	up         *upstream
	reqTimeout time.Duration
	floods     *floods

	// offsets appends each stored message's stream sequence to its event,
	// as Socket.IO's recovery offset.
	offsets bool

	jsMu    sync.Mutex
	stream  jetstream.Stream              // found on first need: the history service creates it
	buckets map[string]jetstream.KeyValue // likewise

	stored  chan *nats.Msg // stored messages and whispers, in stream order
	lastSeq uint64         // of the last one fanned out; owned by deliver

	heartbeat time.Duration
	stop      chan struct{} // closed by close: the heartbeat ends
	closeOnce sync.Once
	resyncSub *nats.Subscription
	endedSub  *nats.Subscription // proto.SessionEndedSubject
	resyncs   chan struct{}      // cap 1: a resync waits to run
	announce  atomic.Bool        // the waiting resync tells the rooms (PresenceResync.Announce)
	resyncMu  sync.Mutex         // one resync at a time
	beating   sync.WaitGroup     // the heartbeat, delivery and resync goroutines

	mu     sync.RWMutex
	closed bool
	rooms  map[string]*group // by room token
	users  map[string]*group // by session id: whispers belong to the session
	leave  sync.WaitGroup    // presence leaves under way

	background sync.WaitGroup // publications waiting for the stream, bucket writes
}

// member is a connection joined to a room. It does not change: a new join
// makes a new member.
type member struct {
	sock     *socketio.Socket
	username string
	key      string // proto.NameKey(username)
	// sid is the session's id (proto.SessionID): what its whispers are
	// routed and read by. The name is not: another session may hold it
	// once this one has ended.
	sid    string
	color  string
	token  string
	room   string
	origin string // gateway/conn, for HeaderOrigin

	// While a join is being answered, what the room sends waits here, so
	// that nothing falls between the history in the ack and live delivery.
	live    atomic.Bool
	mu      sync.Mutex
	pending []pendingFrame
}

type pendingFrame struct {
	frame   []byte
	seq     uint64 // stream sequence of a stored message; 0 for notices
	whisper bool
}

// conn is the chat state of one Socket.IO socket.
type conn struct {
	id, addr string                 // the socket's, and its client's (see clientAddr)
	cur      atomic.Pointer[member] // nil until joined
	// resume is what a recovered connection missed, to be sent once its
	// CONNECT is answered.
	resume *resumption
	// inflight counts its messages and whispers waiting for the stream's
	// answer (see maxInFlight).
	inflight atomic.Int32
	// asked is set once it has asked presence to join: presence may hold
	// it even when the answer never came (a timeout), so its close is
	// told to presence whether or not it is joined.
	asked atomic.Bool
}

// group is a set of local members that share NATS subscriptions: a
// room's, or a user's connections.
type group struct {
	subs    []*nats.Subscription
	members atomic.Pointer[[]*member] // copied on write; read by fan-out
}

func (g *group) load() []*member {
	if p := g.members.Load(); p != nil {
		return *p
	}
	return nil
}

func (g *group) add(m *member) {
	old := g.load()
	next := make([]*member, len(old), len(old)+1)
	copy(next, old)
	next = append(next, m)
	g.members.Store(&next)
}

// remove drops m and reports whether the group is now empty.
func (g *group) remove(m *member) bool {
	old := g.load()
	next := make([]*member, 0, len(old))
	for _, x := range old {
		if x != m {
			next = append(next, x)
		}
	}
	g.members.Store(&next)
	return len(next) == 0
}

func newChat(id string, nc *nats.Conn, log *slog.Logger, m *chatMetrics, cfg Config) (*chat, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	c := &chat{
		heartbeat:  cfg.HeartbeatInterval,
		resyncs:    make(chan struct{}, 1),
		stop:       make(chan struct{}),
		id:         id,
		nc:         nc,
		js:         js,
		log:        log,
		metrics:    m,
		up:         newUpstream(nc, cfg.RequestTimeout, log),
		reqTimeout: cfg.RequestTimeout,
		floods:     newFloods(cfg, m.limited),
		rooms:      make(map[string]*group),
		users:      make(map[string]*group),
		buckets:    make(map[string]jetstream.KeyValue),
		stored:     make(chan *nats.Msg, storedQueue),
		offsets:    !cfg.NoRecovery,
	}
	c.beating.Add(2)
	go c.beat()
	go c.deliver()
	resync, err := nc.Subscribe(proto.PresenceResyncSubject, func(m *nats.Msg) {
		var req proto.PresenceResync
		if len(m.Data) > 0 && json.Unmarshal(m.Data, &req) != nil {
			return
		}
		if req.Gateway == "" || req.Gateway == id {
			c.resync(req.Announce)
		}
	})
	if err != nil {
		return nil, err
	}
	c.resyncSub = resync
	ended, err := nc.Subscribe(proto.SessionEndedSubject, c.onSessionEnded)
	if err != nil {
		resync.Unsubscribe()
		return nil, err
	}
	c.endedSub = ended
	return c, nil
}

// resync announces every local connection to presence again, after
// presence lost its state or let this gateway's connections go; announce
// asks presence to tell the rooms of users it puts back. One resync runs
// at a time; one asked for meanwhile runs after it.
func (c *chat) resync(announce bool) {
	if announce {
		c.announce.Store(true)
	}
	select {
	case c.resyncs <- struct{}{}:
	default:
		return // one is waiting to run already
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.beating.Add(1) // before close's Wait: close sets closed under c.mu first
	c.mu.Unlock()
	go func() {
		defer c.beating.Done()
		c.resyncMu.Lock()
		defer c.resyncMu.Unlock()
		<-c.resyncs
		announce := c.announce.Swap(false)
		c.mu.Lock()
		var members []*member
		for _, g := range c.rooms {
			members = append(members, g.load()...)
		}
		c.mu.Unlock()
		for _, m := range members {
			select {
			case <-c.stop:
				return
			default:
			}
			if cn := connOf(m.sock); cn == nil || cn.cur.Load() != m || !m.sock.Connected() {
				// Closed or moved since the snapshot: its leave or its new
				// join has told presence already, and announcing it again
				// would undo the leave.
				continue
			}
			_, err := c.up.join(proto.PresenceJoin{
				ConnRef:  proto.ConnRef{Gateway: c.id, Conn: m.sock.ID()},
				Username: m.username,
				Room:     m.room,
				Token:    m.token,
				Color:    m.color,
				Resync:   true,
				Announce: announce,
			})
			if err != nil {
				c.log.Warn("resync", "err", err)
			}
		}
		c.log.Info("resynced with presence", "connections", len(members))
	}()
}

// beat tells presence, every heartbeat interval, that this gateway lives:
// when the beats stop, presence lets its connections go.
func (c *chat) beat() {
	defer c.beating.Done()
	hb, _ := json.Marshal(proto.GatewayHeartbeat{Gateway: c.id, Interval: c.heartbeat.Milliseconds()})
	t := time.NewTicker(c.heartbeat)
	defer t.Stop()
	for {
		c.nc.Publish(proto.GatewayHeartbeatSubject, hb)
		select {
		case <-t.C:
		case <-c.stop:
			return
		}
	}
}

// register installs the chat's handlers on a namespace.
func (c *chat) register(n *socketio.Namespace) {
	n.OnConnect(c.onConnect)
	n.OnDisconnect(c.onDisconnect)
	if c.offsets {
		n.SetRecovery(c)
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
}

func (c *chat) newConn(s *socketio.Socket) *conn {
	return &conn{id: s.ID(), addr: c.floods.proxies.clientAddr(s.Session().Request())}
}

func (c *chat) onConnect(s *socketio.Socket) {
	cn := connOf(s)
	if cn == nil {
		s.SetData(c.newConn(s))
		return
	}
	if r := cn.resume; r != nil {
		cn.resume = nil
		r.finish()
	}
}

// close waits for the presence leaves under way and drops the
// subscriptions.
func (c *chat) close() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		close(c.stop)
		if c.resyncSub != nil {
			c.resyncSub.Unsubscribe()
		}
		if c.endedSub != nil {
			c.endedSub.Unsubscribe()
		}
	})
	c.beating.Wait()
	c.leave.Wait()
	c.background.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, groups := range []map[string]*group{c.rooms, c.users} {
		for _, g := range groups {
			g.unsubscribe()
		}
	}
	c.rooms, c.users = map[string]*group{}, map[string]*group{}
}

func connOf(s *socketio.Socket) *conn {
	cn, _ := s.Data().(*conn)
	return cn
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
		if e.Name == proto.EventClientMessage || e.Name == proto.EventWhisper {
			return proto.Errorf(proto.CodeInvalidMessage, "a message must be valid UTF-8")
		}
		return proto.Errorf(proto.CodeBadRequest, "%s takes valid UTF-8", e.Name)
	}
	if len(e.Args) == 0 || json.Unmarshal(e.Args[0], v) != nil {
		return proto.Errorf(proto.CodeBadRequest, "%s takes one object argument", e.Name)
	}
	return nil
}

func (c *chat) onJoin(s *socketio.Socket, e *socketio.EventMessage) {
	cn := connOf(s)
	var req proto.JoinRequest
	if err := decodeArg(e, &req); err != nil {
		fail(e, err)
		return
	}
	if err := c.floods.admit(cn, limitJoin, joinUser(req)); err != nil {
		fail(e, err)
		return
	}
	if req.Username != "" || req.Token == "" {
		if _, err := proto.NormalizeName(req.Username); err != nil {
			fail(e, err)
			return
		}
	}
	roomName, err := proto.NormalizeRoom(req.Room)
	if err != nil {
		fail(e, err)
		return
	}
	cn.asked.Store(true)
	join := proto.PresenceJoin{
		ConnRef:  proto.ConnRef{Gateway: c.id, Conn: s.ID()},
		Username: req.Username,
		Room:     roomName,
		Token:    req.Token,
	}
	pr, err := c.up.join(join)
	if noAnswer(err) && s.Connected() {
		// No answer in time (a storm of joins): once more. Presence may
		// have served the first, and serves a repeat on the same
		// connection as that same join.
		pr, err = c.up.join(join)
	}
	if err != nil {
		fail(e, err)
		return
	}
	m := c.newMember(s, &pr)
	if !s.Connected() {
		return // gone while presence answered; its leave is on the way
	}
	c.place(cn, m)

	q := proto.HistoryQuery{Room: pr.Room, After: req.Since, Limit: proto.HistoryOnJoin}
	if req.Since != "" {
		q.Limit = proto.MaxHistoryPage
	}
	var historyErr *proto.Error
	hr, err := c.up.history(q)
	if err != nil {
		c.log.Warn("join without history", "err", err)
		hr, historyErr = proto.HistoryReply{}, proto.ErrUnavailable
	}
	if hr.Messages == nil {
		hr.Messages = []proto.Message{}
	}
	if pr.Members == nil {
		pr.Members = []proto.Member{}
	}
	through, recoverable := hr.Through, true
	if historyErr != nil {
		// Without history, the client has nothing from before the join, and
		// everything after comes live (goLive with 0 holds nothing back);
		// recovery needs where that begins: the stream's head, about now.
		// Without it, the connection is not recoverable, rather than
		// recovered with the whole room.
		head, err := c.streamHead()
		through, recoverable = head, err == nil
	}
	if recoverable {
		c.keepForRecovery(s, m, through)
	}
	reply(e, proto.JoinAck{
		OK:           true,
		Username:     pr.Username,
		Color:        pr.Color,
		Token:        pr.Token,
		Room:         pr.Room,
		Members:      pr.Members,
		MemberCount:  max(pr.MemberCount, len(pr.Members)),
		History:      hr.Messages,
		Gap:          hr.Gap,
		HistoryError: historyErr,
	})
	m.goLive(hr.Through, 0)
}

// newMember makes the member that presence's join reply pr puts on s.
// Its session id is presence's; for a presence that sends none (older
// than the field) it is made here of the token, as presence makes it.
func (c *chat) newMember(s *socketio.Socket, pr *proto.PresenceJoinReply) *member {
	sid := pr.SessionID
	if !proto.ValidSessionID(sid) {
		sid = proto.SessionID(pr.Token)
	}
	return &member{
		sock:     s,
		username: pr.Username,
		key:      proto.NameKey(pr.Username),
		sid:      sid,
		color:    pr.Color,
		token:    pr.Token,
		room:     pr.Room,
		origin:   c.id + "/" + s.ID(),
	}
}

// place makes m the connection's member: in its room's groups and its
// user's, out of the previous ones.
func (c *chat) place(cn *conn, m *member) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := cn.cur.Swap(m); old != nil {
		c.removeLocked(old)
	}
	room := proto.Token(m.room)
	c.enter(c.rooms, room, m, func() []*nats.Subscription {
		return []*nats.Subscription{
			c.subscribe(proto.RoomLiveSubject(m.room), nil),
			c.subscribe(proto.RoomStoredSubject(m.room), c.stored),
		}
	})
	c.enter(c.users, m.sid, m, func() []*nats.Subscription {
		var subs []*nats.Subscription
		for _, subject := range proto.UserStoredWhisperSubjects(m.sid) {
			subs = append(subs, c.subscribe(subject, c.stored))
		}
		return subs
	})
	c.metrics.rooms.Set(float64(len(c.rooms)))
}

// subscribe subscribes to subject: onto ch, or, for nil, to a room's
// notices, fanned out as they come.
func (c *chat) subscribe(subject string, ch chan *nats.Msg) *nats.Subscription {
	var sub *nats.Subscription
	var err error
	if ch != nil {
		sub, err = c.nc.ChanSubscribe(subject, ch)
	} else {
		sub, err = c.nc.Subscribe(subject, c.fanOutNotice)
	}
	if err != nil {
		c.log.Error("subscribe", "err", err)
		return nil
	}
	return sub
}

// enter adds m to groups[key], subscribing for the group's first member.
// The caller holds c.mu.
func (c *chat) enter(groups map[string]*group, key string, m *member, subscribe func() []*nats.Subscription) {
	g := groups[key]
	if g == nil {
		g = &group{subs: subscribe()}
		groups[key] = g
	}
	g.add(m)
}

func (g *group) unsubscribe() {
	for _, sub := range g.subs {
		if sub != nil {
			sub.Unsubscribe()
		}
	}
}

// exit takes m out of groups[key], unsubscribing with the last member.
// The caller holds c.mu.
func exit(groups map[string]*group, key string, m *member) {
	if g := groups[key]; g != nil && g.remove(m) {
		g.unsubscribe()
		delete(groups, key)
	}
}

// removeLocked takes m out of its groups, dropping a group's subscription
// with its last member. The caller holds c.mu.
func (c *chat) removeLocked(m *member) {
	exit(c.rooms, proto.Token(m.room), m)
	exit(c.users, m.sid, m)
	c.metrics.rooms.Set(float64(len(c.rooms)))
}

func (c *chat) onDisconnect(s *socketio.Socket, reason string) {
	cn := connOf(s)
	if cn == nil {
		return
	}
	m := cn.cur.Swap(nil)
	if m == nil {
		if cn.asked.Load() {
			// Not joined, but a join whose answer was lost (it timed
			// out) may have put it in presence: take it out, at once.
			c.tellLeft(s, true)
		}
		return
	}
	c.mu.Lock()
	c.removeLocked(m)
	c.mu.Unlock()
	deliberate := reason == "client namespace disconnect"
	c.tellLeft(s, deliberate)
}

// tellLeft tells presence that s has closed (on purpose, or its transport
// was lost), without holding up the transport that is closing.
func (c *chat) tellLeft(s *socketio.Socket, deliberate bool) {
	c.leave.Add(1)
	go func() {
		defer c.leave.Done()
		if deliberate {
			c.forget(s) // a client that left on purpose does not come back
		}
		err := c.up.leave(proto.PresenceLeave{
			ConnRef:    proto.ConnRef{Gateway: c.id, Conn: s.ID()},
			Deliberate: deliberate,
		})
		if err != nil {
			c.log.Warn("presence leave", "err", err)
		}
	}()
}

// onLogout ends the connection's session, on its client's request: the
// connection stays, joined to nothing; every other tab of the session, on
// any gateway, is disconnected (onSessionEnded); presence frees the name
// at once, and the token resumes nothing.
func (c *chat) onLogout(s *socketio.Socket, e *socketio.EventMessage) {
	cn, m := joined(s, e)
	if m == nil {
		return
	}
	if err := c.floods.admit(cn, limitJoin, userOf(cn)); err != nil {
		fail(e, err)
		return
	}
	if !cn.cur.CompareAndSwap(m, nil) {
		fail(e, proto.ErrNotJoined) // left or moved meanwhile
		return
	}
	c.mu.Lock()
	c.removeLocked(m)
	c.mu.Unlock()
	c.forget(s)
	if err := c.up.endSession(proto.PresenceEndSession{
		ConnRef: proto.ConnRef{Gateway: c.id, Conn: s.ID()},
		Token:   m.token,
	}); err != nil {
		fail(e, err)
		return
	}
	reply(e, proto.OKAck{OK: true})
}

// onSessionEnded disconnects this gateway's connections of a session that
// has ended (proto.SessionEnded); their recovery state goes with them.
func (c *chat) onSessionEnded(msg *nats.Msg) {
	var ended proto.SessionEnded
	if json.Unmarshal(msg.Data, &ended) != nil || !proto.ValidSessionID(ended.SessionID) {
		return
	}
	c.mu.RLock()
	var members []*member
	if g := c.users[ended.SessionID]; g != nil {
		members = g.load()
	}
	c.mu.RUnlock()
	for _, m := range members {
		c.forget(m.sock)
		m.sock.Disconnect()
	}
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

// admit checks a message's text and clientId and the connection's rate,
// failing e when any is wrong.
func (c *chat) admit(e *socketio.EventMessage, cn *conn, text, clientID string) bool {
	if err := proto.ValidateMessage(text); err != nil {
		fail(e, err)
		return false
	}
	if err := proto.ValidateClientID(clientID); err != nil {
		fail(e, err)
		return false
	}
	if err := c.floods.admit(cn, limitMessage, userOf(cn)); err != nil {
		c.metrics.rateLimited.Inc()
		fail(e, err)
		return false
	}
	return true
}

func (c *chat) onMessage(s *socketio.Socket, e *socketio.EventMessage) {
	cn, m := joined(s, e)
	if m == nil {
		return
	}
	var req proto.ClientMessage
	if err := decodeArg(e, &req); err != nil {
		fail(e, err)
		return
	}
	if !c.admit(e, cn, req.Message, req.ClientID) {
		return
	}
	msg := proto.Message{
		ID:       newID(),
		Room:     m.room,
		Username: m.username,
		Color:    m.color,
		Message:  req.Message,
		TS:       time.Now().UnixMilli(),
	}
	data, _ := json.Marshal(msg)
	out := nats.NewMsg(proto.RoomMsgSubject(m.room))
	out.Data = data
	c.storeAndAck(e, out, m, req.ClientID, proto.SentAck{OK: true, ID: msg.ID, TS: msg.TS}, c.metrics.messagesIn)
}

// messages returns the stream, found on first need.
func (c *chat) messages(ctx context.Context) (jetstream.Stream, error) {
	c.jsMu.Lock()
	defer c.jsMu.Unlock()
	if c.stream == nil {
		st, err := c.js.Stream(ctx, proto.MessagesStream)
		if err != nil {
			return nil, err
		}
		c.stream = st
	}
	return c.stream, nil
}

// bucket returns the key-value bucket called name, or nil when it cannot
// be had (the history service, which creates it, has not yet run).
func (c *chat) bucket(ctx context.Context, name string) jetstream.KeyValue {
	c.jsMu.Lock()
	defer c.jsMu.Unlock()
	if kv := c.buckets[name]; kv != nil {
		return kv
	}
	kv, err := c.js.KeyValue(ctx, name)
	if err != nil {
		c.log.Warn("bucket", "bucket", name, "err", err)
		return nil
	}
	c.buckets[name] = kv
	return kv
}

// streamHead returns the sequence of the stream's newest message.
func (c *chat) streamHead() (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.reqTimeout)
	defer cancel()
	st, err := c.messages(ctx)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}

// storedData reads a message's data back from the stream by sequence.
func (c *chat) storedData(ctx context.Context, seq uint64) ([]byte, error) {
	st, err := c.messages(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := st.GetMsg(ctx, seq)
	if err != nil {
		return nil, err
	}
	return raw.Data, nil
}

func (c *chat) onWhisper(s *socketio.Socket, e *socketio.EventMessage) {
	cn, m := joined(s, e)
	if m == nil {
		return
	}
	var req proto.WhisperRequest
	if err := decodeArg(e, &req); err != nil {
		fail(e, err)
		return
	}
	to, err := proto.NormalizeName(req.To)
	if err != nil {
		fail(e, proto.ErrNoSuchUser)
		return
	}
	if !c.admit(e, cn, req.Message, req.ClientID) {
		return
	}
	lr, err := c.up.lookup(to)
	if err != nil {
		fail(e, err)
		return
	}
	if !lr.Online {
		fail(e, proto.ErrNoSuchUser)
		return
	}
	if !proto.ValidSessionID(lr.SessionID) {
		// A presence older than the field: the whisper cannot be routed to
		// the session, and the name is no address.
		c.log.Error("presence looked up a user without a session id")
		fail(e, proto.ErrUnavailable)
		return
	}
	w := proto.Whisper{ID: newID(), From: m.username, To: lr.Username, Message: req.Message, TS: time.Now().UnixMilli()}
	data, _ := json.Marshal(w)
	// To the session that holds the name now: if it ends and another takes
	// the name, this whisper stays the first one's.
	out := nats.NewMsg(proto.WhisperMsgSubject(m.sid, lr.SessionID))
	out.Header.Set(proto.HeaderOrigin, m.origin)
	out.Data = data
	c.storeAndAck(e, out, m, req.ClientID, proto.SentAck{OK: true, ID: w.ID, TS: w.TS}, c.metrics.whispers)
}

// onWhispers answers a user's query of their own whispers: the session
// joined on the connection, never a parameter. With names the session
// that holds that name now; with a name nobody holds there are none.
func (c *chat) onWhispers(s *socketio.Socket, e *socketio.EventMessage) {
	cn, m := joined(s, e)
	if m == nil {
		return
	}
	if err := c.floods.admit(cn, limitWhispers, m.key); err != nil {
		fail(e, err)
		return
	}
	var req proto.WhispersRequest
	if len(e.Args) > 0 {
		if err := decodeArg(e, &req); err != nil {
			fail(e, err)
			return
		}
	}
	if err := proto.ValidatePage(req.Before, req.Limit); err != nil {
		fail(e, err)
		return
	}
	q := proto.WhispersQuery{User: m.sid, Before: req.Before, Limit: req.Limit}
	if req.With != "" {
		with, err := proto.NormalizeName(req.With)
		if err != nil {
			fail(e, err)
			return
		}
		lr, err := c.up.lookup(with)
		if err != nil {
			fail(e, err)
			return
		}
		if !proto.ValidSessionID(lr.SessionID) {
			reply(e, proto.WhispersAck{OK: true, Whispers: []proto.Whisper{}})
			return
		}
		q.With = lr.SessionID
	}
	wr, err := c.up.whispers(q)
	if err != nil {
		fail(e, err)
		return
	}
	if wr.Whispers == nil {
		wr.Whispers = []proto.Whisper{}
	}
	reply(e, proto.WhispersAck{OK: true, Whispers: wr.Whispers})
}

func (c *chat) onTyping(s *socketio.Socket, e *socketio.EventMessage) {
	cn := connOf(s)
	if cn == nil {
		return
	}
	m := cn.cur.Load()
	if m == nil {
		return
	}
	var req proto.TypingRequest
	if decodeArg(e, &req) != nil || c.floods.admit(cn, limitTyping, m.key) != nil {
		return // typing has no answer: dropped, and counted
	}
	c.sendTyping(m, req.On)
}

// roomOf returns the room a query names, by default the connection's;
// it fails e, and returns false, for an invalid room.
func roomOf(s *socketio.Socket, e *socketio.EventMessage, room string) (string, bool) {
	if room == "" {
		if cn := connOf(s); cn != nil {
			if m := cn.cur.Load(); m != nil {
				room = m.room
			}
		}
	}
	room, err := proto.NormalizeRoom(room)
	if err != nil {
		fail(e, err)
		return "", false
	}
	return room, true
}

func (c *chat) onMembers(s *socketio.Socket, e *socketio.EventMessage) {
	if !c.admitQuery(s, e, limitMembers) {
		return
	}
	var req proto.MembersRequest
	if len(e.Args) > 0 {
		if err := decodeArg(e, &req); err != nil {
			fail(e, err)
			return
		}
	}
	room, ok := roomOf(s, e, req.Room)
	if !ok {
		return
	}
	if _, _, err := proto.MembersPage(req.After, req.Limit); err != nil {
		fail(e, err)
		return
	}
	mr, err := c.up.members(proto.PresenceMembers{Room: room, After: req.After, Limit: req.Limit})
	if err != nil {
		fail(e, err)
		return
	}
	if mr.Members == nil {
		mr.Members = []proto.Member{}
	}
	reply(e, proto.MembersAck{OK: true, Room: room, Members: mr.Members, MemberCount: mr.Count, More: mr.More})
}

func (c *chat) onHistory(s *socketio.Socket, e *socketio.EventMessage) {
	if !c.admitQuery(s, e, limitHistory) {
		return
	}
	var req proto.HistoryRequest
	if len(e.Args) > 0 {
		if err := decodeArg(e, &req); err != nil {
			fail(e, err)
			return
		}
	}
	room, ok := roomOf(s, e, req.Room)
	if !ok {
		return
	}
	if err := proto.ValidatePage(req.Before, req.Limit); err != nil {
		fail(e, err)
		return
	}
	hr, err := c.up.history(proto.HistoryQuery{Room: room, Before: req.Before, Limit: req.Limit})
	if err != nil {
		fail(e, err)
		return
	}
	if hr.Messages == nil {
		hr.Messages = []proto.Message{}
	}
	reply(e, proto.HistoryAck{OK: true, Room: room, Messages: hr.Messages})
}

func (c *chat) onRooms(s *socketio.Socket, e *socketio.EventMessage) {
	if !c.admitQuery(s, e, limitRooms) {
		return
	}
	rr, err := c.up.rooms()
	if err != nil {
		fail(e, err)
		return
	}
	if rr.Rooms == nil {
		rr.Rooms = []proto.RoomCount{}
	}
	reply(e, struct {
		OK    bool              `json:"ok"`
		Rooms []proto.RoomCount `json:"rooms"`
	}{true, rr.Rooms})
}

// fanOutNotice delivers a room's presence or typing notice to its local
// members but the user concerned.
func (c *chat) fanOutNotice(msg *nats.Msg) {
	var event string
	switch proto.RoomLiveKind(msg.Subject) {
	case proto.LivePresence:
		event = msg.Header.Get(proto.HeaderEvent)
		if event != proto.EventJoin && event != proto.EventLeave {
			return
		}
	case proto.LiveTyping:
		if !c.floods.typingIn.passNotice(roomToken(msg.Subject), msg.Data) {
			c.floods.limited.WithLabelValues(limitTyping, "coalesced_in").Inc()
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
	skipKey := userKey(msg.Data)
	c.mu.RLock()
	g := c.rooms[roomToken(msg.Subject)]
	c.mu.RUnlock()
	if g == nil {
		return
	}
	for _, m := range g.load() {
		if m.key != skipKey {
			m.send(frame, 0, false)
		}
	}
}

// roomToken returns the room token of natter.live.<token>.<kind>.
func roomToken(subject string) string {
	rest := subject[len("natter.live."):]
	if i := strings.IndexByte(rest, '.'); i >= 0 {
		return rest[:i]
	}
	return rest
}

// deliver fans out the stored messages and whispers, one at a time, in
// the order the stream stored them, until the chat closes.
func (c *chat) deliver() {
	defer c.beating.Done()
	for {
		select {
		case msg := <-c.stored:
			c.fanOutStored(msg)
		case <-c.stop:
			return
		}
	}
}

// fanOutStored delivers one stored message to the local members of its
// room, or one whisper to the local connections of its two sessions but
// the one it came from.
func (c *chat) fanOutStored(msg *nats.Msg) {
	seq, _ := strconv.ParseUint(msg.Header.Get(jetstream.SequenceHeader), 10, 64)
	if seq != 0 && seq == c.lastSeq {
		return // a whisper to oneself, which both of its subscriptions saw
	}
	c.lastSeq = seq
	switch {
	case strings.HasPrefix(msg.Subject, proto.StoredRoomPrefix):
		frame := c.encodeStored(proto.EventServerMessage, msg.Data, seq)
		c.mu.RLock()
		g := c.rooms[msg.Subject[len(proto.StoredRoomPrefix):]]
		c.mu.RUnlock()
		if g == nil || frame == nil {
			return
		}
		members := g.load()
		for _, m := range members {
			m.send(frame, seq, false)
		}
		c.metrics.messagesOut.Add(float64(len(members)))
		c.metrics.observeFanOut(msg.Header.Get(jetstream.TimeStampHeaer))
	case strings.HasPrefix(msg.Subject, proto.StoredWhisperPrefix):
		a, b, ok := proto.WhisperParties(msg.Subject[len(proto.StoredWhisperPrefix):])
		frame := c.encodeStored(proto.EventWhisper, msg.Data, seq)
		if !ok || frame == nil {
			return
		}
		origin := msg.Header.Get(proto.HeaderOrigin)
		parties := []string{a, b}
		if a == b {
			parties = parties[:1]
		}
		c.mu.RLock()
		groups := make([]*group, 0, 2)
		for _, sid := range parties {
			if g := c.users[sid]; g != nil {
				groups = append(groups, g)
			}
		}
		c.mu.RUnlock()
		for _, g := range groups {
			for _, m := range g.load() {
				if m.origin != origin {
					m.send(frame, seq, true)
				}
			}
		}
	}
}

// encodeStored encodes the event of a stored message or whisper, with its
// sequence as the recovery offset.
func (c *chat) encodeStored(event string, data []byte, seq uint64) []byte {
	args := []json.RawMessage{data}
	if c.offsets {
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
	if m.live.Load() {
		m.sock.SendFrame(frame, nil)
		return
	}
	m.mu.Lock()
	if !m.live.Load() {
		if len(m.pending) >= maxPending {
			m.mu.Unlock()
			m.sock.CloseSession()
			return
		}
		m.pending = append(m.pending, pendingFrame{frame, seq, whisper})
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	m.sock.SendFrame(frame, nil)
}

// goLive sends what waited during the join, except what the join's answer
// carried: room messages through the stream sequence rooms, whispers
// through whispers. From then on it sends directly.
func (m *member) goLive(rooms, whispers uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.pending {
		through := rooms
		if p.whisper {
			through = whispers
		}
		if p.seq != 0 && p.seq <= through {
			continue
		}
		m.sock.SendFrame(p.frame, nil)
	}
	m.pending = nil
	m.live.Store(true)
}

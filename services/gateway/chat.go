package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// maxPending bounds what a joining connection buffers while its join ack
// is being made; past it the connection is closed as a slow consumer.
const maxPending = 1024

// chat is the gateway's chat layer: proto's events over NATS. It holds one
// NATS subscription per room with local members and one per local user
// (for whispers), encodes each outgoing frame once and writes the same
// bytes to every local member.
type chat struct {
	id         string
	nc         *nats.Conn
	js         jetstream.JetStream
	log        *slog.Logger
	metrics    *chatMetrics
	reqTimeout time.Duration
	rateLimit  rate.Limit
	rateBurst  int

	streamMu sync.Mutex
	stream   jetstream.Stream // found on first need: the history service creates it

	heartbeat time.Duration
	stop      chan struct{} // closed by close: the heartbeat ends
	closeOnce sync.Once
	resyncSub *nats.Subscription
	resyncs   chan struct{}  // cap 1: a resync waits to run
	resyncMu  sync.Mutex     // one resync at a time
	beating   sync.WaitGroup // the heartbeat goroutine

	mu     sync.Mutex
	closed bool
	rooms  map[string]*group // by room name
	users  map[string]*group // by name key
	leave  sync.WaitGroup    // presence leaves under way
}

// member is a connection joined to a room. It does not change: a new join
// makes a new member.
type member struct {
	sock     *socketio.Socket
	username string
	key      string // proto.NameKey(username)
	color    string
	token    string
	room     string
	origin   string // gateway/conn, for HeaderOrigin

	// While a join is being answered, what the room sends waits here, so
	// that nothing falls between the history in the ack and live delivery.
	live    atomic.Bool
	mu      sync.Mutex
	pending []pendingFrame
}

type pendingFrame struct {
	frame []byte
	seq   uint64 // stream sequence of a message; 0 for notices
}

// conn is the chat state of one Socket.IO socket.
type conn struct {
	limiter *rate.Limiter
	cur     atomic.Pointer[member] // nil until joined
}

// group is a set of local members that share one NATS subscription: a
// room's, or a user's connections.
type group struct {
	sub     *nats.Subscription
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
		reqTimeout: cfg.RequestTimeout,
		rateLimit:  rate.Limit(cfg.MessageRate),
		rateBurst:  cfg.MessageBurst,
		rooms:      make(map[string]*group),
		users:      make(map[string]*group),
	}
	c.beating.Add(1)
	go c.beat()
	resync, err := nc.Subscribe(proto.PresenceResyncSubject, func(*nats.Msg) { c.resync() })
	if err != nil {
		return nil, err
	}
	c.resyncSub = resync
	return c, nil
}

// resync announces every local connection to presence again, after
// presence lost its state. One resync runs at a time; one asked for
// meanwhile runs after it.
func (c *chat) resync() {
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
			var pr proto.PresenceJoinReply
			err := c.request(proto.PresenceJoinSubject, proto.PresenceJoin{
				ConnRef:  proto.ConnRef{Gateway: c.id, Conn: m.sock.ID()},
				Username: m.username,
				Room:     m.room,
				Token:    m.token,
				Color:    m.color,
				Resync:   true,
			}, &pr)
			if err == nil && pr.Error != nil {
				err = pr.Error
			}
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
	n.OnConnect(func(s *socketio.Socket) {
		s.SetData(&conn{limiter: rate.NewLimiter(c.rateLimit, c.rateBurst)})
	})
	n.OnDisconnect(c.onDisconnect)
	n.On(proto.EventJoin, c.onJoin)
	n.On(proto.EventClientMessage, c.onMessage)
	n.On(proto.EventWhisper, c.onWhisper)
	n.On(proto.EventTyping, c.onTyping)
	n.On(proto.EventMembers, c.onMembers)
	n.On(proto.EventRooms, c.onRooms)
	n.On(proto.EventHistory, c.onHistory)
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
	})
	c.beating.Wait()
	c.leave.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.rooms {
		r.sub.Unsubscribe()
	}
	for _, u := range c.users {
		u.sub.Unsubscribe()
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
	if len(e.Args) == 0 || json.Unmarshal(e.Args[0], v) != nil {
		return proto.Errorf(proto.CodeBadRequest, "%s takes one object argument", e.Name)
	}
	return nil
}

// request sends a request to a service and decodes its reply. A service
// that does not answer in time is proto.ErrUnavailable.
func (c *chat) request(subject string, req, resp any) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.reqTimeout)
	defer cancel()
	m, err := c.nc.RequestWithContext(ctx, subject, b)
	if err != nil {
		c.log.Warn("request failed", "subject", subject, "err", err)
		return proto.ErrUnavailable
	}
	if err := json.Unmarshal(m.Data, resp); err != nil {
		return proto.ErrUnavailable
	}
	return nil
}

// ask makes a request on behalf of event e, whose reply carries its error
// in *replyErr; it fails e, and returns false, if the request or its reply
// failed.
func (c *chat) ask(e *socketio.EventMessage, subject string, req, resp any, replyErr **proto.Error) bool {
	err := c.request(subject, req, resp)
	if err == nil && *replyErr != nil {
		err = *replyErr
	}
	if err != nil {
		fail(e, err)
		return false
	}
	return true
}

func (c *chat) onJoin(s *socketio.Socket, e *socketio.EventMessage) {
	cn := connOf(s)
	var req proto.JoinRequest
	if err := decodeArg(e, &req); err != nil {
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
	var pr proto.PresenceJoinReply
	join := proto.PresenceJoin{
		ConnRef:  proto.ConnRef{Gateway: c.id, Conn: s.ID()},
		Username: req.Username,
		Room:     roomName,
		Token:    req.Token,
	}
	if !c.ask(e, proto.PresenceJoinSubject, join, &pr, &pr.Error) {
		return
	}
	m := &member{
		sock:     s,
		username: pr.Username,
		key:      proto.NameKey(pr.Username),
		color:    pr.Color,
		token:    pr.Token,
		room:     pr.Room,
		origin:   c.id + "/" + s.ID(),
	}
	if !s.Connected() {
		return // gone while presence answered; its leave is on the way
	}
	c.place(cn, m)

	var hr proto.HistoryReply
	if err := c.request(proto.HistoryQuerySubject, proto.HistoryQuery{Room: pr.Room, Limit: proto.HistoryOnJoin}, &hr); err != nil || hr.Error != nil {
		c.log.Warn("join without history", "err", err)
		hr = proto.HistoryReply{}
	}
	if hr.Messages == nil {
		hr.Messages = []proto.Message{}
	}
	if pr.Members == nil {
		pr.Members = []proto.Member{}
	}
	reply(e, proto.JoinAck{
		OK:       true,
		Username: pr.Username,
		Color:    pr.Color,
		Token:    pr.Token,
		Room:     pr.Room,
		Members:  pr.Members,
		History:  hr.Messages,
	})
	m.goLive(hr.Through)
}

// place makes m the connection's member: in its room's group and its
// user's group, out of the previous ones.
func (c *chat) place(cn *conn, m *member) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := cn.cur.Swap(m); old != nil {
		c.removeLocked(old)
	}
	c.enter(c.rooms, m.room, proto.RoomLiveSubject(m.room), m, c.fanOutRoom)
	c.enter(c.users, m.key, proto.UserWhisperSubject(m.key), m, c.fanOutUser)
	c.metrics.rooms.Set(float64(len(c.rooms)))
}

// enter adds m to groups[key], subscribing to subject for the group's
// first member. The caller holds c.mu.
func (c *chat) enter(groups map[string]*group, key, subject string, m *member, fanOut func(*group, *nats.Msg)) {
	g := groups[key]
	if g == nil {
		g = &group{}
		sub, err := c.nc.Subscribe(subject, func(msg *nats.Msg) { fanOut(g, msg) })
		if err != nil {
			c.log.Error("subscribe", "err", err)
		}
		g.sub = sub
		groups[key] = g
	}
	g.add(m)
}

// exit takes m out of groups[key], unsubscribing with the last member.
// The caller holds c.mu.
func exit(groups map[string]*group, key string, m *member) {
	if g := groups[key]; g != nil && g.remove(m) {
		if g.sub != nil {
			g.sub.Unsubscribe()
		}
		delete(groups, key)
	}
}

// removeLocked takes m out of its groups, dropping a group's subscription
// with its last member. The caller holds c.mu.
func (c *chat) removeLocked(m *member) {
	exit(c.rooms, m.room, m)
	exit(c.users, m.key, m)
	c.metrics.rooms.Set(float64(len(c.rooms)))
}

func (c *chat) onDisconnect(s *socketio.Socket, reason string) {
	cn := connOf(s)
	if cn == nil {
		return
	}
	m := cn.cur.Swap(nil)
	if m == nil {
		return
	}
	c.mu.Lock()
	c.removeLocked(m)
	c.mu.Unlock()
	// Tell presence without holding up the transport that is closing.
	c.leave.Add(1)
	go func() {
		defer c.leave.Done()
		var resp proto.ErrorAck
		err := c.request(proto.PresenceLeaveSubject, proto.PresenceLeave{
			ConnRef:    proto.ConnRef{Gateway: c.id, Conn: s.ID()},
			Deliberate: reason == "client namespace disconnect",
		}, &resp)
		if err != nil {
			c.log.Warn("presence leave", "err", err)
		}
	}()
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

// admit checks a message's text and the connection's rate, failing e when
// either is wrong.
func (c *chat) admit(e *socketio.EventMessage, cn *conn, text string) bool {
	if err := proto.ValidateMessage(text); err != nil {
		fail(e, err)
		return false
	}
	if !cn.limiter.Allow() {
		c.metrics.rateLimited.Inc()
		fail(e, proto.ErrRateLimited)
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
	if !c.admit(e, cn, req.Message) {
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
	dedup := msg.ID
	if req.ClientID != "" {
		// Scoped to the user, so that clients cannot collide by choice.
		h := sha256.Sum256([]byte(m.key + "\x00" + req.ClientID))
		dedup = hex.EncodeToString(h[:16])
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.reqTimeout)
	defer cancel()
	ack, err := c.js.Publish(ctx, proto.RoomMsgSubject(m.room), data, jetstream.WithMsgID(dedup))
	if err != nil {
		c.metrics.publishErrors.Inc()
		c.log.Warn("publish message", "err", err)
		fail(e, proto.ErrUnavailable)
		return
	}
	c.metrics.messagesIn.Inc()
	if ack.Duplicate {
		// A retry: answer with the message that was stored the first time.
		if orig, err := c.storedMessage(ctx, ack.Sequence); err == nil {
			msg = orig
		}
	}
	reply(e, proto.SentAck{OK: true, ID: msg.ID, TS: msg.TS})
}

// storedMessage reads a message back from the stream by sequence.
func (c *chat) storedMessage(ctx context.Context, seq uint64) (proto.Message, error) {
	c.streamMu.Lock()
	if c.stream == nil {
		st, err := c.js.Stream(ctx, proto.MessagesStream)
		if err != nil {
			c.streamMu.Unlock()
			return proto.Message{}, err
		}
		c.stream = st
	}
	st := c.stream
	c.streamMu.Unlock()
	raw, err := st.GetMsg(ctx, seq)
	if err != nil {
		return proto.Message{}, err
	}
	var msg proto.Message
	err = json.Unmarshal(raw.Data, &msg)
	return msg, err
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
	if !c.admit(e, cn, req.Message) {
		return
	}
	var lr proto.PresenceLookupReply
	if !c.ask(e, proto.PresenceLookupSubject, proto.PresenceLookup{Username: to}, &lr, &lr.Error) {
		return
	}
	if !lr.Online {
		fail(e, proto.ErrNoSuchUser)
		return
	}
	w := proto.Whisper{ID: newID(), From: m.username, To: lr.Username, Message: req.Message, TS: time.Now().UnixMilli()}
	data, _ := json.Marshal(w)
	toKey := proto.NameKey(lr.Username)
	for _, key := range []string{toKey, m.key} {
		msg := nats.NewMsg(proto.UserWhisperSubject(key))
		msg.Header.Set(proto.HeaderOrigin, m.origin)
		msg.Data = data
		if err := c.nc.PublishMsg(msg); err != nil {
			fail(e, proto.ErrUnavailable)
			return
		}
		if key == toKey && toKey == m.key {
			break // a whisper to oneself goes to one's other connections once
		}
	}
	c.metrics.whispers.Inc()
	reply(e, proto.SentAck{OK: true, ID: w.ID, TS: w.TS})
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
	if decodeArg(e, &req) != nil {
		return
	}
	data, _ := json.Marshal(proto.Typing{Username: m.username, Room: m.room, On: req.On})
	c.nc.Publish(proto.RoomTypingSubject(m.room), data)
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
	var req proto.PresenceMembers
	if len(e.Args) > 0 {
		json.Unmarshal(e.Args[0], &req)
	}
	room, ok := roomOf(s, e, req.Room)
	if !ok {
		return
	}
	var mr proto.PresenceMembersReply
	if !c.ask(e, proto.PresenceMembersSubject, proto.PresenceMembers{Room: room}, &mr, &mr.Error) {
		return
	}
	reply(e, struct {
		OK      bool           `json:"ok"`
		Room    string         `json:"room"`
		Members []proto.Member `json:"members"`
	}{true, room, mr.Members})
}

func (c *chat) onHistory(s *socketio.Socket, e *socketio.EventMessage) {
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
	if req.Limit < 0 || req.Limit > proto.MaxHistoryPage {
		fail(e, proto.Errorf(proto.CodeBadRequest, "limit is 1 to %d", proto.MaxHistoryPage))
		return
	}
	var hr proto.HistoryReply
	if !c.ask(e, proto.HistoryQuerySubject, proto.HistoryQuery{Room: room, Before: req.Before, Limit: req.Limit}, &hr, &hr.Error) {
		return
	}
	if hr.Messages == nil {
		hr.Messages = []proto.Message{}
	}
	reply(e, proto.HistoryAck{OK: true, Room: room, Messages: hr.Messages})
}

func (c *chat) onRooms(_ *socketio.Socket, e *socketio.EventMessage) {
	var rr proto.PresenceRoomsReply
	if !c.ask(e, proto.PresenceRoomsSubject, struct{}{}, &rr, &rr.Error) {
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

// fanOutRoom delivers one live room message to the room's local members:
// a stored chat message to all, a notice to all but the user concerned.
func (c *chat) fanOutRoom(r *group, msg *nats.Msg) {
	var event string
	var skipKey string
	var seq uint64
	switch proto.RoomLiveKind(msg.Subject) {
	case proto.LiveMsg:
		event = proto.EventServerMessage
		seq, _ = strconv.ParseUint(msg.Header.Get(jetstream.SequenceHeader), 10, 64)
	case proto.LivePresence:
		event = msg.Header.Get(proto.HeaderEvent)
		if event != proto.EventJoin && event != proto.EventLeave {
			return
		}
		skipKey = userKey(msg.Data)
	case proto.LiveTyping:
		event = proto.EventTyping
		skipKey = userKey(msg.Data)
	default:
		return
	}
	frame, err := socketio.EncodeEvent("/", event, -1, []json.RawMessage{msg.Data}, 0)
	if err != nil {
		return
	}
	n := 0
	for _, m := range r.load() {
		if skipKey != "" && m.key == skipKey {
			continue
		}
		m.send(frame, seq)
		n++
	}
	if event == proto.EventServerMessage {
		c.metrics.messagesOut.Add(float64(n))
		c.metrics.observeFanOut(msg.Header.Get(jetstream.TimeStampHeaer))
	}
}

// fanOutUser delivers a whisper to a user's local connections, but the
// one it came from.
func (c *chat) fanOutUser(u *group, msg *nats.Msg) {
	frame, err := socketio.EncodeEvent("/", proto.EventWhisper, -1, []json.RawMessage{msg.Data}, 0)
	if err != nil {
		return
	}
	origin := msg.Header.Get(proto.HeaderOrigin)
	for _, m := range u.load() {
		if m.origin != origin {
			m.send(frame, 0)
		}
	}
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
// being answered.
func (m *member) send(frame []byte, seq uint64) {
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
		m.pending = append(m.pending, pendingFrame{frame, seq})
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	m.sock.SendFrame(frame, nil)
}

// goLive sends what waited during the join, except messages that the
// join's history (complete through the stream sequence through) carried,
// and from then on sends directly.
func (m *member) goLive(through uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.pending {
		if p.seq != 0 && p.seq <= through {
			continue
		}
		m.sock.SendFrame(p.frame, nil)
	}
	m.pending = nil
	m.live.Store(true)
}

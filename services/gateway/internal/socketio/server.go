package socketio

import (
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/natter/natter/services/gateway/internal/engineio"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxAttachments = 10
	DefaultConnectTimeout = 45 * time.Second
	// Official clients send a packet's attachments right after it.
	DefaultAttachmentTimeout = 20 * time.Second
)

// Config configures a Server. The zero value of every field means its default.
type Config struct {
	// MaxAttachments bounds the binary attachments of one packet; 10.
	MaxAttachments int
	// MaxAttachmentBytes bounds a packet with attachments: its header and
	// the attachments together, however the client splits them into
	// Engine.IO messages; 1,000,000. While they wait, what the session
	// reads next over WebSocket must fit beside them in its MaxPayload
	// (engineio.Session.Hold).
	MaxAttachmentBytes int
	// AttachmentTimeout closes a session whose packet's attachments have
	// not all arrived this long after its header; 20s.
	AttachmentTimeout time.Duration
	// ConnectTimeout closes a session that joins no namespace in time; 45s.
	ConnectTimeout time.Duration
	// Observer is told of what the server holds and drops, for metrics.
	// Nil: nobody.
	Observer Observer
}

// Observer is told of packets with attachments. Its methods must be quick
// and safe for concurrent use.
type Observer interface {
	// AttachmentsTimedOut: a session is closed, its packet's attachments
	// late.
	AttachmentsTimedOut()
	// PartialBytes: the bytes held for packets whose attachments have not
	// all arrived changed by delta.
	PartialBytes(delta int)
}

type nopObserver struct{}

func (nopObserver) AttachmentsTimedOut() {}
func (nopObserver) PartialBytes(int)     {}

func (c Config) withDefaults() Config {
	if c.MaxAttachments <= 0 {
		c.MaxAttachments = DefaultMaxAttachments
	}
	if c.MaxAttachmentBytes <= 0 {
		c.MaxAttachmentBytes = engineio.DefaultMaxPayload
	}
	if c.AttachmentTimeout <= 0 {
		c.AttachmentTimeout = DefaultAttachmentTimeout
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	return c
}

// Server is a Socket.IO server: an engineio.Handler that routes each
// session's packets to namespaces. Register namespaces and handlers before
// it serves.
type Server struct {
	cfg Config

	mu         sync.RWMutex
	namespaces map[string]*Namespace
}

var _ engineio.Handler = (*Server)(nil)

// NewServer returns a server with the main namespace "/" registered.
func NewServer(cfg Config) *Server {
	s := &Server{cfg: cfg.withDefaults(), namespaces: make(map[string]*Namespace)}
	s.Of("/")
	return s
}

// Of returns the namespace called name, registering it if needed.
func (s *Server) Of(name string) *Namespace {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.namespaces[name]; ok {
		return n
	}
	n := &Namespace{name: name, handlers: make(map[string]EventHandler)}
	s.namespaces[name] = n
	return n
}

func (s *Server) namespace(name string) *Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.namespaces[name]
}

// ServeSession implements engineio.Handler.
func (s *Server) ServeSession(sess *engineio.Session) engineio.SessionHandler {
	c := &client{srv: s, sess: sess, sockets: make(map[string]*Socket)}
	c.connectTimer = time.AfterFunc(s.cfg.ConnectTimeout, c.connectTimedOut)
	return c
}

// Middleware may refuse a connection to a namespace by returning an error;
// its message, and its data if it has a Data() method, go to the client in
// the CONNECT_ERROR packet.
type Middleware func(s *Socket) error

// Refusal is a middleware error with data for the client's connect_error.
type Refusal struct {
	Message string
	Data    any
}

func (e *Refusal) Error() string { return e.Message }

// EventHandler handles one event. It runs on the session's reader: events
// of one session are handled one at a time, in order, so a handler must
// not block for long.
type EventHandler func(s *Socket, e *EventMessage)

// Namespace is a Socket.IO namespace with its middlewares and handlers.
type Namespace struct {
	name string

	mu           sync.RWMutex
	middlewares  []Middleware
	handlers     map[string]EventHandler
	onConnect    func(*Socket)
	onDisconnect func(*Socket, string)
	recovery     Recovery
}

// Recovery is Socket.IO's connection state recovery, done by the
// application: with it, every CONNECT answer carries a private id (pid)
// besides the socket id, the application appends an offset (a string) to
// the events it wants a reconnecting client not to miss, and a client that
// reconnects sends its pid and the last offset it received in its CONNECT
// payload. The official client then reports the socket as recovered when
// the answer carries the same pid.
type Recovery interface {
	// NewPID returns a new private id: unguessable, as it stands for the
	// socket's state.
	NewPID() string
	// Recover is offered a connection whose CONNECT payload carries a pid
	// and, if the client received any event with one, an offset (else
	// ""), before the CONNECT is answered; it restores the
	// previous socket's state on s and returns true, or returns false
	// and s is a new socket. Whatever it restores must wait for the
	// namespace's OnConnect to be sent: the CONNECT answer goes first.
	Recover(s *Socket, pid, offset string) bool
}

// SetRecovery turns connection state recovery on for the namespace, with
// r doing it.
func (n *Namespace) SetRecovery(r Recovery) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.recovery = r
}

// Name returns the namespace's name, such as "/".
func (n *Namespace) Name() string { return n.name }

// Use adds a middleware, run for each connection in the order added.
func (n *Namespace) Use(m Middleware) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.middlewares = append(n.middlewares, m)
}

// On sets the handler of an event.
func (n *Namespace) On(event string, h EventHandler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.handlers[event] = h
}

// OnConnect sets what runs when a socket has connected (its CONNECT was
// answered).
func (n *Namespace) OnConnect(f func(*Socket)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.onConnect = f
}

// OnDisconnect sets what runs when a socket leaves, with the reason:
// "client namespace disconnect", "server namespace disconnect", or the
// Engine.IO session's close reason ("transport close", "ping timeout", ...).
func (n *Namespace) OnDisconnect(f func(*Socket, string)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.onDisconnect = f
}

func (n *Namespace) handler(event string) EventHandler {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.handlers[event]
}

// client is the Socket.IO side of one Engine.IO session.
type client struct {
	srv          *Server
	sess         *engineio.Session
	connectTimer *time.Timer

	// A packet waiting for its attachments. Touched only by OnMessage and
	// OnClose, which engineio calls one at a time.
	partial     *Packet
	attachments [][]byte
	held        int         // bytes of partial: its header and attachments so far
	partTimer   *time.Timer // for partial's attachments to arrive

	mu      sync.Mutex
	sockets map[string]*Socket
	closed  bool
	// Counts packets that waited for attachments; the number of the one
	// waiting now, 0 when none: its timer may fire as it completes.
	partSeq, waiting uint64
}

func (c *client) connectTimedOut() {
	c.mu.Lock()
	idle := len(c.sockets) == 0
	c.mu.Unlock()
	if idle {
		c.sess.Close()
	}
}

// OnMessage implements engineio.SessionHandler.
func (c *client) OnMessage(data []byte, binary bool) {
	if binary {
		if c.partial == nil || c.held+len(data) > c.srv.cfg.MaxAttachmentBytes {
			c.fail()
			return
		}
		c.hold(len(data))
		c.attachments = append(c.attachments, data)
		if len(c.attachments) == c.partial.Attachments {
			p, att := *c.partial, c.attachments
			c.dropPartial()
			c.dispatch(p, att)
		}
		return
	}
	if c.partial != nil {
		c.fail() // text while attachments were due
		return
	}
	p, err := Decode(data, c.srv.cfg.MaxAttachments)
	if err != nil {
		c.fail()
		return
	}
	if (p.Type == BinaryEvent || p.Type == BinaryAck) && p.Attachments > 0 {
		if len(data) > c.srv.cfg.MaxAttachmentBytes {
			c.fail()
			return
		}
		c.waitAttachments(&p, len(data))
		return
	}
	c.dispatch(p, nil)
}

// waitAttachments keeps p, whose header took n bytes, until its
// attachments have arrived, for at most AttachmentTimeout.
func (c *client) waitAttachments(p *Packet, n int) {
	c.partial = p
	c.hold(n)
	c.mu.Lock()
	c.partSeq++
	seq := c.partSeq
	c.waiting = seq
	c.mu.Unlock()
	c.partTimer = time.AfterFunc(c.srv.cfg.AttachmentTimeout, func() { c.attachmentsTimedOut(seq) })
}

func (c *client) attachmentsTimedOut(seq uint64) {
	c.mu.Lock()
	late := c.waiting == seq
	c.mu.Unlock()
	if late {
		c.srv.cfg.Observer.AttachmentsTimedOut()
		c.sess.Close()
	}
}

// hold counts n more bytes held for the partial packet.
func (c *client) hold(n int) {
	c.held += n
	c.sess.Hold(c.held)
	c.srv.cfg.Observer.PartialBytes(n)
}

// dropPartial lets the partial packet go, if there is one.
func (c *client) dropPartial() {
	if c.partial == nil {
		return
	}
	c.mu.Lock()
	c.waiting = 0
	c.mu.Unlock()
	c.partTimer.Stop()
	c.srv.cfg.Observer.PartialBytes(-c.held)
	c.sess.Hold(0)
	c.partial, c.attachments, c.held, c.partTimer = nil, nil, 0, nil
}

// fail ends a session that broke the protocol.
func (c *client) fail() {
	c.dropPartial()
	c.sess.Close()
}

func (c *client) dispatch(p Packet, attachments [][]byte) {
	switch p.Type {
	case Connect:
		c.connect(p)
	case Disconnect:
		if s := c.remove(p.Namespace); s != nil {
			s.disconnected("client namespace disconnect")
		}
	case Event, BinaryEvent:
		if s := c.socket(p.Namespace); s != nil {
			s.onEvent(p, attachments)
		}
	case Ack, BinaryAck:
		if s := c.socket(p.Namespace); s != nil {
			s.onAck(p, attachments)
		}
	}
}

func (c *client) connect(p Packet) {
	nsp := c.srv.namespace(p.Namespace)
	if nsp == nil {
		c.send(connectError(p.Namespace, "Invalid namespace", nil))
		return
	}
	if c.socket(p.Namespace) != nil {
		return // already connected: nothing to do
	}
	auth := json.RawMessage(`{}`)
	if p.Data != nil {
		auth = append(json.RawMessage(nil), p.Data...)
	}
	s := newSocket(c, nsp, auth)
	nsp.mu.RLock()
	mws := nsp.middlewares
	onConnect := nsp.onConnect
	recovery := nsp.recovery
	nsp.mu.RUnlock()
	for _, m := range mws {
		if err := m(s); err != nil {
			var data any
			if ce := (*Refusal)(nil); errors.As(err, &ce) {
				data = ce.Data
			}
			c.send(connectError(p.Namespace, err.Error(), data))
			return
		}
	}
	if recovery != nil {
		var prev struct {
			PID    string `json:"pid"`
			Offset string `json:"offset"`
		}
		json.Unmarshal(auth, &prev)
		if prev.PID != "" && recovery.Recover(s, prev.PID, prev.Offset) {
			s.pid, s.recovered = prev.PID, true
		} else {
			s.pid = recovery.NewPID()
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		if s.recovered {
			// Recover restored state that only a disconnect undoes.
			s.disconnected(engineio.ReasonTransportClose)
		}
		return
	}
	c.sockets[p.Namespace] = s
	c.mu.Unlock()
	c.connectTimer.Stop()

	hs, _ := json.Marshal(struct {
		SID string `json:"sid"`
		PID string `json:"pid,omitempty"`
	}{s.id, s.pid})
	frame := AppendHeader(nil, Connect, p.Namespace, 0, -1)
	c.send(engineio.TextPacket(engineio.Message, append(frame, hs...)))
	if onConnect != nil {
		onConnect(s)
	}
}

func connectError(nsp, message string, data any) engineio.Packet {
	body, err := json.Marshal(struct {
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}{message, data})
	if err != nil {
		body, _ = json.Marshal(struct {
			Message string `json:"message"`
		}{message})
	}
	frame := AppendHeader(nil, ConnectError, nsp, 0, -1)
	return engineio.TextPacket(engineio.Message, append(frame, body...))
}

func (c *client) send(packets ...engineio.Packet) error { return c.sess.Send(packets...) }

func (c *client) socket(nsp string) *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sockets[nsp]
}

func (c *client) remove(nsp string) *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sockets[nsp]
	delete(c.sockets, nsp)
	return s
}

// OnClose implements engineio.SessionHandler.
func (c *client) OnClose(reason string) {
	c.connectTimer.Stop()
	c.dropPartial()
	c.mu.Lock()
	c.closed = true
	sockets := c.sockets
	c.sockets = nil
	c.mu.Unlock()
	for _, s := range sockets {
		s.disconnected(reason)
	}
}

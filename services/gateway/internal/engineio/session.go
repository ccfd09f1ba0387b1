package engineio

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"net/textproto"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Errors of Session.Send.
var (
	ErrClosed       = errors.New("engineio: session closed")
	ErrSlowConsumer = errors.New("engineio: send queue full, session closed")
)

type transportKind uint8

const (
	transportPolling transportKind = iota
	transportWebSocket
)

// queueOverhead is what one queued packet costs besides its data, charged
// against Config.SendQueueBytes so that many tiny packets are bounded too.
const queueOverhead = 64

// Request is what a session keeps of the HTTP request that opened it.
type Request struct {
	Header     http.Header
	RawQuery   string // the query string: url.ParseQuery reads it
	Host       string
	RemoteAddr string
}

// Session is one Engine.IO session. Its methods are safe for concurrent use.
type Session struct {
	id      string
	srv     *Server
	req     Request
	handler SessionHandler

	// recvMu serializes deliveries to the handler: a WebSocket reader and a
	// polling POST may both deliver during an upgrade.
	recvMu sync.Mutex

	mu        sync.Mutex
	transport transportKind
	queue     []Packet
	spare     []Packet      // a written batch's array, for the next queue: no allocation per batch
	queued    int           // bytes charged for queue
	drained   chan struct{} // closed by take, for a reader waiting on a full queue
	pollWake  chan struct{} // cap 1, for a waiting GET: the queue grew, or the state changed
	// The WebSocket that carries the session, once it does, and its read
	// buffer; a writer runs while writing is true; wsDone is closed when the
	// last one has closed the connection.
	ws         *websocket.Conn
	wsIn       *bufio.Reader
	writing    bool
	wsDone     chan struct{}
	writer     func()        // s.writeWebSocket, made once: go writer() allocates nothing
	reader     func()        // s.readWebSocket, made once, for the same reason
	done       chan struct{} // closed by close
	closed     bool
	reason     string
	last       PacketType // sent to a pending poll at close: Close or Noop
	delivering bool       // a handler call is under way; it reports a close
	polling    bool       // a GET is waiting
	// The "t" query parameter (random per request) of the GET waiting or
	// answered last, and that answer: a proxy that sends a GET again (its
	// path broke) sends the same t, and gets the same answer, or takes
	// over the wait. pollStop is closed when a retry takes over.
	pollT     string
	answer    []byte
	pollStop  chan struct{}
	posting   bool // a POST is being read
	upgrading bool // a WebSocket probe answered
	probe     *websocket.Conn
	pingTimer *time.Timer
	pongTimer *time.Timer
	awaiting  bool // a ping is out and its pong not back
	refreshed bool // the pong deadline was moved once for this ping
	// held is what the handler keeps of the client's input between
	// messages (see Hold), in bytes.
	held atomic.Int64
}

func newSession(srv *Server, id string, t transportKind, r *http.Request) *Session {
	return &Session{
		id:        id,
		srv:       srv,
		transport: t,
		req: Request{
			Header:     keepHeaders(r.Header, srv.cfg.RequestHeaders),
			RawQuery:   r.URL.RawQuery,
			Host:       r.Host,
			RemoteAddr: r.RemoteAddr,
		},
		pollWake: make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
}

// keepHeaders copies what a session keeps of a request's headers h: all
// when names is nil, else the named ones (nil when none is there).
func keepHeaders(h http.Header, names []string) http.Header {
	if names == nil {
		return h.Clone()
	}
	var kept http.Header
	for _, name := range names {
		if v := h.Values(name); len(v) > 0 {
			if kept == nil {
				kept = make(http.Header, len(names))
			}
			kept[textproto.CanonicalMIMEHeaderKey(name)] = slices.Clone(v)
		}
	}
	return kept
}

// ID returns the session id, the "sid" of the Engine.IO handshake.
func (s *Session) ID() string { return s.id }

// Request returns what the session keeps of the request that opened it.
func (s *Session) Request() *Request { return &s.req }

// Transport returns "polling" or "websocket".
func (s *Session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transportName()
}

func (s *Session) transportName() string {
	if s.transport == transportWebSocket {
		return "websocket"
	}
	return "polling"
}

// Hold tells the session that its handler keeps n bytes of the client's
// input between messages (the attachments of a Socket.IO packet not yet
// whole); 0 when it keeps none. Until then a WebSocket message must fit in
// MaxPayload beside them: a larger one closes the session, as an
// oversized message does. (A polling POST's body is encoded, so it is
// bounded by MaxPayload alone; the handler bounds what it keeps.)
func (s *Session) Hold(n int) { s.held.Store(int64(n)) }

// readLimit is the most a WebSocket message may now take, in bytes.
func (s *Session) readLimit() int64 {
	return max(int64(s.srv.cfg.MaxPayload)-s.held.Load(), 1)
}

// Done is closed when the session closes.
func (s *Session) Done() <-chan struct{} { return s.done }

func (s *Session) openPacket(upgrades []string) Packet {
	if upgrades == nil {
		upgrades = []string{}
	}
	b, _ := json.Marshal(openPayload{
		SID:          s.id,
		Upgrades:     upgrades,
		PingInterval: s.srv.cfg.PingInterval.Milliseconds(),
		PingTimeout:  s.srv.cfg.PingTimeout.Milliseconds(),
		MaxPayload:   s.srv.cfg.MaxPayload,
	})
	return TextPacket(Open, b)
}

// Send queues packets to be written together and in order, none of
// another Send between them. Packets' Data must not change afterwards;
// the same Data may be sent to many sessions. If the queue would grow past
// Config.SendQueueBytes the session is closed and ErrSlowConsumer returned.
func (s *Session) Send(packets ...Packet) error {
	n := 0
	for _, p := range packets {
		n += len(p.Data) + queueOverhead
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.queued+n > s.srv.cfg.SendQueueBytes {
		s.mu.Unlock()
		s.srv.cfg.Observer.SlowConsumer()
		s.close(ReasonSlowConsumer, Close)
		return ErrSlowConsumer
	}
	s.enqueueLocked(packets...)
	s.queued += n
	s.mu.Unlock()
	s.signal()
	return nil
}

// enqueueLocked appends packets to the queue and starts the WebSocket
// writer if it is needed; the caller holds s.mu and has charged them.
func (s *Session) enqueueLocked(packets ...Packet) {
	if s.queue == nil {
		s.queue, s.spare = s.spare, nil
	}
	s.queue = append(s.queue, packets...)
	s.kickLocked()
}

// signal wakes a waiting GET, without blocking.
func (s *Session) signal() {
	select {
	case s.pollWake <- struct{}{}:
	default:
	}
}

// take empties the queue; the caller holds s.mu.
func (s *Session) take() []Packet {
	q := s.queue
	s.queue = nil
	s.queued = 0
	if s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
	return q
}

// maxIdleSpare bounds the array an idle session keeps for its next queue,
// so that it does not hold a burst's worth of memory; a busy one keeps any
// (see trimLocked).
const maxIdleSpare = 64

// recycle keeps a written batch's array for the next queue.
func (s *Session) recycle(q []Packet) {
	if cap(q) == 0 {
		return
	}
	clear(q) // drop the references to the data
	s.mu.Lock()
	if s.spare == nil {
		s.spare = q[:0]
	}
	s.mu.Unlock()
}

// trimLocked lets go of a large spare array: called at each ping, so that
// a session keeps a burst's array while it is busy, and at most a ping
// interval after. The caller holds s.mu.
func (s *Session) trimLocked() {
	if cap(s.spare) > maxIdleSpare {
		s.spare = nil
	}
}

// backpressure holds up the reader while the queue is over half full, so
// that a client which sends faster than it reads the answers is slowed
// down, not disconnected: its next message is read once the queue drains.
// A queue that does not drain within WriteTimeout+PingTimeout closes the
// session as a slow consumer. Fan-out never waits here: Send fails fast.
func (s *Session) backpressure() {
	s.mu.Lock()
	if s.closed || s.queued <= s.srv.cfg.SendQueueBytes/2 {
		s.mu.Unlock()
		return
	}
	if s.drained == nil {
		s.drained = make(chan struct{})
	}
	drained := s.drained
	s.mu.Unlock()
	t := time.NewTimer(s.srv.cfg.WriteTimeout + s.srv.cfg.PingTimeout)
	defer t.Stop()
	select {
	case <-drained:
	case <-s.done:
	case <-t.C:
		s.srv.cfg.Observer.SlowConsumer()
		s.close(ReasonSlowConsumer, Close)
	}
}

// Close closes the session from the server side. Over polling, a waiting
// GET receives what is queued and a close packet; over WebSocket the queue
// is flushed before the close frame.
func (s *Session) Close() { s.close(ReasonForcedClose, Close) }

// close ends the session once. last is what a waiting poll receives:
// Close when the server closes, Noop when the client asked.
func (s *Session) close(reason string, last PacketType) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.reason = reason
	s.last = last
	if s.pingTimer != nil {
		s.pingTimer.Stop()
	}
	if s.pongTimer != nil {
		s.pongTimer.Stop()
	}
	probe := s.probe
	notify := !s.delivering && s.handler != nil
	transport := s.transportName()
	close(s.done)
	if reason == ReasonSlowConsumer && s.ws != nil {
		// Nothing more reaches a client that cannot keep up: a writer
		// waiting on its full socket returns now, not at its deadline.
		s.ws.NetConn().Close()
	}
	s.kickLocked() // the writer flushes the queue and closes the WebSocket
	s.mu.Unlock()

	if probe != nil {
		probe.Close()
	}
	s.srv.remove(s)
	s.srv.cfg.Observer.SessionClosed(transport, reason)
	if notify {
		s.handler.OnClose(reason)
	}
}

// deliver hands one message to the handler, unless the session is closed.
// A close that happens meanwhile is reported once the handler returns.
func (s *Session) deliver(p Packet) {
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.delivering = true
	s.alive()
	s.mu.Unlock()

	s.handler.OnMessage(p.Data, p.Binary)

	s.mu.Lock()
	s.delivering = false
	notify := s.closed
	reason := s.reason
	s.mu.Unlock()
	if notify {
		s.handler.OnClose(reason)
		return
	}
	s.backpressure()
}

// onPacket handles one packet from the client on the current transport.
// It returns false when the session has ended.
func (s *Session) onPacket(p Packet) bool {
	switch p.Type {
	case Message:
		s.deliver(p)
	case Pong:
		s.onPong()
	case Close:
		s.close(ReasonTransportClose, Noop)
		return false
	case Ping, Noop:
		// A v4 client never pings; a noop asks for nothing.
	default:
		s.close(ReasonParseError, Close)
		return false
	}
	return true
}

// startHeartbeat schedules the first ping. The server pings every
// PingInterval after the last pong; a pong not back within PingTimeout
// closes the session.
func (s *Session) startHeartbeat() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.pingTimer = time.AfterFunc(s.srv.cfg.PingInterval, s.ping)
}

func (s *Session) ping() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.pongTimer == nil {
		s.pongTimer = time.AfterFunc(s.srv.cfg.PingTimeout, s.pingTimedOut)
	} else {
		s.pongTimer.Reset(s.srv.cfg.PingTimeout)
	}
	s.awaiting, s.refreshed = true, false
	s.trimLocked()
	s.mu.Unlock()
	s.Send(TextPacket(Ping, nil))
}

func (s *Session) pingTimedOut() { s.close(ReasonPingTimeout, Close) }

// alive moves the pong deadline once per ping when a message arrives while
// the pong is awaited: a busy client's pong may queue behind its messages
// (the reference server does the same). The caller holds s.mu.
func (s *Session) alive() {
	if s.awaiting && !s.refreshed && s.pongTimer.Stop() {
		s.refreshed = true
		s.pongTimer.Reset(s.srv.cfg.PingTimeout)
	}
}

func (s *Session) onPong() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.pongTimer == nil || !s.pongTimer.Stop() {
		// An unsolicited pong, or one that came after the timeout fired.
		return
	}
	s.awaiting = false
	s.pingTimer.Reset(s.srv.cfg.PingInterval)
}

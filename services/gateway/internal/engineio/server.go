package engineio

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Defaults for the zero values of Config.
const (
	DefaultPingInterval   = 25 * time.Second
	DefaultPingTimeout    = 20 * time.Second
	DefaultMaxPayload     = 1_000_000
	DefaultSendQueueBytes = 4 << 20
	DefaultUpgradeTimeout = 10 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
)

// Config configures a Server. The zero value of every field means its default.
type Config struct {
	PingInterval time.Duration // between server pings; 25s
	PingTimeout  time.Duration // for the pong to come back; 20s
	// MaxPayload bounds a POST body and a WebSocket message, in bytes;
	// 1,000,000. It is also announced to clients, who split their
	// long-polling payloads to fit.
	MaxPayload int
	// SendQueueBytes bounds what may wait to be written to one session.
	// A session whose queue would grow past it is closed as a slow consumer.
	// 4 MiB.
	SendQueueBytes int
	UpgradeTimeout time.Duration // for a probing WebSocket to send "5"; 10s
	WriteTimeout   time.Duration // for one WebSocket write; 10s
	// CheckOrigin reports whether a request that carries an Origin header
	// (a browser's) may open or use a session. Nil: SameOriginOn(nil), a
	// page of a loopback host only. Requests without an Origin header
	// (non-browser clients) are allowed.
	CheckOrigin func(r *http.Request) bool
	// NewID returns a new session id. Nil: 20 random base64url characters.
	NewID func() string
	// Observer is told of session events, for metrics. Nil: nobody.
	Observer Observer
	// RequestHeaders names the headers of its opening request that a
	// session keeps, in Session.Request, for its whole life. Nil: all.
	RequestHeaders []string
	// Forward, when set, is offered every request for a session this
	// server does not have: it may answer it (by passing it on to the
	// server that has the session) and return true. Nil, or false: the
	// request is refused as for an unknown session.
	Forward func(w http.ResponseWriter, r *http.Request, sid string) bool
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	c.PingInterval = positiveOr(c.PingInterval, DefaultPingInterval)
	c.PingTimeout = positiveOr(c.PingTimeout, DefaultPingTimeout)
	c.MaxPayload = positiveOr(c.MaxPayload, DefaultMaxPayload)
	c.SendQueueBytes = positiveOr(c.SendQueueBytes, DefaultSendQueueBytes)
	c.UpgradeTimeout = positiveOr(c.UpgradeTimeout, DefaultUpgradeTimeout)
	c.WriteTimeout = positiveOr(c.WriteTimeout, DefaultWriteTimeout)
	if c.NewID == nil {
		c.NewID = RandomID
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	return c
}

// positiveOr returns v, or def where v is zero or less (unset).
func positiveOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Observer is told of session events. Its methods must be quick and safe
// for concurrent use.
type Observer interface {
	SessionOpened(transport string)
	SessionClosed(transport, reason string)
	Upgraded()
	SlowConsumer()
	// WebSocketWrite is told of each write to a WebSocket: the frames it
	// carried, written in one go (one writev).
	WebSocketWrite(frames int)
}

type nopObserver struct{}

func (nopObserver) SessionOpened(string)         {}
func (nopObserver) SessionClosed(string, string) {}
func (nopObserver) Upgraded()                    {}
func (nopObserver) SlowConsumer()                {}
func (nopObserver) WebSocketWrite(int)           {}

// Handler receives the sessions of a Server.
type Handler interface {
	// ServeSession is called once for each new session, before any of its
	// messages; it returns what receives them.
	ServeSession(s *Session) SessionHandler
}

// SessionHandler receives one session's messages.
type SessionHandler interface {
	// OnMessage is called for each message packet, one at a time, in order.
	// data is owned by the callee.
	OnMessage(data []byte, binary bool)
	// OnClose is called once, after the last OnMessage has returned.
	OnClose(reason string)
}

// Close reasons, as the reference implementation names them.
const (
	ReasonTransportClose = "transport close"
	ReasonTransportError = "transport error"
	ReasonPingTimeout    = "ping timeout"
	ReasonParseError     = "parse error"
	ReasonForcedClose    = "forced close"
	ReasonSlowConsumer   = "slow consumer"
	ReasonServerShutdown = "server shutting down"
)

// Error codes of the reference server, sent as {"code":N,"message":...}.
const (
	codeUnknownTransport   = 0
	codeUnknownSID         = 1
	codeBadHandshakeMethod = 2
	codeBadRequest         = 3
	codeForbidden          = 4
	codeUnsupportedVersion = 5
)

var codeMessages = [...]string{
	"Transport unknown",
	"Session ID unknown",
	"Bad handshake method",
	"Bad request",
	"Forbidden",
	"Unsupported protocol version",
}

// Server is an Engine.IO server; it is an http.Handler to mount at the
// Engine.IO path (for Socket.IO, "/socket.io/").
type Server struct {
	cfg      Config
	handler  Handler
	upgrader websocket.Upgrader

	mu       sync.Mutex
	sessions map[string]*Session
	closed   bool
	conns    sync.WaitGroup // WebSocket connections being served
}

// NewServer returns a Server that hands its sessions to h.
func NewServer(cfg Config, h Handler) *Server {
	cfg = cfg.WithDefaults()
	s := &Server{
		cfg:      cfg,
		handler:  h,
		sessions: make(map[string]*Session),
		upgrader: websocket.Upgrader{
			// 0: the buffer Hijack returns is read from, which is
			// upgrade's, of readBufferSize.
			ReadBufferSize:  0,
			WriteBufferSize: 4096,
			WriteBufferPool: &sync.Pool{},
			// The origin was checked before the upgrade.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
	return s
}

// Config returns the server's configuration, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Len returns the number of open sessions.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Close closes every session, with reason, and refuses new ones. It waits
// until the goroutines serving WebSocket connections have returned.
func (s *Server) Close(reason string) {
	s.mu.Lock()
	s.closed = true
	sessions := make([]*Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		sess.close(reason, Close)
	}
	s.conns.Wait()
}

func (s *Server) session(sid string) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[sid]
}

func (s *Server) remove(sess *Session) {
	s.mu.Lock()
	if s.sessions[sess.id] == sess {
		delete(s.sessions, sess.id)
	}
	s.mu.Unlock()
}

// ServeHTTP answers Engine.IO requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	transport := q.Get("transport")
	isWS := transport == "websocket"
	if transport != "polling" && !isWS {
		s.refuse(w, r, codeUnknownTransport)
		return
	}
	if !s.originAllowed(r) {
		s.refuse(w, r, codeForbidden)
		return
	}
	if r.Method == http.MethodOptions && !isWS {
		s.preflight(w, r)
		return
	}
	sid := q.Get("sid")
	if sid == "" {
		s.handshake(w, r, q, isWS)
		return
	}
	sess := s.session(sid)
	if sess == nil {
		if s.cfg.Forward == nil || !s.cfg.Forward(w, r, sid) {
			s.refuse(w, r, codeUnknownSID)
		}
		return
	}
	if isWS {
		if !websocket.IsWebSocketUpgrade(r) {
			s.refuse(w, r, codeBadRequest)
			return
		}
		s.serveUpgrade(w, r, sess)
		return
	}
	switch r.Method {
	case http.MethodGet:
		sess.servePoll(w, r)
	case http.MethodPost:
		sess.serveData(w, r)
	default:
		s.refuse(w, r, codeBadRequest)
	}
}

func (s *Server) handshake(w http.ResponseWriter, r *http.Request, q url.Values, isWS bool) {
	if r.Method != http.MethodGet {
		s.refuse(w, r, codeBadHandshakeMethod)
		return
	}
	if q.Get("EIO") != "4" {
		s.refuse(w, r, codeUnsupportedVersion)
		return
	}
	if isWS && !websocket.IsWebSocketUpgrade(r) {
		s.refuse(w, r, codeBadRequest)
		return
	}
	transport := transportPolling
	if isWS {
		transport = transportWebSocket
	}
	sess := newSession(s, s.cfg.NewID(), transport, r)
	if isWS {
		// Upgrade before the session exists for anyone else: a failed
		// upgrade leaves nothing behind.
		conn, in, err := s.upgrade(w, r)
		if err != nil {
			return // the upgrader has answered
		}
		sess.queue = []Packet{sess.openPacket(nil)}
		if !s.register(sess) {
			conn.Close()
			return
		}
		s.serveWebSocket(sess, conn, in)
		return
	}
	if !s.register(sess) {
		s.refuse(w, r, codeBadRequest)
		return
	}
	s.setCORS(w, r)
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.Write(AppendText(nil, sess.openPacket([]string{"websocket"})))
}

// serveWebSocket serves sess on conn, read through in, in goroutines of
// their own, and returns: the HTTP handler's goroutine, and with it what
// the HTTP server keeps for the request (its buffers, about 10 KB), ends;
// an idle WebSocket then holds only its reader.
func (s *Server) serveWebSocket(sess *Session, conn *websocket.Conn, in *bufio.Reader) {
	if !s.hold() {
		sess.close(ReasonServerShutdown, Close)
		conn.Close()
		return
	}
	sess.startWebSocket(conn, in)
	go sess.reader()
}

// hold counts a WebSocket that Close must wait for, unless the server is
// closed already: under s.mu, so that no count is added once Close waits.
func (s *Server) hold() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns.Add(1)
	return true
}

// register makes sess visible, tells the handler of it and starts its
// heartbeat; false if the server is closed.
func (s *Server) register(sess *Session) bool {
	sess.handler = s.handler.ServeSession(sess)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		sess.close(ReasonServerShutdown, Close)
		return false
	}
	s.sessions[sess.id] = sess
	s.mu.Unlock()
	s.cfg.Observer.SessionOpened(sess.transportName())
	sess.startHeartbeat()
	return true
}

type openPayload struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code int) {
	status := http.StatusBadRequest
	if code == codeForbidden {
		status = http.StatusForbidden
	} else {
		s.setCORS(w, r)
	}
	body, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, codeMessages[code]})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// originAllowed applies the origin policy: no Origin header, or one that
// CheckOrigin allows (by default SameOriginOn(nil): a page of a loopback
// host).
func (s *Server) originAllowed(r *http.Request) bool {
	if r.Header.Get("Origin") == "" {
		return true
	}
	if s.cfg.CheckOrigin != nil {
		return s.cfg.CheckOrigin(r)
	}
	return SameOriginOn(nil)(r)
}

// SameOriginOn returns a CheckOrigin that allows a page of the host the
// request was sent to, when that host is one it trusts: a loopback host
// (localhost, 127.0.0.0/8, [::1], any port) or one of hosts, each a host
// name or IP (any port) or host:port. The Host header alone proves
// nothing: a page of evil.example whose name the attacker points at this
// server (DNS rebinding) sends Host and Origin evil.example. The scheme is
// not compared: TLS often ends at a proxy.
func SameOriginOn(hosts []string) func(*http.Request) bool {
	trusted := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if u, err := url.Parse(h); err == nil && u.Host != "" {
			h = u.Host // written as a URL
		}
		trusted[strings.ToLower(h)] = true
	}
	return func(r *http.Request) bool {
		u, err := url.Parse(r.Header.Get("Origin"))
		if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
			return false
		}
		host := strings.ToLower(u.Host)
		name := strings.ToLower(u.Hostname())
		return trusted[host] || trusted[name] || isLoopback(name)
	}
}

// isLoopback reports whether a host name (without port or brackets) can
// only mean this machine.
func isLoopback(name string) bool {
	if name == "localhost" {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}

// AllowOrigins returns a CheckOrigin that allows each of origins, written
// as scheme://host[:port], and no other: not even the same origin, which
// must be listed too. "*" allows every origin.
func AllowOrigins(origins []string) func(*http.Request) bool {
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		allowed[strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))] = true
	}
	return func(r *http.Request) bool {
		origin := strings.ToLower(r.Header.Get("Origin"))
		return allowed["*"] || allowed[origin]
	}
}

// setCORS lets an allowed cross-origin page read the polling responses.
func (s *Server) setCORS(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
}

func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	s.setCORS(w, r)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
	}
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// RefuseUnknownSession answers a request for a session that no server
// has, as the reference server does.
func RefuseUnknownSession(w http.ResponseWriter, r *http.Request) {
	(&Server{}).refuse(w, r, codeUnknownSID)
}

// RandomID returns 20 characters of base64url from 15 random bytes.
func RandomID() string {
	var b [15]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

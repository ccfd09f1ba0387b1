package engineio

import (
	"bufio"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// readBufferSize is each WebSocket's read buffer, which lives as long as
// the connection. A client's frames are small (a chat message is at most
// 2,000 characters); a larger one is read past the buffer, straight into
// the message (bufio reads a large request directly), so this bounds
// nothing but how many small frames one read(2) may bring.
const readBufferSize = 512

// upgrade upgrades the request to a WebSocket whose read buffer is the
// returned one: the session's reader waits on it (see readWebSocket), so
// it must be the very buffer gorilla reads frames from. gorilla reads
// through the buffered reader that Hijack returns when the Upgrader's
// ReadBufferSize is 0 and that reader holds over 256 bytes (its documented
// reuse of "buffers allocated by the HTTP server"); hijacker hands it ours.
func (srv *Server) upgrade(w http.ResponseWriter, r *http.Request) (*websocket.Conn, *bufio.Reader, error) {
	in := bufio.NewReaderSize(nil, readBufferSize)
	conn, err := srv.upgrader.Upgrade(hijacker{w, in}, r, nil)
	return conn, in, err
}

// hijacker is a ResponseWriter whose Hijack returns the connection with in
// as its buffered reader, and the HTTP server's writer (gorilla writes its
// handshake response in that writer's buffer, which is then let go).
type hijacker struct {
	http.ResponseWriter
	in *bufio.Reader
}

func (h hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil || rw.Reader.Buffered() > 0 {
		// Bytes sent before the handshake's answer: gorilla refuses them
		// when it sees them in the reader it is given.
		return conn, rw, err
	}
	return conn, bufio.NewReadWriter(h.in, rw.Writer), nil
}

// readWebSocket waits for the client's next message, reads it and every
// other that has arrived with it, and goes on in a new goroutine to wait
// for the next; it returns. It waits in a Peek of the read buffer, a call
// shallow enough for a goroutine's smallest stack (2 KB), while reading a
// message and handling it grows the stack past that. The runtime would not
// give that memory back: it halves a waiting goroutine's stack only while
// less than a quarter of it is in use, which no wait on a socket is at
// 4 KB, so an idle connection held 4 KB of stack or more. Now it holds
// 2 KB, for a goroutine started per batch of messages read.
//
// When the session ends, the last reader waits for the writer to close
// the connection and ends the count Server.hold added.
func (s *Session) readWebSocket() {
	conn, in := s.ws, s.wsIn // set before the first reader starts, never changed
	conn.SetReadDeadline(time.Now().Add(s.readIdle()))
	if _, err := in.Peek(1); err != nil {
		s.close(ReasonTransportError, Close)
	} else if s.readMessages(conn, in) {
		go s.reader()
		return
	}
	<-s.wsDone
	s.srv.conns.Done()
}

// readIdle bounds the wait for a message and its reading. A client sends
// at least a pong every PingInterval+PingTimeout, and cannot send one in
// the middle of a frame: a message that takes longer to arrive (a
// half-open connection, a frame that never finishes) fails its read and
// closes the session. The heartbeat closes such a session first (its
// reason is "ping timeout"); this bounds the read itself, a ping timeout
// later.
func (s *Session) readIdle() time.Duration {
	return s.srv.cfg.PingInterval + 2*s.srv.cfg.PingTimeout
}

// readMessages reads and handles a message that has begun to arrive, then
// every other already in the read buffer, each under a new deadline; false
// once the session has ended.
func (s *Session) readMessages(conn *websocket.Conn, in *bufio.Reader) bool {
	for first := true; first || in.Buffered() > 0; first = false {
		if !first {
			conn.SetReadDeadline(time.Now().Add(s.readIdle()))
		}
		if !s.readMessage(conn) {
			return false
		}
	}
	return true
}

// readMessage reads one message and hands it on; false once the session
// has ended.
func (s *Session) readMessage(conn *websocket.Conn) bool {
	conn.SetReadLimit(s.readLimit())
	mt, data, err := conn.ReadMessage()
	if err != nil {
		reason := ReasonTransportError
		if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
			reason = ReasonTransportClose
		}
		s.close(reason, Close)
		return false
	}
	if mt == websocket.BinaryMessage {
		s.deliver(BinaryPacket(data))
		return true
	}
	p, err := DecodeText(data)
	if err != nil {
		s.close(ReasonParseError, Close)
		return false
	}
	return s.onPacket(p)
}

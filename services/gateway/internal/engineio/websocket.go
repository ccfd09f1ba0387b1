package engineio

import (
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// serveWebSocket runs a WebSocket session: this goroutine reads, a second
// one writes; it returns when both have ended.
func (s *Session) serveWebSocket(conn *websocket.Conn) {
	conn.SetReadLimit(int64(s.srv.cfg.MaxPayload))
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeLoop(conn)
	}()
	s.readLoop(conn)
	<-writerDone
}

// readLoop reads the client's messages. A client sends at least a pong
// every PingInterval+PingTimeout, and cannot send one in the middle of a
// frame: a message that takes longer to arrive (a half-open connection, a
// frame that never finishes) fails its read and closes the session. The
// heartbeat closes such a session too; this bounds the read itself.
func (s *Session) readLoop(conn *websocket.Conn) {
	idle := s.srv.cfg.PingInterval + s.srv.cfg.PingTimeout
	for {
		conn.SetReadDeadline(time.Now().Add(idle))
		conn.SetReadLimit(s.readLimit())
		mt, data, err := conn.ReadMessage()
		if err != nil {
			reason := ReasonTransportError
			if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
				reason = ReasonTransportClose
			}
			s.close(reason, Close)
			return
		}
		if mt == websocket.BinaryMessage {
			s.deliver(BinaryPacket(data))
			continue
		}
		p, err := DecodeText(data)
		if err != nil {
			s.close(ReasonParseError, Close)
			return
		}
		if !s.onPacket(p) {
			return
		}
	}
}

// writeLoop writes the queue until the session closes, then flushes what
// is left and sends a close frame. A failed write closes the session.
func (s *Session) writeLoop(conn *websocket.Conn) {
	defer conn.Close()
	for {
		s.mu.Lock()
		packets := s.take()
		closed := s.closed
		s.mu.Unlock()
		for _, p := range packets {
			if err := s.write(conn, p); err != nil {
				s.close(ReasonTransportError, Close)
				return
			}
		}
		if closed {
			msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(s.srv.cfg.WriteTimeout))
			return
		}
		if len(packets) > 0 {
			continue
		}
		select {
		case <-s.wake:
		case <-s.done:
		}
	}
}

func (s *Session) write(conn *websocket.Conn, p Packet) error {
	conn.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	if p.Binary {
		return conn.WriteMessage(websocket.BinaryMessage, p.Data)
	}
	w, err := conn.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	w.Write([]byte{'0' + byte(p.Type)})
	w.Write(p.Data)
	return w.Close()
}

// serveUpgrade runs a WebSocket that asks to take over a polling session:
// the probe ("2probe" → "3probe"), then "5", after which the WebSocket
// carries the session. Packets queued meanwhile are written by whichever
// transport carries the session when they are taken, so none is lost or
// reordered.
func (srv *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, s *Session) {
	conn, err := srv.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	if !s.canUpgrade() {
		// Upgraded already, or upgrading: the reference server accepts
		// such a WebSocket and closes it at once.
		conn.Close()
		return
	}
	srv.conns.Add(1)
	defer srv.conns.Done()
	s.mu.Lock()
	if s.closed || s.transport != transportPolling || s.probe != nil {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.probe = conn
	s.mu.Unlock()

	if !s.probeUpgrade(conn) {
		s.mu.Lock()
		s.upgrading = false
		if s.probe == conn {
			s.probe = nil
		}
		s.mu.Unlock()
		s.signal()
		conn.Close()
		return
	}
	srv.cfg.Observer.Upgraded()
	s.serveWebSocket(conn)
}

func (s *Session) canUpgrade() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed && s.transport == transportPolling && s.probe == nil
}

func (s *Session) probeUpgrade(conn *websocket.Conn) bool {
	conn.SetReadLimit(int64(s.srv.cfg.MaxPayload))
	conn.SetReadDeadline(time.Now().Add(s.srv.cfg.UpgradeTimeout))
	mt, data, err := conn.ReadMessage()
	if err != nil || mt != websocket.TextMessage || string(data) != "2probe" {
		return false
	}
	conn.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	if conn.WriteMessage(websocket.TextMessage, []byte("3probe")) != nil {
		return false
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.upgrading = true
	s.mu.Unlock()
	s.signal() // a waiting GET returns a noop, so the client can pause polling

	mt, data, err = conn.ReadMessage()
	if err != nil || mt != websocket.TextMessage || string(data) != "5" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.transport = transportWebSocket
	s.upgrading = false
	s.probe = nil
	conn.SetReadDeadline(time.Time{})
	s.signal()
	return true
}

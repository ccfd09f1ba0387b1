package engineio

import (
	"bufio"
	"encoding/binary"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// startWebSocket makes conn, read through in, carry the session: a
// reader goroutine runs at a time (see readWebSocket), and a writer while
// there is something to write (see kick), so that an idle connection
// holds one goroutine, not two. The caller starts the first reader
// (go s.reader()).
func (s *Session) startWebSocket(conn *websocket.Conn, in *bufio.Reader) {
	// The writer is the connection's only writer: gorilla must not answer
	// pings or close frames itself. Pongs are queued in turn; a close frame
	// is answered by the writer's own, once the queue is flushed.
	conn.SetPingHandler(func(data string) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.closed {
			s.queued += len(data) + queueOverhead
			s.enqueueLocked(Packet{Type: wsPong, Data: []byte(data)})
		}
		return nil
	})
	conn.SetCloseHandler(func(int, string) error { return nil })
	s.mu.Lock()
	s.ws, s.wsIn, s.wsDone = conn, in, make(chan struct{})
	s.writer, s.reader = s.writeWebSocket, s.readWebSocket
	s.kickLocked()
	s.mu.Unlock()
}

// kickLocked starts the WebSocket writer if the session is carried by a
// WebSocket, has something to write (or has closed, and its connection
// must be closed), and no writer runs. The caller holds s.mu.
func (s *Session) kickLocked() {
	if s.ws == nil || s.writing || s.transport != transportWebSocket {
		return
	}
	if len(s.queue) == 0 && !s.closed {
		return
	}
	s.writing = true
	go s.writer()
}

// writeWebSocket writes what is queued, every packet taken at once in one
// batch, until the queue is empty; then it ends. Once the session has
// closed, it writes what is left, a close frame, and closes the
// connection. A failed write closes the session.
func (s *Session) writeWebSocket() {
	conn := s.ws // set before the first writer starts, never changed
	fw := frameWriters.Get().(*frameWriter)
	defer fw.release()
	netConn := conn.NetConn()
	failed := false
	for {
		s.mu.Lock()
		packets := s.take()
		closed := s.closed
		if len(packets) == 0 && !closed {
			s.writing = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if !failed && len(packets) > 0 {
			fw.encode(packets)
			netConn.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
			err := fw.writeTo(netConn)
			s.srv.cfg.Observer.WebSocketWrite(len(packets))
			if err != nil {
				failed = true
				s.close(ReasonTransportError, Close)
			}
		}
		s.recycle(packets)
		if closed {
			if !failed {
				closeFrame := appendFrameHeader(nil, opClose, 2)
				closeFrame = binary.BigEndian.AppendUint16(closeFrame, websocket.CloseNormalClosure)
				netConn.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
				netConn.Write(closeFrame)
			}
			conn.Close()
			close(s.wsDone)
			return
		}
	}
}

// serveUpgrade runs a WebSocket that asks to take over a polling session:
// the probe ("2probe" → "3probe"), then "5", after which the WebSocket
// carries the session. Packets queued meanwhile are written by whichever
// transport carries the session when they are taken, so none is lost or
// reordered.
func (srv *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, s *Session) {
	conn, in, err := srv.upgrade(w, r)
	if err != nil {
		return
	}
	if !s.canUpgrade() {
		// Upgraded already, or upgrading: the reference server accepts
		// such a WebSocket and closes it at once.
		conn.Close()
		return
	}
	if !srv.hold() {
		conn.Close()
		return
	}
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
	srv.serveWebSocket(s, conn, in)
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

// Command hub is the ceiling natter is measured against (make bench): a chat
// server of one process and no broker, speaking just enough Engine.IO v4 and
// Socket.IO v5 over WebSocket for natter's events (join, client message,
// rooms, members; server message, join and leave notices). Each message is
// encoded once into a WebSocket frame and the same bytes are queued to every
// member of the room; each connection's writer writes everything queued in
// one syscall. Nothing is stored: it is what fan-out costs without a
// guarantee.
//
//	hub -addr 127.0.0.1:3100
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

const (
	pingInterval = 25 * time.Second
	pingTimeout  = 20 * time.Second
	writeWait    = 10 * time.Second
	maxQueued    = 4 << 20 // bytes a connection may have waiting before it is cut off
	maxPayload   = 1 << 20
)

var colors = []string{"#e21400", "#91580f", "#f8a700", "#f78b00", "#58dc00", "#287b00", "#a8f07a", "#4ae8c4", "#3b88eb", "#3824aa", "#a700ff", "#d300e7"}

func main() {
	addr := flag.String("addr", "127.0.0.1:3100", "listen address")
	flag.Parse()
	log.Printf("hub: listening on %s", *addr)
	log.Fatal(http.ListenAndServe(*addr, handler()))
}

// handler serves Socket.IO at /socket.io/ and readiness at /readyz.
func handler() http.Handler {
	h := &hub{rooms: map[string]map[*conn]struct{}{}}
	up := websocket.Upgrader{ReadBufferSize: 2048, WriteBufferSize: 1024, CheckOrigin: func(*http.Request) bool { return true }}
	mux := http.NewServeMux()
	mux.HandleFunc("/socket.io/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("EIO") != "4" || r.URL.Query().Get("transport") != "websocket" {
			http.Error(w, "websocket only, EIO=4", http.StatusBadRequest)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		h.serve(ws)
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	return mux
}

type hub struct {
	mu     sync.RWMutex
	rooms  map[string]map[*conn]struct{}
	nextID atomic.Uint64
}

// conn is one client: its reader is the goroutine that serve runs on, its
// writer writes what broadcast and replies queue.
type conn struct {
	ws  *websocket.Conn
	net net.Conn
	sid string

	mu     sync.Mutex
	queue  net.Buffers
	queued int
	closed bool
	wake   chan struct{}

	// reader goroutine only, but read by others under hub.mu
	name, color, room string
}

func (h *hub) serve(ws *websocket.Conn) {
	c := &conn{ws: ws, net: ws.UnderlyingConn(), wake: make(chan struct{}, 1),
		sid: strconv.FormatUint(h.nextID.Add(1), 36)}
	// The writer alone writes to the socket: control frames go through it too.
	ws.SetPingHandler(func(data string) error { c.send(frame(0x8a, []byte(data))); return nil })
	ws.SetCloseHandler(func(int, string) error { return nil })
	ws.SetReadLimit(maxPayload)
	done := make(chan struct{})
	go func() { c.writeLoop(); close(done) }()
	c.sendText(fmt.Sprintf(`0{"sid":%q,"upgrades":[],"pingInterval":%d,"pingTimeout":%d,"maxPayload":%d}`,
		c.sid, pingInterval.Milliseconds(), pingTimeout.Milliseconds(), maxPayload))
	stopPing := make(chan struct{})
	go func() {
		t := time.NewTicker(pingInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				c.sendText("2")
			case <-stopPing:
				return
			}
		}
	}()
	for {
		ws.SetReadDeadline(time.Now().Add(pingInterval + pingTimeout))
		_, p, err := ws.ReadMessage()
		if err != nil {
			break
		}
		h.handle(c, p)
	}
	close(stopPing)
	h.leave(c)
	c.shut()
	<-done
	ws.Close()
}

func (h *hub) handle(c *conn, p []byte) {
	switch {
	case string(p) == "3":
	case bytes.HasPrefix(p, []byte("40")):
		c.sendText(fmt.Sprintf(`40{"sid":%q}`, c.sid))
	case bytes.HasPrefix(p, []byte("42")):
		id, event, arg, ok := parseEvent(p[2:])
		if !ok {
			return
		}
		h.event(c, id, event, arg)
	}
}

// parseEvent splits `<id>["event",arg]`; id is -1 when no ack is asked.
func parseEvent(p []byte) (id int, event string, arg json.RawMessage, ok bool) {
	id = -1
	i := 0
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	if i > 0 {
		id, _ = strconv.Atoi(string(p[:i]))
	}
	var args []json.RawMessage
	if json.Unmarshal(p[i:], &args) != nil || len(args) == 0 || json.Unmarshal(args[0], &event) != nil {
		return 0, "", nil, false
	}
	if len(args) > 1 {
		arg = args[1]
	}
	return id, event, arg, true
}

func (h *hub) event(c *conn, id int, event string, arg json.RawMessage) {
	switch event {
	case "join":
		var req struct{ Username, Room string }
		json.Unmarshal(arg, &req)
		if req.Username == "" {
			c.ack(id, `{"ok":false,"error":{"code":"invalid_name","message":"no name"}}`)
			return
		}
		if req.Room == "" {
			req.Room = "lobby"
		}
		h.leave(c)
		h.mu.Lock()
		c.name, c.room = req.Username, req.Room
		c.color = colors[int(h.nextID.Add(1))%len(colors)]
		m := h.rooms[c.room]
		if m == nil {
			m = map[*conn]struct{}{}
			h.rooms[c.room] = m
		}
		m[c] = struct{}{}
		h.mu.Unlock()
		notice, _ := json.Marshal(map[string]string{"username": c.name, "color": c.color, "room": c.room})
		h.broadcast(c.room, c, eventFrame("join", notice))
		b, _ := json.Marshal(map[string]any{"ok": true, "username": c.name, "color": c.color, "room": c.room})
		c.ack(id, string(b))
	case "client message":
		var req struct{ Message string }
		json.Unmarshal(arg, &req)
		if c.room == "" {
			c.ack(id, `{"ok":false,"error":{"code":"not_joined","message":"join first"}}`)
			return
		}
		if req.Message == "" {
			c.ack(id, `{"ok":false,"error":{"code":"invalid_message","message":"empty"}}`)
			return
		}
		msgID := strconv.FormatUint(h.nextID.Add(1), 36)
		ts := time.Now().UnixMilli()
		b, _ := json.Marshal(struct {
			ID       string `json:"id"`
			Room     string `json:"room"`
			Username string `json:"username"`
			Color    string `json:"color"`
			Message  string `json:"message"`
			TS       int64  `json:"ts"`
		}{msgID, c.room, c.name, c.color, req.Message, ts})
		h.broadcast(c.room, nil, eventFrame("server message", b))
		c.ack(id, fmt.Sprintf(`{"ok":true,"id":%q,"ts":%d}`, msgID, ts))
	case "rooms":
		type count struct {
			Room  string `json:"room"`
			Count int    `json:"count"`
		}
		rooms := []count{}
		h.mu.RLock()
		for r, m := range h.rooms {
			rooms = append(rooms, count{r, len(m)})
		}
		h.mu.RUnlock()
		b, _ := json.Marshal(map[string]any{"ok": true, "rooms": rooms})
		c.ack(id, string(b))
	case "members":
		type member struct {
			Username string `json:"username"`
			Color    string `json:"color"`
		}
		members := []member{}
		h.mu.RLock()
		room := c.room
		for m := range h.rooms[room] {
			members = append(members, member{m.name, m.color})
		}
		h.mu.RUnlock()
		b, _ := json.Marshal(map[string]any{"ok": true, "room": room, "members": members})
		c.ack(id, string(b))
	default:
		c.ack(id, `{"ok":false,"error":{"code":"bad_request","message":"unknown event"}}`)
	}
}

// leave takes c out of its room and tells the others.
func (h *hub) leave(c *conn) {
	h.mu.Lock()
	room := c.room
	if m := h.rooms[room]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(h.rooms, room)
		}
	}
	c.room = ""
	h.mu.Unlock()
	if room != "" {
		notice, _ := json.Marshal(map[string]string{"username": c.name, "room": room})
		h.broadcast(room, c, eventFrame("leave", notice))
	}
}

// broadcast queues one frame to every member of room but except.
func (h *hub) broadcast(room string, except *conn, f []byte) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for m := range h.rooms[room] {
		if m != except {
			m.send(f)
		}
	}
}

func (c *conn) ack(id int, payload string) {
	if id < 0 {
		return
	}
	c.sendText("43" + strconv.Itoa(id) + "[" + payload + "]")
}

func (c *conn) sendText(s string) { c.send(frame(0x81, []byte(s))) }

// send queues a frame; a connection too far behind is cut off.
func (c *conn) send(f []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.queued+len(f) > maxQueued {
		c.closed = true
		c.net.Close()
		return
	}
	c.queue = append(c.queue, f)
	c.queued += len(f)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *conn) shut() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writeLoop writes all that is queued in one writev, until shut.
func (c *conn) writeLoop() {
	for range c.wake {
		c.mu.Lock()
		q, closed := c.queue, c.closed
		c.queue, c.queued = nil, 0
		c.mu.Unlock()
		if closed {
			return
		}
		if len(q) == 0 {
			continue
		}
		c.net.SetWriteDeadline(time.Now().Add(writeWait))
		if _, err := q.WriteTo(c.net); err != nil {
			c.net.Close()
			return
		}
	}
}

// eventFrame is the WebSocket frame of a Socket.IO event with one argument.
func eventFrame(event string, arg []byte) []byte {
	p := make([]byte, 0, len(event)+len(arg)+8)
	p = append(p, `42["`...)
	p = append(p, event...)
	p = append(p, `",`...)
	p = append(p, arg...)
	p = append(p, ']')
	return frame(0x81, p)
}

// frame is a final, unmasked WebSocket frame (the server's) of the opcode
// given with its FIN bit: 0x81 text, 0x8a pong.
func frame(op byte, p []byte) []byte {
	var hdr []byte
	switch n := len(p); {
	case n < 126:
		hdr = []byte{op, byte(n)}
	case n < 1<<16:
		hdr = []byte{op, 126, byte(n >> 8), byte(n)}
	default:
		hdr = []byte{op, 127, 0, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
	return append(hdr, p...)
}

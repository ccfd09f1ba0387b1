package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/kit/testlog"
	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// hostileStack is natter in this process as the hostile suite runs it:
// history and presence (on the shared Redis, under a prefix of its own)
// and two gateways, each serving with gateway.Service.Run, so that the
// HTTP server's own timeouts (headers, idle) and /readyz are the
// production ones.
type hostileStack struct {
	urls []string // the gateways' http://127.0.0.1:port
	cfg  gateway.Config
	// startGateway starts another gateway on the stack; stop drains it
	// and shuts it down.
	startGateway func(tb testing.TB, id string) (url string, stop func())
	// Presence's Redis and key prefix: the token probe expires a session
	// there, as 24 hours (presence's session life) would.
	rdb    *redis.Client
	prefix string
}

// hostileConfig is the gateways' configuration: short timeouts, so that
// slow and half-open clients are closed within a probe's seconds, and a
// message budget (30/s, burst 60) above the canary's 20 messages a second.
var hostileConfig = gateway.Config{
	PingInterval:      2 * time.Second,
	PingTimeout:       3 * time.Second,
	HeaderTimeout:     time.Second,
	BodyTimeout:       time.Second,
	AttachmentTimeout: time.Second,
	MessageRate:       30,
	MessageBurst:      60,
}

func startHostile(tb testing.TB) *hostileStack {
	tb.Helper()
	ns := natstest.Run(tb)
	log := testlog.Logger(tb, "")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil {
				tb.Errorf("%s: %v", name, err)
			}
		}()
	}
	connect := func() *nats.Conn { return natstest.Connect(tb, ns.ClientURL(), nats.MaxReconnects(-1)) }

	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		tb.Skipf("no Redis at %s: %v", url, err)
	}
	prefix := fmt.Sprintf("natter-hostile-%d:", time.Now().UnixNano())
	tb.Cleanup(func() {
		// The prefix's keys, so that the shared Redis does not keep them.
		c := context.Background()
		iter := rdb.Scan(c, 0, prefix+"*", 500).Iterator()
		for iter.Next(c) {
			rdb.Del(c, iter.Val())
		}
		rdb.Close()
	})

	hist, err := history.New(history.Config{}, connect(), log, prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	run("history", hist.Run)
	waitReady(tb, hist.Ready)
	pres := presence.New(presence.Config{Grace: 200 * time.Millisecond}, connect(),
		presence.NewRedisStore(rdb, prefix, 0), log, prometheus.NewRegistry())
	run("presence", pres.Run)
	waitReady(tb, pres.Ready)

	s := &hostileStack{cfg: hostileConfig, rdb: rdb, prefix: prefix}
	s.startGateway = func(tb testing.TB, id string) (string, func()) {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(tb))
		cfg := hostileConfig
		cfg.ID, cfg.HTTPAddr, cfg.AdvertiseAddr = id, addr, addr
		reg := prometheus.NewRegistry()
		gw, err := gateway.New(cfg, connect(), log, reg)
		if err != nil {
			tb.Fatal(err)
		}
		gctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			if err := gw.Run(gctx); err != nil {
				tb.Errorf("%s: %v", id, err)
			}
		}()
		u := "http://" + addr
		wait.Succeeds(tb, 10*time.Second, func() error { return s.ready(u) })
		return u, func() { stop(); <-done }
	}
	for i := range 2 {
		u, _ := s.startGateway(tb, fmt.Sprintf("hgw%d", i+1))
		s.urls = append(s.urls, u)
	}
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return s
}

// expireSession makes the session of token expire now, as it would a day
// after its last join: every key of the prefix that names the token
// (in base64url, as the store writes it) or holds it.
func (s *hostileStack) expireSession(tb testing.TB, token string) {
	tb.Helper()
	ctx := context.Background()
	enc := base64.RawURLEncoding.EncodeToString([]byte(token))
	n := 0
	keys := presence.RedisKeyPrefix(s.prefix)
	iter := s.rdb.Scan(ctx, 0, keys+"*", 500).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		hit := strings.Contains(k, enc)
		if !hit && (strings.HasPrefix(k, keys+"name:") || strings.HasPrefix(k, keys+"last:")) {
			v, _ := s.rdb.Get(ctx, k).Result()
			hit = v == token || v == enc
		}
		if hit {
			s.rdb.Del(ctx, k)
			n++
		}
	}
	if n == 0 {
		tb.Fatalf("no key of session %s under %s", token, s.prefix)
	}
}

// ready asks a gateway's /readyz.
func (s *hostileStack) ready(base string) error {
	resp, err := hostileHTTP.Get(base + "/readyz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("/readyz: %s", resp.Status)
	}
	return nil
}

// hostileHTTP keeps no idle connections: the goroutine counts after a
// probe are the server's, not this client's pool's.
var hostileHTTP = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// hclient is a raw Socket.IO client over WebSocket that keeps every
// frame and event it receives, answers pings, and matches acks to
// requests by id.
type hclient struct {
	tb       testing.TB
	ws       *websocket.Conn
	sid, pid string
	token    string // of its last join
	name     string

	wmu sync.Mutex

	mu        sync.Mutex
	next      int
	acks      map[int]chan hack
	events    []hevent
	frames    []string // every frame received after the handshake
	closedErr error
	got       chan struct{} // cap 1: something came
	done      chan struct{} // closed when the reader ends
}

// hack is an acknowledgement: its first argument, decoded and raw.
type hack struct {
	OK    bool         `json:"ok"`
	Token string       `json:"token"`
	ID    string       `json:"id"`
	Error *proto.Error `json:"error"`
	raw   string
}

func (a hack) code() string {
	if a.OK {
		return "ok"
	}
	if a.Error == nil {
		return "?" + a.raw
	}
	return a.Error.Code
}

type hevent struct {
	name string
	args []json.RawMessage
	at   time.Time
	// From the first argument.
	Username string `json:"username"`
	From     string `json:"from"`
	To       string `json:"to"`
	Message  string `json:"message"`
	Room     string `json:"room"`
}

// dialH opens a Socket.IO connection on base from client address addr
// (X-Real-IP: the gateway trusts loopback as its proxy), CONNECTing with
// auth (raw JSON, "" for none).
func dialH(tb testing.TB, base, addr, auth string) *hclient {
	tb.Helper()
	c, err := dialHErr(base, addr, auth)
	if err != nil {
		tb.Fatal(err)
	}
	c.tb = tb
	tb.Cleanup(c.close)
	return c
}

func dialHErr(base, addr, auth string) (*hclient, error) {
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(base, ""), http.Header{"X-Real-IP": {addr}})
	if err != nil {
		return nil, err
	}
	c := &hclient{ws: ws, acks: map[int]chan hack{}, got: make(chan struct{}, 1), done: make(chan struct{})}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, open, err := ws.ReadMessage()
	if err != nil || !strings.HasPrefix(string(open), "0{") {
		ws.Close()
		return nil, fmt.Errorf("open: %q %v", open, err)
	}
	ws.WriteMessage(websocket.TextMessage, []byte("40"+auth))
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			ws.Close()
			return nil, fmt.Errorf("CONNECT: %v", err)
		}
		if string(b) == "2" {
			ws.WriteMessage(websocket.TextMessage, []byte("3"))
			continue
		}
		if !strings.HasPrefix(string(b), "40{") {
			ws.Close()
			return nil, fmt.Errorf("CONNECT answered %q", b)
		}
		var ok struct{ SID, PID string }
		json.Unmarshal(b[2:], &ok)
		c.sid, c.pid = ok.SID, ok.PID
		break
	}
	ws.SetReadDeadline(time.Time{})
	go c.read()
	return c, nil
}

func (c *hclient) close() {
	c.ws.Close()
	<-c.done
}

func (c *hclient) write(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteMessage(websocket.TextMessage, []byte(s))
}

func (c *hclient) read() {
	defer close(c.done)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.closedErr = err
			c.mu.Unlock()
			c.signal()
			return
		}
		frame := string(data)
		if frame == "2" {
			c.write("3")
			continue
		}
		c.mu.Lock()
		c.frames = append(c.frames, frame)
		c.mu.Unlock()
		switch {
		case strings.HasPrefix(frame, "43"):
			rest := frame[2:]
			i := max(strings.IndexByte(rest, '['), 0)
			id, _ := strconv.Atoi(rest[:i])
			var args []json.RawMessage
			json.Unmarshal([]byte(rest[i:]), &args)
			a := hack{raw: rest[i:]}
			if len(args) > 0 {
				json.Unmarshal(args[0], &a)
			}
			c.mu.Lock()
			ch := c.acks[id]
			delete(c.acks, id)
			c.mu.Unlock()
			if ch != nil {
				ch <- a
			}
		case strings.HasPrefix(frame, "42["):
			var args []json.RawMessage
			if json.Unmarshal([]byte(frame[2:]), &args) != nil || len(args) < 1 {
				continue
			}
			e := hevent{args: args[1:], at: time.Now()}
			json.Unmarshal(args[0], &e.name)
			if len(args) > 1 {
				json.Unmarshal(args[1], &e)
			}
			c.mu.Lock()
			c.events = append(c.events, e)
			c.mu.Unlock()
		}
		c.signal()
	}
}

func (c *hclient) signal() {
	select {
	case c.got <- struct{}{}:
	default:
	}
}

// emitRaw sends an event whose arguments are raw JSON (bytes that need
// not be UTF-8), asking for an ack.
func (c *hclient) emitRaw(event, args string) <-chan hack {
	ch := make(chan hack, 1)
	c.mu.Lock()
	id := c.next
	c.next++
	c.acks[id] = ch
	c.mu.Unlock()
	name, _ := json.Marshal(event)
	if args != "" {
		args = "," + args
	}
	c.write("42" + strconv.Itoa(id) + "[" + string(name) + args + "]")
	return ch
}

func (c *hclient) emit(event string, payload any) <-chan hack {
	b, _ := json.Marshal(payload)
	return c.emitRaw(event, string(b))
}

func (c *hclient) send(event string, payload any) {
	b, _ := json.Marshal([]any{event, payload})
	c.write("42" + string(b))
}

func (c *hclient) wait(ch <-chan hack) hack {
	c.tb.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(20 * time.Second):
		c.tb.Fatal("no ack in 20 s")
		return hack{}
	}
}

func (c *hclient) call(event string, payload any) hack {
	c.tb.Helper()
	return c.wait(c.emit(event, payload))
}

// join joins room as name (with token, if not ""), failing the test if
// it is refused.
func (c *hclient) join(name, token, room string) hack {
	c.tb.Helper()
	a := c.call("join", map[string]string{"username": name, "token": token, "room": room})
	if !a.OK {
		c.tb.Fatalf("join %s: %s", name, a.raw)
	}
	c.name, c.token = name, a.Token
	return a
}

// closed reports whether the server has closed the connection.
func (c *hclient) closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closedErr != nil
}

// eventsOf returns a copy of the events received so far.
func (c *hclient) eventsOf() []hevent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]hevent(nil), c.events...)
}

// count returns how many of the events received so far are name events
// whose message begins with prefix.
func (c *hclient) count(name, prefix string) int {
	n := 0
	for _, e := range c.eventsOf() {
		if e.name == name && strings.HasPrefix(e.Message, prefix) {
			n++
		}
	}
	return n
}

// framesOf returns a copy of the frames received so far.
func (c *hclient) framesOf() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.frames...)
}

// until waits, up to d, for cond to hold over what has come; it reports
// whether it did.
func (c *hclient) until(d time.Duration, cond func() bool) bool {
	deadline := time.After(d)
	for !cond() {
		select {
		case <-c.got:
		case <-deadline:
			return cond()
		}
	}
	return true
}

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Transports a Client speaks.
const (
	WebSocket = "websocket"
	Polling   = "polling"
)

const (
	writeWait     = 10 * time.Second
	handshakeWait = 30 * time.Second
)

// ErrClosed is what a Client's operations return once it is closed.
var ErrClosed = errors.New("client closed")

// transport carries Engine.IO packets, one at a time.
type transport interface {
	// write sends one packet; it is safe for concurrent use.
	write(p []byte) error
	// read calls fn with each packet until the transport fails or closes; p
	// is valid only during the call.
	read(fn func(p []byte)) error
	close() error
}

// Client is one Socket.IO connection to the main namespace. One goroutine
// reads it (it answers pings itself); its methods may be called from any.
type Client struct {
	tr      transport
	onEvent func(p []byte)

	mu      sync.Mutex
	nextAck int
	acks    map[int]func(args []byte)

	connected chan struct{}
	done      chan struct{}
	err       error // why it ended; read after done
	closing   atomic.Bool
}

// Dialer opens Clients to one server: its base URL (http://127.0.0.1:port),
// the transport, and the local addresses to connect from, in turn.
type Dialer struct {
	URL       string
	Transport string
	// Sources is how many loopback addresses to connect from
	// (127.0.0.1, 127.0.0.2, ...): one address has about 28,000 ports to a
	// given server; zero means 1.
	Sources int

	next   atomic.Uint64
	once   sync.Once
	http   *http.Client
	ws     *websocket.Dialer
	target *url.URL
}

// CheckLoopback refuses any target but a loopback address: load goes nowhere
// else.
func CheckLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("target %q: %w", raw, err)
	}
	if u.Scheme != "http" {
		return fmt.Errorf("target %q: want http://127.x.x.x:port", raw)
	}
	ips, err := net.LookupIP(u.Hostname())
	if err != nil {
		return fmt.Errorf("target %q: %w", raw, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("target %q: %s is not a loopback address; the generator only loads this machine", raw, ip)
		}
	}
	return nil
}

func (d *Dialer) init() {
	d.once.Do(func() {
		d.target, _ = url.Parse(d.URL)
		nd := func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.netDialer().DialContext(ctx, network, addr)
		}
		d.ws = &websocket.Dialer{
			NetDialContext:   nd,
			HandshakeTimeout: handshakeWait,
			ReadBufferSize:   2048,
			WriteBufferSize:  1024,
			WriteBufferPool:  &sync.Pool{},
		}
		d.http = &http.Client{Transport: &http.Transport{
			DialContext:         nd,
			MaxIdleConns:        0,
			MaxIdleConnsPerHost: 100000,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}}
	})
}

// netDialer connects from the next source address.
func (d *Dialer) netDialer() *net.Dialer {
	n := max(d.Sources, 1)
	i := d.next.Add(1) % uint64(n)
	return &net.Dialer{
		Timeout:   handshakeWait,
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i))},
	}
}

// Dial opens a Client and waits for its Socket.IO connect. onEvent, if not
// nil, gets every event packet (`42[...]`) on the reader goroutine; it must
// not block.
func (d *Dialer) Dial(ctx context.Context, onEvent func(p []byte)) (*Client, error) {
	d.init()
	ctx, cancel := context.WithTimeout(ctx, handshakeWait)
	defer cancel()
	var tr transport
	var err error
	switch d.Transport {
	case WebSocket, "":
		tr, err = d.dialWS(ctx)
	case Polling:
		tr, err = d.dialPolling(ctx)
	default:
		return nil, fmt.Errorf("transport %q: websocket or polling", d.Transport)
	}
	if err != nil {
		return nil, err
	}
	c := &Client{
		tr:        tr,
		onEvent:   onEvent,
		acks:      map[int]func([]byte){},
		connected: make(chan struct{}),
		done:      make(chan struct{}),
	}
	go c.readLoop()
	if err := tr.write(prefixConnect); err != nil {
		c.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	select {
	case <-c.connected:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("connect: %w", c.err)
	case <-ctx.Done():
		c.Close()
		return nil, fmt.Errorf("connect: %w", ctx.Err())
	}
}

func (c *Client) readLoop() {
	defer close(c.done)
	err := c.tr.read(c.dispatch)
	if c.closing.Load() {
		err = ErrClosed
	}
	if c.err == nil {
		c.err = err
	}
	c.tr.close()
	c.mu.Lock()
	c.acks = nil
	c.mu.Unlock()
}

func (c *Client) dispatch(p []byte) {
	switch {
	case len(p) == 1 && p[0] == '2':
		c.tr.write([]byte(pktPong))
	case bytes.HasPrefix(p, prefixEvent):
		if c.onEvent != nil {
			c.onEvent(p)
		}
	case bytes.HasPrefix(p, prefixAck):
		id, args, ok := parseAck(p)
		if !ok {
			return
		}
		c.mu.Lock()
		fn := c.acks[id]
		delete(c.acks, id)
		c.mu.Unlock()
		if fn != nil {
			fn(args)
		}
	case bytes.HasPrefix(p, prefixConnect):
		select {
		case <-c.connected:
		default:
			close(c.connected)
		}
	case bytes.HasPrefix(p, prefixConnectError):
		c.err = fmt.Errorf("connect refused: %.200s", p)
		c.tr.close()
	}
}

// Emit sends an event whose argument is the JSON payload; ack, if not nil,
// is called with the ack's arguments on the reader goroutine.
func (c *Client) Emit(event, payload string, ack func(args []byte)) error {
	b := make([]byte, 0, 16+len(event)+len(payload))
	b = append(b, prefixEvent...)
	if ack != nil {
		id, err := c.ackID(ack)
		if err != nil {
			return err
		}
		b = strconv.AppendInt(b, int64(id), 10)
	}
	b = append(b, `["`...)
	b = append(b, event...)
	b = append(b, `",`...)
	b = append(b, payload...)
	b = append(b, ']')
	return c.tr.write(b)
}

// ackID registers fn for the next ack id.
func (c *Client) ackID(fn func(args []byte)) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.acks == nil {
		return 0, ErrClosed
	}
	id := c.nextAck
	c.nextAck++
	c.acks[id] = fn
	return id, nil
}

// forget drops the ack callback of id, if it is still waiting.
func (c *Client) forget(id int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.acks[id]
	delete(c.acks, id)
	return ok
}

// Call emits an event and waits for its ack's arguments.
func (c *Client) Call(ctx context.Context, event, payload string) ([]byte, error) {
	got := make(chan []byte, 1)
	err := c.Emit(event, payload, func(args []byte) { got <- bytes.Clone(args) })
	if err != nil {
		return nil, err
	}
	select {
	case args := <-got:
		return args, nil
	case <-c.done:
		return nil, fmt.Errorf("%s: %w", event, c.err)
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: no ack: %w", event, ctx.Err())
	}
}

// Join joins room as name and returns an error unless the ack says ok.
func (c *Client) Join(ctx context.Context, name, room string) error {
	args, err := c.Call(ctx, "join", fmt.Sprintf(`{"username":%q,"room":%q}`, name, room))
	if err != nil {
		return err
	}
	if !ackOK(args) {
		return fmt.Errorf("join %q: %.200s", room, args)
	}
	return nil
}

// Done is closed when the connection has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the connection ended (ErrClosed after Close), once Done is closed.
func (c *Client) Err() error { return c.err }

// Close ends the connection (as a closed tab does) and waits for the reader.
func (c *Client) Close() {
	c.closing.Store(true)
	c.tr.close()
	<-c.done
}

// closeAll closes the clients at once (nil ones are skipped), as tabs closed
// together, and waits until all are closed.
func closeAll(clients []*Client) {
	var wg sync.WaitGroup
	for _, c := range clients {
		if c != nil {
			wg.Add(1)
			go func() { defer wg.Done(); c.Close() }()
		}
	}
	wg.Wait()
}

// wsTransport is Engine.IO over WebSocket: a frame per packet.
type wsTransport struct {
	c   *websocket.Conn
	wmu sync.Mutex
	buf []byte
}

func (d *Dialer) dialWS(ctx context.Context) (transport, error) {
	u := *d.target
	u.Scheme = "ws"
	u.Path = "/socket.io/"
	u.RawQuery = "EIO=4&transport=websocket"
	c, _, err := d.ws.DialContext(ctx, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u.String(), err)
	}
	c.SetReadDeadline(time.Now().Add(handshakeWait))
	_, p, err := c.ReadMessage()
	if err == nil {
		_, err = parseOpen(p)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	c.SetReadDeadline(time.Time{})
	return &wsTransport{c: c}, nil
}

func (t *wsTransport) write(p []byte) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.c.SetWriteDeadline(time.Now().Add(writeWait))
	return t.c.WriteMessage(websocket.TextMessage, p)
}

func (t *wsTransport) read(fn func([]byte)) error {
	for {
		_, r, err := t.c.NextReader()
		if err != nil {
			return err
		}
		t.buf = t.buf[:0]
		for {
			if len(t.buf) == cap(t.buf) {
				t.buf = append(t.buf, 0)[:len(t.buf)]
			}
			n, err := r.Read(t.buf[len(t.buf):cap(t.buf)])
			t.buf = t.buf[:len(t.buf)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		fn(t.buf)
	}
}

func (t *wsTransport) close() error { return t.c.Close() }

// pollTransport is Engine.IO over HTTP long-polling: one GET at a time brings
// what the server has; one POST at a time takes what is queued, packets
// separated by recordSep, as the official client sends them.
type pollTransport struct {
	hc  *http.Client
	url string // with the sid

	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	pending [][]byte
	wake    chan struct{}
	wdone   chan struct{}
	werr    error
	once    sync.Once
}

func (d *Dialer) dialPolling(ctx context.Context) (transport, error) {
	u := *d.target
	u.Path = "/socket.io/"
	u.RawQuery = "EIO=4&transport=polling"
	body, err := get(ctx, d.http, u.String())
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	h, err := parseOpen(body)
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	u.RawQuery += "&sid=" + url.QueryEscape(h.SID)
	t := &pollTransport{hc: d.http, url: u.String(), wake: make(chan struct{}, 1), wdone: make(chan struct{})}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	go t.writeLoop()
	return t, nil
}

func get(ctx context.Context, hc *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET: %s: %.200s", res.Status, body)
	}
	return body, nil
}

func (t *pollTransport) write(p []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.werr != nil {
		return t.werr
	}
	t.pending = append(t.pending, bytes.Clone(p))
	select {
	case t.wake <- struct{}{}:
	default:
	}
	return nil
}

// writeLoop POSTs what is queued, one request at a time, until closed.
func (t *pollTransport) writeLoop() {
	defer close(t.wdone)
	var body []byte
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-t.wake:
		}
		t.mu.Lock()
		batch := t.pending
		t.pending = nil
		t.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		body = bytes.Join(batch, []byte{recordSep})
		if err := t.post(body); err != nil {
			t.mu.Lock()
			t.werr = err
			t.mu.Unlock()
			t.cancel()
			return
		}
	}
}

func (t *pollTransport) post(body []byte) error {
	ctx, cancel := context.WithTimeout(t.ctx, writeWait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	res, err := t.hc.Do(req)
	if err != nil {
		return fmt.Errorf("POST: %w", err)
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("POST: %s", res.Status)
	}
	return nil
}

func (t *pollTransport) read(fn func([]byte)) error {
	for {
		body, err := get(t.ctx, t.hc, t.url)
		if err != nil {
			t.mu.Lock()
			if t.werr != nil {
				err = t.werr
			}
			t.mu.Unlock()
			return err
		}
		closed := false
		eachPacket(body, func(p []byte) {
			if len(p) == 1 && p[0] == '1' {
				closed = true
				return
			}
			fn(p)
		})
		if closed {
			return errors.New("server closed the session")
		}
	}
}

// close tells the server the session ends (the close packet), as the official
// client does, then stops both loops.
func (t *pollTransport) close() error {
	t.once.Do(t.end)
	return nil
}

func (t *pollTransport) end() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader([]byte("1"))); err == nil {
		if res, err := t.hc.Do(req); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}
	t.cancel()
	<-t.wdone
}

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

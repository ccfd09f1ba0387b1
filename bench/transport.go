package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

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

package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/engineio"
)

// Long-polling without sticky sessions: a session id starts with the id of
// the gateway that owns it ("gw3.Xa9…"), and a polling request that a
// balancer sends to another gateway is passed, over NATS, to the owner,
// which answers it as if it had come directly, long-poll waits included.

// sidSeparator ends the gateway id at the start of a session id; neither
// gateway ids nor random ids contain it.
const sidSeparator = "."

// forwardedRequest is a polling request passed to the owner of its session.
type forwardedRequest struct {
	ID          string `json:"id"`             // names it in a cancel
	From        string `json:"from,omitempty"` // the gateway passing it on
	Method      string `json:"method"`
	Query       string `json:"query"`
	Host        string `json:"host"`
	Origin      string `json:"origin,omitempty"`
	ContentType string `json:"contentType,omitempty"`
	Body        []byte `json:"body,omitempty"`
}

// forwardedResponse is the owner's answer.
type forwardedResponse struct {
	Status int         `json:"status"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
}

// forwarder passes polling requests, and WebSockets (wsproxy.go), between
// gateways.
type forwarder struct {
	id         string
	advertise  string // host:port where other gateways reach this one
	nc         *nats.Conn
	eio        http.Handler // set after the engine is made
	maxPayload int
	wait       time.Duration // the longest a poll may wait at the owner
	log        *slog.Logger
	forwarded  *prometheus.CounterVec
	latency    prometheus.Histogram

	sub, cancelSub *nats.Subscription
	addrSub        *nats.Subscription
	mu             sync.Mutex
	closed         bool
	pending        map[string]context.CancelFunc // requests being served here
	serving        sync.WaitGroup

	ws wsProxy

	liveMu sync.Mutex
	live   map[string]liveness // by gateway id, see gone
}

func newForwarder(id, advertise string, nc *nats.Conn, maxPayload int, wait time.Duration, log *slog.Logger, reg prometheus.Registerer) *forwarder {
	f := &forwarder{
		id: id, advertise: advertise, nc: nc, maxPayload: maxPayload, wait: wait, log: log,
		pending: make(map[string]context.CancelFunc),
		live:    make(map[string]liveness),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natter_gateway_forwarded_requests_total",
			Help: "Long-polling requests passed to the gateway owning their session, by result.",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "natter_gateway_forward_duration_seconds",
			Help:    "Time from passing a POST to the owning gateway to its answer (GETs wait for data, so they are not timed).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
	}
	for _, result := range []string{"ok", "no_owner", "abandoned", "too_large", "error"} {
		f.forwarded.WithLabelValues(result) // a series from the start, at 0
	}
	f.ws.init(f)
	if reg != nil {
		reg.MustRegister(f.forwarded, f.latency, f.ws.upgrades)
	}
	return f
}

func httpSubject(gateway string) string   { return "natter.gateway." + gateway + ".http" }
func cancelSubject(gateway string) string { return "natter.gateway." + gateway + ".cancel" }
func addrSubject(gateway string) string   { return "natter.gateway." + gateway + ".addr" }

// newSID returns a session id owned by this gateway.
func (f *forwarder) newSID() string { return f.id + sidSeparator + engineio.RandomID() }

// start serves the requests other gateways pass here.
func (f *forwarder) start() error {
	var err error
	if f.sub, err = f.nc.Subscribe(httpSubject(f.id), f.serve); err != nil {
		return err
	}
	f.cancelSub, err = f.nc.Subscribe(cancelSubject(f.id), func(m *nats.Msg) {
		f.mu.Lock()
		cancel := f.pending[string(m.Data)]
		f.mu.Unlock()
		if cancel != nil {
			cancel()
		}
	})
	if err != nil {
		return err
	}
	// Where to pass a WebSocket on to; the subscription also says, to
	// other gateways, that this one lives (see gone).
	f.addrSub, err = f.nc.Subscribe(addrSubject(f.id), func(m *nats.Msg) { m.Respond([]byte(f.advertise)) })
	return err
}

// close stops serving, closes the WebSockets passed on to other gateways,
// and waits for the requests being served.
func (f *forwarder) close() {
	for _, s := range []*nats.Subscription{f.sub, f.cancelSub, f.addrSub} {
		if s != nil {
			s.Unsubscribe()
		}
	}
	f.mu.Lock()
	f.closed = true
	for _, cancel := range f.pending {
		cancel()
	}
	f.mu.Unlock()
	f.ws.close()
	f.serving.Wait()
}

// owner returns the gateway a session id names.
func owner(sid string) (string, bool) {
	gw, _, ok := strings.Cut(sid, sidSeparator)
	return gw, ok && proto.ValidGatewayID(gw)
}

// forward is engineio.Config.Forward: it passes a polling request for a
// session of another gateway to that gateway. A session id that names no
// gateway, or this one, is refused without a NATS round trip.
func (f *forwarder) forward(w http.ResponseWriter, r *http.Request, sid string) bool {
	gw, ok := owner(sid)
	if !ok || gw == f.id {
		return false
	}
	if r.URL.Query().Get("transport") == "websocket" {
		return f.ws.forward(w, r, gw)
	}
	req := forwardedRequest{
		ID:          engineio.RandomID(),
		From:        f.id,
		Method:      r.Method,
		Query:       r.URL.RawQuery,
		Host:        r.Host,
		Origin:      r.Header.Get("Origin"),
		ContentType: r.Header.Get("Content-Type"),
	}
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(f.maxPayload)))
		if errors.Is(err, os.ErrDeadlineExceeded) {
			w.Header().Set("Connection", "close")
			http.Error(w, "request body too slow", http.StatusRequestTimeout)
			f.forwarded.WithLabelValues("too_slow").Inc()
			return true
		}
		if err != nil {
			http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
			f.forwarded.WithLabelValues("too_large").Inc()
			return true
		}
		req.Body = body
	}
	data, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(r.Context(), f.wait)
	defer cancel()
	start := time.Now()
	msg, err := f.request(ctx, gw, data)
	if err != nil {
		if r.Context().Err() != nil {
			// The client gave up: let the owner know, as a direct client's
			// closed connection would have told it.
			f.nc.Publish(cancelSubject(gw), []byte(req.ID))
			f.forwarded.WithLabelValues("abandoned").Inc()
			return true
		}
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, errGone) {
			// The owner is gone, and its sessions with it.
			f.forwarded.WithLabelValues("no_owner").Inc()
			engineio.RefuseUnknownSession(w, r)
			return true
		}
		f.log.Warn("forward", "owner", gw, "err", err)
		f.forwarded.WithLabelValues("error").Inc()
		http.Error(w, "gateway timeout", http.StatusGatewayTimeout)
		return true
	}
	if r.Method == http.MethodPost {
		f.latency.Observe(time.Since(start).Seconds())
	}
	var resp forwardedResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		f.forwarded.WithLabelValues("error").Inc()
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return true
	}
	for k, vs := range resp.Header {
		if k == "X-Natter-Gateway" {
			continue // this gateway answered the client; it names itself
		}
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.Status)
	w.Write(resp.Body)
	f.forwarded.WithLabelValues("ok").Inc()
	return true
}

// errGone says that the gateway a request waits on has left NATS.
var errGone = errors.New("gateway gone")

// livenessInterval is how often a request that waits on another gateway
// checks that the gateway still lives: a poll may wait for a minute, and
// a gateway killed meanwhile would otherwise never answer.
const livenessInterval = time.Second

// request passes a polling request to gateway gw and waits for the answer,
// or errGone as soon as gw has left NATS.
func (f *forwarder) request(ctx context.Context, gw string, data []byte) (*nats.Msg, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		msg *nats.Msg
		err error
	}
	done := make(chan result, 1)
	go func() {
		msg, err := f.nc.RequestWithContext(ctx, httpSubject(gw), data)
		done <- result{msg, err}
	}()
	t := time.NewTicker(livenessInterval)
	defer t.Stop()
	for {
		select {
		case res := <-done:
			return res.msg, res.err
		case <-t.C:
			if f.gone(gw) {
				return nil, errGone
			}
		}
	}
}

// gone reports whether gateway gw has left NATS: nobody answers on its
// address subject. A slow answer is not taken for an absent one. An answer
// serves every request waiting on gw for half a livenessInterval, so that
// thousands of waiting polls cost a few checks a second, not thousands.
func (f *forwarder) gone(gw string) bool {
	f.liveMu.Lock()
	l, ok := f.live[gw]
	f.liveMu.Unlock()
	if ok && time.Since(l.at) < livenessInterval/2 {
		return l.gone
	}
	ctx, cancel := context.WithTimeout(context.Background(), addrTimeout)
	defer cancel()
	_, err := f.nc.RequestWithContext(ctx, addrSubject(gw), nil)
	gone := errors.Is(err, nats.ErrNoResponders)
	f.liveMu.Lock()
	f.live[gw] = liveness{at: time.Now(), gone: gone}
	f.liveMu.Unlock()
	return gone
}

// liveness is the last check of a gateway.
type liveness struct {
	at   time.Time
	gone bool
}

// serve answers a request that another gateway passed here, on a
// goroutine of its own: a poll may wait. A poll whose gateway dies while
// it waits is abandoned, as if the client's connection had closed: the
// session ends (as the reference server ends one whose poll broke), so
// that nothing is written to a gateway that cannot pass it on and the
// client, whose request failed, starts again cleanly.
func (f *forwarder) serve(m *nats.Msg) {
	var req forwardedRequest
	if json.Unmarshal(m.Data, &req) != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.wait)
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		cancel()
		return
	}
	f.pending[req.ID] = cancel
	f.serving.Add(1)
	f.mu.Unlock()
	if req.From != "" && req.Method == http.MethodGet {
		f.serving.Add(1)
		go func() {
			defer f.serving.Done()
			f.watch(ctx, req.From, cancel)
		}()
	}
	go func() {
		defer f.serving.Done()
		defer func() {
			f.mu.Lock()
			delete(f.pending, req.ID)
			f.mu.Unlock()
			cancel()
		}()
		r, err := http.NewRequestWithContext(ctx, req.Method, "/socket.io/?"+req.Query, bytes.NewReader(req.Body))
		if err != nil {
			return
		}
		r.Host = req.Host
		if req.Origin != "" {
			r.Header.Set("Origin", req.Origin)
		}
		if req.ContentType != "" {
			r.Header.Set("Content-Type", req.ContentType)
		}
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		f.eio.ServeHTTP(rec, r)
		data, _ := json.Marshal(forwardedResponse{Status: rec.status, Header: rec.header, Body: rec.body.Bytes()})
		m.Respond(data)
	}()
}

// watch calls cancel when gateway gw leaves NATS, until ctx is done.
func (f *forwarder) watch(ctx context.Context, gw string, cancel context.CancelFunc) {
	t := time.NewTicker(livenessInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if f.gone(gw) {
				f.log.Info("forwarded poll abandoned: its gateway is gone", "gateway", gw)
				cancel()
				return
			}
		}
	}
}

// recorder is the http.ResponseWriter of a forwarded request.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

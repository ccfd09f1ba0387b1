package gateway

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/proto"
)

// apiNATSInFlight bounds the NATS requests a gateway answers at once (a
// publish waits for the stream); past it, a subscription's next request
// waits for a slot.
const apiNATSInFlight = 32

// apiNATS serves the server API's operations over NATS request/reply,
// for services on the bus: one subscription per operation
// (proto.APISubject), in the queue group proto.APIQueue, so that one
// gateway answers each request. NATS's own permissions are its guard: no
// key is asked. It also holds every gateway's subscription to
// proto.DisconnectSubject, which the API's disconnect publishes on.
type apiNATS struct {
	nc    *nats.Conn
	http  *apiServer // nil while the API is off: only the disconnects are heard
	subs  []*nats.Subscription
	slots chan struct{}  // cap apiNATSInFlight
	busy  sync.WaitGroup // the requests being answered, each in a goroutine

	mu     sync.Mutex
	closed bool // no request is taken on after close
}

// start subscribes: disconnect receives the disconnects, and the
// operations their requests while the API is on.
func (a *apiNATS) start(disconnect nats.MsgHandler) error {
	sub, err := a.nc.Subscribe(proto.DisconnectSubject, disconnect)
	if err != nil {
		return err
	}
	a.subs = append(a.subs, sub)
	if a.http == nil {
		return nil
	}
	a.slots = make(chan struct{}, apiNATSInFlight)
	for _, op := range proto.APIOps {
		h := a.http.routes[op]
		sub, err := a.nc.QueueSubscribe(proto.APISubject(op), proto.APIQueue, func(m *nats.Msg) {
			a.slots <- struct{}{}
			if !a.take() {
				<-a.slots
				return
			}
			go func() {
				defer a.busy.Done()
				defer func() { <-a.slots }()
				a.answer(m, op, h)
			}()
		})
		if err != nil {
			a.close()
			return err
		}
		a.subs = append(a.subs, sub)
	}
	return nil
}

// answer runs one request; its reply is the operation's, or an ErrorAck.
func (a *apiNATS) answer(m *nats.Msg, op string, h apiHandler) {
	if m.Reply == "" {
		return
	}
	var reply any
	_, limited := a.http.limiter.admit(natsClient(m.Reply))
	switch {
	case limited != nil:
		reply = proto.Ack(limited)
		a.http.count(op, proto.CodeRateLimited)
	case len(m.Data) > proto.MaxAPIBody:
		reply = proto.Ack(proto.Errorf(proto.CodeTooLarge, "a request is at most %d bytes", proto.MaxAPIBody))
		a.http.count(op, proto.CodeTooLarge)
	default:
		r, err := h(context.Background(), m.Data)
		if err != nil {
			e := proto.AsError(err)
			a.http.count(op, e.Code)
			reply = proto.ErrorAck{Error: e}
		} else {
			a.http.count(op, "ok")
			reply = r
		}
	}
	data, _ := json.Marshal(reply)
	m.Respond(data)
}

// take counts a request in, unless the API is closing: a handler may
// still run after its subscription is dropped.
func (a *apiNATS) take() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.busy.Add(1)
	return true
}

// close drops the subscriptions and waits for the requests being
// answered.
func (a *apiNATS) close() {
	for _, sub := range a.subs {
		sub.Unsubscribe()
	}
	a.subs = nil
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.busy.Wait()
}

// onDisconnectRequest disconnects this gateway's connections that a
// proto.Disconnect names: every one of a session, or one of its own. Each
// is told why, is not recovered, and leaves its room at once.
func (c *chat) onDisconnectRequest(msg *nats.Msg) {
	var d proto.Disconnect
	if json.Unmarshal(msg.Data, &d) != nil {
		return
	}
	var targets []*member
	switch {
	case proto.ValidSessionID(d.SessionID):
		targets = c.hub.user(d.SessionID)
	case d.Gateway == c.id && d.Conn != "":
		for _, m := range c.hub.snapshot() {
			if m.sock.ID() == d.Conn {
				targets = append(targets, m)
				break // its other rooms' members are of the same socket
			}
		}
	}
	for _, m := range targets {
		if cn := connOf(m.sock); cn != nil {
			cn.dismissed.Store(true)
		}
		c.rec.forget(m.sock)
		m.sock.Emit(proto.EventDisconnectReason, proto.Errorf(proto.CodeDisconnected, "the server disconnected you"))
		m.sock.Disconnect()
	}
}

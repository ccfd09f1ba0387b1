package gateway

import (
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/proto"
)

// heartbeat keeps presence's view of this gateway alive: it beats every
// interval (when the beats stop, presence lets the gateway's connections
// go), and, when presence asks (proto.PresenceResync), announces every
// local connection again. It also holds the subscription to presence's
// other broadcasts, proto.SessionEndedSubject and SessionRenamedSubject,
// for the handlers given.
type heartbeat struct {
	id       string
	nc       *nats.Conn
	interval time.Duration
	up       *upstream
	members  func() []*member // the hub's snapshot
	// refused disconnects a member whose name presence gave to another
	// while it did not know the member (see resyncOnce).
	refused func(*member)
	log     *slog.Logger

	resyncs  chan struct{} // cap 1: a resync waits to run
	announce atomic.Bool   // the waiting resync tells the rooms (PresenceResync.Announce)
	subs     []*nats.Subscription
	stop     chan struct{} // closed by close: the goroutines end
	running  sync.WaitGroup
	stopOnce sync.Once
}

func newHeartbeat(id string, nc *nats.Conn, interval time.Duration, up *upstream, members func() []*member, refused func(*member), log *slog.Logger) *heartbeat {
	return &heartbeat{
		id:       id,
		nc:       nc,
		interval: interval,
		up:       up,
		members:  members,
		refused:  refused,
		log:      log,
		resyncs:  make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
}

// start starts beating and listening for resyncs, and hands session ended
// notices to ended, session renamed ones to renamed; close stops it all.
func (h *heartbeat) start(ended, renamed nats.MsgHandler) error {
	h.running.Add(2)
	go h.beat()
	go h.resyncLoop()
	resync, err := h.nc.Subscribe(proto.PresenceResyncSubject, func(m *nats.Msg) {
		var req proto.PresenceResync
		if len(m.Data) > 0 && json.Unmarshal(m.Data, &req) != nil {
			return
		}
		if req.Gateway == "" || req.Gateway == h.id {
			h.resync(req.Announce)
		}
	})
	if err != nil {
		return err
	}
	h.subs = append(h.subs, resync)
	for subject, handler := range map[string]nats.MsgHandler{proto.SessionEndedSubject: ended, proto.SessionRenamedSubject: renamed} {
		sub, err := h.nc.Subscribe(subject, handler)
		if err != nil {
			for _, s := range h.subs {
				s.Unsubscribe()
			}
			h.subs = nil
			return err
		}
		h.subs = append(h.subs, sub)
	}
	return nil
}

// close stops the beats and resyncs, the one under way included, and
// drops the subscriptions.
func (h *heartbeat) close() {
	h.stopOnce.Do(func() {
		close(h.stop)
		for _, sub := range h.subs {
			sub.Unsubscribe()
		}
	})
	h.running.Wait()
}

// beat tells presence, every interval, that this gateway lives.
func (h *heartbeat) beat() {
	defer h.running.Done()
	hb, _ := json.Marshal(proto.GatewayHeartbeat{Gateway: h.id, Interval: h.interval.Milliseconds()})
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		h.nc.Publish(proto.GatewayHeartbeatSubject, hb)
		select {
		case <-t.C:
		case <-h.stop:
			return
		}
	}
}

// resync asks for every local connection to be announced to presence
// again, after presence lost its state or let this gateway's connections
// go; announce asks presence to tell the rooms of users it puts back. One
// resync runs at a time; one asked for meanwhile runs after it.
func (h *heartbeat) resync(announce bool) {
	if announce {
		h.announce.Store(true)
	}
	select {
	case h.resyncs <- struct{}{}:
	default: // one is waiting to run already
	}
}

func (h *heartbeat) resyncLoop() {
	defer h.running.Done()
	for {
		select {
		case <-h.resyncs:
			h.resyncOnce(h.announce.Swap(false))
		case <-h.stop:
			return
		}
	}
}

func (h *heartbeat) resyncOnce(announce bool) {
	members := h.members()
	for _, m := range members {
		select {
		case <-h.stop:
			return
		default:
		}
		if cn := connOf(m.sock); cn == nil || !cn.holds(m) || !m.sock.Connected() {
			// Closed or moved since the snapshot: its leave or its new
			// join has told presence already, and announcing it again
			// would undo the leave.
			continue
		}
		_, err := h.up.join(proto.PresenceJoin{
			ConnRef:  proto.ConnRef{Gateway: h.id, Conn: m.ref},
			Username: m.username(),
			Room:     m.room,
			Token:    m.token,
			Color:    m.color,
			Resync:   true,
			Announce: announce,
		})
		if errors.Is(err, proto.ErrNameTaken) {
			// Presence lost this member's join (a Redis replica promoted
			// without the primary's last writes) and gave the name to
			// another meanwhile: this connection holds it no more.
			h.log.Warn("resync: the name is another's now; disconnecting", "conn", m.sock.ID())
			h.refused(m)
			continue
		}
		if err != nil {
			h.log.Warn("resync", "err", err)
		}
	}
	h.log.Info("resynced with presence", "connections", len(members))
}

package presence

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/natter/natter/proto"
)

// linkTimeout bounds the round trip to the NATS server by which presence
// checks its own link at every tick: a server that does not answer within
// it (stopped, or cut off) is trouble of presence's own, not the
// gateways'. Under a join storm a round trip may take over a second; the
// bound stays under the gateway timeout (6 s), so that a stall is known
// as such before any gateway would be judged silent.
const linkTimeout = 3 * time.Second

// forgetLetGo is how long presence remembers a gateway whose connections
// it let go, to have it resync if it is heard from again.
const forgetLetGo = time.Hour

// gatewayWatch keeps when each gateway was last heard from and judges
// which have gone silent. A silence that presence's own link explains (a
// NATS server stopped or restarting, presence cut off from it) is no
// gateway's death: while the link is down no gateway is judged, and once
// it is back every gateway has a whole timeout to be heard again.
//
// It also says which gateways to sync with (see Service.syncGateways):
// one let go and heard from again, and, after the link was down, every
// gateway at the first beat heard after it came back (known before or
// not), since requests were lost meanwhile.
type gatewayWatch struct {
	timeout time.Duration

	mu         sync.Mutex
	seen       map[string]time.Time // when each gateway was last heard from
	retry      map[string]bool      // silent, but letting go failed: judged again at once
	letGo      map[string]time.Time // gateways let go, and when: synced once heard
	synced     map[string]time.Time // when each gateway was last found due
	due        map[string]bool      // heard, to be synced at the next tick
	down       bool                 // the link is down: no gateway is judged
	upSince    time.Time            // when the link last came back
	reconnects uint64               // the link's, at the last check
}

func newGatewayWatch(timeout time.Duration) *gatewayWatch {
	return &gatewayWatch{
		timeout: timeout,
		seen:    make(map[string]time.Time),
		retry:   make(map[string]bool),
		letGo:   make(map[string]time.Time),
		synced:  make(map[string]time.Time),
		due:     make(map[string]bool),
	}
}

// heard notes a gateway's heartbeat.
func (w *gatewayWatch) heard(gw string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen[gw] = now
	delete(w.retry, gw)
	_, letGo := w.letGo[gw]
	if letGo || (!w.upSince.IsZero() && w.synced[gw].Before(w.upSince)) {
		delete(w.letGo, gw)
		w.synced[gw] = now
		w.due[gw] = true
	}
}

// seed notes gateways as heard from now, unless they are known already:
// a replica that starts watches every gateway that the store says has
// connections, so that one that died while no replica listened, and so
// never beats again, is let go after the timeout like any other.
func (w *gatewayWatch) seed(gws []string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, gw := range gws {
		if _, ok := w.seen[gw]; !ok {
			w.seen[gw] = now
		}
	}
}

// link notes the state of presence's link to NATS: up or not, and how
// many times it has reconnected (a reconnection since the last check is a
// link that was down in between). It reports a change of state.
func (w *gatewayWatch) link(up bool, reconnects uint64, now time.Time) (changed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	back := reconnects != w.reconnects
	w.reconnects = reconnects
	changed = up == w.down
	w.down = !up
	if changed && up {
		back = true
	}
	if back {
		w.upSince = now
	}
	return changed
}

// settled reports whether a notice published now reaches every gateway:
// the link is up and, since it came back, each gateway known before has
// been heard again (a beat sent after its own reconnection, which
// follows its subscriptions), or a timeout has passed (one not heard by
// then is let go). reconnects is the link's count now: a reconnection
// that checkLink has not yet seen is a link back just now.
func (w *gatewayWatch) settled(reconnects uint64, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if reconnects != w.reconnects {
		w.reconnects = reconnects
		w.upSince = now
	}
	if w.down {
		return false
	}
	if w.upSince.IsZero() || now.Sub(w.upSince) >= w.timeout {
		return true
	}
	for _, at := range w.seen {
		if at.Before(w.upSince) {
			return false
		}
	}
	return true
}

// silent returns the gateways to let go: not heard from within the
// timeout while the link was up. It forgets them until they are heard
// again.
func (w *gatewayWatch) silent(now time.Time) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.down {
		return nil
	}
	var out []string
	for gw, seen := range w.seen {
		if seen.Before(w.upSince) {
			seen = w.upSince
		}
		if w.retry[gw] || now.Sub(seen) > w.timeout {
			out = append(out, gw)
			delete(w.seen, gw)
			delete(w.retry, gw)
			delete(w.synced, gw)
			delete(w.due, gw)
		}
	}
	for gw, at := range w.letGo {
		if now.Sub(at) > forgetLetGo {
			delete(w.letGo, gw)
		}
	}
	return out
}

// dropped notes that a gateway's connections were let go, or, when
// letting go failed, that it is to be judged again at the next tick.
func (w *gatewayWatch) dropped(gw string, ok bool, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !ok {
		if _, heard := w.seen[gw]; !heard {
			w.seen[gw] = now
			w.retry[gw] = true
		}
		return
	}
	w.letGo[gw] = now
}

// toSync returns the gateways to sync with now, and forgets them; none
// while the link is down.
func (w *gatewayWatch) toSync() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.down {
		return nil
	}
	var out []string
	for gw := range w.due {
		out = append(out, gw)
	}
	clear(w.due)
	return out
}

// syncFailed notes a sync that failed: it is tried again at the next tick.
func (w *gatewayWatch) syncFailed(gw string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.due[gw] = true
}

// seedGateways has the watch judge every gateway that the store says has
// connections (see gatewayWatch.seed), once: it reports whether that is
// done, and is called again at the next tick if not (the store was down).
func (s *Service) seedGateways(ctx context.Context) bool {
	octx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	gws, err := s.store.Gateways(octx)
	if err != nil {
		s.log.Warn("presence: the store's gateways", "err", err)
		return false
	}
	s.gateways.seed(gws, time.Now())
	return true
}

// checkLink tells the watch whether presence's own link to NATS works:
// connected, and the server answers a round trip within linkTimeout.
func (s *Service) checkLink() {
	up := s.nc.IsConnected() && s.nc.FlushTimeout(linkTimeout) == nil
	if !s.gateways.link(up, s.nc.Stats().Reconnects, time.Now()) {
		return
	}
	if up {
		s.log.Info("presence: NATS answers again; every gateway has a whole timeout to be heard, and is synced once heard")
		return
	}
	s.metrics.linkDown.Inc()
	s.log.Warn("presence: NATS does not answer; no gateway is let go meanwhile")
}

// syncGateways makes presence's connections of each gateway due equal the
// gateway's own, after requests between them may have been lost (a leave
// that never arrived, a join answered after the gateway had given up, a
// gateway let go that was alive). It lets every connection of the gateway
// go, for a gateway timeout and a grace (11 s), and asks the gateway to
// announce its connections again: those it has are back as soon as it
// does, without notices (or with a join, for a user presence had put out
// of a room); those it has not are reaped, and their leaves announced.
// The ask is published after the connections were let go, so the
// gateway's answer comes after too; it must come within those 11 s.
func (s *Service) syncGateways(ctx context.Context) {
	for _, gw := range s.gateways.toSync() {
		octx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
		n, err := s.store.DropGateway(octx, gw, s.cfg.GatewayTimeout+s.cfg.Grace)
		cancel()
		if err != nil {
			s.log.Warn("presence: sync gateway", "gateway", gw, "err", err)
			s.gateways.syncFailed(gw)
			continue
		}
		s.log.Info("presence: asking a gateway to resync", "gateway", gw, "connections", n)
		s.metrics.resyncs.Inc()
		b, _ := json.Marshal(proto.PresenceResync{Gateway: gw, Announce: true})
		if err := s.nc.Publish(proto.PresenceResyncSubject, b); err != nil {
			s.log.Warn("presence: ask resync", "gateway", gw, "err", err)
			s.gateways.syncFailed(gw)
		}
	}
}

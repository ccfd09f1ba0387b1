package presence

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/natter/natter/proto"
)

// linkTimeout bounds the round trip to the NATS server by which presence
// checks its own link at every tick: a server that does not answer within
// it (stopped, or cut off) is trouble of presence's own, not the
// gateways'.
const linkTimeout = time.Second

// forgetLetGo is how long presence remembers a gateway whose connections
// it let go, to ask it to resync if it is heard from again.
const forgetLetGo = time.Hour

// gatewayWatch keeps when each gateway was last heard from and judges
// which have gone silent. A silence that presence's own link explains (a
// NATS server stopped or restarting, presence cut off from it) is no
// gateway's death: while the link is down no gateway is judged, and once
// it is back every gateway has a whole timeout to be heard again. A
// gateway let go and then heard from again is asked to announce its
// connections anew.
type gatewayWatch struct {
	timeout time.Duration

	mu         sync.Mutex
	seen       map[string]time.Time // when each gateway was last heard from
	retry      map[string]bool      // silent, but letting go failed: judged again at once
	letGo      map[string]time.Time // gateways let go, and when
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
	}
}

// heard notes a gateway's heartbeat, and reports whether that gateway had
// been let go: it must announce its connections again.
func (w *gatewayWatch) heard(gw string, now time.Time) (resync bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen[gw] = now
	delete(w.retry, gw)
	if _, ok := w.letGo[gw]; ok {
		delete(w.letGo, gw)
		return true
	}
	return false
}

// link notes the state of presence's link to NATS: up or not, and how
// many times it has reconnected (a reconnection since the last check is a
// link that was down in between). It reports a change of state.
func (w *gatewayWatch) link(up bool, reconnects uint64, now time.Time) (changed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if reconnects != w.reconnects {
		w.reconnects = reconnects
		w.upSince = now
	}
	changed = up == w.down
	w.down = !up
	if changed && up {
		w.upSince = now
	}
	return changed
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

// checkLink tells the watch whether presence's own link to NATS works:
// connected, and the server answers a round trip within linkTimeout.
func (s *Service) checkLink() {
	up := s.nc.IsConnected() && s.nc.FlushTimeout(linkTimeout) == nil
	if !s.gateways.link(up, s.nc.Stats().Reconnects, time.Now()) {
		return
	}
	if up {
		s.log.Info("presence: NATS answers again; every gateway has a whole timeout to be heard")
		return
	}
	s.metrics.linkDown.Inc()
	s.log.Warn("presence: NATS does not answer; no gateway is let go meanwhile")
}

// askResync asks one gateway, which presence let go and has heard from
// again, to announce its connections anew, telling the rooms of the users
// it puts back.
func (s *Service) askResync(gw string) {
	s.log.Warn("presence: a gateway let go is back; asking it to resync", "gateway", gw)
	s.metrics.resyncs.Inc()
	b, _ := json.Marshal(proto.PresenceResync{Gateway: gw, Announce: true})
	if err := s.nc.Publish(proto.PresenceResyncSubject, b); err != nil {
		s.log.Warn("presence: ask resync", "gateway", gw, "err", err)
	}
}

package presence

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/proto"
)

// upkeep, until ctx is cancelled, notices a store that lost its state,
// lets go of silent gateways' connections, reaps the lingering ones past
// their grace, and counts rooms and sessions.
func (s *Service) upkeep(ctx context.Context) {
	// Before any gateway is judged, the watch learns every gateway that
	// has connections: no connection expires, so one whose gateway died
	// unseen (every replica down then) is let go only this way.
	seeded := s.seedGateways(ctx)
	t := time.NewTicker(s.cfg.ReapInterval)
	defer t.Stop()
	census := time.NewTicker(5 * time.Second)
	defer census.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.checkEpoch(ctx) {
				s.askResync()
			}
			if !seeded {
				seeded = s.seedGateways(ctx)
			}
			s.dropSilentGateways(ctx)
			s.reap(ctx)
		case <-census.C:
			s.census(ctx)
		}
	}
}

// census updates the gauges of rooms, their users and online sessions.
func (s *Service) census(ctx context.Context) {
	octx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	rooms, err := s.store.Rooms(octx)
	if err != nil {
		return
	}
	online, err := s.store.Online(octx)
	if err != nil {
		return
	}
	users := 0
	for _, r := range rooms {
		users += r.Count
	}
	s.metrics.rooms.Set(float64(len(rooms)))
	s.metrics.roomUsers.Set(float64(users))
	s.metrics.online.Set(float64(online))
}

// checkEpoch notices a store that lost its state (a Redis restarted
// empty, seen by this replica) or that was empty (this replica made its
// epoch: a Redis emptied while no replica watched, or a new key layout),
// and reports whether the gateways must announce their connections
// again, so that presence converges to the truth. Replicas may each ask:
// announcing a connection twice changes nothing.
func (s *Service) checkEpoch(ctx context.Context) bool {
	octx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	e, fresh, err := s.store.Epoch(octx)
	if err != nil {
		return false // the store is down; joins answer unavailable meanwhile
	}
	s.mu.Lock()
	lost := s.epoch != "" && s.epoch != e
	s.epoch = e
	s.mu.Unlock()
	return lost || fresh
}

// askResync asks every gateway to announce its connections again.
func (s *Service) askResync() {
	s.log.Warn("presence: the store is empty or lost its state; asking gateways to resync")
	s.metrics.resyncs.Inc()
	if err := s.nc.Publish(proto.PresenceResyncSubject, nil); err != nil {
		s.log.Warn("presence: ask resync", "err", err)
	}
}

// heard notes a gateway's heartbeat.
func (s *Service) heard(m *nats.Msg) {
	var hb proto.GatewayHeartbeat
	if json.Unmarshal(m.Data, &hb) != nil || !proto.ValidGatewayID(hb.Gateway) {
		return
	}
	s.gateways.heard(hb.Gateway, time.Now())
}

// dropSilentGateways lets go of the connections of every gateway not heard
// from within GatewayTimeout: they linger for Grace, so that users who
// reconnect elsewhere meanwhile are not announced as leaving. It first
// checks presence's own link to NATS: a silence that the link explains
// lets no gateway go (see gatewayWatch). Then it syncs with the gateways
// that need it (see syncGateways).
func (s *Service) dropSilentGateways(ctx context.Context) {
	s.checkLink()
	s.flushNotices()
	defer s.syncGateways(ctx)
	for _, gw := range s.gateways.silent(time.Now()) {
		octx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
		n, err := s.store.DropGateway(octx, gw, s.cfg.Grace)
		cancel()
		s.gateways.dropped(gw, err == nil, time.Now())
		if err != nil {
			s.log.Warn("presence: drop gateway", "gateway", gw, "err", err)
			continue
		}
		s.metrics.gatewaysDropped.Inc()
		s.log.Warn("presence: gateway silent, its connections let go", "gateway", gw, "connections", n)
	}
}

// reap removes lingering connections past their grace and announces the
// leaves; with several replicas, each leave is announced by one of them.
func (s *Service) reap(ctx context.Context) {
	octx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	leaves, err := s.store.Reap(octx)
	for _, l := range leaves {
		if l.Left {
			s.announce(l.Room, proto.EventLeave, proto.LeaveNotice{Username: l.Session.Username, Room: l.Room})
		}
	}
	if err != nil && ctx.Err() == nil {
		s.log.Warn("presence: reap", "err", err)
	}
}

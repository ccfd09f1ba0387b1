package presence

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/proto"
)

// maxHeldNotices bounds the notices held while the gateways reconnect;
// past it they are published at once, as they would be without the hold.
const maxHeldNotices = 100_000

// heldNotices are the join and leave notices that presence holds while
// its link to NATS is down, or is back but not every gateway has been
// heard again (see gatewayWatch.settled): a notice is published once, on
// core NATS, and one published before a gateway has resubscribed would
// never reach that gateway's clients. They are published, in order, once
// every gateway is back or a gateway timeout has passed.
type heldNotices struct {
	mu   sync.Mutex
	msgs []*nats.Msg
}

// publishNotice publishes msg, or holds it while the gateways have not
// all resubscribed; held ones go first.
func (s *Service) publishNotice(msg *nats.Msg) {
	s.held.mu.Lock()
	defer s.held.mu.Unlock()
	if !s.gateways.settled(s.nc.Stats().Reconnects, time.Now()) && len(s.held.msgs) < maxHeldNotices {
		s.held.msgs = append(s.held.msgs, msg)
		return
	}
	s.publishHeldLocked()
	s.publish(msg)
}

// flushNotices publishes the held notices once the gateways are back.
func (s *Service) flushNotices() {
	s.held.mu.Lock()
	defer s.held.mu.Unlock()
	if len(s.held.msgs) > 0 && s.gateways.settled(s.nc.Stats().Reconnects, time.Now()) {
		s.log.Info("presence: gateways back; publishing the notices held meanwhile", "notices", len(s.held.msgs))
		s.publishHeldLocked()
	}
}

func (s *Service) publishHeldLocked() {
	for _, m := range s.held.msgs {
		s.publish(m)
	}
	s.held.msgs = nil
}

func (s *Service) publish(msg *nats.Msg) {
	if err := s.nc.PublishMsg(msg); err != nil {
		s.log.Warn("presence: announce", "event", msg.Header.Get(proto.HeaderEvent), "err", err)
	}
}

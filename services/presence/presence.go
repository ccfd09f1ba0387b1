// Package presence is natter's presence service: it opens and resumes
// sessions, keeps names unique and gives colours, tracks who is in which
// room, and tells rooms of joins and leaves. Its state lives in a Store:
// Redis in production, memory in the embedded mode.
package presence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/natter/natter/kit/ops"
	"github.com/natter/natter/proto"
)

// Service is the presence service.
type Service struct {
	cfg     Config
	nc      *nats.Conn
	store   Store
	mod     ModerationStore // beside store (moderationOf)
	log     *slog.Logger
	metrics *metrics

	mu       sync.Mutex
	gateways *gatewayWatch // which gateways live (it has its own lock)
	held     heldNotices   // notices held while the gateways reconnect
	epoch    string        // the store's, when last seen; "" before
	serving  atomic.Bool   // Run has subscribed, and NATS has the subscriptions

	dropped       atomic.Int64 // requests dropped, their askers gone (expired)
	droppedLogged atomic.Int64 // when expired last logged, in Unix ns; 0 never
}

// New returns the service on the NATS connection nc with store; Run serves it.
func New(cfg Config, nc *nats.Conn, store Store, log *slog.Logger, reg prometheus.Registerer) *Service {
	return &Service{
		cfg:      cfg.WithDefaults(),
		nc:       nc,
		store:    store,
		mod:      moderationOf(store, cfg.WithDefaults().SessionTTL),
		log:      log,
		metrics:  newMetrics(reg),
		gateways: newGatewayWatch(cfg.WithDefaults().GatewayTimeout),
	}
}

// Ready reports whether the service can answer.
func (s *Service) Ready() error {
	if !s.serving.Load() {
		return errors.New("presence: not serving")
	}
	if !s.nc.IsConnected() {
		return errors.New("presence: NATS disconnected")
	}
	return nil
}

// Run answers presence requests, in the presence queue group, Workers at
// a time, and keeps the store in step with the gateways (see upkeep),
// until ctx is cancelled; then it drains its subscriptions and returns
// once the requests it took are answered and its goroutines have ended.
func (s *Service) Run(ctx context.Context) error {
	// The store's epoch as it is before any join is served: a store that
	// loses its state from here on is noticed at the next tick. One found
	// empty is resynced once presence is subscribed, to serve the joins
	// that the gateways send.
	resync := s.checkEpoch(ctx)
	l := newLanes(s.cfg.Workers)
	var g errgroup.Group
	for i := range s.cfg.Workers {
		g.Go(func() error {
			l.serve(i)
			return nil
		})
	}
	subs, err := s.subscribe(l)
	if err == nil {
		// Ready once the server has the subscriptions: a join sent then
		// finds a responder.
		err = s.nc.Flush()
	}
	if err == nil {
		s.serving.Store(true)
		if resync {
			s.askResync()
		}
		g.Go(func() error {
			s.upkeep(ctx)
			return nil
		})
		s.log.Info("presence serving")
		<-ctx.Done()
	}
	s.serving.Store(false)
	if ops.Drain(subs, s.cfg.OpTimeout+time.Second) != nil {
		s.log.Warn("presence: subscriptions not drained in time")
	}
	l.close()
	g.Wait()
	return err
}

// subscribe subscribes to the requests, served on l, and to the gateways'
// heartbeats; it returns the subscriptions made, also when one fails.
func (s *Service) subscribe(l *lanes) ([]*nats.Subscription, error) {
	handlers := map[string]nats.MsgHandler{
		proto.PresenceJoinSubject:       s.handle(l, "join", s.join, true),
		proto.PresenceLeaveSubject:      s.handle(l, "leave", s.leave, true),
		proto.PresenceLookupSubject:     s.handle(l, "lookup", s.lookup, false),
		proto.PresenceMembersSubject:    s.handle(l, "members", s.members, false),
		proto.PresenceRoomsSubject:      s.handle(l, "rooms", s.rooms, false),
		proto.PresenceEndSessionSubject: s.handle(l, "endsession", s.endSession, true),
		proto.PresenceRenameSubject:     s.handle(l, "rename", s.rename, true),
		// Moderation (moderation.go).
		proto.PresenceModerateSubject:      s.handle(l, "moderate", s.moderate, false),
		proto.PresenceRoleSubject:          s.handle(l, "role", s.setRole, false),
		proto.PresenceModerationLogSubject: s.handle(l, "moderationlog", s.moderationLog, false),
		proto.PresenceDeletedSubject:       s.handle(l, "deleted", s.deleted, false),
	}
	var subs []*nats.Subscription
	for subject, h := range handlers {
		sub, err := s.nc.QueueSubscribe(subject, proto.PresenceQueue, h)
		if err != nil {
			return subs, fmt.Errorf("presence: subscribe %s: %w", subject, err)
		}
		subs = append(subs, sub)
	}
	// Every replica hears every gateway: no queue group.
	hb, err := s.nc.Subscribe(proto.GatewayHeartbeatSubject, s.heard)
	if err != nil {
		return subs, fmt.Errorf("presence: subscribe heartbeats: %w", err)
	}
	return append(subs, hb), nil
}

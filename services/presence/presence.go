// Package presence is natter's presence service: it opens and resumes
// sessions, keeps names unique and gives colours, tracks who is in which
// room, and tells rooms of joins and leaves. Its state lives in a Store:
// Redis in production, memory in the embedded mode.
package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/natter/natter/kit/ops"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/proto/rpc"
)

// Service is the presence service.
type Service struct {
	cfg     Config
	nc      *nats.Conn
	store   Store
	log     *slog.Logger
	metrics *metrics

	mu       sync.Mutex
	gateways *gatewayWatch // which gateways live (it has its own lock)
	epoch    string        // the store's, when last seen; "" before
}

// New returns the service on the NATS connection nc with store; Run serves it.
func New(cfg Config, nc *nats.Conn, store Store, log *slog.Logger, reg prometheus.Registerer) *Service {
	return &Service{
		cfg:      cfg.WithDefaults(),
		nc:       nc,
		store:    store,
		log:      log,
		metrics:  newMetrics(reg),
		gateways: newGatewayWatch(cfg.WithDefaults().GatewayTimeout),
	}
}

// Ready reports whether the service can answer.
func (s *Service) Ready() error {
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

// handle wraps an operation: it serves it on a lane of l (the lane of the
// request's connection, when byConn), times it, counts its errors, and
// sends its reply.
func (s *Service) handle(l *lanes, op string, f func(ctx context.Context, data []byte) any, byConn bool) nats.MsgHandler {
	return func(m *nats.Msg) {
		start := time.Now()
		key := ""
		if byConn {
			key = connOfRequest(m.Data)
		}
		l.do(key, func() {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.OpTimeout)
			defer cancel()
			reply := f(ctx, m.Data)
			s.metrics.observe(op, start, reply)
			if err := rpc.Respond(m, reply); err != nil {
				s.log.Warn("presence: reply", "op", op, "err", err)
			}
		})
	}
}

// connOfRequest returns the connection a join or leave is about, as a
// lane key; "" if the request names none (it fails when served).
func connOfRequest(data []byte) string {
	var req proto.ConnRef
	if json.Unmarshal(data, &req) != nil {
		return ""
	}
	return req.Gateway + "\x00" + req.Conn
}

// storeError turns a Store error into what the client is told.
func (s *Service) storeError(op string, err error) *proto.Error {
	var pe *proto.Error
	if errors.As(err, &pe) {
		return pe
	}
	s.log.Warn("presence: store", "op", op, "err", err)
	return proto.ErrUnavailable
}

func (s *Service) join(ctx context.Context, data []byte) any {
	var req proto.PresenceJoin
	if err := json.Unmarshal(data, &req); err != nil {
		return proto.PresenceJoinReply{Error: proto.ErrBadRequest}
	}
	p := JoinParams{Conn: req.ConnRef, Token: req.Token, NewToken: proto.NewToken(), Resync: req.Resync}
	if req.Resync && req.Token != "" {
		p.NewToken, p.Color = req.Token, req.Color
	}
	var err error
	if req.Username != "" || req.Token == "" {
		if p.Username, err = proto.NormalizeName(req.Username); err != nil {
			return proto.PresenceJoinReply{Error: proto.AsError(err)}
		}
	}
	if p.Room, err = proto.NormalizeRoom(req.Room); err != nil {
		return proto.PresenceJoinReply{Error: proto.AsError(err)}
	}
	res, err := s.store.Join(ctx, p)
	if errors.Is(err, ErrNoSession) {
		// A token alone, whose session has ended: the user picks a name again.
		return proto.PresenceJoinReply{Error: proto.Errorf(proto.CodeInvalidName, "your session has ended; choose a name")}
	}
	if errors.Is(err, ErrUnknownConn) {
		// A resync of a connection its gateway has reported closed.
		return proto.PresenceJoinReply{Error: proto.ErrNotJoined}
	}
	if err != nil {
		return proto.PresenceJoinReply{Error: s.storeError("join", err)}
	}
	if res.LeftRoom != "" && !req.Resync {
		s.announce(res.LeftRoom, proto.EventLeave, proto.LeaveNotice{Username: res.LeftSession.Username, Room: res.LeftRoom})
	}
	if res.Joined && (!req.Resync || req.Announce) {
		s.announce(p.Room, proto.EventJoin, proto.JoinNotice{Username: res.Session.Username, Color: res.Session.Color, Room: p.Room})
	}
	return proto.PresenceJoinReply{
		Username:    res.Session.Username,
		Color:       res.Session.Color,
		Token:       res.Session.Token,
		SessionID:   proto.SessionID(res.Session.Token),
		Room:        p.Room,
		Members:     res.Members,
		MemberCount: res.MemberCount,
	}
}

func (s *Service) leave(ctx context.Context, data []byte) any {
	var req proto.PresenceLeave
	if err := json.Unmarshal(data, &req); err != nil {
		return proto.ErrorAck{Error: proto.ErrBadRequest}
	}
	var res LeaveResult
	var err error
	if req.Deliberate {
		res, err = s.store.Leave(ctx, req.ConnRef)
	} else {
		res, err = s.store.Linger(ctx, req.ConnRef, s.cfg.Grace)
	}
	if errors.Is(err, ErrUnknownConn) {
		return proto.OKAck{OK: true}
	}
	if err != nil {
		return proto.ErrorAck{Error: s.storeError("leave", err)}
	}
	if res.Left {
		s.announce(res.Room, proto.EventLeave, proto.LeaveNotice{Username: res.Session.Username, Room: res.Room})
	}
	return proto.OKAck{OK: true}
}

// endSession ends a session on its client's request: its connections
// leave their rooms (announced), and every gateway is told, to disconnect
// the session's other tabs.
func (s *Service) endSession(ctx context.Context, data []byte) any {
	var req proto.PresenceEndSession
	if err := json.Unmarshal(data, &req); err != nil || req.Token == "" {
		return proto.ErrorAck{Error: proto.ErrBadRequest}
	}
	leaves, err := s.store.EndSession(ctx, req.Token)
	if err != nil && !errors.Is(err, ErrNoSession) {
		return proto.ErrorAck{Error: s.storeError("end session", err)}
	}
	for _, l := range leaves {
		s.announce(l.Room, proto.EventLeave, proto.LeaveNotice{Username: l.Session.Username, Room: l.Room})
	}
	ended, _ := json.Marshal(proto.SessionEnded{SessionID: proto.SessionID(req.Token)})
	if err := s.nc.Publish(proto.SessionEndedSubject, ended); err != nil {
		s.log.Warn("presence: session ended", "err", err)
	}
	return proto.OKAck{OK: true}
}

func (s *Service) lookup(ctx context.Context, data []byte) any {
	var req proto.PresenceLookup
	if err := json.Unmarshal(data, &req); err != nil {
		return proto.PresenceLookupReply{Error: proto.ErrBadRequest}
	}
	name, err := proto.NormalizeName(req.Username)
	if err != nil {
		return proto.PresenceLookupReply{Error: proto.AsError(err)}
	}
	sess, online, err := s.store.Lookup(ctx, proto.NameKey(name))
	if errors.Is(err, ErrNoSession) {
		return proto.PresenceLookupReply{}
	}
	if err != nil {
		return proto.PresenceLookupReply{Error: s.storeError("lookup", err)}
	}
	return proto.PresenceLookupReply{Username: sess.Username, Online: online, SessionID: proto.SessionID(sess.Token)}
}

func (s *Service) members(ctx context.Context, data []byte) any {
	var req proto.PresenceMembers
	if err := json.Unmarshal(data, &req); err != nil {
		return proto.PresenceMembersReply{Error: proto.ErrBadRequest}
	}
	room, err := proto.NormalizeRoom(req.Room)
	if err != nil {
		return proto.PresenceMembersReply{Error: proto.AsError(err)}
	}
	after, limit, err := proto.MembersPage(req.After, req.Limit)
	if err != nil {
		return proto.PresenceMembersReply{Error: proto.AsError(err)}
	}
	page, err := s.store.Members(ctx, room, after, limit)
	if err != nil {
		return proto.PresenceMembersReply{Error: s.storeError("members", err)}
	}
	return proto.PresenceMembersReply{Members: proto.NonNil(page.Members), Count: page.Count, More: page.More}
}

func (s *Service) rooms(ctx context.Context, _ []byte) any {
	rooms, err := s.store.Rooms(ctx)
	if err != nil {
		return proto.PresenceRoomsReply{Error: s.storeError("rooms", err)}
	}
	out := make([]proto.RoomCount, len(rooms))
	for i, r := range rooms {
		out[i] = proto.RoomCount{Room: r.Room, Count: r.Count}
	}
	return proto.PresenceRoomsReply{Rooms: out}
}

// announce tells a room's gateways of a join or a leave.
func (s *Service) announce(room, event string, notice any) {
	b, _ := json.Marshal(notice)
	msg := nats.NewMsg(proto.RoomPresenceSubject(room))
	msg.Header.Set(proto.HeaderEvent, event)
	msg.Data = b
	if err := s.nc.PublishMsg(msg); err != nil {
		s.log.Warn("presence: announce", "event", event, "err", err)
	}
	s.metrics.announced.WithLabelValues(event).Inc()
}

// Package presence is natter's presence service: it opens and resumes
// sessions, keeps names unique and gives colours, tracks who is in which
// room, and tells rooms of joins and leaves. Its state lives in a Store:
// Redis in production, memory in the embedded mode.
package presence

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/proto"
)

// Config configures the service. The zero value of every field means its default.
type Config struct {
	// OpTimeout bounds one Store operation; 2s.
	OpTimeout time.Duration
}

// Service is the presence service.
type Service struct {
	cfg     Config
	nc      *nats.Conn
	store   Store
	log     *slog.Logger
	metrics *metrics
}

// New returns the service on the NATS connection nc with store; Run serves it.
func New(cfg Config, nc *nats.Conn, store Store, log *slog.Logger, reg prometheus.Registerer) *Service {
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = 2 * time.Second
	}
	return &Service{cfg: cfg, nc: nc, store: store, log: log, metrics: newMetrics(reg)}
}

// Ready reports whether the service can answer.
func (s *Service) Ready() error {
	if !s.nc.IsConnected() {
		return errors.New("presence: NATS disconnected")
	}
	return nil
}

// Run answers presence requests, in the presence queue group, until ctx is
// cancelled; then it drains its subscriptions.
func (s *Service) Run(ctx context.Context) error {
	handlers := map[string]nats.MsgHandler{
		proto.PresenceJoinSubject:    s.handle("join", s.join),
		proto.PresenceLeaveSubject:   s.handle("leave", s.leave),
		proto.PresenceLookupSubject:  s.handle("lookup", s.lookup),
		proto.PresenceMembersSubject: s.handle("members", s.members),
	}
	var subs []*nats.Subscription
	defer func() {
		for _, sub := range subs {
			sub.Drain()
		}
	}()
	for subject, h := range handlers {
		sub, err := s.nc.QueueSubscribe(subject, proto.PresenceQueue, h)
		if err != nil {
			return fmt.Errorf("presence: subscribe %s: %w", subject, err)
		}
		subs = append(subs, sub)
	}
	s.log.Info("presence serving")
	<-ctx.Done()
	return nil
}

// handle wraps an operation: it times it, counts its errors, and sends its
// reply.
func (s *Service) handle(op string, f func(ctx context.Context, data []byte) any) nats.MsgHandler {
	return func(m *nats.Msg) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.OpTimeout)
		defer cancel()
		reply := f(ctx, m.Data)
		s.metrics.observe(op, start, reply)
		if m.Reply == "" {
			return
		}
		b, err := json.Marshal(reply)
		if err != nil {
			s.log.Error("presence: marshal reply", "op", op, "err", err)
			return
		}
		m.Respond(b)
	}
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
	p := JoinParams{Conn: req.ConnRef, Token: req.Token, NewToken: newToken()}
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
	if err != nil {
		return proto.PresenceJoinReply{Error: s.storeError("join", err)}
	}
	if res.LeftRoom != "" {
		s.announce(res.LeftRoom, "leave", proto.LeaveNotice{Username: res.LeftSession.Username, Room: res.LeftRoom})
	}
	if res.Joined {
		s.announce(p.Room, "join", proto.JoinNotice{Username: res.Session.Username, Color: res.Session.Color, Room: p.Room})
	}
	return proto.PresenceJoinReply{
		Username: res.Session.Username,
		Color:    res.Session.Color,
		Token:    res.Session.Token,
		Room:     p.Room,
		Members:  res.Members,
	}
}

func (s *Service) leave(ctx context.Context, data []byte) any {
	var req proto.PresenceLeave
	if err := json.Unmarshal(data, &req); err != nil {
		return proto.ErrorAck{Error: proto.ErrBadRequest}
	}
	res, err := s.store.Leave(ctx, req.ConnRef)
	if errors.Is(err, ErrUnknownConn) {
		return struct {
			OK bool `json:"ok"`
		}{true}
	}
	if err != nil {
		return proto.ErrorAck{Error: s.storeError("leave", err)}
	}
	if res.Left {
		s.announce(res.Room, "leave", proto.LeaveNotice{Username: res.Session.Username, Room: res.Room})
	}
	return struct {
		OK bool `json:"ok"`
	}{true}
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
	return proto.PresenceLookupReply{Username: sess.Username, Online: online}
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
	members, err := s.store.Members(ctx, room)
	if err != nil {
		return proto.PresenceMembersReply{Error: s.storeError("members", err)}
	}
	if members == nil {
		members = []proto.Member{}
	}
	return proto.PresenceMembersReply{Members: members}
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

// newToken returns a session token: 32 random base64url characters.
func newToken() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

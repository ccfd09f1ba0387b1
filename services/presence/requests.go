package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/proto/rpc"
)

// handle wraps an operation: it serves it on a lane of l (the lane of the
// request's connection, when byConn), times it, counts its errors, and
// sends its reply. A request whose asker has given up by the time its
// lane comes to it is dropped unserved (see expired).
func (s *Service) handle(l *lanes, op string, f func(ctx context.Context, data []byte) any, byConn bool) nats.MsgHandler {
	s.metrics.serves(op)
	return func(m *nats.Msg) {
		start := time.Now()
		key := ""
		if byConn {
			key = connOfRequest(m.Data)
		}
		l.do(key, func() {
			if rpc.GivenUp(m, start, time.Now()) {
				s.expired(op)
				return
			}
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

// expiredLogEvery spaces the logs of dropped requests: a storm drops
// thousands.
const expiredLogEvery = 10 * time.Second

// expired counts a request of op dropped because its asker had given up
// on it, and logs the drops now and then. Serving it late would only add
// to what the requests behind it wait: its answer would reach nobody, and
// a gateway that got none asks again, or tells its client unavailable. A
// join or leave dropped so changes nothing: the gateway asks a leave again
// until it is answered, and a join that got no answer is followed by its
// connection's leave when the connection closes.
func (s *Service) expired(op string) {
	s.metrics.expired.WithLabelValues(op).Inc()
	n := s.dropped.Add(1)
	now := time.Now().UnixNano()
	if last := s.droppedLogged.Load(); now-last >= int64(expiredLogEvery) && s.droppedLogged.CompareAndSwap(last, now) {
		s.log.Warn("presence: dropped requests whose askers had given up (served too late to be of use)", "op", op, "dropped", n)
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
	if proto.IsIdentityToken(req.Token) {
		// An authenticated user's (only gateways send these): the session
		// is opened under it, so that each of the identity's connections
		// resumes the one session, however it came.
		p.NewToken = req.Token
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
	if p.Username != "" && !slices.Contains(Palette, p.Color) {
		// A new session's colour is its name's, not the least used one: a
		// user keeps it across sessions and restarts (a resync keeps the
		// colour it had).
		p.Color = proto.ColorOf(proto.NameKey(p.Username))
	}
	st, banned := s.standingBefore(ctx, p, req)
	if banned != nil {
		return proto.PresenceJoinReply{Error: banned}
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
	if st, banned = s.standingAfter(ctx, p, req, res, st); banned != nil {
		return proto.PresenceJoinReply{Error: banned}
	}
	if res.Joined && (!req.Resync || req.Announce) {
		s.announce(p.Room, proto.EventJoin, proto.JoinNotice{Username: res.Session.Username, Color: res.Session.Color, Room: p.Room})
	}
	return withStanding(proto.PresenceJoinReply{
		Username:    res.Session.Username,
		Color:       res.Session.Color,
		Token:       res.Session.Token,
		SessionID:   proto.SessionID(res.Session.Token),
		Room:        p.Room,
		Members:     res.Members,
		MemberCount: res.MemberCount,
		NameGen:     res.Gen,
	}, st)
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

// rename gives a session a new name, on its client's request: every gateway
// is told, to switch the session's connections to it, and each of its
// rooms is told once.
func (s *Service) rename(ctx context.Context, data []byte) any {
	var req proto.PresenceRename
	if err := json.Unmarshal(data, &req); err != nil || req.Token == "" {
		return proto.PresenceRenameReply{Error: proto.ErrBadRequest}
	}
	if proto.IsIdentityToken(req.Token) {
		return proto.PresenceRenameReply{Error: errIdentityRename}
	}
	name, err := proto.NormalizeName(req.Username)
	if err != nil {
		return proto.PresenceRenameReply{Error: proto.AsError(err)}
	}
	if e := s.renameBanned(ctx, req.Token, name); e != nil {
		return proto.PresenceRenameReply{Error: e}
	}
	res, err := s.store.Rename(ctx, req.Token, name)
	if errors.Is(err, ErrNoSession) {
		return proto.PresenceRenameReply{Error: proto.ErrNotJoined}
	}
	if err != nil {
		return proto.PresenceRenameReply{Error: s.storeError("rename", err)}
	}
	sess := res.Session
	if res.Changed {
		sid := proto.SessionID(sess.Token)
		renamed, _ := json.Marshal(proto.SessionRenamed{SessionID: sid, From: res.From, Username: sess.Username, Color: sess.Color, Gen: res.Gen})
		if err := s.nc.Publish(proto.SessionRenamedSubject, renamed); err != nil {
			s.log.Warn("presence: session renamed", "err", err)
		}
		for _, room := range res.Rooms {
			s.announceFrom(room, proto.EventUserRenamed, sid,
				proto.RenameNotice{Room: room, From: res.From, Username: sess.Username, Color: sess.Color})
		}
	}
	return proto.PresenceRenameReply{From: res.From, Username: sess.Username, Color: sess.Color, Gen: res.Gen}
}

// renameBanned refuses a rename to a name banned from one of the rooms
// the session is in: a join under that name would be refused there, and
// a rename is no way in. Nil when no ban holds; a session that is not
// online is for Rename to refuse.
func (s *Service) renameBanned(ctx context.Context, token, name string) *proto.Error {
	rooms, err := s.store.SessionRooms(ctx, token)
	if errors.Is(err, ErrNoSession) {
		return nil
	}
	if err != nil {
		return s.storeError("rename", err)
	}
	key := proto.NameKey(name)
	for _, room := range rooms {
		if _, e := s.standing(ctx, room, key, ""); e != nil {
			if e.Code == proto.CodeBanned {
				e.Message = fmt.Sprintf("the name %s is banned from %s", name, room)
			}
			return e
		}
	}
	return nil
}

// errIdentityRename refuses a rename of an authenticated user's session:
// its name is its token's.
var errIdentityRename = proto.Errorf(proto.CodeForbidden, "an authenticated user's name is their token's")

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
	s.announceFrom(room, event, "", notice)
}

// announceFrom is announce, of a notice about the session with id sid
// (HeaderSession; "" for none).
func (s *Service) announceFrom(room, event, sid string, notice any) {
	b, _ := json.Marshal(notice)
	msg := nats.NewMsg(proto.RoomPresenceSubject(room))
	msg.Header.Set(proto.HeaderEvent, event)
	if sid != "" {
		msg.Header.Set(proto.HeaderSession, sid)
	}
	id := proto.NewToken()
	msg.Header.Set(proto.HeaderEventID, id)
	msg.Header.Set(nats.MsgIdHdr, id)
	msg.Data = b
	s.publishNotice(msg)
	s.metrics.announced.WithLabelValues(event).Inc()
}

package presence

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/proto"
)

// Moderation, presence's side: it keeps the bans, mutes, granted roles
// and the log (a ModerationStore), refuses a banned user's join, tells a
// join its mute and role, and announces each action to the room, which
// is also its record on the events stream (proto.EventsStream).

// moderationOf returns the ModerationStore beside store: its own when it
// has one (Redis), else one in memory.
func moderationOf(store Store, ttl time.Duration) ModerationStore {
	if m, ok := store.(interface{ Moderation() ModerationStore }); ok {
		return m.Moderation()
	}
	return newMemModeration(ttl, nil)
}

// joinTargets are what a join's bans and mutes hold on: the name's key,
// and the identity of an authenticated user.
func joinTargets(nameKey, identity string) []string {
	t := []string{proto.NameTarget(nameKey)}
	if identity != "" {
		t = append(t, proto.IdentityTarget(identity))
	}
	return t
}

// standing returns what holds for a join of the name key to room, or the
// banned error that refuses it.
func (s *Service) standing(ctx context.Context, room, nameKey, identity string) (Standing, *proto.Error) {
	st, err := s.mod.AtJoin(ctx, room, joinTargets(nameKey, identity), identity, nameKey)
	if err != nil {
		return st, s.storeError("moderation", err)
	}
	if st.Banned {
		e := proto.Errorf(proto.CodeBanned, "you are banned from %s", room)
		e.Until = millis(st.BannedUntil)
		return st, e
	}
	return st, nil
}

// withStanding adds a join's mute and granted role to its reply.
func withStanding(r proto.PresenceJoinReply, st Standing) proto.PresenceJoinReply {
	r.Role, r.Muted, r.MutedUntil = st.Role, st.Muted, millis(st.MutedUntil)
	return r
}

// millis is t in Unix milliseconds; 0 for the zero time (for good).
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// target returns what an action on the user with the name key holds on:
// the identity that joined under the name, while it is known, else the
// name.
func (s *Service) target(ctx context.Context, nameKey string) (string, error) {
	id, err := s.mod.IdentityOf(ctx, nameKey)
	if err != nil || id == "" {
		return proto.NameTarget(nameKey), err
	}
	return proto.IdentityTarget(id), nil
}

func (s *Service) moderate(ctx context.Context, data []byte) any {
	var req proto.PresenceModerate
	if err := json.Unmarshal(data, &req); err != nil {
		return proto.PresenceModerateReply{Error: proto.ErrBadRequest}
	}
	r, err := proto.ValidateModerate(req.Action, req.ModerateRequest)
	if err != nil {
		return proto.PresenceModerateReply{Error: proto.AsError(err)}
	}
	if r.Room == "" {
		return proto.PresenceModerateReply{Error: proto.Errorf(proto.CodeInvalidRoom, "name a room")}
	}
	by, err := proto.NormalizeName(req.By)
	if err != nil {
		return proto.PresenceModerateReply{Error: proto.Errorf(proto.CodeBadRequest, "by: %s", proto.AsError(err).Message)}
	}
	key := proto.NameKey(r.Username)
	sess, online, err := s.store.Lookup(ctx, key)
	switch {
	case err == nil:
		r.Username = sess.Username // as the user shows it
	case !errors.Is(err, ErrNoSession):
		return proto.PresenceModerateReply{Error: s.storeError("moderate", err)}
	}
	if req.Action == proto.EventKick && !online {
		return proto.PresenceModerateReply{Error: proto.ErrNoSuchUser} // nobody to kick
	}
	target, err := s.target(ctx, key)
	if err != nil {
		return proto.PresenceModerateReply{Error: s.storeError("moderate", err)}
	}
	now := time.Now()
	m := proto.Moderation{
		ID: proto.NewToken(), Action: req.Action, Room: r.Room, Username: r.Username, By: by,
		Until: proto.UntilMillis(now, r.Seconds), Reason: r.Reason, TS: now.UnixMilli(),
	}
	if e := s.apply(ctx, m, key, target); e != nil {
		return proto.PresenceModerateReply{Error: e}
	}
	if err := s.mod.Record(ctx, m); err != nil {
		s.log.Warn("presence: moderation log", "err", err)
	}
	s.announceModeration(m, target)
	return proto.PresenceModerateReply{Moderation: m}
}

// apply keeps what the action m changes, on target (and, when undone, on
// the name's key too, which a ban before the identity was known holds on).
func (s *Service) apply(ctx context.Context, m proto.Moderation, nameKey, target string) *proto.Error {
	var until time.Time
	if m.Until > 0 {
		until = time.UnixMilli(m.Until)
	}
	var err error
	switch m.Action {
	case proto.EventBan:
		err = s.mod.Restrict(ctx, kindBan, m.Room, target, until)
	case proto.EventMute:
		err = s.mod.Restrict(ctx, kindMute, m.Room, target, until)
	case proto.EventUnban, proto.EventUnmute:
		kind := kindBan
		if m.Action == proto.EventUnmute {
			kind = kindMute
		}
		var lifted bool
		for _, t := range []string{target, proto.NameTarget(nameKey)} {
			ok, e := s.mod.Lift(ctx, kind, m.Room, t)
			lifted, err = lifted || ok, errors.Join(err, e)
		}
		if err == nil && !lifted {
			return proto.Errorf(proto.CodeBadRequest, "%s is not %sned in %s", m.Username, kind, m.Room)
		}
	}
	if err != nil {
		return s.storeError(m.Action, err)
	}
	return nil
}

// announceModeration tells the room of m (its gateways enforce a mute,
// kick or ban on target, in HeaderModerationTarget), with its id as the
// event's, so that the events stream keeps it once.
func (s *Service) announceModeration(m proto.Moderation, target string) {
	b, _ := json.Marshal(m)
	msg := nats.NewMsg(proto.RoomPresenceSubject(m.Room))
	msg.Header.Set(proto.HeaderEvent, proto.EventModeration)
	msg.Header.Set(proto.HeaderEventID, m.ID)
	msg.Header.Set(nats.MsgIdHdr, m.ID)
	msg.Header.Set(proto.HeaderModerationTarget, target)
	msg.Data = b
	s.publishNotice(msg)
	s.metrics.announced.WithLabelValues(proto.EventModeration).Inc()
}

// deleted logs a moderator's deletion of a message and announces it to
// the room (no target: nothing for the gateways to enforce).
func (s *Service) deleted(ctx context.Context, data []byte) any {
	var req proto.PresenceDeleted
	if err := json.Unmarshal(data, &req); err != nil || !proto.ValidID(req.ID) {
		return proto.PresenceModerateReply{Error: proto.ErrBadRequest}
	}
	room, err := proto.NormalizeRoom(req.Room)
	if err != nil {
		return proto.PresenceModerateReply{Error: proto.AsError(err)}
	}
	by, err := proto.NormalizeName(req.By)
	if err != nil {
		return proto.PresenceModerateReply{Error: proto.Errorf(proto.CodeBadRequest, "by: %s", proto.AsError(err).Message)}
	}
	now := time.Now()
	m := proto.Moderation{
		ID: proto.NewToken(), Action: proto.ActionDelete, Room: room, Username: req.Username, By: by,
		MessageID: req.ID, TS: now.UnixMilli(),
	}
	if err := s.mod.Record(ctx, m); err != nil {
		return proto.PresenceModerateReply{Error: s.storeError("delete", err)}
	}
	s.announceModeration(m, "")
	return proto.PresenceModerateReply{Moderation: m}
}

func (s *Service) setRole(ctx context.Context, data []byte) any {
	var req proto.PresenceRole
	if err := json.Unmarshal(data, &req); err != nil {
		return proto.ErrorAck{Error: proto.ErrBadRequest}
	}
	if err := proto.ValidateRoleGrant(req); err != nil {
		return proto.ErrorAck{Error: proto.AsError(err)}
	}
	id := proto.IdentityID(req.Subject)
	if err := s.mod.SetRole(ctx, id, req.Role); err != nil {
		return proto.ErrorAck{Error: s.storeError("role", err)}
	}
	// At once on the gateways, for the identity's connections joined now.
	b, _ := json.Marshal(proto.RoleGranted{Identity: id, Role: req.Role})
	if err := s.nc.Publish(proto.RoleGrantedSubject, b); err != nil {
		s.log.Warn("presence: role granted", "err", err)
	}
	return proto.OKAck{OK: true}
}

func (s *Service) moderationLog(ctx context.Context, data []byte) any {
	var req proto.PresenceModerationLog
	if err := json.Unmarshal(data, &req); err != nil {
		return proto.ModerationLogReply{Error: proto.ErrBadRequest}
	}
	req, err := proto.ValidateModerationLog(req)
	if err != nil {
		return proto.ModerationLogReply{Error: proto.AsError(err)}
	}
	actions, err := s.mod.Recent(ctx, req.Room, req.Limit)
	if err != nil {
		return proto.ModerationLogReply{Error: s.storeError("moderation log", err)}
	}
	return proto.ModerationLogReply{OK: true, Actions: proto.NonNil(actions)}
}

// standingBefore is what holds for a join that names its user; a resync
// (a connection already joined) is not refused. banned refuses the join.
func (s *Service) standingBefore(ctx context.Context, p JoinParams, req proto.PresenceJoin) (st Standing, banned *proto.Error) {
	if p.Username == "" || req.Resync {
		return st, nil
	}
	return s.standing(ctx, p.Room, proto.NameKey(p.Username), req.Identity)
}

// standingAfter is what holds for a join that named no user (a token
// resuming its session), known once joined: a banned one is taken out
// again. Others keep st.
func (s *Service) standingAfter(ctx context.Context, p JoinParams, req proto.PresenceJoin, res JoinResult, st Standing) (Standing, *proto.Error) {
	if p.Username != "" || req.Resync {
		return st, nil
	}
	st, banned := s.standing(ctx, p.Room, res.Session.Key, req.Identity)
	if banned != nil {
		if _, err := s.store.Leave(ctx, p.Conn); err != nil && !errors.Is(err, ErrUnknownConn) {
			s.log.Warn("presence: a banned user's join taken back", "err", err)
		}
	}
	return st, banned
}

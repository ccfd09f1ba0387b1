package gateway

import (
	"context"

	"github.com/natter/natter/proto"
)

// The server API's moderation operations: a backend mutes, kicks, bans
// (and undoes) as a moderator does, grants roles, and lists the recent
// actions. Presence carries them out (services/presence/moderation.go).

// moderationRoutes returns the routes of the moderation operations.
func (o *apiOps) moderationRoutes() map[string]apiHandler {
	routes := map[string]apiHandler{
		proto.APIRole:       route(o.role),
		proto.APIModeration: route(o.moderationLog),
		proto.APIDelete:     route(o.deleteMessage),
	}
	for _, action := range proto.ModerationActions {
		routes[action] = route(func(ctx context.Context, req proto.APIModerateRequest) (proto.ModerationAck, error) {
			return o.moderate(ctx, action, req)
		})
	}
	return routes
}

func (o *apiOps) moderate(_ context.Context, action string, req proto.APIModerateRequest) (proto.ModerationAck, error) {
	room, err := apiRoom(req.Room)
	if err != nil {
		return proto.ModerationAck{}, err
	}
	by, err := botName(req.By)
	if err != nil {
		return proto.ModerationAck{}, err
	}
	r, err := proto.ValidateModerate(action, proto.ModerateRequest{Room: room, Username: req.Username, Seconds: req.Seconds, Reason: req.Reason})
	if err != nil {
		return proto.ModerationAck{}, err
	}
	reply, err := o.chat.up.moderate(proto.PresenceModerate{Action: action, ModerateRequest: r, By: by})
	if err != nil {
		return proto.ModerationAck{}, err
	}
	return proto.ModerationAck{OK: true, Moderation: reply.Moderation}, nil
}

func (o *apiOps) role(_ context.Context, req proto.PresenceRole) (proto.OKAck, error) {
	if err := proto.ValidateRoleGrant(req); err != nil {
		return proto.OKAck{}, err
	}
	if err := o.chat.up.setRole(req); err != nil {
		return proto.OKAck{}, err
	}
	return proto.OKAck{OK: true}, nil
}

func (o *apiOps) moderationLog(_ context.Context, req proto.PresenceModerationLog) (proto.ModerationLogReply, error) {
	req, err := proto.ValidateModerationLog(req)
	if err != nil {
		return proto.ModerationLogReply{}, err
	}
	return o.chat.up.moderationLog(req)
}

// deleteMessage deletes a room message as a moderator: history appends
// the tombstone and erases the text (services/history/edits.go).
func (o *apiOps) deleteMessage(_ context.Context, req proto.APIDeleteRequest) (proto.EditAck, error) {
	room, err := apiRoom(req.Room)
	if err != nil {
		return proto.EditAck{}, err
	}
	by, err := botName(req.By)
	if err != nil {
		return proto.EditAck{}, err
	}
	if !proto.ValidID(req.ID) {
		return proto.EditAck{}, proto.Errorf(proto.CodeBadRequest, "delete takes the id of a message")
	}
	return o.chat.deleteOrEdit(proto.HistoryEdit{Room: room, ID: req.ID, Session: proto.SystemSessionID,
		Delete: true, Moderator: true, By: by})
}

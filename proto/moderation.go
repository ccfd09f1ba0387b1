package proto

import (
	"crypto/sha256"
	"encoding/base64"
	"time"
	"unicode/utf8"
)

// Moderation: roles, and what moderators do to users in rooms (mute,
// kick, ban, and undo), from a socket or through the server API.

// Roles a user may have: from the role claim of their token, or granted
// through the server API (APIRole). A role that is neither is a member's.
const (
	RoleModerator = "moderator"
	RoleAdmin     = "admin"
)

// CanModerate reports whether role may moderate: moderators and admins.
func CanModerate(role string) bool { return role == RoleModerator || role == RoleAdmin }

// ValidRole reports whether role can be granted ("" revokes a grant).
func ValidRole(role string) bool { return role == "" || CanModerate(role) }

// The moderation events, client → server, acked with ModerationAck; each
// takes a ModerateRequest.
const (
	EventMute   = "mute"
	EventUnmute = "unmute"
	EventKick   = "kick"
	EventBan    = "ban"
	EventUnban  = "unban"
	// EventModeration, server → everyone in the room, announces an action
	// (a Moderation).
	EventModeration = "moderation"
	// ActionDelete is the action of a moderator's deletion of a message
	// (a socket's "delete message" or the server API's delete), in the
	// log and announced with the others; it is no ModerateRequest.
	ActionDelete = "delete"
)

// ModerationActions lists the actions, each also the name of its event
// and of its server API operation.
var ModerationActions = []string{EventMute, EventUnmute, EventKick, EventBan, EventUnban}

// IsModerationAction reports whether a is one of ModerationActions.
func IsModerationAction(a string) bool {
	for _, x := range ModerationActions {
		if x == a {
			return true
		}
	}
	return false
}

// Bounds of a moderation request.
const (
	// MaxModerationSeconds bounds a mute or ban: a year. Longer is for good (0).
	MaxModerationSeconds = 366 * 24 * 3600
	// MaxReasonRunes bounds a reason's length.
	MaxReasonRunes = 200
	// MaxModerationLog is how many recent actions are kept, and the most
	// a listing returns.
	MaxModerationLog = 1000
)

// ModerateRequest is a moderation event's argument: the user named
// Username in Room (a socket's own room when empty), for Seconds (mute
// and ban; 0 is for good), with an optional Reason shown to the room.
type ModerateRequest struct {
	Room     string `json:"room,omitempty"`
	Username string `json:"username"`
	Seconds  int64  `json:"seconds,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// Moderation is one action, as the room is told of it (EventModeration),
// as the events stream carries it, and as the server API lists it.
type Moderation struct {
	// ID is the action's unique id: also HeaderEventID on the events
	// stream, for a consumer to dedupe by.
	ID       string `json:"id"`
	Action   string `json:"action"`
	Room     string `json:"room"`
	Username string `json:"username"`
	By       string `json:"by"`
	// Until is when a mute or ban ends, in Unix milliseconds; absent for
	// one for good and for the other actions.
	Until  int64  `json:"until,omitempty"`
	Reason string `json:"reason,omitempty"`
	// MessageID is the id of the message an ActionDelete deleted.
	MessageID string `json:"messageId,omitempty"`
	TS        int64  `json:"ts"`
}

// ModerationAck answers a moderation event or API operation.
type ModerationAck struct {
	OK         bool       `json:"ok"` // always true
	Moderation Moderation `json:"moderation"`
}

// IdentityID is the moderation key of an authenticated user's identity:
// a hash of their tokens' subject, safe in keys and subjects.
func IdentityID(subject string) string {
	h := sha256.Sum256([]byte("natter identity id\x00" + subject))
	return base64.RawURLEncoding.EncodeToString(h[:18])
}

// Moderation targets: what a mute or ban holds on. An authenticated
// user's is their identity; an anonymous user's their name's key
// (NameKey), so a look-alike name is held too.
func IdentityTarget(identityID string) string { return "id:" + identityID }
func NameTarget(nameKey string) string        { return "name:" + nameKey }

// PresenceModerate asks presence to carry out an action (presence keeps
// the bans, mutes and log, announces the action to the room and on the
// events stream). By is the moderator's name.
type PresenceModerate struct {
	Action string `json:"action"`
	ModerateRequest
	By string `json:"by"`
}

// PresenceModerateReply answers PresenceModerate.
type PresenceModerateReply struct {
	Error      *Error     `json:"error,omitempty"`
	Moderation Moderation `json:"moderation"`
}

// PresenceDeleted tells presence that By, a moderator, deleted the
// message ID of Username in Room (history made the deletion): presence
// logs it and announces it as an ActionDelete.
type PresenceDeleted struct {
	Room     string `json:"room"`
	ID       string `json:"id"`
	Username string `json:"username,omitempty"`
	By       string `json:"by"`
}

// PresenceRole grants Role to the identity whose tokens' subject is
// Subject ("" revokes the grant). Answered with an ErrorAck.
type PresenceRole struct {
	Subject string `json:"subject"`
	Role    string `json:"role"`
}

// PresenceModerationLog asks for the newest Limit actions, newest first,
// of Room (every room when empty).
type PresenceModerationLog struct {
	Room  string `json:"room,omitempty"`
	Limit int    `json:"limit,omitempty"`
}

// ModerationLogReply answers PresenceModerationLog and APIModeration.
type ModerationLogReply struct {
	OK      bool         `json:"ok"`
	Error   *Error       `json:"error,omitempty"`
	Actions []Moderation `json:"actions"`
}

func (r PresenceModerateReply) ReplyError() *Error { return r.Error }
func (r ModerationLogReply) ReplyError() *Error    { return r.Error }

// Presence's moderation subjects.
const (
	PresenceModerateSubject      = "natter.presence.moderate"
	PresenceRoleSubject          = "natter.presence.role"
	PresenceModerationLogSubject = "natter.presence.moderation"
	// PresenceDeletedSubject records a moderator's deletion (a
	// PresenceDeleted, answered with a PresenceModerateReply).
	PresenceDeletedSubject = "natter.presence.deleted"
	// HeaderModerationTarget, on a moderation notice (RoomPresenceSubject,
	// HeaderEvent EventModeration), is the target it holds on
	// (IdentityTarget or NameTarget): how gateways find whom a mute or
	// kick is for. Never sent to clients.
	HeaderModerationTarget = "Natter-Moderation-Target"
)

// The server API's moderation operations: ModerationActions each take an
// APIModerateRequest → ModerationAck; APIRole takes PresenceRole →
// OKAck; APIModeration takes PresenceModerationLog → ModerationLogReply.
const (
	APIRole       = "role"
	APIModeration = "moderation"
)

// APIModerateRequest is a backend's moderation action: as a moderator's
// (ModerateRequest, Room required), by the name By (SystemName when empty).
type APIModerateRequest struct {
	Room     string `json:"room"`
	Username string `json:"username"`
	Seconds  int64  `json:"seconds,omitempty"`
	Reason   string `json:"reason,omitempty"`
	By       string `json:"by,omitempty"`
}

// UntilMillis is the Until of an action lasting seconds from now: 0 (for
// good) when seconds is 0.
func UntilMillis(now time.Time, seconds int64) int64 {
	if seconds <= 0 {
		return 0
	}
	return now.Add(time.Duration(seconds) * time.Second).UnixMilli()
}

// ValidateModerate checks a moderation request and returns it
// normalized: the room (when given) and the target's name under their
// rules, the time within bounds, the reason a short valid text.
func ValidateModerate(action string, req ModerateRequest) (ModerateRequest, error) {
	if !IsModerationAction(action) {
		return req, Errorf(CodeBadRequest, "no action %q", action)
	}
	var err error
	if req.Room != "" {
		if req.Room, err = NormalizeRoom(req.Room); err != nil {
			return req, err
		}
	}
	if req.Username, err = NormalizeName(req.Username); err != nil {
		return req, Errorf(CodeBadRequest, "username: %s", AsError(err).Message)
	}
	if req.Seconds < 0 || req.Seconds > MaxModerationSeconds {
		return req, Errorf(CodeBadRequest, "seconds must be 0 (for good) to %d", MaxModerationSeconds)
	}
	if req.Seconds != 0 && action != EventMute && action != EventBan {
		return req, Errorf(CodeBadRequest, "only a mute or a ban lasts seconds")
	}
	if req.Reason != "" {
		if ValidateMessage(req.Reason) != nil || utf8.RuneCountInString(req.Reason) > MaxReasonRunes {
			return req, Errorf(CodeBadRequest, "a reason is a text of at most %d characters", MaxReasonRunes)
		}
	}
	return req, nil
}

// MaxSubjectBytes bounds a token's subject (sub), and an APIRole's.
const MaxSubjectBytes = 256

// RoleGranted, on RoleGrantedSubject, tells every gateway that the
// identity Identity (IdentityID) now has the granted role Role ("":
// revoked): it applies at once to its connections joined now.
type RoleGranted struct {
	Identity string `json:"identity"`
	Role     string `json:"role"`
}

// RoleGrantedSubject carries RoleGranted to every gateway (no queue group).
const RoleGrantedSubject = "natter.roles.granted"

// ValidateRoleGrant checks a PresenceRole (APIRole).
func ValidateRoleGrant(r PresenceRole) error {
	if r.Subject == "" || len(r.Subject) > MaxSubjectBytes || !ValidRole(r.Role) {
		return Errorf(CodeBadRequest, "a role is granted to a subject (1 to %d bytes): %q or %q, or \"\" to revoke", MaxSubjectBytes, RoleModerator, RoleAdmin)
	}
	return nil
}

// ValidateModerationLog checks a PresenceModerationLog (APIModeration)
// and returns it normalized: the room under its rules, the limit
// MaxHistoryPage when 0.
func ValidateModerationLog(r PresenceModerationLog) (PresenceModerationLog, error) {
	if r.Room != "" {
		var err error
		if r.Room, err = NormalizeRoom(r.Room); err != nil {
			return r, err
		}
	}
	if r.Limit == 0 {
		r.Limit = MaxHistoryPage
	}
	if r.Limit < 0 || r.Limit > MaxModerationLog {
		return r, Errorf(CodeBadRequest, "limit is 1 to %d", MaxModerationLog)
	}
	return r, nil
}

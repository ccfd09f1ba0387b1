package proto

import (
	"encoding/base64"
	"fmt"
	"regexp"
)

// NATS subjects. User-chosen names and rooms never appear raw in a subject:
// they are encoded here, and only here, as base64url tokens, which contain
// no ".", "*", ">" or white space.

// Names of the JetStream stream and the queue groups.
const (
	MessagesStream = "NATTER_MESSAGES"
	PresenceQueue  = "presence"
	HistoryQueue   = "history"
)

// Request subjects, answered by a queue group.
const (
	PresenceJoinSubject    = "natter.presence.join"
	PresenceLeaveSubject   = "natter.presence.leave"
	PresenceLookupSubject  = "natter.presence.lookup"
	PresenceMembersSubject = "natter.presence.members"
	PresenceRoomsSubject   = "natter.presence.rooms"
	// PresenceResyncSubject asks every gateway to announce its live
	// connections again: presence lost its state.
	PresenceResyncSubject = "natter.presence.resync"
	HistoryQuerySubject   = "natter.history.query"
	// GatewayHeartbeatSubject carries every gateway's heartbeat, to every
	// presence replica (no queue group).
	GatewayHeartbeatSubject = "natter.gateway.heartbeat"
)

// Wildcards of the stream's subjects.
const (
	// MessagesStreamSubjects is what the messages stream stores.
	MessagesStreamSubjects = "natter.msg.*"
	// LiveMessagesTemplate is where the stream republishes what it stored:
	// natter.live.<room token>.msg.
	LiveMessagesTemplate = "natter.live.{{wildcard(1)}}.msg"
)

// Token encodes a user-chosen string for a subject.
func Token(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// FromToken decodes a Token.
func FromToken(t string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return "", fmt.Errorf("subject token %q: %w", t, err)
	}
	return string(b), nil
}

// RoomMsgSubject is where a room's messages are published to be stored.
func RoomMsgSubject(room string) string { return "natter.msg." + Token(room) }

// RoomLiveSubject is the wildcard of everything live in a room: stored
// messages, presence notices and typing. A gateway holds one subscription
// to it for each room with local members.
func RoomLiveSubject(room string) string { return "natter.live." + Token(room) + ".*" }

// RoomLiveKind returns the last token of a live subject: LiveMsg,
// LivePresence or LiveTyping.
func RoomLiveKind(subject string) string {
	for i := len(subject) - 1; i >= 0; i-- {
		if subject[i] == '.' {
			return subject[i+1:]
		}
	}
	return subject
}

// Kinds of live room subjects.
const (
	LiveMsg      = "msg"
	LivePresence = "presence"
	LiveTyping   = "typing"
)

// RoomPresenceSubject carries a room's join and leave notices.
func RoomPresenceSubject(room string) string {
	return "natter.live." + Token(room) + "." + LivePresence
}

// RoomTypingSubject carries a room's typing notices.
func RoomTypingSubject(room string) string { return "natter.live." + Token(room) + "." + LiveTyping }

// UserWhisperSubject carries the whispers of the user whose NameKey is key:
// those to them, and those they sent (for their other connections).
func UserWhisperSubject(key string) string { return "natter.user." + Token(key) + ".whisper" }

var gatewayIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidGatewayID reports whether id may name a gateway in a subject.
func ValidGatewayID(id string) bool { return gatewayIDPattern.MatchString(id) }

// Headers of natter's NATS messages.
const (
	// HeaderEvent names the event of a room presence notice: "join" or "leave".
	HeaderEvent = "Natter-Event"
	// HeaderOrigin names the connection a whisper or typing notice came
	// from, as gateway/conn, so that it is not echoed to it.
	HeaderOrigin = "Natter-Origin"
)

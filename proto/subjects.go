package proto

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
)

// NATS subjects. User-chosen names and rooms never appear raw in a subject:
// they are encoded here, and only here, as base64url tokens, which contain
// no ".", "*", ">" or white space. Session ids (SessionID), base64url
// already and made by proto, go in as they are.

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
	// PresenceEndSessionSubject ends a session (PresenceEndSession).
	PresenceEndSessionSubject = "natter.presence.endsession"
	// SessionEndedSubject tells every gateway that a session has ended
	// (SessionEnded): they disconnect its other tabs.
	SessionEndedSubject = "natter.session.ended"
	// PresenceRenameSubject renames a session (PresenceRename);
	// SessionRenamedSubject tells every gateway of it (SessionRenamed):
	// they switch its connections to the new name.
	PresenceRenameSubject = "natter.presence.rename"
	SessionRenamedSubject = "natter.session.renamed"
	// PresenceResyncSubject asks gateways to announce their live
	// connections again (PresenceResync): presence lost its state, or took
	// a gateway for dead and has heard from it again.
	PresenceResyncSubject = "natter.presence.resync"
	HistoryQuerySubject   = "natter.history.query"
	// WhispersQuerySubject asks for one user's whispers; only a gateway,
	// for the user joined on a connection, asks it.
	WhispersQuerySubject = "natter.history.whispers"
	// ReadMarkSubject moves a session's read position in a room
	// (ReadMark); UnreadQuerySubject reads them with the unread counts
	// (UnreadQuery). Only a gateway asks, for the session joined on a
	// connection.
	ReadMarkSubject    = "natter.history.read"
	UnreadQuerySubject = "natter.history.unread"
	// GatewayHeartbeatSubject carries every gateway's heartbeat, to every
	// presence replica (no queue group).
	GatewayHeartbeatSubject = "natter.gateway.heartbeat"
)

// The messages stream stores everything a user says: room messages under
// natter.msg.room.<room token> and whispers under natter.msg.dm.<session
// id>.<session id>, the ids of the two users' sessions (SessionID) in
// order, so that one subject holds one conversation. Whispers belong to
// sessions, not to names: a name freed and taken again reaches none of
// the whispers of its earlier holder. A room's history is read from its
// own subject only, so no whisper can appear in it. The stream republishes
// what it has stored under natter.stored.> (natter.stored.room.… and
// natter.stored.dm.…, with the sequence in the Nats-Sequence header):
// gateways fan out only what is stored, once, in the stream's order.
const (
	// MessagesStreamSubjects is what the messages stream stores.
	MessagesStreamSubjects = "natter.msg.>"
	// StoredSubjects is where the stream republishes what it stored.
	StoredSubjects = "natter.stored.>"
	// RoomMsgPrefix and WhisperMsgPrefix begin the stream's subjects.
	RoomMsgPrefix    = "natter.msg.room."
	WhisperMsgPrefix = "natter.msg.dm."
	// StoredRoomPrefix and StoredWhisperPrefix begin the republished ones.
	StoredRoomPrefix    = "natter.stored.room."
	StoredWhisperPrefix = "natter.stored.dm."
)

// The events stream keeps every room's join and leave notices
// (RoomPresenceSubject), as presence publishes them, for services that
// follow along (an audit log, a notification sender): a durable consumer
// of it gets each at least once, and dedupes by HeaderEventID. Messages
// are followed on the messages stream itself (RoomMsgPrefix), by their id.
const (
	EventsStream = "NATTER_EVENTS"
	// EventsStreamSubjects is what the events stream stores.
	EventsStreamSubjects = liveRoomPrefix + "*." + LivePresence
)

// JetStream key-value buckets, owned (created) by the history service.
const (
	// RecoveryBucket maps a hash of a connection's private id (Socket.IO's
	// pid) to what recovering it needs: see RecoveryState.
	RecoveryBucket = "natter_recovery"
	// DedupBucket maps a message's deduplication id to its stream
	// sequence, for longer than JetStream's own deduplication window.
	DedupBucket = "natter_dedup"
	// ReadBucket maps a session id (SessionID) to its read positions
	// (ReadPositions).
	ReadBucket = "natter_read"
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
func RoomMsgSubject(room string) string { return RoomMsgPrefix + Token(room) }

// ParseRoomMsgSubject returns the room of a RoomMsgSubject; ok is false
// for another subject, err set for one whose room token does not decode.
func ParseRoomMsgSubject(subject string) (room string, ok bool, err error) {
	t, ok := strings.CutPrefix(subject, RoomMsgPrefix)
	if !ok {
		return "", false, nil
	}
	room, err = FromToken(t)
	return room, true, err
}

// ParseWhisperMsgSubject returns the two session ids of a
// WhisperMsgSubject; ok is false for another subject, or one whose parties
// are not session ids (stored under the name keys of an earlier version).
func ParseWhisperMsgSubject(subject string) (a, b string, ok bool) {
	rest, ok := strings.CutPrefix(subject, WhisperMsgPrefix)
	if !ok {
		return "", "", false
	}
	return WhisperParties(rest)
}

// RoomStoredSubject is where the stream republishes a room's messages.
func RoomStoredSubject(room string) string { return StoredRoomPrefix + Token(room) }

// WhisperMsgSubject is where the whispers between the sessions with ids a
// and b (in either direction) are published to be stored. Session ids
// (ValidSessionID) go into subjects as they are.
func WhisperMsgSubject(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return WhisperMsgPrefix + a + "." + b
}

// UserWhisperFilters are the stream subjects of every whisper to or from
// the session with id sid.
func UserWhisperFilters(sid string) []string {
	return []string{WhisperMsgPrefix + sid + ".*", WhisperMsgPrefix + "*." + sid}
}

// UserStoredWhisperSubjects are the republished subjects of every whisper
// to or from the session with id sid. A whisper to oneself matches both.
func UserStoredWhisperSubjects(sid string) []string {
	return []string{StoredWhisperPrefix + sid + ".*", StoredWhisperPrefix + "*." + sid}
}

// WhisperParties returns the session ids in a whisper subject, stored or
// republished: rest is what follows the prefix. ok is false unless both
// are session ids.
func WhisperParties(rest string) (a, b string, ok bool) {
	for i := 0; i < len(rest); i++ {
		if rest[i] == '.' {
			a, b = rest[:i], rest[i+1:]
			return a, b, ValidSessionID(a) && ValidSessionID(b)
		}
	}
	return "", "", false
}

// RoomLiveSubject is the wildcard of a room's notices: presence and
// typing. A gateway holds one subscription to it for each room with local
// members (and one to RoomStoredSubject for its messages).
func RoomLiveSubject(room string) string { return liveRoomPrefix + Token(room) + ".*" }

const liveRoomPrefix = "natter.live."

// RoomLiveKind returns the last token of a live subject: LivePresence or
// LiveTyping.
func RoomLiveKind(subject string) string {
	for i := len(subject) - 1; i >= 0; i-- {
		if subject[i] == '.' {
			return subject[i+1:]
		}
	}
	return subject
}

// RoomLiveToken returns the room token of a live subject,
// natter.live.<token>.<kind>: what Token made of the room.
func RoomLiveToken(subject string) string {
	rest := strings.TrimPrefix(subject, liveRoomPrefix)
	if i := strings.IndexByte(rest, '.'); i >= 0 {
		return rest[:i]
	}
	return rest
}

// StoredRoomToken returns the room token of a republished room message's
// subject (RoomStoredSubject); ok is false for any other subject.
func StoredRoomToken(subject string) (token string, ok bool) {
	return strings.CutPrefix(subject, StoredRoomPrefix)
}

// StoredWhisperParties returns the session ids of a republished
// whisper's subject (UserStoredWhisperSubjects), as WhisperParties does;
// isWhisper is false for any other subject.
func StoredWhisperParties(subject string) (a, b string, isWhisper, ok bool) {
	rest, isWhisper := strings.CutPrefix(subject, StoredWhisperPrefix)
	if !isWhisper {
		return "", "", false, false
	}
	a, b, ok = WhisperParties(rest)
	return a, b, true, ok
}

// Kinds of live room subjects.
const (
	LivePresence = "presence"
	LiveTyping   = "typing"
)

// RoomPresenceSubject carries a room's join and leave notices.
func RoomPresenceSubject(room string) string {
	return liveRoomPrefix + Token(room) + "." + LivePresence
}

// RoomTypingSubject carries a room's typing notices.
func RoomTypingSubject(room string) string { return liveRoomPrefix + Token(room) + "." + LiveTyping }

var gatewayIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidGatewayID reports whether id may name a gateway in a subject.
func ValidGatewayID(id string) bool { return gatewayIDPattern.MatchString(id) }

// Each gateway answers the others on subjects of its own,
// natter.gateway.<id>.<kind>: long-polling without sticky sessions.
const (
	// GatewayHTTP carries a polling request passed on to the gateway
	// owning its session, which answers it.
	GatewayHTTP = "http"
	// GatewayCancel says that the client of a request passed on gave up
	// (the request's id).
	GatewayCancel = "cancel"
	// GatewayAddr asks the gateway where other gateways reach it over
	// TCP (it answers host:port), to pass a WebSocket on; an answer also
	// says that the gateway lives.
	GatewayAddr = "addr"

	gatewayPrefix = "natter.gateway."
)

// GatewayHTTPSubject is where gateway id answers polling requests passed on.
func GatewayHTTPSubject(id string) string { return GatewaySubject(id, GatewayHTTP) }

// GatewayCancelSubject is where gateway id hears of passed-on requests given up.
func GatewayCancelSubject(id string) string { return GatewaySubject(id, GatewayCancel) }

// GatewayAddrSubject is where gateway id tells where it listens.
func GatewayAddrSubject(id string) string { return GatewaySubject(id, GatewayAddr) }

// GatewaySubject is gateway id's subject of kind: GatewayHTTP,
// GatewayCancel or GatewayAddr. id is a ValidGatewayID.
func GatewaySubject(id, kind string) string { return gatewayPrefix + id + "." + kind }

// ParseGatewaySubject returns the gateway id and the kind of a
// GatewaySubject; ok is false for any other subject (the heartbeats'
// included).
func ParseGatewaySubject(subject string) (id, kind string, ok bool) {
	rest, found := strings.CutPrefix(subject, gatewayPrefix)
	if !found {
		return "", "", false
	}
	id, kind, found = strings.Cut(rest, ".")
	if !found || !ValidGatewayID(id) {
		return "", "", false
	}
	switch kind {
	case GatewayHTTP, GatewayCancel, GatewayAddr:
		return id, kind, true
	}
	return "", "", false
}

// Headers of natter's NATS messages.
const (
	// HeaderEvent names the event of a room presence notice: "join" or "leave".
	HeaderEvent = "Natter-Event"
	// HeaderOrigin names the connection a whisper or typing notice came
	// from, as gateway/conn, so that it is not echoed to it. The stream
	// keeps it, and republishes it with the whisper.
	HeaderOrigin = "Natter-Origin"
	// HeaderEventID is a presence notice's unique id, for a consumer to
	// dedupe by; also its Nats-Msg-Id, by which the events stream stores
	// it once.
	HeaderEventID = "Natter-Event-Id"
	// HeaderBudget is how long, in milliseconds, the asker of a request
	// (rpc.Call) still waits for its answer as it sends it. A responder
	// that has not begun serving it that long after it arrived drops it
	// unanswered (rpc.GivenUp): the asker has given up on it, or asked
	// again. Relative, not a time of day, so that clocks need not agree.
	HeaderBudget = "Natter-Budget"
)

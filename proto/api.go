package proto

import "slices"

// The server API: what a backend asks of natter, over HTTP with an API
// key (POST APIPath(op), a JSON body) or over NATS request/reply
// (APISubject(op), the same JSON). Each operation takes one request type
// and answers with one reply type, or an ErrorAck.

// APIPrefix is the HTTP path under which the gateways serve the API.
const APIPrefix = "/api/v1/"

// The operations of the server API.
const (
	APIPublish    = "publish"    // APIPublishRequest → SentAck
	APIWhisper    = "whisper"    // APIWhisperRequest → SentAck
	APIRooms      = "rooms"      // APIRoomsRequest → RoomsAck
	APIMembers    = "members"    // MembersRequest (Room required) → MembersAck
	APIHistory    = "history"    // HistoryRequest (Room required) → HistoryAck
	APIDisconnect = "disconnect" // APIDisconnectRequest → APIDisconnectReply
	APIDelete     = "delete"     // APIDeleteRequest → EditAck
)

// APIOps lists the operations, in the order proto/README.md documents them.
var APIOps = slices.Concat([]string{APIPublish, APIWhisper, APIRooms, APIMembers, APIHistory, APIDisconnect},
	ModerationActions, []string{APIDelete, APIRole, APIModeration})

// APIQueue is the queue group of the gateways answering the API over NATS.
const APIQueue = "api"

// MaxAPIBody bounds an API request's body, in bytes: a message of
// MaxMessageRunes characters of four bytes each, escaped, fits.
const MaxAPIBody = 64 << 10

// SystemName is the name that a backend's message or whisper shows when
// the request names no bot (From).
const SystemName = "system"

// SystemSessionID is the session the whispers of the API come from: a
// SessionID in form, which no token hashes to. No client holds it, so
// no one receives or reads these whispers but their recipient.
const SystemSessionID = "natter_system_0000000000"

// APIPath is the HTTP path of op.
func APIPath(op string) string { return APIPrefix + op }

// APISubject is the NATS subject of op.
func APISubject(op string) string { return "natter.api." + op }

// APIPublishRequest publishes a message into a room, as a client's
// "client message" is: stored, delivered to every member, in history.
// It is marked as a bot's (Message.Bot), under the name From (a name
// under the name rules; SystemName when empty).
type APIPublishRequest struct {
	Room    string `json:"room"`
	Message string `json:"message"`
	From    string `json:"from,omitempty"`
	// ClientID, when set, stores the message at most once for one From
	// within JetStream's deduplication window (NATTER_HISTORY_DUPLICATES):
	// a resend acks the id stored the first time.
	ClientID string `json:"clientId,omitempty"`
}

// APIWhisperRequest whispers to the user holding the name To: stored
// with their whispers, delivered to each of their connections, seen by
// nobody else. From and ClientID are as in APIPublishRequest.
type APIWhisperRequest struct {
	To       string `json:"to"`
	Message  string `json:"message"`
	From     string `json:"from,omitempty"`
	ClientID string `json:"clientId,omitempty"`
}

// APIDeleteRequest deletes the message ID of Room as a moderator's
// "delete message" does: history appends a tombstone, erases the text,
// and the room hears "message deleted". By is the name the tombstone
// shows as deletedBy (a name under the name rules; SystemName when empty).
type APIDeleteRequest struct {
	Room string `json:"room"`
	ID   string `json:"id"`
	By   string `json:"by,omitempty"`
}

// APIRoomsRequest lists the rooms with members; it has no fields.
type APIRoomsRequest struct{}

// APIDisconnectRequest disconnects every connection of the user holding
// the name User, on every gateway; or, instead, the one connection Conn
// (its Socket.IO socket id, the client's socket.id) of the gateway
// Gateway, if it is joined to a room. The connections are told why (EventDisconnectReason,
// CodeDisconnected) and leave their rooms at once; they are not
// recovered, and the session is not ended: the user may join again.
type APIDisconnectRequest struct {
	User    string `json:"user,omitempty"`
	Gateway string `json:"gateway,omitempty"`
	Conn    string `json:"conn,omitempty"`
}

// APIDisconnectReply answers APIDisconnectRequest: the disconnect was
// sent to every gateway (DisconnectSubject). A user who was not online
// is no_such_user; an unknown connection is no error.
type APIDisconnectReply struct {
	OK bool `json:"ok"`
}

// Disconnect, on DisconnectSubject, asks every gateway to disconnect the
// connections of the session SessionID, or the connection Conn of the
// gateway Gateway.
type Disconnect struct {
	SessionID string `json:"sessionId,omitempty"`
	Gateway   string `json:"gateway,omitempty"`
	Conn      string `json:"conn,omitempty"`
}

// DisconnectSubject carries Disconnect to every gateway (no queue group).
const DisconnectSubject = "natter.conns.disconnect"

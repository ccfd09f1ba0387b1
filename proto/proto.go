// Package proto is natter's one contract: the events and payloads that
// clients exchange with the gateways, the limits on them and their
// validation, and the NATS subjects and messages the services meet on.
// README.md documents the client protocol.
package proto

// Client events, as the seed's page names them.
const (
	EventJoin          = "join"           // client → server, and server → others in the room
	EventClientMessage = "client message" // client → server
	EventServerMessage = "server message" // server → everyone in the room
	EventLeave         = "leave"          // server → others in the room
	EventWhisper       = "whisper"        // both ways
	EventTyping        = "typing"         // both ways
	EventMembers       = "members"        // client → server, acked
	EventRooms         = "rooms"          // client → server, acked
	EventHistory       = "history"        // client → server, acked
	EventWhispers      = "whispers"       // client → server, acked
	// EventLogout ends the session (client → server, acked): every tab
	// of it leaves, its name is free at once and its token resumes
	// nothing.
	EventLogout = "logout"
	// EventDisconnectReason (server → client) says why the server is
	// about to disconnect the connection: an *Error, such as
	// token_expired.
	EventDisconnectReason = "disconnect reason"
)

// MaxHistoryPage bounds the limit of a history request.
const MaxHistoryPage = 100

// DefaultRoom is the room of a join that names none.
const DefaultRoom = "lobby"

// HistoryOnJoin is how many messages a join ack carries.
const HistoryOnJoin = 50

// JoinRequest is the payload of a client's join.
type JoinRequest struct {
	Username string `json:"username"`
	Room     string `json:"room,omitempty"`
	Token    string `json:"token,omitempty"`
	// Since is the id of the last message of Room the client has: the ack's
	// history is then what came after it (see JoinAck.Gap).
	Since string `json:"since,omitempty"`
	// Keep adds Room to the connection's rooms instead of moving the
	// connection there (see proto/rooms.go).
	Keep bool `json:"keep,omitempty"`
}

// Member is a user in a room.
type Member struct {
	Username string `json:"username"`
	Color    string `json:"color"`
}

// JoinAck answers a successful join.
type JoinAck struct {
	OK       bool     `json:"ok"`
	Username string   `json:"username"`
	Color    string   `json:"color"`
	Token    string   `json:"token"`
	Room     string   `json:"room"`
	Members  []Member `json:"members"` // the first MembersOnJoin, by name key
	// MemberCount is how many users the room has: more than Members when
	// the "members" event has more pages.
	MemberCount int       `json:"memberCount"`
	History     []Message `json:"history"`
	// Gap is set when the join named Since but what came after it is no
	// longer all there (older than the retention, or more than a page):
	// History is then the newest page, and the client should show it in
	// place of what it had.
	Gap bool `json:"gap,omitempty"`
	// Changed, with Since (and no Gap), is the messages up to Since that
	// were edited or deleted after it, as they are now: the client shows
	// them in place of what it has.
	Changed []Message `json:"changed,omitempty"`
	// Moderator says the connection may delete anyone's messages (its
	// role: proto.CanModerate).
	Moderator bool `json:"moderator,omitempty"`
	// HistoryError is set when history could not be read (the history
	// service did not answer): the join holds, History is empty and says
	// nothing of the room, and the client should ask "history" later.
	HistoryError *Error `json:"historyError,omitempty"`
}

// ClientMessage is the payload of a client's "client message".
type ClientMessage struct {
	Room     string `json:"room,omitempty"` // one of the connection's; default its current
	Message  string `json:"message"`
	ClientID string `json:"clientId,omitempty"`
}

// Message is a chat message: the payload of "server message", and what
// history stores.
type Message struct {
	ID       string `json:"id"`
	Room     string `json:"room"`
	Username string `json:"username"`
	Color    string `json:"color"`
	Message  string `json:"message"`
	TS       int64  `json:"ts"` // Unix milliseconds
	// Bot marks a message a backend published through the server API:
	// Username is then the bot's name (proto.SystemName when it gave
	// none), not a user's. Absent on users' messages.
	Bot bool `json:"bot,omitempty"`
	// EditedAt is when the message was last edited (Unix milliseconds);
	// absent on one never edited.
	EditedAt int64 `json:"editedAt,omitempty"`
	// Deleted marks a tombstone: the message was deleted, and Message is
	// empty. DeletedBy names the moderator who deleted it, when it was
	// not its own user (see edit.go).
	Deleted   bool   `json:"deleted,omitempty"`
	DeletedBy string `json:"deletedBy,omitempty"`
}

// WhisperRequest is the payload of a client's "whisper".
type WhisperRequest struct {
	To       string `json:"to"`
	Message  string `json:"message"`
	ClientID string `json:"clientId,omitempty"`
}

// Whisper is a private message, as its two users receive it.
type Whisper struct {
	ID      string `json:"id"`
	From    string `json:"from"`
	To      string `json:"to"`
	Message string `json:"message"`
	TS      int64  `json:"ts"`
	// Bot marks a whisper from a backend (the server API): From is the
	// bot's name, not a user's, and there is no one to answer.
	Bot bool `json:"bot,omitempty"`
}

// SentAck answers a stored message or a delivered whisper.
type SentAck struct {
	OK bool   `json:"ok"`
	ID string `json:"id"`
	TS int64  `json:"ts"`
}

// TypingRequest is the payload of a client's "typing".
type TypingRequest struct {
	Room string `json:"room,omitempty"` // as ClientMessage.Room
	On   bool   `json:"on"`
}

// Typing tells a room that a user is typing, or has stopped.
type Typing struct {
	Username string `json:"username"`
	Room     string `json:"room"`
	On       bool   `json:"on"`
}

// JoinNotice tells a room that a user arrived.
type JoinNotice struct {
	Username string `json:"username"`
	Color    string `json:"color"`
	Room     string `json:"room"`
}

// LeaveNotice tells a room that a user left.
type LeaveNotice struct {
	Username string `json:"username"`
	Room     string `json:"room"`
}

// HistoryRequest is the payload of a client's "history": the newest
// Limit (at most MaxHistoryPage; default HistoryOnJoin) messages of Room
// (default: the room joined) before the message with id Before (default:
// the newest).
type HistoryRequest struct {
	Room   string `json:"room,omitempty"`
	Before string `json:"before,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// WhispersRequest is the payload of a client's "whispers": the newest
// Limit (at most MaxHistoryPage; default HistoryOnJoin) whispers to or
// from the user joined on the connection — only with the user With, if
// set — before the whisper with id Before (default: the newest).
type WhispersRequest struct {
	With   string `json:"with,omitempty"`
	Before string `json:"before,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// WhispersAck answers a whispers request, oldest first.
type WhispersAck struct {
	OK       bool      `json:"ok"`
	Whispers []Whisper `json:"whispers"`
}

// HistoryAck answers a history request.
type HistoryAck struct {
	OK       bool      `json:"ok"`
	Room     string    `json:"room"`
	Messages []Message `json:"messages"`
}

// RoomsAck answers a rooms request: every room with users, and how many.
type RoomsAck struct {
	OK    bool        `json:"ok"`
	Rooms []RoomCount `json:"rooms"`
}

// OKAck answers a request that succeeded and has nothing more to say
// (logout).
type OKAck struct {
	OK bool `json:"ok"` // always true
}

// ErrorAck answers a request that failed.
type ErrorAck struct {
	OK    bool   `json:"ok"` // always false
	Error *Error `json:"error"`
}

// Ack returns the ack payload of err: its *Error, or "internal".
func Ack(err error) ErrorAck { return ErrorAck{Error: AsError(err)} }

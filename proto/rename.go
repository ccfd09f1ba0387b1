package proto

// Renaming a session: "rename" gives the connection's session a new name,
// keeping its token, colour, whispers, read positions and rooms. The old
// name is free at once, for anyone; whispers to it are the next holder's
// (or no_such_user while nobody holds it), never the renamed session's.

// Rename events.
const (
	// EventRename asks for the connection's session to take a new name
	// (client → server, acked with RenameAck).
	EventRename = "rename"
	// EventRenamed tells each connection of the session that it has a
	// new name (server → client, Renamed): what it sends from then on
	// carries it.
	EventRenamed = "renamed"
	// EventUserRenamed tells everyone else in each of the session's rooms
	// (server → client, RenameNotice), once per room.
	EventUserRenamed = "user renamed"
)

// RenameRequest is the payload of a client's "rename".
type RenameRequest struct {
	Username string `json:"username"`
}

// RenameAck answers "rename": the session's name now, and its colour and
// token, which stay.
type RenameAck struct {
	OK       bool   `json:"ok"`
	Username string `json:"username"`
	Color    string `json:"color"`
	Token    string `json:"token"`
}

// Renamed is the payload of "renamed", to each connection of the session.
type Renamed struct {
	From     string `json:"from"`
	Username string `json:"username"`
	Color    string `json:"color"`
}

// RenameNotice tells a room that one of its users has a new name.
type RenameNotice struct {
	Room     string `json:"room"`
	From     string `json:"from"`
	Username string `json:"username"`
	Color    string `json:"color"`
}

// PresenceRename asks presence to rename the session of Token, on behalf
// of its connection ConnRef. Answered with PresenceRenameReply.
type PresenceRename struct {
	ConnRef
	Token    string `json:"token"`
	Username string `json:"username"`
}

// PresenceRenameReply answers PresenceRename. Gen counts the session's
// renames (1 for the first): a gateway applies a SessionRenamed only when
// its Gen is above the one it applied last, whatever order they come in.
type PresenceRenameReply struct {
	Error    *Error `json:"error,omitempty"`
	From     string `json:"from,omitempty"`
	Username string `json:"username,omitempty"`
	Color    string `json:"color,omitempty"`
	Gen      int64  `json:"gen,omitempty"`
}

// SessionRenamed tells every gateway (SessionRenamedSubject) that the
// session with id SessionID has a new name: its connections take it.
type SessionRenamed struct {
	SessionID string `json:"sessionId"`
	From      string `json:"from"`
	Username  string `json:"username"`
	Color     string `json:"color"`
	Gen       int64  `json:"gen"`
}

// HeaderSession, on a "user renamed" notice, is the id (SessionID) of the
// session renamed: its own connections are told by "renamed" instead.
const HeaderSession = "Natter-Session"

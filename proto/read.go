package proto

// Read positions: how far a user has read each room, kept by the history
// service for the session (SessionID), so that every tab and device of it
// sees the same unread counts (docs/design.md, "Read positions").

// EventRead (client → server, acked) moves the joined session's read
// position in a room forward to a message: ReadRequest, answered ReadAck.
const EventRead = "read"

// MaxUnread caps an unread count: MaxUnread means MaxUnread or more (the
// web page shows "99+").
const MaxUnread = 100

// MaxReadRooms is how many rooms a session's read positions remember:
// the ones read most recently (its "recent rooms").
const MaxReadRooms = 50

// ReadRequest is the payload of a client's "read": ID is the newest
// message of Room (default: the room joined) that the user has seen; none
// means all that the room holds now (a room seen empty, say).
type ReadRequest struct {
	Room string `json:"room,omitempty"`
	ID   string `json:"id"`
}

// ReadAck answers a read: the room's read position after it (never
// behind where it was) and how many of the room's messages follow it.
type ReadAck struct {
	OK     bool   `json:"ok"`
	Room   string `json:"room"`
	Read   string `json:"read"`
	Unread int    `json:"unread"`
}

// RoomListing is a room of a client's room list: how many users it has,
// and, in a room the session has read, its read position and how many
// messages came after it (at most MaxUnread).
type RoomListing struct {
	Room   string `json:"room"`
	Count  int    `json:"count"`
	Read   string `json:"read,omitempty"`
	Unread *int   `json:"unread,omitempty"`
}

// RoomListAck answers a client's rooms request: the rooms with users and
// the rooms the joined session has read lately, with their unread counts.
type RoomListAck struct {
	OK    bool          `json:"ok"`
	Rooms []RoomListing `json:"rooms"`
}

// ReadMark asks history (ReadMarkSubject) to move the read position of
// the session User (SessionID) in Room forward to the message ID.
type ReadMark struct {
	User string `json:"user"`
	Room string `json:"room"`
	ID   string `json:"id"`
}

// ReadMarkReply answers ReadMark, as ReadAck.
type ReadMarkReply struct {
	Error  *Error `json:"error,omitempty"`
	Read   string `json:"read"`
	Unread int    `json:"unread"`
}

// UnreadQuery asks history (UnreadQuerySubject) for the read positions of
// the session User and the unread counts after them.
type UnreadQuery struct {
	User string `json:"user"`
}

// UnreadReply answers UnreadQuery: the session's rooms, read most recently
// first.
type UnreadReply struct {
	Error *Error       `json:"error,omitempty"`
	Rooms []RoomUnread `json:"rooms"`
}

// RoomUnread is a room's read position and its unread count.
type RoomUnread struct {
	Room   string `json:"room"`
	Read   string `json:"read"`
	Unread int    `json:"unread"`
}

// ReadPositions is a session's value in ReadBucket: its rooms, read most
// recently first, at most MaxReadRooms.
type ReadPositions struct {
	Rooms []ReadPosition `json:"rooms"`
}

// ReadPosition is where a session has read a room to: the message ID, at
// the stream sequence Seq (what "forward" is measured by: ids from
// different gateways may interleave within a millisecond). A room read
// while it held no message has no ID: Seq is the stream's newest then.
type ReadPosition struct {
	Room string `json:"room"`
	ID   string `json:"id"`
	Seq  uint64 `json:"seq"`
}

func (r ReadMarkReply) ReplyError() *Error { return r.Error }
func (r UnreadReply) ReplyError() *Error   { return r.Error }

package proto

// Several rooms on one connection: a join with Keep adds a room to the
// connection's rooms instead of moving it, and "leave room" leaves one.
// Room-scoped events (client message, typing, members, history) name the
// room; without one they go to the connection's current room, the one it
// joined last.

// EventLeaveRoom leaves one of the connection's rooms (LeaveRoomRequest),
// acked with LeaveRoomAck.
const EventLeaveRoom = "leave room"

// DefaultMaxRooms is how many rooms one connection may be in at once,
// unless the gateway is configured otherwise (NATTER_MAX_ROOMS).
const DefaultMaxRooms = 20

// Error codes of several rooms.
const (
	// CodeNotInRoom: the event names a room the connection is not in.
	CodeNotInRoom = "not_in_room"
	// CodeTooManyRooms: a join with keep would put the connection in more
	// rooms than the gateway allows.
	CodeTooManyRooms = "too_many_rooms"
)

// ErrNotInRoom is the sentinel of not_in_room.
var ErrNotInRoom = &Error{Code: CodeNotInRoom, Message: "not in that room; join it first"}

// LeaveRoomRequest is the payload of "leave room".
type LeaveRoomRequest struct {
	Room string `json:"room"`
}

// LeaveRoomAck answers "leave room": the room left, and the rooms the
// connection is still in, the current one last (empty: joined to nothing).
type LeaveRoomAck struct {
	OK    bool     `json:"ok"`
	Room  string   `json:"room"`
	Rooms []string `json:"rooms"`
}

// RecoveryRoom is one of a recovered connection's rooms: the room, and
// the stream sequence its join's history went through.
type RecoveryRoom struct {
	Room    string `json:"room"`
	Through uint64 `json:"through"`
}

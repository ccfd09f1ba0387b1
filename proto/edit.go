package proto

// Editing and deleting room messages. A user edits or deletes their own
// messages; a moderator deletes anyone's. Neither rewrites the stream in
// place: history stores a record of the change on the room's subject,
// after everything before it (an edit holds the message with its new text,
// a deletion a tombstone without any), then securely erases the message
// and any earlier record of it (JetStream's secure delete overwrites the
// stored bytes), so that nothing of the old text stays readable.

// Client events of editing and deleting.
const (
	EventEditMessage   = "edit message"    // client → server, acked
	EventDeleteMessage = "delete message"  // client → server, acked
	EventEdited        = "message edited"  // server → everyone in the room
	EventDeleted       = "message deleted" // server → everyone in the room
)

// EditRequest is the payload of a client's "edit message": the message
// with id ID, of the room joined, gets the text Message.
type EditRequest struct {
	Room    string `json:"room,omitempty"` // one of the connection's; default its current
	ID      string `json:"id"`
	Message string `json:"message"`
}

// DeleteRequest is the payload of a client's "delete message".
type DeleteRequest struct {
	Room string `json:"room,omitempty"` // as EditRequest.Room
	ID   string `json:"id"`
}

// Kinds of change records (HeaderRecord).
const (
	RecordEdit   = "edit"
	RecordDelete = "delete"
)

// Headers of room messages and their change records in the stream.
const (
	// HeaderSender is the session id (SessionID) of a room message's
	// sender, by which its edits and deletions are allowed. Stored with
	// the message, never sent to clients.
	HeaderSender = "Natter-Sender"
	// HeaderRecord marks a change record: RecordEdit or RecordDelete. A
	// room message has none.
	HeaderRecord = "Natter-Record"
	// HeaderReplaces is a change record's stream sequence of the message
	// it changes: where the message stays in the room's order once the
	// original is erased.
	HeaderReplaces = "Natter-Replaces"
)

// StoredEvent is the client event of a room's stored record: "server
// message" for a message, "message edited" or "message deleted" for a
// change record of the kind record (HeaderRecord).
func StoredEvent(record string) string {
	switch record {
	case RecordEdit:
		return EventEdited
	case RecordDelete:
		return EventDeleted
	}
	return EventServerMessage
}

// HistoryEditSubject asks history to edit or delete a room message
// (HistoryEdit); only a gateway asks, for the user joined on a connection.
const HistoryEditSubject = "natter.history.edit"

// HistoryEdit asks history to change the message ID of Room on behalf of
// the session Session (SessionID): to the text Message, or, with Delete,
// to a tombstone. Moderator lets a deletion change anyone's message; By is
// the name of who asks, kept in a tombstone of a message not theirs.
type HistoryEdit struct {
	Room      string `json:"room"`
	ID        string `json:"id"`
	Session   string `json:"session"`
	Message   string `json:"message,omitempty"`
	Delete    bool   `json:"delete,omitempty"`
	Moderator bool   `json:"moderator,omitempty"`
	By        string `json:"by,omitempty"`
}

// HistoryEditReply answers HistoryEdit: the message as it is now.
type HistoryEditReply struct {
	Error   *Error   `json:"error,omitempty"`
	Message *Message `json:"message,omitempty"`
}

// EditAck answers a client's edit or delete: the message as it is now
// (edited, or a tombstone).
type EditAck struct {
	OK      bool    `json:"ok"`
	Message Message `json:"message"`
}

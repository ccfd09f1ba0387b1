package proto

// Messages between the services, as JSON on the request subjects.

// ConnRef names one client connection: the gateway that holds it and the
// connection's id there (its Socket.IO socket id).
type ConnRef struct {
	Gateway string `json:"gateway"`
	Conn    string `json:"conn"`
}

// PresenceJoin asks presence to open or resume a session for a connection
// and to put the connection in a room (moving it from its previous room).
type PresenceJoin struct {
	ConnRef
	Username string `json:"username"`
	Room     string `json:"room"`
	Token    string `json:"token,omitempty"`
	// Resync is set when a gateway announces a live connection again
	// after presence lost its state: the session is opened with Token and
	// Color, and the room is not told (it knew).
	Resync bool   `json:"resync,omitempty"`
	Color  string `json:"color,omitempty"`
	// Announce, with Resync, tells the room of a join that puts the user
	// back in it: presence had let the connection go (see PresenceResync),
	// so the room may have been told that the user left.
	Announce bool `json:"announce,omitempty"`
	// Identity is an authenticated user's IdentityID: what their bans,
	// mutes and granted role hold on. Empty for anonymous users.
	Identity string `json:"identity,omitempty"`
}

// PresenceResync asks gateways to announce their live connections again
// (PresenceResyncSubject). An empty body asks every gateway, without
// notices to the rooms: the store lost its state.
type PresenceResync struct {
	// Gateway, when set, is the one gateway asked: one that presence took
	// for dead and has heard from again.
	Gateway string `json:"gateway,omitempty"`
	// Announce asks for PresenceJoin.Announce on every join of the resync.
	Announce bool `json:"announce,omitempty"`
}

// PresenceJoinReply answers PresenceJoin.
type PresenceJoinReply struct {
	Error    *Error `json:"error,omitempty"`
	Username string `json:"username,omitempty"`
	Color    string `json:"color,omitempty"`
	Token    string `json:"token,omitempty"`
	// SessionID is SessionID(Token): what the connection's whispers are
	// routed by. It stays between the services.
	SessionID string `json:"sessionId,omitempty"`
	Room      string `json:"room,omitempty"`
	// Members is the room's first MembersOnJoin members, by name key;
	// MemberCount counts them all.
	Members     []Member `json:"members,omitempty"`
	MemberCount int      `json:"memberCount,omitempty"`
	// NameGen counts the session's renames so far: the name is as of
	// that rename (see PresenceRenameReply.Gen).
	NameGen int64 `json:"nameGen,omitempty"`
	// Role is the role granted to the joining identity through the
	// server API (APIRole), if any.
	Role string `json:"role,omitempty"`
	// Muted says the user is muted in the room, until MutedUntil (Unix
	// milliseconds; 0 for good).
	Muted      bool  `json:"muted,omitempty"`
	MutedUntil int64 `json:"mutedUntil,omitempty"`
}

// PresenceLeave tells presence that a connection has closed.
type PresenceLeave struct {
	ConnRef
	// Deliberate is true when the client disconnected on purpose; false
	// when its transport was lost.
	Deliberate bool `json:"deliberate"`
}

// PresenceEndSession asks presence to end the session of Token, on behalf
// of the connection ConnRef (whose client asked to log out): the
// session's connections leave their rooms, its name is free, its token
// resumes nothing. Answered with an ErrorAck; a session already gone is
// no error.
type PresenceEndSession struct {
	ConnRef
	Token string `json:"token"`
}

// SessionEnded says that the session with id SessionID (SessionID) has
// ended: a gateway disconnects the connections it holds of it.
type SessionEnded struct {
	SessionID string `json:"sessionId"`
}

// PresenceLookup asks whether a user is online.
type PresenceLookup struct {
	Username string `json:"username"`
}

// PresenceLookupReply answers PresenceLookup: the session that holds the
// name, or (Online false) the offline session that held it last, while it
// lives and nobody has taken the name since. A name of neither has no
// Username nor SessionID.
type PresenceLookupReply struct {
	Error    *Error `json:"error,omitempty"`
	Username string `json:"username,omitempty"`
	Online   bool   `json:"online"`
	// SessionID is the id (SessionID) of the session that holds the name
	// now: a whisper to the name goes to it, and to no later holder.
	SessionID string `json:"sessionId,omitempty"`
}

// PresenceMembers asks for a page of a room's members, as MembersRequest.
type PresenceMembers struct {
	Room  string `json:"room"`
	After string `json:"after,omitempty"`
	Limit int    `json:"limit,omitempty"`
}

// PresenceMembersReply answers PresenceMembers.
type PresenceMembersReply struct {
	Error   *Error   `json:"error,omitempty"`
	Members []Member `json:"members"`
	Count   int      `json:"count"`
	More    bool     `json:"more,omitempty"`
}

// HistoryQuery asks for a room's messages: the newest Limit before the
// message Before (or the newest, when Before is empty), oldest first.
type HistoryQuery struct {
	Room   string `json:"room"`
	Before string `json:"before,omitempty"`
	// After, instead of Before, asks for what came after the message with
	// this id, oldest first, up to Limit: a client catching up.
	After string `json:"after,omitempty"`
	Limit int    `json:"limit"`
}

// HistoryReply answers HistoryQuery.
type HistoryReply struct {
	Error    *Error    `json:"error,omitempty"`
	Messages []Message `json:"messages"`
	// Through is the stream sequence the answer is complete through: every
	// message of the room stored at or before it is in Messages or older
	// than them. A gateway delivers live only what comes after it.
	Through uint64 `json:"through"`
	// Gap answers a query with After: the message After is no longer held,
	// or more than Limit messages came after it. Messages is then the
	// newest page.
	Gap bool `json:"gap,omitempty"`
	// Changed answers a query with After (and no Gap): the messages at or
	// before After edited or deleted since After was stored, as they are
	// now, oldest first.
	Changed []Message `json:"changed,omitempty"`
}

// WhispersQuery asks for the whispers of the session with id User
// (SessionID; with the session whose id is With, if set), like
// HistoryQuery. Only a gateway asks it, for the session joined on a
// connection: User never comes from a client, and With is the session
// that holds the name the client gave, when it asked. Whispers belong to
// sessions: those of an earlier holder of a name are not the new one's.
type WhispersQuery struct {
	User   string `json:"user"`
	With   string `json:"with,omitempty"`
	Before string `json:"before,omitempty"`
	Limit  int    `json:"limit"`
}

// WhispersReply answers WhispersQuery.
type WhispersReply struct {
	Error    *Error    `json:"error,omitempty"`
	Whispers []Whisper `json:"whispers"`
}

// RecoveryState is what a gateway keeps, in RecoveryBucket, of a
// connection joined to a room, so that any gateway can restore it when
// the client comes back with its pid: who it was, where, and through which
// stream sequence its join's history went (those messages it has).
type RecoveryState struct {
	Username string `json:"username"`
	Token    string `json:"token"`
	Room     string `json:"room"`
	Through  uint64 `json:"through"`
	// Rooms are all the connection's rooms, the current one last, when
	// it is in several (Room and Through are then the current one's).
	Rooms []RecoveryRoom `json:"rooms,omitempty"`
}

// GatewayHeartbeat says a gateway is alive, every Interval milliseconds.
type GatewayHeartbeat struct {
	Gateway  string `json:"gateway"`
	Interval int64  `json:"interval"`
}

// RoomCount is a room and how many users are in it.
type RoomCount struct {
	Room  string `json:"room"`
	Count int    `json:"count"`
}

// PresenceRoomsReply answers a request on PresenceRoomsSubject.
type PresenceRoomsReply struct {
	Error *Error      `json:"error,omitempty"`
	Rooms []RoomCount `json:"rooms"`
}

package proto

// The admin page (served by every gateway at AdminPrefix while it has an
// admin key) reads its JSON from AdminAPIPrefix; see docs/admin.md.
const (
	AdminPrefix    = "/admin/"
	AdminAPIPrefix = "/admin/api/"
)

// The admin page's JSON routes, under AdminAPIPrefix. Every one needs
// "Authorization: Bearer <admin key>".
const (
	AdminGateways   = "gateways"   // GET: AdminGatewaysReply
	AdminRooms      = "rooms"      // GET: RoomsAck, as the server API's rooms
	AdminMembers    = "members"    // GET ?room=&after=&limit=: MembersAck
	AdminDisconnect = "disconnect" // POST APIDisconnectRequest: APIDisconnectReply
)

// AdminRoutes are every JSON route of the admin page: its own, and the
// server API's moderation operations (ModerationActions, APIDelete,
// APIRole, APIModeration) and APIHistory, each a POST of the API's body
// and reply.
var AdminRoutes = append([]string{AdminGateways, AdminRooms, AdminMembers, AdminDisconnect},
	append(append([]string{}, ModerationActions...), APIDelete, APIRole, APIModeration, APIHistory)...)

// GatewayStatsSubject asks every gateway (no queue group) for its
// GatewayStats; the request has no body, and each gateway answers.
const GatewayStatsSubject = "natter.gateway.stats"

// GatewayStats is one gateway's own view of itself: its connections by
// transport and its message counters since it started (the admin page
// makes rates of two readings).
type GatewayStats struct {
	Gateway string `json:"gateway"`
	// Transports counts the open Engine.IO sessions by transport:
	// "websocket" and "polling".
	Transports  map[string]int `json:"transports"`
	Joined      int            `json:"joined"` // connections joined to a room
	Rooms       int            `json:"rooms"`  // rooms with a local member
	MessagesIn  uint64         `json:"messagesIn"`
	MessagesOut uint64         `json:"messagesOut"`
	Whispers    uint64         `json:"whispers"`
	TS          int64          `json:"ts"` // when it was read, Unix ms
}

// AdminGatewaysReply answers AdminGateways: every gateway that answered
// in time, by id, and the ones heard from lately (their heartbeats) that
// did not.
type AdminGatewaysReply struct {
	OK       bool           `json:"ok"`
	Gateways []GatewayStats `json:"gateways"`
	Missing  []string       `json:"missing"`
}

package presence

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/natter/natter/proto"
)

// Session is a user's identity across connections and gateways: a token
// that the client keeps, the name, its key (proto.NameKey) and a colour.
type Session struct {
	Token    string
	Username string
	Key      string
	Color    string
}

// JoinParams asks to put a connection in a room, opening or resuming the
// session it belongs to.
type JoinParams struct {
	Conn     proto.ConnRef
	Username string // normalized; may be empty when Token resumes a session
	Room     string // normalized
	Token    string // optional
	NewToken string // the token of the session, if a new one is opened
	// Color, when it is one of Palette, is the colour of a new session
	// instead of the least used: a resync keeps users' colours.
	Color string
	// Resync marks a gateway announcing again a connection it holds
	// (proto.PresenceJoin.Resync). Its snapshot may hold a connection it
	// has since reported closed (Leave or Linger): such a join is refused
	// with ErrUnknownConn for closedFor after the report, so that it does
	// not take back the leave, whichever replica serves which first.
	Resync bool
}

// palette returns the colours a new session may take: p.Color alone when
// it is one of Palette, else all of Palette.
func (p JoinParams) palette() []string {
	for _, c := range Palette {
		if c == p.Color {
			return []string{c}
		}
	}
	return Palette
}

// JoinResult is what a join changed.
type JoinResult struct {
	Session Session
	// Members are the room's first proto.MembersOnJoin members after the
	// join: each user once, ordered by name key. MemberCount counts them
	// all.
	Members     []proto.Member
	MemberCount int
	// Joined is true when the user had no connection in the room before:
	// the room is told of the join.
	Joined bool
	// LeftRoom is the room the connection moved out of, when the user has
	// no connection left there: that room is told of the leave. "" if none.
	LeftRoom string
	// LeftSession is the user who left LeftRoom: Session, unless the
	// connection joined as another user (then it may equal Room).
	LeftSession Session
	// Gen counts the session's renames so far (see RenameResult).
	Gen int64
}

// LeaveResult is what removing a connection changed.
type LeaveResult struct {
	Session Session
	Room    string
	// Left is true when the user has no connection left in Room: the room
	// is told of the leave.
	Left bool
}

// RenameResult is what a rename changed.
type RenameResult struct {
	Session Session // with its new name
	From    string  // the name it had
	// Rooms are the rooms the session is in, ordered by name: each is
	// told of the rename.
	Rooms []string
	// Gen counts the session's renames, this one included (see
	// proto.PresenceRenameReply).
	Gen int64
	// Changed is false for a rename to the name the session has: nothing
	// changed, nobody is told.
	Changed bool
}

// MemberPage is a page of a room's members, each user once, ordered by
// name key.
type MemberPage struct {
	Members []proto.Member
	Count   int  // the room's users, all pages
	More    bool // members follow the page
}

// RoomCount is a room and how many users are in it.
type RoomCount struct {
	Room  string
	Count int
}

// Store keeps sessions, name reservations, colours and room membership.
// Every method is atomic: concurrent calls, from one process or from
// several presence replicas sharing a Redis, never see half an update.
//
// A session is online while it has a connection, lingering ones included,
// and an online session never expires: a connection is there until Leave,
// Reap (once its grace has passed) or DropGateway and Reap remove it, and
// membership is exactly the connections there are. An online session
// holds its name, and only an online session does: when its last
// connection goes, the name is free at once for anyone, and the session
// lives on offline for the store's time to live (DefaultSessionTTL), for
// its token to resume it. The exception is an authenticated identity's
// session (its token is a proto.IdentityToken): it holds its name for as
// long as it lives, offline too, until it expires or ends; Lookup finds
// it then, offline.
type Store interface {
	// Join opens or resumes a session and puts p.Conn in p.Room. A token
	// that names a live session (online or offline) resumes it when
	// p.Username is empty or has the session's name key; an offline
	// session resumed takes its name again, with its colour, unless
	// another session holds that name now: proto.ErrNameTaken (the user
	// may pick another name, with which the token opens a new session).
	// Otherwise a new session is opened with p.NewToken, unless another
	// session holds the name key: proto.ErrNameTaken; but when the holder
	// is p.Conn's own session, the join is a repeat of the one that put
	// p.Conn there (its answer lost), and resumes it. A new session gets
	// the colour of the palette that the fewest online users have (the
	// first such in palette order). ErrNoSession if p.Username is empty
	// and p.Token resumes nothing.
	Join(ctx context.Context, p JoinParams) (JoinResult, error)
	// Leave removes a connection at once: the client left deliberately.
	// If the user's other connections in the room are all lingering, they
	// are removed too, so the leave is announced now rather than when
	// they are reaped. ErrUnknownConn if there is no such connection.
	Leave(ctx context.Context, c proto.ConnRef) (LeaveResult, error)
	// Linger marks a connection whose transport was lost: it stays, and
	// keeps its user online, its name held and in the room, until Reap
	// removes it grace from now, unless it joins again first. Left is
	// false: nothing is announced yet. A join by the same session in the
	// room meanwhile is no join (Joined false): a reload or a reconnect
	// through another gateway announces nothing. A connection marked
	// twice keeps the sooner deadline; grace <= 0 is Leave.
	// ErrUnknownConn if there is no such connection.
	Linger(ctx context.Context, c proto.ConnRef, grace time.Duration) (LeaveResult, error)
	// EndSession ends the session of token at once, on its user's
	// request: its connections are removed (lingering ones too), its
	// name is free, and its token resumes nothing any more. It returns a
	// leave (Left true) for each room the user was in, to announce.
	// ErrNoSession if token names no live session. No request asks for
	// it yet: that needs a client event and a field of proto.PresenceLeave.
	EndSession(ctx context.Context, token string) ([]LeaveResult, error)
	// Rename gives the online session of token the name username
	// (normalized): the token, colour, connections and rooms stay, the
	// member lists show the new name (counts unchanged), and the old name
	// is free at once, with no offline holder for Lookup (a whisper to it
	// is for whoever takes it next, never the renamed session's). A name
	// with the session's own key (a change of case, say) is its own; one
	// that another session holds (online, or an identity's offline) is
	// proto.ErrNameTaken; taking a name clears the offline session that
	// held it last, as a join does. ErrNoSession if token names no online
	// session.
	Rename(ctx context.Context, token, username string) (RenameResult, error)
	// SessionRooms returns the rooms that the online session of token is
	// in (by any of its connections, lingering ones too), ordered by name,
	// each once. ErrNoSession if token names no online session.
	SessionRooms(ctx context.Context, token string) ([]string, error)
	// Reap removes the lingering connections whose grace has passed, by
	// the store's clock, and returns a leave (Left true) for each user
	// and room that they left empty. When replicas reap at once, each
	// leave is returned by exactly one call. With an error it may still
	// return leaves: those were reaped, and must be announced.
	Reap(ctx context.Context) ([]LeaveResult, error)
	// DropGateway makes every connection of a gateway that has stopped
	// linger for grace (see Linger), and returns how many it marked:
	// users who reconnect elsewhere within grace are not told as
	// leaving; Reap announces the others. grace <= 0 leaves them to the
	// next Reap.
	DropGateway(ctx context.Context, gateway string, grace time.Duration) (int, error)
	// Gateways returns the gateways that have connections, ordered by
	// id. Since no connection expires, one whose gateway died while no
	// presence replica listened would stay for good: a replica that
	// starts watches these gateways as if just heard from, and drops
	// those that never beat.
	Gateways(ctx context.Context) ([]string, error)
	// Rooms returns the rooms that have users, ordered by name, with how
	// many users each has (each user once, however many connections).
	Rooms(ctx context.Context) ([]RoomCount, error)
	// Online returns how many sessions are online: have a connection,
	// lingering ones included. Each session counts once, however many
	// connections and rooms it has.
	Online(ctx context.Context) (int, error)
	// Epoch returns the id of the store's contents, making one if there is
	// none: a different answer later means the store lost its state (a
	// Redis that came back empty), or may have lost some (a replica
	// promoted), and the gateways must announce their connections again. fresh is true for the one call that made it: the
	// store was empty then (new, emptied while no replica watched, or of
	// an older layout), and the gateways must announce their connections
	// too.
	Epoch(ctx context.Context) (epoch string, fresh bool, err error)
	// Members returns the page of a room's members (each user once,
	// ordered by name key) whose name keys follow after ("" from the
	// first), limit (at least 1) of them at most. It costs the page, not
	// the room.
	Members(ctx context.Context, room, after string, limit int) (MemberPage, error)
	// Lookup returns the session that holds the name key key, and whether
	// it has a connection (always, but for an identity's session, which
	// holds its name offline too); when nobody holds the name, the offline
	// session that held it last, while it lives and until someone takes
	// the name (online false): a whisper to the name waits for it.
	// ErrNoSession if none.
	Lookup(ctx context.Context, key string) (s Session, online bool, err error)
}

// closedFor is how long a connection reported closed is refused to a
// resync: longer than any resync's round trip.
const closedFor = 10 * time.Minute

// Store errors besides proto.ErrNameTaken.
var (
	ErrUnknownConn = errors.New("presence: unknown connection")
	ErrNoSession   = errors.New("presence: no such session")
)

// Palette holds the colours a session may have (proto.Palette).
var Palette = proto.Palette

// DefaultSessionTTL is how long a session lives offline, after its last
// connection went: its token resumes it meanwhile.
const DefaultSessionTTL = 24 * time.Hour

// sortLeaves orders leaves by room, then name key, so that a batch of them
// is announced in the same order whichever store reaped it.
func sortLeaves(ls []LeaveResult) {
	slices.SortFunc(ls, func(a, b LeaveResult) int {
		if c := strings.Compare(a.Room, b.Room); c != 0 {
			return c
		}
		return strings.Compare(a.Session.Key, b.Session.Key)
	})
}

package presence

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/natter/natter/proto"
)

// RedisStore is a Store in Redis, shared by every presence replica that
// uses the same Redis and prefix. Each method is one Lua script, or one
// command, so it is atomic across replicas.
//
// Keys, all under the prefix and layoutVersion in one hash tag (see
// keyPrefix); <x> is x in unpadded
// base64url, so that no user-chosen string (token, name, room, gateway or
// connection id) can reach into the key's structure:
//
//	sess:<token>          hash t u k ek c n: the token, username, name key, <name key>,
//	                      colour and renames so far (none: 0) of a session; it never expires while the session
//	                      has a connection, and expires ttl after its last one went
//	name:<name key>       the <token> of the session that holds the name: it exists
//	                      exactly while that session has a connection
//	last:<name key>       the <token> of the offline session that held the name
//	                      last, while nobody holds it: set when it goes offline,
//	                      gone when someone takes the name, expires with it
//	conns:<token>         hash <gateway>:<conn> → <room>: the session's connections;
//	                      the session is online while it exists
//	conn:<gateway>:<conn> the <token> of the connection's session
//	names:<room>          sorted set, every score 0: "<name key>\0<username>\0<colour>"
//	                      for each session with a connection in the room, so that
//	                      members are read a page at a time in name key order, and
//	                      each entry is the member as the page shows it
//	colors                hash colour → how many online sessions have it
//	rooms                 set: the <room>s that have members
//	linger                sorted set: the <gateway>:<conn> of the lingering connections,
//	                      each scored with the Unix ms at which Reap may remove it
//	gw:<gateway>          set: the gateway's <gateway>:<conn>s
//	gateways              set: the <gateway>s that have a connection, which a
//	                      presence replica starting watches (see Store.Gateways)
//	epoch                 the id of the store's contents (see Store.Epoch)
//	closed:<gateway>:<conn> set when the connection's gateway reported it closed
//	                      (Leave, Linger), for closedFor: a resync join of it is
//	                      refused (JoinParams.Resync)
//
// Nothing but offline sessions expires: a connection is there until Leave,
// Reap or DropGateway and Reap remove it, so membership is exact and no
// page or join checks its entries for liveness. A name is unique because
// it is held (name:) by at most one session, and only a session that holds
// its name has connections; names: entries are unique by name key.
//
// All times are Redis's (TIME), so replicas with skewed clocks agree on
// when a lingering connection is due.
//
// The scripts touch keys they derive from others, and any of them may
// touch the global ones (colors, rooms, linger, gateways): a name is
// unique across rooms, so a join is atomic over the session, the name and
// the room at once. So every key of a store shares one hash tag, and on
// Redis Cluster one slot: the scripts run there whole, on one master (the
// slot's replicas take over when it fails). Cluster spreads other
// stores, not one store's load.
type RedisStore struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a store that keeps its keys in rdb (a single
// server, Sentinel's primary or a Cluster) under prefix, such as
// "natter:", and layoutVersion (see keyPrefix). Sessions live ttl after
// their last connection went (0: DefaultSessionTTL).
func NewRedisStore(rdb redis.UniversalClient, prefix string, ttl time.Duration) *RedisStore {
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	return &RedisStore{rdb: rdb, prefix: keyPrefix(prefix), ttl: max(ttl, time.Millisecond)}
}

// Join implements Store.
func (r *RedisStore) Join(ctx context.Context, p JoinParams) (JoinResult, error) {
	var key, ekey string
	if p.Username != "" {
		key = proto.NameKey(p.Username)
		ekey = encode(key)
	}
	var etok string
	if p.Token != "" {
		etok = encode(p.Token)
	}
	var enew string
	if p.NewToken != "" {
		enew = encode(p.NewToken)
	}
	args := []any{
		r.prefix, r.ttl.Milliseconds(),
		connField(p.Conn), encode(p.Room), etok,
		p.Username, key, ekey, p.NewToken, enew, proto.MembersOnJoin, boolArg(p.Resync),
	}
	for _, c := range p.palette() {
		args = append(args, c)
	}
	reply, err := joinScript.Run(ctx, r.rdb, []string{r.connKey(p.Conn)}, args...).Slice()
	if err != nil {
		return JoinResult{}, fmt.Errorf("presence: join %q: %w", p.Room, err)
	}
	// ok, session (4), joined, left room, left session (4), renames,
	// count, then up to MembersOnJoin+1 entries of names:
	switch status(reply) {
	case "ok":
	case "taken":
		return JoinResult{}, proto.ErrNameTaken
	case "nosession":
		return JoinResult{}, ErrNoSession
	case "newtoken":
		return JoinResult{}, errNewToken
	case "closed":
		return JoinResult{}, ErrUnknownConn
	default:
		return JoinResult{}, fmt.Errorf("presence: join %q: unexpected reply %v", p.Room, reply)
	}
	if len(reply) < 13 {
		return JoinResult{}, fmt.Errorf("presence: join %q: short reply %v", p.Room, reply)
	}
	res := JoinResult{
		Session: session(reply[1:5]),
		Joined:  reply[5] == int64(1),
		Gen:     integer(reply[11]),
	}
	if left := str(reply[6]); left != "" {
		if res.LeftRoom, err = decode(left); err != nil {
			return JoinResult{}, fmt.Errorf("presence: join %q: left room: %w", p.Room, err)
		}
		res.LeftSession = session(reply[7:11])
	}
	res.MemberCount = int(integer(reply[12]))
	res.Members, _ = members(reply[13:], proto.MembersOnJoin)
	return res, nil
}

// Leave implements Store.
func (r *RedisStore) Leave(ctx context.Context, c proto.ConnRef) (LeaveResult, error) {
	return r.leave(ctx, c, 0)
}

// Linger implements Store.
func (r *RedisStore) Linger(ctx context.Context, c proto.ConnRef, grace time.Duration) (LeaveResult, error) {
	return r.leave(ctx, c, grace)
}

func (r *RedisStore) leave(ctx context.Context, c proto.ConnRef, grace time.Duration) (LeaveResult, error) {
	op := "leave"
	if grace > 0 {
		op = "linger"
	}
	reply, err := leaveScript.Run(ctx, r.rdb, []string{r.connKey(c)},
		r.prefix, r.ttl.Milliseconds(), connField(c), graceMillis(grace), closedFor.Milliseconds()).Slice()
	if err != nil {
		return LeaveResult{}, fmt.Errorf("presence: %s %s/%s: %w", op, c.Gateway, c.Conn, err)
	}
	// ok, session (4), room, left
	switch status(reply) {
	case "ok":
	case "unknown":
		return LeaveResult{}, ErrUnknownConn
	default:
		return LeaveResult{}, fmt.Errorf("presence: %s %s/%s: unexpected reply %v", op, c.Gateway, c.Conn, reply)
	}
	if len(reply) != 7 {
		return LeaveResult{}, fmt.Errorf("presence: %s %s/%s: short reply %v", op, c.Gateway, c.Conn, reply)
	}
	room, err := decode(str(reply[5]))
	if err != nil {
		return LeaveResult{}, fmt.Errorf("presence: %s %s/%s: room: %w", op, c.Gateway, c.Conn, err)
	}
	return LeaveResult{Session: session(reply[1:5]), Room: room, Left: reply[6] == int64(1)}, nil
}

// EndSession implements Store.
func (r *RedisStore) EndSession(ctx context.Context, token string) ([]LeaveResult, error) {
	etok := encode(token)
	reply, err := endSessionScript.Run(ctx, r.rdb, []string{r.prefix + "sess:" + etok},
		r.prefix, r.ttl.Milliseconds(), etok, closedFor.Milliseconds()).Slice()
	if err != nil {
		return nil, fmt.Errorf("presence: end session: %w", err)
	}
	// ok, then session (4) and room for each leave
	switch status(reply) {
	case "ok":
	case "nosession":
		return nil, ErrNoSession
	default:
		return nil, fmt.Errorf("presence: end session: unexpected reply %v", reply)
	}
	if (len(reply)-1)%5 != 0 {
		return nil, fmt.Errorf("presence: end session: unexpected reply %v", reply)
	}
	var out []LeaveResult
	for i := 1; i < len(reply); i += 5 {
		room, err := decode(str(reply[i+4]))
		if err != nil {
			return out, fmt.Errorf("presence: end session: room: %w", err)
		}
		out = append(out, LeaveResult{Session: session(reply[i : i+4]), Room: room, Left: true})
	}
	sortLeaves(out)
	return out, nil
}

// Rename implements Store.
func (r *RedisStore) Rename(ctx context.Context, token, username string) (RenameResult, error) {
	etok, key := encode(token), proto.NameKey(username)
	reply, err := renameScript.Run(ctx, r.rdb, []string{r.prefix + "sess:" + etok},
		r.prefix, r.ttl.Milliseconds(), etok, username, key, encode(key)).Slice()
	if err != nil {
		return RenameResult{}, fmt.Errorf("presence: rename: %w", err)
	}
	// ok, session (4), from, gen, changed, then the rooms
	switch status(reply) {
	case "ok":
	case "nosession":
		return RenameResult{}, ErrNoSession
	case "taken":
		return RenameResult{}, proto.ErrNameTaken
	default:
		return RenameResult{}, fmt.Errorf("presence: rename: unexpected reply %v", reply)
	}
	if len(reply) < 8 {
		return RenameResult{}, fmt.Errorf("presence: rename: short reply %v", reply)
	}
	res := RenameResult{
		Session: session(reply[1:5]),
		From:    str(reply[5]),
		Gen:     integer(reply[6]),
		Changed: reply[7] == int64(1),
	}
	for _, v := range reply[8:] {
		room, err := decode(str(v))
		if err != nil {
			return RenameResult{}, fmt.Errorf("presence: rename: room: %w", err)
		}
		res.Rooms = append(res.Rooms, room)
	}
	slices.Sort(res.Rooms)
	return res, nil
}

// SessionRooms implements Store.
func (r *RedisStore) SessionRooms(ctx context.Context, token string) ([]string, error) {
	vals, err := r.rdb.HVals(ctx, r.prefix+"conns:"+encode(token)).Result()
	if err != nil {
		return nil, fmt.Errorf("presence: session rooms: %w", err)
	}
	if len(vals) == 0 {
		return nil, ErrNoSession
	}
	rooms, err := decodeSorted(vals)
	if err != nil {
		return nil, fmt.Errorf("presence: session rooms: %w", err)
	}
	return slices.Compact(rooms), nil
}

// reapBatch is how many lingering connections one reap script removes at
// most, so that a long backlog does not block Redis for long.
// At 100 a script takes a few ms even when every connection is a user's
// last in a room.
const reapBatch = 100

// Reap implements Store.
func (r *RedisStore) Reap(ctx context.Context) ([]LeaveResult, error) {
	var out []LeaveResult
	for {
		reply, err := reapScript.Run(ctx, r.rdb, []string{r.prefix + "linger"},
			r.prefix, r.ttl.Milliseconds(), reapBatch).Slice()
		if err != nil {
			return out, fmt.Errorf("presence: reap: %w", err)
		}
		// removed, then session (4) and room for each leave
		if len(reply) < 1 || (len(reply)-1)%5 != 0 {
			return out, fmt.Errorf("presence: reap: unexpected reply %v", reply)
		}
		for i := 1; i < len(reply); i += 5 {
			room, err := decode(str(reply[i+4]))
			if err != nil {
				return out, fmt.Errorf("presence: reap: room: %w", err)
			}
			out = append(out, LeaveResult{Session: session(reply[i : i+4]), Room: room, Left: true})
		}
		if n, _ := reply[0].(int64); n < reapBatch {
			sortLeaves(out)
			return out, nil
		}
	}
}

// DropGateway implements Store.
func (r *RedisStore) DropGateway(ctx context.Context, gateway string, grace time.Duration) (int, error) {
	egw := encode(gateway)
	n, err := dropGatewayScript.Run(ctx, r.rdb, []string{r.prefix + "gw:" + egw},
		r.prefix, r.ttl.Milliseconds(), egw, graceMillis(grace)).Int()
	if err != nil {
		return 0, fmt.Errorf("presence: drop gateway %q: %w", gateway, err)
	}
	return n, nil
}

// Rooms implements Store.
func (r *RedisStore) Rooms(ctx context.Context) ([]RoomCount, error) {
	reply, err := roomsScript.Run(ctx, r.rdb, []string{r.prefix + "rooms"},
		r.prefix, r.ttl.Milliseconds()).Slice()
	if err != nil {
		return nil, fmt.Errorf("presence: rooms: %w", err)
	}
	// room, count, ...
	out := make([]RoomCount, 0, len(reply)/2)
	for i := 0; i+1 < len(reply); i += 2 {
		room, err := decode(str(reply[i]))
		if err != nil {
			return nil, fmt.Errorf("presence: rooms: %w", err)
		}
		n, _ := reply[i+1].(int64)
		out = append(out, RoomCount{Room: room, Count: int(n)})
	}
	slices.SortFunc(out, func(a, b RoomCount) int { return strings.Compare(a.Room, b.Room) })
	return out, nil
}

// Online implements Store: the sum of the colours' counts, in which every
// online session counts once.
func (r *RedisStore) Online(ctx context.Context) (int, error) {
	counts, err := r.rdb.HVals(ctx, r.prefix+"colors").Result()
	if err != nil {
		return 0, fmt.Errorf("presence: online: %w", err)
	}
	n := 0
	for _, c := range counts {
		k, err := strconv.Atoi(c)
		if err != nil {
			return 0, fmt.Errorf("presence: online: count %q: %w", c, err)
		}
		n += k
	}
	return n, nil
}

// Gateways implements Store.
func (r *RedisStore) Gateways(ctx context.Context) ([]string, error) {
	egws, err := r.rdb.SMembers(ctx, r.prefix+"gateways").Result()
	if err != nil {
		return nil, fmt.Errorf("presence: gateways: %w", err)
	}
	out, err := decodeSorted(egws)
	if err != nil {
		return nil, fmt.Errorf("presence: gateways: %w", err)
	}
	return out, nil
}

// Members implements Store.
func (r *RedisStore) Members(ctx context.Context, room, after string, limit int) (MemberPage, error) {
	eroom := encode(room)
	limit = max(limit, 1)
	reply, err := membersScript.Run(ctx, r.rdb, []string{r.prefix + "names:" + eroom},
		r.prefix, r.ttl.Milliseconds(), eroom, after, limit).Slice()
	if err != nil {
		return MemberPage{}, fmt.Errorf("presence: members of %q: %w", room, err)
	}
	// count, then up to limit+1 entries of names:
	if len(reply) < 1 {
		return MemberPage{}, fmt.Errorf("presence: members of %q: short reply %v", room, reply)
	}
	ms, more := members(reply[1:], limit)
	return MemberPage{Members: ms, Count: int(integer(reply[0])), More: more}, nil
}

// Lookup implements Store.
func (r *RedisStore) Lookup(ctx context.Context, key string) (Session, bool, error) {
	ekey := encode(key)
	reply, err := lookupScript.Run(ctx, r.rdb, []string{r.prefix + "name:" + ekey},
		r.prefix, r.ttl.Milliseconds(), ekey).Slice()
	if err != nil {
		return Session{}, false, fmt.Errorf("presence: lookup %q: %w", key, err)
	}
	// ok, session (4), online
	switch status(reply) {
	case "ok":
	case "nosession":
		return Session{}, false, ErrNoSession
	default:
		return Session{}, false, fmt.Errorf("presence: lookup %q: unexpected reply %v", key, reply)
	}
	if len(reply) != 6 {
		return Session{}, false, fmt.Errorf("presence: lookup %q: short reply %v", key, reply)
	}
	return session(reply[1:5]), reply[5] == int64(1), nil
}

func (r *RedisStore) connKey(c proto.ConnRef) string { return r.prefix + "conn:" + connField(c) }

// encode makes a user-chosen string safe in a key: base64url has no ":".
func encode(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// decodeSorted decodes each of encoded, and sorts them.
func decodeSorted(encoded []string) ([]string, error) {
	out := make([]string, 0, len(encoded))
	for _, e := range encoded {
		v, err := decode(e)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out, nil
}

func decode(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return string(b), err
}

func connField(c proto.ConnRef) string { return encode(c.Gateway) + ":" + encode(c.Conn) }

// graceMillis is a grace period in whole milliseconds, at least 1 unless
// it is none (0): a grace shorter than Redis's clock can tell still
// lingers.
func graceMillis(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return max(d.Milliseconds(), 1)
}

// status is the first element of a script's reply.
func status(reply []any) string {
	if len(reply) == 0 {
		return ""
	}
	return str(reply[0])
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// session reads a session's t, u, k and c.
func session(v []any) Session {
	return Session{Token: str(v[0]), Username: str(v[1]), Key: str(v[2]), Color: str(v[3])}
}

func integer(v any) int64 {
	n, _ := v.(int64)
	return n
}

// members reads the entries of a names: set, "<name key>\0<username>\0<colour>",
// limit of them at most, and whether more follow.
func members(v []any, limit int) ([]proto.Member, bool) {
	more := len(v) > limit
	v = v[:min(len(v), limit)]
	out := make([]proto.Member, 0, len(v))
	for _, e := range v {
		_, rest, _ := strings.Cut(str(e), "\x00")
		u, c, _ := strings.Cut(rest, "\x00")
		out = append(out, proto.Member{Username: u, Color: c})
	}
	return out, more
}

// Epoch implements Store: a random id kept in Redis, set when missing,
// and the replication id of the server that holds it. Replication is
// asynchronous, so a replica that Sentinel (or Cluster) promotes may lack
// the primary's last writes, a join or a leave; its promotion gives it a
// new replication id, so that the gateways announce their connections
// again and the store converges to the truth.
func (r *RedisStore) Epoch(ctx context.Context) (string, bool, error) {
	key := r.prefix + "epoch"
	fresh, err := r.rdb.SetNX(ctx, key, randomEpoch(), 0).Result()
	if err != nil {
		return "", false, fmt.Errorf("presence: epoch: %w", err)
	}
	e, err := r.rdb.Get(ctx, key).Result()
	if err != nil {
		return "", false, fmt.Errorf("presence: epoch: %w", err)
	}
	id, err := r.replicationID(ctx, key)
	if err != nil {
		return "", false, fmt.Errorf("presence: epoch: %w", err)
	}
	return e + "/" + id, fresh, nil
}

// replicationID is the master_replid of the primary that holds key.
func (r *RedisStore) replicationID(ctx context.Context, key string) (string, error) {
	var node redis.Cmdable = r.rdb
	if cc, ok := r.rdb.(*redis.ClusterClient); ok {
		c, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return "", fmt.Errorf("the master of %s: %w", key, err)
		}
		node = c
	}
	info, err := node.Info(ctx, "replication").Result()
	if err != nil {
		return "", fmt.Errorf("replication id: %w", err)
	}
	for line := range strings.Lines(info) {
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), "master_replid:"); ok {
			return id, nil
		}
	}
	return "", errors.New("replication id: INFO replication has no master_replid")
}

func randomEpoch() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

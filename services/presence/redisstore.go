package presence

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
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
// Keys, all under the prefix and layoutVersion; <x> is x in unpadded
// base64url, so that no user-chosen string (token, name, room, gateway or
// connection id) can reach into the key's structure:
//
//	sess:<token>          hash t u k ek c: the token, username, name key, <name key>
//	                      and colour of a session; it never expires while the session
//	                      has a connection, and expires ttl after its last one went
//	name:<name key>       the <token> of the session that holds the name: it exists
//	                      exactly while that session has a connection
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
// The scripts touch keys they derive from others, so on Redis Cluster the
// prefix must carry a hash tag, such as "{natter}:", putting every key in
// one slot.
type RedisStore struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a store that keeps its keys in rdb under prefix,
// such as "natter:", followed by layoutVersion. Sessions live ttl after
// their last connection went (0: DefaultSessionTTL).
func NewRedisStore(rdb redis.UniversalClient, prefix string, ttl time.Duration) *RedisStore {
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	return &RedisStore{rdb: rdb, prefix: prefix + layoutVersion, ttl: max(ttl, time.Millisecond)}
}

// layoutVersion follows the prefix of every key: a store of another
// layout is another store, that of an older version left to expire (all
// but its sorted sets do within the session time to live). The first
// replica of a new version finds no epoch and asks the gateways to
// announce their connections (see Store.Epoch).
const layoutVersion = "v2:"

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
	// ok, session (4), joined, left room, left session (4), count, then
	// up to MembersOnJoin+1 entries of names:
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
	if len(reply) < 12 {
		return JoinResult{}, fmt.Errorf("presence: join %q: short reply %v", p.Room, reply)
	}
	res := JoinResult{
		Session: session(reply[1:5]),
		Joined:  reply[5] == int64(1),
	}
	if left := str(reply[6]); left != "" {
		if res.LeftRoom, err = decode(left); err != nil {
			return JoinResult{}, fmt.Errorf("presence: join %q: left room: %w", p.Room, err)
		}
		res.LeftSession = session(reply[7:11])
	}
	res.MemberCount = int(integer(reply[11]))
	res.Members, _ = members(reply[12:], proto.MembersOnJoin)
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
	out := make([]string, 0, len(egws))
	for _, egw := range egws {
		gw, err := decode(egw)
		if err != nil {
			return nil, fmt.Errorf("presence: gateways: %w", err)
		}
		out = append(out, gw)
	}
	slices.Sort(out)
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

// luaPrelude starts every script: ARGV[1] is the key prefix, ARGV[2] the
// time to live of an offline session in milliseconds. Tokens, name keys,
// rooms and connections arrive encoded, and are stored so.
const luaPrelude = `
local prefix = ARGV[1]
local ttl = tonumber(ARGV[2])

local function sessKey(tok) return prefix .. 'sess:' .. tok end
local function nameKey(ek) return prefix .. 'name:' .. ek end
local function connsKey(tok) return prefix .. 'conns:' .. tok end
local function connKey(ec) return prefix .. 'conn:' .. ec end
local function namesKey(room) return prefix .. 'names:' .. room end
local function gwKey(egw) return prefix .. 'gw:' .. egw end
local function closedKey(ec) return prefix .. 'closed:' .. ec end
local colorsKey = prefix .. 'colors'
local roomsKey = prefix .. 'rooms'
local lingerKey = prefix .. 'linger'
local gatewaysKey = prefix .. 'gateways'

-- now is Redis's clock in Unix ms; only lingering needs it.
local function now()
  local clock = redis.call('TIME')
  return tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
end

-- nameEntry is a session's entry in a names: set. Name keys, names and
-- colours hold no control characters.
local function nameEntry(k, u, c) return k .. '\0' .. u .. '\0' .. c end

-- gwOf is the gateway of connection ec, both encoded.
local function gwOf(ec) return string.match(ec, '^[^:]*') end

-- hasConnIn tells whether session tok has a connection in room.
local function hasConnIn(tok, room)
  for _, r in ipairs(redis.call('HVALS', connsKey(tok))) do
    if r == room then return true end
  end
  return false
end

-- link puts connection ec of session tok in room, and reports whether it
-- is the session's first connection there. A session's first connection
-- makes it online: it stops expiring, takes its name (the caller checked
-- that nobody else holds it) and counts under its colour.
local function link(tok, ec, room)
  local ck = connsKey(tok)
  local first = redis.call('EXISTS', ck) == 0
  local joined = first or not hasConnIn(tok, room)
  redis.call('HSET', ck, ec, room)
  redis.call('SET', connKey(ec), tok)
  local egw = gwOf(ec)
  redis.call('SADD', gwKey(egw), ec)
  redis.call('SADD', gatewaysKey, egw)
  local s = redis.call('HMGET', sessKey(tok), 'k', 'ek', 'u', 'c')
  if first then
    redis.call('PERSIST', sessKey(tok))
    redis.call('SET', nameKey(s[2]), tok)
    redis.call('HINCRBY', colorsKey, s[4], 1)
  end
  if joined then
    redis.call('ZADD', namesKey(room), 0, nameEntry(s[1], s[3], s[4]))
    redis.call('SADD', roomsKey, room)
  end
  return joined
end

-- unlink removes connection ec from session tok (not the connection's own
-- key). It returns the connection's room, or false, and whether that was
-- the session's last connection there. A session's last connection makes
-- it offline: its name is free at once, and it expires ttl from now.
local function unlink(tok, ec)
  local ck = connsKey(tok)
  local room = redis.call('HGET', ck, ec)
  if not room then return false, false end
  redis.call('HDEL', ck, ec)
  redis.call('ZREM', lingerKey, ec)
  local egw = gwOf(ec)
  redis.call('SREM', gwKey(egw), ec)
  if redis.call('EXISTS', gwKey(egw)) == 0 then redis.call('SREM', gatewaysKey, egw) end
  local last = redis.call('EXISTS', ck) == 0
  local left = last or not hasConnIn(tok, room)
  local s = redis.call('HMGET', sessKey(tok), 'k', 'ek', 'u', 'c')
  if left and s[1] then
    local nk = namesKey(room)
    redis.call('ZREM', nk, nameEntry(s[1], s[3], s[4]))
    if redis.call('EXISTS', nk) == 0 then redis.call('SREM', roomsKey, room) end
  end
  if last and s[1] then
    redis.call('HINCRBY', colorsKey, s[4], -1)
    local name = nameKey(s[2])
    if redis.call('GET', name) == tok then redis.call('DEL', name) end
    redis.call('PEXPIRE', sessKey(tok), ttl)
  end
  return room, left
end

-- depart removes connection ec of session tok deliberately, with its own
-- key. When the session's other connections in the room all linger, they
-- go too: the user left on purpose, and the room is told now rather than
-- when their grace runs out. It returns what unlink does.
local function depart(tok, ec)
  redis.call('DEL', connKey(ec))
  local room, left = unlink(tok, ec)
  if not room or left then return room, left end
  local rest = {}
  local conns = redis.call('HGETALL', connsKey(tok))
  for i = 1, #conns, 2 do
    if conns[i + 1] == room then
      if not redis.call('ZSCORE', lingerKey, conns[i]) then return room, false end
      rest[#rest + 1] = conns[i]
    end
  end
  for _, c in ipairs(rest) do
    redis.call('DEL', connKey(c))
    left = select(2, unlink(tok, c))
  end
  return room, left
end

-- linger marks connection ec to be reaped at deadline (Unix ms), or
-- sooner if it is marked so already.
local function linger(ec, deadline)
  local cur = redis.call('ZSCORE', lingerKey, ec)
  if not cur or deadline < tonumber(cur) then
    redis.call('ZADD', lingerKey, deadline, ec)
  end
end

-- pageReply appends to reply the room's count, then the entries of its
-- names: set whose name keys follow after ('' from the first), limit + 1
-- at most: one more than the page tells whether more follow.
local function pageReply(reply, room, after, limit)
  local nk = namesKey(room)
  reply[#reply + 1] = redis.call('ZCARD', nk)
  -- Name keys have no control characters: past every "after\0...".
  local from = after == '' and '-' or '[' .. after .. '\1'
  for _, e in ipairs(redis.call('ZRANGEBYLEX', nk, from, '+', 'LIMIT', 0, limit + 1)) do
    reply[#reply + 1] = e
  end
  return reply
end
`

// Epoch implements Store: a random id kept in Redis, set when missing.
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
	return e, fresh, nil
}

func randomEpoch() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// joinScript: ARGV[3] connection, [4] room, [5] token or "", [6]
// username, [7] its name key, [8] that encoded, [9] new token, [10] that
// encoded, [11] the size of the page of members, [12] 1 for a resync,
// [13...] the palette.
// It replies ok, the session's t u k c, joined (0/1), the room left or
// "", the t u k c of who left it ("" each if nobody), then the room's
// count and first page (see pageReply); or just taken, nosession,
// newtoken or closed (a resync of a connection reported closed). Apart from the page it costs the same in any room.
var joinScript = redis.NewScript(luaPrelude + `
local ec, room, etok = ARGV[3], ARGV[4], ARGV[5]
local username, key, ek = ARGV[6], ARGV[7], ARGV[8]
local newTok, newEtok = ARGV[9], ARGV[10]
local pageSize = tonumber(ARGV[11])

-- A resync announces what its gateway holds, but a connection that the
-- gateway reported closed since may still be in its snapshot: announcing
-- it again would take back its leave. Any other join clears the mark.
if ARGV[12] == '1' then
  if redis.call('EXISTS', closedKey(ec)) == 1 then return {'closed'} end
else
  redis.call('DEL', closedKey(ec))
end

-- The token's session, if it lives and the name (if any) is its own;
-- offline, it resumes only if nobody else has taken its name meanwhile.
-- Otherwise a new session, if the name is free.
local tok = false
if etok ~= '' then
  local s = redis.call('HMGET', sessKey(etok), 'k', 'ek')
  if s[1] and (key == '' or s[1] == key) then
    local holder = redis.call('GET', nameKey(s[2]))
    if holder and holder ~= etok then return {'taken'} end
    tok = etok
  end
end
if not tok then
  if key == '' then return {'nosession'} end
  local holder = redis.call('GET', nameKey(ek))
  if holder and redis.call('HEXISTS', connsKey(holder), ec) == 1 then
    -- This very connection joined as the name: a repeat of that join
    -- (its answer was lost), which resumes it.
    tok = holder
  elseif holder and redis.call('EXISTS', sessKey(holder)) == 1 then
    return {'taken'}
  end
end
if not tok then
  if newEtok == '' or redis.call('EXISTS', sessKey(newEtok)) == 1 then return {'newtoken'} end
end

-- Move the connection out of where it was, unless it is there already.
local here = false
local leftRoom, left = '', {'', '', '', ''}
local prev = redis.call('GET', connKey(ec))
if prev then
  if prev == tok and redis.call('HGET', connsKey(prev), ec) == room then
    -- Back before its grace ran out: no longer lingering.
    here = true
    redis.call('ZREM', lingerKey, ec)
  else
    local r, gone = depart(prev, ec)
    if gone then
      local s = redis.call('HMGET', sessKey(prev), 't', 'u', 'k', 'c')
      if s[1] then leftRoom, left = r, s end
    end
  end
end

-- A new session gets the colour that the fewest online sessions have,
-- the first such in palette order. It is chosen after the connection
-- left its old session, which may have gone offline.
if not tok then
  local counts = redis.call('HMGET', colorsKey, unpack(ARGV, 13))
  local color, fewest = ARGV[13], false
  for i = 1, #counts do
    local n = tonumber(counts[i]) or 0
    if not fewest or n < fewest then color, fewest = ARGV[12 + i], n end
  end
  redis.call('HSET', sessKey(newEtok), 't', newTok, 'u', username, 'k', key, 'ek', ek, 'c', color)
  tok = newEtok
end

local joined = 0
if not here and link(tok, ec, room) then joined = 1 end

local s = redis.call('HMGET', sessKey(tok), 't', 'u', 'k', 'c')
return pageReply({'ok', s[1], s[2], s[3], s[4], joined, leftRoom, left[1], left[2], left[3], left[4]}, room, '', pageSize)
`)

// leaveScript: ARGV[3] connection, [4] grace in ms: 0 removes the
// connection now, more makes it linger; [5] how long, in ms, it is marked
// closed. It replies ok, the session's t u
// k c, the room, left (0/1); or unknown.
var leaveScript = redis.NewScript(luaPrelude + `
local ec, grace = ARGV[3], tonumber(ARGV[4])
local tok = redis.call('GET', connKey(ec))
if not tok then return {'unknown'} end
-- Reported closed: no resync may announce it again (see joinScript).
redis.call('SET', closedKey(ec), '1', 'PX', ARGV[5])
local room, left
if grace > 0 then
  room, left = redis.call('HGET', connsKey(tok), ec), false
  if room then linger(ec, now() + grace) end
else
  room, left = depart(tok, ec)
end
local s = redis.call('HMGET', sessKey(tok), 't', 'u', 'k', 'c')
if not room or not s[1] then return {'unknown'} end
return {'ok', s[1], s[2], s[3], s[4], room, left and 1 or 0}
`)

// reapScript: ARGV[3] the most connections to remove. It removes the
// lingering connections that are due, and replies how many it removed,
// then the t u k c and room of each session that left a room.
var reapScript = redis.NewScript(luaPrelude + `
local out = {0}
for _, ec in ipairs(redis.call('ZRANGEBYSCORE', lingerKey, '-inf', now(), 'LIMIT', 0, tonumber(ARGV[3]))) do
  out[1] = out[1] + 1
  redis.call('ZREM', lingerKey, ec)
  local tok = redis.call('GET', connKey(ec))
  if tok then
    redis.call('DEL', connKey(ec))
    local room, left = unlink(tok, ec)
    local s = redis.call('HMGET', sessKey(tok), 't', 'u', 'k', 'c')
    if left and s[1] then
      for _, v in ipairs({s[1], s[2], s[3], s[4], room}) do out[#out + 1] = v end
    end
  end
end
return out
`)

// endSessionScript: ARGV[3] token, [4] how long, in ms, its connections
// are marked closed. It removes the session's connections (marked, so
// that no resync of another tab brings the session back) and the session, and replies ok, then the t u k c and room of each room
// the session left; or nosession.
var endSessionScript = redis.NewScript(luaPrelude + `
local tok = ARGV[3]
local s = redis.call('HMGET', sessKey(tok), 't', 'u', 'k', 'c')
if not s[1] then return {'nosession'} end
local out = {'ok'}
local conns = redis.call('HKEYS', connsKey(tok))
for _, ec in ipairs(conns) do
  redis.call('DEL', connKey(ec))
  redis.call('SET', closedKey(ec), '1', 'PX', ARGV[4])
  local room, left = unlink(tok, ec)
  if left then
    for _, v in ipairs({s[1], s[2], s[3], s[4], room}) do out[#out + 1] = v end
  end
end
redis.call('DEL', sessKey(tok))
return out
`)

// dropGatewayScript: ARGV[3] gateway, [4] grace in ms. It makes the
// gateway's connections linger, and replies how many.
var dropGatewayScript = redis.NewScript(luaPrelude + `
local gk, deadline = gwKey(ARGV[3]), now() + tonumber(ARGV[4])
local n = 0
for _, ec in ipairs(redis.call('SMEMBERS', gk)) do
  if redis.call('EXISTS', connKey(ec)) == 1 then
    linger(ec, deadline)
    n = n + 1
  else
    redis.call('SREM', gk, ec)
  end
end
return n
`)

// roomsScript replies room, count, ... for every room with members.
var roomsScript = redis.NewScript(luaPrelude + `
local out = {}
for _, room in ipairs(redis.call('SMEMBERS', roomsKey)) do
  local n = redis.call('ZCARD', namesKey(room))
  if n == 0 then
    redis.call('SREM', roomsKey, room)
  else
    out[#out + 1] = room
    out[#out + 1] = n
  end
end
return out
`)

// membersScript: ARGV[3] room, [4] the name key the page follows or "",
// [5] the page's size. It replies as pageReply.
var membersScript = redis.NewScript(luaPrelude + `
return pageReply({}, ARGV[3], ARGV[4], tonumber(ARGV[5]))
`)

// lookupScript: ARGV[3] name key. It replies ok, the session's t u k c,
// online (0/1); or nosession.
var lookupScript = redis.NewScript(luaPrelude + `
local tok = redis.call('GET', nameKey(ARGV[3]))
if not tok then return {'nosession'} end
local s = redis.call('HMGET', sessKey(tok), 't', 'u', 'k', 'c')
if not s[1] then return {'nosession'} end
return {'ok', s[1], s[2], s[3], s[4], redis.call('EXISTS', connsKey(tok))}
`)

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

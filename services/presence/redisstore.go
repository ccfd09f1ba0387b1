package presence

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/natter/natter/proto"
)

// RedisStore is a Store in Redis, shared by every presence replica that
// uses the same Redis and prefix. Each method is one Lua script, so it is
// atomic across replicas.
//
// Keys, all under the prefix; <x> is x in unpadded base64url, so that no
// user-chosen string (token, name, room, gateway or connection id) can
// reach into the key's structure:
//
//	sess:<token>         hash t u k ek c: the token, username, name key, <name key>
//	                     and colour of a live session; expires ttl after its last use
//	name:<name key>      the <token> of the session that holds the name; expires with it
//	conns:<token>        hash <gateway>:<conn> → <room>: the session's connections;
//	                     expires with it; the session is online while it exists
//	conn:<gateway>:<conn> the <token> of the connection's session; expires with it
//	room:<room>          sorted set: the <token>s of the sessions with a connection in
//	                     the room, each scored with the Unix ms at which the session expires
//	names:<room>         sorted set, every score 0: "<name key>\0<token>\0<username>\0<colour>"
//	                     for each session of room:<room>, so that members are read a
//	                     page at a time in name key order
//	color:<colour>       sorted set: the <token>s of the online sessions with the colour,
//	                     scored like room
//	rooms                set: the <room>s whose sorted set may have members
//	linger               sorted set: the <gateway>:<conn> of the lingering connections,
//	                     each scored with the Unix ms at which Reap may remove it
//	gw:<gateway>         set: the gateway's <gateway>:<conn>s; expires ttl after the last
//	                     use of a session with a connection there
//
// The sorted sets are what a session's expiry cannot delete: their members
// are ignored once their score has passed, and pruned by the next write.
// Likewise names:, whose entries of expired sessions the pages that meet
// them drop; rooms, pruned by Rooms; linger, pruned by Reap; and gw:, pruned
// by DropGateway: an entry whose connection has expired is dropped there.
//
// All times are Redis's (TIME), so replicas with skewed clocks agree on
// when a session expires and when a lingering connection is due.
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
// such as "natter:". Sessions live ttl after their last use (0:
// DefaultSessionTTL).
func NewRedisStore(rdb redis.UniversalClient, prefix string, ttl time.Duration) *RedisStore {
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	return &RedisStore{rdb: rdb, prefix: prefix, ttl: max(ttl, time.Millisecond)}
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
		p.Username, key, ekey, p.NewToken, enew, proto.MembersOnJoin,
	}
	for _, c := range p.palette() {
		args = append(args, c)
	}
	reply, err := joinScript.Run(ctx, r.rdb, []string{r.connKey(p.Conn)}, args...).Slice()
	if err != nil {
		return JoinResult{}, fmt.Errorf("presence: join %q: %w", p.Room, err)
	}
	// ok, session (4), joined, left room, left session (4), count, more,
	// first page (2 each)
	switch status(reply) {
	case "ok":
	case "taken":
		return JoinResult{}, proto.ErrNameTaken
	case "nosession":
		return JoinResult{}, ErrNoSession
	case "newtoken":
		return JoinResult{}, errNewToken
	default:
		return JoinResult{}, fmt.Errorf("presence: join %q: unexpected reply %v", p.Room, reply)
	}
	if len(reply) < 13 {
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
	res.Members = members(reply[13:])
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
		r.prefix, r.ttl.Milliseconds(), connField(c), graceMillis(grace)).Slice()
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

// reapBatch is how many lingering connections one reap script removes at
// most, so that a long backlog does not block Redis for long.
const reapBatch = 500

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

// Online implements Store. It counts the live members of the colour
// sets: an online session is in its colour's, and only there.
func (r *RedisStore) Online(ctx context.Context) (int, error) {
	args := []any{r.prefix, r.ttl.Milliseconds()}
	for _, c := range Palette {
		args = append(args, c)
	}
	n, err := onlineScript.Run(ctx, r.rdb, []string{r.prefix + "color:" + Palette[0]}, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("presence: online: %w", err)
	}
	return n, nil
}

// Members implements Store.
func (r *RedisStore) Members(ctx context.Context, room, after string, limit int) (MemberPage, error) {
	eroom := encode(room)
	reply, err := membersScript.Run(ctx, r.rdb, []string{r.prefix + "room:" + eroom},
		r.prefix, r.ttl.Milliseconds(), eroom, after, max(limit, 1)).Slice()
	if err != nil {
		return MemberPage{}, fmt.Errorf("presence: members of %q: %w", room, err)
	}
	// count, more, page (2 each)
	if len(reply) < 2 {
		return MemberPage{}, fmt.Errorf("presence: members of %q: short reply %v", room, reply)
	}
	return MemberPage{Members: members(reply[2:]), Count: int(integer(reply[0])), More: integer(reply[1]) == 1}, nil
}

// Lookup implements Store. It does not refresh the session's time to live:
// being looked up is not a use.
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

// members reads username and colour pairs.
func members(v []any) []proto.Member {
	out := make([]proto.Member, 0, len(v)/2)
	for i := 0; i+1 < len(v); i += 2 {
		out = append(out, proto.Member{Username: str(v[i]), Color: str(v[i+1])})
	}
	return out
}

// luaPrelude starts every script: ARGV[1] is the key prefix, ARGV[2] the
// session time to live in milliseconds. Tokens, name keys, rooms and
// connections arrive encoded, and are stored so.
const luaPrelude = `
local prefix = ARGV[1]
local ttl = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
-- When a session touched now expires, as a sorted-set score.
local expires = now + ttl

local function sessKey(tok) return prefix .. 'sess:' .. tok end
local function nameKey(ek) return prefix .. 'name:' .. ek end
local function connsKey(tok) return prefix .. 'conns:' .. tok end
local function connKey(ec) return prefix .. 'conn:' .. ec end
local function roomKey(room) return prefix .. 'room:' .. room end
local function namesKey(room) return prefix .. 'names:' .. room end
local function colorKey(color) return prefix .. 'color:' .. color end
local function gwKey(egw) return prefix .. 'gw:' .. egw end
local roomsKey = prefix .. 'rooms'
local lingerKey = prefix .. 'linger'

-- nameEntry is session tok's entry in a names: set. Names and colours
-- hold no control characters.
local function nameEntry(k, tok, u, c) return k .. '\0' .. tok .. '\0' .. u .. '\0' .. c end

-- gwOf is the gateway of connection ec, both encoded.
local function gwOf(ec) return string.match(ec, '^[^:]*') end

-- hasConnIn tells whether session tok has a connection in room.
local function hasConnIn(tok, room)
  for _, r in ipairs(redis.call('HVALS', connsKey(tok))) do
    if r == room then return true end
  end
  return false
end

-- touch gives session tok, and everything that hangs on it, ttl more to
-- live, and puts it in the sorted sets of its rooms and, when online, of
-- its colour.
local function touch(tok)
  local sk = sessKey(tok)
  local s = redis.call('HMGET', sk, 'ek', 'c', 'k', 'u')
  if not s[1] then return end
  redis.call('PEXPIRE', sk, ttl)
  local nk = nameKey(s[1])
  if redis.call('GET', nk) == tok then redis.call('PEXPIRE', nk, ttl) end
  local ck = connsKey(tok)
  local conns = redis.call('HGETALL', ck)
  if #conns == 0 then return end
  redis.call('PEXPIRE', ck, ttl)
  for i = 1, #conns, 2 do
    redis.call('PEXPIRE', connKey(conns[i]), ttl)
    -- Every session lives ttl, so the one touched last outlives the
    -- others: the gateway's set expires with it.
    redis.call('PEXPIRE', gwKey(gwOf(conns[i])), ttl)
    redis.call('ZADD', roomKey(conns[i + 1]), expires, tok)
    redis.call('ZADD', namesKey(conns[i + 1]), 0, nameEntry(s[3], tok, s[4], s[2]))
    redis.call('SADD', roomsKey, conns[i + 1])
  end
  redis.call('ZADD', colorKey(s[2]), expires, tok)
end

-- unlink removes connection ec from session tok (not the connection's own
-- key). It returns the connection's room, or false, and whether that was
-- the session's last connection there.
local function unlink(tok, ec)
  local ck = connsKey(tok)
  local room = redis.call('HGET', ck, ec)
  if not room then return false, false end
  redis.call('HDEL', ck, ec)
  redis.call('ZREM', lingerKey, ec)
  redis.call('SREM', gwKey(gwOf(ec)), ec)
  local left = not hasConnIn(tok, room)
  if left then
    local rk = roomKey(room)
    redis.call('ZREM', rk, tok)
    local s = redis.call('HMGET', sessKey(tok), 'k', 'u', 'c')
    if s[1] then redis.call('ZREM', namesKey(room), nameEntry(s[1], tok, s[2], s[3])) end
    redis.call('ZREMRANGEBYSCORE', rk, '-inf', now)
    if redis.call('EXISTS', rk) == 0 then
      redis.call('SREM', roomsKey, room)
      redis.call('DEL', namesKey(room))
    end
  end
  if redis.call('EXISTS', ck) == 0 then
    local color = redis.call('HGET', sessKey(tok), 'c')
    if color then redis.call('ZREM', colorKey(color), tok) end
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

-- linger marks connection ec to be reaped grace ms from now, or sooner if
-- it is marked so already.
local function linger(ec, grace)
  local deadline = now + grace
  local cur = redis.call('ZSCORE', lingerKey, ec)
  if not cur or deadline < tonumber(cur) then
    redis.call('ZADD', lingerKey, deadline, ec)
  end
end

-- count is how many live sessions have a connection in room.
local function count(room)
  return redis.call('ZCOUNT', roomKey(room), '(' .. now, '+inf')
end

-- page lists the live sessions with a connection in room whose name key
-- follows after ('' from the first), limit at most, in name key order:
-- username, colour, ...; and whether more follow. It drops the entries
-- of expired sessions it meets.
local function page(room, after, limit)
  local rk, nk = roomKey(room), namesKey(room)
  local out, n = {}, 0
  -- Name keys have no control characters: past every "after\0<token>".
  local from = after == '' and '-' or '[' .. after .. '\1'
  while true do
    local batch = redis.call('ZRANGEBYLEX', nk, from, '+', 'LIMIT', 0, limit + 1 - n)
    if #batch == 0 then return out, false end
    local fields, toks = {}, {}
    for i, e in ipairs(batch) do
      local f = {}
      for part in string.gmatch(e, '[^%z]+') do f[#f + 1] = part end
      fields[i], toks[i] = f, f[2]
    end
    local scores = redis.call('ZMSCORE', rk, unpack(toks))
    for i, e in ipairs(batch) do
      if scores[i] and tonumber(scores[i]) > now then
        if n == limit then return out, true end
        out[#out + 1] = fields[i][3]
        out[#out + 1] = fields[i][4]
        n = n + 1
      else
        redis.call('ZREM', nk, e)
      end
      from = '(' .. e
    end
  end
end

-- pageReply is count, more (0/1), then page's members, appended to reply.
local function pageReply(reply, room, after, limit)
  reply[#reply + 1] = count(room)
  local ms, more = page(room, after, limit)
  reply[#reply + 1] = more and 1 or 0
  for _, v in ipairs(ms) do reply[#reply + 1] = v end
  return reply
end
`

// Epoch implements Store: a random id kept in Redis, set when missing.
func (r *RedisStore) Epoch(ctx context.Context) (string, error) {
	key := r.prefix + "epoch"
	if err := r.rdb.SetNX(ctx, key, randomEpoch(), 0).Err(); err != nil {
		return "", fmt.Errorf("presence: epoch: %w", err)
	}
	e, err := r.rdb.Get(ctx, key).Result()
	if err != nil {
		return "", fmt.Errorf("presence: epoch: %w", err)
	}
	return e, nil
}

func randomEpoch() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// joinScript: ARGV[3] connection, [4] room, [5] token or "", [6]
// username, [7] its name key, [8] that encoded, [9] new token, [10] that
// encoded, [11] the size of the page of members, [12...] the palette.
// It replies ok, the session's t u k c, joined (0/1), the room left or
// "", the t u k c of who left it ("" each if nobody), then the room's
// count, more and first page (see pageReply); or just taken, nosession
// or newtoken.
var joinScript = redis.NewScript(luaPrelude + `
local ec, room, etok = ARGV[3], ARGV[4], ARGV[5]
local username, key, ek = ARGV[6], ARGV[7], ARGV[8]
local newTok, newEtok = ARGV[9], ARGV[10]
local pageSize = tonumber(ARGV[11])

-- The token's session, if it is live and the name (if any) is its own;
-- otherwise a new session, if the name is free.
local tok = false
if etok ~= '' then
  local k = redis.call('HGET', sessKey(etok), 'k')
  if k and (key == '' or k == key) then tok = etok end
end
if not tok then
  if key == '' then return {'nosession'} end
  local holder = redis.call('GET', nameKey(ek))
  if holder and redis.call('EXISTS', sessKey(holder)) == 1 then return {'taken'} end
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
    local s = redis.call('HMGET', sessKey(prev), 't', 'u', 'k', 'c')
    if gone and s[1] then leftRoom, left = r, s end
    if prev ~= tok then touch(prev) end
  end
end

-- A new session gets the colour that the fewest online sessions have,
-- the first such in palette order. It is chosen after the connection
-- left its old session, which may have gone offline.
if not tok then
  local color, fewest = ARGV[12], false
  for i = 12, #ARGV do
    local ck = colorKey(ARGV[i])
    redis.call('ZREMRANGEBYSCORE', ck, '-inf', now)
    local n = redis.call('ZCARD', ck)
    if not fewest or n < fewest then color, fewest = ARGV[i], n end
  end
  redis.call('HSET', sessKey(newEtok), 't', newTok, 'u', username, 'k', key, 'ek', ek, 'c', color)
  redis.call('SET', nameKey(ek), newEtok)
  tok = newEtok
end

redis.call('ZREMRANGEBYSCORE', roomKey(room), '-inf', now)
local joined = 0
if not here then
  if not hasConnIn(tok, room) then joined = 1 end
  redis.call('HSET', connsKey(tok), ec, room)
  redis.call('SET', connKey(ec), tok)
  redis.call('SADD', gwKey(gwOf(ec)), ec)
  -- A connection whose session expired while it lingered may be listed.
  redis.call('ZREM', lingerKey, ec)
end
touch(tok)

local s = redis.call('HMGET', sessKey(tok), 't', 'u', 'k', 'c')
return pageReply({'ok', s[1], s[2], s[3], s[4], joined, leftRoom, left[1], left[2], left[3], left[4]}, room, '', pageSize)
`)

// leaveScript: ARGV[3] connection, [4] grace in ms: 0 removes the
// connection now, more makes it linger. It replies ok, the session's t u
// k c, the room, left (0/1); or unknown.
var leaveScript = redis.NewScript(luaPrelude + `
local ec, grace = ARGV[3], tonumber(ARGV[4])
local tok = redis.call('GET', connKey(ec))
if not tok then return {'unknown'} end
local room, left
if grace > 0 then
  room, left = redis.call('HGET', connsKey(tok), ec), false
  if room then linger(ec, grace) end
else
  room, left = depart(tok, ec)
end
local s = redis.call('HMGET', sessKey(tok), 't', 'u', 'k', 'c')
if not room or not s[1] then return {'unknown'} end
touch(tok)
return {'ok', s[1], s[2], s[3], s[4], room, left and 1 or 0}
`)

// reapScript: ARGV[3] the most connections to remove. It removes the
// lingering connections that are due, and replies how many it removed,
// then the t u k c and room of each session that left a room.
var reapScript = redis.NewScript(luaPrelude + `
local out = {0}
for _, ec in ipairs(redis.call('ZRANGEBYSCORE', lingerKey, '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))) do
  out[1] = out[1] + 1
  redis.call('ZREM', lingerKey, ec)
  -- Gone already if its session expired.
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

// dropGatewayScript: ARGV[3] gateway, [4] grace in ms. It makes the
// gateway's connections linger, and replies how many.
var dropGatewayScript = redis.NewScript(luaPrelude + `
local gk, grace = gwKey(ARGV[3]), tonumber(ARGV[4])
local n = 0
for _, ec in ipairs(redis.call('SMEMBERS', gk)) do
  if redis.call('EXISTS', connKey(ec)) == 1 then
    linger(ec, grace)
    n = n + 1
  else
    redis.call('SREM', gk, ec)
  end
end
return n
`)

// roomsScript replies room, count, ... for every room with a live session.
var roomsScript = redis.NewScript(luaPrelude + `
local out = {}
for _, room in ipairs(redis.call('SMEMBERS', roomsKey)) do
  local rk = roomKey(room)
  redis.call('ZREMRANGEBYSCORE', rk, '-inf', now)
  local n = redis.call('ZCARD', rk)
  if n == 0 then
    redis.call('SREM', roomsKey, room)
    redis.call('DEL', namesKey(room))
  else
    out[#out + 1] = room
    out[#out + 1] = n
  end
end
return out
`)

// onlineScript: ARGV[3...] the palette. It replies how many sessions the
// colours' sorted sets hold live. It only reads: Join prunes those sets.
var onlineScript = redis.NewScript(luaPrelude + `
local n = 0
for i = 3, #ARGV do
  n = n + redis.call('ZCOUNT', colorKey(ARGV[i]), '(' .. now, '+inf')
end
return n
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

package presence

import (
	"context"
	"encoding/base64"
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
//	color:<colour>       sorted set: the <token>s of the online sessions with the colour,
//	                     scored like room
//
// The sorted sets are what a session's expiry cannot delete: their members
// are ignored once their score has passed, and pruned by the next write.
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
		p.Username, key, ekey, p.NewToken, enew,
	}
	for _, c := range Palette {
		args = append(args, c)
	}
	reply, err := joinScript.Run(ctx, r.rdb, []string{r.connKey(p.Conn)}, args...).Slice()
	if err != nil {
		return JoinResult{}, fmt.Errorf("presence: join %q: %w", p.Room, err)
	}
	// ok, session (4), joined, left room, left session (4), members (3 each)
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
	if len(reply) < 11 {
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
	res.Members = members(reply[11:])
	return res, nil
}

// Leave implements Store.
func (r *RedisStore) Leave(ctx context.Context, c proto.ConnRef) (LeaveResult, error) {
	reply, err := leaveScript.Run(ctx, r.rdb, []string{r.connKey(c)},
		r.prefix, r.ttl.Milliseconds(), connField(c)).Slice()
	if err != nil {
		return LeaveResult{}, fmt.Errorf("presence: leave %s/%s: %w", c.Gateway, c.Conn, err)
	}
	// ok, session (4), room, left
	switch status(reply) {
	case "ok":
	case "unknown":
		return LeaveResult{}, ErrUnknownConn
	default:
		return LeaveResult{}, fmt.Errorf("presence: leave %s/%s: unexpected reply %v", c.Gateway, c.Conn, reply)
	}
	if len(reply) != 7 {
		return LeaveResult{}, fmt.Errorf("presence: leave %s/%s: short reply %v", c.Gateway, c.Conn, reply)
	}
	room, err := decode(str(reply[5]))
	if err != nil {
		return LeaveResult{}, fmt.Errorf("presence: leave %s/%s: room: %w", c.Gateway, c.Conn, err)
	}
	return LeaveResult{Session: session(reply[1:5]), Room: room, Left: reply[6] == int64(1)}, nil
}

// Members implements Store.
func (r *RedisStore) Members(ctx context.Context, room string) ([]proto.Member, error) {
	eroom := encode(room)
	reply, err := membersScript.Run(ctx, r.rdb, []string{r.prefix + "room:" + eroom},
		r.prefix, r.ttl.Milliseconds(), eroom).Slice()
	if err != nil {
		return nil, fmt.Errorf("presence: members of %q: %w", room, err)
	}
	return members(reply), nil
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

// members reads username, key and colour triples, and orders them by key.
func members(v []any) []proto.Member {
	type member struct{ key, username, color string }
	ms := make([]member, 0, len(v)/3)
	for i := 0; i+2 < len(v); i += 3 {
		ms = append(ms, member{username: str(v[i]), key: str(v[i+1]), color: str(v[i+2])})
	}
	slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.key, b.key) })
	out := make([]proto.Member, len(ms))
	for i, m := range ms {
		out[i] = proto.Member{Username: m.username, Color: m.color}
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
local function colorKey(color) return prefix .. 'color:' .. color end

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
  local s = redis.call('HMGET', sk, 'ek', 'c')
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
    redis.call('ZADD', roomKey(conns[i + 1]), expires, tok)
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
  local left = not hasConnIn(tok, room)
  if left then
    redis.call('ZREM', roomKey(room), tok)
    redis.call('ZREMRANGEBYSCORE', roomKey(room), '-inf', now)
  end
  if redis.call('EXISTS', ck) == 0 then
    local color = redis.call('HGET', sessKey(tok), 'c')
    if color then redis.call('ZREM', colorKey(color), tok) end
  end
  return room, left
end

-- members lists the live sessions with a connection in room as username,
-- name key, colour, ...
local function members(room)
  local out = {}
  for _, tok in ipairs(redis.call('ZRANGEBYSCORE', roomKey(room), '(' .. now, '+inf')) do
    local s = redis.call('HMGET', sessKey(tok), 'u', 'k', 'c')
    if s[1] then
      out[#out + 1] = s[1]
      out[#out + 1] = s[2]
      out[#out + 1] = s[3]
    end
  end
  return out
end
`

// joinScript: ARGV[3] connection, [4] room, [5] token or "", [6]
// username, [7] its name key, [8] that encoded, [9] new token, [10] that
// encoded, [11...] the palette. It replies ok, the session's t u k c,
// joined (0/1), the room left or "", the t u k c of who left it ("" each
// if nobody), then the room's members; or just taken, nosession or
// newtoken.
var joinScript = redis.NewScript(luaPrelude + `
local ec, room, etok = ARGV[3], ARGV[4], ARGV[5]
local username, key, ek = ARGV[6], ARGV[7], ARGV[8]
local newTok, newEtok = ARGV[9], ARGV[10]

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
    here = true
  else
    local r, gone = unlink(prev, ec)
    local s = redis.call('HMGET', sessKey(prev), 't', 'u', 'k', 'c')
    if gone and s[1] then leftRoom, left = r, s end
    if prev ~= tok then touch(prev) end
  end
end

-- A new session gets the colour that the fewest online sessions have,
-- the first such in palette order. It is chosen after the connection
-- left its old session, which may have gone offline.
if not tok then
  local color, fewest = ARGV[11], false
  for i = 11, #ARGV do
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
end
touch(tok)

local s = redis.call('HMGET', sessKey(tok), 't', 'u', 'k', 'c')
local reply = {'ok', s[1], s[2], s[3], s[4], joined, leftRoom, left[1], left[2], left[3], left[4]}
for _, v in ipairs(members(room)) do reply[#reply + 1] = v end
return reply
`)

// leaveScript: ARGV[3] connection. It replies ok, the session's t u k c,
// the room, left (0/1); or unknown.
var leaveScript = redis.NewScript(luaPrelude + `
local ec = ARGV[3]
local tok = redis.call('GET', connKey(ec))
if not tok then return {'unknown'} end
redis.call('DEL', connKey(ec))
local room, left = unlink(tok, ec)
local s = redis.call('HMGET', sessKey(tok), 't', 'u', 'k', 'c')
if not room or not s[1] then return {'unknown'} end
touch(tok)
return {'ok', s[1], s[2], s[3], s[4], room, left and 1 or 0}
`)

// membersScript: ARGV[3] room. It replies username, name key, colour, ...
var membersScript = redis.NewScript(luaPrelude + `
return members(ARGV[3])
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

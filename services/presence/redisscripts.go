// The Lua scripts of RedisStore: one per Store operation that touches
// more than one key, so that it is atomic across replicas.

package presence

import (
	"github.com/redis/go-redis/v9"
)

// luaPrelude starts every script: ARGV[1] is the key prefix, ARGV[2] the
// time to live of an offline session in milliseconds. Tokens, name keys,
// rooms and connections arrive encoded, and are stored so.
const luaPrelude = `
local prefix = ARGV[1]
local ttl = tonumber(ARGV[2])

local function sessKey(tok) return prefix .. 'sess:' .. tok end
local function nameKey(ek) return prefix .. 'name:' .. ek end
local function lastKey(ek) return prefix .. 'last:' .. ek end
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
    redis.call('DEL', lastKey(s[2]))
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
-- it offline: its name is free at once (but an identity's, see Store), and
-- it expires ttl from now.
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
  local s = redis.call('HMGET', sessKey(tok), 'k', 'ek', 'u', 'c', 't')
  if left and s[1] then
    local nk = namesKey(room)
    redis.call('ZREM', nk, nameEntry(s[1], s[3], s[4]))
    if redis.call('EXISTS', nk) == 0 then redis.call('SREM', roomsKey, room) end
  end
  if last and s[1] then
    redis.call('HINCRBY', colorsKey, s[4], -1)
    local name = nameKey(s[2])
    if redis.call('GET', name) == tok then
      if string.sub(s[5], 1, 3) == 'id.' then
        -- An identity's session (proto.IsIdentityToken) holds its name
        -- while it lives: the key goes with the session.
        redis.call('PEXPIRE', name, ttl)
      else
        redis.call('DEL', name)
        -- Lookup finds it, offline, until the name is taken again.
        redis.call('SET', lastKey(s[2]), tok, 'PX', ttl)
      end
    end
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

// joinScript: ARGV[3] connection, [4] room, [5] token or "", [6]
// username, [7] its name key, [8] that encoded, [9] new token, [10] that
// encoded, [11] the size of the page of members, [12] 1 for a resync,
// [13...] the palette.
// It replies ok, the session's t u k c, joined (0/1), the room left or
// "", the t u k c of who left it ("" each if nobody), the session's
// renames so far, then the room's count and first page (see pageReply); or just taken, nosession,
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

local s = redis.call('HMGET', sessKey(tok), 't', 'u', 'k', 'c', 'n')
return pageReply({'ok', s[1], s[2], s[3], s[4], joined, leftRoom, left[1], left[2], left[3], left[4], tonumber(s[5]) or 0}, room, '', pageSize)
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
local ek = redis.call('HGET', sessKey(tok), 'ek')
for _, k in ipairs({nameKey(ek), lastKey(ek)}) do
  if redis.call('GET', k) == tok then redis.call('DEL', k) end
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
// online (0/1), of the session that holds the name, else of the one that
// held it last while it lives offline; or nosession.
var lookupScript = redis.NewScript(luaPrelude + `
local tok = redis.call('GET', nameKey(ARGV[3])) or redis.call('GET', lastKey(ARGV[3]))
if not tok then return {'nosession'} end
local s = redis.call('HMGET', sessKey(tok), 't', 'u', 'k', 'c')
if not s[1] then return {'nosession'} end
return {'ok', s[1], s[2], s[3], s[4], redis.call('EXISTS', connsKey(tok))}
`)

// renameScript: ARGV[3] token, [4] the new username, [5] its name key,
// [6] that encoded. It replies ok, the session's t u k c, the name it
// had, its renames so far, changed (0/1), then the session's rooms (each
// once); or nosession (none online) or taken.
var renameScript = redis.NewScript(luaPrelude + `
local tok, username, key, ek = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local s = redis.call('HMGET', sessKey(tok), 't', 'u', 'k', 'ek', 'c', 'n')
if not s[1] or redis.call('EXISTS', connsKey(tok)) == 0 then return {'nosession'} end
local rooms, seen = {}, {}
for _, r in ipairs(redis.call('HVALS', connsKey(tok))) do
  if not seen[r] then seen[r], rooms[#rooms + 1] = true, r end
end
local gen, changed = tonumber(s[6]) or 0, 0
if username ~= s[2] then
  local holder = redis.call('GET', nameKey(ek))
  if holder and holder ~= tok and redis.call('EXISTS', sessKey(holder)) == 1 then return {'taken'} end
  -- The old name is free at once, and nobody's offline: a whisper to it
  -- is for its next holder.
  if redis.call('GET', nameKey(s[4])) == tok then redis.call('DEL', nameKey(s[4])) end
  redis.call('SET', nameKey(ek), tok)
  redis.call('DEL', lastKey(ek))
  for _, room in ipairs(rooms) do
    redis.call('ZREM', namesKey(room), nameEntry(s[3], s[2], s[5]))
    redis.call('ZADD', namesKey(room), 0, nameEntry(key, username, s[5]))
  end
  redis.call('HSET', sessKey(tok), 'u', username, 'k', key, 'ek', ek)
  gen, changed = redis.call('HINCRBY', sessKey(tok), 'n', 1), 1
end
local out = {'ok', s[1], username, key, s[5], s[2], gen, changed}
if changed == 0 then out[3], out[4] = s[2], s[3] end
for _, room in ipairs(rooms) do out[#out + 1] = room end
return out
`)

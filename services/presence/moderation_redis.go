package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/natter/natter/proto"
)

// redisModeration is the ModerationStore of a RedisStore, under its
// prefix (and hash tag):
//
//	mod:<ban|mute>:<room>:<target>  until (Unix ms; 0 for good), expiring then
//	mod:roles                       hash: identity → granted role
//	mod:ident:<name key>            the identity that joined under it, for the session TTL
//	mod:log                         list: the newest actions (JSON), newest first
type redisModeration struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
}

var _ ModerationStore = (*redisModeration)(nil)

// Moderation returns the store's ModerationStore: moderation's state in
// the same Redis, under the same prefix.
func (r *RedisStore) Moderation() ModerationStore {
	return &redisModeration{rdb: r.rdb, prefix: r.prefix, ttl: r.ttl}
}

func (r *redisModeration) key(kind, room, target string) string {
	return r.prefix + "mod:" + kind + ":" + encode(room) + ":" + encode(target)
}

func (r *redisModeration) Restrict(ctx context.Context, kind, room, target string, until time.Time) error {
	k := r.key(kind, room, target)
	var err error
	if until.IsZero() {
		err = r.rdb.Set(ctx, k, "0", 0).Err()
	} else {
		err = r.rdb.Set(ctx, k, strconv.FormatInt(until.UnixMilli(), 10), max(time.Until(until), time.Millisecond)).Err()
	}
	if err != nil {
		return fmt.Errorf("presence: %s in %q: %w", kind, room, err)
	}
	return nil
}

func (r *redisModeration) Lift(ctx context.Context, kind, room, target string) (bool, error) {
	n, err := r.rdb.Del(ctx, r.key(kind, room, target)).Result()
	if err != nil {
		return false, fmt.Errorf("presence: lift %s in %q: %w", kind, room, err)
	}
	return n > 0, nil
}

func (r *redisModeration) AtJoin(ctx context.Context, room string, targets []string, identity, nameKey string) (Standing, error) {
	keys := make([]string, 0, 2*len(targets))
	for _, t := range targets {
		keys = append(keys, r.key(kindBan, room, t), r.key(kindMute, room, t))
	}
	var role *redis.StringCmd
	var held *redis.SliceCmd
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		held = p.MGet(ctx, keys...)
		if identity != "" {
			role = p.HGet(ctx, r.prefix+"mod:roles", identity)
			if nameKey != "" {
				p.Set(ctx, r.prefix+"mod:ident:"+encode(nameKey), identity, r.ttl)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Standing{}, fmt.Errorf("presence: standing in %q: %w", room, err)
	}
	var st Standing
	for i, v := range held.Val() {
		s, ok := v.(string)
		if !ok {
			continue
		}
		ms, _ := strconv.ParseInt(s, 10, 64)
		var u time.Time
		if ms > 0 {
			u = time.UnixMilli(ms)
		}
		if i%2 == 0 {
			st.Banned, st.BannedUntil = hold(st.Banned, st.BannedUntil, u)
		} else {
			st.Muted, st.MutedUntil = hold(st.Muted, st.MutedUntil, u)
		}
	}
	if role != nil {
		st.Role = role.Val()
	}
	return st, nil
}

func (r *redisModeration) IdentityOf(ctx context.Context, nameKey string) (string, error) {
	id, err := r.rdb.Get(ctx, r.prefix+"mod:ident:"+encode(nameKey)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("presence: identity of a name: %w", err)
	}
	return id, nil
}

func (r *redisModeration) SetRole(ctx context.Context, identity, role string) error {
	var err error
	if role == "" {
		err = r.rdb.HDel(ctx, r.prefix+"mod:roles", identity).Err()
	} else {
		err = r.rdb.HSet(ctx, r.prefix+"mod:roles", identity, role).Err()
	}
	if err != nil {
		return fmt.Errorf("presence: role: %w", err)
	}
	return nil
}

func (r *redisModeration) Record(ctx context.Context, m proto.Moderation) error {
	b, _ := json.Marshal(m)
	k := r.prefix + "mod:log"
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, k, b)
		p.LTrim(ctx, k, 0, proto.MaxModerationLog-1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("presence: record %s: %w", m.Action, err)
	}
	return nil
}

func (r *redisModeration) Recent(ctx context.Context, room string, limit int) ([]proto.Moderation, error) {
	items, err := r.rdb.LRange(ctx, r.prefix+"mod:log", 0, proto.MaxModerationLog-1).Result()
	if err != nil {
		return nil, fmt.Errorf("presence: moderation log: %w", err)
	}
	var out []proto.Moderation
	for _, it := range items {
		var m proto.Moderation
		if json.Unmarshal([]byte(it), &m) != nil || (room != "" && m.Room != room) {
			continue
		}
		if out = append(out, m); len(out) == limit {
			break
		}
	}
	return out, nil
}

package presence

import (
	"context"
	"sync"
	"time"

	"github.com/natter/natter/proto"
)

// ModerationStore keeps what moderation holds: the bans and mutes in
// rooms, by target (proto.IdentityTarget or proto.NameTarget), each for
// a time or for good; the roles granted to identities; which identity
// holds a name, while its session may live; and the log of recent
// actions. Presence's Redis store keeps it in Redis beside the sessions
// (RedisStore.Moderation), so that it holds across gateways, replicas
// and restarts; the memory store in memory.
type ModerationStore interface {
	// Restrict bans or mutes (kind) target in room until (zero: for good).
	Restrict(ctx context.Context, kind, room, target string, until time.Time) error
	// Lift ends a ban or mute; it reports whether there was one.
	Lift(ctx context.Context, kind, room, target string) (bool, error)
	// AtJoin returns what holds for a join to room by the targets, and
	// the role granted to identity (when set); it remembers that
	// identity holds the name key (when both are set).
	AtJoin(ctx context.Context, room string, targets []string, identity, nameKey string) (Standing, error)
	// IdentityOf returns the identity that last joined under the name
	// key, while it may; "" if none.
	IdentityOf(ctx context.Context, nameKey string) (string, error)
	// SetRole grants role to identity; "" revokes.
	SetRole(ctx context.Context, identity, role string) error
	// Record adds m to the log, which keeps the newest
	// proto.MaxModerationLog; Recent returns the newest limit of room
	// ("" for all), newest first.
	Record(ctx context.Context, m proto.Moderation) error
	Recent(ctx context.Context, room string, limit int) ([]proto.Moderation, error)
}

// The kinds of restriction.
const (
	kindBan  = "ban"
	kindMute = "mute"
)

// Standing is what holds for a user joining a room.
type Standing struct {
	Banned, Muted           bool
	BannedUntil, MutedUntil time.Time // zero: for good
	Role                    string
}

// hold folds a restriction until u (zero: for good) into one already
// found (held): the longer wins.
func hold(held bool, cur, u time.Time) (bool, time.Time) {
	if held && (cur.IsZero() || (!u.IsZero() && cur.After(u))) {
		return true, cur
	}
	return true, u
}

// memModeration is a ModerationStore in memory.
type memModeration struct {
	now func() time.Time
	ttl time.Duration // of a name's identity

	mu      sync.Mutex
	held    map[restrictionKey]time.Time // until; zero for good
	roles   map[string]string
	idents  map[string]memIdent
	actions []proto.Moderation // oldest first
}

type restrictionKey struct{ kind, room, target string }

type memIdent struct {
	identity string
	expires  time.Time
}

var _ ModerationStore = (*memModeration)(nil)

func newMemModeration(ttl time.Duration, now func() time.Time) *memModeration {
	if now == nil {
		now = time.Now
	}
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	return &memModeration{
		now: now, ttl: ttl,
		held: make(map[restrictionKey]time.Time), roles: make(map[string]string), idents: make(map[string]memIdent),
	}
}

// holding returns the restriction of k, dropping it if it has ended.
func (m *memModeration) holding(k restrictionKey) (time.Time, bool) {
	u, ok := m.held[k]
	if ok && !u.IsZero() && !m.now().Before(u) {
		delete(m.held, k)
		return time.Time{}, false
	}
	return u, ok
}

func (m *memModeration) Restrict(_ context.Context, kind, room, target string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.held[restrictionKey{kind, room, target}] = until
	return nil
}

func (m *memModeration) Lift(_ context.Context, kind, room, target string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := restrictionKey{kind, room, target}
	_, ok := m.holding(k)
	delete(m.held, k)
	return ok, nil
}

func (m *memModeration) AtJoin(_ context.Context, room string, targets []string, identity, nameKey string) (Standing, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var st Standing
	for _, t := range targets {
		if u, ok := m.holding(restrictionKey{kindBan, room, t}); ok {
			st.Banned, st.BannedUntil = hold(st.Banned, st.BannedUntil, u)
		}
		if u, ok := m.holding(restrictionKey{kindMute, room, t}); ok {
			st.Muted, st.MutedUntil = hold(st.Muted, st.MutedUntil, u)
		}
	}
	if identity != "" {
		st.Role = m.roles[identity]
		if nameKey != "" {
			m.idents[nameKey] = memIdent{identity, m.now().Add(m.ttl)}
		}
	}
	return st, nil
}

func (m *memModeration) IdentityOf(_ context.Context, nameKey string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.idents[nameKey]
	if !ok || !m.now().Before(id.expires) {
		delete(m.idents, nameKey)
		return "", nil
	}
	return id.identity, nil
}

func (m *memModeration) SetRole(_ context.Context, identity, role string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if role == "" {
		delete(m.roles, identity)
	} else {
		m.roles[identity] = role
	}
	return nil
}

func (m *memModeration) Record(_ context.Context, a proto.Moderation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.actions = append(m.actions, a)
	if over := len(m.actions) - proto.MaxModerationLog; over > 0 {
		m.actions = append(m.actions[:0], m.actions[over:]...)
	}
	return nil
}

func (m *memModeration) Recent(_ context.Context, room string, limit int) ([]proto.Moderation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []proto.Moderation
	for i := len(m.actions) - 1; i >= 0 && len(out) < limit; i-- {
		if room == "" || m.actions[i].Room == room {
			out = append(out, m.actions[i])
		}
	}
	return out, nil
}

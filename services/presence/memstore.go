package presence

import (
	"container/heap"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/natter/natter/proto"
)

// MemoryStore is a Store in one process's memory, for running natter as a
// single process. It is safe for concurrent use.
type MemoryStore struct {
	ttl time.Duration
	now func() time.Time

	mu       sync.Mutex
	sessions map[string]*memSession // by token
	names    map[string]*memSession // the online sessions, by name key
	// last holds, by name key, the offline session that held a name
	// nobody holds now, while it lives: Lookup finds it, for a whisper.
	last   map[string]*memSession
	conns  map[proto.ConnRef]*memSession // every connection's session
	rooms  map[string]*memRoom           // the rooms with users
	colors map[string]int                // colour → online sessions that have it
	expiry expiryQueue                   // the offline sessions, the soonest to expire first
	// lingering holds the connections whose transport was lost, each
	// with when Reap may remove it.
	lingering map[proto.ConnRef]time.Time
	// closed holds the connections reported closed, each with until when
	// a resync of it is refused (JoinParams.Resync).
	closed    map[proto.ConnRef]time.Time
	epochMade bool // Epoch was called
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store whose sessions live ttl after their
// last connection went (0: DefaultSessionTTL). now is its clock (nil:
// time.Now).
func NewMemoryStore(ttl time.Duration, now func() time.Time) *MemoryStore {
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{
		ttl:      ttl,
		now:      now,
		sessions: make(map[string]*memSession),
		names:    make(map[string]*memSession),
		last:     make(map[string]*memSession),
		conns:    make(map[proto.ConnRef]*memSession),
		rooms:    make(map[string]*memRoom),
		colors:   make(map[string]int),

		lingering: make(map[proto.ConnRef]time.Time),
		closed:    make(map[proto.ConnRef]time.Time),
	}
}

// Join implements Store.
func (m *MemoryStore) Join(_ context.Context, p JoinParams) (JoinResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.expire(now)

	if p.Resync {
		if until, ok := m.closed[p.Conn]; ok && now.Before(until) {
			return JoinResult{}, ErrUnknownConn
		}
	} else {
		delete(m.closed, p.Conn)
	}
	var key string
	if p.Username != "" {
		key = proto.NameKey(p.Username)
	}
	s := m.sessions[p.Token]
	if p.Token == "" || s == nil || (key != "" && s.Key != key) {
		s = nil
	} else if h := m.names[s.Key]; h != nil && h != s {
		// Offline, and its name was taken meanwhile.
		return JoinResult{}, proto.ErrNameTaken
	}
	if h := m.names[key]; s == nil && key != "" && h != nil {
		if _, ok := h.conns[p.Conn]; ok {
			// This very connection joined as the name: a repeat of that
			// join (its answer was lost), which resumes it.
			s = h
		}
	}
	if s == nil {
		switch {
		case key == "":
			return JoinResult{}, ErrNoSession
		case m.names[key] != nil:
			return JoinResult{}, proto.ErrNameTaken
		case p.NewToken == "" || m.sessions[p.NewToken] != nil:
			return JoinResult{}, errNewToken
		}
	}

	var res JoinResult
	here := false
	if prev := m.conns[p.Conn]; prev != nil {
		if prev == s && prev.conns[p.Conn] == p.Room {
			// Back before its grace ran out: no longer lingering.
			here = true
			delete(m.lingering, p.Conn)
		} else if room, left := m.depart(prev, p.Conn, now); left {
			res.LeftRoom, res.LeftSession = room, prev.Session
		}
	}
	if s == nil {
		// Chosen after the connection left its old session, which may
		// have gone offline and so freed its colour.
		s = m.open(p.NewToken, p.Username, key, p.palette())
	}
	if !here {
		res.Joined = m.link(s, p.Conn, p.Room)
	}
	res.Session, res.Gen = s.Session, s.gen
	page := m.page(p.Room, "", proto.MembersOnJoin)
	res.Members, res.MemberCount = page.Members, page.Count
	return res, nil
}

// errNewToken means a Join would open a session without a fresh token.
var errNewToken = errors.New("presence: join: a new session needs a NewToken that names no session")

// Leave implements Store.
func (m *MemoryStore) Leave(_ context.Context, c proto.ConnRef) (LeaveResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, now, err := m.closing(c)
	if err != nil {
		return LeaveResult{}, err
	}
	room, left := m.depart(s, c, now)
	return LeaveResult{Session: s.Session, Room: room, Left: left}, nil
}

// Linger implements Store.
func (m *MemoryStore) Linger(ctx context.Context, c proto.ConnRef, grace time.Duration) (LeaveResult, error) {
	if grace <= 0 {
		return m.Leave(ctx, c)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, now, err := m.closing(c)
	if err != nil {
		return LeaveResult{}, err
	}
	m.linger(c, now.Add(grace))
	return LeaveResult{Session: s.Session, Room: s.conns[c]}, nil
}

// closing expires what is due and marks connection c closed (a join of
// it is refused from now on), returning its session and the time; m.mu is
// held.
func (m *MemoryStore) closing(c proto.ConnRef) (*memSession, time.Time, error) {
	now := m.now()
	m.expire(now)
	s := m.conns[c]
	if s == nil {
		return nil, now, ErrUnknownConn
	}
	m.closed[c] = now.Add(closedFor)
	return s, now, nil
}

// EndSession implements Store.
func (m *MemoryStore) EndSession(_ context.Context, token string) ([]LeaveResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.expire(now)

	s := m.sessions[token]
	if s == nil {
		return nil, ErrNoSession
	}
	var out []LeaveResult
	for c := range s.conns {
		m.closed[c] = now.Add(closedFor) // no resync of another tab brings it back
		if room, left := m.unlink(s, c, now); left {
			out = append(out, LeaveResult{Session: s.Session, Room: room, Left: true})
		}
	}
	if s.index >= 0 {
		heap.Remove(&m.expiry, s.index)
	}
	delete(m.sessions, token)
	m.freeName(s)
	sortLeaves(out)
	return out, nil
}

// Rename implements Store.
func (m *MemoryStore) Rename(_ context.Context, token, username string) (RenameResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(m.now())

	s := m.sessions[token]
	if s == nil || len(s.conns) == 0 {
		return RenameResult{}, ErrNoSession
	}
	res := RenameResult{From: s.Username, Rooms: s.rooms()}
	if username == s.Username {
		res.Session = s.Session
		return res, nil
	}
	key := proto.NameKey(username)
	if h := m.names[key]; h != nil && h != s {
		return RenameResult{}, proto.ErrNameTaken
	}
	delete(m.names, s.Key) // free at once, with no offline holder
	for _, room := range res.Rooms {
		m.rooms[room].rename(s, username, key)
	}
	s.Username, s.Key = username, key // set in each room already; a session online is in one
	m.names[key] = s
	delete(m.last, key)
	s.gen++
	res.Session, res.Gen, res.Changed = s.Session, s.gen, true
	return res, nil
}

// SessionRooms implements Store.
func (m *MemoryStore) SessionRooms(_ context.Context, token string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(m.now())
	s := m.sessions[token]
	if s == nil || len(s.conns) == 0 {
		return nil, ErrNoSession
	}
	return s.rooms(), nil
}

// Reap implements Store.
func (m *MemoryStore) Reap(context.Context) ([]LeaveResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.expire(now)

	for c, until := range m.closed {
		if !now.Before(until) {
			delete(m.closed, c)
		}
	}
	var out []LeaveResult
	for c, deadline := range m.lingering {
		if now.Before(deadline) {
			continue
		}
		s := m.conns[c]
		if s == nil { // cannot happen: unlink forgets lingering connections
			delete(m.lingering, c)
			continue
		}
		if room, left := m.unlink(s, c, now); left {
			out = append(out, LeaveResult{Session: s.Session, Room: room, Left: true})
		}
	}
	sortLeaves(out)
	return out, nil
}

// DropGateway implements Store.
func (m *MemoryStore) DropGateway(_ context.Context, gateway string, grace time.Duration) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.expire(now)

	n := 0
	for c := range m.conns {
		if c.Gateway == gateway {
			m.linger(c, now.Add(max(grace, 0)))
			n++
		}
	}
	return n, nil
}

// Gateways implements Store.
func (m *MemoryStore) Gateways(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for c := range m.conns {
		out = append(out, c.Gateway)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Rooms implements Store.
func (m *MemoryStore) Rooms(context.Context) ([]RoomCount, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(m.now())

	out := make([]RoomCount, 0, len(m.rooms))
	for room, in := range m.rooms {
		out = append(out, RoomCount{Room: room, Count: len(in.conns)})
	}
	slices.SortFunc(out, func(a, b RoomCount) int { return strings.Compare(a.Room, b.Room) })
	return out, nil
}

// Online implements Store.
func (m *MemoryStore) Online(context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(m.now())

	// Each online session is counted once, under its colour.
	n := 0
	for _, c := range m.colors {
		n += c
	}
	return n, nil
}

// Members implements Store.
func (m *MemoryStore) Members(_ context.Context, room, after string, limit int) (MemberPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(m.now())
	return m.page(room, after, max(limit, 1)), nil
}

// Lookup implements Store.
func (m *MemoryStore) Lookup(_ context.Context, key string) (Session, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(m.now())
	s := m.names[key]
	if s == nil {
		s = m.last[key]
	}
	if s == nil {
		return Session{}, false, ErrNoSession
	}
	return s.Session, len(s.conns) > 0, nil
}

// Epoch implements Store: memory never loses its state while it lives.
func (m *MemoryStore) Epoch(context.Context) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fresh := !m.epochMade
	m.epochMade = true
	return "memory", fresh, nil
}

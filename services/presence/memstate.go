package presence

import (
	"container/heap"
	"slices"
	"strings"
	"time"

	"github.com/natter/natter/proto"
)

// memRoom is the sessions with a connection in a room.
type memRoom struct {
	conns map[*memSession]int // session → its connections there
	byKey []*memSession       // the same sessions, ordered by name key
}

// add counts a connection of s, and reports whether it is the first.
func (r *memRoom) add(s *memSession) bool {
	if r.conns[s]++; r.conns[s] > 1 {
		return false
	}
	i, _ := slices.BinarySearchFunc(r.byKey, s.Key, bySessionKey)
	r.byKey = slices.Insert(r.byKey, i, s)
	return true
}

// remove uncounts a connection of s, and reports whether it was the last.
func (r *memRoom) remove(s *memSession) bool {
	if r.conns[s]--; r.conns[s] > 0 {
		return false
	}
	delete(r.conns, s)
	if i, ok := slices.BinarySearchFunc(r.byKey, s.Key, bySessionKey); ok {
		r.byKey = slices.Delete(r.byKey, i, i+1)
	}
	return true
}

// rename gives s, counted in r, the name username with key key, moving
// it to its place by the new key.
func (r *memRoom) rename(s *memSession, username, key string) {
	if i, ok := slices.BinarySearchFunc(r.byKey, s.Key, bySessionKey); ok {
		r.byKey = slices.Delete(r.byKey, i, i+1)
	}
	s.Username, s.Key = username, key
	i, _ := slices.BinarySearchFunc(r.byKey, key, bySessionKey)
	r.byKey = slices.Insert(r.byKey, i, s)
}

func bySessionKey(s *memSession, key string) int { return strings.Compare(s.Key, key) }

type memSession struct {
	Session
	conns   map[proto.ConnRef]string // connection → its room; empty when offline
	expires time.Time                // when offline
	index   int                      // in MemoryStore.expiry when offline, else -1
	gen     int64                    // renames so far
}

// rooms returns the rooms s has connections in, ordered by name.
func (s *memSession) rooms() []string {
	var out []string
	for _, room := range s.conns {
		out = append(out, room)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// open registers a new session with the least used colour of palette; it
// is offline, not yet expiring, until link.
func (m *MemoryStore) open(token, username, key string, palette []string) *memSession {
	color := palette[0]
	for _, c := range palette[1:] {
		if m.colors[c] < m.colors[color] {
			color = c
		}
	}
	s := &memSession{
		Session: Session{Token: token, Username: username, Key: key, Color: color},
		conns:   make(map[proto.ConnRef]string),
		index:   -1,
	}
	m.sessions[token] = s
	return s
}

// link puts connection c of session s in room, and reports whether it is
// the session's first connection there. A session's first connection
// makes it online: it stops expiring, takes its name (the caller checked
// that nobody else holds it) and counts under its colour.
func (m *MemoryStore) link(s *memSession, c proto.ConnRef, room string) bool {
	if len(s.conns) == 0 {
		m.colors[s.Color]++
		m.names[s.Key] = s
		delete(m.last, s.Key) // the name's holder now, whoever held it last
		if s.index >= 0 {
			heap.Remove(&m.expiry, s.index)
		}
	}
	s.conns[c] = room
	m.conns[c] = s
	in := m.rooms[room]
	if in == nil {
		in = &memRoom{conns: make(map[*memSession]int)}
		m.rooms[room] = in
	}
	return in.add(s)
}

// linger marks connection c to be reaped at deadline, or sooner if it is
// marked so already.
func (m *MemoryStore) linger(c proto.ConnRef, deadline time.Time) {
	if d, ok := m.lingering[c]; !ok || deadline.Before(d) {
		m.lingering[c] = deadline
	}
}

// depart removes connection c of session s deliberately. When the
// session's other connections in the room are all lingering, they go too:
// the user left on purpose, and the room is told now rather than when
// their grace runs out.
func (m *MemoryStore) depart(s *memSession, c proto.ConnRef, now time.Time) (room string, left bool) {
	room, left = m.unlink(s, c, now)
	if left {
		return room, true
	}
	var rest []proto.ConnRef
	for o, r := range s.conns {
		if r != room {
			continue
		}
		if _, ok := m.lingering[o]; !ok {
			return room, false
		}
		rest = append(rest, o)
	}
	for _, o := range rest {
		_, left = m.unlink(s, o, now)
	}
	return room, left
}

// unlink removes connection c from session s, and returns its room and
// whether it was the session's last connection there. A session's last
// connection makes it offline: its name is free at once (but an
// identity's, see Store), and it expires ttl from now.
func (m *MemoryStore) unlink(s *memSession, c proto.ConnRef, now time.Time) (room string, left bool) {
	room = s.conns[c]
	delete(s.conns, c)
	delete(m.conns, c)
	delete(m.lingering, c)
	if len(s.conns) == 0 {
		m.colors[s.Color]--
		if m.names[s.Key] == s && !proto.IsIdentityToken(s.Token) {
			delete(m.names, s.Key)
			m.last[s.Key] = s
		}
		s.expires = now.Add(m.ttl)
		heap.Push(&m.expiry, s)
	}
	in := m.rooms[room]
	if !in.remove(s) {
		return room, false
	}
	if len(in.conns) == 0 {
		delete(m.rooms, room)
	}
	return room, true
}

// expire forgets the offline sessions whose time is up: their tokens
// resume nothing any more.
func (m *MemoryStore) expire(now time.Time) {
	for len(m.expiry) > 0 && !now.Before(m.expiry[0].expires) {
		s := heap.Pop(&m.expiry).(*memSession)
		delete(m.sessions, s.Token)
		m.freeName(s)
	}
}

// freeName lets s's name go, if s holds it: s has ended.
func (m *MemoryStore) freeName(s *memSession) {
	if m.names[s.Key] == s {
		delete(m.names, s.Key)
	}
	if m.last[s.Key] == s {
		delete(m.last, s.Key)
	}
}

// page returns the page of room's members whose keys follow after.
func (m *MemoryStore) page(room, after string, limit int) MemberPage {
	in := m.rooms[room]
	if in == nil {
		return MemberPage{}
	}
	i := 0
	if after != "" {
		var found bool
		if i, found = slices.BinarySearchFunc(in.byKey, after, bySessionKey); found {
			i++
		}
	}
	rest := in.byKey[i:]
	p := MemberPage{Count: len(in.conns), More: len(rest) > limit}
	for _, s := range rest[:min(limit, len(rest))] {
		p.Members = append(p.Members, proto.Member{Username: s.Username, Color: s.Color})
	}
	return p
}

// expiryQueue is a heap of sessions ordered by expiry.
type expiryQueue []*memSession

func (q expiryQueue) Len() int           { return len(q) }
func (q expiryQueue) Less(i, j int) bool { return q[i].expires.Before(q[j].expires) }
func (q expiryQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *expiryQueue) Push(x any) {
	s := x.(*memSession)
	s.index = len(*q)
	*q = append(*q, s)
}
func (q *expiryQueue) Pop() any {
	old := *q
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	s.index = -1
	return s
}

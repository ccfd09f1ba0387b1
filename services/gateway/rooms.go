package gateway

import (
	"slices"

	"github.com/natter/natter/proto"
)

// Several rooms on one connection. A connection has a member in each of
// its rooms (conn.rooms, the current one last, conn.cur); every member is
// in its room's group, and the current one alone in its session's group,
// so that a whisper reaches the connection once. Presence counts
// membership by connection: each member is a presence connection of its
// own (member.ref), the socket's id for the room of a plain join and
// subRef for each room kept besides, so that presence tells each room of
// joins and leaves, counts a user once per room across tabs, and lingers,
// reaps and resyncs per room, as it does for tabs.

// subRef is the presence connection of the socket sockID in room, besides
// the room of its plain join.
func subRef(sockID, room string) string { return sockID + "#" + proto.Token(room) }

// place makes m the connection's only member (a plain join moves the
// connection): out of every room it was in. It returns the members it
// took out.
func (h *hub) place(cn *conn, m *member) []*member {
	h.mu.Lock()
	defer h.mu.Unlock()
	cn.mu.Lock()
	defer cn.mu.Unlock()
	old := cn.rooms
	h.enterLocked(m)
	cn.rooms = []*member{m}
	for _, o := range old {
		h.exitLocked(o)
	}
	h.setCurrentLocked(cn, m)
	return old
}

// add puts m among the connection's members as its current one (a join
// that keeps the other rooms), in place of its member in m's room if it
// has one.
func (h *hub) add(cn *conn, m *member) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cn.mu.Lock()
	defer cn.mu.Unlock()
	h.enterLocked(m)
	if i := slices.IndexFunc(cn.rooms, func(o *member) bool { return o.room == m.room }); i >= 0 {
		h.exitLocked(cn.rooms[i])
		cn.rooms = slices.Delete(cn.rooms, i, i+1)
	}
	cn.rooms = append(cn.rooms, m)
	h.setCurrentLocked(cn, m)
}

// leave takes the connection's member in room out, and returns it; nil
// when it has none. The current room is then the one joined before.
func (h *hub) leave(cn *conn, room string) *member {
	h.mu.Lock()
	defer h.mu.Unlock()
	cn.mu.Lock()
	defer cn.mu.Unlock()
	i := slices.IndexFunc(cn.rooms, func(o *member) bool { return o.room == room })
	if i < 0 {
		return nil
	}
	m := cn.rooms[i]
	cn.rooms = slices.Delete(cn.rooms, i, i+1)
	h.exitLocked(m)
	var cur *member
	if len(cn.rooms) > 0 {
		cur = cn.rooms[len(cn.rooms)-1]
	}
	h.setCurrentLocked(cn, cur)
	return m
}

// removeConn takes every member of the connection out (it closed, or
// logged out), and returns them.
func (h *hub) removeConn(cn *conn) []*member {
	h.mu.Lock()
	defer h.mu.Unlock()
	cn.mu.Lock()
	defer cn.mu.Unlock()
	old := cn.rooms
	cn.rooms = nil
	for _, o := range old {
		h.exitLocked(o)
	}
	h.setCurrentLocked(cn, nil)
	return old
}

// setCurrentLocked makes m (nil: none) the connection's current member,
// and its session group's entry for the connection: the new one in before
// the old one out, so that the session's subscriptions stay. The caller
// holds h.mu and cn.mu.
func (h *hub) setCurrentLocked(cn *conn, m *member) {
	old := cn.cur.Swap(m)
	if old == m {
		return
	}
	if m != nil {
		h.enterUserLocked(m)
	}
	if old != nil {
		exit(h.users, old.sid, old)
	}
}

// memberIn returns the connection's member in room, nil if it is not in
// it.
func (cn *conn) memberIn(room string) *member {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	for _, m := range cn.rooms {
		if m.room == room {
			return m
		}
	}
	return nil
}

// members returns the connection's members, the current one last.
func (cn *conn) members() []*member {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return slices.Clone(cn.rooms)
}

// holds reports whether m is still one of the connection's members.
func (cn *conn) holds(m *member) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return slices.Contains(cn.rooms, m)
}

// roomNames returns the names of the connection's rooms, the current one
// last.
func (cn *conn) roomNames() []string {
	names := []string{}
	for _, m := range cn.members() {
		names = append(names, m.room)
	}
	return names
}

// ask records that presence is asked to join ref.
func (cn *conn) ask(ref string) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.refs == nil {
		cn.refs = map[string]bool{}
	}
	cn.refs[ref] = true
}

// told records that presence was told ref has left.
func (cn *conn) told(ref string) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	delete(cn.refs, ref)
}

// asked returns the presence connections asked to join and not told of a
// leave since, in order.
func (cn *conn) asked() []string {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	refs := make([]string, 0, len(cn.refs))
	for ref := range cn.refs {
		refs = append(refs, ref)
	}
	slices.Sort(refs)
	return refs
}

// inRoom returns the connection's member in the room an event names, or
// cur, the current one's, when it names none: invalid_room for a room
// against the rules, not_in_room for one the connection is not in.
func inRoom(cn *conn, cur *member, room string) (*member, error) {
	if room == "" {
		return cur, nil
	}
	room, err := proto.NormalizeRoom(room)
	if err != nil {
		return nil, err
	}
	if m := cn.memberIn(room); m != nil {
		return m, nil
	}
	return nil, proto.Errorf(proto.CodeNotInRoom, "not in room %q; join it first (with keep to stay in the others)", room)
}

package history

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/proto/rpc"
)

// Read positions (proto.ReadPositions): one key of proto.ReadBucket per
// session, its rooms read most recently first. A position only moves
// forward, by stream sequence; concurrent reads of one session (two tabs)
// meet in the bucket's compare-and-set, and the loser tries again on
// what the winner wrote.

// readTries bounds the compare-and-set retries of one read.
const readTries = 5

func readError(e *proto.Error) proto.ReadMarkReply { return proto.ReadMarkReply{Error: e} }

func unreadError(e *proto.Error) proto.UnreadReply {
	return proto.UnreadReply{Rooms: []proto.RoomUnread{}, Error: e}
}

// markRead moves a session's read position in a room forward to a
// message the room holds, or (no id) to its newest.
func (s *Service) markRead(data []byte) rpc.Reply {
	var q proto.ReadMark
	if err := json.Unmarshal(data, &q); err != nil || !proto.ValidSessionID(q.User) || (q.ID != "" && !proto.ValidID(q.ID)) {
		return readError(proto.ErrBadRequest)
	}
	room, err := proto.NormalizeRoom(q.Room)
	if err != nil {
		return readError(proto.AsError(err))
	}
	if err := s.catchUp(proto.RoomMsgSubject(room)); err != nil {
		s.log.Warn("history: behind the stream", "err", err)
		return readError(proto.ErrUnavailable)
	}
	pos, ok := s.positionAt(room, q.ID)
	if !ok {
		return readError(proto.Errorf(proto.CodeNoSuchMessage, "room %s holds no message %s", room, q.ID))
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultCatchUpTimeout)
	defer cancel()
	for try := 1; ; try++ {
		got, err := s.moveRead(ctx, q.User, pos)
		if err == nil {
			return proto.ReadMarkReply{Read: got.ID, Unread: s.unreadAfter(room, got.Seq)}
		}
		if !lostRace(err) || try >= readTries {
			s.log.Warn("history: read position", "err", err)
			return readError(proto.ErrUnavailable)
		}
	}
}

// moveRead writes pos as user's position in its room unless the one kept
// is as far or further, and returns the position kept. It fails (lostRace)
// when another write came between its read and its write.
func (s *Service) moveRead(ctx context.Context, user string, pos proto.ReadPosition) (proto.ReadPosition, error) {
	kept, rev, err := s.readPositions(ctx, user)
	if err != nil {
		return pos, err
	}
	i := slices.IndexFunc(kept.Rooms, func(p proto.ReadPosition) bool { return p.Room == pos.Room })
	if i >= 0 {
		if kept.Rooms[i].Seq >= pos.Seq {
			return kept.Rooms[i], nil // never backwards
		}
		kept.Rooms = slices.Delete(kept.Rooms, i, i+1)
	}
	kept.Rooms = slices.Insert(kept.Rooms, 0, pos)
	kept.Rooms = kept.Rooms[:min(len(kept.Rooms), proto.MaxReadRooms)]
	data, err := json.Marshal(kept)
	if err != nil {
		return pos, err
	}
	if rev == 0 {
		_, err = s.reads.Create(ctx, user, data)
	} else {
		_, err = s.reads.Update(ctx, user, data, rev)
	}
	return pos, err
}

// lostRace tells whether err is a compare-and-set that lost: the key was
// created, or written, since it was read.
func lostRace(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// readPositions returns user's read positions and their revision in the
// bucket (0: none yet).
func (s *Service) readPositions(ctx context.Context, user string) (proto.ReadPositions, uint64, error) {
	var kept proto.ReadPositions
	e, err := s.reads.Get(ctx, user)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return kept, 0, nil
	}
	if err != nil {
		return kept, 0, err
	}
	if json.Unmarshal(e.Value(), &kept) != nil {
		s.log.Warn("history: undecodable read positions; starting over")
		kept = proto.ReadPositions{}
	}
	return kept, e.Revision(), nil
}

// unreadQuery answers a session's query of its read positions, with the
// unread count of each room.
func (s *Service) unreadQuery(data []byte) rpc.Reply {
	var q proto.UnreadQuery
	if err := json.Unmarshal(data, &q); err != nil || !proto.ValidSessionID(q.User) {
		return unreadError(proto.ErrBadRequest)
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultCatchUpTimeout)
	defer cancel()
	kept, _, err := s.readPositions(ctx, q.User)
	if err != nil {
		s.log.Warn("history: read positions", "err", err)
		return unreadError(proto.ErrUnavailable)
	}
	if err := s.catchUp(""); err != nil {
		s.log.Warn("history: behind the stream", "err", err)
		return unreadError(proto.ErrUnavailable)
	}
	r := proto.UnreadReply{Rooms: make([]proto.RoomUnread, 0, len(kept.Rooms))}
	for _, p := range kept.Rooms {
		r.Rooms = append(r.Rooms, proto.RoomUnread{Room: p.Room, Read: p.ID, Unread: s.unreadAfter(p.Room, p.Seq)})
	}
	return r
}

// positionAt returns the read position at the message id of room's
// cache; for "", at the room's newest message, or, in a room without
// any, at the stream's newest (so that every later message counts).
func (s *Service) positionAt(room, id string) (proto.ReadPosition, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var entries []entry
	if l := s.rooms[room]; l != nil {
		entries = l.entries
	}
	if id == "" {
		if len(entries) == 0 {
			return proto.ReadPosition{Room: room, Seq: s.applied}, true
		}
		last := entries[len(entries)-1]
		return proto.ReadPosition{Room: room, ID: last.id, Seq: last.seq}, true
	}
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].id == id {
			return proto.ReadPosition{Room: room, ID: id, Seq: entries[i].seq}, true
		}
	}
	return proto.ReadPosition{}, false
}

// unreadAfter counts the room's held messages stored after the stream
// sequence seq, at most proto.MaxUnread: a binary search, the entries
// being in the stream's order.
func (s *Service) unreadAfter(room string, seq uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.rooms[room]
	if l == nil {
		return 0
	}
	i := sort.Search(len(l.entries), func(i int) bool { return l.entries[i].seq > seq })
	return min(len(l.entries)-i, proto.MaxUnread)
}

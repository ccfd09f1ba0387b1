package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/proto/rpc"
)

// Edits and deletions of room messages (proto/edit.go). History owns the
// stream and knows, in its caches, every stored version of a message, so
// it makes the change: it appends a change record on the room's subject
// (an edit holds the whole message with its new text, a deletion a
// tombstone without any), waits until its caches have read it, then
// securely erases every older version (JetStream overwrites the erased
// bytes). In that order, the stream's newest message is never erased: a
// reader of the stream (another history replica, say) that waits for the
// stream's last sequence always gets it.
//
// Concurrent changes of one message, on two replicas, each erase what is
// older than their own record: the newest record stays, and is what the
// caches show. An edit stored after a deletion (the two raced) changes
// nothing in the caches; its requester stores the tombstone again and
// erases the edit with the rest.

// editTimeout bounds one change: reading up, storing, erasing.
const editTimeout = 2 * DefaultCatchUpTimeout

// applyRecord applies a change record, of stream sequence seq with the
// headers h and the message msg as it is now, to the room's timeline l.
// The caller holds s.mu.
func (s *Service) applyRecord(l *timeline, seq uint64, h nats.Header, msg *proto.Message) {
	s.metrics.messages.WithLabelValues(kindEdit).Inc()
	if i := l.find(msg.ID); i >= 0 {
		e := &l.entries[i]
		e.stored = append(e.stored, seq)
		if !e.msg.Deleted { // else an edit that lost the race to a deletion
			e.msg = msg
		}
		return
	}
	// The original is erased (the caches are read again from the
	// stream), or older than they hold: the record has it whole, in the
	// place of the original.
	at, err := strconv.ParseUint(h.Get(proto.HeaderReplaces), 10, 64)
	if err != nil || at == 0 || at > seq {
		at = seq
	}
	l.insert(entry{seq: at, id: msg.ID, msg: msg, sender: h.Get(proto.HeaderSender), stored: []uint64{seq}}, s.cfg.CachePerRoom)
}

// find returns the index of the entry with id, or -1.
func (l *timeline) find(id string) int {
	for i := len(l.entries) - 1; i >= 0; i-- {
		if l.entries[i].id == id {
			return i
		}
	}
	return -1
}

// insert adds e in the order of its sequence; one older than all of a
// full timeline is not kept.
func (l *timeline) insert(e entry, limit int) {
	i, _ := slices.BinarySearchFunc(l.entries, e.seq, func(x entry, seq uint64) int {
		switch {
		case x.seq < seq:
			return -1
		case x.seq > seq:
			return 1
		}
		return 0
	})
	if i == 0 && len(l.entries) >= limit {
		return
	}
	l.entries = slices.Insert(l.entries, i, e)
	if over := len(l.entries) - limit; over > 0 {
		l.entries = append(l.entries[:0], l.entries[over:]...)
	}
}

// changedBefore returns the messages at or before the one with id after
// (held: see after) that changed since it was stored: edited or deleted
// after it, which a client that has everything through it has seen in
// their old state. ok is false when there are more than limit.
func changedBefore(entries []entry, after string, limit int) (changed []proto.Message, ok bool) {
	i := slices.IndexFunc(entries, func(e entry) bool { return e.id == after })
	if i < 0 {
		return nil, true
	}
	since := entries[i].seq
	for _, e := range entries[:i+1] {
		if e.stored[len(e.stored)-1] > since {
			if len(changed) == limit {
				return nil, false
			}
			changed = append(changed, *e.msg)
		}
	}
	return changed, true
}

// editQuery answers a request to edit or delete a room message.
func (s *Service) editQuery(data []byte) rpc.Reply {
	var q proto.HistoryEdit
	if err := json.Unmarshal(data, &q); err != nil || !proto.ValidID(q.ID) || !proto.ValidSessionID(q.Session) {
		return proto.HistoryEditReply{Error: proto.ErrBadRequest}
	}
	room, err := proto.NormalizeRoom(q.Room)
	if err != nil {
		return proto.HistoryEditReply{Error: proto.AsError(err)}
	}
	if !q.Delete {
		if err := proto.ValidateMessage(q.Message); err != nil {
			return proto.HistoryEditReply{Error: proto.AsError(err)}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), editTimeout)
	defer cancel()
	msg, err := s.change(ctx, room, q)
	if err != nil {
		var pe *proto.Error
		if !errors.As(err, &pe) {
			s.log.Warn("history: edit", "room", room, "id", q.ID, "err", err)
			pe = proto.ErrUnavailable
		}
		return proto.HistoryEditReply{Error: pe}
	}
	return proto.HistoryEditReply{Message: msg}
}

// change makes the change q asks of a message of room and returns the
// message as it is now.
func (s *Service) change(ctx context.Context, room string, q proto.HistoryEdit) (*proto.Message, error) {
	subject := proto.RoomMsgSubject(room)
	if err := s.catchUp(subject); err != nil {
		return nil, err
	}
	e, ok := s.current(room, q.ID)
	if !ok || e.msg.Deleted {
		return nil, proto.ErrNoSuchMessage
	}
	own := e.sender != "" && e.sender == q.Session
	if !own && !(q.Delete && q.Moderator) {
		return nil, proto.ErrForbidden
	}
	next := *e.msg
	kind := proto.RecordEdit
	if q.Delete {
		kind = proto.RecordDelete
		next.Message, next.EditedAt, next.Deleted = "", 0, true
		if !own {
			next.DeletedBy = q.By
		}
	} else {
		next.Message, next.EditedAt = q.Message, time.Now().UnixMilli()
	}
	seq, err := s.storeRecord(ctx, subject, kind, e, &next)
	if err != nil {
		return nil, err
	}
	e = s.since(room, e, seq, &next)
	if kind == proto.RecordEdit && e.msg.Deleted {
		// Deleted meanwhile, before this edit: stored again, the
		// tombstone is the newest version, and the edit goes with the rest.
		if seq, err = s.storeRecord(ctx, subject, proto.RecordDelete, e, e.msg); err != nil {
			return nil, err
		}
		e = s.since(room, e, seq, e.msg)
		err = proto.ErrNoSuchMessage
	}
	if eraseErr := s.erase(ctx, e.stored, seq); eraseErr != nil {
		// Stored but not all erased: a retry stores the change again and
		// erases everything before it.
		return nil, fmt.Errorf("erase the older versions: %w", eraseErr)
	}
	return e.msg, err
}

// since returns the entry of the message that was e once its record seq,
// of the message msg, is read: as the caches hold it now, or, when they
// no longer do (a busy room pushed it out meanwhile), e with the record.
func (s *Service) since(room string, e entry, seq uint64, msg *proto.Message) entry {
	if now, ok := s.current(room, e.id); ok {
		return now
	}
	e.stored, e.msg = append(e.stored, seq), msg
	return e
}

// current returns a copy of the cached entry of the message id of room.
func (s *Service) current(room, id string) (entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.rooms[room]
	if l == nil {
		return entry{}, false
	}
	i := l.find(id)
	if i < 0 {
		return entry{}, false
	}
	e := l.entries[i]
	e.stored = slices.Clone(e.stored)
	return e, true
}

// storeRecord stores a change record of kind of the entry e, now msg, and
// waits until the caches have read it; it returns the record's sequence.
func (s *Service) storeRecord(ctx context.Context, subject, kind string, e entry, msg *proto.Message) (uint64, error) {
	out := nats.NewMsg(subject)
	out.Header.Set(proto.HeaderRecord, kind)
	out.Header.Set(proto.HeaderReplaces, strconv.FormatUint(e.seq, 10))
	if e.sender != "" {
		out.Header.Set(proto.HeaderSender, e.sender)
	}
	out.Data, _ = json.Marshal(msg)
	ack, err := s.js.PublishMsg(ctx, out)
	if err != nil {
		return 0, fmt.Errorf("store the %s record: %w", kind, err)
	}
	if err := s.reach(ctx, ack.Sequence); err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// reach waits until the caches have read the stream through seq.
func (s *Service) reach(ctx context.Context, seq uint64) error {
	for {
		s.mu.Lock()
		applied, changed := s.applied, s.changed
		s.mu.Unlock()
		if applied >= seq {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("cache at %d, stream at %d: %w", applied, seq, ctx.Err())
		}
	}
}

// erase securely deletes the versions in stored older than the sequence
// newest; one gone already (erased by a concurrent change, or aged out)
// is no error.
func (s *Service) erase(ctx context.Context, stored []uint64, newest uint64) error {
	for _, seq := range stored {
		if seq >= newest {
			continue
		}
		err := s.stream.SecureDeleteMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
			// Refused, as a message no longer there is: gone is fine.
			if _, getErr := s.stream.GetMsg(ctx, seq); errors.Is(getErr, jetstream.ErrMsgNotFound) {
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("erase %d: %w", seq, err)
		}
	}
	return nil
}

package gateway

import (
	"sync"

	"github.com/natter/natter/proto"
)

// joinHistory answers the history query of a plain join (no since), the
// newest proto.HistoryOnJoin messages of its room, and shares one query
// among the joins of a room that ask at the same time: in a join storm,
// one query a round trip per room instead of one per join.
//
// A query may be shared only by joins placed in the hub before it was
// sent: a join goes live from the reply's Through, and a message stored
// after the query but before the join was placed would be neither in its
// history nor live. So a room has at most one query in flight; joins that
// ask meanwhile wait for it to end and share the next one, which the
// first of them sends.
type joinHistory struct {
	ask func(proto.HistoryQuery) (proto.HistoryReply, error)

	mu    sync.Mutex
	rooms map[string]*roomQueries // rooms with a query in flight
}

// roomQueries is a room's query in flight, and the one that waits for it.
type roomQueries struct {
	flying *historyQuery
	next   *historyQuery // nil until a join asks while flying is out
}

// historyQuery is one query and, once done is closed, its answer.
type historyQuery struct {
	done   chan struct{}
	reply  proto.HistoryReply
	err    error
	askers int // the calls that wait for it, its sender too; under mu
}

func newJoinHistory(ask func(proto.HistoryQuery) (proto.HistoryReply, error)) *joinHistory {
	return &joinHistory{ask: ask, rooms: map[string]*roomQueries{}}
}

// latest returns the newest messages of room, from a query sent after the
// call began. The reply is shared: its callers must not change it.
func (h *joinHistory) latest(room string) (proto.HistoryReply, error) {
	h.mu.Lock()
	rq := h.rooms[room]
	if rq == nil {
		rq = &roomQueries{}
		h.rooms[room] = rq
	}
	if q := rq.next; q != nil { // not sent yet: share it
		q.askers++
		h.mu.Unlock()
		<-q.done
		return q.reply, q.err
	}
	q := &historyQuery{done: make(chan struct{}), askers: 1}
	before := rq.flying
	if before == nil {
		rq.flying = q
	} else {
		rq.next = q // this call sends it, once before is done
	}
	h.mu.Unlock()

	if before != nil {
		<-before.done
		h.mu.Lock()
		rq.flying, rq.next = q, nil // from now on, joins wait for the next one
		h.mu.Unlock()
	}
	q.reply, q.err = h.ask(proto.HistoryQuery{Room: room, Limit: proto.HistoryOnJoin})

	h.mu.Lock()
	if rq.next == nil {
		delete(h.rooms, room)
	} // else its sender, waiting for q, takes the room over
	h.mu.Unlock()
	close(q.done)
	return q.reply, q.err
}

package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/proto"
)

// fakeHistory is a history service whose answers the test releases one at
// a time; each answer's Through is the query's number, counting from 1.
type fakeHistory struct {
	mu      sync.Mutex
	queries []proto.HistoryQuery
	release chan error // one answer per value: with that error, or none
}

func (f *fakeHistory) ask(q proto.HistoryQuery) (proto.HistoryReply, error) {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	n := len(f.queries)
	f.mu.Unlock()
	if err := <-f.release; err != nil {
		return proto.HistoryReply{}, err
	}
	return proto.HistoryReply{Through: uint64(n)}, nil
}

func (f *fakeHistory) asked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queries)
}

// nextAskers is how many calls wait for room's next query, 0 when none does.
func (h *joinHistory) nextAskers(room string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if rq := h.rooms[room]; rq != nil && rq.next != nil {
		return rq.next.askers
	}
	return 0
}

// TestJoinHistoryShared: the joins of a room that ask while its query is
// out share the next query, sent when that one is done, and never get the
// answer of a query sent before they asked; another room has its own.
func TestJoinHistoryShared(t *testing.T) {
	f := &fakeHistory{release: make(chan error)}
	h := newJoinHistory(f.ask)
	type answer struct {
		through uint64
		err     error
	}
	latest := func(room string) <-chan answer {
		out := make(chan answer, 1)
		go func() {
			r, err := h.latest(room)
			out <- answer{r.Through, err}
		}()
		return out
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		err := wait.Until(context.Background(), 5*time.Second, func() error {
			if !cond() {
				return errors.New(what)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	first := latest("r")
	until("the first query sent", func() bool { return f.asked() == 1 })
	var later []<-chan answer
	for i := range 5 {
		later = append(later, latest("r"))
		until(fmt.Sprintf("%d joins waiting", i+1), func() bool { return h.nextAskers("r") == i+1 })
	}
	if f.asked() != 1 {
		t.Fatalf("%d queries while the first is out, want 1", f.asked())
	}
	other := latest("s") // another room does not wait for r's
	until("room s's query sent", func() bool { return f.asked() == 2 })
	f.release <- nil // s's or r's first: whichever asked first takes it
	f.release <- nil
	a, b := <-first, <-other
	if a.err != nil || b.err != nil || a.through+b.through != 3 {
		t.Fatalf("first answers %+v and %+v, want queries 1 and 2", a, b)
	}
	until("the shared query sent", func() bool { return f.asked() == 3 })
	f.release <- nil
	for _, c := range later {
		if got := <-c; got.err != nil || got.through != 3 {
			t.Errorf("a join that asked while the first query was out got %+v, want the third query's answer", got)
		}
	}
	f.mu.Lock()
	for _, q := range f.queries {
		if q.Limit != proto.HistoryOnJoin || q.After != "" {
			t.Errorf("query %+v, want the newest %d", q, proto.HistoryOnJoin)
		}
	}
	f.mu.Unlock()

	// Once nothing is out, a join sends its own query at once, and an
	// error reaches every join that shared it.
	h.mu.Lock()
	left := len(h.rooms)
	h.mu.Unlock()
	if left != 0 {
		t.Errorf("%d rooms still held with no query out", left)
	}
	alone := latest("r")
	until("a query sent at once", func() bool { return f.asked() == 4 })
	shared := []<-chan answer{latest("r"), latest("r")}
	until("two joins waiting", func() bool { return h.nextAskers("r") == 2 })
	f.release <- nil
	if got := <-alone; got.err != nil || got.through != 4 {
		t.Errorf("alone: %+v, want query 4", got)
	}
	until("the shared query sent", func() bool { return f.asked() == 5 })
	f.release <- proto.ErrUnavailable
	for _, c := range shared {
		if got := <-c; !errors.Is(got.err, proto.ErrUnavailable) {
			t.Errorf("shared a failed query: %+v, want its error", got)
		}
	}
}

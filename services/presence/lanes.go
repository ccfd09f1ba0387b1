package presence

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// laneDepth is how many requests wait in one lane before the NATS handler
// that hands them over waits too (and NATS buffers the rest).
const laneDepth = 16

// lanes serve requests concurrently, on one goroutine per lane (its
// owner runs serve for each of the Workers lanes). Requests
// given the same key go to the same lane and are served one after the
// other in the order they were given: a connection's join and its leave
// are never applied out of order by one replica.
type lanes struct {
	seed  maphash.Seed
	next  atomic.Uint64 // spreads requests without a key
	mu    sync.RWMutex  // held to read closed and send; held alone to close
	queue []chan func()
	shut  bool
}

// newLanes returns n lanes, none served yet.
func newLanes(n int) *lanes {
	l := &lanes{seed: maphash.MakeSeed(), queue: make([]chan func(), n)}
	for i := range l.queue {
		l.queue[i] = make(chan func(), laneDepth)
	}
	return l
}

// serve serves lane i until the lanes are closed and it has served every
// request it was given.
func (l *lanes) serve(i int) {
	for f := range l.queue[i] {
		f()
	}
}

// do runs f on the lane of key, or on any lane when key is "". It waits
// while the lane is full; it reports false, and drops f, once the lanes
// are closed.
func (l *lanes) do(key string, f func()) bool {
	var i uint64
	if key == "" {
		i = l.next.Add(1)
	} else {
		i = maphash.String(l.seed, key)
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.shut {
		return false
	}
	l.queue[i%uint64(len(l.queue))] <- f
	return true
}

// close stops taking requests; serve returns once the lane is empty.
func (l *lanes) close() {
	l.mu.Lock()
	if !l.shut {
		l.shut = true
		for _, q := range l.queue {
			close(q)
		}
	}
	l.mu.Unlock()
}

package presence

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// laneDepth is how many requests wait in one lane before the NATS handler
// that hands them over waits too (and NATS buffers the rest).
const laneDepth = 16

// lanes serve requests concurrently, on one goroutine per lane. Requests
// given the same key go to the same lane and are served one after the
// other in the order they were given: a connection's join and its leave
// are never applied out of order by one replica.
type lanes struct {
	seed  maphash.Seed
	next  atomic.Uint64 // spreads requests without a key
	wg    sync.WaitGroup
	mu    sync.RWMutex // held to read closed and send; held alone to close
	queue []chan func()
	shut  bool
}

// newLanes starts n lanes.
func newLanes(n int) *lanes {
	l := &lanes{seed: maphash.MakeSeed(), queue: make([]chan func(), n)}
	for i := range l.queue {
		q := make(chan func(), laneDepth)
		l.queue[i] = q
		l.wg.Go(func() {
			for f := range q {
				f()
			}
		})
	}
	return l
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

// close stops taking requests, and returns once every request given is
// served.
func (l *lanes) close() {
	l.mu.Lock()
	if !l.shut {
		l.shut = true
		for _, q := range l.queue {
			close(q)
		}
	}
	l.mu.Unlock()
	l.wg.Wait()
}

package gateway

// maxPresenceWork is how many joins and leaves one gateway has under way
// with presence at once (see admission).
const maxPresenceWork = 64

// admission bounds the joins and leaves a gateway works on at once; the
// others wait their turn on a channel. A join is several NATS operations
// on the gateway's one connection (the presence request, the history
// query, the room's and the session's subscriptions, the recovery state),
// each under nats.go's lock of that connection. Left unbounded, a storm of
// thousands of joins queues thousands of goroutines on that lock: it turns
// to starvation mode (handed from waiter to waiter, each handoff a trip
// through the scheduler's queue of runnable goroutines), and the gateway
// sent nothing to NATS for seconds while the joins it had sent timed out
// and were asked again (docs/benchmarks.md, "The join storm's collapse").
// A join or leave waiting here asks nothing yet: its wait does not count
// against the request timeout. The number waiting is bounded by the
// connections, each of which handles one event at a time, and by the
// leaves under way.
type admission struct {
	slots   chan struct{}
	waiting gauge // joins and leaves waiting for a slot
}

// gauge is the part of a prometheus.Gauge that admission sets.
type gauge interface {
	Inc()
	Dec()
}

func newAdmission(n int, waiting gauge) *admission {
	return &admission{slots: make(chan struct{}, n), waiting: waiting}
}

// enter waits for a slot; done gives it back.
func (a *admission) enter() {
	select {
	case a.slots <- struct{}{}:
		return
	default:
	}
	a.waiting.Inc()
	a.slots <- struct{}{}
	a.waiting.Dec()
}

func (a *admission) done() { <-a.slots }

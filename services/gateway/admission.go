package gateway

// maxPresenceWork is how many joins and leaves one gateway has asked of
// presence, and not yet had answered, at once (see admission).
const maxPresenceWork = 256

// admission bounds the presence requests of joins and leaves that a
// gateway has under way at once; the others wait their turn on a channel.
// Every request is sent under nats.go's lock of the gateway's one NATS
// connection, which its answer, the room's subscriptions and the recovery
// state need too. Left unbounded, a storm of thousands of joins queued
// thousands of goroutines on that lock: it turned to starvation mode
// (handed from waiter to waiter, each handoff a trip through the
// scheduler's queue of runnable goroutines), and the gateway sent nothing
// to NATS for seconds while the joins it had sent timed out and were
// asked again (docs/benchmarks.md, "The join storm's collapse"). A join
// or leave waiting here has asked nothing yet: its wait does not count
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

package ops

import (
	"errors"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrDrainTimeout is Drain's when a subscription was not drained in time.
var ErrDrainTimeout = errors.New("subscriptions not drained in time")

// Drain stops subs taking messages, and waits, up to timeout in all, until
// each has handed over those it took to its handler, which has returned.
func Drain(subs []*nats.Subscription, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for _, sub := range subs {
		closed := sub.StatusChanged(nats.SubscriptionClosed)
		if sub.Drain() != nil {
			continue // closed already, or the connection is
		}
		select {
		case <-closed:
		case <-deadline.C:
			return ErrDrainTimeout
		}
	}
	return nil
}

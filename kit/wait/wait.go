// Package wait polls a condition until it holds or a deadline passes: the
// one poll loop of the tests, and of the few other paths that must wait on
// something they cannot be told about.
//
// It tries at once, then backs off from firstPause, doubling up to
// maxPause: a condition that holds soon is seen within a millisecond or
// two, and one that takes seconds costs a call every 50 ms.
package wait

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

const (
	firstPause = time.Millisecond
	maxPause   = 50 * time.Millisecond
)

// errNotYet is what Eventually's condition returns to Until while it does
// not hold.
var errNotYet = errors.New("condition does not hold")

// Until calls f until it returns nil, and returns nil then. When within has
// passed, or ctx ends, first, it returns f's last error, wrapped with
// context.DeadlineExceeded or ctx's error.
func Until(ctx context.Context, within time.Duration, f func() error) error {
	deadline := time.Now().Add(within)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for pause := firstPause; ; pause = next(pause) {
		err := f()
		if err == nil {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("not within %v (%w): %w", within, context.DeadlineExceeded, err)
		}
		if timer == nil {
			timer = time.NewTimer(min(pause, left))
		} else {
			timer.Reset(min(pause, left))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", context.Cause(ctx), err)
		case <-timer.C:
		}
	}
}

// next is the pause after pause: twice as long, up to maxPause.
func next(pause time.Duration) time.Duration {
	return min(2*pause, maxPause)
}

// Eventually fails tb with the message format and args unless cond returns
// true within the given time. It returns as soon as cond does.
func Eventually(tb testing.TB, within time.Duration, cond func() bool, format string, args ...any) {
	tb.Helper()
	err := Until(context.Background(), within, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
	if err != nil {
		tb.Fatalf("%s: not within %v", fmt.Sprintf(format, args...), within)
	}
}

// Succeeds fails tb with f's last error unless f returns nil within the
// given time. It returns as soon as f does.
func Succeeds(tb testing.TB, within time.Duration, f func() error) {
	tb.Helper()
	if err := Until(context.Background(), within, f); err != nil {
		tb.Fatal(err)
	}
}

package wait

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps what Fatal and Fatalf say instead
// of ending the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatal(args ...any) { r.failed = fmt.Sprint(args...) }

func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

// slack is how late a return may be on a loaded machine and still count as
// "at once": far less than any within below.
const slack = 150 * time.Millisecond

func TestEventuallyReturnsWhenTheConditionHolds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after int32 // cond is true from this call on
	}{
		{"at once", 1},
		{"on the fifth call", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			var calls atomic.Int32
			start := time.Now()
			Eventually(r, 10*time.Second, func() bool { return calls.Add(1) >= tc.after }, "never")
			if took := time.Since(start); took > slack {
				t.Errorf("returned after %v, want at once (< %v)", took, slack)
			}
			if r.failed != "" {
				t.Errorf("failed: %q", r.failed)
			}
			if got := calls.Load(); got != tc.after {
				t.Errorf("cond called %d times, want %d: not again once it held", got, tc.after)
			}
		})
	}
}

func TestEventuallyFailsWithTheMessageAtTheDeadline(t *testing.T) {
	r := &recorder{TB: t}
	const within = 100 * time.Millisecond
	start := time.Now()
	Eventually(r, within, func() bool { return false }, "room %q has %d members", "lobby", 3)
	took := time.Since(start)
	if took < within || took > within+slack {
		t.Errorf("gave up after %v, want %v", took, within)
	}
	if want := `room "lobby" has 3 members: not within 100ms`; r.failed != want {
		t.Errorf("failed with %q, want %q", r.failed, want)
	}
}

func TestSucceedsReportsTheLastError(t *testing.T) {
	r := &recorder{TB: t}
	var calls int
	Succeeds(r, 50*time.Millisecond, func() error {
		calls++
		return fmt.Errorf("attempt %d", calls)
	})
	if calls < 2 {
		t.Fatalf("f called %d times in 50ms, want it retried", calls)
	}
	if want := fmt.Sprintf("attempt %d", calls); !strings.HasSuffix(r.failed, want) {
		t.Errorf("failed with %q, want the last error %q", r.failed, want)
	}
}

func TestSucceedsReturnsWhenFDoes(t *testing.T) {
	r := &recorder{TB: t}
	var calls int
	start := time.Now()
	Succeeds(r, 10*time.Second, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if took := time.Since(start); took > slack {
		t.Errorf("returned after %v, want at once (< %v)", took, slack)
	}
	if r.failed != "" || calls != 3 {
		t.Errorf("failed %q after %d calls, want success on the third", r.failed, calls)
	}
}

func TestUntil(t *testing.T) {
	errDown := errors.New("down")
	t.Run("nil once f succeeds", func(t *testing.T) {
		calls := 0
		err := Until(context.Background(), 10*time.Second, func() error {
			if calls++; calls < 3 {
				return errDown
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Fatalf("Until = %v after %d calls, want nil after 3", err, calls)
		}
	})
	t.Run("the last error at the deadline", func(t *testing.T) {
		err := Until(context.Background(), 20*time.Millisecond, func() error { return errDown })
		if !errors.Is(err, errDown) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Until = %v, want %v and %v", err, errDown, context.DeadlineExceeded)
		}
	})
	t.Run("the last error when ctx ends first", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		start := time.Now()
		err := Until(ctx, 10*time.Second, func() error {
			if calls++; calls == 3 {
				cancel()
			}
			return fmt.Errorf("attempt %d: %w", calls, errDown)
		})
		if took := time.Since(start); took > slack {
			t.Errorf("returned %v after the cancel, want at once", took)
		}
		if !errors.Is(err, errDown) || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "attempt 3") {
			t.Fatalf("Until = %v, want attempt 3's error and %v", err, context.Canceled)
		}
	})
	t.Run("within 0 calls f once", func(t *testing.T) {
		start := time.Now()
		calls := 0
		err := Until(context.Background(), 0, func() error { calls++; return errDown })
		if err == nil || calls != 1 || time.Since(start) > slack {
			t.Fatalf("Until(0) = %v after %d calls, want an error after one", err, calls)
		}
	})
}

func TestBackOff(t *testing.T) {
	var got []time.Duration
	for p := firstPause; len(got) < 9; p = next(p) {
		got = append(got, p)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 50, 50, 50}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("pauses %v, want %v ms", got, want)
		}
	}
}

func TestUntilBacksOff(t *testing.T) {
	// Within 600 ms, pauses of 1, 2, … 32 and then 50 ms make about 17
	// calls; a fixed 1 ms pause would make hundreds, doubling with no
	// ceiling 10.
	calls := 0
	_ = Until(context.Background(), 600*time.Millisecond, func() error { calls++; return errors.New("no") })
	if calls < 12 || calls > 25 {
		t.Fatalf("%d calls in 600ms, want about 17", calls)
	}
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natter/natter/kit/wait"
)

// hcanary is the hostile suite's well-behaved pair: alice on the first
// gateway sends a message every 50 ms (with a clientId) and every tenth
// tick a whisper to papa, on the second gateway, in a room no probe
// joins; both must receive alice's messages exactly once and in order,
// papa her whispers, and nothing else.
type hcanary struct {
	a, b  *hclient
	room  string
	stop  chan struct{}
	done  chan struct{}
	marks [2]int // events of a and b before the canary started

	mu       sync.Mutex
	acked    []string // messages acked ok, in send order
	whispers []string // whispers acked ok
	failed   []string // sends not acked ok
	maxLat   time.Duration
	sends    int
}

const (
	canaryA, canaryB = "alice", "papa"
	canaryRoom       = "canary"
)

func startHCanary(t *testing.T, s *hostileStack) *hcanary {
	c := &hcanary{room: canaryRoom, stop: make(chan struct{}), done: make(chan struct{})}
	c.a = dialH(t, s.urls[0], "192.0.2.10", "")
	c.a.join(canaryA, "", c.room)
	c.b = dialH(t, s.urls[1], "192.0.2.11", "")
	c.b.join(canaryB, "", c.room)
	if !c.a.until(10*time.Second, func() bool {
		return slices.ContainsFunc(c.a.eventsOf(), func(e hevent) bool { return e.name == "join" && e.Username == canaryB })
	}) {
		t.Fatal("alice did not hear papa join")
	}
	c.marks = [2]int{len(c.a.eventsOf()), len(c.b.eventsOf())}
	go c.run()
	return c
}

func (c *hcanary) run() {
	defer close(c.done)
	every(50*time.Millisecond, c.stop, func(i int) {
		event, text := "client message", fmt.Sprintf("canary %d", i)
		payload := map[string]string{"message": text, "clientId": text}
		if i%10 == 9 {
			event, text = "whisper", fmt.Sprintf("canary whisper %d", i)
			payload = map[string]string{"to": canaryB, "message": text, "clientId": text}
		}
		start := time.Now()
		ch := c.a.emit(event, payload)
		var a hack
		select {
		case a = <-ch:
		case <-time.After(10 * time.Second):
			a = hack{raw: "no ack in 10 s"}
		}
		lat := time.Since(start)
		c.mu.Lock()
		c.sends++
		c.maxLat = max(c.maxLat, lat)
		switch {
		case !a.OK:
			c.failed = append(c.failed, fmt.Sprintf("%s %q: %s", event, text, a.raw))
		case event == "whisper":
			c.whispers = append(c.whispers, text)
		default:
			c.acked = append(c.acked, text)
		}
		c.mu.Unlock()
	})
}

// every calls f(0), f(1), … once an interval (a canary's pace) until
// stop is closed.
func every(interval time.Duration, stop <-chan struct{}, f func(i int)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		f(i)
	}
}

func (c *hcanary) sendCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sends
}

// atLeast waits, up to d, until the canary has sent n times in all; the
// caller judges what it sent.
func (c *hcanary) atLeast(n int, d time.Duration) {
	_ = wait.Until(context.Background(), d, func() error {
		if c.sendCount() < n {
			return errors.New("too few sends")
		}
		return nil
	})
}

// window returns the highest ack latency since the last call, and resets it.
func (c *hcanary) window() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.maxLat
	c.maxLat = 0
	return d
}

// canaryState is what the canary has seen, from the start: the failures
// counted in lost.
type canaryState struct {
	sends, lost, dups int
	problems          []string
}

// verify waits until both canaries have received what was acked so far
// (10 s at most), then counts what is missing, repeated or out of order,
// and what they should not have seen.
func (c *hcanary) verify() canaryState {
	c.mu.Lock()
	acked := slices.Clone(c.acked)
	whispers := slices.Clone(c.whispers)
	st := canaryState{sends: c.sends, lost: len(c.failed)}
	st.problems = append(st.problems, c.failed...)
	c.mu.Unlock()

	texts := func(cl *hclient, mark int, event string) []string {
		var out []string
		for _, e := range cl.eventsOf()[mark:] {
			// alice's own; anything else is caught as unexpected below.
			if e.name == event && (e.Username == canaryA || e.From == canaryA) {
				out = append(out, e.Message)
			}
		}
		return out
	}
	check := func(who string, cl *hclient, mark int, event string, want []string) {
		cl.until(10*time.Second, func() bool { return len(texts(cl, mark, event)) >= len(want) })
		got := texts(cl, mark, event)
		seen := map[string]int{}
		for _, s := range got {
			if seen[s]++; seen[s] == 2 {
				st.dups++
				st.problems = append(st.problems, fmt.Sprintf("%s got %q twice", who, s))
			}
		}
		for _, s := range want {
			if seen[s] == 0 {
				st.lost++
				st.problems = append(st.problems, fmt.Sprintf("%s never got %q", who, s))
			}
		}
		// In order: what came is the acked sequence (and perhaps one sent
		// but not acked yet).
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				st.problems = append(st.problems, fmt.Sprintf("%s got %q as %s %d, want %q", who, got[i], event, i, want[i]))
				break
			}
		}
	}
	check("alice", c.a, c.marks[0], "server message", acked)
	check("papa", c.b, c.marks[1], "server message", acked)
	check("papa", c.b, c.marks[1], "whisper", whispers)
	for i, cl := range []*hclient{c.a, c.b} {
		if cl.closed() {
			st.problems = append(st.problems, cl.name+" was disconnected")
		}
		for _, e := range cl.eventsOf()[c.marks[i]:] {
			expected := (e.name == "server message" && e.Username == canaryA && e.Room == c.room) ||
				(i == 1 && e.name == "whisper" && e.From == canaryA && e.To == canaryB)
			if !expected {
				st.problems = append(st.problems, fmt.Sprintf("%s saw an unexpected %s %s", cl.name, e.name, strings.Join(rawArgs(e), ",")))
			}
		}
	}
	return st
}

func rawArgs(e hevent) []string {
	var out []string
	for _, a := range e.args {
		out = append(out, string(a))
	}
	return out
}

func (c *hcanary) halt() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

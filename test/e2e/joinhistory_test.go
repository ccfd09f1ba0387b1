package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// TestJoinsDuringTraffic joins clients, a few at a time on both gateways,
// while one user sends a stream of messages: the joins of a room share
// their history queries (upstream's joinHistory), yet every joiner sees
// each message once, in order and with no gap, first in its join's
// history and then live, up to the last.
func TestJoinsDuringTraffic(t *testing.T) {
	const (
		n       = 300 // messages
		every   = 10  // messages between two bursts of joins
		atOnce  = 4   // joins in a burst
		maxWait = time.Minute
	)
	s := startSystemWith(t, presence.NewMemoryStore(0, nil), 2, presence.Config{}, history.Config{},
		gateway.Config{MessageRate: 1e9, MessageBurst: 1e9})
	sender := dialChatter(t, s.gateways[0].URL, "sender", "busy")

	var wg sync.WaitGroup
	seen := make([][]int, n/every*atOnce)
	joiner := func(k int) {
		defer wg.Done()
		w := dialSocket(t, s.gateways[k%2].URL)
		w.c.SetReadDeadline(time.Now().Add(maxWait))
		var ack []proto.JoinAck
		raw := w.request(0, "join", fmt.Sprintf(`{"username":"joiner%03d","room":"busy"}`, k))
		if err := json.Unmarshal([]byte("["+raw+"]"), &ack); err != nil || len(ack) != 1 || !ack[0].OK {
			t.Errorf("joiner %d: ack %s: %v", k, raw, err)
			return
		}
		var got []int
		for _, m := range ack[0].History {
			got = append(got, number(t, m.Message))
		}
		if len(ack[0].History) < proto.HistoryOnJoin && len(got) > 0 && got[0] != 1 {
			t.Errorf("joiner %d: a short history begins at m%d", k, got[0])
		}
		for len(got) == 0 || got[len(got)-1] < n {
			frame := w.readUntil(`42["server message",`)
			if frame == "" {
				break // readUntil reported why
			}
			var ev []json.RawMessage
			var m proto.Message
			if json.Unmarshal([]byte(frame[2:]), &ev) != nil || len(ev) < 2 || json.Unmarshal(ev[1], &m) != nil {
				t.Errorf("joiner %d: frame %s", k, frame)
				return
			}
			got = append(got, number(t, m.Message))
		}
		seen[k] = got
	}

	for i := 1; i <= n; i++ {
		if (i-1)%every == 0 {
			for j := range atOnce {
				wg.Add(1)
				go joiner((i-1)/every*atOnce + j)
			}
		}
		if ack := sender.request(i, "client message", fmt.Sprintf(`{"message":"m%d"}`, i)); !strings.Contains(ack, `"ok":true`) {
			t.Fatalf("send %d: %s", i, ack)
		}
	}
	wg.Wait()
	for k, got := range seen {
		if len(got) == 0 {
			continue // failed, and said why
		}
		for j := 1; j < len(got); j++ {
			if got[j] != got[j-1]+1 {
				t.Errorf("joiner %d saw m%d then m%d (history then live: %v)", k, got[j-1], got[j], got)
				break
			}
		}
	}
}

// number is the n of a message "mN".
func number(tb testing.TB, text string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(text, "m"))
	if err != nil {
		tb.Errorf("message %q", text)
	}
	return n
}

package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/natter/natter/proto"
)

// TestPipelinedSendsKeepOrder sends a burst of messages from one
// connection without waiting for any ack (more than the gateway's window
// of in-flight publishes, so that its reader also waits), some with a
// clientId and one a resend of an earlier clientId: every one is acked
// ok, the resend with the first one's id, and the room has them once each, in the order
// sent, as history does.
func TestPipelinedSendsKeepOrder(t *testing.T) {
	const n = 300
	s := startUnlimited(t)
	url := s.gateways[0].URL
	sender := dialChatter(t, url, "sender", "pipe")
	reader := dialChatter(t, url, "reader", "pipe")

	resendOf := 10 // message n+1 resends the clientId of message 10
	for i := 1; i <= n+1; i++ {
		text, extra := fmt.Sprintf("m%03d", i), ""
		switch {
		case i == n+1:
			text, extra = fmt.Sprintf("m%03d", resendOf), fmt.Sprintf(`,"clientId":"c%d"`, resendOf)
		case i%2 == 0:
			extra = fmt.Sprintf(`,"clientId":"c%d"`, i)
		}
		sender.send(fmt.Sprintf(`42%d["client message",{"message":%q%s}]`, i, text, extra))
	}

	ids := map[int]string{}
	for len(ids) < n+1 {
		frame := sender.readUntil("43")
		num, rest, ok := strings.Cut(strings.TrimPrefix(frame, "43"), "[")
		if !ok {
			t.Fatalf("ack %q", frame)
		}
		var acks []proto.SentAck
		if err := json.Unmarshal([]byte("["+rest), &acks); err != nil || len(acks) != 1 || !acks[0].OK {
			t.Fatalf("ack %q: %v", frame, err)
		}
		i, _ := strconv.Atoi(num)
		ids[i] = acks[0].ID
	}
	if ids[n+1] != ids[resendOf] {
		t.Errorf("the resend of clientId c%d was acked %q, the first send %q", resendOf, ids[n+1], ids[resendOf])
	}

	for i := 1; i <= n; i++ {
		frame := reader.readUntil(`42["server message"`)
		if want := fmt.Sprintf(`"message":"m%03d"`, i); !strings.Contains(frame, want) {
			t.Fatalf("message %d: got %s", i, frame)
		}
	}
	// History's newest page: the last messages sent, in the same order.
	got := s.history(t, "pipe")
	if len(got) != proto.MaxHistoryPage {
		t.Fatalf("history's newest page holds %d messages, want %d", len(got), proto.MaxHistoryPage)
	}
	for j, m := range got {
		i := n - len(got) + 1 + j
		if want := fmt.Sprintf("m%03d", i); m.Message != want || m.ID != ids[i] {
			t.Fatalf("history[%d] = %s %s, want %s %s", j, m.Message, m.ID, want, ids[i])
		}
	}
}

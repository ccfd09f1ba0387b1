package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/kit/testlog"
	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// TestAckWhenTheStoreAnswersLate: JetStream stores a message but its
// answer reaches the gateway too late (a proxy on the gateway's NATS
// connection holds what comes back from the moment the message is
// published). The ack says unknown_outcome, not unavailable: the message
// is in fact stored. A resend with the same clientId acks the one stored
// id, and the room's history has the message exactly once.
func TestAckWhenTheStoreAnswersLate(t *testing.T) {
	room := "late"
	s, _, c, stored := storedUnacked(t, room, "Patient", "stored late", "late-1")
	again := c.sendAcked(t, 2, "stored late", "late-1")
	if !again.OK || again.ID != stored.ID {
		t.Errorf("ack of the resend with the same clientId: %+v, want ok with the stored id %s", again, stored.ID)
	}
	if n := s.stored(t, room, "stored late"); n != 1 {
		t.Errorf("the message is %d times in history, want once", n)
	}
}

// TestAckOfAResendWhoseFirstCopyCannotBeRead: a message is stored but
// its ack is lost (unknown_outcome), so the dedup bucket never hears of
// it; its resend is caught by JetStream as a duplicate, and the gateway
// reads the first copy back for its id, but that read is not answered in
// time (the proxy holds it: a stream leader moving, as in
// TestNATSNodeStopped). The resend is not acked ok under its own id, which
// history does not hold: it is unknown_outcome, and the next resend is
// acked with the stored id. History has the message once.
func TestAckOfAResendWhoseFirstCopyCannotBeRead(t *testing.T) {
	room := "unread"
	s, network, c, stored := storedUnacked(t, room, "Persistent", "read back", "unread-1")

	network.holdAfter("PUB $JS.API.STREAM.MSG.GET." + proto.MessagesStream + " ")
	if again := c.sendAcked(t, 2, "read back", "unread-1"); again.OK || again.Error.Code != proto.CodeUnknownOutcome {
		t.Errorf("ack of a resend whose first copy could not be read back: %+v, want %s (history holds it as %s)", again, proto.CodeUnknownOutcome, stored.ID)
	}
	network.release()
	if last := c.sendAcked(t, 3, "read back", "unread-1"); !last.OK || last.ID != stored.ID {
		t.Errorf("ack of the next resend: %+v, want ok with the stored id %s", last, stored.ID)
	}
	if n := s.stored(t, room, "read back"); n != 1 {
		t.Errorf("the message is %d times in history, want once", n)
	}
}

// TestBrowserResendsOnUnknownOutcome: the web page, told unknown_outcome,
// sends the message again by itself under the same clientId, and shows it
// once, confirmed; it is stored once. Whether it was in fact stored (the
// store's answer came late) or lost (the gateway's NATS connection went
// down with it).
func TestBrowserResendsOnUnknownOutcome(t *testing.T) {
	chromium(t)
	publish := "PUB " + proto.RoomMsgSubject(proto.DefaultRoom) + " "
	for _, tc := range []struct {
		name         string
		fault, clear func(*tcpProxy)
	}{
		{"stored, answered late", func(p *tcpProxy) { p.holdAfter(publish) }, (*tcpProxy).release},
		{"lost with the connection", func(p *tcpProxy) { p.dropAfter(publish) }, (*tcpProxy).cut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, network, url, reg := gatewayThroughProxy(t)
			var dialogs atomic.Int32
			page := tab(t, &dialogs)
			x := fmt.Sprintf("%d", time.Now().UnixNano()%100000)
			join(t, page, url, "Patient"+x)
			say(t, page, "before "+x)
			waitText(t, page, "before "+x)

			tc.fault(network)
			text := "sent into a fault " + x
			say(t, page, text)
			waitFor(t, "the gateway to give up on the store's answer", func() bool {
				return metricValue(t, reg, "natter_gateway_publish_errors_total") >= 1
			})
			tc.clear(network)
			if n := confirmedLines(t, page, text); n != 1 {
				t.Errorf("the message shows %d times", n)
			}
			if n := s.stored(t, proto.DefaultRoom, text); n != 1 {
				t.Errorf("stored %d times", n)
			}
		})
	}
}

// chatAck is the ack of a client message.
type chatAck struct {
	OK    bool        `json:"ok"`
	ID    string      `json:"id"`
	Error proto.Error `json:"error"`
}

// sendAcked sends text under clientID as the event with ack id id (1 to
// 9) and reads its ack.
func (c *wsChatter) sendAcked(t *testing.T, id int, text, clientID string) (ack chatAck) {
	t.Helper()
	c.send(fmt.Sprintf(`42%d["client message",{"message":%q,"clientId":%q}]`, id, text, clientID))
	frame := c.readUntil(fmt.Sprintf("43%d[", id))
	var args []json.RawMessage
	if err := json.Unmarshal([]byte(frame[strings.Index(frame, "["):]), &args); err != nil || len(args) != 1 || json.Unmarshal(args[0], &ack) != nil {
		t.Fatalf("ack %q: %v", frame, err)
	}
	return ack
}

// storedUnacked runs a gateway whose NATS connection passes through
// network, and has a chatter of name in room send text under clientID
// (event ack id 1) while the store's answer is held: the ack is
// unknown_outcome, the message is stored all the same, and the dedup
// bucket is never told. It returns once history holds the message.
func storedUnacked(t *testing.T, room, name, text, clientID string) (s *system, network *tcpProxy, c *wsChatter, stored proto.Message) {
	t.Helper()
	s, network, url, _ := gatewayThroughProxy(t)
	c = dialChatter(t, url, name, room)
	c.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	network.holdAfter("PUB " + proto.RoomMsgSubject(room) + " ")
	if first := c.sendAcked(t, 1, text, clientID); first.OK || first.Error.Code != proto.CodeUnknownOutcome {
		t.Fatalf("ack of a message whose store answered late: %+v, want %s", first, proto.CodeUnknownOutcome)
	}
	network.release()
	wait.Eventually(t, 5*time.Second, func() bool {
		for _, m := range s.history(t, room) {
			if m.Message == text {
				stored = m
				return true
			}
		}
		return false
	}, "%s, whose ack was unknown_outcome, is not in history", text)
	return s, network, c, stored
}

// gatewayThroughProxy runs history and presence, and a gateway whose NATS
// connection passes through network (a store that answers late can be
// played with network.holdAfter); url is the gateway's, reg its metrics.
// Its requests to NATS time out after a second.
func gatewayThroughProxy(t *testing.T) (s *system, network *tcpProxy, url string, reg *prometheus.Registry) {
	t.Helper()
	s = startSystemWith(t, presence.NewMemoryStore(0, nil), 0, presence.Config{}, history.Config{}, gateway.Config{})
	s.conns = append(s.conns, natstest.Connect(t, s.nats.ClientURL())) // for s.history
	network = startTCPProxy(t, strings.TrimPrefix(s.nats.ClientURL(), "nats://"))
	nc := natstest.Connect(t, "nats://"+network.ln.Addr().String(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	reg = prometheus.NewRegistry()
	l := listen(t)
	gw, err := gateway.New(gateway.Config{ID: "gw1", RequestTimeout: time.Second, Listener: l}, nc, testlog.Logger(t, ""), reg)
	if err != nil {
		t.Fatal(err)
	}
	runGateway(t, gw)
	t.Cleanup(network.release) // before the gateway stops
	return s, network, "http://" + l.Addr().String(), reg
}

// TestJoinWhoseAnswerWasLost: presence puts a connection in a room, but
// its answer reaches the gateway too late (held by a proxy on the
// gateway's NATS connection), so the client is told unavailable. When that
// client closes, presence lets the connection go all the same: it was
// there, and no one else would ever take it out (a session with a
// connection never expires).
func TestJoinWhoseAnswerWasLost(t *testing.T) {
	s, network, url, _ := gatewayThroughProxy(t)
	c := dialSocket(t, url)
	network.holdAfter("PUB " + proto.PresenceJoinSubject + " ")
	if ack := c.request(1, "join", `{"username":"Lost","room":"lost"}`); !strings.Contains(ack, proto.CodeUnavailable) {
		t.Fatalf("join whose answer was held: %s, want %s", ack, proto.CodeUnavailable)
	}
	network.release()
	if got := truth(t, s.conns[0], "lost"); len(got) != 1 {
		t.Fatalf("presence holds %v; the join was served", got)
	}
	c.c.Close()
	waitFor(t, "presence to let the closed connection go", func() bool {
		return len(truth(t, s.conns[0], "lost")) == 0
	})
}

package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// TestLogoutEndsTheSession: a client's logout ends its session at once.
// Its other tab, on the other gateway, is disconnected by the server; the
// room is told once that the user left; the name is free for someone else
// at once; the old token resumes nothing; and a resync of every gateway
// afterwards brings nobody back.
func TestLogoutEndsTheSession(t *testing.T) {
	s := startSystemWith(t, presence.NewMemoryStore(0, nil), 2, presence.Config{}, history.Config{}, gateway.Config{})
	g1, g2 := s.gateways[0].URL, s.gateways[1].URL
	nc := s.conns[0]

	tab1 := dialRaw(t, g1)
	ack := tab1.request(t, 1, "join", `{"username":"Alice","room":"exit"}`)
	var joined proto.JoinAck
	if err := json.Unmarshal([]byte(ack), &joined); err != nil || !joined.OK || joined.Token == "" {
		t.Fatalf("join: %s %v", ack, err)
	}
	tab2 := dialRaw(t, g2)
	if ack := tab2.request(t, 1, "join", fmt.Sprintf(`{"room":"exit","token":%q}`, joined.Token)); !strings.Contains(ack, `"ok":true`) {
		t.Fatalf("second tab: %s", ack)
	}
	bob := dialChatter(t, g1, "Bob", "exit")

	if ack := tab1.request(t, 2, "logout", `{}`); ack != `{"ok":true}` {
		t.Fatalf("logout: %s", ack)
	}
	// The other tab: the server's namespace disconnect.
	if got := tab2.readUntil(t, "41"); got != "41" {
		t.Fatalf("the other tab got %q, want a disconnect", got)
	}
	// The room: Alice left, once (her two tabs were one user).
	if got := bob.readUntil(`42["leave"`); !strings.Contains(got, `"username":"Alice"`) {
		t.Fatalf("Bob got %s", got)
	}
	if got := truth(t, nc, "exit"); !slices.Equal(got, []string{"Bob"}) {
		t.Fatalf("members after the logout: %v", got)
	}
	// The tab that logged out stays connected, joined to nothing.
	if ack := tab1.request(t, 3, "client message", `{"message":"still here?"}`); !strings.Contains(ack, proto.CodeNotJoined) {
		t.Errorf("a message after logout: %s, want %s", ack, proto.CodeNotJoined)
	}
	// The token resumes nothing, with or without the name.
	for i, arg := range []string{
		fmt.Sprintf(`{"room":"exit","token":%q}`, joined.Token),
		fmt.Sprintf(`{"username":"Alice","room":"exit","token":%q}`, joined.Token),
	} {
		ack := tab1.request(t, 4+i, "join", arg)
		var again proto.JoinAck
		json.Unmarshal([]byte(ack), &again)
		if again.OK && again.Token == joined.Token {
			t.Errorf("join %s resumed the ended session: %s", arg, ack)
		}
	}
	// Whoever joined as Alice just now holds a new session; the name was
	// free at once. Another client cannot take it from that one now.
	other := dialRaw(t, g2)
	if ack := other.request(t, 1, "join", `{"username":"alice","room":"exit"}`); !strings.Contains(ack, proto.CodeNameTaken) {
		t.Errorf("alice while the new Alice is online: %s", ack)
	}

	// A resync of every gateway brings back nothing of the old session.
	resync, _ := json.Marshal(proto.PresenceResync{})
	nc.Publish(proto.PresenceResyncSubject, resync)
	nc.Flush()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		got := truth(t, nc, "exit")
		if len(got) != 2 || !slices.Contains(got, "Alice") || !slices.Contains(got, "Bob") {
			t.Fatalf("members after a resync: %v, want the new Alice and Bob", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rawClient is a Socket.IO client over WebSocket for requests one at a
// time.
type rawClient struct{ c *websocket.Conn }

func dialRaw(t *testing.T, base string) *rawClient {
	t.Helper()
	url := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket"
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	r := &rawClient{c}
	r.readUntil(t, "0{")
	r.c.WriteMessage(websocket.TextMessage, []byte("40"))
	r.readUntil(t, "40")
	return r
}

// request emits event with arg under ack id, and returns the ack's
// argument.
func (r *rawClient) request(t *testing.T, id int, event, arg string) string {
	t.Helper()
	r.c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`42%d[%q,%s]`, id, event, arg)))
	frame := r.readUntil(t, fmt.Sprintf("43%d[", id))
	return strings.TrimSuffix(strings.TrimPrefix(frame, fmt.Sprintf("43%d[", id)), "]")
}

// readUntil reads frames until one starts with prefix, answering pings.
func (r *rawClient) readUntil(t *testing.T, prefix string) string {
	t.Helper()
	for {
		_, data, err := r.c.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %q: %v", prefix, err)
		}
		if string(data) == "2" {
			r.c.WriteMessage(websocket.TextMessage, []byte("3"))
			continue
		}
		if strings.HasPrefix(string(data), prefix) {
			return string(data)
		}
	}
}

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// TestEventsForOtherServices: a service that follows along (an audit log)
// reads joins and leaves from the events stream and messages from the
// messages stream, each with durable consumers that it acks: every event
// comes, with an id to dedupe by; a consumer that did not ack gets it
// again (at least once).
func TestEventsForOtherServices(t *testing.T) {
	s := startSystemWith(t, presence.NewMemoryStore(0, nil), 2, presence.Config{}, history.Config{Events: true}, gateway.Config{
		APIKey: gateway.Secret(apiKey),
	})
	js, err := jetstream.New(s.conns[1])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	consumer := func(stream, name, filter string) jetstream.Consumer {
		c, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
			Durable: name, FilterSubject: filter, AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Second,
		})
		if err != nil {
			t.Fatalf("consumer %s: %v", name, err)
		}
		return c
	}
	room := "audited"
	events := consumer(proto.EventsStream, "audit-events", proto.RoomPresenceSubject(room))
	messages := consumer(proto.MessagesStream, "audit-messages", proto.RoomMsgSubject(room))

	alice := dialChatter(t, s.gateways[0].URL, "Alice", room)
	bob := dialChatter(t, s.gateways[1].URL, "Bob", room)
	if ack := alice.request(1, "client message", `{"message":"hello"}`); !json.Valid([]byte(ack)) || !contains(ack, `"ok":true`) {
		t.Fatalf("message: %s", ack)
	}
	var sent proto.SentAck
	req, _ := json.Marshal(proto.APIPublishRequest{Room: room, Message: "from a bot", From: "Bot"})
	reply, err := s.conns[1].Request(proto.APISubject(proto.APIPublish), req, 10*time.Second)
	if err != nil || json.Unmarshal(reply.Data, &sent) != nil || !sent.OK {
		t.Fatalf("publish: %v %s", err, reply.Data)
	}
	bob.send("41") // a deliberate leave: at once

	fetch := func(c jetstream.Consumer, n int) []jetstream.Msg {
		t.Helper()
		var got []jetstream.Msg
		deadline := time.Now().Add(20 * time.Second)
		for len(got) < n && time.Now().Before(deadline) {
			batch, err := c.Fetch(n-len(got), jetstream.FetchMaxWait(2*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			for m := range batch.Messages() {
				got = append(got, m)
			}
		}
		if len(got) != n {
			t.Fatalf("fetched %d, want %d", len(got), n)
		}
		return got
	}

	// Joins and leaves, in order, each with its own id; the first, not
	// acked, comes again with the same id.
	got := fetch(events, 3)
	ids := map[string]bool{}
	var seen []string
	for i, m := range got {
		var n struct {
			Username string `json:"username"`
			Room     string `json:"room"`
		}
		json.Unmarshal(m.Data(), &n)
		id := m.Headers().Get(proto.HeaderEventID)
		if id == "" || ids[id] {
			t.Errorf("event %s: id %q (seen: %v)", m.Data(), id, ids[id])
		}
		ids[id] = true
		seen = append(seen, fmt.Sprintf("%s %s %s", m.Headers().Get(proto.HeaderEvent), n.Username, n.Room))
		if i > 0 {
			m.Ack()
		}
	}
	again := fetch(events, 1)[0] // after AckWait
	if id, first := again.Headers().Get(proto.HeaderEventID), got[0].Headers().Get(proto.HeaderEventID); id != first {
		t.Errorf("redelivered event id %q, first %q", id, first)
	}
	again.Ack()
	want := []string{"join Alice audited", "join Bob audited", "leave Bob audited"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("events %q, want %q", seen, want)
	}

	// Messages, the user's and the bot's, with their ids.
	var texts []string
	for _, m := range fetch(messages, 2) {
		var msg proto.Message
		if err := json.Unmarshal(m.Data(), &msg); err != nil || !proto.ValidID(msg.ID) {
			t.Errorf("message %s: %v", m.Data(), err)
		}
		texts = append(texts, fmt.Sprintf("%s %s %v", msg.Username, msg.Message, msg.Bot))
		m.Ack()
	}
	if want := []string{"Alice hello false", "Bot from a bot true"}; fmt.Sprint(texts) != fmt.Sprint(want) {
		t.Errorf("messages %q, want %q", texts, want)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

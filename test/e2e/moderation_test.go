package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// TestModeration runs test/client/moderation.test.mjs on two gateways
// that take HS256 tokens (and anonymous users) and serve the API: a
// non-moderator is refused, a mute expires on time, a kick ends every
// tab, a ban holds through the other gateway (by identity, by name and
// look-alike), a role granted through the API holds at once and at the
// next join. Then a ban over the API's NATS subject is on the events
// stream, with its id.
func TestModeration(t *testing.T) {
	const secret = "a test secret of 32 bytes or more, for HS256"
	s := startSystemWith(t, presence.NewMemoryStore(0, nil), 2, presence.Config{Grace: time.Minute}, history.Config{Events: true}, gateway.Config{
		APIKey: gateway.Secret(apiKey),
		Auth:   gateway.AuthConfig{HS256Secret: gateway.Secret(secret), Anonymous: true},
	})
	t.Run("socket.io clients", func(t *testing.T) {
		nodetest.Run(t, "moderation.test.mjs", 2*time.Minute,
			"NATTER_URL="+s.gateways[0].URL, "NATTER_URL_2="+s.gateways[1].URL,
			"NATTER_AUTH_SECRET="+secret, "NATTER_API_KEY="+apiKey)
	})

	t.Run("on the events stream", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		js, err := jetstream.New(s.conns[1])
		if err != nil {
			t.Fatal(err)
		}
		room := "audited-moderation"
		c, err := js.CreateOrUpdateConsumer(ctx, proto.EventsStream, jetstream.ConsumerConfig{
			Durable: "audit-moderation", FilterSubject: proto.RoomPresenceSubject(room), AckPolicy: jetstream.AckExplicitPolicy,
		})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := json.Marshal(proto.APIModerateRequest{Room: room, Username: "Troll", Seconds: 60, By: "Auditor"})
		reply, err := s.conns[0].Request(proto.APISubject(proto.EventBan), req, 10*time.Second)
		var ack proto.ModerationAck
		if err != nil || json.Unmarshal(reply.Data, &ack) != nil || !ack.OK {
			t.Fatalf("ban over NATS: %v %s", err, reply.Data)
		}
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var got proto.Moderation
			json.Unmarshal(m.Data(), &got)
			if m.Headers().Get(proto.HeaderEvent) != proto.EventModeration || m.Headers().Get(proto.HeaderEventID) != ack.Moderation.ID ||
				got != ack.Moderation || m.Headers().Get(proto.HeaderModerationTarget) != proto.NameTarget(proto.NameKey("Troll")) {
				t.Errorf("on the stream: %v %s, want %+v", m.Headers(), m.Data(), ack.Moderation)
			}
			m.Ack()
		}
		if n != 1 {
			t.Errorf("%d moderation events on the stream, want 1", n)
		}
	})
}

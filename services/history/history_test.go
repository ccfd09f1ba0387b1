package history_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/kit/testlog"
	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/history"
)

// fixture is the history service on an embedded NATS server, with a
// publisher that stores as the gateways do.
type fixture struct {
	ns *natstest.Server
	nc *nats.Conn
	js jetstream.JetStream
}

func start(t *testing.T, cfg history.Config) *fixture {
	t.Helper()
	ns := natstest.Run(t)
	serve(t, cfg, ns.ClientURL())
	nc := natstest.Connect(t, ns.ClientURL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{ns: ns, nc: nc, js: js}
}

// serve runs a history service on the NATS server at url until the
// test's cleanup (or stop) stops it, and waits until it is ready.
func serve(t *testing.T, cfg history.Config, url string) (stop func()) {
	t.Helper()
	svc, err := history.New(cfg, natstest.Connect(t, url), testlog.Logger(t, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	wait.Succeeds(t, 10*time.Second, svc.Ready)
	return stop
}

func (f *fixture) store(t *testing.T, subject string, v any) {
	t.Helper()
	data, _ := json.Marshal(v)
	if _, err := f.js.Publish(context.Background(), subject, data); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) say(t *testing.T, room, id string) {
	f.store(t, proto.RoomMsgSubject(room), proto.Message{ID: id, Room: room, Username: "u", Message: id})
}

// sid is the session id of a test user: whose session a whisper is.
// "Ann" and "Ann again" are two sessions that held the name Ann in turn.
func sid(session string) string { return proto.SessionID("token of " + session) }

// whisper stores a whisper between two sessions, as a gateway does: the
// names are what the payload shows.
func (f *fixture) whisper(t *testing.T, from, to, id string) {
	f.store(t, proto.WhisperMsgSubject(sid(from), sid(to)),
		proto.Whisper{ID: id, From: nameOf(from), To: nameOf(to), Message: "secret " + id})
}

func nameOf(session string) string { return strings.TrimSuffix(session, " again") }

func ask[Q, R any](t *testing.T, f *fixture, subject string, q Q) R {
	t.Helper()
	data, _ := json.Marshal(q)
	m, err := f.nc.Request(subject, data, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r R
	if err := json.Unmarshal(m.Data, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func ids[T any](items []T, id func(T) string) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, id(it))
	}
	return out
}

func msgIDs(r proto.HistoryReply) []string {
	return ids(r.Messages, func(m proto.Message) string { return m.ID })
}

func TestRoomHistory(t *testing.T) {
	f := start(t, history.Config{})
	var all []string
	for i := range 12 {
		id := fmt.Sprintf("m%02d", i)
		all = append(all, id)
		f.say(t, "lobby", id)
		f.say(t, "other", "o"+id)
	}
	f.whisper(t, "Ann", "Bob", "w1") // never in a room's history

	cases := []struct {
		name string
		q    proto.HistoryQuery
		want []string
		gap  bool
	}{
		{"newest", proto.HistoryQuery{Room: "lobby", Limit: 5}, all[7:], false},
		{"before", proto.HistoryQuery{Room: "lobby", Before: "m07", Limit: 5}, all[2:7], false},
		{"before, near the start", proto.HistoryQuery{Room: "lobby", Before: "m02", Limit: 5}, all[:2], false},
		{"before an unknown id", proto.HistoryQuery{Room: "lobby", Before: "nope", Limit: 5}, []string{}, false},
		{"after", proto.HistoryQuery{Room: "lobby", After: "m08", Limit: 5}, all[9:], false},
		{"after the newest", proto.HistoryQuery{Room: "lobby", After: "m11", Limit: 5}, []string{}, false},
		{"after, more than a page", proto.HistoryQuery{Room: "lobby", After: "m01", Limit: 5}, all[7:], true},
		{"after an unknown id", proto.HistoryQuery{Room: "lobby", After: "nope", Limit: 5}, all[7:], true},
		{"an empty room", proto.HistoryQuery{Room: "empty", Limit: 5}, []string{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ask[proto.HistoryQuery, proto.HistoryReply](t, f, proto.HistoryQuerySubject, tc.q)
			if r.Error != nil {
				t.Fatal(r.Error)
			}
			if got := msgIDs(r); !slices.Equal(got, tc.want) || r.Gap != tc.gap {
				t.Errorf("got %v gap %v, want %v gap %v", got, r.Gap, tc.want, tc.gap)
			}
		})
	}
	r := ask[proto.HistoryQuery, proto.HistoryReply](t, f, proto.HistoryQuerySubject, proto.HistoryQuery{Room: "bad room!"})
	if r.Error == nil || r.Error.Code != proto.CodeInvalidRoom {
		t.Errorf("a bad room: %+v", r.Error)
	}
}

func TestWhispersAreTheirSessionsOnly(t *testing.T) {
	f := start(t, history.Config{})
	f.whisper(t, "Ann", "Bob", "w1")
	f.whisper(t, "Bob", "Ann", "w2")
	f.whisper(t, "Ann", "Cid", "w3")
	f.whisper(t, "Ann", "Ann", "w4") // to oneself: once
	f.say(t, "lobby", "m1")
	// Ann's session ended and another took the name: what is said with it
	// now is the new session's, and what was said before is not.
	f.whisper(t, "Bob", "Ann again", "w5")
	// Stored under name keys, before whispers belonged to sessions: nobody's.
	f.store(t, proto.WhisperMsgPrefix+proto.Token("ann")+"."+proto.Token("bob"),
		proto.Whisper{ID: "w0", From: "Ann", To: "Bob", Message: "secret w0"})

	cases := []struct {
		name string
		q    proto.WhispersQuery
		want []string
	}{
		{"all of Ann's", proto.WhispersQuery{User: sid("Ann"), Limit: 10}, []string{"w1", "w2", "w3", "w4"}},
		{"Ann's with Bob", proto.WhispersQuery{User: sid("Ann"), With: sid("Bob"), Limit: 10}, []string{"w1", "w2"}},
		{"Bob's", proto.WhispersQuery{User: sid("Bob"), Limit: 10}, []string{"w1", "w2", "w5"}},
		{"Bob's with the first Ann", proto.WhispersQuery{User: sid("Bob"), With: sid("Ann"), Limit: 10}, []string{"w1", "w2"}},
		{"Bob's with the Ann of now", proto.WhispersQuery{User: sid("Bob"), With: sid("Ann again"), Limit: 10}, []string{"w5"}},
		{"the new Ann's", proto.WhispersQuery{User: sid("Ann again"), Limit: 10}, []string{"w5"}},
		{"Cid's", proto.WhispersQuery{User: sid("Cid"), Limit: 10}, []string{"w3"}},
		{"Cid's with Bob", proto.WhispersQuery{User: sid("Cid"), With: sid("Bob"), Limit: 10}, []string{}},
		{"Ann's before w3", proto.WhispersQuery{User: sid("Ann"), Before: "w3", Limit: 1}, []string{"w2"}},
		{"a stranger's", proto.WhispersQuery{User: sid("Dee"), Limit: 10}, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ask[proto.WhispersQuery, proto.WhispersReply](t, f, proto.WhispersQuerySubject, tc.q)
			if r.Error != nil {
				t.Fatal(r.Error)
			}
			got := ids(r.Whispers, func(w proto.Whisper) string { return w.ID })
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	// A name key is no session id: asked by name, history answers nothing.
	for _, q := range []proto.WhispersQuery{{}, {User: proto.NameKey("Ann")}, {User: proto.Token("ann")},
		{User: sid("Ann"), With: proto.NameKey("Bob")}} {
		r := ask[proto.WhispersQuery, proto.WhispersReply](t, f, proto.WhispersQuerySubject, q)
		if r.Error == nil || r.Error.Code != proto.CodeBadRequest || len(r.Whispers) != 0 {
			t.Errorf("a query for %q with %q: %+v %v", q.User, q.With, r.Error, r.Whispers)
		}
	}
	room := ask[proto.HistoryQuery, proto.HistoryReply](t, f, proto.HistoryQuerySubject, proto.HistoryQuery{Room: "lobby", Limit: 100})
	if got := msgIDs(room); !slices.Equal(got, []string{"m1"}) {
		t.Errorf("the room's history holds %v", got)
	}
}

package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/kit/redistest"
	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/proto"
)

// TestModerationStore: one contract, in memory and in Redis.
func TestModerationStore(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testModerationStore(t, newMemModeration(time.Hour, nil)) })
	t.Run("redis", func(t *testing.T) {
		rdb := redistest.Single(t)
		testModerationStore(t, NewRedisStore(rdb, testPrefix(t, rdb), time.Hour).Moderation())
	})
}

func testModerationStore(t *testing.T, ms ModerationStore) {
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	bob, carol := proto.NameTarget("bob"), proto.IdentityTarget("carol-id")
	forGood := time.Time{}
	later := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	must(ms.Restrict(ctx, kindBan, "r", bob, forGood))
	must(ms.Restrict(ctx, kindMute, "r", carol, later))
	// The longer of two holds: for good over a time.
	must(ms.Restrict(ctx, kindMute, "r", bob, later))

	st, err := ms.AtJoin(ctx, "r", []string{bob}, "", "bob")
	must(err)
	if !st.Banned || !st.BannedUntil.IsZero() || !st.Muted || !st.MutedUntil.Equal(later) || st.Role != "" {
		t.Errorf("bob in r: %+v", st)
	}
	st, err = ms.AtJoin(ctx, "other", []string{bob}, "", "bob")
	must(err)
	if st.Banned || st.Muted {
		t.Errorf("bob in another room: %+v", st)
	}
	// An identity: its role, and the name it joined under remembered.
	must(ms.SetRole(ctx, "carol-id", proto.RoleModerator))
	st, err = ms.AtJoin(ctx, "r", []string{proto.NameTarget("carol"), carol}, "carol-id", "carol")
	must(err)
	if st.Banned || !st.Muted || !st.MutedUntil.Equal(later) || st.Role != proto.RoleModerator {
		t.Errorf("carol in r: %+v", st)
	}
	if id, err := ms.IdentityOf(ctx, "carol"); err != nil || id != "carol-id" {
		t.Errorf("IdentityOf(carol) = %q, %v", id, err)
	}
	if id, err := ms.IdentityOf(ctx, "bob"); err != nil || id != "" {
		t.Errorf("IdentityOf(bob) = %q, %v", id, err)
	}
	must(ms.SetRole(ctx, "carol-id", ""))
	if st, _ := ms.AtJoin(ctx, "r", nil, "carol-id", ""); st.Role != "" {
		t.Errorf("a revoked role: %q", st.Role)
	}

	// Lifted once; a second lift finds none.
	for i, want := range []bool{true, false} {
		if ok, err := ms.Lift(ctx, kindBan, "r", bob); err != nil || ok != want {
			t.Errorf("lift %d: %v, %v", i, ok, err)
		}
	}
	// A restriction ends on time.
	must(ms.Restrict(ctx, kindMute, "r", proto.NameTarget("dan"), time.Now().Add(300*time.Millisecond)))
	wait.Eventually(t, 5*time.Second, func() bool {
		st, err := ms.AtJoin(ctx, "r", []string{proto.NameTarget("dan")}, "", "")
		return err == nil && !st.Muted
	}, "a 300 ms mute still holds")

	// The log: newest first, by room, bounded.
	for i := range proto.MaxModerationLog + 5 {
		room := "r"
		if i%2 == 1 {
			room = "s"
		}
		must(ms.Record(ctx, proto.Moderation{ID: fmt.Sprint(i), Action: proto.EventKick, Room: room}))
	}
	all, err := ms.Recent(ctx, "", proto.MaxModerationLog+10)
	must(err)
	if len(all) != proto.MaxModerationLog || all[0].ID != fmt.Sprint(proto.MaxModerationLog+4) {
		t.Errorf("the log holds %d, newest %+v", len(all), all[0])
	}
	inS, err := ms.Recent(ctx, "s", 3)
	must(err)
	if len(inS) != 3 || inS[0].ID != fmt.Sprint(proto.MaxModerationLog+3) || inS[2].Room != "s" {
		t.Errorf("the log of s: %+v", inS)
	}
}

// ask sends a request to presence and decodes its reply into v.
func askJSON(t *testing.T, nc *nats.Conn, subject string, req, v any) {
	t.Helper()
	b, _ := json.Marshal(req)
	msg, err := nc.Request(subject, b, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subject, err)
	}
	if err := json.Unmarshal(msg.Data, v); err != nil {
		t.Fatalf("%s: %s: %v", subject, msg.Data, err)
	}
}

// TestBansSurvivePresenceRestart: on Redis, a ban by name (look-alikes
// too) and one by identity refuse joins after presence restarts; the
// action is announced to the room with its id and target, and logged.
func TestBansSurvivePresenceRestart(t *testing.T) {
	rdb := redistest.Single(t)
	prefix := testPrefix(t, rdb)
	ns := natstest.Run(t)
	nc := natstest.Connect(t, ns.ClientURL())
	start := func() (stop func(), done <-chan struct{}) {
		s := New(Config{}, natstest.Connect(t, ns.ClientURL()), NewRedisStore(redistest.Single(t), prefix, time.Hour), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		return serve(t, s)
	}
	stop, done := start()

	notices := make(chan *nats.Msg, 10)
	sub, err := nc.ChanSubscribe(proto.RoomPresenceSubject("r"), notices)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	var jr proto.PresenceJoinReply
	askJSON(t, nc, proto.PresenceJoinSubject, proto.PresenceJoin{ConnRef: conn("a"), Username: "Carol", Room: "r", Identity: "carol-id"}, &jr)
	if jr.Error != nil {
		t.Fatal(jr.Error)
	}
	for _, name := range []string{"bob", "Carol"} {
		var mr proto.PresenceModerateReply
		askJSON(t, nc, proto.PresenceModerateSubject, proto.PresenceModerate{Action: proto.EventBan, ModerateRequest: proto.ModerateRequest{Room: "r", Username: name}, By: "Mod"}, &mr)
		if mr.Error != nil || !proto.ValidSessionID(mr.Moderation.ID[:24]) || mr.Moderation.Username != name || mr.Moderation.Until != 0 {
			t.Fatalf("ban %s: %+v", name, mr)
		}
		wantTarget := proto.NameTarget("bob")
		if name == "Carol" {
			wantTarget = proto.IdentityTarget("carol-id")
		}
		for n := range notices {
			if n.Header.Get(proto.HeaderEvent) != proto.EventModeration {
				continue // the join
			}
			var m proto.Moderation
			json.Unmarshal(n.Data, &m)
			if m.ID != mr.Moderation.ID || n.Header.Get(proto.HeaderEventID) != m.ID || n.Header.Get(nats.MsgIdHdr) != m.ID ||
				n.Header.Get(proto.HeaderModerationTarget) != wantTarget || m.Action != proto.EventBan || m.By != "Mod" {
				t.Errorf("notice of the ban of %s: %v %s", name, n.Header, n.Data)
			}
			break
		}
	}

	stop()
	<-done
	start()
	for _, tc := range []struct {
		name, identity string
		banned         bool
	}{
		{"bob", "", true},
		{"b0b", "", true},             // a look-alike
		{"Carol 2", "carol-id", true}, // the identity under another name
		{"dave", "", false},
	} {
		var r proto.PresenceJoinReply
		askJSON(t, nc, proto.PresenceJoinSubject, proto.PresenceJoin{ConnRef: conn("c-" + tc.name), Username: tc.name, Room: "r", Identity: tc.identity}, &r)
		if got := r.Error != nil && errors.Is(r.Error, &proto.Error{Code: proto.CodeBanned}); got != tc.banned {
			t.Errorf("%s after the restart: %+v", tc.name, r)
		}
	}
	var other proto.PresenceJoinReply
	askJSON(t, nc, proto.PresenceJoinSubject, proto.PresenceJoin{ConnRef: conn("o-bob"), Username: "bob", Room: "elsewhere"}, &other)
	if other.Error != nil {
		t.Errorf("bob in another room: %+v", other.Error)
	}
	askJSON(t, nc, proto.PresenceLeaveSubject, proto.PresenceLeave{ConnRef: conn("o-bob"), Deliberate: true}, &proto.ErrorAck{})
	var log proto.ModerationLogReply
	askJSON(t, nc, proto.PresenceModerationLogSubject, proto.PresenceModerationLog{Room: "r"}, &log)
	if len(log.Actions) != 2 || log.Actions[0].Username != "Carol" || log.Actions[1].Username != "bob" {
		t.Errorf("log: %+v", log)
	}
	// Unbanned, bob joins; a second unban is refused.
	for i, want := range []string{"", proto.CodeBadRequest} {
		var mr proto.PresenceModerateReply
		askJSON(t, nc, proto.PresenceModerateSubject, proto.PresenceModerate{Action: proto.EventUnban, ModerateRequest: proto.ModerateRequest{Room: "r", Username: "bob"}, By: "Mod"}, &mr)
		if (want == "" && mr.Error != nil) || (want != "" && (mr.Error == nil || mr.Error.Code != want)) {
			t.Errorf("unban %d: %+v", i, mr)
		}
	}
	var again proto.PresenceJoinReply
	askJSON(t, nc, proto.PresenceJoinSubject, proto.PresenceJoin{ConnRef: conn("bob again"), Username: "bob", Room: "r"}, &again)
	if again.Error != nil {
		t.Errorf("bob unbanned: %v", again.Error)
	}
}

// TestJoinToldItsMuteAndRole: a join's answer carries its mute (and
// until when) and the role granted to its identity.
func TestJoinToldItsMuteAndRole(t *testing.T) {
	nc, _, _ := runService(t, Config{}, NewMemoryStore(time.Hour, nil))
	var ok proto.ErrorAck
	askJSON(t, nc, proto.PresenceRoleSubject, proto.PresenceRole{Subject: "erin-sub", Role: proto.RoleModerator}, &ok)
	if ok.Error != nil {
		t.Fatal(ok.Error)
	}
	askJSON(t, nc, proto.PresenceRoleSubject, proto.PresenceRole{Subject: "erin-sub", Role: "root"}, &ok)
	if ok.Error == nil || ok.Error.Code != proto.CodeBadRequest {
		t.Errorf("a role that is none: %+v", ok)
	}
	var mr proto.PresenceModerateReply
	askJSON(t, nc, proto.PresenceModerateSubject, proto.PresenceModerate{Action: proto.EventMute, ModerateRequest: proto.ModerateRequest{Room: "r", Username: "frank", Seconds: 60}, By: "Erin"}, &mr)
	if mr.Error != nil || mr.Moderation.Until < time.Now().Add(59*time.Second).UnixMilli() {
		t.Fatalf("mute: %+v", mr)
	}
	var jr proto.PresenceJoinReply
	askJSON(t, nc, proto.PresenceJoinSubject, proto.PresenceJoin{ConnRef: conn("f"), Username: "frank", Room: "r"}, &jr)
	if !jr.Muted || jr.MutedUntil != mr.Moderation.Until || jr.Role != "" {
		t.Errorf("frank's join: %+v", jr)
	}
	var er proto.PresenceJoinReply // not jr: JSON leaves absent fields as they were
	askJSON(t, nc, proto.PresenceJoinSubject, proto.PresenceJoin{ConnRef: conn("e"), Username: "Erin", Room: "r", Identity: proto.IdentityID("erin-sub")}, &er)
	if er.Muted || er.Role != proto.RoleModerator {
		t.Errorf("erin's join: %+v", er)
	}
	// A kick of nobody online, bad input.
	for _, tc := range []struct {
		req  proto.PresenceModerate
		code string
	}{
		{proto.PresenceModerate{Action: proto.EventKick, ModerateRequest: proto.ModerateRequest{Room: "r", Username: "nobody"}, By: "Erin"}, proto.CodeNoSuchUser},
		{proto.PresenceModerate{Action: "smite", ModerateRequest: proto.ModerateRequest{Room: "r", Username: "frank"}, By: "Erin"}, proto.CodeBadRequest},
		{proto.PresenceModerate{Action: proto.EventMute, ModerateRequest: proto.ModerateRequest{Room: "r", Username: "frank", Seconds: -1}, By: "Erin"}, proto.CodeBadRequest},
		{proto.PresenceModerate{Action: proto.EventKick, ModerateRequest: proto.ModerateRequest{Room: "r", Username: "frank", Seconds: 5}, By: "Erin"}, proto.CodeBadRequest},
		{proto.PresenceModerate{Action: proto.EventMute, ModerateRequest: proto.ModerateRequest{Username: "frank"}, By: "Erin"}, proto.CodeInvalidRoom},
		{proto.PresenceModerate{Action: proto.EventMute, ModerateRequest: proto.ModerateRequest{Room: "r", Username: ""}, By: "Erin"}, proto.CodeBadRequest},
	} {
		var r proto.PresenceModerateReply
		askJSON(t, nc, proto.PresenceModerateSubject, tc.req, &r)
		if r.Error == nil || r.Error.Code != tc.code {
			t.Errorf("%+v: %+v, want %s", tc.req, r, tc.code)
		}
	}
}

// TestDeletionLogged: a deletion presence is told of is in the room's
// log as action delete, with by and the message id; bad input is not.
func TestDeletionLogged(t *testing.T) {
	nc, _, _ := runService(t, Config{}, NewMemoryStore(time.Hour, nil))
	const id = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
	var r proto.PresenceModerateReply
	askJSON(t, nc, proto.PresenceDeletedSubject, proto.PresenceDeleted{Room: "kitchen", ID: id, Username: "frank", By: "Erin"}, &r)
	if r.Error != nil || r.Moderation.Action != proto.ActionDelete || r.Moderation.MessageID != id {
		t.Fatalf("deleted: %+v", r)
	}
	for _, bad := range []proto.PresenceDeleted{
		{Room: "kitchen", ID: "x", By: "Erin"},
		{Room: "a.b*", ID: id, By: "Erin"},
		{Room: "kitchen", ID: id, By: "a\u202eb"},
	} {
		var br proto.PresenceModerateReply
		askJSON(t, nc, proto.PresenceDeletedSubject, bad, &br)
		if br.Error == nil {
			t.Errorf("%+v: %+v, want an error", bad, br)
		}
	}
	var log proto.ModerationLogReply
	askJSON(t, nc, proto.PresenceModerationLogSubject, proto.PresenceModerationLog{Room: "kitchen"}, &log)
	if len(log.Actions) != 1 {
		t.Fatalf("log: %+v", log)
	}
	if a := log.Actions[0]; a.Action != proto.ActionDelete || a.By != "Erin" || a.MessageID != id || a.Username != "frank" || a.Room != "kitchen" {
		t.Errorf("logged: %+v", a)
	}
}

// TestRenameToABannedName: a session in a room cannot rename itself to a
// name banned from that room (nor to a look-alike of it): the rename is
// refused as banned, naming the room, and the session keeps its name; a
// name banned only elsewhere, or not at all, is taken.
func TestRenameToABannedName(t *testing.T) {
	ns := natstest.Run(t)
	nc := natstest.Connect(t, ns.ClientURL())
	s := New(Config{}, natstest.Connect(t, ns.ClientURL()), NewMemoryStore(time.Hour, nil), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	serve(t, s)

	var jr proto.PresenceJoinReply
	askJSON(t, nc, proto.PresenceJoinSubject, proto.PresenceJoin{ConnRef: conn("a"), Username: "ann", Room: "r"}, &jr)
	if jr.Error != nil {
		t.Fatal(jr.Error)
	}
	var calm proto.PresenceJoinReply
	askJSON(t, nc, proto.PresenceJoinSubject, proto.PresenceJoin{ConnRef: conn("a#2"), Token: jr.Token, Room: "calm"}, &calm)
	if calm.Error != nil {
		t.Fatal(calm.Error)
	}
	for _, ban := range []struct{ room, name string }{{"r", "bob"}, {"elsewhere", "dave"}} {
		var mr proto.PresenceModerateReply
		askJSON(t, nc, proto.PresenceModerateSubject, proto.PresenceModerate{Action: proto.EventBan, ModerateRequest: proto.ModerateRequest{Room: ban.room, Username: ban.name}, By: "Mod"}, &mr)
		if mr.Error != nil {
			t.Fatalf("ban %s from %s: %+v", ban.name, ban.room, mr.Error)
		}
	}
	rename := func(to string) proto.PresenceRenameReply {
		var rr proto.PresenceRenameReply
		askJSON(t, nc, proto.PresenceRenameSubject, proto.PresenceRename{ConnRef: conn("a"), Token: jr.Token, Username: to}, &rr)
		return rr
	}
	for _, to := range []string{"bob", "B0B"} {
		rr := rename(to)
		if rr.Error == nil || rr.Error.Code != proto.CodeBanned || !strings.Contains(rr.Error.Message, "from r") {
			t.Errorf("rename to %s, banned from r: %+v, want %s naming r", to, rr, proto.CodeBanned)
		}
	}
	if got := usernames(allMembers(t, s.store, "r")); !slices.Equal(got, []string{"ann"}) {
		t.Errorf("r after the refused renames = %v, want [ann]", got)
	}
	for _, to := range []string{"dave", "carol"} {
		if rr := rename(to); rr.Error != nil || rr.Username != to {
			t.Errorf("rename to %s: %+v", to, rr)
		}
	}
}

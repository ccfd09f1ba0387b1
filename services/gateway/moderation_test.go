package gateway

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/proto"
)

// TestMutes: a mute holds on any of a user's targets, in its room only,
// says until when, and ends on its clock; one for good does not.
func TestMutes(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	ms := mutes{now: func() time.Time { return now }, by: make(map[muteKey]time.Time)}
	ann, id := proto.NameTarget("ann"), proto.IdentityTarget("x")
	ms.set("r", id, now.Add(time.Second))
	ms.set("r", proto.NameTarget("bob"), time.Time{})

	err := ms.check("r", []string{ann, id})
	var pe *proto.Error
	if !errors.As(err, &pe) || pe.Code != proto.CodeMuted || pe.Until != now.Add(time.Second).UnixMilli() {
		t.Fatalf("muted by identity: %v", err)
	}
	if err := ms.check("other", []string{ann, id}); err != nil {
		t.Errorf("in another room: %v", err)
	}
	if err := ms.check("r", []string{proto.NameTarget("bob")}); !errors.As(err, &pe) || pe.Until != 0 {
		t.Errorf("bob for good: %v", err)
	}
	now = now.Add(time.Second)
	if err := ms.check("r", []string{ann, id}); err != nil {
		t.Errorf("at its end: %v", err)
	}
	if _, held := ms.by[muteKey{"r", id}]; held {
		t.Error("an ended mute is kept")
	}
	ms.lift("r", proto.NameTarget("bob"))
	if err := ms.check("r", []string{proto.NameTarget("bob")}); err != nil {
		t.Errorf("lifted: %v", err)
	}
}

// TestSessionRole: the granted role wins over the claim; revoked, the
// claim is back; an anonymous connection has none.
func TestSessionRole(t *testing.T) {
	cn := &conn{ident: &identity{role: sessionRole{claim: "member"}}}
	for _, tc := range []struct{ grant, want string }{
		{"", "member"}, {proto.RoleModerator, proto.RoleModerator}, {"", "member"},
	} {
		cn.ident.role.grant(tc.grant)
		if got := cn.role(); got != tc.want {
			t.Errorf("granted %q: role %q, want %q", tc.grant, got, tc.want)
		}
	}
	if r := (&conn{}).role(); r != "" {
		t.Errorf("anonymous: %q", r)
	}
}

// checkingSink is a member's sink that, as each frame reaches it, asks
// whether its user's messages would pass the gateway's mutes.
type checkingSink struct {
	frames
	mutes  *mutes
	room   string
	target string
	passed []error // the mutes' answer at each frame
}

func (s *checkingSink) SendFrame(frame []byte, tail [][]byte) error {
	s.passed = append(s.passed, s.mutes.check(s.room, []string{s.target}))
	return s.frames.SendFrame(frame, tail)
}

// TestMuteHoldsBeforeTheRoomIsTold: a gateway records an announced mute
// before it tells the room's members here, so a member told of its mute
// cannot get a message past the gateway in between; likewise an unmute
// holds before it is told.
func TestMuteHoldsBeforeTheRoomIsTold(t *testing.T) {
	md := newModeration(nil, nil, nil, nil)
	target := proto.NameTarget("ann")
	sink := &checkingSink{mutes: &md.mutes, room: "lobby", target: target}
	ann := testMember("lobby", proto.SessionID("token-ann"), "ann", sink)
	f := newTestFanout(members{rooms: map[string][]*member{proto.Token("lobby"): {ann}}})
	f.moderating, f.moderated = md.record, md.enforce

	notice := func(action string) *nats.Msg {
		msg := nats.NewMsg(proto.RoomPresenceSubject("lobby"))
		msg.Header.Set(proto.HeaderEvent, proto.EventModeration)
		msg.Header.Set(proto.HeaderModerationTarget, target)
		msg.Data, _ = json.Marshal(proto.Moderation{Action: action, Room: "lobby", Username: "ann", By: "mod"})
		return msg
	}
	f.fanOutNotice(notice(proto.EventMute))
	f.fanOutNotice(notice(proto.EventUnmute))
	if len(sink.passed) != 2 {
		t.Fatalf("ann was told %d notices, want 2", len(sink.passed))
	}
	var pe *proto.Error
	if !errors.As(sink.passed[0], &pe) || pe.Code != proto.CodeMuted {
		t.Errorf("as ann is told of her mute, her message would pass: %v", sink.passed[0])
	}
	if sink.passed[1] != nil {
		t.Errorf("as ann is told of her unmute, her message would be refused: %v", sink.passed[1])
	}
}

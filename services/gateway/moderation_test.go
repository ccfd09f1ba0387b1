package gateway

import (
	"errors"
	"testing"
	"time"

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

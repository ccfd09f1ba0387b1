package gateway

import (
	"testing"

	"github.com/natter/natter/proto"
)

// TestMemberRenameInOrder: a member takes a rename only when its count is
// above the one it has, whatever order the renames come in, and says
// whether its name changed.
func TestMemberRenameInOrder(t *testing.T) {
	m := &member{}
	m.name.Store(&memberName{username: "민지", key: proto.NameKey("민지")})
	steps := []struct {
		name    string
		gen     int64
		changed bool
		want    string
	}{
		{"the second rename first", 2, true, "지수"},
		{"the first, late", 1, false, "지수"},
		{"the second again (the broadcast after the ack)", 2, false, "지수"},
		{"the third", 3, true, "Jisoo"},
	}
	names := map[int64]string{1: "Minji", 2: "지수", 3: "Jisoo"}
	for _, st := range steps {
		if got := m.rename(names[st.gen], st.gen); got != st.changed {
			t.Errorf("%s: rename = %v, want %v", st.name, got, st.changed)
		}
		if m.username() != st.want || m.key() != proto.NameKey(st.want) {
			t.Errorf("%s: %q (key %q), want %q", st.name, m.username(), m.key(), st.want)
		}
	}
}

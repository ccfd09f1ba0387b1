package web

import "testing"

// TestRoomListContrast: in each theme, what the room list, the day lines
// and the new-messages marker write is at least 4.5:1 against what it is
// written on: a badge's count on the accent, the current room's name on
// its highlight, counts and day lines (muted) and the marker (error) on
// the backgrounds of the list and the sidebar.
func TestRoomListContrast(t *testing.T) {
	for theme, vars := range themes(t) {
		for _, pair := range [][2]string{
			{"badge-text", "accent"},
			{"text", "accent-soft"},
			{"muted", "bg"}, {"muted", "surface"}, {"muted", "surface-2"}, {"muted", "accent-soft"},
			{"error", "bg"},
		} {
			fg, bg := vars[pair[0]], vars[pair[1]]
			if fg == "" || bg == "" {
				t.Fatalf("%s theme: style.css has no --%s or --%s", theme, pair[0], pair[1])
			}
			if r := contrast(t, fg, bg); r < 4.5 {
				t.Errorf("%s theme: --%s %s on --%s %s is %.2f:1, want ≥ 4.5", theme, pair[0], fg, pair[1], bg, r)
			}
		}
	}
}

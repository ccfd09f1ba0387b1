package proto

import "hash/fnv"

// Palette holds the users' colours, as the color field of members,
// notices and messages names them: 12 colours far apart in hue, each at
// least 4.5:1 against the page's light backgrounds. The page shows each in
// the variant of its theme (style.css --user-0 … --user-11, the light ones
// these), checked for contrast by the web package's tests.
var Palette = []string{
	"#c2185b", "#2e7d32", "#1565c0", "#b34700", "#7b1fa2", "#00796b",
	"#0e6b8c", "#795548", "#a31515", "#5f6b00", "#283593", "#8a6d00",
}

// ColorOf returns the colour of the user whose name key (NameKey) is key:
// a hash of it into Palette, so that a user has the same colour in every
// session of the name, across restarts of a store that forgot them, and
// their history never shows in two.
func ColorOf(key string) string {
	h := fnv.New32a()
	h.Write([]byte(key))
	return Palette[h.Sum32()%uint32(len(Palette))]
}

package web

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/natter/natter/proto"
)

// limitsPath is the route of the module that tells the page proto's
// limits; the page imports it as ./limits.js from js/.
const limitsPath = "/js/limits.js"

// pageLimits are the limits the page checks before it sends, so that it
// says what the server would say without asking: their names in the
// module, and their values, taken from proto and nowhere else.
var pageLimits = []struct {
	name  string
	value any
}{
	{"MAX_NAME_RUNES", proto.MaxNameRunes},
	{"MAX_ROOM_RUNES", proto.MaxRoomRunes},
	{"MAX_MESSAGE_RUNES", proto.MaxMessageRunes},
	{"MAX_HISTORY_PAGE", proto.MaxHistoryPage},
	{"MAX_UNREAD", proto.MaxUnread}, // an unread count at it means that many or more
	{"DEFAULT_ROOM", proto.DefaultRoom},
	{"PALETTE", proto.Palette}, // the users' colours, each shown as var(--user-<index>)
}

// limitsModule renders pageLimits as an ES module of constants. It is
// built once, at startup, so it is served like the embedded files (an
// ETag of its body), and a module rather than JSON so the page has the
// values before any of its code runs, with no fetch and no inline script.
func limitsModule() []byte {
	var b strings.Builder
	b.WriteString("// natter's limits, rendered by the gateway from its proto package: the page\n")
	b.WriteString("// takes them from here and restates none of them.\n")
	for _, l := range pageLimits {
		v, err := json.Marshal(l.value) // a number or a string, in JSON and so in JS
		if err != nil {
			panic("web: limit " + l.name + ": " + err.Error())
		}
		fmt.Fprintf(&b, "export const %s = %s;\n", l.name, v)
	}
	return []byte(b.String())
}

package e2e

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/natter/natter/services/presence"
)

// TestBrowserMembersInPages joins a page to a room of 250 others: its
// join ack holds the first 100 members, and the page reads the others a
// page at a time until it lists all 251.
func TestBrowserMembersInPages(t *testing.T) {
	s := startSystem(t, presence.NewMemoryStore(0, nil), 1, presence.Config{})
	const others = 250
	names := make([]string, others)
	for i := range names {
		names[i] = fmt.Sprintf("crowd%03d", i)
	}
	clients := dialAll(t, s, names, func(int) string { return "lobby" })
	for i, a := range joinAll(t, clients) {
		if !strings.Contains(a, `"ok":true`) {
			t.Fatalf("%s: %s", names[i], a)
		}
	}
	var dialogs atomic.Int32
	ctx := tab(t, &dialogs)
	join(t, ctx, s.gateways[0].URL, "Viewer")
	js := fmt.Sprintf(`document.querySelectorAll(%q).length === %d && document.querySelector(%q).textContent === "(%d)"`,
		sel("member"), others+1, sel("member-count"), others+1)
	run(t, ctx, "the member list", chromedp.Poll(js, nil, chromedp.WithPollingInterval(50*time.Millisecond)))
	var list string
	run(t, ctx, "the members", chromedp.Text(sel("members"), &list))
	for _, name := range []string{names[0], names[99], names[100], names[others-1]} {
		if !strings.Contains(list, name) {
			t.Errorf("the member list lacks %s", name)
		}
	}
}

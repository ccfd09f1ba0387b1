package e2e

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/natter/natter/services/presence"
)

// TestBrowserTwoUsersInOneBrowser: two tabs of one browser. The second
// opens as the first's user (one member, however many tabs); "Join as
// someone else" there makes that tab someone else, and only that tab,
// reloads included; joining back as the first name is the first user
// again, with their colour and their whispers. ("Change name" renames the
// session instead: browser_rename_test.go.)
func TestBrowserTwoUsersInOneBrowser(t *testing.T) {
	var dialogs atomic.Int32
	s := startSystem(t, presence.NewMemoryStore(0, nil), 1, presence.Config{Grace: 300 * time.Millisecond, ReapInterval: 100 * time.Millisecond})
	url := s.gateways[0].URL
	x := fmt.Sprintf("%d", time.Now().UnixNano()%100000)
	minji, bob := "민지"+x, "Bob"+x

	first := tab(t, &dialogs)
	join(t, first, url, minji)
	second, cancel := chromedp.NewContext(first) // a tab of the same browser
	t.Cleanup(cancel)
	if err := chromedp.Run(second); err != nil { // made here, not under a run's timeout
		t.Fatal(err)
	}
	run(t, second, "open the second tab", chromedp.Navigate(url), chromedp.WaitEnabled(sel("send-button")))
	var name string
	run(t, second, "the same user", chromedp.Evaluate(`window.natter.state.username`, &name))
	if name != minji {
		t.Fatalf("the second tab is %q, want %q", name, minji)
	}
	poll(t, first, "one member", `document.querySelector('[data-testid="member-count"]').textContent.includes('1')`)

	var color string
	run(t, first, "Minji's colour", chromedp.Evaluate(`window.natter.state.color`, &color))

	// The second tab becomes Bob; the first stays Minji.
	joinAsSomeoneElse(t, second, bob)
	poll(t, first, "Bob in the members", fmt.Sprintf(`document.querySelector(%q).textContent.includes(%q)`, sel("members"), bob))
	say(t, second, "/w "+minji+" 비밀 "+x)
	waitText(t, first, "비밀 "+x)

	// Reloads keep each tab who it is.
	run(t, first, "reload the first", chromedp.Reload(), chromedp.WaitEnabled(sel("send-button")))
	run(t, second, "reload the second", chromedp.Reload(), chromedp.WaitEnabled(sel("send-button")))
	var a, b string
	run(t, first, "the first's user", chromedp.Evaluate(`window.natter.state.username`, &a))
	run(t, second, "the second's user", chromedp.Evaluate(`window.natter.state.username`, &b))
	if a != minji || b != bob {
		t.Errorf("after reloads the tabs are %q and %q, want %q and %q", a, b, minji, bob)
	}
	poll(t, first, "two members", `document.querySelector('[data-testid="member-count"]').textContent.includes('2')`)

	// Back to Minji in the second tab: her session, colour and whispers.
	joinAsSomeoneElse(t, second, minji)
	waitText(t, second, "비밀 "+x)
	var again string
	run(t, second, "her colour", chromedp.Evaluate(`window.natter.state.color`, &again))
	if again != color {
		t.Errorf("Minji's colour in the second tab %q, in the first %q", again, color)
	}
	poll(t, first, "Minji once, Bob gone", fmt.Sprintf(`document.querySelector('[data-testid="member-count"]').textContent.includes('1') && !document.querySelector(%q).textContent.includes(%q)`, sel("members"), bob))
	artifact(t, second, "names-two-tabs.png")
}

// joinAsSomeoneElse presses "Join as someone else" and joins as name.
func joinAsSomeoneElse(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	run(t, ctx, "change name to "+name,
		chromedp.Click(sel("signout-button")),
		chromedp.WaitVisible(sel("name-input")),
		chromedp.SetValue(sel("name-input"), name),
		chromedp.Click(sel("join-button")),
		chromedp.WaitEnabled(sel("send-button")))
}

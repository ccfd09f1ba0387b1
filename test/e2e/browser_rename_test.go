package e2e

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/natter/natter/services/presence"
)

// TestBrowserRenameKeepsWhispersAndColour: two browsers. A whispers to B;
// B's "Change name" renames B's session: B keeps the whisper (a reload
// included) and the colour, A sees B's new name in the member list and
// the "is now" line, and a whisper to the new name reaches B.
func TestBrowserRenameKeepsWhispersAndColour(t *testing.T) {
	var dialogs atomic.Int32
	s := startSystem(t, presence.NewMemoryStore(0, nil), 1, presence.Config{})
	url := s.gateways[0].URL
	x := fmt.Sprintf("%d", time.Now().UnixNano()%100000)
	alice, minji, jisu := "Alice"+x, "민지"+x, "지수"+x

	a := tab(t, &dialogs)
	join(t, a, url, alice)
	b := tab(t, &dialogs)
	join(t, b, url, minji)
	var color string
	run(t, b, "B's colour", chromedp.Evaluate(`window.natter.state.color`, &color))
	say(t, a, "/w "+minji+" 비밀 "+x)
	waitText(t, b, "비밀 "+x)

	run(t, b, "open the rename form",
		chromedp.Click(sel("rename-button")),
		chromedp.WaitVisible(sel("rename-input")),
		chromedp.SetValue(sel("rename-input"), jisu))
	artifact(t, b, "rename-form.png")
	run(t, b, "rename to "+jisu, chromedp.Click(sel("rename-save")), chromedp.WaitNotVisible(sel("rename-form")))
	poll(t, b, "B is "+jisu, fmt.Sprintf(`window.natter.state.username === %q`, jisu))
	members := fmt.Sprintf(`document.querySelector(%q).textContent`, sel("members"))
	poll(t, a, "A's member list", fmt.Sprintf(`%s.includes(%q) && !%s.includes(%q)`, members, jisu, members, minji))
	waitText(t, a, minji+" is now "+jisu)
	poll(t, a, "two members", `document.querySelector('[data-testid="member-count"]').textContent.includes('2')`)
	artifact(t, a, "rename-others-view.png")

	// A reload of B: the same session, its new name, colour and whisper.
	run(t, b, "reload B", chromedp.Reload(), chromedp.WaitEnabled(sel("send-button")))
	poll(t, b, "B is still "+jisu, fmt.Sprintf(`window.natter.state.username === %q`, jisu))
	waitText(t, b, "비밀 "+x)
	var again string
	run(t, b, "B's colour after", chromedp.Evaluate(`window.natter.state.color`, &again))
	if again != color {
		t.Errorf("B's colour %q after the rename, %q before", again, color)
	}
	poll(t, a, "still two members", `document.querySelector('[data-testid="member-count"]').textContent.includes('2')`)

	// A whisper to the new name reaches B.
	say(t, a, "/w "+jisu+" 새 이름 "+x)
	waitText(t, b, "새 이름 "+x)
	artifact(t, b, "rename-renamed-view.png")

	// On a phone the form is there too.
	run(t, b, "a phone's width", emulation.SetDeviceMetricsOverride(390, 844, 2, true),
		chromedp.Click(sel("rename-button")), chromedp.WaitVisible(sel("rename-input")))
	artifact(t, b, "rename-form-390.png")
	var right float64
	run(t, b, "the top bar's right edge", chromedp.Evaluate(
		`Math.max(...Array.from(document.querySelectorAll('.topbar-end > *')).map((e) => e.getBoundingClientRect().right))`, &right))
	if right > 390 {
		t.Errorf("at 390 px the top bar's buttons reach %.0f px", right)
	}
}

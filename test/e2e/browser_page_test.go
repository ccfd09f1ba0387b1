package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/natter/natter/services/presence"
)

// poll waits until the page's expression js is true.
func poll(tb testing.TB, ctx context.Context, what, js string) {
	tb.Helper()
	run(tb, ctx, what, chromedp.Poll(js, nil, chromedp.WithPollingInterval(50*time.Millisecond)))
}

// whisperLine is the expression of the first whisper line that shows text.
func whisperLine(text string) string {
	return fmt.Sprintf(`Array.from(document.querySelectorAll('[data-testid="whisper"]')).find((li) => li.textContent.includes(%q))`, text)
}

// closePage leaves the page as closing its tab does: the connection goes
// (disconnected first: a page kept in the back-forward cache could keep it
// open), the browser's storage stays.
func closePage(tb testing.TB, ctx context.Context) {
	tb.Helper()
	run(tb, ctx, "close the page", chromedp.Evaluate(`window.natter.socket.disconnect(); true`, nil), chromedp.Navigate("about:blank"))
}

// TestBrowserWhispersStay: in three browsers (two users, and a third who
// later takes one's name), whispers are shown again after a reload, a
// whisper to a user who closed the page is stored and acked and shown,
// with an unread count, at their next join, and never to the stranger
// who takes the name while they are away. On the way: links are links
// (http/https only, rel noopener noreferrer), own messages are marked,
// names keep one colour per theme, and a Korean browser gets Korean UI
// text. Screenshots in light and dark, desktop and 390 px wide.
func TestBrowserWhispersStay(t *testing.T) {
	var dialogs atomic.Int32
	// A short grace: a closed page is offline soon.
	s := startSystem(t, presence.NewMemoryStore(0, nil), 2, presence.Config{Grace: 300 * time.Millisecond, ReapInterval: 100 * time.Millisecond})
	minji, sam := tab(t, &dialogs), tab(t, &dialogs)
	x := fmt.Sprintf("%d", time.Now().UnixNano()%100000)
	minjiName, samName := "민지"+x, "Sam"+x
	// Minji's browser speaks Korean.
	run(t, minji, "Korean browser", emulation.SetUserAgentOverride("Mozilla/5.0 natter-test").WithAcceptLanguage("ko-KR"))
	join(t, minji, s.gateways[0].URL, minjiName)
	join(t, sam, s.gateways[1].URL, samName)

	var lang, sendLabel string
	run(t, minji, "the page's language", chromedp.Evaluate(`document.documentElement.lang`, &lang), chromedp.Text(sel("send-button"), &sendLabel))
	if lang != "ko" || sendLabel != "보내기" {
		t.Errorf("Korean browser: lang %q, send button %q; want ko, 보내기", lang, sendLabel)
	}
	run(t, sam, "the page's language", chromedp.Evaluate(`document.documentElement.lang`, &lang), chromedp.Text(sel("send-button"), &sendLabel))
	if lang != "en" || sendLabel != "Send" {
		t.Errorf("English browser: lang %q, send button %q; want en, Send", lang, sendLabel)
	}

	// A live whisper, with a link and a javascript: text that is no link.
	live := "비밀 " + x + " https://example.com/a?b=1). javascript:alert(1)"
	say(t, sam, "/w "+minjiName+" "+live)
	waitText(t, minji, "비밀 "+x)
	var links []map[string]string
	run(t, minji, "links", chromedp.Evaluate(whisperLine("비밀 "+x)+`.querySelectorAll('a').values().map((a) => ({href: a.href, rel: a.rel, text: a.textContent})).toArray()`, &links))
	if len(links) != 1 || links[0]["href"] != "https://example.com/a?b=1" || links[0]["rel"] != "noopener noreferrer" || links[0]["text"] != "https://example.com/a?b=1" {
		t.Errorf("links of the whisper: %v; want the one https link, rel noopener noreferrer, without the ).", links)
	}

	// Own messages are marked; the other's are not.
	say(t, minji, "내 메시지 "+x)
	waitText(t, sam, "내 메시지 "+x)
	mine := `Array.from(document.querySelectorAll('[data-testid="message"]')).find((li) => li.textContent.includes(%q)).classList.contains('mine')`
	var own, others bool
	run(t, minji, "own message", chromedp.Evaluate(fmt.Sprintf(mine, "내 메시지 "+x), &own))
	run(t, sam, "another's message", chromedp.Evaluate(fmt.Sprintf(mine, "내 메시지 "+x), &others))
	if !own || others {
		t.Errorf("marked as own: by its writer %v, by the reader %v; want true, false", own, others)
	}

	// A reload shows the whisper again, from the whisper history.
	run(t, minji, "reload", chromedp.Reload(), chromedp.WaitEnabled(sel("send-button")))
	waitText(t, minji, "비밀 "+x)

	// Minji closes the page: offline, her session lives. Sam's whisper is
	// stored and acked.
	closePage(t, minji)
	poll(t, sam, "Minji gone from the members", fmt.Sprintf(`!document.querySelector(%q).textContent.includes(%q)`, sel("members"), minjiName))
	away := "없는 동안 " + x
	say(t, sam, "/w "+minjiName+" "+away)
	poll(t, sam, "the offline whisper acked", whisperLine(away)+`?.dataset.state === 'sent'`)
	var sendError string
	run(t, sam, "no error", chromedp.Evaluate(`document.querySelector('[data-testid="send-error"]').hidden ? '' : document.querySelector('[data-testid="send-error"]').textContent`, &sendError))
	if sendError != "" {
		t.Errorf("whisper to an offline user: %q", sendError)
	}

	// At her next join she sees it, and that it is new.
	run(t, minji, "come back", chromedp.Navigate(s.gateways[0].URL), chromedp.WaitEnabled(sel("send-button")))
	waitText(t, minji, away)
	poll(t, minji, "the unread count", `document.querySelector('[data-testid="unread-whispers"]')?.textContent.includes('1')`)
	artifact(t, minji, "page-whispers-ko.png")

	// Dark theme: names take the dark palette's colour; at 390 px too.
	author := `getComputedStyle(Array.from(document.querySelectorAll('[data-testid="message"] .author')).pop()).color`
	var light, dark string
	run(t, sam, "light colour", chromedp.Evaluate(author, &light))
	run(t, sam, "dark theme", emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}),
		chromedp.Evaluate(author, &dark))
	if light == "" || light == dark {
		t.Errorf("a name's colour: light %q, dark %q; want one of each theme", light, dark)
	}
	artifact(t, sam, "page-dark.png")
	run(t, sam, "390 px", emulation.SetDeviceMetricsOverride(390, 844, 2, true))
	artifact(t, sam, "page-dark-390.png")
	run(t, sam, "desktop", emulation.ClearDeviceMetricsOverride())

	// Minji leaves again, and a stranger takes her name: a whisper to the
	// name now is the stranger's, and nothing of Minji's shows to them.
	closePage(t, minji)
	poll(t, sam, "Minji gone from the members", fmt.Sprintf(`!document.querySelector(%q).textContent.includes(%q)`, sel("members"), minjiName))
	eve := tab(t, &dialogs)
	join(t, eve, s.gateways[1].URL, minjiName)
	toEve := "새 주인에게 " + x
	say(t, sam, "/w "+minjiName+" "+toEve)
	waitText(t, eve, toEve)
	var eveText string
	run(t, eve, "Eve's page", chromedp.Text(sel("messages"), &eveText))
	for _, secret := range []string{"비밀 " + x, away} {
		if strings.Contains(eveText, secret) {
			t.Errorf("the new holder of the name sees %q, the old one's whisper", secret)
		}
	}
	if dialogs.Load() != 0 {
		t.Error("a dialog opened")
	}
}

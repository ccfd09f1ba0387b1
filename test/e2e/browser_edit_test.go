package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/natter/natter/services/presence"
)

// messageLine is the expression of the first message line that shows text.
func messageLine(text string) string {
	return fmt.Sprintf(`Array.from(document.querySelectorAll('[data-testid="message"]')).find((li) => li.textContent.includes(%q))`, text)
}

// TestBrowserEditAndDelete: in two browsers on two gateways (one Korean),
// a user edits one of their messages and deletes another with the
// buttons on their own lines (none on the other's); the other browser
// sees the new text marked edited and a tombstone live, and both see them
// after a reload, with the old texts nowhere on either page.
func TestBrowserEditAndDelete(t *testing.T) {
	var dialogs atomic.Int32
	s := startSystem(t, presence.NewMemoryStore(0, nil), 2, presence.Config{})
	ann, bob := tab(t, &dialogs), tab(t, &dialogs)
	run(t, ann, "Korean browser", emulation.SetUserAgentOverride("Mozilla/5.0 natter-test").WithAcceptLanguage("ko-KR"))
	x := fmt.Sprintf("%d", time.Now().UnixNano()%100000)
	join(t, ann, s.gateways[0].URL, "안나"+x)
	join(t, bob, s.gateways[1].URL, "Bob"+x)

	original, doomed, bobs := "원래 글 "+x, "지울 글 "+x, "Bob's own "+x
	say(t, ann, original)
	say(t, ann, doomed)
	say(t, bob, bobs)
	waitText(t, bob, doomed)
	waitText(t, ann, bobs)
	poll(t, ann, "own lines confirmed", messageLine(doomed)+`?.dataset.state === 'sent' && !!`+messageLine(doomed)+`.dataset.id`)

	var buttons map[string]int
	run(t, ann, "the buttons", chromedp.Evaluate(fmt.Sprintf(`({
		own: %s.querySelectorAll('[data-testid="edit-button"], [data-testid="delete-button"]').length,
		others: %s.querySelectorAll('[data-testid="edit-button"], [data-testid="delete-button"]').length,
	})`, messageLine(original), messageLine(bobs)), &buttons))
	if buttons["own"] != 2 || buttons["others"] != 0 {
		t.Errorf("edit and delete buttons: %v; want 2 on one's own line, none on another's", buttons)
	}

	// Edit: the button, the text box, Enter. Delete: the button.
	edited := "고친 글 " + x
	run(t, ann, "edit",
		chromedp.Evaluate(messageLine(original)+`.querySelector('[data-testid="edit-button"]').click(); true`, nil),
		chromedp.WaitVisible(sel("edit-input")),
		chromedp.SetValue(sel("edit-input"), edited),
		chromedp.SendKeys(sel("edit-input"), "\r"),
	)
	// Delete asks first: the first press only asks again.
	del := messageLine(doomed) + `.querySelector('[data-testid="delete-button"]')`
	var asks string
	run(t, ann, "delete, once", chromedp.Evaluate(del+`.click(); `+del+`.textContent`, &asks))
	if asks != "삭제할까요?" {
		t.Errorf("the delete button pressed once says %q, want 삭제할까요?", asks)
	}
	// The server, asked after the press (events of a connection are
	// answered in turn), still has it.
	var still bool
	run(t, ann, "not deleted yet", chromedp.Evaluate(fmt.Sprintf(`window.natter.socket.emitWithAck('history', {}).then((h) =>
		h.messages.some((m) => m.message === %q && !m.deleted))`, doomed), &still, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))
	if !still {
		t.Error("deleted at the first press")
	}
	run(t, ann, "delete, confirmed", chromedp.Evaluate(del+`.click(); true`, nil))

	pages := []struct {
		name      string
		ctx       context.Context
		edited    string // the mark of an edited message, in the page's language
		tombstone string
	}{
		{"Ann's", ann, "(수정됨)", "삭제된 메시지입니다."},
		{"Bob's", bob, "(edited)", "This message was deleted."},
	}
	shows := func(ctx context.Context, name, when, editedTag, tombstone string) {
		t.Helper()
		poll(t, ctx, name+" page shows the edit and the tombstone "+when,
			fmt.Sprintf(`(() => { const e = %s, d = document.querySelector('[data-testid="messages"] li.deleted');
				return !!e && e.querySelector('[data-testid="edited"]')?.textContent === %q && !!d && d.textContent.includes(%q); })()`,
				messageLine(edited), editedTag, tombstone))
		var text string
		run(t, ctx, "the page's text", chromedp.Text(sel("messages"), &text))
		for _, old := range []string{original, doomed} {
			if strings.Contains(text, old) {
				t.Errorf("%s page %s still shows %q", name, when, old)
			}
		}
		if !strings.Contains(text, bobs) {
			t.Errorf("%s page %s lost Bob's message", name, when)
		}
	}
	for _, p := range pages {
		shows(p.ctx, p.name, "live", p.edited, p.tombstone)
	}
	artifact(t, bob, "page-edit-delete.png")
	for _, p := range pages {
		run(t, p.ctx, "reload", chromedp.Reload(), chromedp.WaitEnabled(sel("send-button")))
		waitText(t, p.ctx, bobs)
		shows(p.ctx, p.name, "after a reload", p.edited, p.tombstone)
	}
	artifact(t, ann, "page-edit-delete-ko.png")

	// On a phone (390 px, touch), the buttons show without a hover.
	var opacity string
	run(t, ann, "390 px, touch", emulation.SetDeviceMetricsOverride(390, 844, 2, true), emulation.SetTouchEmulationEnabled(true),
		chromedp.Evaluate(`getComputedStyle(`+messageLine(edited)+`.querySelector('.msg-actions')).opacity`, &opacity))
	if opacity != "1" {
		t.Errorf("on a phone the edit buttons have opacity %q, want 1", opacity)
	}
	artifact(t, ann, "page-edit-delete-390.png")
	if dialogs.Load() != 0 {
		t.Errorf("%d dialogs opened", dialogs.Load())
	}
}

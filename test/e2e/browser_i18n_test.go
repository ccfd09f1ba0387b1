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

// noticeShown is the expression true once a system line's body reads text.
func noticeShown(text string) string {
	return fmt.Sprintf(`Array.from(document.querySelectorAll('[data-testid="system"] .body')).some((b) => b.textContent === %q)`, text)
}

// failedWhisper is the expression of the status of the failed whisper
// that holds text: its code and its words.
func failedWhisper(text string) string {
	return whisperLine(text) + `?.dataset.state === 'failed' ? ` + whisperLine(text) + `.dataset.code + ' ' + ` +
		whisperLine(text) + `.querySelector('[data-testid="message-status"] span').textContent : ''`
}

// TestBrowserKorean: a Korean browser gets the page in Korean, not only
// its fixed labels but what is built as things happen: another's join and
// leave ("Sam 님이 들어왔습니다."), who is typing, the date line, a
// command's error, and a refusal of the server (a whisper to nobody,
// no_such_user) in the page's words rather than the server's English
// message; an English browser beside it gets the same in English.
func TestBrowserKorean(t *testing.T) {
	var dialogs atomic.Int32
	s := startSystem(t, presence.NewMemoryStore(0, nil), 1, presence.Config{Grace: 300 * time.Millisecond, ReapInterval: 100 * time.Millisecond})
	minji, sam := tab(t, &dialogs), tab(t, &dialogs)
	x := fmt.Sprintf("%d", time.Now().UnixNano()%100000)
	minjiName, samName, nobody := "민지"+x, "Sam"+x, "없는사람"+x
	run(t, minji, "Korean browser", emulation.SetUserAgentOverride("Mozilla/5.0 natter-test").WithAcceptLanguage("ko-KR"))
	join(t, minji, s.gateways[0].URL, minjiName)
	join(t, sam, s.gateways[0].URL, samName)

	poll(t, minji, "Sam's join in Korean", noticeShown(samName+" 님이 들어왔습니다."))
	var labels map[string]string
	run(t, minji, "the labels", chromedp.Evaluate(`({
		messages: document.querySelector('[data-testid="messages"]').getAttribute('aria-label'),
		roomSwitch: document.querySelector('[data-testid="room-switch-input"]').placeholder,
		day: document.querySelector('[data-testid="day-line"]')?.textContent,
	})`, &labels))
	if labels["messages"] != "메시지 목록" || labels["roomSwitch"] != "방 이름" || labels["day"] != "오늘" {
		t.Errorf("Korean labels: %v; want 메시지 목록, 방 이름, 오늘", labels)
	}

	run(t, sam, "Sam types", chromedp.SendKeys(sel("message-input"), "hello"))
	poll(t, minji, "Sam typing in Korean", fmt.Sprintf(`document.querySelector(%q).textContent === %q`, sel("typing"), samName+" 님이 입력 중…"))

	// A whisper to nobody: the server refuses it (no_such_user) with its
	// English message; each page says it in its own words.
	for _, tc := range []struct {
		page       string
		words      string
		from, text string
	}{
		{"Korean", "no_such_user 그 이름의 사용자를 찾을 수 없습니다.", minjiName, "안녕 " + x},
		{"English", "no_such_user No such user.", samName, "hello " + x},
	} {
		ctx := minji
		if tc.from == samName {
			ctx = sam
		}
		say(t, ctx, "/w "+nobody+" "+tc.text)
		poll(t, ctx, tc.page+" whisper refused", failedWhisper(tc.text)+` !== ''`)
		var got string
		run(t, ctx, "the refusal", chromedp.Evaluate(failedWhisper(tc.text), &got))
		if got != tc.words {
			t.Errorf("%s page: the whisper to nobody says %q, want %q", tc.page, got, tc.words)
		}
	}

	// An unknown command, said by the page itself.
	say(t, minji, "/frobnicate")
	poll(t, minji, "the unknown command in Korean", fmt.Sprintf(`(() => { const e = document.querySelector(%q);
		return !e.hidden && e.textContent.startsWith('알 수 없는 명령어입니다: /frobnicate.'); })()`, sel("send-error")))
	artifact(t, minji, "page-korean.png")

	closePage(t, sam)
	poll(t, minji, "Sam's leave in Korean", noticeShown(samName+" 님이 나갔습니다."))
	artifact(t, minji, "page-korean-left.png")
	if dialogs.Load() != 0 {
		t.Error("a dialog opened")
	}
}

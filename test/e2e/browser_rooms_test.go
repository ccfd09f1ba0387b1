package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/presence"
)

// TestBrowserRoomsAndUnread: in two browsers, Minji (Korean, 390 px wide,
// Seoul time) and Bob (desktop): the lobby's history from the two days
// before shows under day lines (the day before yesterday, yesterday,
// today) with one user's consecutive messages grouped; Minji changes room
// from the room switch, which a phone reaches; Bob's messages in the lobby
// raise its unread badge in her room list; back in the lobby from the
// list, the "new messages" marker stands between what she had read and
// what is new, and the read takes the count back to 0. Screenshots at
// 390 px, light and dark, and on the desktop.
func TestBrowserRoomsAndUnread(t *testing.T) {
	var dialogs atomic.Int32
	s := startSystem(t, presence.NewMemoryStore(0, nil), 2, presence.Config{})
	seoul, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Skip(err)
	}
	x := fmt.Sprintf("%d", time.Now().UnixNano()%100000)
	minjiName, bobName := "민지"+x, "Bob"+x

	// History of the two days before, stored as a gateway stores it.
	now := time.Now().In(seoul)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, seoul)
	js, err := jetstream.New(s.conns[0])
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range []struct {
		at   time.Time
		text string
	}{
		{today.Add(-36 * time.Hour), "그저께 " + x},
		{today.Add(-12 * time.Hour), "어제 첫째 " + x},
		{today.Add(-12*time.Hour + 2*time.Minute), "어제 둘째 " + x},
	} {
		data, _ := json.Marshal(proto.Message{ID: fmt.Sprintf("01J%023d", i+1), Room: proto.DefaultRoom,
			Username: "Old" + x, Color: proto.Palette[0], Message: m.text, TS: m.at.UnixMilli()})
		if _, err := js.Publish(context.Background(), proto.RoomMsgSubject(proto.DefaultRoom), data); err != nil {
			t.Fatal(err)
		}
	}

	minji, bob := tab(t, &dialogs), tab(t, &dialogs)
	for _, ctx := range []context.Context{minji, bob} {
		run(t, ctx, "Seoul time", emulation.SetTimezoneOverride("Asia/Seoul"))
	}
	run(t, minji, "a Korean phone",
		emulation.SetUserAgentOverride("Mozilla/5.0 natter-test").WithAcceptLanguage("ko-KR"),
		emulation.SetDeviceMetricsOverride(390, 844, 2, true))
	join(t, bob, s.gateways[1].URL, bobName)
	join(t, minji, s.gateways[0].URL, minjiName)

	item := func(room string) string {
		return fmt.Sprintf(`document.querySelector('[data-testid="room-item"][data-room=%q]')`, room)
	}
	say(t, bob, "안녕 "+x)
	waitText(t, minji, "안녕 "+x)
	poll(t, minji, "the lobby read", item(proto.DefaultRoom)+`?.dataset.unread === '0'`)

	// Day lines and groups.
	var days []string
	run(t, minji, "day lines", chromedp.Evaluate(`Array.from(document.querySelectorAll('[data-testid="day-line"]')).map((li) => li.textContent)`, &days))
	if len(days) != 3 || days[1] != "어제" || days[2] != "오늘" {
		t.Errorf("day lines %q; want the day before yesterday, 어제, 오늘", days)
	}
	line := `Array.from(document.querySelectorAll('[data-testid="message"]')).find((li) => li.textContent.includes(%q))`
	var first, second bool
	run(t, minji, "groups",
		chromedp.Evaluate(fmt.Sprintf(line, "어제 첫째 "+x)+`.classList.contains('grouped')`, &first),
		chromedp.Evaluate(fmt.Sprintf(line, "어제 둘째 "+x)+`.classList.contains('grouped')`, &second))
	if first || !second {
		t.Errorf("grouped: the first of yesterday %v, the second %v; want false, true", first, second)
	}
	artifact(t, minji, "rooms-days-390-ko.png")

	// The room switch and the command hint, on a phone.
	var reachable bool
	run(t, minji, "the phone's controls",
		chromedp.Click(sel("hint-toggle")),
		chromedp.Evaluate(`['room-switch-input', 'room-switch-button', 'hint-toggle'].every((id) => document.querySelector('[data-testid="' + id + '"]').getBoundingClientRect().width > 0) && document.getElementById('composer-hint').getBoundingClientRect().height > 0`, &reachable))
	if !reachable {
		t.Error("at 390 px the room switch or the command hint is not shown")
	}
	run(t, minji, "change room",
		chromedp.SetValue(sel("room-switch-input"), "side"),
		chromedp.Click(sel("room-switch-button")))
	poll(t, minji, "in side", `document.querySelector('[data-testid="room-name"]').textContent === '#side'`)
	poll(t, minji, "side read", item("side")+`?.dataset.unread === '0'`)

	// Bob's messages in the lobby: the badge goes up.
	for i := 1; i <= 3; i++ {
		say(t, bob, fmt.Sprintf("새 소식 %d %s", i, x))
	}
	waitText(t, bob, "새 소식 3 "+x)
	poll(t, minji, "the badge at 3", item(proto.DefaultRoom)+`?.querySelector('[data-testid="room-badge"]')?.textContent === '3'`)
	artifact(t, minji, "rooms-unread-390-ko.png")
	run(t, minji, "dark theme", emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}))
	artifact(t, minji, "rooms-unread-390-dark.png")

	// Back in the lobby from the list: the marker, then the read.
	run(t, minji, "the lobby from the list", chromedp.Click(`[data-testid="room-item"][data-room="lobby"]`))
	poll(t, minji, "in the lobby", `document.querySelector('[data-testid="room-name"]').textContent === '#lobby'`)
	waitText(t, minji, "새 소식 3 "+x)
	var around []string
	run(t, minji, "the marker", chromedp.Poll(`(() => {
		const marker = document.querySelector('[data-testid="new-marker"]');
		if (!marker) return null;
		const lines = Array.from(document.querySelectorAll('#messages > li'));
		const at = lines.indexOf(marker);
		const text = (li) => li ? li.querySelector('.text')?.textContent || '' : '';
		const before = lines.slice(0, at).filter((li) => li.dataset.testid === 'message');
		const after = lines.slice(at + 1).filter((li) => li.dataset.testid === 'message');
		return [text(before[before.length - 1]), ...after.map(text)];
	})()`, &around, chromedp.WithPollingInterval(50*time.Millisecond)))
	want := []string{"안녕 " + x, "새 소식 1 " + x, "새 소식 2 " + x, "새 소식 3 " + x}
	if fmt.Sprint(around) != fmt.Sprint(want) {
		t.Errorf("around the marker: %q; want %q", around, want)
	}
	artifact(t, minji, "rooms-marker-390-dark.png")
	poll(t, minji, "the lobby read again", item(proto.DefaultRoom)+`?.dataset.unread === '0'`)
	run(t, minji, "side from the list", chromedp.Click(`[data-testid="room-item"][data-room="side"]`))
	poll(t, minji, "in side again", `document.querySelector('[data-testid="room-name"]').textContent === '#side'`)
	poll(t, minji, "no badge on the lobby", item(proto.DefaultRoom)+`?.dataset.unread === '0' && !`+item(proto.DefaultRoom)+`.querySelector('[data-testid="room-badge"]')`)

	// Bob's list: the rooms with users, and how many.
	poll(t, bob, "side in Bob's list", item("side")+`?.querySelector('.room-item-count')?.textContent === '1'`)
	artifact(t, bob, "rooms-desktop.png")
	if dialogs.Load() != 0 {
		t.Error("a dialog opened")
	}
}

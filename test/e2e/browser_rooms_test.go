package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// TestBrowserRoomsAndUnread: in two browsers, Minji (Korean, 390 px wide,
// Seoul time) and Bob (desktop): the lobby's history from the two days
// before shows under day lines (the day before yesterday, yesterday,
// today) with one user's consecutive messages grouped; Minji opens a room
// from the room switch, which a phone reaches; Bob's messages in the lobby
// (which she keeps open) raise its unread badge in her room list; back in the lobby from the
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
	roomsRefresh(t, bob, 300*time.Millisecond) // his list shows side soon
	join(t, bob, s.gateways[1].URL, bobName)
	join(t, minji, s.gateways[0].URL, minjiName)
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
	openRoom(t, minji, "side")
	poll(t, minji, "side read", item("side")+`?.dataset.unread === '0'`)

	// Bob's messages in the lobby, which she keeps open: the badge goes up.
	for i := 1; i <= 3; i++ {
		say(t, bob, fmt.Sprintf("새 소식 %d %s", i, x))
	}
	waitText(t, bob, "새 소식 3 "+x)
	poll(t, minji, "the badge at 3", item(proto.DefaultRoom)+`?.querySelector('[data-testid="room-badge"]')?.textContent === '3'`)
	artifact(t, minji, "rooms-unread-390-ko.png")
	run(t, minji, "dark theme", emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}))
	artifact(t, minji, "rooms-unread-390-dark.png")

	// Back in the lobby from the list: the marker, then the read.
	showRoom(t, minji, proto.DefaultRoom)
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
	showRoom(t, minji, "side")
	poll(t, minji, "no badge on the lobby", item(proto.DefaultRoom)+`?.dataset.unread === '0' && !`+item(proto.DefaultRoom)+`.querySelector('[data-testid="room-badge"]')`)

	// Bob's list: the rooms with users, and how many.
	poll(t, bob, "side in Bob's list", item("side")+`?.querySelector('.room-item-count')?.textContent === '1'`)
	artifact(t, bob, "rooms-desktop.png")
	if dialogs.Load() != 0 {
		t.Error("a dialog opened")
	}
}

// item is the expression of the room list's entry of room.
func item(room string) string {
	return fmt.Sprintf(`document.querySelector('[data-testid="room-item"][data-room=%q]')`, room)
}

// leaveButton is the expression of the leave button of room's entry.
func leaveButton(room string) string {
	return fmt.Sprintf(`document.querySelector('[data-testid="room-leave"][data-room=%q]')`, room)
}

// roomsRefresh sets how often the page asks for the room list, before it
// loads (and at every load after).
func roomsRefresh(tb testing.TB, ctx context.Context, every time.Duration) {
	tb.Helper()
	src := fmt.Sprintf("window.natterConfig = { roomsRefreshMs: %d };", every.Milliseconds())
	run(tb, ctx, "the rooms' refresh", chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(src).Do(ctx)
		return err
	}))
}

// shows waits until the page shows room.
func shows(tb testing.TB, ctx context.Context, room string) {
	tb.Helper()
	poll(tb, ctx, "in "+room, fmt.Sprintf(`document.querySelector('[data-testid="room-name"]').textContent === %q`, "#"+room))
}

// openRoom opens room from the room switch and waits until it is shown.
func openRoom(tb testing.TB, ctx context.Context, room string) {
	tb.Helper()
	run(tb, ctx, "open "+room,
		chromedp.SetValue(sel("room-switch-input"), room),
		chromedp.Click(sel("room-switch-button")))
	shows(tb, ctx, room)
}

// showRoom shows room from the room list and waits until it is shown.
func showRoom(tb testing.TB, ctx context.Context, room string) {
	tb.Helper()
	run(tb, ctx, "show "+room, chromedp.Click(fmt.Sprintf(`[data-testid="room-item"][data-room=%q]`, room)))
	shows(tb, ctx, room)
}

// count is how many of events are name, sent (or received) by the page.
func count(events []sioEvent, sent bool, name string) int {
	n := 0
	for _, e := range events {
		if e.sent == sent && e.name == name {
			n++
		}
	}
	return n
}

// TestBrowserRoomsOnOneConnection: Minji (Korean, 390 px) keeps the lobby
// and side open on her tab's one connection. Bob's messages in the lobby,
// while she shows side, raise its badge at once, with no room list asked
// for (her page's refresh is an hour); showing the lobby clears it, and a
// second tab of hers sees 0 at its next refresh. A reload opens both
// again (the shown one with a plain join, the other with keep), and side's
// messages still come, and after a lost connection too. Leaving side (its ×) stops them, Bob sees her
// leave, and the last room has no ×.
func TestBrowserRoomsOnOneConnection(t *testing.T) {
	var dialogs atomic.Int32
	s := startSystem(t, presence.NewMemoryStore(0, nil), 2, presence.Config{})
	x := fmt.Sprintf("%d", time.Now().UnixNano()%100000)
	minjiName, bobName := "민지"+x, "Bob"+x
	lobby := proto.DefaultRoom

	minji, bob := tab(t, &dialogs), tab(t, &dialogs)
	run(t, minji, "a Korean phone",
		emulation.SetUserAgentOverride("Mozilla/5.0 natter-test").WithAcceptLanguage("ko-KR"),
		emulation.SetDeviceMetricsOverride(390, 844, 2, true))
	roomsRefresh(t, minji, time.Hour)
	events := socketEvents(t, minji)
	join(t, bob, s.gateways[1].URL, bobName)
	join(t, minji, s.gateways[0].URL, minjiName)
	openRoom(t, minji, "side")
	openRoom(t, bob, "side")
	showRoom(t, bob, lobby)
	poll(t, minji, "both open, each with its ×",
		item(lobby)+`?.dataset.open === 'true' && `+item("side")+`?.dataset.open === 'true' && `+
			leaveButton(lobby)+` && `+leaveButton("side")+`.getAttribute('aria-label') === '#side 방 나가기'`)
	poll(t, minji, "the lobby read", item(lobby)+`?.dataset.unread === '0'`)

	// Bob's messages in the lobby: the badge goes up, pushed.
	asked := count(events(), true, "rooms")
	say(t, bob, "로비 1 "+x)
	say(t, bob, "로비 2 "+x)
	waitText(t, bob, "로비 2 "+x)
	poll(t, minji, "the badge at 2", item(lobby)+`?.querySelector('[data-testid="room-badge"]')?.textContent === '2'`)
	if n := count(events(), true, "rooms"); n != asked {
		t.Errorf("the page asked for the room list %d times while the badge went up; want none", n-asked)
	}
	artifact(t, minji, "rooms-open-390-ko.png")

	// A second tab of hers (the same browser: the same user; it opens
	// hidden, behind hers) shows side, with the lobby's 2 unread from the
	// server.
	second, cancel := chromedp.NewContext(minji) // a tab of the same browser
	t.Cleanup(cancel)
	if err := chromedp.Run(second); err != nil { // made here, not under a run's timeout
		t.Fatal(err)
	}
	roomsRefresh(t, second, 200*time.Millisecond)
	run(t, second, "her second tab", chromedp.Navigate(s.gateways[0].URL), chromedp.WaitEnabled(sel("send-button")))
	shows(t, second, "side")
	poll(t, second, "2 unread in her second tab", item(lobby)+`?.dataset.unread === '2'`)

	// Showing the lobby reads it: 0 here, and in the second tab at its next refresh.
	showRoom(t, minji, lobby)
	waitText(t, minji, "로비 2 "+x)
	poll(t, minji, "the lobby read again", item(lobby)+`?.dataset.unread === '0'`)
	run(t, second, "look at the second tab", page.BringToFront()) // a hidden tab asks for nothing
	poll(t, second, "0 unread in her second tab", item(lobby)+`?.dataset.unread === '0' && !`+item(lobby)+`.querySelector('[data-testid="room-badge"]')`)
	closePage(t, second)
	run(t, minji, "back to the first tab", page.BringToFront())

	// A reload opens both again: the lobby shown, side kept.
	joins := len(joinsOf(events()))
	run(t, minji, "reload", chromedp.Reload(), chromedp.WaitEnabled(sel("send-button")))
	shows(t, minji, lobby)
	poll(t, minji, "side open again", item("side")+`?.dataset.open === 'true' && `+leaveButton("side"))
	showRoom(t, bob, "side")
	say(t, bob, "사이드 1 "+x)
	poll(t, minji, "side's badge at 1", item("side")+`?.querySelector('[data-testid="room-badge"]')?.textContent === '1'`)
	if got := joinsOf(events())[joins:]; len(got) != 2 || got[0].Room != lobby || got[0].Keep || got[1].Room != "side" || !got[1].Keep {
		t.Errorf("the reload's joins: %+v; want the lobby, then side with keep", got)
	}

	// A lost connection, recovered, keeps both.
	run(t, minji, "lose the connection", chromedp.Evaluate(`window.natter.socket.io.engine.close(); true`, nil))
	waitText(t, minji, "다시 연결되었습니다.")
	say(t, bob, "사이드 1b "+x)
	poll(t, minji, "side's badge at 2", item("side")+`?.querySelector('[data-testid="room-badge"]')?.textContent === '2'`)

	// Leaving side: Bob sees her leave, side's messages stop, the lobby
	// (her last room) has no ×.
	run(t, minji, "leave side", chromedp.Click(`[data-testid="room-leave"][data-room="side"]`))
	poll(t, bob, "her leave", fmt.Sprintf(`Array.from(document.querySelectorAll('[data-testid="system"] .body')).some((b) => b.textContent === %q) && !document.querySelector('[data-testid="member"][data-username=%q]')`,
		minjiName+" left", minjiName))
	poll(t, minji, "side closed", item("side")+`?.dataset.open !== 'true' && !`+leaveButton(lobby)+` && !`+leaveButton("side"))
	say(t, bob, "사이드 2 "+x)
	waitText(t, bob, "사이드 2 "+x)
	showRoom(t, bob, lobby)
	say(t, bob, "로비 3 "+x)
	waitText(t, minji, "로비 3 "+x)
	for _, e := range events() {
		if !e.sent && e.name == "server message" && strings.Contains(string(e.data), "사이드 2 "+x) {
			t.Errorf("side's message came after she left it: %s", e.data)
		}
	}
	artifact(t, minji, "rooms-left-390-ko.png")
	if dialogs.Load() != 0 {
		t.Error("a dialog opened")
	}
}

// TestBrowserReopensManyRooms: a reload with more rooms open than the
// join budget's burst opens them again at its pace, trying again those
// refused as rate_limited; those past the gateway's rooms (12 here) are
// dropped, with a clear word (too_many_rooms), and the others' messages
// come.
func TestBrowserReopensManyRooms(t *testing.T) {
	var dialogs atomic.Int32
	const maxRooms = 12
	s := startSystemWith(t, presence.NewMemoryStore(0, nil), 1, presence.Config{}, history.Config{}, gateway.Config{MaxRooms: maxRooms})
	x := fmt.Sprintf("%d", time.Now().UnixNano()%100000)
	minji, bob := tab(t, &dialogs), tab(t, &dialogs)
	run(t, minji, "a Korean page", emulation.SetUserAgentOverride("Mozilla/5.0 natter-test").WithAcceptLanguage("ko-KR"))
	roomsRefresh(t, minji, time.Hour)
	events := socketEvents(t, minji)
	join(t, minji, s.gateways[0].URL, "민지"+x)

	// 13 rooms besides the lobby, as a tab that had opened them keeps them.
	var stored []string
	for i := 1; i <= 13; i++ {
		stored = append(stored, fmt.Sprintf("r%02d", i))
	}
	list, _ := json.Marshal(map[string]any{"rooms": append(stored, proto.DefaultRoom), "shown": proto.DefaultRoom})
	run(t, minji, "many rooms, then a reload",
		chromedp.Evaluate(fmt.Sprintf(`sessionStorage.setItem('natter.tab.rooms', %q); true`, list), nil),
		chromedp.Reload(), chromedp.WaitEnabled(sel("send-button")))
	poll(t, minji, "too many rooms said", `document.querySelector('[data-testid="room-switch-error"]').textContent.includes('#r13 방을 열지 못했습니다')`)
	want, _ := json.Marshal(append([]string{proto.DefaultRoom}, stored[:maxRooms-1]...))
	poll(t, minji, "the rooms kept open", fmt.Sprintf(`JSON.stringify(Array.from(document.querySelectorAll('[data-testid="room-item"][data-open="true"]')).map((b) => b.dataset.room)) === %q`, want))
	asked := map[string]int{}
	for _, j := range joinsOf(events()) {
		asked[j.Room]++
	}
	retried := false
	for _, room := range stored {
		retried = retried || asked[room] > 1
	}
	if !retried {
		t.Errorf("no room was asked again: %v; past the burst of 10 some are rate_limited", asked)
	}

	// The last room kept is joined: its messages raise its badge.
	last := stored[maxRooms-2]
	join(t, bob, s.gateways[0].URL, "Bob"+x)
	openRoom(t, bob, last)
	say(t, bob, "안녕 "+x)
	poll(t, minji, last+"'s badge", item(last)+`?.querySelector('[data-testid="room-badge"]')?.textContent === '1'`)
	artifact(t, minji, "rooms-many-ko.png")
	if dialogs.Load() != 0 {
		t.Error("a dialog opened")
	}
}

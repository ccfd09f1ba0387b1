package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// TestBrowserAdminPage runs the admin page in headless Chromium against
// two gateways: a user on WebSocket (a Socket.IO client) on the first, a
// user of the web page on long-polling (behind a proxy that refuses
// WebSocket upgrades) on the second. The operator logs in; the page
// lists the lobby with both members and the
// connections by gateway and transport, gathered from both gateways; a
// disconnect ends the WebSocket user's socket (a server disconnect) and
// drops them from
// the list; a ban of the polling user (the server API's moderation)
// drops them too and shows in the room's moderation log. A wrong key is
// refused and sends the page back to its login.
// A room of 55 is listed a page of 50 at a time.
func TestBrowserAdminPage(t *testing.T) {
	s := startSystemWith(t, presence.NewMemoryStore(0, nil), 2, presence.Config{}, history.Config{}, gateway.Config{
		AdminKey: gateway.Secret(adminKey),
	})
	x := fmt.Sprintf("%d", time.Now().UnixNano()%100000)

	wsUser := "민지 ws" + x
	ws, err := dialStorm(s.gateways[0].URL, wsUser, "lobby")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.c.Close() })
	if a := joinAll(t, []*stormClient{ws}); !strings.Contains(a[0], `"ok":true`) {
		t.Fatalf("join: %s", a[0])
	}

	target, err := url.Parse(s.gateways[1].URL)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(target)
	noWebSocket := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "no WebSocket through this proxy", http.StatusForbidden)
			return
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		noWebSocket.CloseClientConnections() // long-polls would hold Close
		noWebSocket.Close()
	})
	var dialogs atomic.Int32
	user := tab(t, &dialogs)
	pollUser := "Poll" + x
	join(t, user, noWebSocket.URL, pollUser)

	op := tab(t, &dialogs)
	adminURL := s.gateways[0].URL + "/admin/"
	run(t, op, "a wrong key",
		chromedp.Navigate(adminURL),
		chromedp.WaitVisible(sel("admin-key")),
		chromedp.SendKeys(sel("admin-key"), "not the admin key at all"),
		chromedp.Click(sel("admin-login")),
	)
	poll(t, op, "the refusal", fmt.Sprintf(`document.querySelector(%q).textContent.includes("refused")`, sel("login-error")))
	run(t, op, "log in",
		chromedp.SendKeys(sel("admin-key"), adminKey),
		chromedp.Click(sel("admin-login")),
		chromedp.WaitVisible(sel("gateways")),
		chromedp.WaitNotVisible(sel("admin-login-form")),
	)

	// Both gateways, each with its transport: gw1 the WebSocket user,
	// gw2 the polling page.
	row := func(gw, col string) string {
		return fmt.Sprintf(`(document.querySelector('[data-testid="gateways"] tr[data-gateway=%q] [data-testid=%q]')||{}).textContent`, gw, col)
	}
	poll(t, op, "the connections by gateway and transport", fmt.Sprintf(
		`%s === "1" && %s === "0" && %s === "0" && %s === "1" && document.querySelector(%q).textContent === "1" && document.querySelector(%q).textContent === "1"`,
		row("gw1", "websocket"), row("gw1", "polling"), row("gw2", "websocket"), row("gw2", "polling"),
		sel("total-websocket"), sel("total-polling")))

	run(t, op, "open the lobby", chromedp.Click(`[data-testid="room"][data-room="lobby"]`))
	members := fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(e => e.textContent)`, sel("member"))
	poll(t, op, "the lobby's members", fmt.Sprintf(`(m => m.length === 2 && m.includes(%q) && m.includes(%q))(%s)`, wsUser, pollUser, members))
	// Messages counted where they came in, and a rate made of two readings.
	say(t, user, "hello from polling "+x)
	say(t, user, "and again "+x)
	poll(t, op, "the messages counted", fmt.Sprintf(`%s === "2" && document.querySelector(%q).textContent === "2"`,
		row("gw2", "messages-in"), sel("total-messages-in")))
	artifact(t, op, "browser-admin.png")

	// The lobby's newest messages, each with a delete button: a delete
	// (the server API's, by admin) leaves a tombstone in history, which
	// the list shows, and the room's moderation log.
	msg := fmt.Sprintf(`Array.from(document.querySelectorAll('[data-testid="messages"] li')).find(li => li.textContent.includes(%q))`, "hello from polling "+x)
	poll(t, op, "the message listed", msg+` !== undefined`)
	var id string
	run(t, op, "its id", chromedp.Evaluate(msg+`.dataset.id`, &id))
	del := fmt.Sprintf(`[data-testid="delete"][data-id=%q]`, id)
	confirmClick(t, op, "delete the message", del)
	poll(t, op, "the tombstone from history", fmt.Sprintf(
		`(li => li && li.dataset.deleted === "true" && li.textContent.includes("deleted by admin") && !li.textContent.includes("hello"))(document.querySelector('[data-testid="messages"] li[data-id=%q]'))`, id))
	poll(t, op, "the delete in the log", fmt.Sprintf(
		`Array.from(document.querySelectorAll('[data-testid="moderation"] li[data-action="delete"]')).some(li => li.textContent.includes(%q) && li.textContent.includes("admin"))`, id))
	q, _ := json.Marshal(proto.HistoryQuery{Room: "lobby", Limit: 20})
	raw, err := s.conns[0].Request(proto.HistoryQuerySubject, q, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var h proto.HistoryReply
	if err := json.Unmarshal(raw.Data, &h); err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(h.Messages, func(m proto.Message) bool { return m.ID == id }); i < 0 ||
		!h.Messages[i].Deleted || h.Messages[i].Message != "" || h.Messages[i].DeletedBy != "admin" {
		t.Errorf("history after the page's delete: %+v", h.Messages)
	}

	button := fmt.Sprintf(`[data-testid="disconnect"][data-user=%q]`, wsUser)
	confirmClick(t, op, "disconnect the WebSocket user", button)
	select {
	case <-ws.kicked:
	case <-ws.done:
		t.Fatalf("the connection closed without the server's disconnect: %v", ws.err)
	case <-time.After(10 * time.Second):
		t.Fatal("the disconnected user's socket was not disconnected")
	}
	poll(t, op, "the lobby without them", fmt.Sprintf(`(m => m.length === 1 && m[0] === %q)(%s)`, pollUser, members))
	// Its Engine.IO session lives on (this client does not close it, as
	// socket.io-client would), but it is joined no more.
	poll(t, op, "gw1 without its joined user", row("gw1", "joined")+` === "0"`)

	// A ban of the polling user, through the server API's moderation: they
	// leave the lobby, and the room's moderation log shows it.
	ban := fmt.Sprintf(`[data-testid="ban"][data-user=%q]`, pollUser)
	confirmClick(t, op, "ban the polling user", ban)
	poll(t, op, "the ban in the log", fmt.Sprintf(
		`Array.from(document.querySelectorAll('[data-testid="moderation"] li[data-action="ban"]')).some(li => li.textContent.includes(%q) && li.textContent.includes("admin"))`, pollUser))
	poll(t, op, "the lobby without them", fmt.Sprintf(`%s.length === 0`, members))
	artifact(t, op, "browser-admin-moderation.png")

	// A crowd of 55 in another room: the page lists 50, and 5 more.
	names := make([]string, 55)
	for i := range names {
		names[i] = fmt.Sprintf("crowd%02d", i)
	}
	for i, a := range joinAll(t, dialAll(t, s, names, func(int) string { return "crowd" })) {
		if !strings.Contains(a, `"ok":true`) {
			t.Fatalf("%s: %s", names[i], a)
		}
	}
	crowd := `[data-testid="room"][data-room="crowd"]`
	run(t, op, "open the crowd", chromedp.WaitVisible(crowd), chromedp.Click(crowd))
	count := fmt.Sprintf(`document.querySelectorAll(%q).length`, sel("member"))
	poll(t, op, "the first page", fmt.Sprintf(`%s === 50 && document.querySelector(%q).textContent === "55 online"`, count, sel("members-count")))
	run(t, op, "the next page", chromedp.Click(sel("members-more")), chromedp.WaitNotVisible(sel("members-more")))
	poll(t, op, "all 55", fmt.Sprintf(`(m => m.length === 55 && new Set(m).size === 55 && m.includes("crowd00") && m.includes("crowd54"))(%s)`, members))
	if dialogs.Load() != 0 {
		t.Error("a dialog opened")
	}
}

// confirmClick clicks one of the page's two-step buttons (selector) and,
// once armed, clicks it again to confirm.
func confirmClick(t *testing.T, op context.Context, what, selector string) {
	t.Helper()
	run(t, op, what,
		chromedp.Click(selector),
		chromedp.WaitVisible(selector+`[data-armed="true"]`),
		chromedp.Click(selector),
	)
}

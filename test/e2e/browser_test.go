package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// chromium returns the browser to drive: $CHROMIUM, or Debian's chromium.
// Without one the test is skipped, except under CI=true.
func chromium(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("chromium not found (test/install-browser.sh installs it)")
	}
	tb.Skip("chromium not found; run test/install-browser.sh")
	return ""
}

// tab starts a headless Chromium of its own (its own profile and
// localStorage, as another person's browser) and fails the test on any
// JavaScript dialog: an alert would mean injected HTML ran.
func tab(tb testing.TB, dialogs *atomic.Int32) context.Context {
	tb.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(tb)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1200, 800),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	tb.Cleanup(cancelA)
	ctx, cancel := chromedp.NewContext(actx)
	tb.Cleanup(cancel)
	chromedp.ListenTarget(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dialogs.Add(1)
			go chromedp.Run(ctx, page.HandleJavaScriptDialog(false))
			tb.Errorf("a dialog opened: %q", d.Message)
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func run(tb testing.TB, ctx context.Context, what string, actions ...chromedp.Action) {
	tb.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(tctx, actions...); err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}

const byTestID = `[data-testid="%s"]`

func sel(id string) string { return fmt.Sprintf(byTestID, id) }

// join fills the join form and waits for the chat view.
func join(tb testing.TB, ctx context.Context, url, name string) {
	tb.Helper()
	run(tb, ctx, "join as "+name,
		chromedp.Navigate(url),
		chromedp.WaitVisible(sel("name-input")),
		chromedp.SendKeys(sel("name-input"), name),
		chromedp.Click(sel("join-button")),
		chromedp.WaitEnabled(sel("send-button")),
	)
}

// say types a message and sends it.
func say(tb testing.TB, ctx context.Context, text string) {
	tb.Helper()
	run(tb, ctx, "say "+text,
		chromedp.SetValue(sel("message-input"), text),
		chromedp.SendKeys(sel("message-input"), " "),
		chromedp.Click(sel("send-button")),
	)
}

// waitText waits until the messages list shows text.
func waitText(tb testing.TB, ctx context.Context, text string) {
	tb.Helper()
	js := fmt.Sprintf(`document.querySelector(%q).textContent.includes(%q)`, sel("messages"), text)
	run(tb, ctx, "wait for "+text, chromedp.Poll(js, nil, chromedp.WithPollingInterval(50*time.Millisecond)))
}

// artifact saves a screenshot under test/artifacts.
func artifact(tb testing.TB, ctx context.Context, name string) {
	tb.Helper()
	var png []byte
	run(tb, ctx, "screenshot", chromedp.FullScreenshot(&png, 100))
	dir := filepath.Join(nodetest.RepoRoot(tb), "test", "artifacts")
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("screenshot: %s", path)
}

// chatInBrowser has two users chat in two tabs of the web client at urls
// (one each): Korean text, and HTML that must show as text and never run.
func chatInBrowser(t *testing.T, urls [2]string, shot string) {
	var dialogs atomic.Int32
	minji, sam := tab(t, &dialogs), tab(t, &dialogs)
	s := fmt.Sprintf("%d", time.Now().UnixNano()%100000)
	join(t, minji, urls[0], "민지"+s)
	join(t, sam, urls[1], "Sam"+s)

	korean := "안녕하세요, 반가워요 " + s
	attack := `<img src=x onerror=alert(1)>` + s
	say(t, minji, korean)
	waitText(t, sam, korean)
	say(t, sam, attack)
	waitText(t, minji, attack)
	waitText(t, sam, attack)

	for _, ctx := range []context.Context{minji, sam} {
		var imgs int
		run(t, ctx, "count images", chromedp.Evaluate(
			fmt.Sprintf(`document.querySelectorAll(%q).length`, sel("messages")+" img"), &imgs))
		if imgs != 0 {
			t.Errorf("the message became %d <img> element(s)", imgs)
		}
	}
	var members string
	run(t, minji, "members", chromedp.Text(sel("members"), &members))
	if !strings.Contains(members, "Sam"+s) || !strings.Contains(members, "민지"+s) {
		t.Errorf("members list %q", members)
	}
	if dialogs.Load() != 0 {
		t.Error("injected HTML ran")
	}
	artifact(t, minji, shot)
}

// TestBrowserChat runs the embedded web client in headless Chromium: two
// users in two tabs, on two gateways of one system.
func TestBrowserChat(t *testing.T) {
	s := startSystem(t, presence.NewMemoryStore(0, nil), 2, presence.Config{})
	chatInBrowser(t, [2]string{s.gateways[0].URL, s.gateways[1].URL}, "browser-chat.png")
}

// TestBrowserReconnects drops every connection of the gateway a web page
// is on while another user talks: the page comes back with each missed
// message once — recovered by Socket.IO's connection state recovery, or,
// with recovery off, by joining again with the id of its last message.
func TestBrowserReconnects(t *testing.T) {
	for _, recovery := range []bool{true, false} {
		t.Run(fmt.Sprintf("recovery=%v", recovery), func(t *testing.T) {
			p := twoPages(t, gateway.Config{NoRecovery: !recovery})
			s, minji, sam, network, x, joins := p.s, p.minji, p.sam, p.network, p.x, p.samJoins
			say(t, minji, "before "+x)
			waitText(t, sam, "before "+x)
			var lastSeen string
			run(t, sam, "the id of the last message seen", chromedp.Evaluate(
				`Array.from(document.querySelectorAll('[data-testid="messages"] li[data-id]')).pop().dataset.id`, &lastSeen))

			network.cut() // Sam's connection is lost
			waitText(t, sam, "Connection lost")
			missed := sayMissed(t, minji, x)
			for _, m := range append(missed, "Reconnected.") {
				waitText(t, sam, m)
			}
			say(t, minji, "after "+x)
			waitText(t, sam, "after "+x)
			want := append(append([]string{"before " + x}, missed...), "after "+x)
			if got := texts(t, sam, x); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("Sam's page shows %q, want %q", got, want)
			}
			// Recovered, the page stays joined; else it joins again from
			// the last message it saw, and is sent only what came after.
			sent := joins()
			switch {
			case len(sent) == 0:
				t.Fatal("no join frame seen")
			case recovery && len(sent) != 1:
				t.Errorf("the page joined again after its recovery: %v", sent[1:])
			case !recovery && (len(sent) != 2 || sent[1].Since != lastSeen || sent[1].Since == ""):
				t.Errorf("the page's joins %+v; want a second one with since %q", sent, lastSeen)
			}
			if n := metricValue(t, s.metrics[1], "natter_gateway_recoveries_total", "result", "recovered"); recovery && n != 1 {
				t.Errorf("%v recoveries, want 1", n)
			} else if !recovery && n != 0 {
				t.Errorf("%v recoveries with recovery off", n)
			}
			artifact(t, sam, fmt.Sprintf("browser-reconnect-recovery-%v.png", recovery))
		})
	}
}

// TestBrowserFallsBackToPolling puts one page behind a proxy that refuses
// WebSocket upgrades, as some corporate proxies do: that page connects over
// HTTP long-polling and chats with a page on WebSocket, both ways.
func TestBrowserFallsBackToPolling(t *testing.T) {
	s := startSystem(t, presence.NewMemoryStore(0, nil), 2, presence.Config{})
	target, err := url.Parse(s.gateways[1].URL)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(target)
	var refused, forwarded atomic.Int32
	blocker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			refused.Add(1)
			http.Error(w, "WebSocket is not allowed through this proxy", http.StatusForbidden)
			return
		}
		if r.URL.Query().Get("transport") == "polling" {
			forwarded.Add(1)
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		blocker.CloseClientConnections() // long-polls would hold Close
		blocker.Close()
	})

	var dialogs atomic.Int32
	minji, sam := tab(t, &dialogs), tab(t, &dialogs)
	x := fmt.Sprintf("%d", time.Now().UnixNano()%100000)
	join(t, minji, s.gateways[0].URL, "민지"+x)
	join(t, sam, blocker.URL, "Sam"+x)

	transport := func(ctx context.Context) string {
		var tr string
		run(t, ctx, "read the transport", chromedp.AttributeValue(sel("status"), "data-transport", &tr, nil))
		return tr
	}
	if got := transport(minji); got != "websocket" {
		t.Errorf("the direct page is on %q, want websocket", got)
	}
	if got := transport(sam); got != "polling" {
		t.Errorf("the page behind the proxy is on %q, want polling", got)
	}
	say(t, sam, "over polling "+x)
	waitText(t, minji, "over polling "+x)
	say(t, minji, "over websocket "+x)
	waitText(t, sam, "over websocket "+x)

	if refused.Load() == 0 {
		t.Error("the page never tried WebSocket")
	}
	if forwarded.Load() == 0 {
		t.Error("no polling request went through the proxy")
	}
	if n := metricValue(t, s.metrics[1], "natter_gateway_sessions", "transport", "polling"); n != 1 {
		t.Errorf("%v polling sessions on the proxied gateway, want 1", n)
	}
	artifact(t, sam, "browser-polling-fallback.png")
}

// pages is two users of the web client, each in a headless Chromium of
// their own, joined to the lobby of one system: 민지 on its first gateway,
// Sam on its second through a proxy that can cut, drop or refuse Sam's
// connections.
type pages struct {
	s          *system
	minji, sam context.Context
	network    *tcpProxy
	x          string                     // ends their names, and the texts of the test
	samJoins   func() []proto.JoinRequest // the join frames Sam's page has sent
}

func twoPages(t *testing.T, gcfg gateway.Config) *pages {
	t.Helper()
	p := &pages{s: startSystemWith(t, presence.NewMemoryStore(0, nil), 2, presence.Config{}, history.Config{}, gcfg)}
	var dialogs atomic.Int32
	p.minji, p.sam = tab(t, &dialogs), tab(t, &dialogs)
	p.x = fmt.Sprintf("%d", time.Now().UnixNano()%100000)
	join(t, p.minji, p.s.gateways[0].URL, "민지"+p.x)
	p.samJoins = joinsSent(t, p.sam)
	p.network = startTCPProxy(t, p.s.gateways[1].Listener.Addr().String())
	join(t, p.sam, p.network.URL(), "Sam"+p.x)
	return p
}

// sioEvent is a Socket.IO event a page sent or received over WebSocket:
// its name and its first argument.
type sioEvent struct {
	sent bool
	name string
	data json.RawMessage
}

// socketEvents records the Socket.IO events a page sends and receives
// over WebSocket (acks aside), and returns what it has recorded so far.
func socketEvents(tb testing.TB, ctx context.Context) func() []sioEvent {
	tb.Helper()
	var mu sync.Mutex
	var events []sioEvent
	record := func(sent bool, payload string) {
		// An event, with an ack id or not: 42<ack id>["name",{...}].
		data, ok := strings.CutPrefix(payload, "42")
		if !ok {
			return
		}
		var args []json.RawMessage
		if json.Unmarshal([]byte(strings.TrimLeft(data, "0123456789")), &args) != nil || len(args) < 2 {
			return
		}
		var name string
		if json.Unmarshal(args[0], &name) != nil {
			return
		}
		mu.Lock()
		events = append(events, sioEvent{sent: sent, name: name, data: args[1]})
		mu.Unlock()
	}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch f := ev.(type) {
		case *network.EventWebSocketFrameSent:
			record(true, f.Response.PayloadData)
		case *network.EventWebSocketFrameReceived:
			record(false, f.Response.PayloadData)
		}
	})
	run(tb, ctx, "watch the network", network.Enable())
	return func() []sioEvent {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(events)
	}
}

// joinsSent records the join events a page sends over WebSocket, and
// returns what it has recorded so far.
func joinsSent(tb testing.TB, ctx context.Context) func() []proto.JoinRequest {
	tb.Helper()
	events := socketEvents(tb, ctx)
	return func() []proto.JoinRequest { return joinsOf(events()) }
}

// joinsOf is the joins among events that the page sent.
func joinsOf(events []sioEvent) []proto.JoinRequest {
	var joins []proto.JoinRequest
	for _, e := range events {
		var j proto.JoinRequest
		if e.sent && e.name == "join" && json.Unmarshal(e.data, &j) == nil {
			joins = append(joins, j)
		}
	}
	return joins
}

// TestBrowserResendsWhatTheConnectionLost: a message written just before
// the page's connection drops is sent again once the page is back, and
// shows once everywhere — whether it was lost on its way to the server or
// stored and only its ack lost; recovered or joined again.
func TestBrowserResendsWhatTheConnectionLost(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lost     func(*tcpProxy) *atomic.Bool
		recovery bool
	}{
		{"the message lost, recovered", func(p *tcpProxy) *atomic.Bool { return &p.dropUp }, true},
		{"the ack lost, recovered", func(p *tcpProxy) *atomic.Bool { return &p.dropDown }, true},
		{"the message lost, joined again", func(p *tcpProxy) *atomic.Bool { return &p.dropUp }, false},
		{"the ack lost, joined again", func(p *tcpProxy) *atomic.Bool { return &p.dropDown }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := twoPages(t, gateway.Config{NoRecovery: !tc.recovery})
			s, minji, sam, network, x := p.s, p.minji, p.sam, p.network, p.x
			say(t, sam, "before "+x)
			waitText(t, minji, "before "+x)

			tc.lost(network).Store(true)
			lost := "written as the line went down " + x
			say(t, sam, lost)
			if tc.lost(network) == &network.dropDown {
				waitText(t, minji, lost) // stored: only the ack is lost
			}
			network.cut()
			waitText(t, sam, "Reconnected.")
			say(t, minji, "after "+x)
			for _, ctx := range []context.Context{minji, sam} {
				waitText(t, ctx, "after "+x)
				// The resend's ack follows the reconnection: wait for the
				// line to settle as sent, then count.
				if n := confirmedLines(t, ctx, lost); n != 1 {
					t.Errorf("the message shows %d times", n)
				}
			}
			if n := s.stored(t, proto.DefaultRoom, lost); n != 1 {
				t.Errorf("stored %d times", n)
			}
		})
	}
}

// TestBrowserJoinsWithoutHistory: a page comes back (recovery off, so it
// joins again with since) while the history service is down. The join
// holds and the page says history could not be loaded; once history is
// back, the page shows what it missed, once each, in order.
func TestBrowserJoinsWithoutHistory(t *testing.T) {
	p := twoPages(t, gateway.Config{NoRecovery: true})
	s, minji, sam, network, x := p.s, p.minji, p.sam, p.network, p.x
	say(t, minji, "before "+x)
	waitText(t, sam, "before "+x)

	s.stopHistory()
	network.cut()
	waitText(t, sam, "Connection lost")
	missed := sayMissed(t, minji, x)
	waitText(t, sam, "history could not be loaded")
	s.startHistory()
	waitText(t, sam, "history is loaded")
	say(t, minji, "after "+x)
	waitText(t, sam, "after "+x)

	want := append(append([]string{"before " + x}, missed...), "after "+x)
	if got := texts(t, sam, x); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Sam's page shows %q, want %q", got, want)
	}
	artifact(t, sam, "browser-join-without-history.png")
}

// TestBrowserSendsWhatWasWrittenOffline: while its connection is down, a
// page takes a message and a whisper, shows them as not sent yet, and
// sends them once back in the room, in order, each stored and shown once.
func TestBrowserSendsWhatWasWrittenOffline(t *testing.T) {
	for _, recovery := range []bool{true, false} {
		t.Run(fmt.Sprintf("recovery=%v", recovery), func(t *testing.T) {
			p := twoPages(t, gateway.Config{NoRecovery: !recovery})
			s, minji, sam, network, x := p.s, p.minji, p.sam, p.network, p.x
			say(t, sam, "before "+x)
			waitText(t, minji, "before "+x)

			network.refuse.Store(true)
			network.cut()
			waitText(t, sam, "Connection lost")
			offline := "written offline " + x
			whisper := "whispered offline " + x
			say(t, sam, offline)
			say(t, sam, "/w 민지"+x+" "+whisper)
			var states []string
			run(t, sam, "the waiting lines", chromedp.Evaluate(fmt.Sprintf(
				`Array.from(document.querySelectorAll('[data-testid="messages"] li')).filter(li => li.textContent.includes(%q)).map(li => li.dataset.state)`,
				"offline "+x), &states))
			if strings.Join(states, " ") != "queued queued" {
				t.Fatalf("the lines written offline are %q, want both queued", states)
			}

			network.refuse.Store(false)
			waitText(t, sam, "Reconnected.")
			waitText(t, minji, offline)
			waitText(t, minji, whisper)
			say(t, minji, "after "+x)
			for _, ctx := range []context.Context{minji, sam} {
				waitText(t, ctx, "after "+x)
				for _, text := range []string{offline, whisper} {
					if n := confirmedLines(t, ctx, text); n != 1 {
						t.Errorf("%q shows %d times", text, n)
					}
				}
			}
			// In the order written: the message, then the whisper.
			var order []string
			run(t, minji, "the order", chromedp.Evaluate(fmt.Sprintf(
				`Array.from(document.querySelectorAll('[data-testid="messages"] li')).map(li => li.textContent).filter(t => t.includes(%q))`,
				"offline "+x), &order))
			if len(order) != 2 || !strings.Contains(order[0], offline) || !strings.Contains(order[1], whisper) {
				t.Errorf("민지 sees %q", order)
			}
			if n := s.stored(t, proto.DefaultRoom, offline); n != 1 {
				t.Errorf("stored %d times", n)
			}
		})
	}
}

// sayMissed has a page say three messages, each seen back, and returns them.
func sayMissed(tb testing.TB, ctx context.Context, x string) []string {
	tb.Helper()
	var missed []string
	for i := range 3 {
		missed = append(missed, fmt.Sprintf("missed %d %s", i, x))
		say(tb, ctx, missed[i])
		waitText(tb, ctx, missed[i])
	}
	return missed
}

// texts returns the texts of the messages a page shows that end with x,
// top to bottom.
func texts(tb testing.TB, ctx context.Context, x string) []string {
	tb.Helper()
	var all, got []string
	run(tb, ctx, "read the messages", chromedp.Evaluate(
		`Array.from(document.querySelectorAll('[data-testid="messages"] li .text')).map(e => e.textContent)`, &all))
	for _, tx := range all {
		if strings.HasSuffix(tx, x) {
			got = append(got, tx)
		}
	}
	return got
}

// confirmedLines waits until a page shows text on a line the server has
// confirmed (it has an id; it waits for nothing), then returns on how many
// lines the page shows it.
func confirmedLines(tb testing.TB, ctx context.Context, text string) int {
	tb.Helper()
	lines := fmt.Sprintf(`Array.from(document.querySelectorAll('[data-testid="messages"] li')).filter(li => li.textContent.includes(%q))`, text)
	run(tb, ctx, "confirmed: "+text, chromedp.Poll(
		lines+`.some(li => li.dataset.id && li.dataset.state !== 'pending' && li.dataset.state !== 'queued')`,
		nil, chromedp.WithPollingInterval(50*time.Millisecond)))
	var n int
	run(tb, ctx, "count: "+text, chromedp.Evaluate(lines+`.length`, &n))
	return n
}

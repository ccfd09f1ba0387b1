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

	"github.com/natter/natter/kit/jwttest"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// signIn opens the page at url with a sign-in link (the token in the
// fragment) and joins the lobby as the token's user.
func signIn(tb testing.TB, ctx context.Context, url, token string) {
	tb.Helper()
	run(tb, ctx, "sign in",
		chromedp.Navigate(url+"/#token="+token),
		chromedp.WaitVisible(sel("join-button")),
		chromedp.Click(sel("join-button")),
		chromedp.WaitEnabled(sel("send-button")),
	)
}

// startsOver runs actions that make the page start over (a reload), and
// waits for the new page to be up.
func startsOver(tb testing.TB, ctx context.Context, what string, actions ...chromedp.Action) {
	tb.Helper()
	run(tb, ctx, what+": the page before", chromedp.Evaluate(`window.natterStale = true`, nil))
	run(tb, ctx, what, actions...)
	// Asked again while the old page's context goes (an error, then).
	deadline := time.Now().Add(20 * time.Second)
	for {
		var fresh bool
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := chromedp.Run(actx, chromedp.Evaluate(`!window.natterStale && document.readyState === 'complete' && !!window.natter`, &fresh))
		cancel()
		if err == nil && fresh {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: the page did not start over (%v)", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tokenKept checks that the page took token off the address bar and
// keeps it in the tab's sessionStorage only.
func tokenKept(tb testing.TB, ctx context.Context, token string) {
	tb.Helper()
	var where map[string]bool
	run(tb, ctx, "where the token is", chromedp.Evaluate(fmt.Sprintf(`({
		href: location.href.includes(%[1]q) || location.hash.includes('token'),
		history: JSON.stringify(history.state || null).includes(%[1]q),
		session: Object.values(sessionStorage).includes(%[1]q),
		local: Object.values(localStorage).some((v) => v.includes(%[1]q)),
	})`, token), &where))
	if where["href"] || where["history"] || where["local"] || !where["session"] {
		tb.Errorf("the token: %v; want it in sessionStorage only, not in the address, history or localStorage", where)
	}
}

// buttonsOn counts the edit and delete buttons on the line that shows text.
func buttonsOn(tb testing.TB, ctx context.Context, text string) map[string]int {
	tb.Helper()
	var n map[string]int
	run(tb, ctx, "the buttons on "+text, chromedp.Evaluate(fmt.Sprintf(`(() => { const li = %s; return {
		edit: li.querySelectorAll('[data-testid="edit-button"]').length,
		delete: li.querySelectorAll('[data-testid="delete-button"]').length }; })()`, messageLine(text)), &n))
	return n
}

// TestBrowserModeratorDeletes: on gateways that want tokens and let
// anonymous users in too, an anonymous user and a user signed in with a
// role-less token post; a moderator, whose Korean browser opens the page
// with a sign-in link, has Delete (not Edit) on both lines and deletes
// the anonymous user's after confirming; all three browsers show the
// tombstone "deleted by" live and after a reload, and the moderator's
// page rejoins as the moderator. The token never stays in the address
// bar. The user without the role has no Delete on others' lines, and a
// page that thinks it may (a role revoked) shows the server's refusal.
// Sign-in errors are shown in words: a token expiring while joined, an
// expired one, a forged one, none where one is needed; Sign out forgets
// the token.
func TestBrowserModeratorDeletes(t *testing.T) {
	var dialogs atomic.Int32
	secret := "a test secret of 32 bytes or more, for HS256"
	s := startSystemWith(t, presence.NewMemoryStore(0, nil), 2, presence.Config{}, history.Config{}, gateway.Config{
		Auth: gateway.AuthConfig{HS256Secret: gateway.Secret(secret), Anonymous: true, Leeway: time.Second},
	})
	x := fmt.Sprintf("%d", time.Now().UnixNano()%100000)
	anonName, userName, modName := "Anon"+x, "Uma"+x, "모더"+x
	token := func(sub, name, role string, exp time.Time, key string) string {
		c := jwttest.Claims{"sub": sub, "name": name, "exp": exp.Unix()}
		if role != "" {
			c["role"] = role
		}
		return jwttest.Sign(t, "HS256", "", []byte(key), c)
	}
	later := time.Now().Add(time.Hour)
	userToken := token("user-"+x, userName, "user", later, secret)
	modToken := token("mod-"+x, modName, "moderator", later, secret)

	anon, user, mod := tab(t, &dialogs), tab(t, &dialogs), tab(t, &dialogs)
	run(t, mod, "Korean browser", emulation.SetUserAgentOverride("Mozilla/5.0 natter-test").WithAcceptLanguage("ko-KR"))
	join(t, anon, s.gateways[0].URL, anonName)
	run(t, user, "open signed in", chromedp.Navigate(s.gateways[1].URL+"/#token="+userToken), chromedp.WaitVisible(sel("join-button")))
	var form map[string]any
	run(t, user, "the join form", chromedp.Evaluate(`({
		name: document.querySelector('[data-testid="name-input"]').value,
		readOnly: document.querySelector('[data-testid="name-input"]').readOnly,
		signOut: !document.querySelector('[data-testid="auth-signout-button"]').hidden,
	})`, &form))
	if form["name"] != userName || form["readOnly"] != true || form["signOut"] != true {
		t.Errorf("a signed-in join form: %v; want the token's name, read-only, and Sign out", form)
	}
	tokenKept(t, user, userToken)
	run(t, user, "join", chromedp.Click(sel("join-button")), chromedp.WaitEnabled(sel("send-button")))
	var changeName string
	run(t, user, "Change name", chromedp.Evaluate(`getComputedStyle(document.querySelector('[data-testid="signout-button"]')).display`, &changeName))
	if changeName != "none" {
		t.Errorf("a signed-in user is offered Change name (display %q)", changeName)
	}
	signIn(t, mod, s.gateways[0].URL, modToken)
	tokenKept(t, mod, modToken)

	anons, users := "anonymous words "+x, "signed-in words "+x
	say(t, anon, anons)
	say(t, user, users)
	for _, ctx := range []context.Context{anon, user, mod} {
		waitText(t, ctx, anons)
		waitText(t, ctx, users)
	}
	poll(t, anon, "the anonymous line confirmed", messageLine(anons)+`?.dataset.state === 'sent'`)

	if n := buttonsOn(t, user, anons); n["edit"]+n["delete"] != 0 {
		t.Errorf("a user without the role has %v on another's line; want none", n)
	}
	if n := buttonsOn(t, user, users); n["edit"] != 1 || n["delete"] != 1 {
		t.Errorf("a signed-in user has %v on their own line; want Edit and Delete", n)
	}
	for _, text := range []string{anons, users} {
		if n := buttonsOn(t, mod, text); n["edit"] != 0 || n["delete"] != 1 {
			t.Errorf("the moderator has %v on another's line; want Delete only", n)
		}
	}

	// The moderator deletes the anonymous user's line, asked first.
	del := messageLine(anons) + `.querySelector('[data-testid="delete-button"]')`
	var asks string
	run(t, mod, "delete, once", chromedp.Evaluate(del+`.click(); `+del+`.textContent`, &asks))
	if want := anonName + "님의 메시지를 삭제할까요?"; asks != want {
		t.Errorf("the delete button pressed once says %q, want %q", asks, want)
	}
	var id string
	run(t, anon, "the line's id", chromedp.Evaluate(messageLine(anons)+`.dataset.id`, &id))
	run(t, mod, "delete, confirmed", chromedp.Evaluate(del+`.click(); true`, nil))

	pages := []struct {
		name      string
		ctx       context.Context
		tombstone string
	}{
		{"the anonymous user's", anon, "Deleted by " + modName + "."},
		{"the signed-in user's", user, "Deleted by " + modName + "."},
		{"the moderator's", mod, modName + "님이 삭제한 메시지입니다."},
	}
	shows := func(ctx context.Context, name, when, tombstone string) {
		t.Helper()
		poll(t, ctx, name+" page shows the tombstone "+when, fmt.Sprintf(`(() => {
			const li = document.querySelector('li.msg[data-id=%q]');
			return !!li && li.classList.contains('deleted') && li.textContent.includes(%q); })()`, id, tombstone))
		var text string
		run(t, ctx, "the page's text", chromedp.Text(sel("messages"), &text))
		if strings.Contains(text, anons) || !strings.Contains(text, users) {
			t.Errorf("%s page %s: %q; want the deleted text gone, the other there", name, when, text)
		}
	}
	for _, p := range pages {
		shows(p.ctx, p.name, "live", p.tombstone)
	}
	artifact(t, mod, "page-moderator-delete-ko.png")
	for _, p := range pages {
		run(t, p.ctx, "reload", chromedp.Reload(), chromedp.WaitEnabled(sel("send-button")))
		waitText(t, p.ctx, users)
		shows(p.ctx, p.name, "after a reload", p.tombstone)
	}
	tokenKept(t, mod, modToken)
	if n := buttonsOn(t, mod, users); n["delete"] != 1 {
		t.Errorf("after a reload the moderator has %v on another's line; want Delete", n)
	}
	artifact(t, anon, "page-moderator-delete-seen.png")
	run(t, mod, "390 px, touch", emulation.SetDeviceMetricsOverride(390, 844, 2, true), emulation.SetTouchEmulationEnabled(true))
	artifact(t, mod, "page-moderator-delete-390.png")

	// A page that thinks it may delete another's message (its role was
	// revoked) says so when the server refuses.
	more := "late words " + x
	run(t, user, "a page that thinks it moderates", chromedp.Evaluate(`window.natter.state.moderator = true`, nil))
	say(t, anon, more)
	waitText(t, user, more)
	del = messageLine(more) + `.querySelector('[data-testid="delete-button"]')`
	run(t, user, "delete another's", chromedp.Evaluate(del+`.click(); `+del+`.click(); true`, nil))
	poll(t, user, "the refusal", messageLine(more)+`?.querySelector('[data-testid="action-error"]')?.dataset.code === 'forbidden'`)
	var refusal string
	run(t, user, "the refusal's words", chromedp.Text(messageLine(more)+`.querySelector('[data-testid="action-error"]')`, &refusal, chromedp.ByJSPath))
	if refusal != "You may not delete that message." {
		t.Errorf("the refusal says %q", refusal)
	}

	// A token that expires while joined: the page rejoins with it (only
	// the fragment changed: the page starts over), then says it expired.
	soon := token("user-"+x, userName, "user", time.Now().Add(5*time.Second), secret)
	startsOver(t, user, "a sign-in link that expires soon", chromedp.Navigate(s.gateways[1].URL+"/#token="+soon))
	run(t, user, "rejoined", chromedp.WaitEnabled(sel("send-button")))
	tokenKept(t, user, soon)
	poll(t, user, "the expiry said", fmt.Sprintf(`document.querySelector(%q).textContent.includes('Your sign-in has expired')`, sel("messages")))
	artifact(t, user, "page-token-expired-live.png")

	// At CONNECT: an expired token, then a forged one, each said in
	// words in the join form, with Sign out.
	for _, tc := range []struct{ name, token, code, words string }{
		{"expired", token("user-"+x, userName, "user", time.Now().Add(-time.Hour), secret), "token_expired", "Your sign-in has expired"},
		{"forged", token("user-"+x, userName, "moderator", later, secret+" but another"), "token_signature", "not valid for this chat (token_signature)"},
	} {
		startsOver(t, user, "an "+tc.name+" token", chromedp.Navigate(s.gateways[1].URL+"/#token="+tc.token))
		poll(t, user, "the "+tc.name+" token's error", fmt.Sprintf(`(() => { const e = document.querySelector(%q);
			return !e.hidden && e.dataset.code === %q && e.textContent.includes(%q); })()`, sel("join-error"), tc.code, tc.words))
		tokenKept(t, user, tc.token)
		artifact(t, user, "page-token-"+tc.name+".png")
		startsOver(t, user, "sign out", chromedp.Click(sel("auth-signout-button")))
		var after map[string]any
		run(t, user, "signed out", chromedp.Evaluate(`({
			readOnly: document.querySelector('[data-testid="name-input"]').readOnly,
			signOut: !document.querySelector('[data-testid="auth-signout-button"]').hidden,
			kept: Object.entries(sessionStorage).filter(([k, v]) => k.startsWith('natter.auth') && v).length,
		})`, &after))
		if after["readOnly"] != false || after["signOut"] != false || after["kept"] != float64(0) {
			t.Errorf("after Sign out: %v; want an anonymous form and no token kept", after)
		}
	}

	// A gateway that lets nobody in without a token: the Korean page
	// without one says it needs a sign-in link, and offers no Sign out.
	closed := startSystemWith(t, presence.NewMemoryStore(0, nil), 1, presence.Config{}, history.Config{}, gateway.Config{
		Auth: gateway.AuthConfig{HS256Secret: gateway.Secret(secret)},
	})
	run(t, mod, "a gateway that wants a token", chromedp.Navigate(closed.gateways[0].URL))
	poll(t, mod, "the missing token said", fmt.Sprintf(`(() => { const e = document.querySelector(%q);
		return !e.hidden && e.dataset.code === 'token_missing' && e.textContent.includes('로그인 링크로 열어 주세요'); })()`, sel("join-error")))
	var signOut bool
	run(t, mod, "no Sign out", chromedp.Evaluate(`!document.querySelector('[data-testid="auth-signout-button"]').hidden`, &signOut))
	if signOut {
		t.Error("a page without a token offers Sign out")
	}
	artifact(t, mod, "page-token-missing-ko.png")
	if dialogs.Load() != 0 {
		t.Errorf("%d dialogs opened", dialogs.Load())
	}
}

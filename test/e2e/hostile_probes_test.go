package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/proto"
)

// The probes of TestHostileSuite, in the order they run. Each opens its
// own connections (closed by its cleanups) from its own client address.
var hostileProbes = []hostileProbe{
	{"engine.io malformed, WebSocket", "bad packet types, an empty frame, a stray binary frame, bogus EIO, transport and sid", probeEIOWebSocket},
	{"engine.io malformed, polling", "bogus EIO, transport, sid and method; bad types, bad base64, truncated and empty payloads", probeEIOPolling},
	{"socket.io malformed", "unknown namespaces, bad JSON, non-array events, huge ack ids and attachment counts, placeholders out of range and nested", probeSIOMalformed},
	{"oversized", "a 1,000,001-byte WebSocket frame and POST body, a frame header announcing 2^40 bytes, a 10,000-character name, a 2,001-character message", probeOversized},
	{"attachment abuse", "binary events whose attachments never come (10 WebSockets, 10 polling sessions)", probeAttachments},
	{"invalid UTF-8", "\\xff in every string field of every event", probeInvalidUTF8},
	{"floods, one connection", "each acked event 40-100 times at once, 500 typing frames", probeFloodOne},
	{"floods, one address", "each acked event 15 times from 10 connections of one address", probeFloodAddr},
	{"half-open", "20 WebSockets silent after the handshake, 20 polling sessions never polled", probeHalfOpen},
	{"slowloris", "20 requests trickling their headers, 20 POSTs trickling bodies, 20 unfinished WebSocket frames", probeSlowloris},
	{"cross-site origins", "polling and WebSocket with Origin evil.example, and Host evil.example (DNS rebinding)", probeOrigins},
	{"whisper privacy", "a third user on both gateways asks members, history of every room, whispers with every parameter, rooms, joins odd rooms", probeWhisperPrivacy},
	{"impostor names", "look-alikes of the canaries' names", probeImpostors},
	{"token replay", "guessed tokens, a token with another name, an expired token", probeTokens},
	{"pid replay", "a guessed pid, a live connection's pid, a pid whose user left", probePIDs},
	{"a gateway shut down", "a third gateway with 10 users chatting, drained and shut down; its users back on the other two with their tokens", probeGatewayDown},
}

// rawWS opens a WebSocket on base (query appended) and, if connect, the
// Socket.IO namespace "/".
func rawWS(t *testing.T, base, query string, connect bool) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(base, query), http.Header{"X-Real-IP": {"198.18.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	if connect {
		if open := wsRead(t, ws); !strings.HasPrefix(open, "0{") {
			t.Fatalf("open: %q", open)
		}
		ws.WriteMessage(websocket.TextMessage, []byte("40"))
		wsUntil(t, ws, "40{", "")
	}
	return ws
}

// untilClosed reads (answering pings) until the server closes ws or d
// passes; it returns the frames read and whether it closed.
func untilClosed(ws *websocket.Conn, d time.Duration) (frames []string, closed bool, after time.Duration) {
	return untilAck(ws, "", d)
}

// untilAck reads (answering pings) until a frame starts with prefix (none
// does when it is ""), the server closes ws, or d passes.
func untilAck(ws *websocket.Conn, prefix string, d time.Duration) (frames []string, closed bool, after time.Duration) {
	start := time.Now()
	ws.SetReadDeadline(start.Add(d))
	defer ws.SetReadDeadline(time.Time{})
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			ne, ok := err.(net.Error)
			return frames, !(ok && ne.Timeout()), time.Since(start)
		}
		if string(b) == "2" {
			ws.WriteMessage(websocket.TextMessage, []byte("3"))
			continue
		}
		frames = append(frames, string(b))
		if prefix != "" && strings.HasPrefix(string(b), prefix) {
			return frames, false, time.Since(start)
		}
	}
}

// httpDo sends a request and returns its status and body.
func httpDo(t *testing.T, method, url, body string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := hostileHTTP.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eioRefusal is the reference server's refusal body of code n.
func eioRefusal(n int) string {
	return fmt.Sprintf(`{"code":%d,"message":"%s"}`, n, []string{"Transport unknown", "Session ID unknown",
		"Bad handshake method", "Bad request", "Forbidden", "Unsupported protocol version"}[n])
}

// pollSession opens a polling session and CONNECTs "/"; it returns the
// session's URL.
func pollSession(t *testing.T, base string) string {
	t.Helper()
	status, body := httpDo(t, "GET", base+"/socket.io/?EIO=4&transport=polling", "", nil)
	_, rest, _ := strings.Cut(body, `"sid":"`)
	sid, _, _ := strings.Cut(rest, `"`)
	if status != 200 || sid == "" {
		t.Fatalf("handshake: %d %s", status, body)
	}
	u := base + "/socket.io/?EIO=4&transport=polling&sid=" + sid
	if st, b := httpDo(t, "POST", u, "40", nil); st != 200 {
		t.Fatalf("CONNECT: %d %s", st, b)
	}
	if st, b := httpDo(t, "GET", u, "", nil); st != 200 || !strings.HasPrefix(b, "40{") {
		t.Fatalf("CONNECT answered %d %q", st, b)
	}
	return u
}

// pollGone waits until session u is closed: a GET answers Session ID
// unknown (or the close packet first).
func pollGone(t *testing.T, u string, d time.Duration) (bool, time.Duration) {
	start := time.Now()
	for time.Since(start) < d {
		st, b := httpDo(t, "GET", u, "", nil)
		if st == 400 && strings.Contains(b, "Session ID unknown") {
			return true, time.Since(start)
		}
		if st == 200 && strings.HasSuffix(b, "1") {
			return true, time.Since(start)
		}
		for _, p := range strings.Split(b, "\x1e") {
			if p == "2" {
				httpDo(t, "POST", u, "3", nil)
			}
		}
	}
	return false, time.Since(start)
}

func probeEIOWebSocket(t *testing.T, s *hostileStack, c *hcanary) string {
	base := s.urls[0]
	var answers []string
	for _, f := range []struct {
		name   string
		binary bool
		data   string
	}{
		{"type 9", false, "9hello"},
		{"type x", false, "x"},
		{"empty frame", false, ""},
		{"a message with no packet", false, "4"},
		{"a stray binary frame", true, "\x00\x01\x02"},
	} {
		ws := rawWS(t, base, "", true)
		kind := websocket.TextMessage
		if f.binary {
			kind = websocket.BinaryMessage
		}
		ws.WriteMessage(kind, []byte(f.data))
		frames, closed, after := untilClosed(ws, 5*time.Second)
		if !closed {
			t.Errorf("%s: still open after %v (got %q)", f.name, after, frames)
		}
		answers = append(answers, fmt.Sprintf("%s: closed %v", f.name, closed))
	}
	for _, q := range []struct {
		query string
		code  int
	}{
		{"?EIO=3&transport=websocket", 5},
		{"?EIO=abc&transport=websocket", 5},
		{"?EIO=4&transport=bogus", 0},
		{"?EIO=4&transport=websocket&sid=nope", 1},
	} {
		u := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/" + q.query
		ws, resp, err := websocket.DefaultDialer.Dial(u, nil)
		if err == nil {
			ws.Close()
			t.Errorf("%s: upgraded", q.query)
			continue
		}
		var body string
		status := 0
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			body, status = string(b), resp.StatusCode
		}
		if status != 400 || body != eioRefusal(q.code) {
			t.Errorf("%s: %d %q, want 400 %s", q.query, status, body, eioRefusal(q.code))
		}
	}
	answers = append(answers, "bogus EIO/transport/sid: 400 with codes 5, 0, 1")
	return strings.Join(answers, "; ")
}

func probeEIOPolling(t *testing.T, s *hostileStack, c *hcanary) string {
	base := s.urls[1]
	for _, q := range []struct {
		method, query string
		code          int
	}{
		{"GET", "?EIO=3&transport=polling", 5},
		{"GET", "?EIO=5&transport=polling", 5},
		{"GET", "?EIO=4&transport=flash", 0},
		{"GET", "?EIO=4&transport=polling&sid=nope", 1},
		{"POST", "?EIO=4&transport=polling&sid=nope", 1},
		{"PUT", "?EIO=4&transport=polling", 2},
	} {
		st, b := httpDo(t, q.method, base+"/socket.io/"+q.query, "", nil)
		if st != 400 || b != eioRefusal(q.code) {
			t.Errorf("%s %s: %d %q, want 400 %s", q.method, q.query, st, b, eioRefusal(q.code))
		}
	}
	var answers []string
	for _, p := range []struct {
		name, body, ctype string
	}{
		{"type 9", "9hello", ""},
		{"bad base64", "bAAA!!!", ""},
		{"an empty packet", "40\x1e", ""},
		{"a binary body", "4abc", "application/octet-stream"},
	} {
		u := pollSession(t, base)
		h := http.Header{}
		if p.ctype != "" {
			h.Set("Content-Type", p.ctype)
		}
		st, b := httpDo(t, "POST", u, p.body, h)
		if st != 400 || b != eioRefusal(3) {
			t.Errorf("%s: %d %q, want 400 %s", p.name, st, b, eioRefusal(3))
		}
		if gone, _ := pollGone(t, u, 5*time.Second); !gone {
			t.Errorf("%s: the session lives on", p.name)
		}
		answers = append(answers, fmt.Sprintf("%s: %d", p.name, st))
	}
	return "bogus EIO 5, transport 0, sid 1, method 2: 400; " + strings.Join(answers, ", ") + " (code 3), session closed"
}

func probeSIOMalformed(t *testing.T, s *hostileStack, c *hcanary) string {
	base := s.urls[0]
	var answers []string
	for _, f := range []struct {
		name   string
		frames []string
		binary int // binary frames after the text one
		// open: the connection stays (and answers "want" first); else it closes.
		open bool
		want string
	}{
		{"CONNECT to an unknown namespace", []string{"40/nope,"}, 0, true, "44/nope,"},
		{"an event on a namespace not joined", []string{`42/nope,0["rooms",{}]`}, 0, true, "43777["},
		{"bad JSON", []string{`42["rooms"`}, 0, false, ""},
		{"an object for an event", []string{`42{"a":1}`}, 0, false, ""},
		{"an empty array", []string{`42[]`}, 0, false, ""},
		{"a number for a name", []string{`420[1,{}]`}, 0, true, "43777["}, // no such event: no answer
		{"a huge ack id", []string{`4299999999999999999999["rooms",{}]`}, 0, false, ""},
		{"a huge attachment count", []string{`451000000000-["rooms",{}]`}, 0, false, ""},
		{"a placeholder out of range", []string{`451-0["client message",{"_placeholder":true,"num":5}]`}, 1, true, "430["},
		{"a nested placeholder", []string{`451-0["client message",{"message":{"_placeholder":true,"num":0}}]`}, 1, true, "430["},
		{"attachments to an event without placeholders", []string{`452-0["rooms",{}]`}, 2, true, "430["},
		{"packet type 9", []string{`49`}, 0, false, ""},
	} {
		ws := rawWS(t, base, "", true)
		for _, fr := range f.frames {
			ws.WriteMessage(websocket.TextMessage, []byte(fr))
		}
		for range f.binary {
			ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
		}
		if f.open {
			// Still usable: a rooms request after it is answered.
			ws.WriteMessage(websocket.TextMessage, []byte(`42777["rooms",{}]`))
			frames, closed, _ := untilAck(ws, "43777[", 5*time.Second)
			if closed || len(frames) == 0 || !strings.HasPrefix(frames[0], f.want) {
				t.Errorf("%s: answered %q (closed %v), want %s… then the rooms ack", f.name, frames, closed, f.want)
			}
			first := ""
			if len(frames) > 0 {
				first = frames[0]
			}
			answers = append(answers, fmt.Sprintf("%s: %.50s", f.name, first))
			continue
		}
		frames, closed, after := untilClosed(ws, 5*time.Second)
		if !closed {
			t.Errorf("%s: still open after %v (got %q)", f.name, after, frames)
		}
		answers = append(answers, f.name+": closed")
	}
	// Over polling: a packet that does not parse closes the session.
	for _, body := range []string{`42["rooms"`, `42{"a":1}`, `451000000000-["rooms",{}]`, `49`} {
		u := pollSession(t, s.urls[1])
		st, b := httpDo(t, "POST", u, body, nil)
		gone, _ := pollGone(t, u, 5*time.Second)
		if !gone {
			t.Errorf("polling %q: answered %d %q, and the session lives on", body, st, b)
		}
	}
	answers = append(answers, "the same over polling: session closed")
	return strings.Join(answers, "; ")
}

func probeOversized(t *testing.T, s *hostileStack, c *hcanary) string {
	base := s.urls[0]
	ws := rawWS(t, base, "", true)
	ws.WriteMessage(websocket.TextMessage, append([]byte(`42["client message",{"message":"`), make([]byte, 1_000_001)...))
	if frames, closed, _ := untilClosed(ws, 5*time.Second); !closed {
		t.Errorf("1,000,001-byte frame: still open (%q)", frames)
	}
	// A frame header announcing 2^40 bytes.
	ws = rawWS(t, base, "", true)
	ws.UnderlyingConn().Write([]byte{0x81, 0x80 | 127, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4})
	if frames, closed, _ := untilClosed(ws, 5*time.Second); !closed {
		t.Errorf("2^40-byte frame header: still open (%q)", frames)
	}
	u := pollSession(t, base)
	st, _ := httpDo(t, "POST", u, "4"+strings.Repeat("x", 1_000_001), nil)
	if st != 413 {
		t.Errorf("1,000,001-byte POST: %d, want 413", st)
	}
	cl := dialH(t, base, "198.18.0.2", "")
	if a := cl.call("join", map[string]string{"username": strings.Repeat("a", 10_000)}); a.code() != proto.CodeInvalidName {
		t.Errorf("10,000-character name: %s", a.raw)
	}
	cl.join("big talker", "", "oversized")
	if a := cl.call("client message", map[string]string{"message": strings.Repeat("é", 2001)}); a.code() != proto.CodeMessageTooLong {
		t.Errorf("2,001-character message: %s", a.raw)
	}
	return "frame: closed; 2^40 header: closed; POST: 413; name: invalid_name; message: message_too_long"
}

func probeAttachments(t *testing.T, s *hostileStack, c *hcanary) string {
	base := s.urls[1]
	var conns []*websocket.Conn
	for range 10 {
		ws := rawWS(t, base, "", true)
		ws.WriteMessage(websocket.TextMessage, []byte(`452-["client message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`))
		ws.WriteMessage(websocket.BinaryMessage, []byte{1})
		conns = append(conns, ws)
	}
	var polls []string
	for range 10 {
		u := pollSession(t, base)
		if st, b := httpDo(t, "POST", u, `451-["client message",{"_placeholder":true,"num":0}]`, nil); st != 200 {
			t.Fatalf("POST: %d %s", st, b)
		}
		polls = append(polls, u)
	}
	// They answer pings (untilClosed, pollGone): only the attachment
	// timeout (1 s here) closes them.
	var slowest time.Duration
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, ws := range conns {
		wg.Go(func() {
			_, closed, after := untilClosed(ws, s.cfg.AttachmentTimeout+10*time.Second)
			if !closed {
				t.Errorf("WebSocket %d: open after %v", i, after)
			}
			mu.Lock()
			slowest = max(slowest, after)
			mu.Unlock()
		})
	}
	for i, u := range polls {
		wg.Go(func() {
			gone, after := pollGone(t, u, s.cfg.AttachmentTimeout+10*time.Second)
			if !gone {
				t.Errorf("polling %d: open after %v", i, after)
			}
			mu.Lock()
			slowest = max(slowest, after)
			mu.Unlock()
		})
	}
	wg.Wait()
	return fmt.Sprintf("all 20 closed, the last after %v (attachment timeout %v)", slowest.Round(10*time.Millisecond), s.cfg.AttachmentTimeout)
}

func probeInvalidUTF8(t *testing.T, s *hostileStack, c *hcanary) string {
	cl := dialH(t, s.urls[0], "198.18.0.3", "")
	other := dialH(t, s.urls[1], "198.18.0.4", "")
	other.join("utf listener", "", "utf8")
	const bad = "\"a\xffb\""
	// Before the join: the join's fields.
	codes := map[string]int{}
	for _, field := range []string{"username", "room", "token", "since"} {
		fields := map[string]string{"username": `"utf prober"`, "room": `"utf8"`}
		fields[field] = bad
		a := cl.wait(cl.emitRaw("join", rawObject(fields)))
		if a.code() != proto.CodeBadRequest && a.code() != proto.CodeInvalidName && a.code() != proto.CodeInvalidRoom {
			t.Errorf("join with %s invalid: %s", field, a.raw)
		}
		codes["join."+field+"="+a.code()]++
	}
	cl.join("utf prober", "", "utf8")
	for _, ev := range []struct {
		event  string
		fields map[string]string
		want   string
	}{
		{"client message", map[string]string{"message": `"hi"`, "clientId": `"x"`}, proto.CodeInvalidMessage},
		{"whisper", map[string]string{"to": `"utf listener"`, "message": `"hi"`, "clientId": `"y"`}, proto.CodeInvalidMessage},
		{"members", map[string]string{"room": `"utf8"`, "after": `"a"`}, proto.CodeBadRequest},
		{"history", map[string]string{"room": `"utf8"`, "before": `"a"`}, proto.CodeBadRequest},
		{"whispers", map[string]string{"with": `"a"`, "before": `"a"`}, proto.CodeBadRequest},
		{"rooms", map[string]string{"x": `"a"`}, "ok"}, // rooms reads no payload
	} {
		for field := range ev.fields {
			f := map[string]string{}
			for k, v := range ev.fields {
				f[k] = v
			}
			f[field] = bad
			a := cl.wait(cl.emitRaw(ev.event, rawObject(f)))
			if a.code() != ev.want {
				t.Errorf("%s with %s invalid: %s, want %s", ev.event, field, a.raw, ev.want)
			}
			codes[ev.event+"."+field+"="+a.code()]++
		}
	}
	// typing has no answer: it must not reach the room.
	cl.write("42[\"typing\",{\"on\":true,\"x\":" + bad + "}]")
	if a := cl.call("members", map[string]string{}); !a.OK {
		t.Errorf("members after the typing: %s", a.raw)
	}
	for _, e := range other.eventsOf() {
		if e.name == "typing" || e.name == "server message" || e.name == "whisper" {
			t.Errorf("the listener heard %s %v", e.name, rawArgs(e))
		}
	}
	for _, fr := range append(cl.framesOf(), other.framesOf()...) {
		if strings.Contains(fr, "\ufffd") {
			t.Errorf("a frame carries U+FFFD: %q", fr)
		}
	}
	return fmt.Sprintf("%d fields: join bad_request/invalid_*, messages and whispers invalid_message, queries bad_request; typing dropped; no U+FFFD anywhere", len(codes))
}

// rawObject writes a JSON object of raw values, in a fixed order.
func rawObject(fields map[string]string) string {
	var parts []string
	for _, k := range []string{"username", "room", "token", "since", "to", "message", "clientId", "after", "before", "with", "limit", "x"} {
		if v, ok := fields[k]; ok {
			parts = append(parts, fmt.Sprintf("%q:%s", k, v))
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// floodEvents are the acked events a flood sends, with a payload.
var floodEvents = []struct {
	event   string
	payload func(cl *hclient, sink string, i int) any
}{
	{"client message", func(_ *hclient, _ string, i int) any { return map[string]string{"message": fmt.Sprint("flood ", i)} }},
	{"whisper", func(_ *hclient, sink string, i int) any {
		return map[string]string{"to": sink, "message": fmt.Sprint("flood ", i)}
	}},
	{"join", func(cl *hclient, _ string, i int) any {
		return map[string]string{"username": cl.name, "token": cl.token, "room": []string{"flood-b", "flood"}[i%2]}
	}},
	{"members", func(*hclient, string, int) any { return map[string]any{"room": "flood"} }},
	{"history", func(*hclient, string, int) any { return map[string]any{"room": "flood", "limit": 1} }},
	{"whispers", func(*hclient, string, int) any { return map[string]any{"limit": 1} }},
	{"rooms", func(*hclient, string, int) any { return map[string]any{} }},
}

// flood sends n of each event at once from each connection and checks
// that every answer is ok or rate_limited; it returns the counts.
func flood(t *testing.T, conns []*hclient, sink string, n int) map[string][2]int {
	out := map[string][2]int{}
	for _, ev := range floodEvents {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, cl := range conns {
			wg.Go(func() {
				var chs []<-chan hack
				for i := range n {
					chs = append(chs, cl.emit(ev.event, ev.payload(cl, sink, i)))
				}
				for _, ch := range chs {
					a := cl.wait(ch)
					mu.Lock()
					k := out[ev.event]
					switch a.code() {
					case "ok":
						k[0]++
					case proto.CodeRateLimited:
						k[1]++
					default:
						t.Errorf("%s: %s", ev.event, a.raw)
					}
					out[ev.event] = k
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	return out
}

func floodSummary(counts map[string][2]int) string {
	var parts []string
	for _, ev := range floodEvents {
		k := counts[ev.event]
		parts = append(parts, fmt.Sprintf("%s %d ok/%d limited", ev.event, k[0], k[1]))
	}
	return strings.Join(parts, ", ")
}

func probeFloodOne(t *testing.T, s *hostileStack, c *hcanary) string {
	sink := dialH(t, s.urls[1], "198.18.1.1", "")
	sink.join("flood sink one", "", "flood")
	cl := dialH(t, s.urls[0], "198.18.1.2", "")
	cl.join("flooder", "", "flood")
	counts := flood(t, []*hclient{cl}, "flood sink one", 100)
	for _, ev := range floodEvents {
		// Whispers spend the budget of messages, which the message flood
		// before them has spent: none of them may get through.
		if k := counts[ev.event]; (k[0] == 0 && ev.event != "whisper") || k[1] == 0 {
			t.Errorf("%s: %d ok, %d rate_limited: want some of each", ev.event, k[0], k[1])
		}
	}
	for i := range 500 {
		cl.send("typing", map[string]bool{"on": i%2 == 0})
	}
	if a := cl.call("members", map[string]string{"room": "flood"}); a.code() != "ok" && a.code() != proto.CodeRateLimited {
		t.Errorf("members after the typing flood: %s", a.raw)
	}
	return floodSummary(counts) + "; 500 typing: dropped past the budget, connection usable"
}

func probeFloodAddr(t *testing.T, s *hostileStack, c *hcanary) string {
	sink := dialH(t, s.urls[1], "198.18.2.1", "")
	sink.join("flood sink two", "", "flood")
	var conns []*hclient
	for i := range 10 {
		cl := dialH(t, s.urls[i%2], "198.18.2.2", "")
		cl.join(fmt.Sprintf("addr flooder %d", i), "", "flood")
		conns = append(conns, cl)
	}
	counts := flood(t, conns, "flood sink two", 15)
	return floodSummary(counts)
}

func probeHalfOpen(t *testing.T, s *hostileStack, c *hcanary) string {
	var conns []*websocket.Conn
	for i := range 20 {
		ws, _, err := websocket.DefaultDialer.Dial(wsURL(s.urls[i%2], ""), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		conns = append(conns, ws)
	}
	var polls []string
	for i := range 20 {
		u := s.urls[i%2] + "/socket.io/?EIO=4&transport=polling"
		st, b := httpDo(t, "GET", u, "", nil)
		_, rest, _ := strings.Cut(b, `"sid":"`)
		sid, _, _ := strings.Cut(rest, `"`)
		if st != 200 || sid == "" {
			t.Fatalf("handshake: %d %s", st, b)
		}
		polls = append(polls, u+"&sid="+sid)
	}
	bound := s.cfg.PingInterval + s.cfg.PingTimeout
	results := waitClosed(conns, bound+10*time.Second)
	var slowest time.Duration
	for i, r := range results {
		if r.status != "closed" {
			t.Errorf("WebSocket %d: %s after %v", i, r.status, r.after)
		}
		slowest = max(slowest, r.after)
	}
	// The polling sessions were never polled: by now their heartbeat
	// has closed them too.
	for i, u := range polls {
		if err := wait.Until(context.Background(), 10*time.Second, func() error {
			if st, b := httpDo(t, "GET", u, "", nil); st != 400 || b != eioRefusal(1) {
				return fmt.Errorf("polling %d: still answers %d %q", i, st, b)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	}
	return fmt.Sprintf("20 WebSockets closed, the last after %v (ping interval + timeout %v); 20 polling sessions: Session ID unknown", slowest.Round(10*time.Millisecond), bound)
}

func probeSlowloris(t *testing.T, s *hostileStack, c *hcanary) string {
	host := hostOf(s.urls[0])
	give := 10 * time.Second
	var mu sync.Mutex
	var wg sync.WaitGroup
	var headers, bodies []trickled
	for range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			r := trickle(host, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: "+host+"\r\nX-Slow: ", give)
			mu.Lock()
			headers = append(headers, r)
			mu.Unlock()
		}()
		go func() {
			defer wg.Done()
			status, b := httpDo(t, "GET", s.urls[0]+"/socket.io/?EIO=4&transport=polling", "", nil)
			_, rest, _ := strings.Cut(b, `"sid":"`)
			sid, _, _ := strings.Cut(rest, `"`)
			r := trickled{status: fmt.Sprint("handshake ", status)}
			if sid != "" {
				r = trickle(host, fmt.Sprintf("POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n"+
					"Host: %s\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 100\r\n\r\n", sid, host), give)
			}
			mu.Lock()
			bodies = append(bodies, r)
			mu.Unlock()
		}()
	}
	var frames []*websocket.Conn
	for range 20 {
		ws := rawWS(t, s.urls[1], "", true)
		frame := []byte{0x81, 0x80 | 126, 1000 >> 8, 1000 & 0xff, 1, 2, 3, 4}
		ws.UnderlyingConn().Write(append(frame, "4xxxxxxxxx"...))
		frames = append(frames, ws)
	}
	wsResults := waitClosed(frames, s.cfg.PingInterval+s.cfg.PingTimeout+10*time.Second)
	wg.Wait()
	worst := func(rs []trickled, ok func(trickled) bool, what string) time.Duration {
		var w time.Duration
		for i, r := range rs {
			if !ok(r) {
				t.Errorf("%s %d: %q after %v", what, i, r.status, r.after)
			}
			w = max(w, r.after)
		}
		return w.Round(10 * time.Millisecond)
	}
	h := worst(headers, func(r trickled) bool { return r.status != "open" }, "slow headers")
	b := worst(bodies, func(r trickled) bool { return code(r.status) == "408" }, "slow body")
	f := worst(wsResults, func(r trickled) bool { return r.status == "closed" }, "unfinished frame")
	return fmt.Sprintf("headers: closed, the last after %v (header timeout %v); bodies: 408, the last after %v (body timeout %v); frames: closed, the last after %v",
		h, s.cfg.HeaderTimeout, b, s.cfg.BodyTimeout, f)
}

func probeOrigins(t *testing.T, s *hostileStack, c *hcanary) string {
	base := s.urls[0]
	forbidden := eioRefusal(4)
	for _, h := range []http.Header{
		{"Origin": {"http://evil.example"}},
		{"Origin": {"http://evil.example"}, "Host": {"evil.example"}},
	} {
		req, _ := http.NewRequest("GET", base+"/socket.io/?EIO=4&transport=polling", nil)
		for k, v := range h {
			req.Header[k] = v
		}
		if v := h.Get("Host"); v != "" {
			req.Host = v
		}
		resp, err := hostileHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || string(b) != forbidden {
			t.Errorf("polling with %v: %d %q", h, resp.StatusCode, b)
		}
		ws, wresp, err := websocket.DefaultDialer.Dial(wsURL(base, ""), h)
		if err == nil {
			ws.Close()
			t.Errorf("WebSocket with %v: upgraded", h)
			continue
		}
		if wresp == nil || wresp.StatusCode != 403 {
			t.Errorf("WebSocket with %v: %v", h, err)
		}
	}
	// A session opened without an Origin, then posted to from a page.
	u := pollSession(t, base)
	st, b := httpDo(t, "POST", u, `42["rooms",{}]`, http.Header{"Origin": {"http://evil.example"}})
	if st != 403 || b != forbidden {
		t.Errorf("POST to a session with a cross-site Origin: %d %q", st, b)
	}
	return "polling, WebSocket, a POST to an open session: 403 " + forbidden
}

func probeWhisperPrivacy(t *testing.T, s *hostileStack, c *hcanary) string {
	bob := dialH(t, s.urls[1], "198.18.3.1", "")
	bob.join("bob", "", "private")
	carol := dialH(t, s.urls[0], "198.18.3.2", "")
	carol.join("carol", "", "private")
	eve := dialH(t, s.urls[0], "198.18.3.3", "")
	eve.join("eve", "", "private")
	eve2 := dialH(t, s.urls[1], "198.18.3.3", "")
	eve2.join("eve", eve.token, "private")

	var secrets, ids []string
	for i := range 3 {
		text := fmt.Sprintf("secret %d for carol", i)
		a := bob.call("whisper", map[string]string{"to": "carol", "message": text, "clientId": text})
		if !a.OK {
			t.Fatalf("whisper: %s", a.raw)
		}
		secrets, ids = append(secrets, text), append(ids, a.ID)
	}
	if !carol.until(10*time.Second, func() bool { return carol.count("whisper", "secret") == len(secrets) }) {
		t.Fatal("carol did not get bob's whispers")
	}
	c.mu.Lock()
	canaryWhispers := append([]string(nil), c.whispers...)
	c.mu.Unlock()
	secrets = append(secrets, canaryWhispers...)

	asked := 0
	ask := func(cl *hclient, event string, payload any) {
		asked++
		a := cl.call(event, payload)
		if a.code() != "ok" && a.code() != proto.CodeBadRequest && a.code() != proto.CodeInvalidRoom && a.code() != proto.CodeRateLimited {
			t.Errorf("%s %v: %s", event, payload, a.raw)
		}
	}
	for _, cl := range []*hclient{eve, eve2} {
		for _, with := range []string{"", "bob", "carol", canaryA, canaryB, "eve", "BOB", "c a r o l", "*"} {
			for _, before := range append([]string{""}, ids...) {
				p := map[string]any{}
				if with != "" {
					p["with"] = with
				}
				if before != "" {
					p["before"] = before
				}
				ask(cl, "whispers", p)
			}
		}
		for _, room := range []string{"", "private", canaryRoom, "lobby", "bob", "carol", "dm", "bob.carol", "natter.msg.dm", proto.NameKey("bob"), proto.NameKey("carol")} {
			ask(cl, "history", map[string]any{"room": room})
			ask(cl, "members", map[string]any{"room": room})
		}
		for _, id := range ids {
			for _, room := range []string{"", "private", canaryRoom} {
				ask(cl, "history", map[string]any{"room": room, "before": id})
			}
			ask(cl, "members", map[string]any{"after": id})
		}
		ask(cl, "rooms", map[string]any{})
	}
	for _, room := range []string{"dm", "bob", "carol", proto.NameKey("carol")} {
		a := eve.call("join", map[string]string{"username": "eve", "token": eve.token, "room": room})
		if !a.OK && a.code() != proto.CodeInvalidRoom && a.code() != proto.CodeRateLimited {
			t.Errorf("join %s: %s", room, a.raw)
		}
	}
	// A marker whisper to eve, after everything: once it has come, what
	// could come has.
	bob.call("whisper", map[string]string{"to": "eve", "message": "marker for eve"})
	for _, cl := range []*hclient{eve, eve2} {
		cl.until(10*time.Second, func() bool {
			for _, e := range cl.eventsOf() {
				if e.name == "whisper" && e.Message == "marker for eve" {
					return true
				}
			}
			return false
		})
		for _, fr := range cl.framesOf() {
			for _, secret := range secrets {
				if strings.Contains(fr, secret) {
					t.Errorf("eve received %q: %.200s", secret, fr)
				}
			}
		}
	}
	return fmt.Sprintf("%d requests of eve's (whispers with %d with/before pairs, history and members of 11 rooms, history before each whisper's id, rooms, 4 joins) on both gateways: none carried bob's %d whispers to carol or the canary's %d",
		asked, 9*(1+len(ids)), len(ids), len(canaryWhispers))
}

func probeImpostors(t *testing.T, s *hostileStack, c *hcanary) string {
	answers := map[string]int{}
	for i, v := range []string{
		"alice", "Alice", "ALICE", "ａｌｉｃｅ", "aIice", "aǀice", "aƖice", "aliᴄe", "alic\u0323e", "a\u0331lice",
		" alice ", "аlice", "alicҽ", "a\u0336lice", "ali\u200bce", "\u202ealice", "alice\u0000",
		"papa", "PAPA", "рара", "pаpa", "papa\ufe0f",
	} {
		// A connection each: a connection's join budget is 10 at once.
		cl := dialH(t, s.urls[i%2], "198.18.4.1", "")
		a := cl.call("join", map[string]string{"username": v, "room": "impostors"})
		if a.code() != proto.CodeNameTaken && a.code() != proto.CodeInvalidName {
			t.Errorf("join as %q: %s", v, a.raw)
		}
		answers[a.code()]++
		cl.close()
	}
	return fmt.Sprintf("22 names: %d name_taken, %d invalid_name", answers[proto.CodeNameTaken], answers[proto.CodeInvalidName])
}

func probeTokens(t *testing.T, s *hostileStack, c *hcanary) string {
	var answers []string
	try := func(what string, req map[string]string, want ...string) hack {
		cl := dialH(t, s.urls[0], "198.18.5.1", "")
		a := cl.call("join", req)
		defer cl.close()
		ok := false
		for _, w := range want {
			ok = ok || a.code() == w
		}
		if !ok {
			t.Errorf("%s: %s, want %v", what, a.raw, want)
		}
		if a.OK {
			var who struct{ Username string }
			json.Unmarshal([]byte(a.raw[1:len(a.raw)-1]), &who)
			answers = append(answers, fmt.Sprintf("%s: ok as %q", what, who.Username))
			return a
		}
		answers = append(answers, what+": "+a.code())
		return a
	}
	guess := strings.Repeat("A", 43)
	try("the canary's name with a guessed token", map[string]string{"username": canaryA, "token": guess}, proto.CodeNameTaken)
	try("a guessed token alone", map[string]string{"token": guess}, proto.CodeInvalidName)
	try("a malformed token", map[string]string{"username": "tok prober", "token": "x\"; DROP"}, "ok", proto.CodeInvalidName, proto.CodeBadRequest)
	// A token of a live session, under another name.
	owner := dialH(t, s.urls[1], "198.18.5.2", "")
	owner.join("token owner", "", "tokens")
	// A token resumes its session only under the session's name: with
	// another, a new session opens (presence.Store.Join).
	if a := try("a live token with another name", map[string]string{"username": "token thief", "token": owner.token}, "ok", proto.CodeInvalidName, proto.CodeNameTaken, proto.CodeBadRequest); a.OK && a.Token == owner.token {
		t.Error("a live token with another name resumed its session")
	}
	// The owner leaves, and its session expires (as it would a day after
	// its last join): the token opens nothing.
	old := owner.token
	owner.close()
	s.expireSession(t, old)
	try("an expired token alone", map[string]string{"token": old}, proto.CodeInvalidName)
	try("an expired token with its name", map[string]string{"username": "token owner", "token": old}, "ok")
	return strings.Join(answers, "; ")
}

func probePIDs(t *testing.T, s *hostileStack, c *hcanary) string {
	var answers []string
	guess := dialH(t, s.urls[0], "198.18.6.1", `{"pid":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","offset":"1"}`)
	if a := guess.call("client message", map[string]string{"message": "recovered?"}); a.code() != proto.CodeNotJoined {
		t.Errorf("a guessed pid: a message is answered %s, want not_joined", a.raw)
	}
	if guess.pid == "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" {
		t.Error("a guessed pid was kept")
	}
	answers = append(answers, "a guessed pid: a new pid, not joined")
	// A pid whose user left on purpose (a disconnect packet).
	watcher := dialH(t, s.urls[0], "198.18.6.6", "")
	watcher.join("pid watcher", "", "pids")
	v := dialH(t, s.urls[1], "198.18.6.2", "")
	v.join("pid victim", "", "pids")
	pid := v.pid
	v.write("41")
	// The gateway forgets the pid before it tells presence, whose leave
	// notice the watcher hears.
	if !watcher.until(10*time.Second, func() bool {
		for _, e := range watcher.eventsOf() {
			if e.name == "leave" && e.Username == "pid victim" {
				return true
			}
		}
		return false
	}) {
		t.Fatal("the watcher heard no leave")
	}
	v.close()
	replay := dialH(t, s.urls[0], "198.18.6.3", fmt.Sprintf(`{"pid":%q}`, pid))
	if a := replay.call("client message", map[string]string{"message": "recovered?"}); a.code() != proto.CodeNotJoined {
		t.Errorf("the pid of a user who left: a message is answered %s, want not_joined", a.raw)
	}
	answers = append(answers, "a left user's pid: a new pid, not joined")
	// A live connection's pid, which a client keeps secret like its token:
	// whoever holds it is that user (another tab of theirs).
	live := dialH(t, s.urls[1], "198.18.6.4", "")
	live.join("pid holder", "", "pids")
	second := dialH(t, s.urls[0], "198.18.6.5", fmt.Sprintf(`{"pid":%q}`, live.pid))
	a := second.call("members", map[string]string{})
	answers = append(answers, "a live connection's pid: "+strings.TrimSpace(fmt.Sprintf("recovered=%v members %s", second.pid == live.pid, a.code())))
	if live.closed() {
		t.Error("the pid's owner was disconnected")
	}
	return strings.Join(answers, "; ")
}

func probeGatewayDown(t *testing.T, s *hostileStack, c *hcanary) string {
	u, stop := s.startGateway(t, "hgw3")
	t.Cleanup(stop)
	watcher := dialH(t, s.urls[0], "198.18.7.100", "")
	watcher.join("fault watcher", "", "fault")
	var users []*hclient
	for i := range 10 {
		cl := dialH(t, u, fmt.Sprintf("198.18.7.%d", i+1), "")
		cl.join(fmt.Sprintf("fault user %d", i), "", "fault")
		if a := cl.call("client message", map[string]string{"message": fmt.Sprint("before ", i), "clientId": fmt.Sprint("b", i)}); !a.OK {
			t.Fatalf("message: %s", a.raw)
		}
		users = append(users, cl)
	}
	start := time.Now()
	stop()
	for i, cl := range users {
		if !cl.until(10*time.Second, cl.closed) {
			t.Errorf("user %d: still connected to the stopped gateway", i)
		}
	}
	closed := time.Since(start)
	for i, cl := range users {
		back := dialH(t, s.urls[i%2], fmt.Sprintf("198.18.7.%d", i+1), "")
		a := back.join(cl.name, cl.token, "fault")
		if a.Token != cl.token {
			t.Errorf("%s came back with another session", cl.name)
		}
		if a := back.call("client message", map[string]string{"message": fmt.Sprint("after ", i), "clientId": fmt.Sprint("a", i)}); !a.OK {
			t.Errorf("%s: message after: %s", cl.name, a.raw)
		}
	}
	recovered := time.Since(start)
	if !watcher.until(10*time.Second, func() bool { return watcher.count("server message", "after ") == len(users) }) {
		t.Error("the watcher did not hear every user back")
	}
	return fmt.Sprintf("its 10 connections closed within %v, all 10 users back (same sessions) and chatting within %v",
		closed.Round(10*time.Millisecond), recovered.Round(10*time.Millisecond))
}

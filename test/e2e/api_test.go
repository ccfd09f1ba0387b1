package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

const apiKey = "a test API key, 16 bytes or more"

// apiCall POSTs body to path on base with the header auth (none when
// empty), and returns the status and the decoded error code, if any.
func apiCall(tb testing.TB, method, url, auth, body string) (int, string, []byte) {
	tb.Helper()
	resp, b := authCall(tb, method, url, auth, body)
	var ack proto.ErrorAck
	json.Unmarshal(b, &ack)
	code := ""
	if ack.Error != nil {
		code = ack.Error.Code
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("%s %s: Content-Type %q", method, url, ct)
	}
	return resp.StatusCode, code, b
}

// authCall sends body to url with the Authorization header auth (none
// when empty), and returns the response and its body, read.
func authCall(tb testing.TB, method, url, auth, body string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestServerAPI: the server API over HTTP on two gateways, with real
// socket.io-client users on WebSocket and long-polling
// (test/client/api.test.mjs): a backend's message reaches both and
// history, a whisper only its user, a disconnect ends the user's
// connections on both gateways. Around it: every route refuses without
// the key (and with a wrong one), bad input is a 4xx with its code, the
// same operations answer over NATS, and a gateway without a key serves
// no API.
func TestServerAPI(t *testing.T) {
	// A grace period longer than the tests wait: a disconnected user who
	// leaves at once was not merely lost.
	// The API's budget per client is not under test here (TestAPIRateLimit):
	// the hundreds of requests below come from one address.
	s := startSystemWith(t, presence.NewMemoryStore(0, nil), 2, presence.Config{Grace: time.Minute}, history.Config{}, gateway.Config{
		APIKey:  gateway.Secret(apiKey),
		APIRate: gateway.Off,
	})
	base := s.gateways[0].URL

	t.Run("every route needs the key", func(t *testing.T) {
		paths := []string{"/api/", "/api/v1/", "/api/v1/nope", "/api/v2/publish"}
		for _, op := range proto.APIOps {
			paths = append(paths, proto.APIPath(op))
		}
		for _, path := range paths {
			for _, method := range []string{http.MethodPost, http.MethodGet} {
				for _, auth := range []string{"", "Bearer ", "Bearer wrong key of the same length!", "Bearer " + apiKey + "x",
					"Bearer " + apiKey[:len(apiKey)-1], "Basic " + apiKey, apiKey, "bearer " + apiKey} {
					status, code, body := apiCall(t, method, base+path, auth, `{"room":"r","message":"m","user":"u"}`)
					if status != http.StatusUnauthorized || code != proto.CodeUnauthorized {
						t.Errorf("%s %s with %q: %d %s", method, path, auth, status, body)
					}
				}
			}
		}
		// With the key, an unknown path is not found.
		for _, path := range []string{"/api/", "/api/v1/nope", "/api/v2/publish"} {
			if status, code, body := apiCall(t, http.MethodPost, base+path, "Bearer "+apiKey, `{}`); status != 404 || code != proto.CodeNotFound {
				t.Errorf("POST %s: %d %s", path, status, body)
			}
		}
	})

	t.Run("bad input is a 4xx with its code", func(t *testing.T) {
		const noSuchID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
		long := strings.Repeat("가", proto.MaxMessageRunes+1)
		for _, tc := range []struct {
			name, method, op, body string
			status                 int
			code                   string
		}{
			{"GET", http.MethodGet, proto.APIPublish, ``, 405, proto.CodeMethodNotAllowed},
			{"not JSON", http.MethodPost, proto.APIPublish, `{"room":`, 400, proto.CodeBadRequest},
			{"two objects", http.MethodPost, proto.APIPublish, `{"room":"r","message":"m"}{}`, 400, proto.CodeBadRequest},
			{"an array", http.MethodPost, proto.APIRooms, `[]`, 400, proto.CodeBadRequest},
			{"an unknown field", http.MethodPost, proto.APIPublish, `{"room":"r","message":"m","color":"#f00"}`, 400, proto.CodeBadRequest},
			{"not UTF-8", http.MethodPost, proto.APIPublish, "{\"room\":\"r\",\"message\":\"\xff\"}", 400, proto.CodeBadRequest},
			{"no room", http.MethodPost, proto.APIPublish, `{"message":"m"}`, 400, proto.CodeInvalidRoom},
			{"a bad room", http.MethodPost, proto.APIPublish, `{"room":"a.b*","message":"m"}`, 400, proto.CodeInvalidRoom},
			{"no message", http.MethodPost, proto.APIPublish, `{"room":"r"}`, 400, proto.CodeInvalidMessage},
			{"a blank message", http.MethodPost, proto.APIPublish, `{"room":"r","message":" \u200b "}`, 400, proto.CodeInvalidMessage},
			{"a long message", http.MethodPost, proto.APIPublish, `{"room":"r","message":"` + long + `"}`, 400, proto.CodeMessageTooLong},
			{"a bad bot name", http.MethodPost, proto.APIPublish, `{"room":"r","message":"m","from":"a\u202eb"}`, 400, proto.CodeInvalidName},
			{"a long clientId", http.MethodPost, proto.APIPublish, `{"room":"r","message":"m","clientId":"` + strings.Repeat("x", proto.MaxClientIDBytes+1) + `"}`, 400, proto.CodeBadRequest},
			{"a body too large", http.MethodPost, proto.APIPublish, `{"room":"r","message":"` + strings.Repeat("x", proto.MaxAPIBody) + `"}`, 413, proto.CodeTooLarge},
			{"a whisper to nobody", http.MethodPost, proto.APIWhisper, `{"to":"nobody here","message":"m"}`, 404, proto.CodeNoSuchUser},
			{"a whisper to a bad name", http.MethodPost, proto.APIWhisper, `{"to":"..","message":"m"}`, 404, proto.CodeNoSuchUser},
			{"a whisper without text", http.MethodPost, proto.APIWhisper, `{"to":"x"}`, 400, proto.CodeInvalidMessage},
			{"members without a room", http.MethodPost, proto.APIMembers, `{}`, 400, proto.CodeInvalidRoom},
			{"members past the page", http.MethodPost, proto.APIMembers, `{"room":"r","limit":1000}`, 400, proto.CodeBadRequest},
			{"history without a room", http.MethodPost, proto.APIHistory, `{}`, 400, proto.CodeInvalidRoom},
			{"history past the page", http.MethodPost, proto.APIHistory, `{"room":"r","limit":1000}`, 400, proto.CodeBadRequest},
			{"history before no id", http.MethodPost, proto.APIHistory, `{"room":"r","before":"x"}`, 400, proto.CodeBadRequest},
			{"a disconnect of nothing", http.MethodPost, proto.APIDisconnect, `{}`, 400, proto.CodeBadRequest},
			{"a disconnect of both", http.MethodPost, proto.APIDisconnect, `{"user":"u","gateway":"gw1","conn":"c"}`, 400, proto.CodeBadRequest},
			{"a disconnect of a bad gateway", http.MethodPost, proto.APIDisconnect, `{"gateway":"a.b","conn":"c"}`, 400, proto.CodeBadRequest},
			{"a disconnect of nobody", http.MethodPost, proto.APIDisconnect, `{"user":"nobody here"}`, 404, proto.CodeNoSuchUser},
			{"a mute without a room", http.MethodPost, proto.EventMute, `{"username":"u","seconds":5}`, 400, proto.CodeInvalidRoom},
			{"a mute of no name", http.MethodPost, proto.EventMute, `{"room":"r","seconds":5}`, 400, proto.CodeBadRequest},
			{"a ban past a year", http.MethodPost, proto.EventBan, `{"room":"r","username":"u","seconds":99999999}`, 400, proto.CodeBadRequest},
			{"a kick that lasts", http.MethodPost, proto.EventKick, `{"room":"r","username":"u","seconds":5}`, 400, proto.CodeBadRequest},
			{"a kick of nobody", http.MethodPost, proto.EventKick, `{"room":"r","username":"nobody here"}`, 404, proto.CodeNoSuchUser},
			{"an unban of nobody banned", http.MethodPost, proto.EventUnban, `{"room":"r","username":"u"}`, 400, proto.CodeBadRequest},
			{"a moderation by a bad name", http.MethodPost, proto.EventUnmute, `{"room":"r","username":"u","by":"a\u202eb"}`, 400, proto.CodeInvalidName},
			{"a delete without a room", http.MethodPost, proto.APIDelete, `{"id":"` + noSuchID + `"}`, 400, proto.CodeInvalidRoom},
			{"a delete of a bad room", http.MethodPost, proto.APIDelete, `{"room":"a.b*","id":"` + noSuchID + `"}`, 400, proto.CodeInvalidRoom},
			{"a delete without an id", http.MethodPost, proto.APIDelete, `{"room":"r"}`, 400, proto.CodeBadRequest},
			{"a delete of a bad id", http.MethodPost, proto.APIDelete, `{"room":"r","id":"x"}`, 400, proto.CodeBadRequest},
			{"a delete by a bad name", http.MethodPost, proto.APIDelete, `{"room":"r","id":"` + noSuchID + `","by":"a\u202eb"}`, 400, proto.CodeInvalidName},
			{"a delete of no message", http.MethodPost, proto.APIDelete, `{"room":"r","id":"` + noSuchID + `"}`, 404, proto.CodeNoSuchMessage},
			{"a role without a subject", http.MethodPost, proto.APIRole, `{"role":"moderator"}`, 400, proto.CodeBadRequest},
			{"a role that is none", http.MethodPost, proto.APIRole, `{"subject":"s","role":"root"}`, 400, proto.CodeBadRequest},
			{"a moderation log past its bound", http.MethodPost, proto.APIModeration, `{"limit":1001}`, 400, proto.CodeBadRequest},
			{"a moderation log of a bad room", http.MethodPost, proto.APIModeration, `{"room":"a.b*"}`, 400, proto.CodeInvalidRoom},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, code, body := apiCall(t, tc.method, base+proto.APIPath(tc.op), "Bearer "+apiKey, tc.body)
				if status != tc.status || code != tc.code {
					t.Errorf("%d %s, want %d %s", status, body, tc.status, tc.code)
				}
			})
		}
		if n := metricValue(t, s.metrics[0], "natter_gateway_api_requests_total", "op", proto.APIPublish, "result", proto.CodeInvalidRoom); n != 2 {
			t.Errorf("api_requests_total{op=publish,result=invalid_room} = %v, want 2", n)
		}
	})

	t.Run("the same over NATS", func(t *testing.T) {
		nc := s.conns[1]
		call := func(op string, req any, reply any) {
			t.Helper()
			data, _ := json.Marshal(req)
			msg, err := nc.Request(proto.APISubject(op), data, 10*time.Second)
			if err != nil {
				t.Fatalf("%s: %v", op, err)
			}
			if err := json.Unmarshal(msg.Data, reply); err != nil {
				t.Fatalf("%s: %s: %v", op, msg.Data, err)
			}
		}
		var sent proto.SentAck
		call(proto.APIPublish, proto.APIPublishRequest{Room: "over-nats", Message: "from the bus", From: "Indexer", ClientID: "n1"}, &sent)
		if !sent.OK || !proto.ValidID(sent.ID) {
			t.Fatalf("publish: %+v", sent)
		}
		// A resend with the same clientId is stored once, and acked with the first id.
		var again proto.SentAck
		call(proto.APIPublish, proto.APIPublishRequest{Room: "over-nats", Message: "from the bus", From: "Indexer", ClientID: "n1"}, &again)
		if again.ID != sent.ID {
			t.Errorf("resend acked %s, want %s", again.ID, sent.ID)
		}
		var h proto.HistoryAck
		call(proto.APIHistory, proto.HistoryRequest{Room: "over-nats"}, &h)
		if len(h.Messages) != 1 || h.Messages[0].ID != sent.ID || !h.Messages[0].Bot || h.Messages[0].Username != "Indexer" {
			t.Errorf("history: %+v", h)
		}
		var bad proto.ErrorAck
		call(proto.APIPublish, proto.APIPublishRequest{Room: "over-nats"}, &bad)
		if bad.OK || bad.Error == nil || bad.Error.Code != proto.CodeInvalidMessage {
			t.Errorf("publish without a message: %+v", bad)
		}
		call(proto.APIMembers, map[string]any{"room": "over-nats", "colour": 1}, &bad)
		if bad.Error == nil || bad.Error.Code != proto.CodeBadRequest {
			t.Errorf("members with an unknown field: %+v", bad)
		}
		var rooms proto.RoomsAck
		call(proto.APIRooms, proto.APIRoomsRequest{}, &rooms)
		if !rooms.OK {
			t.Errorf("rooms: %+v", rooms)
		}
	})

	t.Run("socket.io clients", func(t *testing.T) {
		nodetest.Run(t, "api.test.mjs", 2*time.Minute,
			"NATTER_URL="+base, "NATTER_URL_2="+s.gateways[1].URL, "NATTER_API_KEY="+apiKey,
			"NATTER_GATEWAY_1=gw1", "NATTER_GATEWAY_2=gw2")
	})

	t.Run("off without a key", func(t *testing.T) {
		off := startSystem(t, presence.NewMemoryStore(0, nil), 1, presence.Config{})
		for _, op := range proto.APIOps {
			if status, code, body := apiCall(t, http.MethodPost, off.gateways[0].URL+proto.APIPath(op), "Bearer "+apiKey, `{}`); status != 404 || code != proto.CodeNotFound {
				t.Errorf("%s on a gateway without a key: %d %s", op, status, body)
			}
		}
		if _, err := off.conns[0].Request(proto.APISubject(proto.APIRooms), []byte(`{}`), 500*time.Millisecond); err == nil {
			t.Error("a gateway without a key answered the API over NATS")
		}
	})
}

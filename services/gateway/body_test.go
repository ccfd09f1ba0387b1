package gateway

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/natter/natter/services/gateway/internal/engineio"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// TestSlowBodyIsAnswered408: a polling POST whose body trickles is answered
// 408 once the body timeout has passed, counted, and its session closed;
// a long-polling GET that waits longer is not cut.
func TestSlowBodyIsAnswered408(t *testing.T) {
	const timeout = 300 * time.Millisecond
	eio := engineio.NewServer(engineio.Config{PingInterval: 3 * timeout}, socketio.NewServer(socketio.Config{}))
	defer eio.Close(engineio.ReasonServerShutdown)
	timedOut := prometheus.NewCounter(prometheus.CounterOpts{Name: "t"})
	hs := httptest.NewServer(bodyDeadline{next: eio, timeout: timeout, timedOut: timedOut})
	defer hs.Close()
	get := func(query string) (int, string) {
		resp, err := http.Get(hs.URL + "/socket.io/?EIO=4&transport=polling" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, open := get("")
	sid := strings.SplitN(strings.SplitN(open, `"sid":"`, 2)[1], `"`, 2)[0]
	if code, body := get("&sid=" + sid); code != 200 || body != "2" {
		t.Fatalf("a GET held past the body timeout: %d %q, want the ping", code, body)
	}

	c, err := net.Dial("tcp", hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /socket.io/?EIO=4&transport=polling&sid="+sid+" HTTP/1.1\r\nHost: x\r\n"+
		"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 100\r\n\r\n4")
	c.SetReadDeadline(time.Now().Add(10 * timeout))
	answer, err := io.ReadAll(c) // the server closes the connection
	if err != nil {
		t.Fatalf("read: %v (%q)", err, answer)
	}
	if !strings.HasPrefix(string(answer), "HTTP/1.1 408 ") {
		t.Errorf("answer %q, want 408", answer)
	}
	if n := testutil.ToFloat64(timedOut); n != 1 {
		t.Errorf("%v body timeouts counted, want 1", n)
	}
	if code, body := get("&sid=" + sid); code != 400 || !strings.Contains(body, "Session ID unknown") {
		t.Errorf("the session after its slow POST: %d %s", code, body)
	}
}

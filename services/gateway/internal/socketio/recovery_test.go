package socketio_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/natter/natter/services/gateway/internal/engineio"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// recoverer recovers the pid "known", at any offset, and remembers what
// it was offered.
type recoverer struct {
	mu      sync.Mutex
	offered []string // "pid offset"
}

func (r *recoverer) NewPID() string { return "fresh" }

func (r *recoverer) Recover(s *socketio.Socket, pid, offset string) bool {
	r.mu.Lock()
	r.offered = append(r.offered, pid+" "+offset)
	r.mu.Unlock()
	return pid == "known"
}

func connectAnswer(t *testing.T, c *client, packet string) (sid, pid string) {
	t.Helper()
	c.send(packet)
	got := c.read()
	if !strings.HasPrefix(got, "40{") {
		t.Fatalf("CONNECT answer %q", got)
	}
	var hs struct{ SID, PID string }
	if err := json.Unmarshal([]byte(got[2:]), &hs); err != nil {
		t.Fatal(err)
	}
	return hs.SID, hs.PID
}

func TestRecovery(t *testing.T) {
	f := start(t, socketio.Config{}, engineio.Config{})
	r := &recoverer{}
	f.sio.Of("/").SetRecovery(r)
	recovered := make(chan bool, 4)
	f.sio.Of("/").OnConnect(func(s *socketio.Socket) { recovered <- s.Recovered() })

	cases := []struct {
		name, connect, pid string
		recovered          bool
		offered            string
	}{
		{"new connection", `40`, "fresh", false, ""},
		{"known pid", `40{"pid":"known","offset":"17"}`, "known", true, "known 17"},
		{"unknown pid", `40{"pid":"forged","offset":"17"}`, "fresh", false, "forged 17"},
		{"pid without offset", `40{"pid":"known"}`, "known", true, "known "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r.mu.Lock()
			r.offered = nil
			r.mu.Unlock()
			c := f.dial(t)
			sid, pid := connectAnswer(t, c, tc.connect)
			if sid == "" || pid != tc.pid {
				t.Errorf("answer sid %q pid %q, want a sid and pid %q", sid, pid, tc.pid)
			}
			if got := <-recovered; got != tc.recovered {
				t.Errorf("Recovered() = %v, want %v", got, tc.recovered)
			}
			r.mu.Lock()
			offered := strings.Join(r.offered, ",")
			r.mu.Unlock()
			if offered != tc.offered {
				t.Errorf("offered %q, want %q", offered, tc.offered)
			}
		})
	}
}

// Without recovery the CONNECT answer carries only the sid, as the
// protocol suites expect.
func TestNoRecoveryNoPID(t *testing.T) {
	f := start(t, socketio.Config{}, engineio.Config{})
	c := f.dial(t)
	c.send(`40{"pid":"known","offset":"1"}`)
	got := c.read()
	if !strings.HasPrefix(got, `40{"sid":`) || strings.Contains(got, "pid") {
		t.Fatalf("CONNECT answer %q, want only a sid", got)
	}
}

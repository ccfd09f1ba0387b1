package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natter/natter/kit/nodetest"
)

// Issue 7's acceptance over make cluster-up: the official client through
// nginx over four gateways in every transport mode. nginx sends a request
// that names its session to the gateway owning it and the others
// round-robin (deploy/nginx/natter.conf.template); its access log (format
// "natter") says which gateway served each request of a session. The
// forwarding between gateways, for balancers that do not route so, is
// tested in process (forward_test.go, wsforward_test.go).

// accessLine is a line of nginx's access log in the natter format.
type accessLine struct {
	method, uri string
	status      int
	sid         string
	transport   string
	upstream    string // "a:1" or "a:1, b:2" after a retry
	gateway     string // the gateway that answered
}

var accessRE = regexp.MustCompile(`"(\S+) (\S+)" (\d+) .* sid=(\S*) transport=(\S*) upstream=(.*) upstream_status=.* gateway=(\S*)$`)

// readAccessLog parses nginx's access log of stack s.
func readAccessLog(tb testing.TB, s *stack) []accessLine {
	tb.Helper()
	f, err := os.Open(filepath.Join(s.dir, "logs", "nginx-access.log"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var lines []accessLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := accessRE.FindStringSubmatch(sc.Text())
		if m == nil {
			tb.Fatalf("an access log line not in the natter format: %q", sc.Text())
		}
		status, _ := strconv.Atoi(m[3])
		lines = append(lines, accessLine{m[1], m[2], status, m[4], m[5], m[6], m[7]})
	}
	return lines
}

// sidsOf reads the "<mode> <sid>" lines a Node test appended to path.
func sidsOf(tb testing.TB, path, mode string) []string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var sids []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if m, sid, ok := strings.Cut(l, " "); ok && m == mode {
			sids = append(sids, sid)
		}
	}
	if len(sids) == 0 {
		tb.Fatalf("no %s sessions in %s", mode, path)
	}
	return sids
}

// counterSum sums a counter's series with the given label value over the
// /metrics of every gateway of s.
func counterSum(tb testing.TB, s *stack, name, label string) float64 {
	tb.Helper()
	sum := 0.0
	for i := 1; i <= 4; i++ {
		resp, err := http.Get(s.urls[fmt.Sprintf("gateway%d", i)] + "/metrics")
		if err != nil {
			continue // a killed gateway
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[0] == name+"{"+label+"}" {
				v, _ := strconv.ParseFloat(f[1], 64)
				sum += v
			}
		}
	}
	return sum
}

// ownerURL is the address of the gateway owning session sid on stack s.
func ownerURL(s *stack, sid string) string {
	owner, _, _ := strings.Cut(sid, ".")
	return s.urls[owner]
}

// TestClusterAcrossGateways runs, through the nginx of make cluster-up,
// the official client's chat with default options (polling, then the
// upgrade) and with polling only, and 100 polling clients in one room;
// nginx sends every request of a session to the gateway owning it.
func TestClusterAcrossGateways(t *testing.T) {
	s := clusterUp(t, false)
	sidsFile := filepath.Join(t.TempDir(), "sids")

	t.Run("default options", func(t *testing.T) {
		before := counterSum(t, s, "natter_gateway_forwarded_upgrades_total", `result="ok"`)
		runNodeTests(t, "across-gateways.test.mjs", "^default options", 3*time.Minute,
			"NATTER_URL="+s.url, "NATTER_SIDS_FILE="+sidsFile)
		sids := sidsOf(t, sidsFile, "polling+upgrade")
		// Each session's WebSocket is logged (status 101) once it closes.
		var upgraded map[string]accessLine
		waitFor(t, "nginx to log every session's WebSocket", func() bool {
			upgraded = map[string]accessLine{}
			for _, l := range readAccessLog(t, s) {
				if l.transport == "websocket" && l.status == 101 {
					upgraded[l.sid] = l
				}
			}
			for _, sid := range sids {
				if _, ok := upgraded[sid]; !ok {
					return false
				}
			}
			return true
		})
		// Which gateway nginx passed the WebSocket to: the address it
		// tried (a 101 names no gateway: the WebSocket library writes its
		// own response).
		for _, sid := range sids {
			if via := upgraded[sid].upstream; "http://"+via != ownerURL(s, sid) {
				t.Errorf("session %s upgraded through %s, not its owner", sid, via)
			}
		}
		if got := counterSum(t, s, "natter_gateway_forwarded_upgrades_total", `result="ok"`) - before; got != 0 {
			t.Errorf("the gateways passed %v upgrades on to the owner; nginx should have sent them there", got)
		}
	})

	t.Run("polling only", func(t *testing.T) {
		runNodeTests(t, "across-gateways.test.mjs", "^polling only", 3*time.Minute,
			"NATTER_URL="+s.url, "NATTER_SIDS_FILE="+sidsFile)
		sids := sidsOf(t, sidsFile, "polling")
		served := map[string]map[string]int{} // sid -> gateway address -> requests
		for _, l := range readAccessLog(t, s) {
			if l.sid == "" || l.transport != "polling" {
				continue
			}
			if served[l.sid] == nil {
				served[l.sid] = map[string]int{}
			}
			served[l.sid]["http://"+l.upstream]++
		}
		for _, sid := range sids {
			if len(served[sid]) == 0 {
				t.Errorf("session %s is not in nginx's log", sid)
			}
			for via, n := range served[sid] {
				if via != ownerURL(s, sid) {
					t.Errorf("%d requests of session %s went to %s, not its owner", n, sid, via)
				}
			}
		}
		t.Logf("%d polling sessions, e.g. %s: %v", len(sids), sids[0], served[sids[0]])
	})

	t.Run("100 polling clients", func(t *testing.T) {
		nodetest.Run(t, "polling-fanout.test.mjs", 3*time.Minute, "NATTER_URL="+s.url)
	})
}

// TestClusterBlastRadius kills -9 one of the four gateways of make
// cluster-up while 48 clients chat through its nginx, in each transport
// mode, and counts the clients that lost their session: only the dead
// gateway's own, at most 30 % of them; every message acked ok is in the
// room's history after. Each mode has a stack of its own, so that nginx
// spreads the handshakes evenly (for a few seconds after a gateway died,
// nginx leaves it out of the round-robin).
func TestClusterBlastRadius(t *testing.T) {
	const clients = 48
	for _, mode := range []string{"websocket", "polling", "polling+upgrade"} {
		t.Run(mode, func(t *testing.T) {
			s := clusterUp(t, false)
			killed, owned, dropped := killGateway(t, s, mode, clients)
			t.Logf("%s: kill -9 %s, which owned %d of %d sessions: %d clients dropped (%.0f %%)",
				mode, killed, owned, clients, dropped, 100*float64(dropped)/clients)
			if dropped > owned {
				t.Errorf("%d clients dropped, but %s owned only %d sessions", dropped, killed, owned)
			}
			if 10*dropped > 3*clients {
				t.Errorf("%d of %d clients dropped: more than 30 %%", dropped, clients)
			}
		})
	}
}

// killGateway runs test/client/gateway-kill.mjs with n clients in the
// given transport mode and, when it is ready, kills -9 the gateway owning
// the most of its sessions; the script checks that every client comes back
// and that no acked message is lost. It returns the gateway killed, how
// many of the sessions it owned, and how many clients lost theirs.
func killGateway(t *testing.T, s *stack, mode string, n int) (killed string, owned, dropped int) {
	t.Helper()
	cmd, out := nodeScript(t, []string{"NATTER_URL=" + s.url, "NATTER_MODE=" + mode, fmt.Sprintf("NATTER_CLIENTS=%d", n)}, "gateway-kill.mjs")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	owners := map[string]int{}
	dropped = -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		t.Log("node: " + line)
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "SID" {
			owner, _, _ := strings.Cut(f[2], ".")
			owners[owner]++
		}
		if len(f) == 3 && f[0] == "DROPPED" {
			dropped, _ = strconv.Atoi(f[1])
		}
		if line != "READY" {
			continue
		}
		names := sortedKeys(owners)
		sort.SliceStable(names, func(i, j int) bool { return owners[names[i]] > owners[names[j]] })
		if len(names) == 0 {
			t.Fatal("the script named no session")
		}
		killed, owned = names[0], owners[names[0]]
		t.Logf("sessions by owner %v: kill -9 %s", owners, killed)
		if err := syscall.Kill(s.pid(t, killed), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(in, "KILLED %s\n", killed)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("gateway-kill.mjs: %v", err)
	}
	if killed == "" || dropped < 0 {
		t.Fatal("the script never got ready, or never said how many dropped")
	}
	// What nginx did with the requests that the dead gateway held.
	dead := strings.TrimPrefix(s.urls[killed], "http://")
	retried := map[string]int{}
	for _, l := range readAccessLog(t, s) {
		if strings.HasPrefix(l.upstream, dead+", ") {
			retried[fmt.Sprintf("%s %s -> %d", l.method, l.transport, l.status)]++
		}
	}
	t.Logf("requests nginx sent again after %s died: %v", killed, retried)
	return killed, owned, dropped
}

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
// nginx round-robin over four gateways, no sticky sessions, in every
// transport mode; nginx's access log (deploy/nginx/natter.conf.template,
// format "natter") says which gateway served each request of a session.

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

// TestClusterAcrossGateways runs, through the nginx of make cluster-up,
// the official client's chat with default options (polling, then the
// upgrade) and with polling only, 100 polling clients in one room, and the
// kill -9 of a gateway owning polling sessions.
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
		// Which gateway nginx passed the WebSocket to: the last address
		// it tried. (A 101 straight from the owner names no gateway: the
		// WebSocket library writes its own response.)
		across := 0
		for _, sid := range sids {
			owner, _, _ := strings.Cut(sid, ".")
			addrs := strings.Split(upgraded[sid].upstream, ", ")
			if via := addrs[len(addrs)-1]; "http://"+via != s.urls[owner] {
				across++
				t.Logf("session %s (owned by %s) upgraded through %s (%s)", sid, owner, upgraded[sid].gateway, via)
			}
		}
		t.Logf("%d of %d sessions upgraded through a gateway that does not own them", across, len(sids))
		if across == 0 {
			t.Errorf("no upgrade went through another gateway than the owner: %d sessions", len(sids))
		}
		if got := counterSum(t, s, "natter_gateway_forwarded_upgrades_total", `result="ok"`) - before; got < float64(across) {
			t.Errorf("the gateways counted %v forwarded upgrades, nginx saw %d", got, across)
		}
	})

	t.Run("polling only", func(t *testing.T) {
		runNodeTests(t, "across-gateways.test.mjs", "^polling only", 3*time.Minute,
			"NATTER_URL="+s.url, "NATTER_SIDS_FILE="+sidsFile)
		sids := sidsOf(t, sidsFile, "polling")
		served := map[string]map[string]int{} // sid -> gateway -> requests
		for _, l := range readAccessLog(t, s) {
			if l.sid == "" || l.transport != "polling" {
				continue
			}
			if served[l.sid] == nil {
				served[l.sid] = map[string]int{}
			}
			served[l.sid][l.gateway]++
		}
		several := 0
		for _, sid := range sids {
			if len(served[sid]) >= 2 {
				several++
			}
			if len(served[sid]) == 0 {
				t.Errorf("session %s is not in nginx's log", sid)
			}
		}
		t.Logf("%d of %d polling sessions were served by two gateways or more; e.g. %s: %v", several, len(sids), sids[0], served[sids[0]])
		if several == 0 {
			t.Error("no polling session was served by two gateways")
		}
	})

	t.Run("100 polling clients", func(t *testing.T) {
		nodetest.Run(t, "polling-fanout.test.mjs", 3*time.Minute, "NATTER_URL="+s.url)
	})

	t.Run("kill -9 a gateway owning polling sessions", func(t *testing.T) {
		killPollingOwner(t, s)
	})
}

// killPollingOwner runs test/client/polling-failover.mjs and, when it is
// ready, kills -9 the gateway owning the most of its sessions; the script
// checks that every client comes back and that no acked message is lost.
func killPollingOwner(t *testing.T, s *stack) {
	cmd, out := nodeScript(t, []string{"NATTER_URL=" + s.url}, "polling-failover.mjs")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	owners := map[string]int{}
	killed := ""
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		t.Log("node: " + line)
		if f := strings.Fields(line); len(f) == 3 && f[0] == "SID" {
			owner, _, _ := strings.Cut(f[2], ".")
			owners[owner]++
		}
		if line != "READY" {
			continue
		}
		names := sortedKeys(owners)
		sort.SliceStable(names, func(i, j int) bool { return owners[names[i]] > owners[names[j]] })
		if len(names) == 0 {
			t.Fatal("the script named no session")
		}
		killed = names[0]
		t.Logf("sessions by owner %v: kill -9 %s", owners, killed)
		if err := syscall.Kill(s.pid(t, killed), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(in, "KILLED %s\n", killed)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("polling-failover.mjs: %v", err)
	}
	if killed == "" {
		t.Fatal("the script never got ready")
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
}

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/natter/natter/kit/redistest"
	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/presence"
)

// redisFailoverJS keeps clients joining through nginx, each with a name
// from a small pool so that they contend for names, holding it a while
// and leaving, until the file NATTER_DONE exists. It prints every join's
// outcome ("J <start unix ms> <end unix ms> <outcome>"), fails at once when a join wins a
// name that another of its live clients holds, and at the end waits until
// presence's members of the room are exactly the names its live clients
// hold.
const redisFailoverJS = `
import { io } from "socket.io-client";
import { existsSync } from "node:fs";
const url = process.env.NATTER_URL;
const tag = Math.random().toString(36).slice(2, 6);
const room = "rfail" + tag;
const fail = (msg) => { console.error("FAIL: " + msg); process.exit(1); };
setTimeout(() => fail("timed out"), 80000).unref();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const opts = { transports: ["websocket"], forceNew: true, reconnection: false, timeout: 3000 };
const ack = (s, ev, p) => Promise.race([s.emitWithAck(ev, p),
  new Promise((res) => setTimeout(() => res({ ok: false, error: { code: "timeout" } }), 5000))]);
const pool = Array.from({ length: 24 }, (_, i) => "Fo" + i + tag);
const held = new Map(); // name -> the live socket that holds it

// The observer holds a name of its own for the whole run, to ask for
// the members.
const observer = io(url, opts);
await new Promise((res, rej) => { observer.once("connect", res); observer.once("connect_error", rej); });
const o = await ack(observer, "join", { username: "Watch" + tag, room });
if (!o.ok) fail("observer join: " + JSON.stringify(o));

let stop = false;
const worker = async () => {
  while (!stop) {
    const name = pool[Math.floor(Math.random() * pool.length)];
    const s = io(url, opts);
    const up = await new Promise((res) => { s.once("connect", () => res(true)); s.once("connect_error", () => res(false)); });
    if (!up) { console.log("J " + Date.now() + " " + Date.now() + " connect_error"); s.close(); await sleep(100); continue; }
    const start = Date.now();
    const r = await ack(s, "join", { username: name, room });
    const outcome = r.ok ? "ok" : (r.error && r.error.code) || "error";
    console.log("J " + start + " " + Date.now() + " " + outcome);
    if (!r.ok) { s.close(); await sleep(outcome === "name_taken" ? 20 : 100); continue; }
    if (held.has(name) && held.get(name).connected) fail(name + " won by two live clients");
    held.set(name, s);
    s.on("disconnect", () => { if (held.get(name) === s) held.delete(name); });
    await sleep(300 + Math.random() * 1200);
    if (held.get(name) === s) held.delete(name);
    s.close();
  }
};
const workers = Array.from({ length: 12 }, worker);
while (!existsSync(process.env.NATTER_DONE)) await sleep(20);
stop = true;
await Promise.all(workers);

// Presence converges to the truth: the observer and nobody else.
const want = ["Watch" + tag].sort().join(",");
let got = "";
for (const end = Date.now() + 20000; Date.now() < end; await sleep(600)) {
  const m = await ack(observer, "members", { room });
  if (!m.ok) { got = JSON.stringify(m); continue; }
  got = m.members.map((x) => x.username).sort().join(",");
  if (got === want) break;
}
if (got !== want) fail("members " + got + ", want " + want);
console.log("MEMBERS " + got);
observer.close();
process.exit(0);
`

// TestRedisPrimaryKilled runs the stack of make cluster-up, with sentinels
// that give up on a silent primary after 1 s, keeps clients joining
// through nginx, and kills the Redis primary with kill -9: the sentinels
// promote the replica, joins fail only until then, no two live clients
// ever hold one name, and presence's members end equal to the truth; the
// old primary, started again, becomes the new one's replica. It logs the
// figures of docs/reliability.md.
func TestRedisPrimaryKilled(t *testing.T) {
	s := clusterUp(t, false, "NATTER_REDIS_DOWN_AFTER=1000", "NATTER_RATE_LIMITS=join.user=off")
	done := filepath.Join(t.TempDir(), "done")
	cmd, out := nodeScript(t, []string{"NATTER_URL=" + s.url, "NATTER_DONE=" + done}, "--input-type=module", "-e", redisFailoverJS)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sentinels := strings.Split(s.urls["NATTER_REDIS_SENTINELS"], ",")
	replica := "127.0.0.1:" + fromClusterEnv(t, s, "NATTER_CLUSTER_REPLICA_PORT")

	type join struct {
		start, end time.Time
		outcome    string
	}
	var joins []join
	var killed, promoted, recovered time.Time
	okBefore := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "J" {
			t.Log("node: " + sc.Text())
			continue
		}
		start, _ := strconv.ParseInt(f[1], 10, 64)
		end, _ := strconv.ParseInt(f[2], 10, 64)
		j := join{time.UnixMilli(start), time.UnixMilli(end), f[3]}
		joins = append(joins, j)
		switch {
		case killed.IsZero() && j.outcome == "ok":
			if okBefore++; okBefore == 30 {
				t.Logf("kill -9 the Redis primary after %d joins", okBefore)
				killed = time.Now()
				if err := syscall.Kill(s.pid(t, "redis"), syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				promoted = waitPromoted(t, sentinels, replica)
			}
		case !killed.IsZero() && recovered.IsZero() && j.outcome == "ok" && j.start.After(killed):
			recovered = j.end
			// Clients go on joining for a while on the promoted replica.
			time.AfterFunc(5*time.Second, func() { os.WriteFile(done, nil, 0o600) })
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("join script: %v", err)
	}
	if killed.IsZero() || recovered.IsZero() {
		t.Fatalf("the script never got to the kill (%v), or no join succeeded after it", killed)
	}
	failed := func(j join) bool { return j.outcome != "ok" && j.outcome != "name_taken" }
	outcomes := map[string]int{}
	var firstFail, lastFail time.Time
	nFailed := 0
	for _, j := range joins {
		if j.end.Before(killed) {
			if failed(j) {
				t.Errorf("a join failed (%s) before the kill", j.outcome)
			}
			continue
		}
		outcomes[j.outcome]++
		if !failed(j) {
			continue
		}
		nFailed++
		if firstFail.IsZero() {
			firstFail = j.end
		}
		lastFail = j.end
		// Joins fail for at most the failover: each presence replica's
		// client finds the promoted replica on its own (the sentinels'
		// +switch-master, or asking them after an error), so not all at
		// the first success, but soon after the promotion.
		if j.start.After(promoted.Add(promotedSlack)) {
			t.Errorf("a join that started %s after the promotion failed (%s)", j.start.Sub(promoted).Round(time.Millisecond), j.outcome)
		}
	}
	// The promotion changed the store's epoch: presence asked the gateways
	// to announce their connections again, which the promoted replica may
	// have missed the last writes of.
	resyncs := 0.0
	for _, name := range []string{"presence1", "presence2"} {
		resyncs += metricSum(t, s.urls[name], "natter_presence_resyncs_total")
	}
	if resyncs == 0 {
		t.Error("no presence replica asked the gateways to resync after the failover")
	}
	// The old primary, started again, joins as the new one's replica.
	t.Log(s.script(t, "start", "redis"))
	started := time.Now()
	old := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + fromClusterEnv(t, s, "NATTER_CLUSTER_REDIS_PORT")})
	defer old.Close()
	wait.Succeeds(t, 30*time.Second, func() error {
		info, err := old.Info(context.Background(), "replication").Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "role:slave") || !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("the old primary is no replica of the new one yet:\n%s", info)
		}
		return nil
	})
	t.Logf("the old primary replicated the new one %s after its start", time.Since(started).Round(time.Millisecond))
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	t.Logf("after the kill: the sentinels named the replica primary at +%s, a join succeeded again at +%s; "+
		"%d joins failed, ending between +%s and +%s; outcomes of the joins that ended after the kill: %v",
		ms(promoted.Sub(killed)), ms(recovered.Sub(killed)), nFailed, ms(firstFail.Sub(killed)), ms(lastFail.Sub(killed)), outcomes)
}

// promotedSlack is how long after the sentinels promoted the replica a
// join may still fail: presence's clients may each take a retry or two to
// follow them.
const promotedSlack = 5 * time.Second

// waitPromoted waits until a sentinel names the replica the primary, and
// returns when it saw that.
func waitPromoted(tb testing.TB, sentinels []string, replica string) time.Time {
	tb.Helper()
	ctx := context.Background()
	wait.Succeeds(tb, 30*time.Second, func() error {
		for _, addr := range sentinels {
			sc := redis.NewSentinelClient(&redis.Options{Addr: addr})
			got, err := sc.GetMasterAddrByName(ctx, "natter").Result()
			sc.Close()
			if err == nil && len(got) == 2 && got[0]+":"+got[1] == replica {
				return nil
			}
		}
		return fmt.Errorf("no sentinel names %s the primary yet", replica)
	})
	return time.Now()
}

// fromClusterEnv is the value of a variable of cluster.sh's environment.
func fromClusterEnv(tb testing.TB, s *stack, name string) string {
	tb.Helper()
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	tb.Fatalf("cluster.sh has no %s", name)
	return ""
}

// TestResyncRefusesALostName: presence lost a connection's join, as a
// Redis replica promoted without the primary's last writes may, and
// another user took the name meanwhile. The resync that follows (presence
// asks it when the store's epoch changes) is refused for the first
// connection, name_taken, and its gateway disconnects it: no two live
// users hold one name.
func TestResyncRefusesALostName(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	store := presence.NewRedisStore(rdb, "natter:", time.Hour)
	// No upkeep meanwhile: the test asks for the resync itself.
	s := startSystem(t, store, 1, presence.Config{ReapInterval: time.Hour})
	url := s.gateways[0].URL
	first := dialChatter(t, url, "Ann", "lobby")
	if err := rdb.FlushAll(ctx).Err(); err != nil { // the lost join
		t.Fatal(err)
	}
	second := dialChatter(t, url, "ann", "lobby") // the same name key: free now
	if err := s.conns[0].Publish(proto.PresenceResyncSubject, nil); err != nil {
		t.Fatal(err)
	}
	first.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	first.readUntil("41") // Socket.IO's disconnect
	if ack := second.request(1, "members", `{}`); !strings.Contains(ack, `"username":"ann"`) || strings.Contains(ack, `"Ann"`) {
		t.Errorf("members after the resync: %s, want ann alone", ack)
	}
}

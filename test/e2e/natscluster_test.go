package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/proto"
)

// The NATS cluster of make cluster-up (three nodes, the stream and buckets
// in three copies), seen from the tests: who leads the stream, what each
// node holds. The faults are in natscluster_fault_test.go.

// natsNodeNames are the NATS nodes cluster.sh runs.
var natsNodeNames = []string{"nats1", "nats2", "nats3"}

// natterStreams are the streams natter creates: its messages, and the
// streams under its two buckets.
var natterStreams = []string{proto.MessagesStream, "KV_" + proto.RecoveryBucket, "KV_" + proto.DedupBucket}

// jetStreamVia connects to the stack's NATS through the given nodes only
// (so that a test can keep away from one it stops) and returns JetStream
// on that connection, closed when the test ends.
func jetStreamVia(tb testing.TB, s *stack, nodes ...string) jetstream.JetStream {
	tb.Helper()
	var urls []string
	for _, n := range nodes {
		urls = append(urls, s.urls[n])
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.DontRandomize(), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond), nats.IgnoreDiscoveredServers(), nats.Timeout(2*time.Second))
	if err != nil {
		tb.Fatalf("nats %v: %v", urls, err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

// streamInfo asks for a stream's info, within 2 s.
func streamInfo(js jetstream.JetStream, name string) (*jetstream.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s info: %w", name, err)
	}
	return info, nil
}

// replicated returns nil when the stream has n copies, a leader, and
// every other replica current.
func replicated(js jetstream.JetStream, name string, n int) error {
	info, err := streamInfo(js, name)
	if err != nil {
		return err
	}
	if info.Config.Replicas != n {
		return fmt.Errorf("stream %s: %d replicas configured, want %d", name, info.Config.Replicas, n)
	}
	c := info.Cluster
	if c == nil || c.Leader == "" || len(c.Replicas) != n-1 {
		return fmt.Errorf("stream %s: cluster %+v, want a leader and %d other replicas", name, c, n-1)
	}
	for _, r := range c.Replicas {
		if !r.Current || r.Offline {
			return fmt.Errorf("stream %s: replica %s not current (offline %v, lag %d)", name, r.Name, r.Offline, r.Lag)
		}
	}
	return nil
}

// streamLeader returns the node leading the messages stream, waiting up
// to within for there to be one other than not ("" for any).
func streamLeader(js jetstream.JetStream, within time.Duration, not string) (string, error) {
	var leader string
	err := wait.Until(context.Background(), within, func() error {
		info, err := streamInfo(js, proto.MessagesStream)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return errors.New("the stream has no leader")
		}
		if info.Cluster.Leader == not {
			return fmt.Errorf("the stream's leader is still %s", not)
		}
		leader = info.Cluster.Leader
		return nil
	})
	return leader, err
}

// nodeServing returns the NATS node that serves the connection of a natter
// service (of the first it finds, for gateway).
func nodeServing(s *stack, svc string) (string, error) {
	for _, n := range natsNodeNames {
		conns, err := natterConns(s, n)
		if err != nil {
			return "", err
		}
		if conns[svc] > 0 {
			return n, nil
		}
	}
	return "", fmt.Errorf("no NATS node serves %s", svc)
}

// nodeLastSeq returns the last sequence of the messages stream as the node
// itself holds it (its monitoring /jsz), not as the leader reports it.
func nodeLastSeq(s *stack, node string) (uint64, error) {
	resp, err := http.Get(s.urls[node+"_monitor"] + "/jsz?streams=true")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var jsz struct {
		AccountDetails []struct {
			Streams []struct {
				Name  string `json:"name"`
				State struct {
					LastSeq uint64 `json:"last_seq"`
				} `json:"state"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jsz); err != nil {
		return 0, fmt.Errorf("%s /jsz: %w", node, err)
	}
	for _, a := range jsz.AccountDetails {
		for _, st := range a.Streams {
			if st.Name == proto.MessagesStream {
				return st.State.LastSeq, nil
			}
		}
	}
	return 0, fmt.Errorf("%s holds no replica of %s", node, proto.MessagesStream)
}

// natterConns counts the natter services' connections that node serves,
// by their names (natter-gateway, natter-presence, natter-history), from
// its monitoring /connz.
func natterConns(s *stack, node string) (map[string]int, error) {
	resp, err := http.Get(s.urls[node+"_monitor"] + "/connz?limit=1024")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var connz struct {
		Conns []struct {
			Name string `json:"name"`
		} `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&connz); err != nil {
		return nil, fmt.Errorf("%s /connz: %w", node, err)
	}
	n := map[string]int{}
	for _, c := range connz.Conns {
		if svc, ok := strings.CutPrefix(c.Name, "natter-"); ok {
			n[svc]++
		}
	}
	return n, nil
}

// caughtUp waits until node holds the messages stream up to the leader's
// last sequence and the leader reports every replica current; it returns
// how long that took.
func caughtUp(tb testing.TB, s *stack, js jetstream.JetStream, node string) time.Duration {
	tb.Helper()
	start := time.Now()
	var leaderSeq, nodeSeq uint64
	wait.Succeeds(tb, 30*time.Second, func() error {
		info, err := streamInfo(js, proto.MessagesStream)
		if err != nil {
			return err
		}
		leaderSeq = info.State.LastSeq
		if nodeSeq, err = nodeLastSeq(s, node); err != nil {
			return err
		}
		if nodeSeq != leaderSeq {
			return fmt.Errorf("%s holds the stream to %d, the leader %s to %d", node, nodeSeq, info.Cluster.Leader, leaderSeq)
		}
		return replicated(js, proto.MessagesStream, len(natsNodeNames))
	})
	took := time.Since(start)
	tb.Logf("%s caught up in %s: the stream to seq %d, as its leader", node, took.Round(time.Millisecond), leaderSeq)
	return took
}

// others returns the NATS nodes but node.
func others(node string) []string {
	var o []string
	for _, n := range natsNodeNames {
		if n != node {
			o = append(o, n)
		}
	}
	return o
}

// progressAt reads how many messages nats-cluster.test.mjs had acked.
func progressAt(path string) int {
	b, _ := os.ReadFile(path)
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// natsFaultEnv is the stack's environment for the fault tests: the flood
// control is not under test (the clients send as fast as acks come, and
// page through history at once).
var natsFaultEnv = []string{"NATTER_MESSAGE_RATE=1000", "NATTER_MESSAGE_BURST=1000", "NATTER_RATE_LIMITS=history.*=off"}

// TestNATSClusterReplicated checks that make cluster-up's NATS is a
// cluster of three whose every node runs JetStream, and that natter's
// stream and both buckets are in three copies, all current.
func TestNATSClusterReplicated(t *testing.T) {
	s := clusterUp(t, false)
	js := jetStreamVia(t, s, natsNodeNames...)
	for _, name := range natterStreams {
		wait.Succeeds(t, 15*time.Second, func() error { return replicated(js, name, len(natsNodeNames)) })
	}
	info, err := streamInfo(js, proto.MessagesStream)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: leader %s, cluster %s", proto.MessagesStream, info.Cluster.Leader, info.Cluster.Name)
	for _, n := range natsNodeNames {
		if _, err := nodeLastSeq(s, n); err != nil {
			t.Error(err)
		}
	}
	if len(strings.Split(s.urls["NATS_URL"], ",")) != len(natsNodeNames) {
		t.Errorf("cluster.env's NATS_URL=%q, want the %d nodes", s.urls["NATS_URL"], len(natsNodeNames))
	}
}

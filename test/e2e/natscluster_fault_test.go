package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/proto"
)

// Faults of one NATS node of make cluster-up's three, under chat through
// nginx (test/client/nats-cluster.test.mjs): the node leading the stream
// killed -9, or stopped for 20 s. The figures are in docs/reliability.md.

// Before the fault the clients have this many messages acked, and after
// it this many more, before they stop.
const (
	acksBeforeFault = 200
	acksAfterFault  = 300
)

// chatThroughNATSFault runs nats-cluster.test.mjs through the stack's
// nginx and, once its clients have had acksBeforeFault messages acked,
// calls fault with the node leading the stream, that node's pid and
// JetStream through the other nodes (on a goroutine of its own: it returns
// errors, it does not fail the test), then lets the clients chat on for acksAfterFault more before they stop
// and check history. It returns the node.
func chatThroughNATSFault(t *testing.T, s *stack, fault func(node string, pid int, others jetstream.JetStream) error) string {
	t.Helper()
	dir := t.TempDir()
	progress, span := filepath.Join(dir, "progress"), filepath.Join(dir, "fault")
	js := jetStreamVia(t, s, natsNodeNames...)
	wait.Succeeds(t, 15*time.Second, func() error { return replicated(js, natterStreams[0], len(natsNodeNames)) })
	pids, via := map[string]int{}, map[string]jetstream.JetStream{}
	for _, n := range natsNodeNames {
		pids[n], via[n] = s.pid(t, n), jetStreamVia(t, s, others(n)...)
	}
	var node string
	env, errc := signal(t, func() error {
		reached := func(n int) func() error {
			return func() error {
				if got := progressAt(progress); got < n {
					return fmt.Errorf("the clients had %d messages acked, not %d", got, n)
				}
				return nil
			}
		}
		if err := wait.Until(context.Background(), time.Minute, reached(acksBeforeFault)); err != nil {
			return err
		}
		// The worst case, every run: the node that leads the stream also
		// serves history's connection (seen failing only then: history
		// refused every query as behind the stream for the rest of the
		// run), and its gateway's and presence's where they are.
		leader, err := nodeServing(s, "history")
		if err != nil {
			return err
		}
		if err := natstest.LeadStream(js, proto.MessagesStream, leader, 30*time.Second); err != nil {
			return err
		}
		node = leader
		conns, err := natterConns(s, node)
		if err != nil {
			return err
		}
		t.Logf("%s serves these natter connections: %v", node, conns)
		start := time.Now()
		if err := fault(node, pids[node], via[node]); err != nil {
			return err
		}
		end := time.Now()
		if err := os.WriteFile(span, fmt.Appendf(nil, "%d %d", start.UnixMilli(), end.UnixMilli()), 0o644); err != nil {
			return err
		}
		return wait.Until(context.Background(), time.Minute, reached(progressAt(progress)+acksAfterFault))
	})
	nodetest.Run(t, "nats-cluster.test.mjs", 3*time.Minute, append(env,
		"NATTER_URL="+s.url, "NATTER_PROGRESS="+progress, "NATTER_FAULT="+span, "NATTER_CLIENTS=6")...)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return node
}

// newLeader waits until a node other than old leads the stream, asking
// through js, and logs which and how soon after since.
func newLeader(t *testing.T, js jetstream.JetStream, old string, since time.Time, within time.Duration) error {
	leader, err := streamLeader(js, within, old)
	if err != nil {
		return err
	}
	t.Logf("a new leader of the stream, %s, %s after the fault", leader, time.Since(since).Round(time.Millisecond))
	return nil
}

// TestNATSLeaderKilled kills -9 the NATS node that leads the stream while
// six clients chat: no acked message is lost or stored twice, none is
// delivered twice, every client chats again (the figures: how soon, how
// many sends were refused meanwhile), and the node, started again,
// catches up with the stream.
func TestNATSLeaderKilled(t *testing.T) {
	s := clusterUp(t, false, natsFaultEnv...)
	node := chatThroughNATSFault(t, s, func(node string, pid int, survivors jetstream.JetStream) error {
		t.Logf("kill -9 %s (pid %d), the stream's leader", node, pid)
		start := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return err
		}
		return newLeader(t, survivors, node, start, 30*time.Second)
	})
	// Started again, with its store as it was, it catches up.
	t.Log(s.script(t, "start", node))
	caughtUp(t, s, jetStreamVia(t, s, others(node)...), node)
}

// TestNATSNodeStopped stops the NATS node that leads the stream for 20 s
// (SIGSTOP: a partition, its connections open but silent) while six
// clients chat, then lets it go on (SIGCONT): no acked message is lost or
// stored twice, none is delivered twice, and the node catches up with the
// stream the others went on writing.
func TestNATSNodeStopped(t *testing.T) {
	const stopped = 20 * time.Second
	s := clusterUp(t, false, natsFaultEnv...)
	node := chatThroughNATSFault(t, s, func(node string, pid int, survivors jetstream.JetStream) error {
		t.Logf("SIGSTOP %s (pid %d), the stream's leader, for %s", node, pid, stopped)
		start := time.Now()
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			return err
		}
		// SIGCONT however this ends; the cleanup of a test that fails here
		// would stop a stopped node, and wait for it.
		resumed := false
		defer func() {
			if !resumed {
				syscall.Kill(pid, syscall.SIGCONT)
			}
		}()
		if err := newLeader(t, survivors, node, start, stopped); err != nil {
			return err
		}
		<-time.After(time.Until(start.Add(stopped))) // the fault lasts this long
		// Where the others had got to when it goes on, which it must reach.
		info, err := streamInfo(survivors, natterStreams[0])
		if err != nil {
			return err
		}
		resumed = true
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			return err
		}
		cont := time.Now()
		t.Logf("SIGCONT %s after %s; the stream is at seq %d", node, cont.Sub(start).Round(time.Millisecond), info.State.LastSeq)
		return wait.Until(context.Background(), 30*time.Second, func() error {
			seq, err := nodeLastSeq(s, node)
			if err == nil && seq < info.State.LastSeq {
				err = fmt.Errorf("%s holds the stream to %d, not yet %d", node, seq, info.State.LastSeq)
			}
			if err == nil {
				t.Logf("%s holds the stream to %d, %s after SIGCONT", node, seq, time.Since(cont).Round(time.Millisecond))
			}
			return err
		})
	})
	caughtUp(t, s, jetStreamVia(t, s, others(node)...), node)
}

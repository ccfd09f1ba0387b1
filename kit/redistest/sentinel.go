package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/natter/natter/kit/wait"
)

// MasterName is the name under which the sentinels monitor the primary.
const MasterName = "natter"

// sentinelQuorum is how many of the three sentinels must agree that the
// primary is down.
const sentinelQuorum = 2

// Sentinel is a primary, a replica of it and three sentinels that monitor
// them and promote the replica when the primary fails.
type Sentinel struct {
	Primary, Replica *Server
	Sentinels        []*Server
	DownAfter        time.Duration
}

// StartSentinel starts the five processes, the sentinels deciding the
// primary is down after downAfter without an answer (0: 1s), and waits
// until each sentinel knows the replica and the other sentinels, so that
// a failover can start as soon as the primary fails.
func StartSentinel(tb testing.TB, downAfter time.Duration) *Sentinel {
	tb.Helper()
	if downAfter <= 0 {
		downAfter = time.Second
	}
	s := &Sentinel{DownAfter: downAfter}
	s.Primary = Start(tb)
	s.Replica = Start(tb, "--replicaof", "127.0.0.1", strconv.Itoa(s.Primary.Port))
	for range 3 {
		s.Sentinels = append(s.Sentinels, startSentinel(tb, s.Primary.Port, downAfter))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, sn := range s.Sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr()})
		err := wait.Until(ctx, 30*time.Second, func() error {
			replicas, err := sc.Replicas(ctx, MasterName).Result()
			if err != nil {
				return err
			}
			others, err := sc.Sentinels(ctx, MasterName).Result()
			if err != nil {
				return err
			}
			if len(replicas) != 1 || len(others) != len(s.Sentinels)-1 {
				return fmt.Errorf("sentinel %s knows %d replicas and %d other sentinels", sn.Addr(), len(replicas), len(others))
			}
			return nil
		})
		sc.Close()
		if err != nil {
			tb.Fatalf("sentinel not ready: %v", err)
		}
	}
	return s
}

// startSentinel starts a sentinel monitoring the primary on port.
func startSentinel(tb testing.TB, primary int, downAfter time.Duration) *Server {
	tb.Helper()
	dir := tb.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf(`sentinel monitor %[1]s 127.0.0.1 %[2]d %[3]d
sentinel down-after-milliseconds %[1]s %[4]d
sentinel failover-timeout %[1]s %[5]d
sentinel parallel-syncs %[1]s 1
`, MasterName, primary, sentinelQuorum, downAfter.Milliseconds(), (10 * downAfter).Milliseconds())
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		tb.Fatal(err)
	}
	return startIn(tb, dir, FreePort(tb, 0), conf, "--sentinel")
}

// Addrs are the sentinels' host:ports.
func (s *Sentinel) Addrs() []string {
	out := make([]string, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		out[i] = sn.Addr()
	}
	return out
}

// Client connects through the sentinels to whichever server is primary,
// closed when the test ends.
func (s *Sentinel) Client(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: MasterName, SentinelAddrs: s.Addrs()})
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// PrimaryAddr is the host:port of the primary, as the first sentinel that
// answers names it.
func (s *Sentinel) PrimaryAddr(ctx context.Context) (string, error) {
	var last error
	for _, sn := range s.Sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr()})
		addr, err := sc.GetMasterAddrByName(ctx, MasterName).Result()
		sc.Close()
		if err == nil && len(addr) == 2 {
			return addr[0] + ":" + addr[1], nil
		}
		last = err
	}
	return "", fmt.Errorf("primary of %s: %w", MasterName, last)
}

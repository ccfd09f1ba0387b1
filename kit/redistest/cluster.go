package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/natter/natter/kit/wait"
)

// clusterBus is how far above a node's port Redis Cluster's bus listens.
const clusterBus = 10000

// Cluster is a Redis Cluster of masters without replicas, the slots split
// evenly between them.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts masters nodes (at least 3, as redis-cli asks),
// joins them into one cluster and waits until every node reports it ok.
func StartCluster(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	cli := Binary(tb, "redis-cli")
	c := &Cluster{}
	for range max(masters, 3) {
		dir := tb.TempDir()
		c.Nodes = append(c.Nodes, startIn(tb, dir, FreePort(tb, clusterBus), "",
			"--cluster-enabled", "yes", "--cluster-config-file", dir+"/nodes.conf",
			"--cluster-node-timeout", "2000"))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range c.Nodes {
		rdb := redis.NewClient(&redis.Options{Addr: n.Addr()})
		err := wait.Until(ctx, 30*time.Second, func() error {
			info, err := rdb.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("node %s: cluster not ok", n.Addr())
			}
			return nil
		})
		rdb.Close()
		if err != nil {
			tb.Fatalf("cluster not ready: %v", err)
		}
	}
	return c
}

// Addrs are the nodes' host:ports.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// Client is a cluster client seeded with every node, closed when the test
// ends.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

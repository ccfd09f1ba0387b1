package redistest

import (
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Backend is one kind of Redis deployment that a contract test runs
// against.
type Backend struct {
	Name string
	// Client returns a new client of the deployment, closed when tb ends.
	// The deployment's processes start at the first call and live until
	// the test that asked for Backends ends.
	Client func(tb testing.TB) redis.UniversalClient
}

// Backends are the deployments natter supports: "single", the Redis of
// REDIS_URL; "sentinel", a primary and a replica behind three sentinels;
// "cluster", three masters. owner is the test that owns the processes.
func Backends(owner testing.TB) []Backend {
	var sentinelOnce, clusterOnce sync.Once
	var sentinel *Sentinel
	var cluster *Cluster
	return []Backend{
		{Name: "single", Client: func(tb testing.TB) redis.UniversalClient { return Single(tb) }},
		{Name: "sentinel", Client: func(tb testing.TB) redis.UniversalClient {
			tb.Helper()
			sentinelOnce.Do(func() { sentinel = StartSentinel(outliving{tb, owner}, time.Second) })
			if sentinel == nil {
				tb.Fatal("sentinel did not start")
			}
			return sentinel.Client(tb)
		}},
		{Name: "cluster", Client: func(tb testing.TB) redis.UniversalClient {
			tb.Helper()
			clusterOnce.Do(func() { cluster = StartCluster(outliving{tb, owner}, 3) })
			if cluster == nil {
				tb.Fatal("cluster did not start")
			}
			return cluster.Client(tb)
		}},
	}
}

// outliving is tb, which fails and logs, except that what it cleans up
// (processes, folders) lasts until owner ends.
type outliving struct {
	testing.TB
	owner testing.TB
}

func (o outliving) Cleanup(f func()) { o.owner.Cleanup(f) }
func (o outliving) TempDir() string  { return o.owner.TempDir() }

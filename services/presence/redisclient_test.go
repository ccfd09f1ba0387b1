package presence

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/natter/natter/kit/redistest"
	"github.com/natter/natter/kit/wait"
)

// TestRedisClient checks that each deployment's variables reach it: the
// client of each answers PING and writes through its store.
func TestRedisClient(t *testing.T) {
	sentinel := redistest.StartSentinel(t, time.Second)
	cluster := redistest.StartCluster(t, 3)
	single := redistest.Start(t, "--requirepass", "pw")
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"single", Config{RedisURL: "redis://" + single.Addr(), RedisPassword: "pw"}},
		{"sentinel", Config{RedisSentinels: sentinel.Addrs()}},
		{"cluster", Config{RedisCluster: cluster.Addrs()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb, err := tc.cfg.WithDefaults().RedisClient()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rdb.Close() })
			_, isCluster := rdb.(*redis.ClusterClient)
			if isCluster != (tc.name == "cluster") {
				t.Errorf("client %T", rdb)
			}
			testColourAskedFor(t, NewRedisStore(rdb, testPrefix(t, rdb), 0))
		})
	}
}

// TestRedisConfigHidesPasswords checks that a refused REDIS_URL is not
// repeated in the error, for it may hold a password.
func TestRedisConfigHidesPasswords(t *testing.T) {
	t.Setenv("REDIS_URL", "rediss://:hunter2@redis:port")
	_, err := ConfigFromEnv()
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("err %v, want one without the password", err)
	}
	t.Setenv("REDIS_URL", "")
	t.Setenv("NATTER_REDIS_SENTINELS", "s1:26379")
	t.Setenv("NATTER_REDIS_CLUSTER", "c1:7000")
	if _, err := ConfigFromEnv(); err == nil {
		t.Error("both Sentinel and Cluster: no error")
	}
}

// TestRedisEpochAfterFailover checks that the store's epoch changes when
// Sentinel promotes the replica, which may lack the primary's last
// writes, so that presence asks the gateways to announce their
// connections again; and that it stays the same otherwise.
func TestRedisEpochAfterFailover(t *testing.T) {
	ctx := context.Background()
	s := redistest.StartSentinel(t, time.Second)
	rdb := s.Client(t)
	st := NewRedisStore(rdb, testPrefix(t, rdb), 0)
	before, fresh, err := st.Epoch(ctx)
	if err != nil || !fresh {
		t.Fatalf("epoch %q, fresh %v, %v; want one made now", before, fresh, err)
	}
	if again, fresh, err := st.Epoch(ctx); again != before || fresh || err != nil {
		t.Fatalf("epoch %q, fresh %v, %v; want %q again", again, fresh, err, before)
	}
	// The replica has the epoch, so what changes is the server alone.
	wait.Eventually(t, 10*time.Second, func() bool {
		n, err := s.Replica.Client(t).Exists(ctx, st.prefix+"epoch").Result()
		return err == nil && n == 1
	}, "the replica has the epoch")
	s.Primary.Kill()
	var after string
	wait.Succeeds(t, 30*time.Second, func() error {
		var err error
		after, fresh, err = st.Epoch(ctx)
		return err
	})
	if after == before || fresh {
		t.Errorf("epoch after the failover %q (fresh %v), before %q: want another, not fresh", after, fresh, before)
	}
}

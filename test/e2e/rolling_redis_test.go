package e2e

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/natter/natter/kit/wait"
)

// The Redis side of the rolling restart (rolling_restart_test.go): the
// sentinels one at a time, the replica, then the primary, handed over
// first (SENTINEL FAILOVER) so that presence follows the sentinels to a
// live primary rather than waiting out the down-after time.

// redisMaster is the name the sentinels monitor the primary by, as
// cluster.sh sets it (NATTER_REDIS_MASTER).
const redisMaster = "natter"

// sentinelAddrs are the stack's sentinels, host:port.
func sentinelAddrs(s *stack) []string { return strings.Split(s.urls["NATTER_REDIS_SENTINELS"], ",") }

// redisPrimary returns the primary the first answering sentinel names.
func redisPrimary(ctx context.Context, s *stack) (string, error) {
	var err error
	for _, addr := range sentinelAddrs(s) {
		sc := redis.NewSentinelClient(&redis.Options{Addr: addr})
		var got []string
		got, err = sc.GetMasterAddrByName(ctx, redisMaster).Result()
		sc.Close()
		if err == nil && len(got) == 2 {
			return got[0] + ":" + got[1], nil
		}
	}
	return "", fmt.Errorf("no sentinel names the primary: %v", err)
}

// sentinelKnowsAll returns nil once the sentinel at addr knows a replica
// and the other sentinels: before that it could not take part in a
// failover.
func sentinelKnowsAll(ctx context.Context, s *stack, addr string) error {
	sc := redis.NewSentinelClient(&redis.Options{Addr: addr})
	defer sc.Close()
	replicas, err := sc.Replicas(ctx, redisMaster).Result()
	if err != nil {
		return fmt.Errorf("sentinel %s: replicas: %w", addr, err)
	}
	others, err := sc.Sentinels(ctx, redisMaster).Result()
	if err != nil {
		return fmt.Errorf("sentinel %s: sentinels: %w", addr, err)
	}
	if len(replicas) != 1 || len(others) != len(sentinelAddrs(s))-1 {
		return fmt.Errorf("sentinel %s knows %d replicas and %d other sentinels", addr, len(replicas), len(others))
	}
	return nil
}

// replicatingFrom returns nil once the Redis server at addr is a replica
// whose link to the primary is up.
func replicatingFrom(ctx context.Context, addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return fmt.Errorf("redis %s: %w", addr, err)
	}
	if !strings.Contains(info, "role:slave") || !strings.Contains(info, "master_link_status:up") {
		return fmt.Errorf("redis %s is not a replica in sync yet", addr)
	}
	return nil
}

// redisAddr is the address of the stack's Redis server name (redis, the
// primary up started, or redis-replica), "" for any other name.
func redisAddr(s *stack, name string) string {
	port := map[string]string{"redis": "NATTER_CLUSTER_REDIS_PORT=", "redis-replica": "NATTER_CLUSTER_REPLICA_PORT="}[name]
	if port == "" {
		return ""
	}
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, port); ok {
			return "127.0.0.1:" + v
		}
	}
	return ""
}

// beforeRedisRestart hands the primary over when name is it: SENTINEL
// FAILOVER, then until the sentinels name the other server. It says what
// it did, "" when nothing.
func beforeRedisRestart(ctx context.Context, s *stack, name string) (string, error) {
	addr := redisAddr(s, name)
	if addr == "" {
		return "", nil // a sentinel
	}
	primary, err := redisPrimary(ctx, s)
	if err != nil || primary != addr {
		return "", err
	}
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinelAddrs(s)[0]})
	defer sc.Close()
	start := time.Now()
	if err := sc.Failover(ctx, redisMaster).Err(); err != nil {
		return "", fmt.Errorf("SENTINEL FAILOVER: %w", err)
	}
	var now string
	err = wait.Until(ctx, 30*time.Second, func() error {
		got, err := redisPrimary(ctx, s)
		if err == nil && got == addr {
			err = fmt.Errorf("the sentinels still name %s (%s) the primary", name, addr)
		}
		now = got
		return err
	})
	return fmt.Sprintf("the primary %s handed over by SENTINEL FAILOVER: %s named primary %s later",
		addr, now, time.Since(start).Round(time.Millisecond)), err
}

// afterRedisRestart waits until a restarted sentinel knows the others and
// the replica, or a restarted Redis server replicates the primary.
func afterRedisRestart(ctx context.Context, s *stack, name string) error {
	return wait.Until(ctx, 30*time.Second, func() error {
		if strings.HasPrefix(name, "sentinel") {
			i := int(name[len("sentinel")] - '1')
			return sentinelKnowsAll(ctx, s, sentinelAddrs(s)[i])
		}
		return replicatingFrom(ctx, redisAddr(s, name))
	})
}

package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/natter/natter/kit/wait"
)

// TestBackends checks that every backend stores a value and reads it back
// through a fresh client.
func TestBackends(t *testing.T) {
	ctx := context.Background()
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			key := "{redistest}:" + t.Name()
			if err := b.Client(t).Set(ctx, key, "v", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			if got, err := b.Client(t).Get(ctx, key).Result(); err != nil || got != "v" {
				t.Errorf("get %s = %q, %v; want v", key, got, err)
			}
			keys, err := Keys(ctx, b.Client(t), "{redistest}:*")
			if err != nil || len(keys) == 0 {
				t.Errorf("Keys = %v, %v; want %s among them", keys, err, key)
			}
			if err := DeleteKeys(ctx, b.Client(t), key); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSentinelFailover checks that killing the primary gets the replica
// promoted, and that a client through the sentinels writes to it then.
func TestSentinelFailover(t *testing.T) {
	s := StartSentinel(t, time.Second)
	ctx := context.Background()
	rdb := s.Client(t)
	if err := rdb.Set(ctx, "k", "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Primary.Kill()
	wait.Eventually(t, 30*time.Second, func() bool {
		addr, err := s.PrimaryAddr(ctx)
		return err == nil && addr == s.Replica.Addr()
	}, "replica %s promoted", s.Replica.Addr())
	wait.Succeeds(t, 10*time.Second, func() error { return rdb.Set(ctx, "k", "after", 0).Err() })
	if got, err := s.Replica.Client(t).Get(ctx, "k").Result(); err != nil || got != "after" {
		t.Errorf("on the promoted replica k = %q, %v; want after", got, err)
	}
}

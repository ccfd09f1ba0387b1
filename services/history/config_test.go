package history

import (
	"strings"
	"testing"
)

// TestReplicas checks that the replica count reaches the stream and every
// bucket history creates, and that the environment sets it within
// JetStream's bounds.
func TestReplicas(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  string
		want int
		err  bool
	}{
		{name: "unset", env: "", want: 1},
		{name: "one", env: "1", want: 1},
		{name: "three", env: "3", want: 3},
		{name: "five", env: "5", want: 5},
		{name: "six", env: "6", err: true},
		{name: "words", env: "three", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NATTER_JETSTREAM_REPLICAS", tc.env)
			c, err := ConfigFromEnv()
			if tc.err {
				if err == nil || !strings.Contains(err.Error(), "NATTER_JETSTREAM_REPLICAS") {
					t.Fatalf("err %v, want one naming NATTER_JETSTREAM_REPLICAS", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.StreamConfig().Replicas; got != tc.want {
				t.Errorf("stream replicas %d, want %d", got, tc.want)
			}
			buckets := c.BucketConfigs()
			if len(buckets) == 0 {
				t.Fatal("no buckets")
			}
			for _, b := range buckets {
				if b.Replicas != tc.want {
					t.Errorf("bucket %s replicas %d, want %d", b.Bucket, b.Replicas, tc.want)
				}
			}
		})
	}
}

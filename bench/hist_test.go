package bench

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBucketsBoundTheirValues(t *testing.T) {
	vs := []uint64{0, 1, 255, 256, 257, 511, 512, 1000, 65535, 1 << 20, 123456789, 1<<40 - 1}
	for range 10000 {
		vs = append(vs, rand.Uint64N(1<<40))
	}
	for _, v := range vs {
		i := bucketOf(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0, %d)", v, i, histBuckets)
		}
		top := bucketTop(i)
		low := uint64(0)
		if i > 0 {
			low = bucketTop(i-1) + 1
		}
		if v < low || v > top {
			t.Fatalf("%d in bucket %d, which holds [%d, %d]", v, i, low, top)
		}
		if v >= histExact && float64(top-low+1)/float64(low) > 1.0/histSub {
			t.Fatalf("bucket %d [%d, %d] wider than 1/%d of its values", i, low, top, histSub)
		}
	}
	if bucketOf(1<<45) != histBuckets-1 {
		t.Fatalf("a value past the range goes to bucket %d, want the last", bucketOf(1<<45))
	}
}

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.99, 0},
		{"one", []time.Duration{7 * time.Millisecond}, 0.5, 7 * time.Millisecond},
		{"median of 1..10000 µs", spread(10000), 0.5, 5000 * time.Microsecond},
		{"p99 of 1..10000 µs", spread(10000), 0.99, 9900 * time.Microsecond},
		{"p99.9 of 1..10000 µs", spread(10000), 0.999, 9990 * time.Microsecond},
		{"p100 is the max", spread(10000), 1, 10000 * time.Microsecond},
		{"exact below 256 µs", []time.Duration{100 * time.Microsecond, 200 * time.Microsecond}, 0.5, 100 * time.Microsecond},
		{"negative counts as zero", []time.Duration{-time.Second}, 0.5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tc.values {
				h.Record(v)
			}
			got := h.Quantile(tc.q)
			if d := float64(got-tc.want) / float64(max(tc.want, 1)); d < 0 || d > 1.0/histSub {
				t.Fatalf("Quantile(%v) = %v, want %v (at most 1/%d above)", tc.q, got, tc.want, histSub)
			}
			if h.Count() != uint64(len(tc.values)) {
				t.Fatalf("Count = %d, want %d", h.Count(), len(tc.values))
			}
		})
	}
}

func spread(n int) []time.Duration {
	vs := make([]time.Duration, n)
	for i := range vs {
		vs[i] = time.Duration(i+1) * time.Microsecond
	}
	rand.Shuffle(n, func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
	return vs
}

func TestHistogramMergeAndReset(t *testing.T) {
	var a, b, sum Histogram
	for i := 1; i <= 100; i++ {
		a.Record(time.Duration(i) * time.Millisecond)
		b.Record(time.Duration(100+i) * time.Millisecond)
	}
	sum.Merge(&a)
	sum.Merge(&b)
	if sum.Count() != 200 || sum.Max() != 200*time.Millisecond {
		t.Fatalf("merged: %d values, max %v; want 200, 200ms", sum.Count(), sum.Max())
	}
	if got := sum.Quantile(0.5); got < 100*time.Millisecond || got > 101*time.Millisecond {
		t.Fatalf("merged median %v, want 100ms", got)
	}
	sum.Reset()
	if sum.Count() != 0 || sum.Max() != 0 || sum.Quantile(0.5) != 0 {
		t.Fatalf("after Reset: %d values, max %v", sum.Count(), sum.Max())
	}
}

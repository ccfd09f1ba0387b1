package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/proto"
)

// BenchmarkJoin measures presence's join handler against Redis: one op is
// a new user joining a room that holds size others (and leaving it again,
// untimed, so that the room keeps its size). It also reports redis-µs/join:
// the time Redis's one thread spent in the join's script, read from INFO
// commandstats (untimed) around each join; other clients' scripts on the
// same Redis count too, so measure against a Redis of your own:
//
//	redis-server --port 6391 --save '' &
//	cd services/presence && REDIS_URL=redis://127.0.0.1:6391 go test -run '^$' -bench Join -benchmem -benchtime 2000x
func BenchmarkJoin(b *testing.B) {
	for _, size := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("room=%d", size), func(b *testing.B) {
			rdb, store, s := benchService(b)
			ctx := context.Background()
			fill(b, store, "bench", size)
			var scriptUsec int64
			b.ResetTimer()
			for i := range b.N {
				c := proto.ConnRef{Gateway: "gw", Conn: fmt.Sprint("j", i)}
				req, _ := json.Marshal(proto.PresenceJoin{ConnRef: c, Username: fmt.Sprint("joiner", i), Room: "bench"})
				b.StopTimer()
				before, _ := evalStats(b, rdb)
				b.StartTimer()
				if r := s.join(ctx, req).(proto.PresenceJoinReply); r.Error != nil {
					b.Fatal(r.Error)
				}
				b.StopTimer()
				after, _ := evalStats(b, rdb)
				scriptUsec += after - before
				req, _ = json.Marshal(proto.PresenceLeave{ConnRef: c, Deliberate: true})
				s.leave(ctx, req)
				b.StartTimer()
			}
			b.ReportMetric(float64(scriptUsec)/float64(b.N), "redis-µs/join")
		})
	}
}

// evalStats returns the microseconds Redis has spent in scripts (EVALSHA
// and EVAL), and how many it ran, since its statistics were last reset.
func evalStats(tb testing.TB, rdb redis.UniversalClient) (usec, calls int64) {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if !strings.HasPrefix(line, "cmdstat_evalsha:") && !strings.HasPrefix(line, "cmdstat_eval:") {
			continue
		}
		for field := range strings.SplitSeq(strings.TrimSpace(line[strings.IndexByte(line, ':')+1:]), ",") {
			if v, ok := strings.CutPrefix(field, "usec="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				usec += n
			}
			if v, ok := strings.CutPrefix(field, "calls="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				calls += n
			}
		}
	}
	return usec, calls
}

// fill puts n users in room, many joins at a time.
func fill(tb testing.TB, s Store, room string, n int) {
	tb.Helper()
	const par = 32
	errc := make(chan error, par)
	for w := range par {
		go func() {
			for i := w; i < n; i += par {
				_, err := s.Join(context.Background(), JoinParams{
					Conn: proto.ConnRef{Gateway: "gw", Conn: fmt.Sprint(room, "-f", i)}, Username: fmt.Sprint(room, "m", i),
					Room: room, NewToken: fmt.Sprint(room, "-t", i),
				})
				if err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range par {
		if err := <-errc; err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkReap measures reaping 10,000 lingering connections in 100 rooms
// of 100 whose grace ends together: one op is the reap and its 10,000
// leave notices published. It reports redis-µs/script, the mean time of
// one reap script (see BenchmarkJoin for where to measure it).
//
//	cd services/presence && go test -run '^$' -bench Reap -benchtime 1x
func BenchmarkReap(b *testing.B) {
	rdb, store, s := benchService(b)
	ctx := context.Background()
	var scriptUsec, scripts int64
	for range b.N {
		b.StopTimer()
		for r := range 100 {
			fill(b, store, fmt.Sprintf("r%d", r), 100)
		}
		if _, err := store.DropGateway(ctx, "gw", time.Millisecond); err != nil {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // the grace, by Redis's clock
		usec, calls := evalStats(b, rdb)
		b.StartTimer()
		s.reap(ctx)
		if err := s.nc.Flush(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		u, c := evalStats(b, rdb)
		scriptUsec, scripts = scriptUsec+u-usec, scripts+c-calls
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(scriptUsec)/float64(max(scripts, 1)), "redis-µs/script")
	if rooms, err := store.Rooms(ctx); err != nil || len(rooms) != 0 {
		b.Fatalf("after the reap: %v, %v", rooms, err)
	}
}

// benchService returns a service, not run, over a Redis store of its own
// prefix, and that store's Redis.
func benchService(b *testing.B) (redis.UniversalClient, *RedisStore, *Service) {
	b.Helper()
	rdb := redisClient(b)
	store := NewRedisStore(rdb, testPrefix(b, rdb), time.Hour)
	ns := natstest.Run(b)
	nc := natstest.Connect(b, ns.ClientURL())
	return rdb, store, New(Config{}, nc, store, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
}

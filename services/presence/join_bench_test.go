package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/proto"
)

// BenchmarkJoin measures presence's join handler against Redis: one op is
// a new user joining a room that holds size others (and leaving it again,
// untimed, so that the room keeps its size).
//
//	cd services/presence && go test -run '^$' -bench Join -benchmem -benchtime 2000x
func BenchmarkJoin(b *testing.B) {
	for _, size := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("room=%d", size), func(b *testing.B) {
			rdb := redisClient(b)
			store := NewRedisStore(rdb, testPrefix(b, rdb), time.Hour)
			ns := natstest.Run(b)
			nc := natstest.Connect(b, ns.ClientURL())
			s := New(Config{}, nc, store, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
			ctx := context.Background()
			fill(b, store, "bench", size)
			b.ResetTimer()
			for i := range b.N {
				c := proto.ConnRef{Gateway: "gw", Conn: fmt.Sprint("j", i)}
				req, _ := json.Marshal(proto.PresenceJoin{ConnRef: c, Username: fmt.Sprint("joiner", i), Room: "bench"})
				if r := s.join(ctx, req).(proto.PresenceJoinReply); r.Error != nil {
					b.Fatal(r.Error)
				}
				b.StopTimer()
				req, _ = json.Marshal(proto.PresenceLeave{ConnRef: c, Deliberate: true})
				s.leave(ctx, req)
				b.StartTimer()
			}
		})
	}
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
// leave notices published.
//
//	cd services/presence && go test -run '^$' -bench Reap -benchtime 1x
func BenchmarkReap(b *testing.B) {
	rdb := redisClient(b)
	store := NewRedisStore(rdb, testPrefix(b, rdb), time.Hour)
	ns := natstest.Run(b)
	nc := natstest.Connect(b, ns.ClientURL())
	s := New(Config{}, nc, store, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		for r := range 100 {
			fill(b, store, fmt.Sprintf("r%d", r), 100)
		}
		if _, err := store.DropGateway(ctx, "gw", time.Millisecond); err != nil {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // the grace, by Redis's clock
		b.StartTimer()
		s.reap(ctx)
		if err := nc.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if rooms, err := store.Rooms(ctx); err != nil || len(rooms) != 0 {
		b.Fatalf("after the reap: %v, %v", rooms, err)
	}
}

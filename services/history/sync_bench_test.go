package history_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/history"
)

// BenchmarkPublishSync measures what JetStream's sync_interval costs a
// message: the latency of a publish acked by the messages stream (as
// history.Config{}.StreamConfig() makes it: file storage, deduplication,
// republish), and the throughput, for each setting, with one publisher and
// with 32 at once over 4 connections (four gateways' worth). The store is
// in a temporary folder, so on the disk that holds it.
//
//	go test -run '^$' -bench PublishSync -benchtime 3000x -count 3 ./services/history
func BenchmarkPublishSync(b *testing.B) {
	settings := []struct {
		name string
		opts server.Options
	}{
		{"interval=2m", server.Options{}}, // the server's default
		{"interval=1s", server.Options{SyncInterval: time.Second}},
		{"always", server.Options{SyncAlways: true}},
	}
	for _, s := range settings {
		for _, publishers := range []int{1, 32} {
			b.Run(fmt.Sprintf("%s/publishers=%d", s.name, publishers), func(b *testing.B) {
				opts := s.opts
				opts.StoreDir = b.TempDir()
				benchPublish(b, &opts, publishers)
			})
		}
	}
}

func benchPublish(b *testing.B, opts *server.Options, publishers int) {
	ns := natstest.RunWith(b, opts)
	const conns = 4
	var js []jetstream.JetStream
	for range min(conns, publishers) {
		j, err := jetstream.New(natstest.Connect(b, ns.ClientURL()))
		if err != nil {
			b.Fatal(err)
		}
		js = append(js, j)
	}
	ctx := context.Background()
	if _, err := js[0].CreateStream(ctx, history.Config{}.StreamConfig()); err != nil {
		b.Fatal(err)
	}
	// A typical message, in 100 rooms.
	const rooms = 100
	var subjects [rooms]string
	for i := range subjects {
		subjects[i] = proto.RoomMsgSubject("room " + strconv.Itoa(i))
	}
	data, _ := json.Marshal(proto.Message{
		ID: "01JBQ3ZK8W6Y0R5T2M4N7P9Q1S", Room: "room 1", Username: "벤치", Color: "#e6194b",
		Message: "Hello, everyone: a chat message of about the usual length. 안녕하세요!", TS: time.Now().UnixMilli(),
	})

	lat := make([][]time.Duration, publishers)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for p := range publishers {
		wg.Go(func() {
			j := js[p%len(js)]
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t := time.Now()
				_, err := j.Publish(ctx, subjects[i%rooms], data, jetstream.WithMsgID("bench-"+strconv.FormatInt(i, 10)))
				if err != nil {
					b.Error(err)
					return
				}
				lat[p] = append(lat[p], time.Since(t))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	all := slices.Concat(lat...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	at := func(q float64) float64 { return float64(all[int(q*float64(len(all)-1))].Microseconds()) }
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "msgs/s")
}

// BenchmarkPublishAtomicBatch measures JetStream's atomic batch publish
// (nats-server 2.12 and later, the stream's AllowAtomicPublish), which
// stores a whole batch with one fsync under sync_interval always: one
// publisher, one batch at a time, of 1 (a plain publish) to 64 messages,
// each with its Nats-Msg-Id, to the messages stream as history makes it.
// What it answers: from how many messages a batch would a gateway's group
// commit beat the plain publishes that BenchmarkPublishSync measures.
//
//	go test -run '^$' -bench PublishAtomicBatch -benchtime 2s -count 2 ./services/history
func BenchmarkPublishAtomicBatch(b *testing.B) {
	for _, size := range []int{1, 2, 4, 8, 16, 32, 64} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			ns := natstest.RunWith(b, &server.Options{SyncAlways: true, StoreDir: b.TempDir()})
			nc := natstest.Connect(b, ns.ClientURL())
			js, err := jetstream.New(nc)
			if err != nil {
				b.Fatal(err)
			}
			cfg := history.Config{}.StreamConfig()
			cfg.AllowAtomicPublish = true
			if _, err := js.CreateStream(context.Background(), cfg); err != nil {
				b.Fatal(err)
			}
			data, _ := json.Marshal(proto.Message{
				ID: "01JBQ3ZK8W6Y0R5T2M4N7P9Q1S", Room: "room 1", Username: "벤치", Color: "#e6194b",
				Message: "Hello, everyone: a chat message of about the usual length. 안녕하세요!", TS: time.Now().UnixMilli(),
			})
			b.ResetTimer()
			start := time.Now()
			for n, batch := 0, 0; n < b.N; batch++ {
				k := min(size, b.N-n)
				for i := 1; i <= k; i++ {
					m := nats.NewMsg(proto.RoomMsgSubject("room " + strconv.Itoa((n+i)%100)))
					m.Data = data
					m.Header.Set(nats.MsgIdHdr, "bench-"+strconv.Itoa(n+i))
					if k > 1 {
						m.Header.Set("Nats-Batch-Id", "batch-"+strconv.Itoa(batch))
						m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i))
					}
					if i < k { // only the commit is answered
						if err := nc.PublishMsg(m); err != nil {
							b.Fatal(err)
						}
						continue
					}
					if k > 1 {
						m.Header.Set("Nats-Batch-Commit", "1")
					}
					reply, err := nc.RequestMsg(m, 5*time.Second)
					if err != nil {
						b.Fatal(err)
					}
					var ack struct {
						Error *struct {
							Description string `json:"description"`
						} `json:"error"`
					}
					if err := json.Unmarshal(reply.Data, &ack); err != nil || ack.Error != nil {
						b.Fatalf("batch %d: %s", batch, reply.Data)
					}
				}
				n += k
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

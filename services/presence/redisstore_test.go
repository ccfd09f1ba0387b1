package presence

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/natter/natter/kit/redistest"
	"github.com/natter/natter/proto"
)

// redisClockSlack is how much later than its TTL says Redis may still
// hold a key: it checks expiry against a clock it caches in milliseconds,
// so a key can live a millisecond or two past its time (seen: PTTL 0 after
// waiting the whole TTL out).
const redisClockSlack = 10 * time.Millisecond

// TestRedisStore runs the contract of Store, and the RedisStore's own
// tests, against each Redis deployment natter supports: a single server,
// Sentinel's primary and a Cluster.
func TestRedisStore(t *testing.T) {
	for _, b := range redistest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			b.Client(t) // without Redis, skip or fail once rather than in every subtest
			t.Run("contract", func(t *testing.T) {
				testStore(t, func(t *testing.T, ttl time.Duration) (Store, func(time.Duration)) {
					rdb := b.Client(t)
					return NewRedisStore(rdb, testPrefix(t, rdb), ttl), func(d time.Duration) { time.Sleep(d + redisClockSlack) }
				})
			})
			t.Run("replicas", func(t *testing.T) { testRedisReplicas(t, b.Client) })
			t.Run("reap batches", func(t *testing.T) { testRedisReapBatches(t, b.Client(t)) })
			t.Run("keys", func(t *testing.T) { testRedisKeys(t, b.Client(t)) })
			t.Run("colour asked for", func(t *testing.T) {
				rdb := b.Client(t)
				testColourAskedFor(t, NewRedisStore(rdb, testPrefix(t, rdb), 0))
			})
		})
	}
}

// testRedisReplicas races two stores on separate connections that share
// one prefix, as two presence replicas do.
func testRedisReplicas(t *testing.T, client func(testing.TB) redis.UniversalClient) {
	replicas := func(t *testing.T) []Store {
		rdb1, rdb2 := client(t), client(t)
		prefix := testPrefix(t, rdb1)
		return []Store{NewRedisStore(rdb1, prefix, time.Hour), NewRedisStore(rdb2, prefix, time.Hour)}
	}
	t.Run("same new name", func(t *testing.T) { testNameRace(t, replicas(t)) })
	t.Run("distinct users", func(t *testing.T) { testUsersRace(t, replicas(t)) })
	t.Run("reap", func(t *testing.T) { testReapRace(t, replicas(t), time.Sleep) })
	t.Run("rename to one name", func(t *testing.T) { testRenameRace(t, replicas(t)) })
	t.Run("rename and join", func(t *testing.T) { testRenameJoinRace(t, replicas(t)) })
}

// testRedisReapBatches checks that one Reap removes more lingering
// connections than one script does.
func testRedisReapBatches(t *testing.T, rdb redis.UniversalClient) {
	s := NewRedisStore(rdb, testPrefix(t, rdb), time.Hour)
	const users = reapBatch + reapBatch/2
	for u := range users {
		c := conn(fmt.Sprint("u", u))
		join(t, s, JoinParams{Conn: c, Username: fmt.Sprint("user", u), Room: "lobby", NewToken: fmt.Sprint("t", u)})
		lingering(t, s, c, time.Millisecond)
	}
	time.Sleep(2 * time.Millisecond)
	if got := reap(t, s); len(got) != users {
		t.Errorf("Reap returned %d leaves, want %d", len(got), users)
	}
	if got := rooms(t, s); len(got) != 0 {
		t.Errorf("Rooms = %v, want none", got)
	}
}

// testRedisKeys checks the key layout: user-chosen strings only encoded,
// every key in one slot, nothing expiring while its session is online,
// and once the session is offline nothing left of it but the session
// itself, which expires.
func testRedisKeys(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	s := NewRedisStore(rdb, testPrefix(t, rdb), time.Hour)
	prefix := s.prefix
	c1, c2 := proto.ConnRef{Gateway: "g:1", Conn: "x"}, proto.ConnRef{Gateway: "g", Conn: "1:x"}
	join(t, s, JoinParams{Conn: c1, Username: "김철수", Room: "a:b", NewToken: "tok:1"})
	join(t, s, JoinParams{Conn: c2, Room: "로비", Token: "tok:1"})
	lingering(t, s, c1, time.Hour)

	b64 := `[A-Za-z0-9_-]+`
	layout := map[string]*regexp.Regexp{
		"sess":     regexp.MustCompile(`^sess:` + b64 + `$`),
		"name":     regexp.MustCompile(`^name:` + b64 + `$`),
		"conns":    regexp.MustCompile(`^conns:` + b64 + `$`),
		"conn":     regexp.MustCompile(`^conn:` + b64 + `:` + b64 + `$`),
		"names":    regexp.MustCompile(`^names:` + b64 + `$`),
		"colors":   regexp.MustCompile(`^colors$`),
		"rooms":    regexp.MustCompile(`^rooms$`),
		"linger":   regexp.MustCompile(`^linger$`),
		"gw":       regexp.MustCompile(`^gw:` + b64 + `$`),
		"gateways": regexp.MustCompile(`^gateways$`),
		"closed":   regexp.MustCompile(`^closed:` + b64 + `:` + b64 + `$`),
		"last":     regexp.MustCompile(`^last:` + b64 + `$`),
	}
	// keysByKind checks every key against the layout, and returns them by
	// kind, with their time to live.
	keysByKind := func() map[string]map[string]time.Duration {
		t.Helper()
		keys, err := redistest.Keys(ctx, rdb, prefix+"*")
		if err != nil {
			t.Fatal(err)
		}
		sameSlot(t, rdb, keys)
		out := map[string]map[string]time.Duration{}
		for _, key := range keys {
			rest := strings.TrimPrefix(key, prefix)
			kind, _, _ := strings.Cut(rest, ":")
			if re := layout[kind]; re == nil || !re.MatchString(rest) {
				t.Errorf("key %q is not in the layout", key)
				continue
			}
			ttl, err := rdb.PTTL(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			if out[kind] == nil {
				out[kind] = map[string]time.Duration{}
			}
			out[kind][key] = ttl
		}
		return out
	}
	count := func(byKind map[string]map[string]time.Duration) map[string]int {
		out := map[string]int{}
		for kind, keys := range byKind {
			out[kind] = len(keys)
		}
		return out
	}

	live := keysByKind()
	for kind, keys := range live {
		for key, ttl := range keys {
			if kind == "closed" {
				// The lingering connection's mark, for closedFor.
				if ttl <= 0 || ttl > closedFor {
					t.Errorf("key %q expires in %v, want within %v", key, ttl, closedFor)
				}
				continue
			}
			if ttl >= 0 {
				t.Errorf("key %q expires in %v while its session is online", key, ttl)
			}
		}
	}
	want := map[string]int{"sess": 1, "name": 1, "conns": 1, "conn": 2, "names": 2, "colors": 1, "rooms": 1, "linger": 1, "gw": 2, "gateways": 1, "closed": 1}
	if got := count(live); !maps.Equal(got, want) {
		t.Errorf("keys by kind %v, want %v", got, want)
	}
	for key := range live["names"] {
		entries, err := rdb.ZRange(ctx, key, 0, -1).Result()
		if want := []string{proto.NameKey("김철수") + "\x00김철수\x00" + Palette[0]}; err != nil || !slices.Equal(entries, want) {
			t.Errorf("key %q holds %q, %v; want %q", key, entries, err, want)
		}
	}
	setOf := func(key string, want ...string) {
		t.Helper()
		got, err := rdb.SMembers(ctx, prefix+key).Result()
		slices.Sort(got)
		slices.Sort(want)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("key %q holds %q, %v; want %q", key, got, err, want)
		}
	}
	setOf("rooms", encode("a:b"), encode("로비"))
	setOf("gateways", encode("g:1"), encode("g"))
	if got, err := rdb.ZRange(ctx, prefix+"linger", 0, -1).Result(); err != nil || !slices.Equal(got, []string{connField(c1)}) {
		t.Errorf("linger holds %q, %v; want %q", got, err, connField(c1))
	}
	if got, err := rdb.HGetAll(ctx, prefix+"colors").Result(); err != nil || !maps.Equal(got, map[string]string{Palette[0]: "1"}) {
		t.Errorf("colors holds %v, %v; want one session of %s", got, err, Palette[0])
	}

	// The scripts are loaded again when Redis has forgotten them.
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if got := leave(t, s, c2); got.Room != "로비" || !got.Left {
		t.Errorf("Leave after SCRIPT FLUSH = %+v, want left 로비", got)
	}
	leave(t, s, c1)
	offline := keysByKind()
	// Both connections were reported closed: marked for a while.
	if got, want := count(offline), map[string]int{"sess": 1, "last": 1, "colors": 1, "closed": 2}; !maps.Equal(got, want) {
		t.Errorf("offline: keys by kind %v, want %v", got, want)
	}
	// The session, and the note that it held its name last (for Lookup),
	// expire together.
	for key, ttl := range joinMaps(offline["sess"], offline["last"]) {
		if ttl < 59*time.Minute || ttl > time.Hour {
			t.Errorf("offline: key %q expires in %v, want about an hour", key, ttl)
		}
	}
	if n := online(t, s); n != 0 {
		t.Errorf("Online = %d, want 0", n)
	}
	// An ended session leaves nothing.
	join(t, s, JoinParams{Conn: c1, Room: "a:b", Token: "tok:1"})
	if _, err := s.EndSession(ctx, "tok:1"); err != nil {
		t.Fatal(err)
	}
	// c2's mark stays its while; c1, joined again, is marked by the end.
	if got, want := count(keysByKind()), map[string]int{"colors": 1, "closed": 2}; !maps.Equal(got, want) {
		t.Errorf("ended: keys by kind %v, want %v", got, want)
	}
}

// redisClient connects to REDIS_URL (default redis://127.0.0.1:6379). With
// no Redis there the test is skipped, except under CI=true, where it fails.
func redisClient(tb testing.TB) redis.UniversalClient { return redistest.Single(tb) }

// testPrefix returns a key prefix of the test's own, whose keys are
// deleted when the test ends.
func testPrefix(tb testing.TB, rdb redis.UniversalClient) string {
	tb.Helper()
	prefix := "test:" + rand.Text() + ":"
	tb.Cleanup(func() {
		if err := redistest.DeleteKeys(context.Background(), rdb, keyPrefix(prefix)+"*"); err != nil {
			tb.Error(err)
		}
	})
	return prefix
}

// sameSlot fails tb unless every key hashes to one slot of a Cluster;
// off a Cluster it checks nothing.
func sameSlot(tb testing.TB, rdb redis.UniversalClient, keys []string) {
	tb.Helper()
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok || len(keys) == 0 {
		return
	}
	ctx := context.Background()
	first, err := cc.ClusterKeySlot(ctx, keys[0]).Result()
	if err != nil {
		tb.Fatal(err)
	}
	for _, k := range keys[1:] {
		if slot, err := cc.ClusterKeySlot(ctx, k).Result(); err != nil || slot != first {
			tb.Errorf("key %q is in slot %d (%v), %q in %d", k, slot, err, keys[0], first)
		}
	}
}

// TestKeyPrefix checks that every key of a store has one hash tag, the
// prefix's own or one made of it.
func TestKeyPrefix(t *testing.T) {
	for _, tc := range []struct{ prefix, want string }{
		{"natter:", "{natter:v3}:"},
		{"", "{v3}:"},
		{"{chat}:", "{chat}:v3:"},
		{"app:{chat}:", "app:{chat}:v3:"},
		{"{}:", "{:v3}:"},
		{"a}b{", "{abv3}:"},
	} {
		got := keyPrefix(tc.prefix)
		if got != tc.want {
			t.Errorf("keyPrefix(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
		if hashTag(got+"sess:x") == "" {
			t.Errorf("keyPrefix(%q) = %q has no hash tag", tc.prefix, got)
		}
	}
}

// joinMaps returns one map of the entries of a and b.
func joinMaps[K comparable, V any](a, b map[K]V) map[K]V {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

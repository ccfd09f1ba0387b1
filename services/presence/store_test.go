package presence

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/natter/natter/proto"
)

// openStore opens an empty store for one test. Its sessions live ttl;
// elapse lets d pass for them: a fake clock jumps, a real one is waited
// out (with redisClockSlack more for Redis).
type openStore func(t *testing.T, ttl time.Duration) (s Store, elapse func(d time.Duration))

func TestMemoryStore(t *testing.T) {
	testStore(t, func(t *testing.T, ttl time.Duration) (Store, func(time.Duration)) {
		clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		return NewMemoryStore(ttl, clock.Now), clock.Add
	})
}

// testStore is the contract of Store: every implementation passes it.
func testStore(t *testing.T, open openStore) {
	ctx := context.Background()
	const hour = time.Hour

	t.Run("new session", func(t *testing.T) {
		s, _ := open(t, hour)
		res := join(t, s, JoinParams{Conn: conn("c1"), Username: "Alice", Room: "lobby", NewToken: "t1"})
		want := JoinResult{
			Session: Session{Token: "t1", Username: "Alice", Key: proto.NameKey("alice"), Color: Palette[0]},
			Members: []proto.Member{{Username: "Alice", Color: Palette[0]}},
			Joined:  true,
		}
		if !equalJoin(res, want) {
			t.Fatalf("Join = %+v, want %+v", res, want)
		}
		got, online, err := s.Lookup(ctx, proto.NameKey("alice"))
		if err != nil || !online || got != want.Session {
			t.Fatalf("Lookup = %+v, %v, %v; want %+v, online", got, online, err, want.Session)
		}
	})

	t.Run("resume", func(t *testing.T) {
		tests := []struct {
			name     string
			username string
			online   bool // the session still has a connection
		}{
			{"same name", "Alice", false},
			{"empty name", "", false},
			{"same name key", "ALICE", false},
			{"fullwidth", "Ａｌｉｃｅ", false},
			{"second tab", "", true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s, _ := open(t, hour)
				first := join(t, s, JoinParams{Conn: conn("c1"), Username: "Alice", Room: "lobby", NewToken: "t1"})
				if !tc.online {
					leave(t, s, conn("c1"))
				}
				res := join(t, s, JoinParams{Conn: conn("c2"), Username: tc.username, Room: "lobby", Token: "t1", NewToken: "t2"})
				if res.Session != first.Session {
					t.Errorf("Session = %+v, want %+v", res.Session, first.Session)
				}
				if res.Joined == tc.online {
					t.Errorf("Joined = %v, want %v", res.Joined, !tc.online)
				}
				if got := usernames(res.Members); !slices.Equal(got, []string{"Alice"}) {
					t.Errorf("Members = %v, want [Alice]", got)
				}
			})
		}
	})

	t.Run("token with another name opens a new session", func(t *testing.T) {
		s, _ := open(t, hour)
		alice := join(t, s, JoinParams{Conn: conn("c1"), Username: "Alice", Room: "lobby", NewToken: "t1"})
		res := join(t, s, JoinParams{Conn: conn("c2"), Username: "Bob", Room: "lobby", Token: "t1", NewToken: "t2"})
		if res.Session.Token != "t2" || res.Session.Username != "Bob" || res.Session.Color != Palette[1] {
			t.Errorf("Session = %+v, want Bob with t2 and %s", res.Session, Palette[1])
		}
		if got := usernames(res.Members); !slices.Equal(got, []string{"Alice", "Bob"}) {
			t.Errorf("Members = %v, want [Alice Bob]", got)
		}
		got, online, err := s.Lookup(ctx, proto.NameKey("alice"))
		if err != nil || !online || got != alice.Session {
			t.Errorf("Lookup(alice) = %+v, %v, %v; want her session, online", got, online, err)
		}
	})

	t.Run("name taken", func(t *testing.T) {
		hangul := "한글"
		tests := []struct {
			name   string
			holder string // joins first, and stays
			try    string
			token  string // what the second join presents
		}{
			{"lower case", "Alice", "alice", ""},
			{"upper case", "alice", "ALICE", ""},
			{"fullwidth", "Alice", "ａｌｉｃｅ", ""},
			{"unknown token", "Alice", "alice", "nope"},
			{"another session's token", "Alice", "alice", "bob"},
			{"hangul decomposed", norm.NFC.String(hangul), norm.NFD.String(hangul), ""},
			// Look-alikes (proto.NameKey's confusable skeletons).
			{"capital I for l", "alice", "aIice", ""},
			{"dental click for l", "alice", "a\u01c0ice", ""},
			{"small capital C", "alice", "ali\u1d04e", ""},
			{"dot below", "alice", "alic\u0323e", ""},
			{"doubled space", "alice b", "alice  b", ""},
			{"all Cyrillic", "papa", "\u0440\u0430\u0440\u0430", ""},
			{"Greek capitals", "NINA", "\u039d\u0399\u039d\u0391", ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s, _ := open(t, hour)
				join(t, s, JoinParams{Conn: conn("b"), Username: "Bob", Room: "hall", NewToken: "bob"})
				join(t, s, JoinParams{Conn: conn("c1"), Username: tc.holder, Room: "lobby", NewToken: "t1"})
				_, err := s.Join(ctx, JoinParams{Conn: conn("c2"), Username: tc.try, Room: "lobby", Token: tc.token, NewToken: "t2"})
				if !errors.Is(err, proto.ErrNameTaken) {
					t.Fatalf("Join(%q) = %v, want ErrNameTaken", tc.try, err)
				}
				// A refused join changes nothing.
				if _, err := s.Leave(ctx, conn("c2")); !errors.Is(err, ErrUnknownConn) {
					t.Errorf("Leave(refused conn) = %v, want ErrUnknownConn", err)
				}
				if got := roomNames(t, s, "lobby"); !slices.Equal(got, []string{tc.holder}) {
					t.Errorf("Members(lobby) = %v, want [%s]", got, tc.holder)
				}
				if got := roomNames(t, s, "hall"); !slices.Equal(got, []string{"Bob"}) {
					t.Errorf("Members(hall) = %v, want [Bob]", got)
				}
			})
		}
	})

	t.Run("no name and no live token", func(t *testing.T) {
		s, _ := open(t, hour)
		for _, token := range []string{"", "nope"} {
			_, err := s.Join(ctx, JoinParams{Conn: conn("c1"), Room: "lobby", Token: token, NewToken: "t1"})
			if !errors.Is(err, ErrNoSession) {
				t.Errorf("Join(token %q, no name) = %v, want ErrNoSession", token, err)
			}
		}
	})

	t.Run("a connected session outlives the time to live", func(t *testing.T) {
		const ttl = 200 * time.Millisecond
		s, elapse := open(t, ttl)
		alice := join(t, s, JoinParams{Conn: conn("c1"), Username: "Alice", Room: "lobby", NewToken: "t1"})
		join(t, s, JoinParams{Conn: conn("c2"), Room: "hall", Token: "t1"})
		lingering(t, s, conn("c2"), time.Hour)
		// Polled for a while: an expiry would show within it.
		for range 5 {
			elapse(ttl)
			if got := roomNames(t, s, "lobby"); !slices.Equal(got, []string{"Alice"}) {
				t.Fatalf("Members(lobby) = %v, want [Alice]", got)
			}
			if got := roomNames(t, s, "hall"); !slices.Equal(got, []string{"Alice"}) {
				t.Fatalf("Members(hall) = %v, want [Alice]: a lingering connection keeps her", got)
			}
			if got, on, err := s.Lookup(ctx, proto.NameKey("alice")); err != nil || !on || got != alice.Session {
				t.Fatalf("Lookup(alice) = %+v, %v, %v; want her session, online", got, on, err)
			}
			if _, err := s.Join(ctx, JoinParams{Conn: conn("x"), Username: "ALICE", Room: "lobby", NewToken: "tx"}); !errors.Is(err, proto.ErrNameTaken) {
				t.Fatalf("Join(ALICE) by another = %v, want ErrNameTaken", err)
			}
			if got := online(t, s); got != 1 {
				t.Fatalf("Online = %d, want 1", got)
			}
		}
		if res := join(t, s, JoinParams{Conn: conn("c3"), Room: "lobby", Token: "t1"}); res.Session != alice.Session || res.Joined {
			t.Errorf("another tab = %+v, want her session, not joined again", res)
		}
		if res := leave(t, s, conn("c1")); res.Left {
			t.Errorf("Leave(c1) = %+v, want not left: c3 stays", res)
		}
		if res := leave(t, s, conn("c3")); !res.Left || res.Session != alice.Session {
			t.Errorf("Leave(c3) = %+v, want Alice left", res)
		}
	})

	t.Run("a name is free once its session is offline", func(t *testing.T) {
		const grace = 300 * time.Millisecond
		s, elapse := open(t, hour)
		join(t, s, JoinParams{Conn: conn("z"), Username: "Zed", Room: "lobby", NewToken: "tz"})
		alice := join(t, s, JoinParams{Conn: conn("a"), Username: "Alice", Room: "lobby", NewToken: "ta"}).Session
		if alice.Color != Palette[1] {
			t.Fatalf("Alice's colour %s, want %s", alice.Color, Palette[1])
		}
		leave(t, s, conn("a"))
		// Nobody holds the name; Lookup finds her, offline, as the last
		// to hold it (a whisper to the name waits for her).
		if got, on, err := s.Lookup(ctx, proto.NameKey("alice")); err != nil || on || got != alice {
			t.Errorf("Lookup(alice) offline = %+v, %v, %v; want her session, offline", got, on, err)
		}
		// Another user takes the name at once.
		other := join(t, s, JoinParams{Conn: conn("o"), Username: "ALICE", Room: "lobby", NewToken: "to"})
		if other.Session.Token != "to" || !other.Joined {
			t.Fatalf("Join(ALICE) = %+v, want a new session to", other)
		}
		// The name is theirs now: Lookup never finds Alice again.
		if got, on, err := s.Lookup(ctx, proto.NameKey("alice")); err != nil || !on || got != other.Session {
			t.Errorf("Lookup(alice) = %+v, %v, %v; want ALICE's session, online", got, on, err)
		}
		// Alice's token cannot take it back while it is held, with or
		// without the name; a refused join changes nothing.
		for _, name := range []string{"", "Alice"} {
			if _, err := s.Join(ctx, JoinParams{Conn: conn("a2"), Username: name, Room: "lobby", Token: "ta", NewToken: "t2"}); !errors.Is(err, proto.ErrNameTaken) {
				t.Errorf("Join(token ta, %q) while ALICE holds the name = %v, want ErrNameTaken", name, err)
			}
		}
		if got := roomNames(t, s, "lobby"); !slices.Equal(got, []string{"ALICE", "Zed"}) {
			t.Errorf("Members = %v, want [ALICE Zed]", got)
		}
		// With another name, the token opens a new session.
		if res := join(t, s, JoinParams{Conn: conn("a2"), Username: "Alicia", Room: "lobby", Token: "ta", NewToken: "t2"}); res.Session.Token != "t2" {
			t.Errorf("Join(token ta, Alicia) = %+v, want a new session t2", res.Session)
		}
		leave(t, s, conn("a2"))

		// The other user loses the transport: the name stays held while
		// the connection lingers, and is free once it is reaped.
		lingering(t, s, conn("o"), grace)
		if _, err := s.Join(ctx, JoinParams{Conn: conn("a3"), Room: "lobby", Token: "ta"}); !errors.Is(err, proto.ErrNameTaken) {
			t.Errorf("Join(token ta) while ALICE lingers = %v, want ErrNameTaken", err)
		}
		elapse(grace)
		if got, want := leaves(reap(t, s)), []string{"ALICE left lobby"}; !slices.Equal(got, want) {
			t.Errorf("Reap = %v, want %v", got, want)
		}
		// Carol takes the least used colour, which was Alice's; Alice,
		// back, keeps hers all the same.
		if c := join(t, s, JoinParams{Conn: conn("c"), Username: "Carol", Room: "lobby", NewToken: "tc"}); c.Session.Color != Palette[1] {
			t.Errorf("Carol's colour %s, want %s", c.Session.Color, Palette[1])
		}
		res := join(t, s, JoinParams{Conn: conn("a3"), Room: "lobby", Token: "ta"})
		if res.Session != alice || !res.Joined {
			t.Errorf("Alice resumes = %+v, want %+v, joined", res, alice)
		}
		if got, on, err := s.Lookup(ctx, proto.NameKey("alice")); err != nil || !on || got != alice {
			t.Errorf("Lookup(alice) = %+v, %v, %v; want her session, online", got, on, err)
		}
		if _, err := s.Join(ctx, JoinParams{Conn: conn("o"), Room: "lobby", Token: "to"}); !errors.Is(err, proto.ErrNameTaken) {
			t.Errorf("Join(token to) = %v, want ErrNameTaken: Alice has the name again", err)
		}
	})

	t.Run("an identity's session holds its name while it lives", func(t *testing.T) {
		const ttl = 600 * time.Millisecond
		s, elapse := open(t, ttl)
		id := proto.IdentityToken("https://id.example", "u-1", proto.NameKey("Alice"))
		alice := join(t, s, JoinParams{Conn: conn("a1"), Username: "Alice", Room: "lobby", Token: id, NewToken: id}).Session
		if alice.Token != id {
			t.Fatalf("session %+v, want it under the identity token", alice)
		}
		leave(t, s, conn("a1"))
		// Offline, the name is still hers: no look-alike takes it.
		for _, name := range []string{"Alice", "alice", "ａｌｉｃｅ"} {
			if _, err := s.Join(ctx, JoinParams{Conn: conn("x"), Username: name, Room: "lobby", NewToken: "tx"}); !errors.Is(err, proto.ErrNameTaken) {
				t.Errorf("Join(%s) while Alice's identity is offline = %v, want ErrNameTaken", name, err)
			}
		}
		if got, on, err := s.Lookup(ctx, proto.NameKey("alice")); err != nil || on || got != alice {
			t.Errorf("Lookup(alice) = %+v, %v, %v; want her session, offline", got, on, err)
		}
		if got := online(t, s); got != 0 {
			t.Errorf("Online = %d, want 0", got)
		}
		// She comes back to it, colour and all.
		if res := join(t, s, JoinParams{Conn: conn("a2"), Username: "Alice", Room: "lobby", Token: id, NewToken: id}); res.Session != alice || !res.Joined {
			t.Errorf("Alice back = %+v, want %+v, joined", res, alice)
		}
		leave(t, s, conn("a2"))
		// Once the session has expired, the name is anyone's.
		elapse(ttl)
		if res := join(t, s, JoinParams{Conn: conn("x"), Username: "alice", Room: "lobby", NewToken: "tx"}); res.Session.Token != "tx" {
			t.Errorf("Join(alice) after the identity's session expired = %+v", res.Session)
		}
		leave(t, s, conn("x"))
		// An identity's session that ends lets its name go at once, offline or not.
		bob := proto.IdentityToken("https://id.example", "u-2", proto.NameKey("Bob"))
		join(t, s, JoinParams{Conn: conn("b1"), Username: "Bob", Room: "lobby", Token: bob, NewToken: bob})
		leave(t, s, conn("b1"))
		if _, err := s.EndSession(ctx, bob); err != nil {
			t.Fatalf("EndSession: %v", err)
		}
		if res := join(t, s, JoinParams{Conn: conn("y"), Username: "bob", Room: "lobby", NewToken: "ty"}); res.Session.Token != "ty" {
			t.Errorf("Join(bob) after the identity's session ended = %+v", res.Session)
		}
	})

	t.Run("an offline session expires", func(t *testing.T) {
		const ttl = 600 * time.Millisecond
		s, elapse := open(t, ttl)
		alice := join(t, s, JoinParams{Conn: conn("c1"), Username: "Alice", Room: "lobby", NewToken: "t1"})
		// Online far longer than ttl, then offline: it lives ttl from then.
		elapse(2 * ttl)
		leave(t, s, conn("c1"))
		elapse(ttl / 2)
		res := join(t, s, JoinParams{Conn: conn("c2"), Room: "lobby", Token: "t1"})
		if res.Session != alice.Session {
			t.Fatalf("resume within ttl = %+v, want %+v", res.Session, alice.Session)
		}
		leave(t, s, conn("c2"))
		elapse(ttl)
		// The token resumes nothing, with or without the name.
		if _, err := s.Join(ctx, JoinParams{Conn: conn("c3"), Room: "lobby", Token: "t1"}); !errors.Is(err, ErrNoSession) {
			t.Errorf("Join(expired token, no name) = %v, want ErrNoSession", err)
		}
		res = join(t, s, JoinParams{Conn: conn("c3"), Username: "Alice", Room: "lobby", Token: "t1", NewToken: "t3"})
		if res.Session.Token != "t3" || !res.Joined {
			t.Errorf("Join(expired token, Alice) = %+v, want a new session t3 that joined", res)
		}
		if res.Session.Color != alice.Session.Color {
			t.Errorf("colour = %s, want %s: nobody else was online", res.Session.Color, alice.Session.Color)
		}
	})

	t.Run("end a session", func(t *testing.T) {
		const grace = 300 * time.Millisecond
		s, elapse := open(t, hour)
		alice := join(t, s, JoinParams{Conn: conn("a1"), Username: "Alice", Room: "lobby", NewToken: "ta"}).Session
		join(t, s, JoinParams{Conn: conn("a2"), Room: "lobby", Token: "ta"})
		join(t, s, JoinParams{Conn: conn("a3"), Room: "hall", Token: "ta"})
		join(t, s, JoinParams{Conn: conn("b"), Username: "Bob", Room: "lobby", NewToken: "tb"})
		lingering(t, s, conn("a2"), grace)
		got, err := s.EndSession(ctx, "ta")
		if err != nil {
			t.Fatalf("EndSession: %v", err)
		}
		if want := []string{"Alice left hall", "Alice left lobby"}; !slices.Equal(leaves(got), want) {
			t.Errorf("EndSession = %v, want %v", leaves(got), want)
		}
		for _, l := range got {
			if l.Session != alice {
				t.Errorf("EndSession's session %+v, want %+v", l.Session, alice)
			}
		}
		if got := roomNames(t, s, "lobby"); !slices.Equal(got, []string{"Bob"}) {
			t.Errorf("Members(lobby) = %v, want [Bob]", got)
		}
		if got, want := rooms(t, s), []RoomCount{{"lobby", 1}}; !slices.Equal(got, want) {
			t.Errorf("Rooms = %v, want %v", got, want)
		}
		if got := online(t, s); got != 1 {
			t.Errorf("Online = %d, want 1", got)
		}
		for _, c := range []string{"a1", "a2", "a3"} {
			if _, err := s.Leave(ctx, conn(c)); !errors.Is(err, ErrUnknownConn) {
				t.Errorf("Leave(%s) = %v, want ErrUnknownConn", c, err)
			}
		}
		elapse(grace)
		if got := reap(t, s); len(got) != 0 {
			t.Errorf("Reap = %v, want none: the lingering tab went with the session", leaves(got))
		}
		if _, err := s.Join(ctx, JoinParams{Conn: conn("a4"), Room: "lobby", Token: "ta"}); !errors.Is(err, ErrNoSession) {
			t.Errorf("Join(ended token) = %v, want ErrNoSession", err)
		}
		if _, err := s.EndSession(ctx, "ta"); !errors.Is(err, ErrNoSession) {
			t.Errorf("EndSession again = %v, want ErrNoSession", err)
		}
		// The name is free, for the same user with the old token too: a
		// new session.
		if res := join(t, s, JoinParams{Conn: conn("a4"), Username: "alice", Room: "lobby", Token: "ta", NewToken: "ta2"}); res.Session.Token != "ta2" || !res.Joined {
			t.Errorf("Join(alice) = %+v, want a new session ta2", res)
		}
		// An offline session ends with no leave.
		leave(t, s, conn("b"))
		if got, err := s.EndSession(ctx, "tb"); err != nil || len(got) != 0 {
			t.Errorf("EndSession(offline) = %v, %v; want no leaves", leaves(got), err)
		}
		if _, err := s.Join(ctx, JoinParams{Conn: conn("b"), Room: "lobby", Token: "tb"}); !errors.Is(err, ErrNoSession) {
			t.Errorf("Join(ended offline token) = %v, want ErrNoSession", err)
		}
	})

	t.Run("gateways", func(t *testing.T) {
		s, _ := open(t, hour)
		gateways := func() []string {
			t.Helper()
			gws, err := s.Gateways(ctx)
			if err != nil {
				t.Fatalf("Gateways: %v", err)
			}
			return gws
		}
		if got := gateways(); len(got) != 0 {
			t.Fatalf("Gateways of an empty store = %v, want none", got)
		}
		at := func(gw, id string) proto.ConnRef { return proto.ConnRef{Gateway: gw, Conn: id} }
		join(t, s, JoinParams{Conn: at("g2", "a"), Username: "Alice", Room: "lobby", NewToken: "ta"})
		join(t, s, JoinParams{Conn: at("g1:x", "a"), Room: "hall", Token: "ta"})
		join(t, s, JoinParams{Conn: at("g2", "b"), Username: "Bob", Room: "lobby", NewToken: "tb"})
		if got, want := gateways(), []string{"g1:x", "g2"}; !slices.Equal(got, want) {
			t.Errorf("Gateways = %v, want %v", got, want)
		}
		leave(t, s, at("g2", "a"))
		if got, want := gateways(), []string{"g1:x", "g2"}; !slices.Equal(got, want) {
			t.Errorf("Gateways after one of g2's leaves = %v, want %v", got, want)
		}
		// Moved to another gateway's connection: g1:x has none left.
		join(t, s, JoinParams{Conn: at("g1:x", "a"), Username: "Carol", Room: "hall", NewToken: "tc"})
		leave(t, s, at("g1:x", "a"))
		if got, want := gateways(), []string{"g2"}; !slices.Equal(got, want) {
			t.Errorf("Gateways = %v, want %v", got, want)
		}
		// A dropped gateway stays until its connections are reaped.
		if n, err := s.DropGateway(ctx, "g2", 0); err != nil || n != 1 {
			t.Fatalf("DropGateway(g2) = %d, %v; want 1", n, err)
		}
		if got, want := gateways(), []string{"g2"}; !slices.Equal(got, want) {
			t.Errorf("Gateways after DropGateway = %v, want %v", got, want)
		}
		reap(t, s)
		if got := gateways(); len(got) != 0 {
			t.Errorf("Gateways after the reap = %v, want none", got)
		}
	})

	t.Run("first colours are distinct", func(t *testing.T) {
		s, _ := open(t, hour)
		for i, want := range append(slices.Clone(Palette), Palette[0], Palette[1]) {
			res := join(t, s, JoinParams{Conn: conn(fmt.Sprint(i)), Username: fmt.Sprintf("user%02d", i), Room: "lobby", NewToken: fmt.Sprint("t", i)})
			if res.Session.Color != want {
				t.Errorf("user %d: colour %s, want %s", i, res.Session.Color, want)
			}
		}
	})

	t.Run("least used colour", func(t *testing.T) {
		s, _ := open(t, hour)
		for i := range Palette {
			join(t, s, JoinParams{Conn: conn(fmt.Sprint(i)), Username: fmt.Sprintf("user%02d", i), Room: "lobby", NewToken: fmt.Sprint("t", i)})
		}
		// Users 7 and 2 go offline: their colours are unused, 2's first.
		leave(t, s, conn("7"))
		leave(t, s, conn("2"))
		for i, want := range []string{Palette[2], Palette[7], Palette[0]} {
			res := join(t, s, JoinParams{Conn: conn(fmt.Sprint("n", i)), Username: fmt.Sprint("new", i), Room: "lobby", NewToken: fmt.Sprint("n", i)})
			if res.Session.Color != want {
				t.Errorf("new user %d: colour %s, want %s", i, res.Session.Color, want)
			}
		}
	})

	t.Run("offline sessions keep their colour but do not count", func(t *testing.T) {
		s, _ := open(t, hour)
		alice := join(t, s, JoinParams{Conn: conn("a"), Username: "Alice", Room: "lobby", NewToken: "ta"})
		leave(t, s, conn("a"))
		bob := join(t, s, JoinParams{Conn: conn("b"), Username: "Bob", Room: "lobby", NewToken: "tb"})
		back := join(t, s, JoinParams{Conn: conn("a2"), Room: "lobby", Token: "ta"})
		carol := join(t, s, JoinParams{Conn: conn("c"), Username: "Carol", Room: "lobby", NewToken: "tc"})
		for _, c := range []struct {
			who       string
			got, want string
		}{
			{"Alice", alice.Session.Color, Palette[0]},
			{"Bob, while Alice was offline", bob.Session.Color, Palette[0]},
			{"Alice resumed", back.Session.Color, Palette[0]},
			{"Carol", carol.Session.Color, Palette[1]},
		} {
			if c.got != c.want {
				t.Errorf("%s: colour %s, want %s", c.who, c.got, c.want)
			}
		}
	})

	t.Run("tabs", func(t *testing.T) {
		s, _ := open(t, hour)
		steps := []struct {
			name        string
			join        *JoinParams // or leave
			leave       string
			wantJoined  bool
			wantLeft    bool
			wantMembers []string // of lobby
		}{
			{name: "first tab", join: &JoinParams{Conn: conn("a1"), Username: "Alice", Room: "lobby", NewToken: "ta"}, wantJoined: true, wantMembers: []string{"Alice"}},
			{name: "second tab", join: &JoinParams{Conn: conn("a2"), Room: "lobby", Token: "ta"}, wantMembers: []string{"Alice"}},
			{name: "third tab by name", join: &JoinParams{Conn: conn("a3"), Username: "Alice", Room: "lobby", Token: "ta"}, wantMembers: []string{"Alice"}},
			{name: "zed", join: &JoinParams{Conn: conn("z"), Username: "Zed", Room: "lobby", NewToken: "tz"}, wantJoined: true, wantMembers: []string{"Alice", "Zed"}},
			{name: "bob", join: &JoinParams{Conn: conn("b"), Username: "bob", Room: "lobby", NewToken: "tb"}, wantJoined: true, wantMembers: []string{"Alice", "bob", "Zed"}},
			{name: "close a tab", leave: "a1", wantMembers: []string{"Alice", "bob", "Zed"}},
			{name: "close another", leave: "a3", wantMembers: []string{"Alice", "bob", "Zed"}},
			{name: "close the last", leave: "a2", wantLeft: true, wantMembers: []string{"bob", "Zed"}},
		}
		for _, st := range steps {
			if st.join != nil {
				res := join(t, s, *st.join)
				if res.Joined != st.wantJoined || res.LeftRoom != "" {
					t.Errorf("%s: Joined %v, LeftRoom %q; want %v, none", st.name, res.Joined, res.LeftRoom, st.wantJoined)
				}
				if got := usernames(res.Members); !slices.Equal(got, st.wantMembers) {
					t.Errorf("%s: Join's Members %v, want %v", st.name, got, st.wantMembers)
				}
			} else {
				res := leave(t, s, conn(st.leave))
				if res.Left != st.wantLeft || res.Room != "lobby" {
					t.Errorf("%s: Left %v in %q; want %v in lobby", st.name, res.Left, res.Room, st.wantLeft)
				}
			}
			if got := roomNames(t, s, "lobby"); !slices.Equal(got, st.wantMembers) {
				t.Errorf("%s: Members %v, want %v", st.name, got, st.wantMembers)
			}
		}
		if got, on, err := s.Lookup(ctx, proto.NameKey("alice")); err != nil || on || got.Token != "ta" {
			t.Errorf("Lookup(alice) = %+v, %v, %v; want her session, offline: she held the name last", got, on, err)
		}
	})

	t.Run("moving between rooms", func(t *testing.T) {
		s, _ := open(t, hour)
		alice := Session{Token: "ta", Username: "Alice", Key: proto.NameKey("alice"), Color: Palette[0]}
		// Rooms and connection ids that would collide if they were
		// concatenated into keys raw.
		a, ab := "a", "a:b"
		c1 := proto.ConnRef{Gateway: "g", Conn: "1:x"}
		c2 := proto.ConnRef{Gateway: "g:1", Conn: "x"}
		steps := []struct {
			name        string
			conn        proto.ConnRef
			room        string
			wantJoined  bool
			wantLeft    string
			wantMembers map[string][]string
		}{
			{"first in a", c1, a, true, "", map[string][]string{a: {"Alice"}, ab: nil}},
			{"second in a", c2, a, false, "", map[string][]string{a: {"Alice"}, ab: nil}},
			{"one to a:b", c1, ab, true, "", map[string][]string{a: {"Alice"}, ab: {"Alice"}}},
			{"the other to a:b", c2, ab, false, a, map[string][]string{a: nil, ab: {"Alice"}}},
			{"again to a:b", c2, ab, false, "", map[string][]string{a: nil, ab: {"Alice"}}},
			{"to 로비", c2, "로비", true, "", map[string][]string{a: nil, ab: {"Alice"}, "로비": {"Alice"}}},
			{"back to a", c1, a, true, ab, map[string][]string{a: {"Alice"}, ab: nil, "로비": {"Alice"}}},
		}
		for i, st := range steps {
			p := JoinParams{Conn: st.conn, Room: st.room, Token: "ta"}
			if i == 0 {
				p = JoinParams{Conn: st.conn, Username: "Alice", Room: st.room, NewToken: "ta"}
			}
			res := join(t, s, p)
			if res.Joined != st.wantJoined || res.LeftRoom != st.wantLeft {
				t.Errorf("%s: Joined %v, LeftRoom %q; want %v, %q", st.name, res.Joined, res.LeftRoom, st.wantJoined, st.wantLeft)
			}
			if st.wantLeft != "" && res.LeftSession != alice {
				t.Errorf("%s: LeftSession %+v, want %+v", st.name, res.LeftSession, alice)
			}
			for room, want := range st.wantMembers {
				if got := roomNames(t, s, room); !slices.Equal(got, want) {
					t.Errorf("%s: Members(%q) %v, want %v", st.name, room, got, want)
				}
			}
		}
		if got := roomNames(t, s, "a:b:"); len(got) != 0 {
			t.Errorf("Members(a:b:) = %v, want none", got)
		}
	})

	t.Run("a connection that joins as another user", func(t *testing.T) {
		s, _ := open(t, hour)
		alice := join(t, s, JoinParams{Conn: conn("c1"), Username: "Alice", Room: "lobby", NewToken: "ta"})
		res := join(t, s, JoinParams{Conn: conn("c1"), Username: "Bob", Room: "lobby", Token: "ta", NewToken: "tb"})
		if res.Session.Username != "Bob" || !res.Joined || res.LeftRoom != "lobby" || res.LeftSession != alice.Session {
			t.Errorf("Join = %+v; want Bob joined, Alice left lobby", res)
		}
		if res.Session.Color != Palette[0] {
			t.Errorf("Bob's colour %s, want %s: Alice went offline first", res.Session.Color, Palette[0])
		}
		if got := usernames(res.Members); !slices.Equal(got, []string{"Bob"}) {
			t.Errorf("Members = %v, want [Bob]", got)
		}
		if got, on, err := s.Lookup(ctx, proto.NameKey("alice")); err != nil || on || got != alice.Session {
			t.Errorf("Lookup(alice) = %+v, %v, %v; want her session, offline", got, on, err)
		}
		if got := leave(t, s, conn("c1")); got.Session.Username != "Bob" || !got.Left {
			t.Errorf("Leave = %+v, want Bob left", got)
		}
	})

	t.Run("leave an unknown connection", func(t *testing.T) {
		s, _ := open(t, hour)
		if _, err := s.Leave(ctx, conn("never")); !errors.Is(err, ErrUnknownConn) {
			t.Errorf("Leave(never joined) = %v, want ErrUnknownConn", err)
		}
		join(t, s, JoinParams{Conn: conn("c1"), Username: "Alice", Room: "lobby", NewToken: "ta"})
		leave(t, s, conn("c1"))
		if _, err := s.Leave(ctx, conn("c1")); !errors.Is(err, ErrUnknownConn) {
			t.Errorf("Leave twice = %v, want ErrUnknownConn", err)
		}
	})

	t.Run("lookup", func(t *testing.T) {
		s, _ := open(t, hour)
		join(t, s, JoinParams{Conn: conn("a"), Username: "Alice", Room: "lobby", NewToken: "ta"})
		join(t, s, JoinParams{Conn: conn("b"), Username: "김철수", Room: "lobby", NewToken: "tb"})
		leave(t, s, conn("b"))
		tests := []struct {
			name       string
			key        string
			wantUser   string
			wantOnline bool
			wantErr    error
		}{
			{"online", proto.NameKey("ALICE"), "Alice", true, nil},
			{"offline, held last", proto.NameKey("김철수"), "김철수", false, nil},
			{"unknown", proto.NameKey("carol"), "", false, ErrNoSession},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, online, err := s.Lookup(ctx, tc.key)
				if !errors.Is(err, tc.wantErr) || got.Username != tc.wantUser || online != tc.wantOnline {
					t.Errorf("Lookup(%q) = %+v, %v, %v; want %q, %v, %v", tc.key, got, online, err, tc.wantUser, tc.wantOnline, tc.wantErr)
				}
			})
		}
	})

	t.Run("lookup finds the last holder while it lives", func(t *testing.T) {
		const ttl = 200 * time.Millisecond
		s, elapse := open(t, ttl)
		alice := join(t, s, JoinParams{Conn: conn("a"), Username: "Alice", Room: "lobby", NewToken: "ta"}).Session
		bob := join(t, s, JoinParams{Conn: conn("b"), Username: "Bob", Room: "lobby", NewToken: "tb"}).Session
		leave(t, s, conn("a"))
		leave(t, s, conn("b"))
		for _, want := range []Session{alice, bob} {
			if got, on, err := s.Lookup(ctx, want.Key); err != nil || on || got != want {
				t.Errorf("Lookup(%s) = %+v, %v, %v; want offline", want.Username, got, on, err)
			}
		}
		// Bob ends his session; Alice's expires: neither is found.
		if _, err := s.EndSession(ctx, "tb"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Lookup(ctx, bob.Key); !errors.Is(err, ErrNoSession) {
			t.Errorf("Lookup(Bob) after EndSession = %v, want ErrNoSession", err)
		}
		elapse(2 * ttl)
		if _, _, err := s.Lookup(ctx, alice.Key); !errors.Is(err, ErrNoSession) {
			t.Errorf("Lookup(Alice) after her session expired = %v, want ErrNoSession", err)
		}
	})

	t.Run("members in pages", func(t *testing.T) {
		s, _ := open(t, time.Hour)
		const users = 2*proto.MembersOnJoin + 10
		var want []string
		var last JoinResult
		for u := range users {
			name := fmt.Sprintf("user%03d", (u*11)%users) // not in name order
			last = join(t, s, JoinParams{Conn: conn(name), Username: name, Room: "lobby", NewToken: "t" + name})
			want = append(want, name)
		}
		join(t, s, JoinParams{Conn: conn("x"), Username: "Xavier", Room: "hall", NewToken: "tx"})
		// Pages go in the order of the name keys, which need not be the
		// names' own (a key is a confusable skeleton: 0 and o are one).
		slices.SortFunc(want, func(a, b string) int { return strings.Compare(proto.NameKey(a), proto.NameKey(b)) })
		if got := usernames(last.Members); !slices.Equal(got, want[:proto.MembersOnJoin]) || last.MemberCount != users {
			t.Errorf("join: %d members %v..., count %d; want the first %d of %d", len(got), got[:3], last.MemberCount, proto.MembersOnJoin, users)
		}
		if got := roomNames(t, s, "lobby"); !slices.Equal(got, want) {
			t.Errorf("pages of 7 = %v, want %v", got, want)
		}
		ctx := context.Background()
		for _, tc := range []struct {
			name, after string
			limit       int
			want        []string
			more        bool
		}{
			{"first", "", 3, want[:3], true},
			{"after a member", proto.NameKey("USER004"), 2, []string{"user005", "user006"}, true},
			{"after a name nobody has", proto.NameKey("user0045"), 1, []string{"user005"}, true},
			{"the last page, full", proto.NameKey(want[users-4]), 3, want[users-3:], false},
			{"past the last", proto.NameKey("zzz"), 5, nil, false},
			{"a room nobody is in", "", 5, nil, false},
		} {
			room := "lobby"
			if tc.name == "a room nobody is in" {
				room = "empty"
			}
			p, err := s.Members(ctx, room, tc.after, tc.limit)
			wantCount := users
			if room == "empty" {
				wantCount = 0
			}
			if err != nil || !slices.Equal(usernames(p.Members), tc.want) || p.More != tc.more || p.Count != wantCount {
				t.Errorf("%s: Members(%q, %q, %d) = %v more %v count %d, %v; want %v more %v count %d",
					tc.name, room, tc.after, tc.limit, usernames(p.Members), p.More, p.Count, err, tc.want, tc.more, wantCount)
			}
		}
		// Leaving takes a user off the pages and the count at once.
		leave(t, s, conn(want[0]))
		if p, err := s.Members(ctx, "lobby", "", 1); err != nil || usernames(p.Members)[0] != want[1] || p.Count != users-1 {
			t.Errorf("after a leave: %v count %d, %v", usernames(p.Members), p.Count, err)
		}
	})

	t.Run("same new name at once", func(t *testing.T) {
		s, _ := open(t, hour)
		testNameRace(t, []Store{s})
	})

	t.Run("rooms", func(t *testing.T) {
		s, _ := open(t, hour)
		if got := rooms(t, s); len(got) != 0 {
			t.Fatalf("Rooms of an empty store = %v, want none", got)
		}
		join(t, s, JoinParams{Conn: conn("a1"), Username: "Alice", Room: "lobby", NewToken: "ta"})
		join(t, s, JoinParams{Conn: conn("a2"), Room: "lobby", Token: "ta"})
		join(t, s, JoinParams{Conn: conn("a3"), Room: "로비", Token: "ta"})
		join(t, s, JoinParams{Conn: conn("b"), Username: "Bob", Room: "lobby", NewToken: "tb"})
		join(t, s, JoinParams{Conn: conn("c1"), Username: "Carol", Room: "a:b", NewToken: "tc"})
		join(t, s, JoinParams{Conn: conn("c2"), Room: "a:b", Token: "tc"})
		steps := []struct {
			name  string
			leave string
			want  []RoomCount
		}{
			{"each user once", "", []RoomCount{{"a:b", 1}, {"lobby", 2}, {"로비", 1}}},
			{"one of two tabs", "c1", []RoomCount{{"a:b", 1}, {"lobby", 2}, {"로비", 1}}},
			{"an emptied room is gone", "c2", []RoomCount{{"lobby", 2}, {"로비", 1}}},
			{"a user leaves", "b", []RoomCount{{"lobby", 1}, {"로비", 1}}},
		}
		for _, st := range steps {
			if st.leave != "" {
				leave(t, s, conn(st.leave))
			}
			if got := rooms(t, s); !slices.Equal(got, st.want) {
				t.Errorf("%s: Rooms = %v, want %v", st.name, got, st.want)
			}
		}
		// Moving the last connection out of a room empties it.
		join(t, s, JoinParams{Conn: conn("a3"), Room: "lobby", Token: "ta"})
		if got, want := rooms(t, s), []RoomCount{{"lobby", 1}}; !slices.Equal(got, want) {
			t.Errorf("after a move: Rooms = %v, want %v", got, want)
		}
	})

	t.Run("online", func(t *testing.T) {
		const grace = 400 * time.Millisecond
		s, elapse := open(t, hour)
		if got := online(t, s); got != 0 {
			t.Fatalf("Online of an empty store = %d, want 0", got)
		}
		// Alice has three tabs in two rooms; Bob shares her colour, so
		// that counting colours is not counting sessions; Carol is offline.
		join(t, s, JoinParams{Conn: conn("a1"), Username: "Alice", Room: "lobby", NewToken: "ta"})
		join(t, s, JoinParams{Conn: conn("a2"), Room: "lobby", Token: "ta"})
		join(t, s, JoinParams{Conn: conn("a3"), Room: "로비", Token: "ta"})
		join(t, s, JoinParams{Conn: conn("b"), Username: "Bob", Room: "lobby", NewToken: "tb", Color: Palette[0]})
		join(t, s, JoinParams{Conn: conn("c"), Username: "Carol", Room: "lobby", NewToken: "tc"})
		leave(t, s, conn("c"))
		steps := []struct {
			name string
			do   func()
			want int
		}{
			// 4 connections, 3 users in rooms, 3 sessions, 1 colour.
			{"each online session once", func() {}, 2},
			{"a session's last connection leaves", func() { leave(t, s, conn("b")) }, 1},
			{"one of its tabs leaves", func() { leave(t, s, conn("a1")) }, 1},
			{"lingering tabs keep it online", func() {
				lingering(t, s, conn("a2"), grace)
				lingering(t, s, conn("a3"), grace)
			}, 1},
			{"its tabs are reaped", func() {
				elapse(grace)
				if got := reap(t, s); len(got) != 2 {
					t.Errorf("Reap = %v, want Alice leaving lobby and 로비", leaves(got))
				}
			}, 0},
			{"an offline session resumes", func() {
				join(t, s, JoinParams{Conn: conn("c2"), Room: "lobby", Token: "tc"})
			}, 1},
		}
		for _, st := range steps {
			st.do()
			if got := online(t, s); got != st.want {
				t.Errorf("%s: Online = %d, want %d", st.name, got, st.want)
			}
		}
	})

	testLinger(t, open)
	testSeveralRooms(t, open)
	testRename(t, open)

	t.Run("distinct users at once", func(t *testing.T) {
		s, _ := open(t, hour)
		testUsersRace(t, []Store{s})
	})
}

// testNameRace has 50 connections join with the same new name at once,
// spread over stores that share their data: exactly one wins.
func testNameRace(t *testing.T, stores []Store) {
	ctx := context.Background()
	const n = 50
	spellings := []string{"Racer", "racer", "RACER", "ｒａｃｅｒ"}
	won := oneWins(t, n, "join", func(i int) error {
		_, err := stores[i%len(stores)].Join(ctx, JoinParams{
			Conn: conn(fmt.Sprint("c", i)), Username: spellings[i%len(spellings)], Room: "lobby", NewToken: fmt.Sprint("t", i),
		})
		return err
	})
	if got, want := roomNames(t, stores[0], "lobby"), []string{spellings[won%len(spellings)]}; !slices.Equal(got, want) {
		t.Errorf("Members = %v, want %v", got, want)
	}
	for i := range n {
		if _, err := stores[0].Leave(ctx, conn(fmt.Sprint("c", i))); (i == won) != (err == nil) {
			t.Errorf("Leave(c%d) = %v", i, err)
		}
	}
}

// oneWins runs try(0) to try(n-1) at once, each wanting one name, and
// returns the one that got it: it fails unless exactly one did and the
// others were told proto.ErrNameTaken.
func oneWins(t *testing.T, n int, what string, try func(i int) error) int {
	t.Helper()
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = try(i)
		})
	}
	close(start)
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("%ss %d and %d both won", what, won, i)
		case err == nil:
			won = i
		case !errors.Is(err, proto.ErrNameTaken):
			t.Fatalf("%s %d: %v", what, i, err)
		}
	}
	if won < 0 {
		t.Fatalf("no %s won", what)
	}
	return won
}

// testUsersRace has 100 users with two tabs each, 200 connections, join
// and leave at once, spread over stores that share their data: every
// user's join and leave is reported exactly once, the members are the
// truth, and the colours stay balanced.
func testUsersRace(t *testing.T, stores []Store) {
	ctx := context.Background()
	const users, tabs = 100, 2
	name := func(u int) string {
		if u%3 == 0 {
			return fmt.Sprintf("사용자%03d", u)
		}
		return fmt.Sprintf("user%03d", u)
	}
	tab := func(u, k int) proto.ConnRef { return conn(fmt.Sprintf("u%d-%d", u, k)) }
	// all runs f for every tab of every user at once, and counts per user
	// the calls that reported true.
	all := func(f func(s Store, u, k int) (bool, error)) []int {
		t.Helper()
		var mu sync.Mutex
		counts := make([]int, users)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for u := range users {
			for k := range tabs {
				wg.Go(func() {
					<-start
					ok, err := f(stores[(u*tabs+k)%len(stores)], u, k)
					if err != nil {
						t.Errorf("user %d tab %d: %v", u, k, err)
					}
					if ok {
						mu.Lock()
						counts[u]++
						mu.Unlock()
					}
				})
			}
		}
		close(start)
		wg.Wait()
		return counts
	}

	// Both tabs open the user's session with the same new token: one
	// opens it, the other resumes it.
	joined := all(func(s Store, u, k int) (bool, error) {
		res, err := s.Join(ctx, JoinParams{Conn: tab(u, k), Username: name(u), Room: "lobby", Token: fmt.Sprint("t", u), NewToken: fmt.Sprint("t", u)})
		if err == nil && res.Session.Token != fmt.Sprint("t", u) {
			err = fmt.Errorf("joined as %+v", res.Session)
		}
		return res.Joined, err
	})
	var want []proto.Member
	for u := range users {
		if joined[u] != 1 {
			t.Errorf("user %d: Joined reported %d times, want once", u, joined[u])
		}
		want = append(want, proto.Member{Username: name(u)})
	}
	got := allMembers(t, stores[0], "lobby")
	perColor := map[string]int{}
	for _, m := range got {
		perColor[m.Color]++
	}
	if fewest, most := users/len(Palette), (users+len(Palette)-1)/len(Palette); len(perColor) != len(Palette) ||
		slices.Min(mapValues(perColor)) != fewest || slices.Max(mapValues(perColor)) != most {
		t.Errorf("colours of %d users online at once: %v, want each %d or %d times", users, perColor, fewest, most)
	}
	assertMembers(t, got, want)

	// Odd users close one tab, even users both.
	left := all(func(s Store, u, k int) (bool, error) {
		if u%2 == 1 && k == 1 {
			return false, nil
		}
		res, err := s.Leave(ctx, tab(u, k))
		return res.Left, err
	})
	want = want[:0]
	for u := range users {
		if wantLeft := 1 - u%2; left[u] != wantLeft {
			t.Errorf("user %d: Left reported %d times, want %d", u, left[u], wantLeft)
		}
		if u%2 == 1 {
			want = append(want, proto.Member{Username: name(u)})
		}
		_, online, err := stores[0].Lookup(ctx, proto.NameKey(name(u)))
		if u%2 == 1 && (err != nil || !online) {
			t.Errorf("Lookup(user %d) = online %v, %v; want online", u, online, err)
		}
		if u%2 == 0 && (err != nil || online) {
			t.Errorf("Lookup(user %d) = online %v, %v; want offline", u, online, err)
		}
	}
	got = allMembers(t, stores[0], "lobby")
	assertMembers(t, got, want)

	// Everyone goes offline: no colour is used any more.
	all(func(s Store, u, k int) (bool, error) {
		if u%2 == 0 || k == 0 {
			return false, nil
		}
		_, err := s.Leave(ctx, tab(u, k))
		return false, err
	})
	for i, want := range Palette[:3] {
		res := join(t, stores[0], JoinParams{Conn: conn(fmt.Sprint("late", i)), Username: fmt.Sprint("late", i), Room: "lobby", NewToken: fmt.Sprint("late", i)})
		if res.Session.Color != want || len(res.Members) != i+1 {
			t.Errorf("late user %d: colour %s with %d members, want %s with %d", i, res.Session.Color, len(res.Members), want, i+1)
		}
	}
}

func assertMembers(t *testing.T, got, want []proto.Member) {
	t.Helper()
	slices.SortFunc(want, func(a, b proto.Member) int {
		return strings.Compare(proto.NameKey(a.Username), proto.NameKey(b.Username))
	})
	names := func(ms []proto.Member) []string {
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = m.Username
		}
		return out
	}
	if !slices.Equal(names(got), names(want)) {
		t.Errorf("Members = %v, want %v", names(got), names(want))
	}
}

func mapValues(m map[string]int) []int {
	out := make([]int, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func conn(id string) proto.ConnRef { return proto.ConnRef{Gateway: "gw1", Conn: id} }

func join(tb testing.TB, s Store, p JoinParams) JoinResult {
	tb.Helper()
	res, err := s.Join(context.Background(), p)
	if err != nil {
		tb.Fatalf("Join(%+v): %v", p, err)
	}
	return res
}

func leave(tb testing.TB, s Store, c proto.ConnRef) LeaveResult {
	tb.Helper()
	res, err := s.Leave(context.Background(), c)
	if err != nil {
		tb.Fatalf("Leave(%+v): %v", c, err)
	}
	return res
}

// roomNames returns the usernames of a room's members, in the store's order.
func roomNames(tb testing.TB, s Store, room string) []string {
	tb.Helper()
	return usernames(allMembers(tb, s, room))
}

// allMembers reads a room's members, a page of 7 at a time, and checks
// that every page counts them all.
func allMembers(tb testing.TB, s Store, room string) []proto.Member {
	tb.Helper()
	var out []proto.Member
	var counts []int
	for after := ""; ; {
		p, err := s.Members(context.Background(), room, after, 7)
		if err != nil {
			tb.Fatalf("Members(%q, %q): %v", room, after, err)
		}
		if len(p.Members) > 7 || (p.More && len(p.Members) != 7) {
			tb.Fatalf("Members(%q, %q, 7) = %d members, more %v", room, after, len(p.Members), p.More)
		}
		out = append(out, p.Members...)
		counts = append(counts, p.Count)
		if !p.More {
			break
		}
		after = proto.NameKey(p.Members[len(p.Members)-1].Username)
	}
	for _, n := range counts {
		if n != len(out) {
			tb.Fatalf("Members(%q): pages count %v, hold %d", room, counts, len(out))
		}
	}
	return out
}

func usernames(ms []proto.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Username)
	}
	return out
}

func equalJoin(a, b JoinResult) bool {
	return a.Session == b.Session && slices.Equal(a.Members, b.Members) && a.Joined == b.Joined &&
		a.LeftRoom == b.LeftRoom && a.LeftSession == b.LeftSession
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testLinger is the contract of lingering connections: Linger, Reap and
// DropGateway.
func testLinger(t *testing.T, open openStore) {
	ctx := context.Background()
	const grace = 400 * time.Millisecond

	t.Run("a lost connection lingers", func(t *testing.T) {
		s, elapse := open(t, time.Hour)
		alice := join(t, s, JoinParams{Conn: conn("a"), Username: "Alice", Room: "lobby", NewToken: "ta"})
		join(t, s, JoinParams{Conn: conn("b"), Username: "Bob", Room: "lobby", NewToken: "tb"})
		res := lingering(t, s, conn("a"), grace)
		if res.Left || res.Room != "lobby" || res.Session != alice.Session {
			t.Errorf("Linger = %+v, want Alice in lobby, not left", res)
		}
		// Marked again with a longer grace, it keeps the sooner deadline.
		lingering(t, s, conn("a"), time.Hour)
		if got := roomNames(t, s, "lobby"); !slices.Equal(got, []string{"Alice", "Bob"}) {
			t.Errorf("Members while Alice lingers = %v, want [Alice Bob]", got)
		}
		if got, want := rooms(t, s), []RoomCount{{"lobby", 2}}; !slices.Equal(got, want) {
			t.Errorf("Rooms while Alice lingers = %v, want %v", got, want)
		}
		if _, online, err := s.Lookup(ctx, proto.NameKey("alice")); err != nil || !online {
			t.Errorf("Lookup(alice) while she lingers: online %v, %v; want online", online, err)
		}
		if got := reap(t, s); len(got) != 0 {
			t.Errorf("Reap before the grace ran out = %v, want none", leaves(got))
		}

		elapse(grace)
		got := reap(t, s)
		if want := []string{"Alice left lobby"}; !slices.Equal(leaves(got), want) {
			t.Fatalf("Reap = %v, want %v", leaves(got), want)
		}
		if got[0].Session != alice.Session {
			t.Errorf("Reap's session %+v, want %+v", got[0].Session, alice.Session)
		}
		if got := reap(t, s); len(got) != 0 {
			t.Errorf("Reap again = %v, want none", leaves(got))
		}
		if got := roomNames(t, s, "lobby"); !slices.Equal(got, []string{"Bob"}) {
			t.Errorf("Members = %v, want [Bob]", got)
		}
		if got, on, err := s.Lookup(ctx, proto.NameKey("alice")); err != nil || on || got != alice.Session {
			t.Errorf("Lookup(alice) = %+v, %v, %v; want her session, offline: reaped, she held the name last", got, on, err)
		}
		if _, err := s.Leave(ctx, conn("a")); !errors.Is(err, ErrUnknownConn) {
			t.Errorf("Leave(reaped) = %v, want ErrUnknownConn", err)
		}
		if _, err := s.Linger(ctx, conn("a"), grace); !errors.Is(err, ErrUnknownConn) {
			t.Errorf("Linger(reaped) = %v, want ErrUnknownConn", err)
		}
	})

	t.Run("no grace is a leave", func(t *testing.T) {
		s, _ := open(t, time.Hour)
		join(t, s, JoinParams{Conn: conn("a"), Username: "Alice", Room: "lobby", NewToken: "ta"})
		if res := lingering(t, s, conn("a"), 0); !res.Left || res.Room != "lobby" {
			t.Errorf("Linger(0) = %+v, want left lobby", res)
		}
		if got := roomNames(t, s, "lobby"); len(got) != 0 {
			t.Errorf("Members = %v, want none", got)
		}
	})

	t.Run("three tabs, one reloads, then all close", func(t *testing.T) {
		s, elapse := open(t, time.Hour)
		if res := join(t, s, JoinParams{Conn: conn("a1"), Username: "Alice", Room: "lobby", NewToken: "ta"}); !res.Joined {
			t.Errorf("first tab: Joined false")
		}
		for _, c := range []string{"a2", "a3"} {
			if res := join(t, s, JoinParams{Conn: conn(c), Room: "lobby", Token: "ta"}); res.Joined {
				t.Errorf("tab %s: Joined true", c)
			}
		}
		// Tab a1 reloads: its transport is lost, and the page comes back
		// through another gateway.
		if res := lingering(t, s, conn("a1"), grace); res.Left {
			t.Errorf("reload: Linger's Left true")
		}
		reloaded := proto.ConnRef{Gateway: "gw2", Conn: "a1"}
		res := join(t, s, JoinParams{Conn: reloaded, Room: "lobby", Token: "ta"})
		if res.Joined {
			t.Errorf("reload: Joined true, want no announcement")
		}
		if got := usernames(res.Members); !slices.Equal(got, []string{"Alice"}) {
			t.Errorf("reload: Members %v, want [Alice]", got)
		}
		elapse(grace)
		if got := reap(t, s); len(got) != 0 {
			t.Errorf("Reap after the reload = %v, want none", leaves(got))
		}
		if got := roomNames(t, s, "lobby"); !slices.Equal(got, []string{"Alice"}) {
			t.Errorf("Members after the reload = %v, want [Alice]", got)
		}
		if got, want := rooms(t, s), []RoomCount{{"lobby", 1}}; !slices.Equal(got, want) {
			t.Errorf("Rooms after the reload = %v, want %v", got, want)
		}

		// All three close: one loses its transport, the others close
		// deliberately, the last of them at once announces the leave.
		if res := leave(t, s, conn("a2")); res.Left {
			t.Errorf("close a2: Left true")
		}
		if res := lingering(t, s, conn("a3"), grace); res.Left {
			t.Errorf("lose a3: Left true")
		}
		if res := leave(t, s, reloaded); !res.Left || res.Room != "lobby" {
			t.Errorf("close the last real tab: %+v, want left lobby at once", res)
		}
		if got := roomNames(t, s, "lobby"); len(got) != 0 {
			t.Errorf("Members = %v, want none", got)
		}
		if got := rooms(t, s); len(got) != 0 {
			t.Errorf("Rooms = %v, want none", got)
		}
		if _, err := s.Leave(ctx, conn("a3")); !errors.Is(err, ErrUnknownConn) {
			t.Errorf("Leave(a3) = %v, want ErrUnknownConn: it went with the last tab", err)
		}
		elapse(grace)
		if got := reap(t, s); len(got) != 0 {
			t.Errorf("Reap = %v, want none: the leave was announced", leaves(got))
		}
	})

	t.Run("three tabs, all lost", func(t *testing.T) {
		s, elapse := open(t, time.Hour)
		join(t, s, JoinParams{Conn: conn("a1"), Username: "Alice", Room: "lobby", NewToken: "ta"})
		join(t, s, JoinParams{Conn: conn("a2"), Room: "lobby", Token: "ta"})
		join(t, s, JoinParams{Conn: conn("a3"), Room: "lobby", Token: "ta"})
		lingering(t, s, conn("a1"), grace)
		elapse(grace / 2)
		lingering(t, s, conn("a2"), grace)
		lingering(t, s, conn("a3"), grace)
		elapse(grace / 2)
		if got := reap(t, s); len(got) != 0 {
			t.Errorf("Reap of the first lost tab = %v, want none", leaves(got))
		}
		if _, err := s.Leave(ctx, conn("a1")); !errors.Is(err, ErrUnknownConn) {
			t.Errorf("Leave(a1) = %v, want ErrUnknownConn: it was reaped", err)
		}
		if got := roomNames(t, s, "lobby"); !slices.Equal(got, []string{"Alice"}) {
			t.Errorf("Members = %v, want [Alice]", got)
		}
		elapse(grace / 2)
		if got, want := leaves(reap(t, s)), []string{"Alice left lobby"}; !slices.Equal(got, want) {
			t.Errorf("Reap of the last lost tabs = %v, want %v", got, want)
		}
		if got := roomNames(t, s, "lobby"); len(got) != 0 {
			t.Errorf("Members = %v, want none", got)
		}
	})

	t.Run("the lost connection itself comes back", func(t *testing.T) {
		s, elapse := open(t, time.Hour)
		join(t, s, JoinParams{Conn: conn("a"), Username: "Alice", Room: "lobby", NewToken: "ta"})
		lingering(t, s, conn("a"), grace)
		if res := join(t, s, JoinParams{Conn: conn("a"), Room: "lobby", Token: "ta"}); res.Joined {
			t.Errorf("rejoin: Joined true")
		}
		elapse(grace)
		if got := reap(t, s); len(got) != 0 {
			t.Errorf("Reap = %v, want none: the connection came back", leaves(got))
		}
		if res := leave(t, s, conn("a")); !res.Left {
			t.Errorf("Leave = %+v, want left", res)
		}
	})

	t.Run("a join repeated on its connection resumes it", func(t *testing.T) {
		// A gateway whose join timed out asks again, with a new token:
		// presence may have served the first. The repeat is the same join.
		s, _ := open(t, time.Hour)
		first := join(t, s, JoinParams{Conn: conn("a"), Username: "Alice", Room: "lobby", NewToken: "t1"})
		again := join(t, s, JoinParams{Conn: conn("a"), Username: "alice", Room: "lobby", NewToken: "t2"})
		if again.Session != first.Session || again.Joined {
			t.Errorf("repeat = %+v, want the first session, not joined again", again)
		}
		// From another connection the name is taken, as ever.
		if _, err := s.Join(ctx, JoinParams{Conn: conn("b"), Username: "Alice", Room: "lobby", NewToken: "t3"}); !errors.Is(err, proto.ErrNameTaken) {
			t.Errorf("another connection: %v, want ErrNameTaken", err)
		}
	})

	t.Run("a resync does not take back a reported close", func(t *testing.T) {
		// A gateway's resync snapshot may hold connections it has since
		// reported lost or left; their resync joins, served after the
		// report, must not keep them.
		s, elapse := open(t, time.Hour)
		join(t, s, JoinParams{Conn: conn("a"), Username: "Alice", Room: "lobby", NewToken: "ta"})
		join(t, s, JoinParams{Conn: conn("b"), Username: "Bob", Room: "lobby", NewToken: "tb"})
		join(t, s, JoinParams{Conn: conn("c"), Username: "Carol", Room: "lobby", NewToken: "tc"})
		lingering(t, s, conn("a"), grace)
		leave(t, s, conn("b"))
		for _, c := range []struct{ conn, user, tok string }{{"a", "Alice", "ta"}, {"b", "Bob", "tb"}} {
			_, err := s.Join(ctx, JoinParams{Conn: conn(c.conn), Username: c.user, Room: "lobby", Token: c.tok,
				NewToken: c.tok, Resync: true})
			if !errors.Is(err, ErrUnknownConn) {
				t.Errorf("resync of %s after its close: %v, want ErrUnknownConn", c.conn, err)
			}
		}
		// Nor one of a session that ended: the resync would open it again
		// under its token.
		join(t, s, JoinParams{Conn: conn("d"), Username: "Dan", Room: "lobby", NewToken: "td"})
		if _, err := s.EndSession(ctx, "td"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Join(ctx, JoinParams{Conn: conn("d"), Username: "Dan", Room: "lobby", Token: "td",
			NewToken: "td", Resync: true}); !errors.Is(err, ErrUnknownConn) {
			t.Errorf("resync of an ended session's connection: %v, want ErrUnknownConn", err)
		}
		// A connection still held is resynced as ever.
		if _, err := s.Join(ctx, JoinParams{Conn: conn("c"), Username: "Carol", Room: "lobby", Token: "tc", Resync: true}); err != nil {
			t.Errorf("resync of a live connection: %v", err)
		}
		elapse(grace)
		if got := leaves(reap(t, s)); !slices.Equal(got, []string{"Alice left lobby"}) {
			t.Errorf("Reap = %v, want Alice's leave", got)
		}
		if got := roomNames(t, s, "lobby"); !slices.Equal(got, []string{"Carol"}) {
			t.Errorf("Members(lobby) = %v, want [Carol]", got)
		}
	})

	t.Run("a deliberate leave takes only its room's lingering tabs", func(t *testing.T) {
		s, elapse := open(t, time.Hour)
		join(t, s, JoinParams{Conn: conn("a1"), Username: "Alice", Room: "lobby", NewToken: "ta"})
		join(t, s, JoinParams{Conn: conn("a2"), Room: "lobby", Token: "ta"})
		join(t, s, JoinParams{Conn: conn("h"), Room: "hall", Token: "ta"})
		lingering(t, s, conn("a1"), grace)
		if res := leave(t, s, conn("h")); !res.Left || res.Room != "hall" {
			t.Errorf("Leave(h) = %+v, want left hall", res)
		}
		if got := roomNames(t, s, "lobby"); !slices.Equal(got, []string{"Alice"}) {
			t.Errorf("Members(lobby) = %v, want [Alice]", got)
		}
		// Moving the last real tab out of lobby is deliberate too.
		res := join(t, s, JoinParams{Conn: conn("a2"), Room: "hall", Token: "ta"})
		if !res.Joined || res.LeftRoom != "lobby" {
			t.Errorf("move a2 to hall: Joined %v, LeftRoom %q; want true, lobby", res.Joined, res.LeftRoom)
		}
		if got := roomNames(t, s, "lobby"); len(got) != 0 {
			t.Errorf("Members(lobby) = %v, want none", got)
		}
		elapse(grace)
		if got := reap(t, s); len(got) != 0 {
			t.Errorf("Reap = %v, want none", leaves(got))
		}
		if got, want := rooms(t, s), []RoomCount{{"hall", 1}}; !slices.Equal(got, want) {
			t.Errorf("Rooms = %v, want %v", got, want)
		}
	})

	t.Run("a gateway stops", func(t *testing.T) {
		s, elapse := open(t, time.Hour)
		at := func(gw, id string) proto.ConnRef { return proto.ConnRef{Gateway: gw, Conn: id} }
		join(t, s, JoinParams{Conn: at("g1", "a"), Username: "Alice", Room: "lobby", NewToken: "ta"})
		join(t, s, JoinParams{Conn: at("g1", "b"), Username: "Bob", Room: "lobby", NewToken: "tb"})
		join(t, s, JoinParams{Conn: at("g1", "c1"), Username: "Carol", Room: "lobby", NewToken: "tc"})
		join(t, s, JoinParams{Conn: at("g2", "c2"), Room: "lobby", Token: "tc"})
		join(t, s, JoinParams{Conn: at("g2", "d"), Username: "Dave", Room: "lobby", NewToken: "td"})
		join(t, s, JoinParams{Conn: at("g1:x", "e"), Username: "Eve", Room: "hall", NewToken: "te"})
		all := []string{"Alice", "Bob", "Carol", "Dave"}

		if n, err := s.DropGateway(ctx, "g1", grace); err != nil || n != 3 {
			t.Fatalf("DropGateway(g1) = %d, %v; want 3", n, err)
		}
		if got := roomNames(t, s, "lobby"); !slices.Equal(got, all) {
			t.Errorf("Members within the grace = %v, want %v", got, all)
		}
		// Alice reconnects through g2 within the grace.
		if res := join(t, s, JoinParams{Conn: at("g2", "a2"), Room: "lobby", Token: "ta"}); res.Joined {
			t.Errorf("Alice reconnects: Joined true")
		}
		elapse(grace)
		if got, want := leaves(reap(t, s)), []string{"Bob left lobby"}; !slices.Equal(got, want) {
			t.Errorf("Reap = %v, want %v", got, want)
		}
		if got, want := roomNames(t, s, "lobby"), []string{"Alice", "Carol", "Dave"}; !slices.Equal(got, want) {
			t.Errorf("Members = %v, want %v", got, want)
		}
		if got := roomNames(t, s, "hall"); !slices.Equal(got, []string{"Eve"}) {
			t.Errorf("Members(hall) = %v, want [Eve]: her gateway is another", got)
		}
		for _, gw := range []string{"g1", "nobody"} {
			if n, err := s.DropGateway(ctx, gw, grace); err != nil || n != 0 {
				t.Errorf("DropGateway(%s) = %d, %v; want 0", gw, n, err)
			}
		}

		// With no grace, the next Reap removes them all.
		if n, err := s.DropGateway(ctx, "g2", 0); err != nil || n != 3 {
			t.Fatalf("DropGateway(g2, 0) = %d, %v; want 3", n, err)
		}
		want := []string{"Alice left lobby", "Carol left lobby", "Dave left lobby"}
		if got := leaves(reap(t, s)); !slices.Equal(got, want) {
			t.Errorf("Reap = %v, want %v", got, want)
		}
		if got, want := rooms(t, s), []RoomCount{{"hall", 1}}; !slices.Equal(got, want) {
			t.Errorf("Rooms = %v, want %v", got, want)
		}
	})

	t.Run("reap at once", func(t *testing.T) {
		s, elapse := open(t, time.Hour)
		testReapRace(t, []Store{s}, elapse)
	})
}

// testReapRace has users with two lost tabs each, and several reapers
// at once, spread over stores that share their data: each user's leave
// is reaped exactly once.
func testReapRace(t *testing.T, stores []Store, elapse func(time.Duration)) {
	ctx := context.Background()
	const users, reapers, grace = 300, 8, 200 * time.Millisecond
	s := stores[0]
	join(t, s, JoinParams{Conn: conn("stay"), Username: "Stay", Room: "lobby", NewToken: "stay"})
	for u := range users {
		for k := range 2 {
			c := conn(fmt.Sprintf("u%d-%d", u, k))
			join(t, s, JoinParams{Conn: c, Username: fmt.Sprint("user", u), Room: "lobby", Token: fmt.Sprint("t", u), NewToken: fmt.Sprint("t", u)})
			lingering(t, s, c, grace)
		}
	}
	elapse(grace)

	var mu sync.Mutex
	var reaped []LeaveResult
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range reapers {
		wg.Go(func() {
			<-start
			res, err := stores[i%len(stores)].Reap(ctx)
			if err != nil {
				t.Errorf("reaper %d: %v", i, err)
			}
			mu.Lock()
			reaped = append(reaped, res...)
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	reaped = append(reaped, reap(t, s)...)

	count := map[string]int{}
	for _, r := range reaped {
		if !r.Left || r.Room != "lobby" {
			t.Errorf("reaped %+v, want a leave of lobby", r)
		}
		count[r.Session.Username]++
	}
	for u := range users {
		if n := count[fmt.Sprint("user", u)]; n != 1 {
			t.Errorf("user %d: reaped %d times, want once", u, n)
		}
	}
	if len(count) != users {
		t.Errorf("reaped %d users, want %d", len(count), users)
	}
	if got := roomNames(t, s, "lobby"); !slices.Equal(got, []string{"Stay"}) {
		t.Errorf("Members = %v, want [Stay]", got)
	}
}

func lingering(tb testing.TB, s Store, c proto.ConnRef, grace time.Duration) LeaveResult {
	tb.Helper()
	res, err := s.Linger(context.Background(), c, grace)
	if err != nil {
		tb.Fatalf("Linger(%+v, %v): %v", c, grace, err)
	}
	return res
}

func reap(tb testing.TB, s Store) []LeaveResult {
	tb.Helper()
	res, err := s.Reap(context.Background())
	if err != nil {
		tb.Fatalf("Reap: %v", err)
	}
	return res
}

func rooms(tb testing.TB, s Store) []RoomCount {
	tb.Helper()
	rs, err := s.Rooms(context.Background())
	if err != nil {
		tb.Fatalf("Rooms: %v", err)
	}
	return rs
}

func online(tb testing.TB, s Store) int {
	tb.Helper()
	n, err := s.Online(context.Background())
	if err != nil {
		tb.Fatalf("Online: %v", err)
	}
	return n
}

// leaves describes reaped leaves, one "<user> left <room>" each.
func leaves(rs []LeaveResult) []string {
	var out []string
	for _, r := range rs {
		verb := "left"
		if !r.Left {
			verb = "stayed in"
		}
		out = append(out, fmt.Sprintf("%s %s %s", r.Session.Username, verb, r.Room))
	}
	return out
}

// TestJoinKeepsAColorAskedFor runs testColourAskedFor on a memory store;
// TestRedisStore runs it on each Redis.
func TestJoinKeepsAColorAskedFor(t *testing.T) { testColourAskedFor(t, NewMemoryStore(0, nil)) }

// testColourAskedFor checks that a join gets the colour it asks for even
// when that is the most used, and that the store's epoch is made once.
func testColourAskedFor(t *testing.T, st Store) {
	ctx := context.Background()
	res, err := st.Join(ctx, JoinParams{Conn: proto.ConnRef{Gateway: "g", Conn: "c1"}, Username: "first", Room: "r", NewToken: "tok-first-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Session.Color != Palette[0] {
		t.Fatalf("first colour %s", res.Session.Color)
	}
	// Palette[0] is the most used now; asked for, it is given anyway.
	res, err = st.Join(ctx, JoinParams{Conn: proto.ConnRef{Gateway: "g", Conn: "c2"}, Username: "second", Room: "r", NewToken: "tok-second-012345678", Color: Palette[0]})
	if err != nil {
		t.Fatal(err)
	}
	if res.Session.Color != Palette[0] {
		t.Errorf("asked for %s, got %s", Palette[0], res.Session.Color)
	}
	e1, fresh, err := st.Epoch(ctx)
	if err != nil || e1 == "" || !fresh {
		t.Fatalf("epoch %q, fresh %v, %v; want one made now", e1, fresh, err)
	}
	if e2, fresh, _ := st.Epoch(ctx); e2 != e1 || fresh {
		t.Errorf("epoch changed from %q to %q, or fresh again (%v)", e1, e2, fresh)
	}
}

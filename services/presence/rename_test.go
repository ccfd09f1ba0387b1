package presence

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/natter/natter/proto"
)

// testRename is the contract of Store.Rename.
func testRename(t *testing.T, open openStore) {
	ctx := context.Background()

	t.Run("rename keeps the session", func(t *testing.T) {
		s, _ := open(t, time.Hour)
		minji := join(t, s, JoinParams{Conn: conn("m1"), Username: "민지", Room: "lobby", NewToken: "tm"})
		join(t, s, JoinParams{Conn: conn("m2"), Room: "lobby", Token: "tm"})
		join(t, s, JoinParams{Conn: conn("m1#k"), Room: "kitchen", Token: "tm", Username: "민지", NewToken: "unused"})
		join(t, s, JoinParams{Conn: conn("b"), Username: "Bob", Room: "lobby", NewToken: "tb"})

		res, err := s.Rename(ctx, "tm", "지수")
		if err != nil {
			t.Fatal(err)
		}
		want := Session{Token: "tm", Username: "지수", Key: proto.NameKey("지수"), Color: minji.Session.Color}
		if res.Session != want || res.From != "민지" || !res.Changed || res.Gen != 1 || !slices.Equal(res.Rooms, []string{"kitchen", "lobby"}) {
			t.Fatalf("Rename = %+v, want %+v from 민지, gen 1, in kitchen and lobby", res, want)
		}
		if got := usernames(allMembers(t, s, "lobby")); !slices.Equal(got, []string{"Bob", "지수"}) {
			t.Errorf("lobby = %v, want [Bob 지수]", got)
		}
		if got := usernames(allMembers(t, s, "kitchen")); !slices.Equal(got, []string{"지수"}) {
			t.Errorf("kitchen = %v, want [지수]", got)
		}
		if got, want := rooms(t, s), []RoomCount{{"kitchen", 1}, {"lobby", 2}}; !slices.Equal(got, want) {
			t.Errorf("Rooms = %v, want %v", got, want)
		}
		if got, online, err := s.Lookup(ctx, proto.NameKey("지수")); err != nil || !online || got != want {
			t.Errorf("Lookup(지수) = %+v, %v, %v; want the renamed session, online", got, online, err)
		}
		// The old name is nobody's: not even offline, for a whisper.
		if got, _, err := s.Lookup(ctx, proto.NameKey("민지")); !errors.Is(err, ErrNoSession) {
			t.Errorf("Lookup(민지) = %+v, %v; want ErrNoSession", got, err)
		}
		// A tab that resumes with the token is the new name, under any
		// other name a new session.
		if r := join(t, s, JoinParams{Conn: conn("m3"), Room: "lobby", Token: "tm"}); r.Session != want || r.Joined || r.Gen != 1 {
			t.Errorf("resume = %+v joined %v gen %d, want %+v, not joined, gen 1", r.Session, r.Joined, r.Gen, want)
		}
		if _, err := s.Join(ctx, JoinParams{Conn: conn("m4"), Username: "민지", Room: "lobby", Token: "tm", NewToken: "tm2"}); err != nil {
			t.Errorf("join as the old name with the token: %v, want a new session", err)
		}
		// Leaving: the session leaves under its new name.
		for _, c := range []string{"m1", "m2", "m3"} {
			leave(t, s, conn(c))
		}
		if got := usernames(allMembers(t, s, "lobby")); !slices.Equal(got, []string{"Bob", "민지"}) {
			t.Errorf("lobby after the renamed tabs left = %v, want [Bob 민지]", got)
		}
		// Offline, Lookup finds it by the new name, for whispers.
		leave(t, s, conn("m1#k"))
		if got, online, err := s.Lookup(ctx, proto.NameKey("지수")); err != nil || online || got != want {
			t.Errorf("Lookup(지수) offline = %+v, %v, %v; want the session, offline", got, online, err)
		}
	})

	t.Run("the old name is free at once", func(t *testing.T) {
		s, _ := open(t, time.Hour)
		join(t, s, JoinParams{Conn: conn("a"), Username: "Alice", Room: "lobby", NewToken: "ta"})
		if _, err := s.Rename(ctx, "ta", "Alicia"); err != nil {
			t.Fatal(err)
		}
		other := join(t, s, JoinParams{Conn: conn("x"), Username: "alice", Room: "lobby", NewToken: "tx"})
		if got, _, err := s.Lookup(ctx, proto.NameKey("Alice")); err != nil || got != other.Session {
			t.Errorf("Lookup(Alice) = %+v, %v; want the new holder %+v", got, err, other.Session)
		}
		if got := usernames(allMembers(t, s, "lobby")); !slices.Equal(got, []string{"alice", "Alicia"}) {
			t.Errorf("lobby = %v, want [alice Alicia]", got)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		s, _ := open(t, time.Hour)
		join(t, s, JoinParams{Conn: conn("a"), Username: "Alice", Room: "lobby", NewToken: "ta"})
		join(t, s, JoinParams{Conn: conn("b"), Username: "Bob", Room: "lobby", NewToken: "tb"})
		join(t, s, JoinParams{Conn: conn("c"), Username: "Carol", Room: "lobby", NewToken: "tc"})
		leave(t, s, conn("c"))
		tests := []struct {
			name, token, to string
			want            error
		}{
			{"a name held", "ta", "Bob", proto.ErrNameTaken},
			{"a look-alike", "ta", "ＢＯＢ", proto.ErrNameTaken},
			{"an offline session", "tc", "Carla", ErrNoSession},
			{"no such session", "nope", "Dave", ErrNoSession},
		}
		for _, tc := range tests {
			if _, err := s.Rename(ctx, tc.token, tc.to); !errors.Is(err, tc.want) {
				t.Errorf("%s: Rename = %v, want %v", tc.name, err, tc.want)
			}
		}
		if got := usernames(allMembers(t, s, "lobby")); !slices.Equal(got, []string{"Alice", "Bob"}) {
			t.Errorf("lobby = %v, want [Alice Bob]", got)
		}
	})

	t.Run("session rooms", func(t *testing.T) {
		s, _ := open(t, time.Hour)
		join(t, s, JoinParams{Conn: conn("m1"), Username: "민지", Room: "lobby", NewToken: "tm"})
		join(t, s, JoinParams{Conn: conn("m1#k"), Room: "kitchen", Token: "tm"})
		join(t, s, JoinParams{Conn: conn("m2"), Room: "lobby", Token: "tm"})
		join(t, s, JoinParams{Conn: conn("b"), Username: "Bob", Room: "garden", NewToken: "tb"})
		if got, err := s.SessionRooms(ctx, "tm"); err != nil || !slices.Equal(got, []string{"kitchen", "lobby"}) {
			t.Errorf("SessionRooms = %v, %v; want [kitchen lobby]", got, err)
		}
		if _, err := s.Linger(ctx, conn("m1#k"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if got, err := s.SessionRooms(ctx, "tm"); err != nil || !slices.Equal(got, []string{"kitchen", "lobby"}) {
			t.Errorf("SessionRooms with a lingering connection = %v, %v; want [kitchen lobby]", got, err)
		}
		for _, c := range []string{"m1", "m1#k", "m2"} {
			leave(t, s, conn(c))
		}
		for _, token := range []string{"tm", "nope"} {
			if got, err := s.SessionRooms(ctx, token); !errors.Is(err, ErrNoSession) {
				t.Errorf("SessionRooms(%s) = %v, %v; want ErrNoSession", token, got, err)
			}
		}
	})

	t.Run("the same name, and its own key", func(t *testing.T) {
		s, _ := open(t, time.Hour)
		join(t, s, JoinParams{Conn: conn("a"), Username: "alice", Room: "lobby", NewToken: "ta"})
		res, err := s.Rename(ctx, "ta", "alice")
		if err != nil || res.Changed || res.Gen != 0 || res.Session.Username != "alice" {
			t.Fatalf("Rename to its name = %+v, %v; want no change", res, err)
		}
		res, err = s.Rename(ctx, "ta", "Alice")
		if err != nil || !res.Changed || res.Gen != 1 || res.From != "alice" || res.Session.Username != "Alice" {
			t.Fatalf("Rename to its key's other spelling = %+v, %v; want Alice, gen 1", res, err)
		}
		if got := usernames(allMembers(t, s, "lobby")); !slices.Equal(got, []string{"Alice"}) {
			t.Errorf("lobby = %v, want [Alice]", got)
		}
	})

	t.Run("a rename takes the name from its last offline holder", func(t *testing.T) {
		s, _ := open(t, time.Hour)
		join(t, s, JoinParams{Conn: conn("b"), Username: "Bob", Room: "lobby", NewToken: "tb"})
		leave(t, s, conn("b"))
		a := join(t, s, JoinParams{Conn: conn("a"), Username: "Alice", Room: "lobby", NewToken: "ta"})
		if _, err := s.Rename(ctx, "ta", "Bob"); err != nil {
			t.Fatal(err)
		}
		got, online, err := s.Lookup(ctx, proto.NameKey("Bob"))
		if err != nil || !online || got.Token != a.Session.Token {
			t.Errorf("Lookup(Bob) = %+v, %v, %v; want Alice's session, online", got, online, err)
		}
		// Bob's token comes back to a name held: taken, as after a join.
		if _, err := s.Join(ctx, JoinParams{Conn: conn("b2"), Room: "lobby", Token: "tb"}); !errors.Is(err, proto.ErrNameTaken) {
			t.Errorf("Bob's resume = %v, want name taken", err)
		}
	})

	t.Run("two sessions rename to one name at once", func(t *testing.T) {
		s, _ := open(t, time.Hour)
		testRenameRace(t, []Store{s})
	})
	t.Run("a rename and a join of its name at once", func(t *testing.T) {
		s, _ := open(t, time.Hour)
		testRenameJoinRace(t, []Store{s})
	})
}

// testRenameRace has 20 sessions rename to one name (in several
// spellings) at once, spread over stores that share their data: exactly
// one wins, and the member list shows it alone under the name.
func testRenameRace(t *testing.T, stores []Store) {
	ctx := context.Background()
	const n = 20
	spellings := []string{"Racer", "racer", "ＲＡＣＥＲ"}
	for i := range n {
		join(t, stores[0], JoinParams{Conn: conn(fmt.Sprint("c", i)), Username: fmt.Sprint("user", i), Room: "lobby", NewToken: fmt.Sprint("t", i)})
	}
	won := oneWins(t, n, "rename", func(i int) error {
		_, err := stores[i%len(stores)].Rename(ctx, fmt.Sprint("t", i), spellings[i%len(spellings)])
		return err
	})
	ms := usernames(allMembers(t, stores[0], "lobby"))
	if len(ms) != n || !slices.Contains(ms, spellings[won%len(spellings)]) || slices.Contains(ms, fmt.Sprint("user", won)) {
		t.Errorf("lobby = %v, want %d users, user%d as %s", ms, n, won, spellings[won%len(spellings)])
	}
}

// testRenameJoinRace has a session rename to a name while another
// connection joins as it, many times, spread over stores that share their
// data: exactly one of the two gets it each time.
func testRenameJoinRace(t *testing.T, stores []Store) {
	ctx := context.Background()
	const rounds = 20
	joinersWon := 0
	for r := range rounds {
		name := fmt.Sprint("prize", r)
		tok := fmt.Sprint("renamer", r)
		join(t, stores[0], JoinParams{Conn: conn(tok), Username: tok, Room: "lobby", NewToken: tok})
		won := oneWins(t, 2, "rename or join", func(i int) error {
			if i == 0 {
				_, err := stores[r%len(stores)].Rename(ctx, tok, name)
				return err
			}
			_, err := stores[(r+1)%len(stores)].Join(ctx, JoinParams{Conn: conn(fmt.Sprint("joiner", r)), Username: name, Room: "lobby", NewToken: fmt.Sprint("joiner", r)})
			return err
		})
		if won == 1 {
			joinersWon++
		}
		holder, _, err := stores[0].Lookup(ctx, proto.NameKey(name))
		if wantTok := []string{tok, fmt.Sprint("joiner", r)}[won]; err != nil || holder.Token != wantTok {
			t.Fatalf("round %d: Lookup = %+v, %v; want %s's", r, holder, err, wantTok)
		}
	}
	if got, want := rooms(t, stores[0]), []RoomCount{{"lobby", rounds + joinersWon}}; !slices.Equal(got, want) {
		t.Errorf("Rooms = %v, want %v", got, want)
	}
}

package ops

import (
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/kit/wait"
)

// TestConnectNATSServerList checks that a service given NATS_URL as a
// comma-separated list connects to a server of it that answers, and moves
// to another when the one it is on goes away.
func TestConnectNATSServerList(t *testing.T) {
	a, b := natstest.Run(t), natstest.Run(t)
	// A port where nothing listens, first: a server of the list that is down.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "nats://127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	list := dead + "," + a.ClientURL() + ", " + b.ClientURL()

	nc, err := ConnectNATS(list, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	wait.Eventually(t, 10*time.Second, nc.IsConnected, "connected to a server of %s", list)
	if got := len(nc.Servers()); got < 3 {
		t.Errorf("the connection knows %d servers (%v), want the list's 3", got, nc.Servers())
	}
	first := nc.ConnectedUrl()
	on, other := a, b
	if first == b.ClientURL() {
		on, other = b, a
	}
	if first != on.ClientURL() {
		t.Fatalf("connected to %s, which is neither %s nor %s", first, a.ClientURL(), b.ClientURL())
	}

	reconnected := make(chan struct{}, 1)
	nc.SetReconnectHandler(func(*nats.Conn) {
		select {
		case reconnected <- struct{}{}:
		default:
		}
	})
	on.Shutdown()
	select {
	case <-reconnected:
	case <-time.After(15 * time.Second):
		t.Fatalf("not reconnected after %s went away", first)
	}
	if got := nc.ConnectedUrl(); got != other.ClientURL() {
		t.Errorf("reconnected to %s, want the survivor %s", got, other.ClientURL())
	}
	// It works there.
	sub, err := nc.SubscribeSync("natter.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("natter.test", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Errorf("no message on the survivor: %v", err)
	}
}

package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/kit/testlog"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
)

// TestGatewayRun: New subscribes nothing of the forwarding and is not
// ready; Run subscribes, serves HTTP on the listener it is given (with
// /metrics from the registry New was given) and is ready; when its ctx
// is cancelled it drains, stops serving and returns nil.
func TestGatewayRun(t *testing.T) {
	ns := natstest.Run(t)
	nc := natstest.Connect(t, ns.ClientURL())
	l := listen(t)
	url := "http://" + l.Addr().String()
	reg := prometheus.NewRegistry()
	gw, err := gateway.New(gateway.Config{ID: "gwrun", AdvertiseAddr: l.Addr().String(), Listener: l}, nc, testlog.Logger(t, ""), reg)
	if err != nil {
		t.Fatal(err)
	}
	askAddr := func() (string, error) {
		msg, err := nc.Request(proto.GatewayAddrSubject("gwrun"), nil, 2*time.Second)
		if err != nil {
			return "", err
		}
		return string(msg.Data), nil
	}
	if gw.Ready() == nil {
		t.Error("ready before Run")
	}
	if _, err := askAddr(); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("before Run, the address subject: %v, want no responders", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	waitReady(t, gw.Ready)
	if addr, err := askAddr(); err != nil || addr != l.Addr().String() {
		t.Errorf("address = %q, %v; want %q", addr, err, l.Addr().String())
	}
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/readyz":  "ok",
		"/metrics": "natter_gateway_forwarded_requests_total",
	} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d %.100q, want 200 with %q", path, resp.StatusCode, b, want)
		}
		if got := resp.Header.Get("X-Natter-Gateway"); path == "/healthz" && got != "" {
			t.Errorf("GET %s: X-Natter-Gateway %q", path, got)
		}
	}
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Natter-Gateway"); got != "gwrun" {
		t.Errorf("the web client: X-Natter-Gateway %q", got)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after its ctx was cancelled")
	}
	if _, err := askAddr(); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("after Run, the address subject: %v, want no responders", err)
	}
	http.DefaultClient.CloseIdleConnections()
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("still serving HTTP after Run returned")
	}
}

// TestGatewayRunFails: a Run that cannot listen returns the error and
// leaves no goroutine of the gateway behind.
func TestGatewayRunFails(t *testing.T) {
	ns := natstest.Run(t)
	nc := natstest.Connect(t, ns.ClientURL())
	taken := listen(t)
	defer taken.Close()
	// The NATS connection's request machinery, made on first use, and the
	// idle HTTP connections are not the gateway's.
	nc.Request("nothing.here", nil, 10*time.Millisecond)
	baseline := goleak.IgnoreCurrent()
	gw, err := gateway.New(gateway.Config{ID: "gwfail", HTTPAddr: taken.Addr().String()}, nc, testlog.Logger(t, ""), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	err = gw.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("Run on an address in use: %v", err)
	}
	if gw.Ready() == nil {
		t.Error("ready after a failed Run")
	}
	goleak.VerifyNone(t, baseline)
}

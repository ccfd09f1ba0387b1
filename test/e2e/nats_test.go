package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/natter/natter/kit/nodetest"
)

// natsConf is the NATS configuration compose and scripts/cluster.sh share.
func natsConf(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(nodetest.RepoRoot(tb), "deploy", "nats", "natter.conf")
}

// shippedSyncInterval returns the NATTER_NATS_SYNC_INTERVAL that
// scripts/cluster.sh uses unless told otherwise.
func shippedSyncInterval(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(nodetest.RepoRoot(tb), "scripts", "cluster.sh"))
	if err != nil {
		tb.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^sync_interval=\$\{NATTER_NATS_SYNC_INTERVAL:-([^}]+)\}$`).FindSubmatch(b)
	if m == nil {
		tb.Fatal("scripts/cluster.sh sets no default NATTER_NATS_SYNC_INTERVAL")
	}
	return string(m[1])
}

// TestNATSSyncSetting checks that compose and scripts/cluster.sh ship the
// same JetStream sync setting through deploy/nats/natter.conf, and that the
// server reads each kind of value as meant (it has a trap: "2m" is a size,
// 2 million seconds).
func TestNATSSyncSetting(t *testing.T) {
	root := nodetest.RepoRoot(t)
	shipped := shippedSyncInterval(t)

	var c composeFile
	readYAML(t, filepath.Join(root, "deploy", "compose", "docker-compose.yml"), &c)
	if len(natsNodes(c)) == 0 {
		t.Fatal("compose runs no NATS node")
	}
	for _, name := range natsNodes(c) {
		nats := c.Services[name]
		if got, want := nats.Environment["NATTER_NATS_SYNC_INTERVAL"], "${NATTER_NATS_SYNC_INTERVAL:-"+shipped+"}"; got != want {
			t.Errorf("compose's %s has NATTER_NATS_SYNC_INTERVAL=%q, want %q (scripts/cluster.sh's default)", name, got, want)
		}
		if i := slices.Index(nats.Command, "-c"); i < 0 || i+1 >= len(nats.Command) ||
			!slices.Contains(nats.Volumes, "../nats/natter.conf:"+nats.Command[i+1]+":ro") {
			t.Errorf("compose's %s does not run deploy/nats/natter.conf: command %v, volumes %v", name, nats.Command, nats.Volumes)
		}
	}

	type jsConfig struct {
		SyncInterval time.Duration `json:"sync_interval"`
		SyncAlways   bool          `json:"sync_always"`
	}
	for _, tc := range []struct {
		value string
		want  jsConfig
	}{
		{"always", jsConfig{SyncInterval: 2 * time.Minute, SyncAlways: true}},
		{"1s", jsConfig{SyncInterval: time.Second}},
		{"120s", jsConfig{SyncInterval: 2 * time.Minute}},
	} {
		t.Run(tc.value, func(t *testing.T) {
			mon := freePort(t)
			start(t, "nats", serverBinary(t, "nats-server"), []string{"-c", natsConf(t), "-a", "127.0.0.1",
				"-p", strconv.Itoa(freePort(t)), "-m", strconv.Itoa(mon), "-js", "-sd", t.TempDir()},
				"NATTER_NATS_SYNC_INTERVAL="+tc.value)
			url := fmt.Sprintf("http://127.0.0.1:%d/varz", mon)
			// /varz answers before JetStream has started (its config then
			// reads zero); /healthz only once it has.
			waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", mon))
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var varz struct {
				JetStream struct {
					Config jsConfig `json:"config"`
				} `json:"jetstream"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&varz); err != nil {
				t.Fatal(err)
			}
			if got := varz.JetStream.Config; got != tc.want {
				t.Errorf("NATTER_NATS_SYNC_INTERVAL=%s: server runs with %+v, want %+v", tc.value, got, tc.want)
			}
		})
	}
}

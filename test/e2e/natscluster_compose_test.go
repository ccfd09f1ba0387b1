package e2e

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/natter/natter/kit/nodetest"
)

// natsNodes returns the compose services that are nodes of the NATS
// cluster (nats1, nats2, ...), in order.
func natsNodes(c composeFile) []string {
	var nodes []string
	for _, name := range sortedKeys(c.Services) {
		if regexp.MustCompile(`^nats\d+$`).MatchString(name) {
			nodes = append(nodes, name)
		}
	}
	return nodes
}

// composeNATSURL is the NATS_URL every natter service of the compose file
// must have: each NATS node, comma-separated.
func composeNATSURL(c composeFile) string {
	var urls []string
	for _, n := range natsNodes(c) {
		urls = append(urls, "nats://"+n+":4222")
	}
	return strings.Join(urls, ",")
}

// flagValue returns the value after the flag name in a command line.
func flagValue(cmd []string, name string) string {
	if i := slices.Index(cmd, name); i >= 0 && i+1 < len(cmd) {
		return cmd[i+1]
	}
	return ""
}

// TestComposeNATSCluster checks the compose file's NATS cluster: three
// nodes (as scripts/cluster.sh runs), each with its own name and store,
// the shared configuration file, JetStream, and routes to every node; and
// history keeping natter's stream in a copy on each.
func TestComposeNATSCluster(t *testing.T) {
	root := nodetest.RepoRoot(t)
	var c composeFile
	readYAML(t, filepath.Join(root, "deploy", "compose", "docker-compose.yml"), &c)
	nodes := natsNodes(c)
	if len(nodes) != 3 {
		t.Fatalf("compose runs NATS nodes %v, want 3", nodes)
	}
	if _, ok := c.Services["nats"]; ok {
		t.Error("compose still runs a lone nats besides the cluster")
	}

	var want []string // every node's route
	for _, n := range nodes {
		cmd := c.Services[n].Command
		u, err := url.Parse(flagValue(cmd, "--cluster"))
		if err != nil || u.Port() == "" {
			t.Fatalf("%s: --cluster %q is no listen URL", n, flagValue(cmd, "--cluster"))
		}
		want = append(want, "nats://"+n+":"+u.Port())
	}
	volumes := map[string]string{}
	for _, n := range nodes {
		t.Run(n, func(t *testing.T) {
			s := c.Services[n]
			if got := flagValue(s.Command, "--server_name"); got != n {
				t.Errorf("--server_name %q, want %q", got, n)
			}
			if got := flagValue(s.Command, "--cluster_name"); got != "natter" {
				t.Errorf("--cluster_name %q, want natter", got)
			}
			if got := strings.Split(flagValue(s.Command, "--routes"), ","); !slices.Equal(got, want) {
				t.Errorf("--routes %v, want every node's %v", got, want)
			}
			if !slices.Contains(s.Command, "-js") || flagValue(s.Command, "-c") != "/etc/nats/natter.conf" ||
				!slices.Contains(s.Volumes, "../nats/natter.conf:/etc/nats/natter.conf:ro") {
				t.Errorf("want JetStream and deploy/nats/natter.conf: command %v volumes %v", s.Command, s.Volumes)
			}
			sd := flagValue(s.Command, "-sd")
			for _, v := range s.Volumes {
				if src, dst, _ := strings.Cut(v, ":"); dst == sd {
					if other, ok := volumes[src]; ok {
						t.Errorf("stores in volume %s, as %s does", src, other)
					}
					volumes[src] = n
				}
			}
			if !slices.Contains(sortedValues(volumes), n) {
				t.Errorf("no volume of its own at its store folder %s: %v", sd, s.Volumes)
			}
		})
	}

	t.Run("replicas", func(t *testing.T) {
		if got := c.Services["history"].Environment["NATTER_JETSTREAM_REPLICAS"]; got != strconv.Itoa(len(nodes)) {
			t.Errorf("history's NATTER_JETSTREAM_REPLICAS=%q, want a copy on each of the %d nodes", got, len(nodes))
		}
		b, err := os.ReadFile(filepath.Join(root, "scripts", "cluster.sh"))
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^replicas=\$\{NATTER_JETSTREAM_REPLICAS:-\$NATS_NODES\}$`).Match(b) {
			t.Error("scripts/cluster.sh does not give history a copy on each NATS node by default")
		}
	})
}

func sortedValues(m map[string]string) []string {
	var v []string
	for _, k := range sortedKeys(m) {
		v = append(v, m[k])
	}
	return v
}

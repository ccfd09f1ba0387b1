package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/natter/natter/kit/nodetest"
)

// fromEnv is the pattern of compose's ${name}, ${name?msg} or
// ${name:?msg}: a value from the environment with no default.
func fromEnv(name string) string {
	return `\$\{` + name + `(:?\?[^}]*)?\}`
}

// TestComposeOperable checks what makes the compose stack operable: every
// natter service probed by its binary's healthcheck subcommand, each
// service started once what it needs is healthy, the images pinned to the
// versions the tests run, the passwords from the environment, and only
// nginx published on every interface.
func TestComposeOperable(t *testing.T) {
	root := nodetest.RepoRoot(t)
	composeDir := filepath.Join(root, "deploy", "compose")
	var c composeFile
	readYAML(t, filepath.Join(composeDir, "docker-compose.yml"), &c)

	var natter []string // the natter services, by kind
	byKind := map[string][]string{}
	for _, name := range sortedKeys(c.Services) {
		if kind := kindOf(name); kind != name || kind == "history" {
			natter = append(natter, name)
			byKind[kind] = append(byKind[kind], name)
		}
	}

	t.Run("healthchecks", func(t *testing.T) {
		// The images run the binary at the Dockerfile's ENTRYPOINT.
		b, err := os.ReadFile(filepath.Join(composeDir, "Dockerfile"))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^ENTRYPOINT (\[.*\])$`).FindSubmatch(b)
		var entry []string
		if m == nil || json.Unmarshal(m[1], &entry) != nil || len(entry) != 1 {
			t.Fatalf("the Dockerfile's ENTRYPOINT is not one binary: %q", m)
		}
		want := []string{"CMD", entry[0], "healthcheck"}
		for _, name := range natter {
			h := c.Services[name].Healthcheck
			if h == nil || !slices.Equal(h.Test, want) {
				t.Errorf("%s: healthcheck %+v, want %q", name, h, want)
			}
		}
		for _, name := range append(natsNodes(c), "redis", "redis-replica", "sentinel1", "sentinel2", "sentinel3") {
			if h := c.Services[name].Healthcheck; h == nil || len(h.Test) == 0 {
				t.Errorf("%s has no healthcheck", name)
			}
		}
	})

	t.Run("started once what they need is healthy", func(t *testing.T) {
		need := map[string][]string{"nginx": byKind["gateway"]}
		for _, name := range byKind["gateway"] {
			need[name] = slices.Concat(natsNodes(c), byKind["presence"], byKind["history"])
		}
		for _, name := range byKind["presence"] {
			need[name] = append(natsNodes(c), "redis", "redis-replica", "sentinel1", "sentinel2", "sentinel3")
		}
		for _, name := range byKind["history"] {
			need[name] = natsNodes(c)
		}
		for _, name := range sortedKeys(need) {
			got := c.Services[name].DependsOn
			for _, d := range need[name] {
				if got[d] != "service_healthy" {
					t.Errorf("%s depends on %s with %q, want service_healthy", name, d, got[d])
				}
			}
		}
		// A condition needs a healthcheck to wait for.
		for _, name := range sortedKeys(c.Services) {
			for d, cond := range c.Services[name].DependsOn {
				if cond == "service_healthy" && c.Services[d].Healthcheck == nil {
					t.Errorf("%s waits for %s to be healthy, which has no healthcheck", name, d)
				}
			}
		}
	})

	t.Run("images pinned", func(t *testing.T) {
		tag := map[string]string{}
		for _, name := range sortedKeys(c.Services) {
			s := c.Services[name]
			if s.Build != nil {
				continue // built from this repository
			}
			image, v, _ := strings.Cut(s.Image, ":")
			if !regexp.MustCompile(`^v?\d+\.\d+\.\d+(-[a-z0-9.]+)?$`).MatchString(v) {
				t.Errorf("%s: image %s is not pinned to a version x.y.z", name, s.Image)
			}
			tag[image] = strings.TrimPrefix(v, "v")
		}
		// nats-server as kit/go.mod requires it (the server the tests run).
		gomod, err := os.ReadFile(filepath.Join(root, "kit", "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^\s*github\.com/nats-io/nats-server/v2 v(\S+)`).FindSubmatch(gomod)
		if m == nil {
			t.Fatal("kit/go.mod requires no nats-server")
		}
		if got, _, _ := strings.Cut(tag["nats"], "-"); got != string(m[1]) {
			t.Errorf("image nats:%s, kit/go.mod requires nats-server %s", tag["nats"], m[1])
		}
		// Redis of the major.minor the tests run, where they run one.
		if p, err := exec.LookPath("redis-server"); err == nil {
			out, err := exec.Command(p, "--version").Output()
			mm := regexp.MustCompile(`v=(\d+\.\d+)\.`).FindSubmatch(out)
			if err != nil || mm == nil {
				t.Fatalf("redis-server --version: %v %q", err, out)
			}
			if !strings.HasPrefix(tag["redis"], string(mm[1])+".") {
				t.Errorf("image redis:%s, the tests run Redis %s", tag["redis"], mm[1])
			}
		} else {
			t.Log("no redis-server here: the Redis image's version is not compared")
		}
	})

	t.Run("only nginx on every interface", func(t *testing.T) {
		for _, name := range sortedKeys(c.Services) {
			for _, p := range c.Services[name].Ports {
				local := strings.HasPrefix(p, "127.0.0.1:")
				if name == "nginx" && local {
					t.Errorf("nginx publishes %s on 127.0.0.1 alone", p)
				}
				if name != "nginx" && !local {
					t.Errorf("%s publishes %s on every interface, want 127.0.0.1:%s", name, p, p)
				}
			}
		}
		if len(c.Services["nginx"].Ports) == 0 {
			t.Error("nginx publishes nothing")
		}
	})

	t.Run("passwords from the environment", func(t *testing.T) {
		grafana := c.Services["grafana"].Environment["GF_SECURITY_ADMIN_PASSWORD"]
		if !regexp.MustCompile(`^` + fromEnv("GRAFANA_ADMIN_PASSWORD") + `$`).MatchString(grafana) {
			t.Errorf("grafana's admin password %q, want ${GRAFANA_ADMIN_PASSWORD:?...}", grafana)
		}
		for _, name := range []string{"redis", "redis-replica"} {
			redis := c.Services[name]
			for _, flag := range []string{"--requirepass", "--masterauth"} {
				i := slices.Index(redis.Command, flag)
				if i < 0 || i+1 == len(redis.Command) || !regexp.MustCompile(`^`+fromEnv("REDIS_PASSWORD")+`$`).MatchString(redis.Command[i+1]) {
					t.Errorf("%s: command %q, want %s ${REDIS_PASSWORD:?...}", name, redis.Command, flag)
				}
			}
		}
		// make compose-up writes every variable the file requires into
		// deploy/compose/.env, so that it runs with nothing set.
		b, err := os.ReadFile(filepath.Join(composeDir, "docker-compose.yml"))
		if err != nil {
			t.Fatal(err)
		}
		mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
		if err != nil {
			t.Fatal(err)
		}
		required := map[string]bool{}
		for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+):?\?`).FindAllSubmatch(b, -1) {
			required[string(m[1])] = true
		}
		if len(required) == 0 {
			t.Error("the compose file requires no variable")
		}
		for _, v := range sortedKeys(required) {
			if !strings.Contains(string(mk), `echo "`+v+`=`) {
				t.Errorf("the compose file requires %s, which the Makefile does not write into deploy/compose/.env", v)
			}
		}
	})
}

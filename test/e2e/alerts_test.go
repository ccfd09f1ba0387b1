package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/natter/natter/kit/nodetest"
)

// The alert rules, deploy/prometheus/alerts.yml: valid, passing their unit
// tests (alerts_test.yml beside them), on metrics that exist, and loaded
// wherever prometheus.yml is (compose, scripts/cluster.sh).

// exporterMetrics are the series the rules read from elsewhere than the
// services: Prometheus's own, and prometheus-nats-exporter's -jsz.
var exporterMetrics = regexp.MustCompile(`^(up|jetstream_server_[a-z_]+)$`)

type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string            `yaml:"alert"`
			Expr   string            `yaml:"expr"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestAlertRules(t *testing.T) {
	root := nodetest.RepoRoot(t)
	dir := filepath.Join(root, "deploy", "prometheus")
	rules := filepath.Join(dir, "alerts.yml")

	t.Run("promtool", func(t *testing.T) {
		promtool := tool(t, "promtool")
		if promtool == "" {
			t.Skip("no promtool")
		}
		for _, args := range [][]string{
			{"check", "rules", rules},
			{"test", "rules", filepath.Join(dir, "alerts_test.yml")},
		} {
			out, err := exec.Command(promtool, args...).CombinedOutput()
			if err != nil {
				t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	})

	t.Run("every rule tested, on exported metrics", func(t *testing.T) {
		var r alertRules
		readYAML(t, rules, &r)
		b, err := os.ReadFile(filepath.Join(dir, "alerts_test.yml"))
		if err != nil {
			t.Fatal(err)
		}
		tested := map[string]bool{}
		for _, m := range regexp.MustCompile(`alertname:\s*(\w+)`).FindAllStringSubmatch(string(b), -1) {
			tested[m[1]] = true
		}
		exported := exportedMetrics(t)
		n := 0
		for _, g := range r.Groups {
			for _, rule := range g.Rules {
				n++
				if !tested[rule.Alert] {
					t.Errorf("%s: alerts_test.yml does not test it", rule.Alert)
				}
				if s := rule.Labels["severity"]; s != "critical" && s != "warning" {
					t.Errorf("%s: severity %q, want critical or warning", rule.Alert, s)
				}
				names := metricNames(rule.Expr)
				if len(names) == 0 {
					t.Errorf("%s: %q names no metric", rule.Alert, rule.Expr)
				}
				for _, m := range names {
					if promKeywords[m] {
						// metricNames keeps a keyword followed by
						// whitespace ("and\n"), as the dashboard has none.
						continue
					}
					if !exported[m] && !exporterMetrics.MatchString(m) {
						t.Errorf("%s: no service exports %s", rule.Alert, m)
					}
				}
			}
		}
		if n == 0 {
			t.Fatal("no rules")
		}
	})

	// Prometheus fails to start when a rule file it names is missing: each
	// place that runs prometheus.yml puts its rule files beside it.
	t.Run("loaded with prometheus.yml", func(t *testing.T) {
		var p struct {
			RuleFiles []string `yaml:"rule_files"`
		}
		readYAML(t, filepath.Join(dir, "prometheus.yml"), &p)
		if !slices.Contains(p.RuleFiles, "alerts.yml") {
			t.Errorf("prometheus.yml's rule_files %v do not load alerts.yml", p.RuleFiles)
		}
		var c composeFile
		readYAML(t, filepath.Join(root, "deploy", "compose", "docker-compose.yml"), &c)
		mounts := map[string]string{} // file in deploy/prometheus -> where the container has it
		for _, v := range c.Services["prometheus"].Volumes {
			src, dst, _ := strings.Cut(v, ":")
			dst, _, _ = strings.Cut(dst, ":")
			if rel, ok := strings.CutPrefix(src, "../prometheus/"); ok {
				mounts[rel] = dst
			}
		}
		script, err := os.ReadFile(filepath.Join(root, "scripts", "cluster.sh"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range p.RuleFiles {
			if !fileExists(filepath.Join(dir, f)) {
				t.Errorf("rule file %s does not exist", f)
			}
			if want := filepath.Join(filepath.Dir(mounts["prometheus.yml"]), f); mounts[f] != want {
				t.Errorf("compose mounts %s at %q, want %s (beside prometheus.yml)", f, mounts[f], want)
			}
			if !regexp.MustCompile(`cp "\$root/deploy/prometheus/` + regexp.QuoteMeta(f) + `" "\$dir/` + regexp.QuoteMeta(f) + `"`).Match(script) {
				t.Errorf("scripts/cluster.sh does not copy %s beside the prometheus.yml it renders ($dir)", f)
			}
		}
	})
}

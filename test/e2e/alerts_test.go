package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/kit/wait"
)

// The alert rules, deploy/prometheus/alerts.yml: valid, passing their unit
// tests (alerts_test.yml beside them), on metrics that exist, and loaded
// wherever prometheus.yml is (compose, scripts/cluster.sh).

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
					if !exported[m] && m != "up" && exporterJob(m) == "" {
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

// promGet decodes the data of a Prometheus API answer.
func promGet(tb testing.TB, url string, data any) error {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("%s: %v", url, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: status %q", url, body.Status)
	}
	return json.Unmarshal(body.Data, data)
}

type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

// TestAlertFiresOnCluster runs the rules in the Prometheus of a local
// cluster (scripts/cluster.sh, PROMETHEUS=1): a healthy stack raises no
// alert and every rule evaluates without error; a gateway killed with
// SIGKILL raises NatterGatewayDown for it, pending and then, a minute
// later, firing.
func TestAlertFiresOnCluster(t *testing.T) {
	if tool(t, "prometheus") == "" {
		t.Skip("no prometheus")
	}
	s := clusterUp(t, true)
	prom := s.urls["prometheus"]
	var want alertRules
	readYAML(t, filepath.Join(nodetest.RepoRoot(t), "deploy", "prometheus", "alerts.yml"), &want)

	// Every rule loaded and evaluated at least once, without error; the
	// targets all up by then (checkPrometheus's wait, here for the alerts).
	wait.Succeeds(t, 60*time.Second, func() error {
		var rules struct {
			Groups []struct {
				Rules []struct {
					Name           string    `json:"name"`
					Health         string    `json:"health"`
					LastError      string    `json:"lastError"`
					LastEvaluation time.Time `json:"lastEvaluation"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := promGet(t, prom+"/api/v1/rules", &rules); err != nil {
			return err
		}
		var got []string
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				if r.LastEvaluation.IsZero() || r.LastEvaluation.Before(time.Unix(1, 0)) {
					return fmt.Errorf("%s not evaluated yet", r.Name)
				}
				if r.Health != "ok" {
					t.Fatalf("rule %s: health %s: %s", r.Name, r.Health, r.LastError)
				}
				got = append(got, r.Name)
			}
		}
		var names []string
		for _, g := range want.Groups {
			for _, r := range g.Rules {
				names = append(names, r.Alert)
			}
		}
		if !slices.Equal(got, names) {
			return fmt.Errorf("Prometheus has rules %v, alerts.yml %v", got, names)
		}
		var targets struct {
			ActiveTargets []struct{ Health string } `json:"activeTargets"`
		}
		if err := promGet(t, prom+"/api/v1/targets", &targets); err != nil {
			return err
		}
		for _, tg := range targets.ActiveTargets {
			if tg.Health != "up" {
				return fmt.Errorf("a target is %s", tg.Health)
			}
		}
		return nil
	})
	var alerts struct {
		Alerts []promAlert `json:"alerts"`
	}
	if err := promGet(t, prom+"/api/v1/alerts", &alerts); err != nil {
		t.Fatal(err)
	}
	if len(alerts.Alerts) != 0 {
		t.Fatalf("a healthy stack raises %+v", alerts.Alerts)
	}
	// NatterNotReady's metric, scraped from every service: all ready (a
	// target's first samples may not be queryable yet when it shows up).
	wait.Succeeds(t, 30*time.Second, func() error {
		var ready []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := promGet(t, prom+"/api/v1/query?query=natter_ready", &struct {
			Result any `json:"result"`
		}{&ready}); err != nil {
			return err
		}
		jobs := map[string]int{}
		for _, r := range ready {
			if r.Value[1] != "1" {
				return fmt.Errorf("natter_ready of %s is %v on a healthy stack", r.Metric["instance"], r.Value[1])
			}
			jobs[r.Metric["job"]]++
		}
		if jobs["gateway"] != 4 || jobs["presence"] != 2 || jobs["history"] != 1 {
			return fmt.Errorf("natter_ready scraped from %v, want 4 gateways, 2 presences, 1 history", jobs)
		}
		return nil
	})

	instance := strings.TrimPrefix(s.urls["gateway2"], "http://")
	if err := syscall.Kill(s.pid(t, "gateway2"), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var pendingAt time.Duration
	// up is 0 from the next scrape (5 s), the rule sees it at its next
	// evaluation (15 s), and fires one minute (its for) after that.
	wait.Succeeds(t, 150*time.Second, func() error {
		if err := promGet(t, prom+"/api/v1/alerts", &alerts); err != nil {
			return err
		}
		var seen []string
		for _, a := range alerts.Alerts {
			if a.Labels["alertname"] == "NatterGatewayDown" && a.Labels["instance"] == instance {
				if a.State == "pending" && pendingAt == 0 {
					pendingAt = time.Since(killed)
				}
				if a.State == "firing" {
					return nil
				}
			}
			seen = append(seen, a.Labels["alertname"]+" "+a.Labels["instance"]+" "+a.State)
		}
		return fmt.Errorf("NatterGatewayDown for %s not firing; alerts: %v", instance, seen)
	})
	t.Logf("NatterGatewayDown for %s: pending after %s, firing after %s", instance,
		pendingAt.Round(time.Second), time.Since(killed).Round(time.Second))
	if pendingAt == 0 {
		t.Error("the alert fired without being pending first (its for: 1m)")
	}
	for _, a := range alerts.Alerts {
		if a.Labels["alertname"] != "NatterGatewayDown" {
			t.Errorf("killing a gateway also raised %+v", a)
		}
	}
}

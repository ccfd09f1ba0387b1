package e2e

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/natter/natter/kit/nodetest"
)

// exporterJobs are the Prometheus jobs of the exporters compose runs beside
// NATS and Redis, by the prefix of the metrics they export: the dashboard
// and the alert rules read these, which no natter service exports.
var exporterJobs = map[string]string{"jetstream_": "nats", "gnatsd_": "nats", "redis_": "redis"}

// exporterJob returns the job of the exporter that exports metric, or "".
func exporterJob(metric string) string {
	for prefix, job := range exporterJobs {
		if strings.HasPrefix(metric, prefix) {
			return job
		}
	}
	return ""
}

// TestComposeExporters checks the exporters of the compose file:
// prometheus-nats-exporter beside each NATS node, reading its monitoring
// port with the collectors the dashboard and alerts need, redis_exporter
// with the password from the environment, none published, and each
// scraped by the Prometheus job its metrics' panels and rules count on.
func TestComposeExporters(t *testing.T) {
	root := nodetest.RepoRoot(t)
	var c composeFile
	readYAML(t, filepath.Join(root, "deploy", "compose", "docker-compose.yml"), &c)
	var p promConfig
	readYAML(t, filepath.Join(root, "deploy", "prometheus", "prometheus.yml"), &p)
	jobs := map[string][]string{}
	for _, sc := range p.ScrapeConfigs {
		for _, s := range sc.StaticConfigs {
			jobs[sc.JobName] = append(jobs[sc.JobName], s.Targets...)
		}
	}
	want := map[string][]string{} // job -> the exporters' name:port
	var exporters []string

	// beside returns the exporter compose runs beside server, from image.
	beside := func(server, image string) (name string, e composeService, ok bool) {
		name = server + "-exporter"
		exporters = append(exporters, name)
		if e, ok = c.Services[name]; !ok {
			t.Errorf("no %s beside %s", name, server)
		} else if !strings.HasPrefix(e.Image, image+":") {
			t.Errorf("%s: image %s, want %s", name, e.Image, image)
		}
		return name, e, ok
	}

	for _, node := range natsNodes(c) {
		name, e, ok := beside(node, "natsio/prometheus-nats-exporter")
		if !ok {
			continue
		}
		for _, flag := range []string{"-varz", "-jsz=all"} {
			if !slices.Contains(e.Command, flag) {
				t.Errorf("%s: command %q lacks %s (slow consumers; streams and consumers)", name, e.Command, flag)
			}
		}
		if len(e.Command) == 0 || e.Command[len(e.Command)-1] != "http://"+node+":8222" {
			t.Errorf("%s: command %q does not end with %s's monitoring port, http://%s:8222", name, e.Command, node, node)
		}
		// nats nodes publish their monitoring port as -m 8222 (compose).
		if got := flagValue(c.Services[node].Command, "-m"); got != "8222" {
			t.Errorf("%s monitors on %q, its exporter reads 8222", node, got)
		}
		port := flagValue(e.Command, "-port")
		if !slices.Equal(e.Expose, []string{port}) {
			t.Errorf("%s: listens on -port %q, exposes %v", name, port, e.Expose)
		}
		want["nats"] = append(want["nats"], name+":"+port)
	}

	// One redis_exporter beside each Redis server: with Sentinel either
	// may be the primary.
	for _, server := range []string{"redis", "redis-replica"} {
		name, r, ok := beside(server, "oliver006/redis_exporter")
		if !ok {
			continue
		}
		if r.Environment["REDIS_ADDR"] != "redis://"+server+":6379" {
			t.Errorf("%s: REDIS_ADDR=%q", name, r.Environment["REDIS_ADDR"])
		}
		if !regexp.MustCompile(`^` + fromEnv("REDIS_PASSWORD") + `$`).MatchString(r.Environment["REDIS_PASSWORD"]) {
			t.Errorf("%s: REDIS_PASSWORD=%q, want ${REDIS_PASSWORD:?...}", name, r.Environment["REDIS_PASSWORD"])
		}
		// redis_exporter listens on 9121 unless told otherwise.
		if !slices.Equal(r.Expose, []string{"9121"}) || r.Environment["REDIS_EXPORTER_WEB_LISTEN_ADDRESS"] != "" {
			t.Errorf("%s: exposes %v, listens on :9121", name, r.Expose)
		}
		want["redis"] = append(want["redis"], name+":9121")
	}

	for _, name := range exporters {
		if ports := c.Services[name].Ports; len(ports) > 0 {
			t.Errorf("%s publishes %v: only Prometheus reads it", name, ports)
		}
		if _, ok := c.Services["prometheus"].DependsOn[name]; !ok {
			t.Errorf("prometheus does not depend on %s", name)
		}
	}
	for _, job := range sortedKeys(want) {
		if !slices.Equal(jobs[job], want[job]) {
			t.Errorf("job %s scrapes %v, compose runs %v", job, jobs[job], want[job])
		}
	}

	// Every exporter metric the dashboard or a rule reads has its job.
	var rules alertRules
	readYAML(t, filepath.Join(root, "deploy", "prometheus", "alerts.yml"), &rules)
	exprs := dashboardExprs(t)
	for _, g := range rules.Groups {
		for _, rule := range g.Rules {
			exprs = append(exprs, rule.Expr)
		}
	}
	read := map[string]bool{}
	for _, expr := range exprs {
		for _, m := range metricNames(expr) {
			if job := exporterJob(m); job != "" {
				read[job] = true
				if len(jobs[job]) == 0 {
					t.Errorf("%q reads %s, which job %s would scrape: prometheus.yml has no such job", expr, m, job)
				}
			}
		}
	}
	for _, job := range []string{"nats", "redis"} {
		if !read[job] {
			t.Errorf("neither the dashboard nor a rule reads what job %s scrapes", job)
		}
	}
}

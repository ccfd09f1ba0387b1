package e2e

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/kit/ops"
	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// The full stack: deploy/compose/docker-compose.yml, its local twin
// scripts/cluster.sh (make cluster-up), and tests over the twin.
//
// The clients here use transports: ["websocket"]; cluster_polling_test.go
// runs the other transport modes through nginx (any gateway serves any
// session: issue 7).

// composeFile is the part of a compose file these tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string            `yaml:"context"`
		Dockerfile string            `yaml:"dockerfile"`
		Args       map[string]string `yaml:"args"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Expose      []string          `yaml:"expose"`
	DependsOn   dependsOn         `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

// dependsOn is a compose depends_on in either form, a list of services or
// a map of each to its condition: the service's condition by name, with
// compose's default, service_started, for the list.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = dependsOn{}
	if n.Kind == yaml.AliasNode { // depends_on: *nats-healthy
		n = n.Alias
	}
	switch n.Kind {
	case yaml.SequenceNode:
		var names []string
		if err := n.Decode(&names); err != nil {
			return err
		}
		for _, name := range names {
			(*d)[name] = "service_started"
		}
	case yaml.MappingNode:
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := n.Decode(&m); err != nil {
			return err
		}
		for name, c := range m {
			(*d)[name] = cmp.Or(c.Condition, "service_started")
		}
	default:
		return fmt.Errorf("depends_on: line %d is neither a list nor a map", n.Line)
	}
	return nil
}

type promConfig struct {
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func readYAML(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// scriptTopology reads how many of each service scripts/cluster.sh starts.
func scriptTopology(tb testing.TB, root string) map[string]int {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(root, "scripts", "cluster.sh"))
	if err != nil {
		tb.Fatal(err)
	}
	n := map[string]int{}
	for kind, v := range map[string]string{"nats": "NATS_NODES", "gateway": "GATEWAYS", "presence": "PRESENCES", "history": "HISTORIES"} {
		m := regexp.MustCompile(`(?m)^` + v + `=(\d+)$`).FindSubmatch(b)
		if m == nil {
			tb.Fatalf("scripts/cluster.sh sets no %s", v)
		}
		n[kind], _ = strconv.Atoi(string(m[1]))
	}
	return n
}

// envOf is the environment each kind of service reads: its Env, which
// its ConfigFromEnv (the only reader) goes by.
var envOf = map[string][]ops.EnvVar{
	"gateway":  gateway.Env,
	"presence": presence.Env,
	"history":  history.Env,
}

// envNames returns the names of the variables in env.
func envNames(env []ops.EnvVar) map[string]bool {
	names := map[string]bool{}
	for _, v := range env {
		names[v.Name] = true
	}
	return names
}

// placeholders returns the ${NAME}s of the nginx template outside comments.
func placeholders(tb testing.TB, path string) []string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`).FindAllStringSubmatch(line, -1) {
			seen[m[1]] = true
		}
	}
	return sortedKeys(seen)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// kindOf names the natter service a compose service runs ("gateway" for
// gateway3), or "" for the others.
func kindOf(name string) string {
	return regexp.MustCompile(`^(gateway|presence|history)\d*$`).ReplaceAllString(name, "$1")
}

// composeSentinels are the host:ports of the compose file's sentinels, the
// services sentinel1, sentinel2, ..., in order.
func composeSentinels(c composeFile) []string {
	var out []string
	for i := 1; ; i++ {
		name := fmt.Sprintf("sentinel%d", i)
		s, ok := c.Services[name]
		if !ok {
			return out
		}
		out = append(out, name+":"+strings.Join(s.Expose, ","))
	}
}

// TestComposeMatchesTopology reads the compose file and checks it against
// the repository and the local topology of scripts/cluster.sh, so that it
// cannot rot while nobody runs Docker.
func TestComposeMatchesTopology(t *testing.T) {
	root := nodetest.RepoRoot(t)
	composeDir := filepath.Join(root, "deploy", "compose")
	var c composeFile
	readYAML(t, filepath.Join(composeDir, "docker-compose.yml"), &c)

	count := map[string]int{"nats": len(natsNodes(c))}
	ports := map[string][]string{} // kind -> "service:port", for Prometheus
	natsURL := composeNATSURL(c)
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		t.Run(name, func(t *testing.T) {
			for _, v := range s.Volumes {
				src, _, _ := strings.Cut(v, ":")
				if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
					if !fileExists(filepath.Join(composeDir, src)) {
						t.Errorf("mounts %s, which does not exist", src)
					}
				} else if _, ok := c.Volumes[src]; !ok {
					t.Errorf("volume %s is not declared", src)
				}
			}
			for _, d := range sortedKeys(s.DependsOn) {
				if _, ok := c.Services[d]; !ok {
					t.Errorf("depends on %s, which is no service", d)
				}
			}
			kind := kindOf(name)
			if kind == name && kind != "history" {
				return // not a natter service
			}
			count[kind]++
			if s.Build == nil {
				t.Fatal("no build")
			}
			if ctx := filepath.Join(composeDir, s.Build.Context); filepath.Clean(ctx) != root {
				t.Errorf("build context %s is not the repository root", s.Build.Context)
			}
			if !fileExists(filepath.Join(root, s.Build.Dockerfile)) {
				t.Errorf("Dockerfile %s does not exist", s.Build.Dockerfile)
			}
			if got := s.Build.Args["SERVICE"]; got != kind {
				t.Errorf("builds SERVICE=%q, want %q", got, kind)
			}
			if !fileExists(filepath.Join(root, "services", kind, "cmd", kind, "main.go")) {
				t.Errorf("services/%s/cmd/%s does not exist", kind, kind)
			}
			read := envNames(envOf[kind])
			for _, k := range sortedKeys(s.Environment) {
				if !read[k] {
					t.Errorf("sets %s, which %s never reads", k, kind)
				}
			}
			if s.Environment["NATS_URL"] != natsURL {
				t.Errorf("NATS_URL=%q, want every NATS node: %s", s.Environment["NATS_URL"], natsURL)
			}
			// Redis through the sentinels, the password from the environment.
			if kind == "presence" {
				if got, want := s.Environment["NATTER_REDIS_SENTINELS"], strings.Join(composeSentinels(c), ","); got != want {
					t.Errorf("NATTER_REDIS_SENTINELS=%q, want the compose file's sentinels %q", got, want)
				}
				if got := s.Environment["NATTER_REDIS_MASTER"]; got != "natter" {
					t.Errorf("NATTER_REDIS_MASTER=%q, want the sentinels' natter", got)
				}
				if !regexp.MustCompile(`^` + fromEnv("REDIS_PASSWORD") + `$`).MatchString(s.Environment["NATTER_REDIS_PASSWORD"]) {
					t.Errorf("NATTER_REDIS_PASSWORD=%q, want ${REDIS_PASSWORD:?...}", s.Environment["NATTER_REDIS_PASSWORD"])
				}
				if _, ok := s.Environment["REDIS_URL"]; ok {
					t.Error("sets REDIS_URL beside the sentinels")
				}
			}
			if kind == "gateway" && s.Environment["NATTER_GATEWAY_ID"] != name {
				t.Errorf("NATTER_GATEWAY_ID=%q, want %q", s.Environment["NATTER_GATEWAY_ID"], name)
			}
			_, port, ok := strings.Cut(s.Environment["NATTER_HTTP_ADDR"], ":")
			if !ok || !slices.Equal(s.Expose, []string{port}) {
				t.Errorf("NATTER_HTTP_ADDR=%q but exposes %v", s.Environment["NATTER_HTTP_ADDR"], s.Expose)
			}
			ports[kind] = append(ports[kind], name+":"+port)
		})
	}

	t.Run("counts agree with cluster.sh", func(t *testing.T) {
		want := scriptTopology(t, root)
		for kind, n := range want {
			if count[kind] != n {
				t.Errorf("compose runs %d %s, scripts/cluster.sh %d", count[kind], kind, n)
			}
		}
	})

	t.Run("nats and redis persist", func(t *testing.T) {
		for _, name := range natsNodes(c) {
			nats := c.Services[name]
			if !slices.Contains(nats.Command, "-js") || !slices.Contains(nats.Command, "-sd") || len(nats.Volumes) == 0 {
				t.Errorf("%s: want JetStream on a volume, got command %v volumes %v", name, nats.Command, nats.Volumes)
			}
		}
		for _, name := range []string{"redis", "redis-replica"} {
			redis := c.Services[name]
			if !strings.Contains(redis.Image, "alpine") || !strings.Contains(strings.Join(redis.Command, " "), "--appendonly yes") || len(redis.Volumes) == 0 {
				t.Errorf("%s: want alpine with AOF on a volume, got %s %v %v", name, redis.Image, redis.Command, redis.Volumes)
			}
		}
	})

	t.Run("redis with sentinel", func(t *testing.T) {
		// cluster.sh: a primary, a replica of it, three sentinels.
		if got := strings.Join(c.Services["redis-replica"].Command, " "); !strings.Contains(got, "--replicaof redis 6379") {
			t.Errorf("redis-replica: command %q, want a replica of redis", got)
		}
		sentinels := composeSentinels(c)
		if len(sentinels) != 3 {
			t.Errorf("compose runs sentinels %v, scripts/cluster.sh three", sentinels)
		}
		for _, addr := range sentinels {
			name, _, _ := strings.Cut(addr, ":")
			script := strings.Join(c.Services[name].Command, " ")
			for _, want := range []string{"sentinel monitor natter redis 6379 2", "sentinel auth-pass natter $$REDIS_PASSWORD", "--sentinel"} {
				if !strings.Contains(script, want) {
					t.Errorf("%s: command does not say %q", name, want)
				}
			}
		}
		b, err := os.ReadFile(filepath.Join(root, "scripts", "cluster.sh"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"redis_master=natter ", `--replicaof 127.0.0.1 "$redis_port"`, "for i in 1 2 3; do", "--sentinel"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("scripts/cluster.sh does not say %q", want)
			}
		}
	})

	t.Run("nginx template", func(t *testing.T) {
		n := c.Services["nginx"]
		if !slices.Contains(n.Ports, "8080:80") || n.Environment["NGINX_LISTEN"] != "80" {
			t.Errorf("want host 8080 to nginx's 80, got ports %v NGINX_LISTEN=%q", n.Ports, n.Environment["NGINX_LISTEN"])
		}
		tmpl := filepath.Join(root, "deploy", "nginx", "natter.conf.template")
		vars := placeholders(t, tmpl)
		if got := sortedKeys(n.Environment); !slices.Equal(got, vars) {
			t.Errorf("compose sets %v, the template takes %v", got, vars)
		}
		// cluster.sh and bench.sh render it with scripts/nginx-conf.sh.
		script, _ := os.ReadFile(filepath.Join(root, "scripts", "nginx-conf.sh"))
		for _, v := range vars {
			if !strings.Contains(string(script), `s|\${`+v+`}|`) {
				t.Errorf("scripts/nginx-conf.sh does not fill ${%s}", v)
			}
		}
		var upstream []string
		for _, v := range vars {
			if strings.HasPrefix(v, "NATTER_GATEWAY_") {
				upstream = append(upstream, n.Environment[v])
			}
		}
		if !slices.Equal(upstream, ports["gateway"]) {
			t.Errorf("nginx's gateways %v, compose's %v", upstream, ports["gateway"])
		}
		b, _ := os.ReadFile(tmpl)
		code := regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(string(b), "")
		for _, bad := range []string{"ip_hash", "sticky", "hash "} {
			if strings.Contains(code, bad) {
				t.Errorf("the template uses %s: no sticky sessions", bad)
			}
		}
		// A request naming a session of gatewayN (NATTER_GATEWAY_ID, checked
		// above) goes to the group whose one primary server is gatewayN's.
		routes := regexp.MustCompile(`~\^(gateway\d+)\\\.\s+(\w+);`).FindAllStringSubmatch(code, -1)
		if len(routes) != len(upstream) {
			t.Errorf("the template routes sessions of %d gateways, not %d", len(routes), len(upstream))
		}
		for _, r := range routes {
			block := regexp.MustCompile(`(?s)upstream ` + r[2] + ` \{(.*?)\n\}`).FindStringSubmatch(code)
			if block == nil {
				t.Errorf("sessions of %s go to %s, which is no upstream", r[1], r[2])
				continue
			}
			var primary []string
			for _, m := range regexp.MustCompile(`server (\S+)([^;]*);`).FindAllStringSubmatch(block[1], -1) {
				if !strings.Contains(m[2], "backup") {
					primary = append(primary, m[1])
				}
			}
			num := strings.TrimPrefix(r[1], "gateway")
			if want := "${NATTER_GATEWAY_" + num + "}"; !slices.Equal(primary, []string{want}) {
				t.Errorf("sessions of %s go first to %v, want %s alone", r[1], primary, want)
			}
			if got := n.Environment["NATTER_GATEWAY_"+num]; got != r[1]+":8080" {
				t.Errorf("NATTER_GATEWAY_%s=%q is not %s", num, got, r[1])
			}
		}
	})

	t.Run("prometheus scrapes every service", func(t *testing.T) {
		var p promConfig
		promYML := filepath.Join(root, "deploy", "prometheus", "prometheus.yml")
		readYAML(t, promYML, &p)
		jobs := map[string][]string{}
		for _, sc := range p.ScrapeConfigs {
			for _, s := range sc.StaticConfigs {
				jobs[sc.JobName] = append(jobs[sc.JobName], s.Targets...)
			}
		}
		for _, kind := range []string{"gateway", "presence", "history"} {
			if !slices.Equal(jobs[kind], ports[kind]) {
				t.Errorf("job %s scrapes %v, compose runs %v", kind, jobs[kind], ports[kind])
			}
		}
		promtool := tool(t, "promtool")
		if promtool == "" {
			return
		}
		out, err := exec.Command(promtool, "check", "config", promYML).CombinedOutput()
		if err != nil {
			t.Errorf("promtool check config: %v\n%s", err, out)
		}
	})

	t.Run("grafana provisioning", func(t *testing.T) {
		g := c.Services["grafana"]
		if !slices.Contains(g.Ports, "127.0.0.1:3000:3000") {
			t.Errorf("grafana ports %v", g.Ports)
		}
		var ds struct {
			Datasources []struct{ URL, UID string } `yaml:"datasources"`
		}
		readYAML(t, filepath.Join(root, "deploy", "grafana", "provisioning", "datasources", "prometheus.yml"), &ds)
		if len(ds.Datasources) != 1 || ds.Datasources[0].URL != "http://prometheus:9090" {
			t.Errorf("datasources %+v", ds.Datasources)
		}
		var dash struct {
			Templating struct {
				List []struct{ Current struct{ Value string } }
			}
		}
		b, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "dashboards", "natter.json"))
		if err != nil || json.Unmarshal(b, &dash) != nil {
			t.Fatalf("dashboard: %v", err)
		}
		if len(dash.Templating.List) == 0 || dash.Templating.List[0].Current.Value != ds.Datasources[0].UID {
			t.Errorf("the dashboard's default data source is not the provisioned one (%s)", ds.Datasources[0].UID)
		}
	})
}

// tool finds a program, installing it with scripts/install-deps.sh when it
// is missing. It returns "" when it cannot, failing the test under CI=true.
func tool(tb testing.TB, name string) string {
	tb.Helper()
	find := func() string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		if p := "/usr/sbin/" + name; fileExists(p) {
			return p
		}
		return ""
	}
	if p := find(); p != "" {
		return p
	}
	out, err := exec.Command("bash", filepath.Join(nodetest.RepoRoot(tb), "scripts", "install-deps.sh"), name).CombinedOutput()
	if p := find(); p != "" {
		return p
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s not found and not installed: %v\n%s", name, err, out)
	}
	tb.Logf("%s not found (scripts/install-deps.sh installs it): its checks are skipped", name)
	return ""
}

// dashboardExprs returns the queries of deploy/grafana/dashboards/natter.json.
func dashboardExprs(tb testing.TB) []string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(nodetest.RepoRoot(tb), "deploy", "grafana", "dashboards", "natter.json"))
	if err != nil {
		tb.Fatal(err)
	}
	type panel struct {
		Targets []struct{ Expr string } `json:"targets"`
		Panels  []json.RawMessage       `json:"panels"`
	}
	var d struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		tb.Fatal(err)
	}
	var exprs []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
			var nested []panel
			for _, raw := range p.Panels {
				var n panel
				if json.Unmarshal(raw, &n) == nil {
					nested = append(nested, n)
				}
			}
			walk(nested)
		}
	}
	walk(d.Panels)
	if len(exprs) == 0 {
		tb.Fatal("the dashboard has no queries")
	}
	return exprs
}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*\s*\(?`)
	promKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
		"group_right": true, "bool": true, "and": true, "or": true, "unless": true, "offset": true, "inf": true, "nan": true}
)

// metricNames returns the metric names a PromQL expression selects: what is
// left once strings, label matchers, ranges, groupings, functions and
// keywords are taken out.
func metricNames(expr string) []string {
	s := promStrings.ReplaceAllString(expr, `""`)
	s = regexp.MustCompile(`\$\{?\w+\}?`).ReplaceAllString(s, "5m")
	s = promMatchers.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var names []string
	for _, tok := range promIdent.FindAllString(s, -1) {
		// A token keeps the space after it (an aggregation's "sum (").
		if strings.HasSuffix(tok, "(") || promKeywords[strings.ToLower(strings.TrimSpace(tok))] {
			continue // a function or aggregation, or a keyword
		}
		names = append(names, strings.TrimSpace(tok))
	}
	return names
}

// exportedMetrics returns every series name the services can export: the
// natter_* metrics their sources define (a histogram as its _bucket, _sum
// and _count), and what the Go and process collectors of ops.Registry give.
func exportedMetrics(tb testing.TB) map[string]bool {
	tb.Helper()
	root := nodetest.RepoRoot(tb)
	def := regexp.MustCompile(`(?s)prometheus\.New(Counter|Gauge|Histogram|Summary)(?:Vec|Func)?\(\s*prometheus\.\w+Opts\{.*?Name:\s*"([a-z0-9_:]+)"`)
	names := map[string]bool{}
	for _, dir := range []string{"services", "kit"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			for _, m := range def.FindAllSubmatch(b, -1) {
				name := string(m[2])
				switch string(m[1]) {
				case "Histogram":
					names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
				case "Summary":
					names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
				default:
					names[name] = true
				}
			}
			return err
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	if !names["natter_gateway_sessions"] {
		tb.Fatal("found no natter_* metric definitions in the sources")
	}
	mfs, err := ops.Registry().Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	return names
}

// TestDashboardQueriesNameExportedMetrics checks that every metric the
// Grafana dashboard queries is one the services export.
func TestDashboardQueriesNameExportedMetrics(t *testing.T) {
	if got := metricNames("histogram_quantile(0.95, sum by (op, le) (rate(a_bucket{x=\"y\"}[$__rate_interval]))) / on (op) b and\n c"); !slices.Equal(got, []string{"a_bucket", "b", "c"}) {
		t.Fatalf("metricNames = %v", got)
	}
	exported := exportedMetrics(t)
	used := map[string]bool{}
	for _, expr := range dashboardExprs(t) {
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%q names no metric", expr)
		}
		for _, n := range names {
			used[n] = true
			if !exported[n] && exporterJob(n) == "" {
				t.Errorf("%q: no service exports %s, nor an exporter (exporterJobs)", expr, n)
			}
		}
	}
	// And the other way round: every natter metric is on the dashboard.
	for _, n := range sortedKeys(exported) {
		base := strings.TrimSuffix(strings.TrimSuffix(n, "_sum"), "_count")
		if strings.HasPrefix(n, "natter_") && !used[n] && !used[base+"_bucket"] && !used[strings.TrimSuffix(n, "_bucket")+"_bucket"] {
			t.Errorf("the dashboard shows nothing of %s", n)
		}
	}
}

// stack is a cluster started by scripts/cluster.sh.
type stack struct {
	dir  string
	url  string            // nginx
	urls map[string]string // what cluster.env says: gateway1, presence1, history, prometheus, ...
	env  []string          // cluster.sh's environment
}

// clusterUp runs `scripts/cluster.sh up` on free ports in a temporary
// folder, and cluster.sh down when the test ends; the services get extra
// in their environment.
func clusterUp(tb testing.TB, prometheus bool, extra ...string) *stack {
	tb.Helper()
	if testing.Short() {
		tb.Skip("starts the whole stack")
	}
	if tool(tb, "nginx") == "" {
		tb.Skip("nginx not found")
	}
	serverBinary(tb, "nats-server")
	serverBinary(tb, "redis-server")
	root := nodetest.RepoRoot(tb)
	s := &stack{dir: tb.TempDir()}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(tb))
	s.url = "http://" + addr
	ports := func(n int) string {
		var p []string
		for range n {
			p = append(p, strconv.Itoa(freePort(tb)))
		}
		return strings.Join(p, " ")
	}
	env := append(os.Environ(),
		"NATTER_CLUSTER_DIR="+s.dir,
		"NATTER_BIN="+binaries(tb),
		"NATTER_HTTP_ADDR="+addr,
		"NATTER_CLUSTER_NATS_PORTS="+ports(3),
		"NATTER_CLUSTER_NATS_ROUTE_PORTS="+ports(3),
		"NATTER_CLUSTER_NATS_MONITOR_PORTS="+ports(3),
		"NATTER_CLUSTER_REDIS_PORT="+ports(1),
		"NATTER_CLUSTER_REPLICA_PORT="+ports(1),
		"NATTER_CLUSTER_SENTINEL_PORTS="+ports(3),
		"NATTER_CLUSTER_HISTORY_PORT="+ports(1),
		"NATTER_CLUSTER_PRESENCE_PORTS="+ports(2),
		"NATTER_CLUSTER_GATEWAY_PORTS="+ports(4),
		"NATTER_CLUSTER_PROMETHEUS_PORT="+ports(1),
	)
	if prometheus {
		env = append(env, "PROMETHEUS=1")
	}
	env = append(env, extra...)
	s.env = env
	script := filepath.Join(root, "scripts", "cluster.sh")
	tb.Cleanup(func() {
		cmd := exec.Command("bash", script, "down")
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Errorf("cluster.sh down: %v\n%s", err, out)
		}
		if tb.Failed() {
			logs, _ := filepath.Glob(filepath.Join(s.dir, "logs", "*.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				tb.Logf("--- %s (tail) ---\n%s", filepath.Base(l), b)
			}
		}
	})
	cmd := exec.Command("bash", script, "up")
	cmd.Env = env
	cmd.Dir = root
	start := time.Now()
	out, err := cmd.CombinedOutput()
	tb.Logf("cluster.sh up (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		tb.Fatalf("cluster.sh up: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "cluster.env"))
	if err != nil {
		tb.Fatal(err)
	}
	s.urls = map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		s.urls[k] = v
	}
	if s.urls["NATTER_URL"] != s.url {
		tb.Fatalf("cluster.env says NATTER_URL=%s, want %s", s.urls["NATTER_URL"], s.url)
	}
	return s
}

// pid returns the pid cluster.sh recorded for a service.
func (s *stack) pid(tb testing.TB, name string) int {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "pids", name+".pid"))
	if err != nil {
		tb.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		tb.Fatal(err)
	}
	return pid
}

// gatewaySessions reads natter_gateway_sessions of one gateway, all transports.
func gatewaySessions(tb testing.TB, base string) int {
	tb.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && strings.HasPrefix(f[0], "natter_gateway_sessions{") {
			v, _ := strconv.ParseFloat(f[1], 64)
			n += int(v)
		}
	}
	return n
}

// nodeScript readies node with args in test/client (where socket.io-client
// resolves), env added to its environment, its output merged into out, in
// a process group of its own that is killed when the test ends. The caller
// starts it.
func nodeScript(tb testing.TB, env []string, args ...string) (cmd *exec.Cmd, out io.Reader) {
	tb.Helper()
	cmd = exec.Command(nodetest.Require(tb), args...)
	cmd.Dir = nodetest.ClientDir(tb)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	tb.Cleanup(func() {
		if cmd.Process != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	return cmd, out
}

// runNodeTests runs test/client's file with only the tests whose names match
// pattern (node --test-name-pattern, which NODE_OPTIONS may not carry).
func runNodeTests(tb testing.TB, file, pattern string, timeout time.Duration, env ...string) {
	tb.Helper()
	node := nodetest.Require(tb)
	cmd := exec.Command(node, "--test", "--test-reporter=spec", "--test-name-pattern="+pattern, file)
	cmd.Dir = nodetest.ClientDir(tb)
	cmd.Env = append(append(os.Environ(), "NO_COLOR=1"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 10 * time.Second
	timer := time.AfterFunc(timeout, func() {
		if cmd.Process != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	defer timer.Stop()
	tb.Logf("%s node --test --test-name-pattern=%q %s", strings.Join(env, " "), pattern, file)
	if err := nodetest.Stream(tb, cmd, "node: "); err != nil {
		tb.Fatalf("node --test %s: %v (its output is above)", file, err)
	}
}

// failoverJS connects four official clients over WebSocket through nginx,
// joins them to one room and prints READY; the test then kills -9 the
// gateway holding the most of them. Every client that loses its connection
// must be connected again within 5 s (through nginx, so to another
// gateway), join again with its token, and chat with the others.
const failoverJS = `
import { io } from "socket.io-client";
const url = process.env.NATTER_URL;
const room = "failover" + Math.random().toString(36).slice(2, 8);
const fail = (msg) => { console.error("FAIL: " + msg); process.exit(1); };
setTimeout(() => fail("timed out"), 60000).unref();
const ack = (s, ev, p) => Promise.race([s.emitWithAck(ev, p),
  new Promise((_, rej) => setTimeout(() => rej(new Error("no ack of " + ev)), 5000))]);

const clients = [];
for (let i = 0; i < 4; i++) {
  const s = io(url, { transports: ["websocket"], forceNew: true,
    reconnectionDelay: 100, reconnectionDelayMax: 500, randomizationFactor: 0, timeout: 3000 });
  const c = { i, s, name: "Fail" + i + room.slice(-6), seen: new Set(), lost: 0, back: 0 };
  s.on("server message", (m) => c.seen.add(m.message));
  await new Promise((res, rej) => { s.once("connect", res); s.once("connect_error", rej); });
  const r = await ack(s, "join", { username: c.name, room });
  if (!r.ok) fail("join: " + JSON.stringify(r));
  c.token = r.token;
  s.on("disconnect", (why) => { c.lost = Date.now(); console.log("client " + i + " lost its gateway: " + why); });
  clients.push(c);
}
const until = async (pred, ms, what) => {
  for (const end = Date.now() + ms; !pred(); ) {
    if (Date.now() > end) fail(what);
    await new Promise((r) => setTimeout(r, 20));
  }
};
const everyoneSees = (text, what) => until(() => clients.every((c) => c.seen.has(text)), 5000, what);
const before = "before " + room;
if (!(await ack(clients[0].s, "client message", { message: before })).ok) fail("message before the kill");
await everyoneSees(before, "everyone sees the message before the kill");
console.log("READY");

await until(() => clients.some((c) => c.lost), 15000, "no client lost its gateway");
await new Promise((r) => setTimeout(r, 500)); // the others on that gateway notice too
const lost = clients.filter((c) => c.lost);
for (const c of lost) {
  if (!c.s.connected) await new Promise((res) => c.s.once("connect", res));
  const took = Date.now() - c.lost;
  console.log("client " + c.i + " reconnected in " + took + " ms");
  if (took > 5000) fail("client " + c.i + " took " + took + " ms to reconnect");
  const r = await ack(c.s, "join", { username: c.name, room, token: c.token });
  if (!r.ok || r.username !== c.name) fail("join again: " + JSON.stringify(r));
}
for (const c of lost) {
  const text = "after " + c.i + " " + room;
  if (!(await ack(c.s, "client message", { message: text })).ok) fail("message after reconnecting");
  await everyoneSees(text, "everyone sees client " + c.i + "'s message after the kill");
}
const last = clients.find((c) => !c.lost);
const text = "to the reconnected " + room;
if (!(await ack(last.s, "client message", { message: text })).ok) fail("message to the reconnected");
await everyoneSees(text, "the reconnected clients see a message from one that stayed");
console.log("OK: " + lost.length + " client(s) moved to another gateway and kept chatting");
for (const c of clients) { c.s.off("disconnect"); c.s.close(); }
process.exit(0);
`

// TestClusterEndToEnd runs the stack of make cluster-up and chats through
// its nginx: clients land on different gateways, the official client's chat
// scenarios pass, and a gateway killed with kill -9 loses no client for
// more than 5 s. With Prometheus (PROMETHEUS=1), every service is a target
// that is up and the dashboard's queries return data.
func TestClusterEndToEnd(t *testing.T) {
	withProm := tool(t, "prometheus") != ""
	s := clusterUp(t, withProm)

	t.Run("round robin", func(t *testing.T) {
		seen := map[string]int{}
		for range 8 {
			resp, err := http.Get(s.url + "/")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET /: %s", resp.Status)
			}
			seen[resp.Header.Get("X-Natter-Gateway")]++
		}
		t.Logf("gateways answering GET / through nginx: %v", seen)
		if len(seen) < 2 || seen[""] > 0 {
			t.Errorf("want several gateways, each named: %v", seen)
		}
		// Engine.IO handshakes, as clients open sessions.
		seen = map[string]int{}
		for range 8 {
			resp, err := http.Get(s.url + "/socket.io/?EIO=4&transport=polling")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(string(b), `0{"sid":`) {
				t.Fatalf("handshake: %s %s", resp.Status, b)
			}
			seen[resp.Header.Get("X-Natter-Gateway")]++
		}
		t.Logf("gateways answering handshakes through nginx: %v", seen)
		if len(seen) < 2 || seen[""] > 0 {
			t.Errorf("want sessions on several gateways, each named: %v", seen)
		}
		for _, p := range []string{"/metrics", "/healthz", "/readyz", "/api/", "/api/v1/rooms", "/admin/", "/admin/api/gateways"} {
			resp, err := http.Post(s.url+p, "application/json", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			// nginx's own 404: no gateway answered (the server API and
			// the admin page are not passed on unless nginx is
			// configured to).
			if resp.StatusCode != 404 || resp.Header.Get("X-Natter-Gateway") != "" {
				t.Errorf("nginx serves %s: %s from %q", p, resp.Status, resp.Header.Get("X-Natter-Gateway"))
			}
		}
	})

	t.Run("chat", func(t *testing.T) {
		runNodeTests(t, "chat.test.mjs", "^chat over websocket$", 5*time.Minute,
			"NATTER_URL="+s.url, "NATTER_URL_2="+s.url)
	})

	if withProm {
		t.Run("prometheus", func(t *testing.T) { checkPrometheus(t, s) })
	}

	t.Run("kill -9 a gateway", func(t *testing.T) {
		cmd, out := nodeScript(t, []string{"NATTER_URL=" + s.url}, "--input-type=module", "-e", failoverJS)
		// Sessions the chat scenarios left closing do not count.
		before := map[string]int{}
		for i := 1; i <= 4; i++ {
			name := fmt.Sprintf("gateway%d", i)
			before[name] = gatewaySessions(t, s.urls[name])
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		killed := ""
		for sc.Scan() {
			t.Log("node: " + sc.Text())
			if sc.Text() != "READY" {
				continue
			}
			most := 0
			for i := 1; i <= 4; i++ {
				name := fmt.Sprintf("gateway%d", i)
				if n := gatewaySessions(t, s.urls[name]) - before[name]; n > most {
					most, killed = n, name
				}
			}
			if killed == "" {
				t.Fatal("no gateway holds the script's sessions")
			}
			t.Logf("kill -9 %s (%d of the script's sessions)", killed, most)
			if err := syscall.Kill(s.pid(t, killed), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("failover script: %v", err)
		}
		if killed == "" {
			t.Fatal("the script never got ready")
		}

		// `cluster.sh start` brings the killed gateway back, and it chats
		// with the others.
		if got := s.script(t, "status"); !strings.Contains(got, killed+" DOWN") {
			t.Errorf("status after the kill:\n%s", got)
		}
		t.Log(s.script(t, "start", killed))
		other := "gateway1"
		if killed == other {
			other = "gateway2"
		}
		room := fmt.Sprintf("back-%d", time.Now().UnixNano()%100000)
		back := dialChatter(t, s.urls[killed], "Back"+room, room)
		there := dialChatter(t, s.urls[other], "There"+room, room)
		there.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		back.send(`421["client message",{"message":"I am back"}]`)
		if got := there.readUntil(`42["server message"`); !strings.Contains(got, "I am back") {
			t.Errorf("%s got %q from the restarted %s", other, got, killed)
		}
	})
}

// script runs scripts/cluster.sh with args on the stack and returns its
// output, failing the test if it fails.
func (s *stack) script(tb testing.TB, args ...string) string {
	tb.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(nodetest.RepoRoot(tb), "scripts", "cluster.sh")}, args...)...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("cluster.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// notInCluster reports whether cluster.sh's stack has no series of the
// metric: an exporter's (it runs none), or the gateways' authentication
// and server API counters (registered only with authentication or the
// API on; it runs without either).
func notInCluster(metric string) bool {
	return exporterJob(metric) != "" || strings.HasPrefix(metric, "natter_gateway_auth_") ||
		strings.HasPrefix(metric, "natter_gateway_api_")
}

// checkPrometheus waits until Prometheus has every gateway, presence and
// history target up, then runs each dashboard query and wants data, but
// for those on metrics the stack does not have (notInCluster).
func checkPrometheus(tb testing.TB, s *stack) {
	tb.Helper()
	prom := s.urls["prometheus"]
	query := func(path string, v any) error {
		resp, err := http.Get(prom + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("%s: %s %s", path, resp.Status, b)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	var targets struct {
		Data struct {
			ActiveTargets []struct {
				Labels    map[string]string `json:"labels"`
				Health    string            `json:"health"`
				LastError string            `json:"lastError"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	var up map[string]int
	wait.Succeeds(tb, 30*time.Second, func() error {
		up = map[string]int{}
		var down []string
		if err := query("/api/v1/targets", &targets); err != nil {
			tb.Fatal(err)
		}
		for _, tg := range targets.Data.ActiveTargets {
			if tg.Health == "up" {
				up[tg.Labels["job"]]++
			} else {
				down = append(down, tg.Labels["instance"]+" "+tg.Health+" "+tg.LastError)
			}
		}
		if up["gateway"] == 4 && up["presence"] == 2 && up["history"] == 1 {
			return nil
		}
		return fmt.Errorf("Prometheus targets up %v, not up: %v", up, down)
	})
	tb.Logf("Prometheus targets up: %v", up)
	// rate() wants two samples in its range, so a query may have no data
	// for a scrape interval or two after the targets are up: ask again
	// until each has, then report those that never had.
	errNoData := errors.New("no data")
	pending := map[string]error{} // query: why it had no data the last time
	for _, expr := range dashboardExprs(tb) {
		if slices.ContainsFunc(metricNames(expr), notInCluster) {
			continue
		}
		pending[strings.ReplaceAll(expr, "$__rate_interval", "2m")] = nil
	}
	_ = wait.Until(context.Background(), 30*time.Second, func() error {
		for q := range pending {
			var res struct {
				Data struct {
					Result []json.RawMessage `json:"result"`
				} `json:"data"`
			}
			switch err := query("/api/v1/query?query="+url.QueryEscape(q), &res); {
			case err != nil:
				pending[q] = err
			case len(res.Data.Result) == 0:
				pending[q] = errNoData
			default:
				delete(pending, q)
			}
		}
		if len(pending) > 0 {
			return fmt.Errorf("%d queries without data", len(pending))
		}
		return nil
	})
	for _, q := range slices.Sorted(maps.Keys(pending)) {
		if err := pending[q]; err == errNoData {
			tb.Errorf("no data for %s", q)
		} else {
			tb.Errorf("%s: %v", q, err)
		}
	}
}

// TestBrowserThroughNginx has two users chat in headless Chromium through
// the cluster's nginx, without sticky sessions.
func TestBrowserThroughNginx(t *testing.T) {
	chromium(t)
	s := clusterUp(t, false)
	chatInBrowser(t, [2]string{s.url, s.url}, "browser-nginx.png")
}

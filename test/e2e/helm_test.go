package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/natter/natter/kit/nodetest"
)

// The Helm chart, deploy/helm/natter, checked against the compose stack
// (deploy/compose/docker-compose.yml, itself checked against the sources
// and scripts/cluster.sh by TestComposeMatchesTopology): the same services
// in the same numbers, with the same settings, probed and scraped where
// they serve. No cluster runs here: helm lint and helm template, parsed.

// k8sObject is the part of a rendered Kubernetes object these tests read.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		Replicas       *int `yaml:"replicas"`
		MaxUnavailable any  `yaml:"maxUnavailable"`
		Selector       struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec struct {
				SecurityContext struct {
					RunAsNonRoot *bool `yaml:"runAsNonRoot"`
					RunAsUser    *int  `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				Containers []k8sContainer `yaml:"containers"`
				Volumes    []k8sVolume    `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
		// A Service's: its selector is a plain map.
		ServiceSelector map[string]string `yaml:"-"`
		Ports           []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
		Rules []struct {
			Host string `yaml:"host"`
			HTTP struct {
				Paths []struct {
					Path    string `yaml:"path"`
					Backend struct {
						Service struct {
							Name string `yaml:"name"`
							Port struct {
								Name string `yaml:"name"`
							} `yaml:"port"`
						} `yaml:"service"`
					} `yaml:"backend"`
				} `yaml:"paths"`
			} `yaml:"http"`
		} `yaml:"rules"`
	} `yaml:"spec"`
	Data map[string]string `yaml:"data"`
}

type k8sContainer struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
	ReadinessProbe  *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe   *k8sProbe `yaml:"livenessProbe"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	} `yaml:"securityContext"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

// helmBin returns the repository's bin/helm (scripts/install-helm.sh, run
// by make test-deps), or "" when there is none: the test is skipped then,
// and fails under CI=true.
func helmBin(tb testing.TB) string {
	tb.Helper()
	p := filepath.Join(nodetest.RepoRoot(tb), "bin", "helm")
	if fileExists(p) {
		return p
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("no %s: make test-deps (scripts/install-helm.sh) installs it", p)
	}
	tb.Skipf("no %s (scripts/install-helm.sh installs it)", p)
	return ""
}

// helmTemplate renders the chart with the given helm arguments (--set ...)
// and parses what it renders.
func helmTemplate(tb testing.TB, helm string, args ...string) []k8sObject {
	tb.Helper()
	chart := filepath.Join(nodetest.RepoRoot(tb), "deploy", "helm", "natter")
	cmd := exec.Command(helm, append([]string{"template", "natter", chart}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("helm template %v: %v\n%s", args, err, stderr.Bytes())
	}
	var objs []k8sObject
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatalf("helm template %v: %v\n%s", args, err, out)
		}
		if len(node.Content) == 0 {
			continue // an empty document
		}
		var o k8sObject
		if err := node.Decode(&o); err != nil {
			tb.Fatalf("helm template %v: %v", args, err)
		}
		if o.Kind == "Service" {
			var s struct {
				Spec struct {
					Selector map[string]string `yaml:"selector"`
				} `yaml:"spec"`
			}
			if err := node.Decode(&s); err != nil {
				tb.Fatal(err)
			}
			o.Spec.ServiceSelector = s.Spec.Selector
		}
		objs = append(objs, o)
	}
	return objs
}

// byKind returns the objects of a kind, by their component label.
func byKind(tb testing.TB, objs []k8sObject, kind string) map[string]k8sObject {
	tb.Helper()
	m := map[string]k8sObject{}
	for _, o := range objs {
		if o.Kind != kind {
			continue
		}
		c := o.Metadata.Labels["app.kubernetes.io/component"]
		if _, dup := m[c]; dup {
			tb.Errorf("two %ss of component %q", kind, c)
		}
		m[c] = o
	}
	return m
}

// composeDefault resolves compose's ${NAME:-default} to its default, as
// compose does with NAME unset.
func composeDefault(v string) string {
	return regexp.MustCompile(`\$\{[A-Z0-9_]+:-([^}]*)\}`).ReplaceAllString(v, "$1")
}

// fmtInt prints an optional number.
func fmtInt(n *int) string {
	if n == nil {
		return "unset"
	}
	return fmt.Sprint(*n)
}

// subsetOf reports whether every label of sub is in m.
func subsetOf(sub, m map[string]string) bool {
	if len(sub) == 0 {
		return false
	}
	for k, v := range sub {
		if m[k] != v {
			return false
		}
	}
	return true
}

func TestHelmLint(t *testing.T) {
	helm := helmBin(t)
	chart := filepath.Join(nodetest.RepoRoot(t), "deploy", "helm", "natter")
	for _, args := range [][]string{
		nil,
		{"--set", "ingress.enabled=true", "--set", "redis.existingSecret=natter-redis"},
	} {
		out, err := exec.Command(helm, append([]string{"lint", "--strict", chart}, args...)...).CombinedOutput()
		if err != nil {
			t.Errorf("helm lint --strict %v: %v\n%s", args, err, out)
		}
	}
}

// TestHelmChartMatchesCompose renders the chart with its defaults and
// checks it against the compose file's natter services.
func TestHelmChartMatchesCompose(t *testing.T) {
	helm := helmBin(t)
	root := nodetest.RepoRoot(t)
	var c composeFile
	readYAML(t, filepath.Join(root, "deploy", "compose", "docker-compose.yml"), &c)

	// What compose runs of each natter service: how many, which image,
	// which settings (with their default values), which port.
	type kindInfo struct {
		count int
		image string
		env   map[string]string
		port  string
	}
	compose := map[string]*kindInfo{}
	for _, name := range sortedKeys(c.Services) {
		kind := kindOf(name)
		if kind == name && kind != "history" {
			continue // not a natter service
		}
		s := c.Services[name]
		k := compose[kind]
		if k == nil {
			k = &kindInfo{image: s.Image, env: map[string]string{}}
			compose[kind] = k
		}
		k.count++
		for n, v := range s.Environment {
			k.env[n] = composeDefault(v)
		}
		_, k.port, _ = strings.Cut(s.Environment["NATTER_HTTP_ADDR"], ":")
	}
	if len(compose) != 3 {
		t.Fatalf("compose runs natter services %v", sortedKeys(compose))
	}

	var values struct {
		NATS struct {
			URL string `yaml:"url"`
		} `yaml:"nats"`
	}
	readYAML(t, filepath.Join(root, "deploy", "helm", "natter", "values.yaml"), &values)

	objs := helmTemplate(t, helm)
	deployments := byKind(t, objs, "Deployment")
	services := byKind(t, objs, "Service")
	if got, want := sortedKeys(deployments), sortedKeys(compose); !slices.Equal(got, want) {
		t.Fatalf("the chart deploys %v, compose runs %v", got, want)
	}
	if got := sortedKeys(services); !slices.Equal(got, sortedKeys(compose)) {
		t.Errorf("the chart has Services for %v, want %v", got, sortedKeys(compose))
	}

	for _, kind := range sortedKeys(compose) {
		want, d := compose[kind], deployments[kind]
		t.Run(kind, func(t *testing.T) {
			if d.Spec.Replicas == nil || *d.Spec.Replicas != want.count {
				t.Errorf("replicas %s, compose runs %d", fmtInt(d.Spec.Replicas), want.count)
			}
			pod := d.Spec.Template
			if !subsetOf(d.Spec.Selector.MatchLabels, pod.Metadata.Labels) {
				t.Errorf("selector %v does not select its pods %v", d.Spec.Selector.MatchLabels, pod.Metadata.Labels)
			}
			if len(pod.Spec.Containers) != 1 {
				t.Fatalf("%d containers", len(pod.Spec.Containers))
			}
			ct := pod.Spec.Containers[0]
			if ct.Image != want.image {
				t.Errorf("image %s, compose's %s", ct.Image, want.image)
			}

			// The same settings as compose: every name a service reads, and
			// a literal value the same as compose's. An entry that only
			// serves another's $(NAME) (POD_IP) is Kubernetes' plumbing.
			read := envNames(envOf[kind])
			set := map[string]bool{}
			for _, e := range ct.Env {
				referenced := false
				for _, o := range ct.Env {
					referenced = referenced || strings.Contains(o.Value, "$("+e.Name+")")
				}
				if !read[e.Name] {
					if !referenced {
						t.Errorf("sets %s, which %s never reads", e.Name, kind)
					}
					continue
				}
				if set[e.Name] {
					t.Errorf("sets %s twice", e.Name)
				}
				set[e.Name] = true
				// compose's ${NAME:?...}s (REDIS_URL's password) are no literals;
				// its NATS_URL names its own nodes, the chart's the NATS of
				// nats.url.
				if e.Name == "NATS_URL" {
					if e.Value != values.NATS.URL {
						t.Errorf("NATS_URL=%q, want values.yaml's nats.url %q", e.Value, values.NATS.URL)
					}
					continue
				}
				if cv, ok := want.env[e.Name]; ok && e.ValueFrom == nil && !strings.Contains(e.Value, "$(") && !strings.Contains(cv, "${") && e.Value != cv {
					t.Errorf("%s=%q, compose's %q", e.Name, e.Value, cv)
				}
			}
			if got, w := sortedKeys(set), sortedKeys(want.env); !slices.Equal(got, w) {
				t.Errorf("sets %v, compose %v", got, w)
			}
			env := map[string]string{}
			from := map[string]string{}
			for _, e := range ct.Env {
				env[e.Name] = e.Value
				if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
					from[e.Name] = e.ValueFrom.FieldRef.FieldPath
				}
			}
			if kind == "gateway" {
				// Each pod its own id, and an address the other gateways
				// reach it at (compose: the service name).
				if from["NATTER_GATEWAY_ID"] != "metadata.name" {
					t.Errorf("NATTER_GATEWAY_ID is not the pod's name")
				}
				host, port, _ := strings.Cut(env["NATTER_ADVERTISE_ADDR"], ":")
				v := strings.TrimSuffix(strings.TrimPrefix(host, "$("), ")")
				if from[v] != "status.podIP" || port != want.port {
					t.Errorf("NATTER_ADVERTISE_ADDR=%q is not the pod's IP and port %s", env["NATTER_ADVERTISE_ADDR"], want.port)
				}
			}

			// Its port: NATTER_HTTP_ADDR's, named http, probed and scraped.
			if env["NATTER_HTTP_ADDR"] != ":"+want.port {
				t.Errorf("NATTER_HTTP_ADDR=%q, want :%s", env["NATTER_HTTP_ADDR"], want.port)
			}
			ports := map[string]int{}
			for _, p := range ct.Ports {
				ports[p.Name] = p.ContainerPort
			}
			if fmt.Sprint(ports["http"]) != want.port || len(ports) != 1 {
				t.Errorf("container ports %v, want http: %s", ports, want.port)
			}
			probe := func(name string, p *k8sProbe, path string) {
				if p == nil || p.HTTPGet == nil {
					t.Errorf("no %s HTTP probe", name)
					return
				}
				port := fmt.Sprint(p.HTTPGet.Port)
				if p.HTTPGet.Path != path || (port != "http" && port != want.port) {
					t.Errorf("%s probe %s on %s, want %s on %s", name, p.HTTPGet.Path, port, path, want.port)
				}
			}
			probe("readiness", ct.ReadinessProbe, "/readyz")
			probe("liveness", ct.LivenessProbe, "/healthz")
			a := pod.Metadata.Annotations
			if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != want.port || a["prometheus.io/path"] != "/metrics" {
				t.Errorf("scrape annotations %v, want port %s, path /metrics", a, want.port)
			}

			// Non-root, as the image is (uid 65532, distroless nonroot).
			sc := pod.Spec.SecurityContext
			if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
				t.Errorf("pod securityContext %+v: want runAsNonRoot, uid 65532", sc)
			}
			csc := ct.SecurityContext
			if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
				t.Errorf("container securityContext %+v: want no privilege escalation, a read-only root", csc)
			}

			svc := services[kind]
			if !subsetOf(svc.Spec.ServiceSelector, pod.Metadata.Labels) {
				t.Errorf("Service %s selects %v, not its pods %v", svc.Metadata.Name, svc.Spec.ServiceSelector, pod.Metadata.Labels)
			}
			if len(svc.Spec.Ports) != 1 || fmt.Sprint(svc.Spec.Ports[0].Port) != want.port || svc.Spec.Ports[0].Name != "http" {
				t.Errorf("Service %s ports %+v, want http %s", svc.Metadata.Name, svc.Spec.Ports, want.port)
			}
		})
	}

	t.Run("gateway disruption budget", func(t *testing.T) {
		pdbs := byKind(t, objs, "PodDisruptionBudget")
		if got := sortedKeys(pdbs); !slices.Equal(got, []string{"gateway"}) {
			t.Fatalf("PodDisruptionBudgets for %v, want the gateways'", got)
		}
		pdb := pdbs["gateway"]
		if fmt.Sprint(pdb.Spec.MaxUnavailable) != "1" {
			t.Errorf("maxUnavailable %v, want 1", pdb.Spec.MaxUnavailable)
		}
		if !subsetOf(pdb.Spec.Selector.MatchLabels, deployments["gateway"].Spec.Template.Metadata.Labels) {
			t.Errorf("selects %v, not the gateways", pdb.Spec.Selector.MatchLabels)
		}
		for _, kind := range []string{"presence", "history"} {
			if subsetOf(pdb.Spec.Selector.MatchLabels, deployments[kind].Spec.Template.Metadata.Labels) {
				t.Errorf("selects the %s pods too", kind)
			}
		}
	})

	t.Run("dashboard", func(t *testing.T) {
		want, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "dashboards", "natter.json"))
		if err != nil {
			t.Fatal(err)
		}
		// helm reads only the chart's own files: a copy, byte for byte.
		if cp, err := os.ReadFile(filepath.Join(root, "deploy", "helm", "natter", "files", "natter.json")); err != nil || !bytes.Equal(cp, want) {
			t.Errorf("deploy/helm/natter/files/natter.json is not a copy of deploy/grafana/dashboards/natter.json (%v)", err)
		}
		var found int
		for _, o := range objs {
			if o.Kind != "ConfigMap" || o.Data["natter.json"] == "" {
				continue
			}
			found++
			if o.Data["natter.json"] != string(want) {
				t.Errorf("ConfigMap %s's natter.json is not deploy/grafana/dashboards/natter.json: copy it to deploy/helm/natter/files/", o.Metadata.Name)
			}
			if o.Metadata.Labels["grafana_dashboard"] == "" {
				t.Errorf("ConfigMap %s has no grafana_dashboard label (the Grafana chart's sidecar finds dashboards by it)", o.Metadata.Name)
			}
		}
		if found != 1 {
			t.Errorf("%d dashboard ConfigMaps, want 1", found)
		}
	})

	t.Run("no ingress by default", func(t *testing.T) {
		if n := len(byKind(t, objs, "Ingress")); n != 0 {
			t.Errorf("%d Ingresses", n)
		}
	})
}

// TestHelmChartValues renders the chart with the values docs/kubernetes.md
// describes and checks what they change.
func TestHelmChartValues(t *testing.T) {
	helm := helmBin(t)
	objs := helmTemplate(t, helm,
		"--set", "ingress.enabled=true", "--set", "ingress.host=chat.example.org",
		"--set", "nats.url=nats://a:4222\\,nats://b:4222",
		"--set", "nats.replicas=1",
		"--set", "redis.existingSecret=natter-redis",
		"--set", "gateway.replicas=6", "--set", "image.tag=v1", "--set", "image.repository=registry.example.org/natter",
		"--set", "gateway.env.NATTER_MESSAGE_RATE=5",
	)
	deployments := byKind(t, objs, "Deployment")
	gw := deployments["gateway"]
	if gw.Spec.Replicas == nil || *gw.Spec.Replicas != 6 {
		t.Errorf("gateway replicas %s, want 6", fmtInt(gw.Spec.Replicas))
	}
	env := func(kind, name string) (string, bool) {
		for _, e := range deployments[kind].Spec.Template.Spec.Containers[0].Env {
			if e.Name == name {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					return "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key, true
				}
				return e.Value, true
			}
		}
		return "", false
	}
	for _, kind := range []string{"gateway", "presence", "history"} {
		if v, _ := env(kind, "NATS_URL"); v != "nats://a:4222,nats://b:4222" {
			t.Errorf("%s NATS_URL=%q", kind, v)
		}
		if img := deployments[kind].Spec.Template.Spec.Containers[0].Image; img != "registry.example.org/natter/"+kind+":v1" {
			t.Errorf("%s image %s", kind, img)
		}
	}
	if v, _ := env("history", "NATTER_JETSTREAM_REPLICAS"); v != "1" {
		t.Errorf("NATTER_JETSTREAM_REPLICAS=%q, want nats.replicas's 1", v)
	}
	// Redis through the sentinels by default, the password from the Secret.
	if v, _ := env("presence", "NATTER_REDIS_PASSWORD"); v != "secret:natter-redis/redis-password" {
		t.Errorf("NATTER_REDIS_PASSWORD %q, want from the Secret natter-redis", v)
	}
	if v, ok := env("presence", "REDIS_URL"); ok {
		t.Errorf("REDIS_URL %q beside the sentinels", v)
	}
	t.Run("redis", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			set  []string
			want map[string]string // presence's Redis settings
		}{
			{"one server", []string{"redis.sentinels=", "redis.existingSecret=natter-redis"},
				map[string]string{"REDIS_URL": "secret:natter-redis/redis-url"}},
			{"one server, no secret", []string{"redis.sentinels=", "redis.url=redis://r:6380"},
				map[string]string{"REDIS_URL": "redis://r:6380"}},
			{"sentinels", []string{"redis.sentinels=s1:26379\\,s2:26379", "redis.master=m", "redis.password=pw"},
				map[string]string{"NATTER_REDIS_SENTINELS": "s1:26379,s2:26379", "NATTER_REDIS_MASTER": "m", "NATTER_REDIS_PASSWORD": "pw"}},
			{"cluster", []string{"redis.cluster=c1:7000\\,c2:7000", "redis.existingSecret=natter-redis"},
				map[string]string{"NATTER_REDIS_CLUSTER": "c1:7000,c2:7000", "NATTER_REDIS_PASSWORD": "secret:natter-redis/redis-password"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var args []string
				for _, s := range tc.set {
					args = append(args, "--set", s)
				}
				got := map[string]string{}
				for _, e := range byKind(t, helmTemplate(t, helm, args...), "Deployment")["presence"].Spec.Template.Spec.Containers[0].Env {
					if e.Name == "REDIS_URL" || strings.HasPrefix(e.Name, "NATTER_REDIS_") {
						got[e.Name] = e.Value
						if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
							got[e.Name] = "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
						}
					}
				}
				if !maps.Equal(got, tc.want) {
					t.Errorf("presence's Redis settings %v, want %v", got, tc.want)
				}
			})
		}
	})
	if v, _ := env("gateway", "NATTER_MESSAGE_RATE"); v != "5" {
		t.Errorf("NATTER_MESSAGE_RATE=%q, want gateway.env's 5", v)
	}
	if v, _ := env("gateway", "NATTER_ALLOWED_HOSTS"); !slices.Contains(strings.Split(v, ","), "chat.example.org") {
		t.Errorf("NATTER_ALLOWED_HOSTS=%q does not allow the Ingress host", v)
	}
	ings := byKind(t, objs, "Ingress")
	ing, ok := ings["gateway"]
	if !ok || len(ings) != 1 {
		t.Fatalf("Ingresses %v, want one to the gateways", sortedKeys(ings))
	}
	svc := byKind(t, objs, "Service")["gateway"]
	if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != "chat.example.org" || len(ing.Spec.Rules[0].HTTP.Paths) != 1 {
		t.Fatalf("Ingress rules %+v", ing.Spec.Rules)
	}
	p := ing.Spec.Rules[0].HTTP.Paths[0]
	if p.Path != "/" || p.Backend.Service.Name != svc.Metadata.Name || p.Backend.Service.Port.Name != "http" {
		t.Errorf("Ingress sends %s to %s:%s, want / to %s:http", p.Path, p.Backend.Service.Name, p.Backend.Service.Port.Name, svc.Metadata.Name)
	}
}

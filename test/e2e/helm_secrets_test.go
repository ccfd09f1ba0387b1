package e2e

import (
	"bufio"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/natter/natter/kit/nodetest"
)

type k8sVolume struct {
	Name   string `yaml:"name"`
	Secret *struct {
		SecretName string `yaml:"secretName"`
		Items      []struct {
			Key  string `yaml:"key"`
			Path string `yaml:"path"`
		} `yaml:"items"`
	} `yaml:"secret"`
}

// gatewaySecretEnv are the gateway's settings of authentication, the
// server API and the admin page: off unless set.
var gatewaySecretEnv = []string{
	"NATTER_AUTH_HS256_SECRET", "NATTER_AUTH_HS256_SECRET_FILE", "NATTER_AUTH_PUBLIC_KEY_FILE", "NATTER_AUTH_JWKS_URL",
	"NATTER_AUTH_AUDIENCE", "NATTER_AUTH_ISSUER", "NATTER_AUTH_ANONYMOUS",
	"NATTER_API_KEY", "NATTER_API_KEY_FILE", "NATTER_API_RATE_LIMIT", "NATTER_ADMIN_KEY", "NATTER_ADMIN_KEY_FILE",
}

// TestHelmChartAuthAndKeys: by default the chart sets none of the
// gateway's authentication, API and admin settings; set, each secret
// comes from its Kubernetes Secret (an env secretKeyRef; the public key a
// file of a mounted Secret), the rest as plain values.
func TestHelmChartAuthAndKeys(t *testing.T) {
	helm := helmBin(t)
	gatewayEnv := func(args ...string) (map[string]string, k8sObject) {
		t.Helper()
		gw := byKind(t, helmTemplate(t, helm, args...), "Deployment")["gateway"]
		got := map[string]string{}
		for _, e := range gw.Spec.Template.Spec.Containers[0].Env {
			if !slices.Contains(gatewaySecretEnv, e.Name) {
				continue
			}
			got[e.Name] = e.Value
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				got[e.Name] = "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
			}
		}
		return got, gw
	}

	if got, gw := gatewayEnv(); len(got) != 0 || len(gw.Spec.Template.Spec.Volumes) != 0 {
		t.Errorf("by default the chart sets %v, volumes %v: want none", got, gw.Spec.Template.Spec.Volumes)
	}

	got, gw := gatewayEnv(
		"--set", "gateway.auth.hs256Secret.secretName=natter-auth",
		"--set", "gateway.auth.publicKey.secretName=natter-jwt", "--set", "gateway.auth.publicKey.key=es256.pem",
		"--set", "gateway.auth.jwksURL=https://id.example/jwks.json",
		"--set", "gateway.auth.audience=natter", "--set", "gateway.auth.issuer=https://id.example/",
		"--set", "gateway.auth.anonymous=true",
		"--set", "gateway.apiKey.secretName=natter-api", "--set", "gateway.apiRateLimit=5/10",
		"--set", "gateway.adminKey.secretName=natter-admin", "--set", "gateway.adminKey.key=key",
	)
	want := map[string]string{
		"NATTER_AUTH_HS256_SECRET":    "secret:natter-auth/hs256-secret",
		"NATTER_AUTH_PUBLIC_KEY_FILE": "/etc/natter/auth/es256.pem",
		"NATTER_AUTH_JWKS_URL":        "https://id.example/jwks.json",
		"NATTER_AUTH_AUDIENCE":        "natter",
		"NATTER_AUTH_ISSUER":          "https://id.example/",
		"NATTER_AUTH_ANONYMOUS":       "1",
		"NATTER_API_KEY":              "secret:natter-api/api-key",
		"NATTER_API_RATE_LIMIT":       "5/10",
		"NATTER_ADMIN_KEY":            "secret:natter-admin/key",
	}
	if !maps.Equal(got, want) {
		t.Errorf("the gateway's settings\n%v\nwant\n%v", got, want)
	}
	vols := gw.Spec.Template.Spec.Volumes
	if len(vols) != 1 || vols[0].Secret == nil || vols[0].Secret.SecretName != "natter-jwt" ||
		len(vols[0].Secret.Items) != 1 || vols[0].Secret.Items[0].Key != "es256.pem" || vols[0].Secret.Items[0].Path != "es256.pem" {
		t.Fatalf("volumes %+v, want the Secret natter-jwt's es256.pem", vols)
	}
	mounts := gw.Spec.Template.Spec.Containers[0].VolumeMounts
	if len(mounts) != 1 || mounts[0].Name != vols[0].Name || mounts[0].MountPath != "/etc/natter/auth" || !mounts[0].ReadOnly {
		t.Errorf("volume mounts %+v, want %s read-only at /etc/natter/auth", mounts, vols[0].Name)
	}
}

// TestComposeAuthAndKeysOff: compose's gateways set none of the settings
// of authentication, the API and the admin page, and read them from
// gateway.env when it exists; gateway.env.example names every one of
// them, each commented out.
func TestComposeAuthAndKeysOff(t *testing.T) {
	dir := filepath.Join(nodetest.RepoRoot(t), "deploy", "compose")
	var c struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
			EnvFile     []struct {
				Path     string `yaml:"path"`
				Required *bool  `yaml:"required"`
			} `yaml:"env_file"`
		} `yaml:"services"`
	}
	readYAML(t, filepath.Join(dir, "docker-compose.yml"), &c)
	gateways := 0
	for name, s := range c.Services {
		if kindOf(name) != "gateway" || name == "gateway" {
			continue
		}
		gateways++
		for _, v := range gatewaySecretEnv {
			if _, ok := s.Environment[v]; ok {
				t.Errorf("%s sets %s", name, v)
			}
		}
		if len(s.EnvFile) != 1 || s.EnvFile[0].Path != "gateway.env" || s.EnvFile[0].Required == nil || *s.EnvFile[0].Required {
			t.Errorf("%s env_file %+v, want gateway.env, not required", name, s.EnvFile)
		}
	}
	if gateways == 0 {
		t.Fatal("no gateways in docker-compose.yml")
	}

	f, err := os.Open(filepath.Join(dir, "gateway.env.example"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	named := map[string]bool{}
	read := envNames(envOf["gateway"])
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "#") {
			t.Errorf("gateway.env.example sets %q: every setting must be commented out", line)
			continue
		}
		if name, _, ok := strings.Cut(strings.TrimPrefix(line, "# "), "="); ok && !strings.Contains(name, " ") {
			if !read[name] {
				t.Errorf("gateway.env.example names %s, which the gateway never reads", name)
			}
			named[name] = true
		}
	}
	for _, v := range gatewaySecretEnv {
		if !named[v] {
			t.Errorf("gateway.env.example lacks %s", v)
		}
	}
}

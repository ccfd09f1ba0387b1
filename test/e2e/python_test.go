package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/services/presence"
)

// python returns a Python that imports python-socketio with both its
// transports: $NATTER_PYTHON, or Debian's /usr/bin/python3, where
// scripts/install-deps.sh installs the client. Without one the test is
// skipped, except under CI=true.
func python(tb testing.TB) string {
	tb.Helper()
	candidates := []string{"/usr/bin/python3"}
	if p := os.Getenv("NATTER_PYTHON"); p != "" {
		candidates = []string{p}
	}
	for _, p := range candidates {
		if exec.Command(p, "-c", "import socketio, websocket, requests").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("python-socketio not found for %v (scripts/install-deps.sh installs it)", candidates)
	}
	tb.Skip("python-socketio not found; run scripts/install-deps.sh")
	return ""
}

// TestPythonClient runs test/python/chat.py, the chat with python-socketio
// (another Socket.IO v4 client than the official one, unchanged) across two
// gateways, in each transport mode.
func TestPythonClient(t *testing.T) {
	py := python(t)
	s := startSystem(t, presence.NewMemoryStore(0, nil), 2, presence.Config{})
	script := filepath.Join(nodetest.RepoRoot(t), "test", "python", "chat.py")
	for _, mode := range []string{"polling", "websocket", "default"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, py, script, mode)
			cmd.Env = append(os.Environ(), "NATTER_URL="+s.gateways[0].URL, "NATTER_URL_2="+s.gateways[1].URL)
			if err := nodetest.Stream(t, cmd, "python: "); err != nil {
				t.Fatalf("%s %s: %v (its output is above)", filepath.Base(script), mode, err)
			}
		})
	}
}

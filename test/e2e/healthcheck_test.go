package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/natter/natter/kit/wait"
)

// healthcheck runs "<binary of p> healthcheck" with p's environment, as
// compose's healthcheck runs it in p's container, and returns its exit code
// and output.
func healthcheck(tb testing.TB, p *proc) (int, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.path, "healthcheck")
	cmd.Env = append(os.Environ(), p.env...)
	out, err := cmd.CombinedOutput()
	if err != nil && cmd.ProcessState == nil {
		tb.Fatalf("%s healthcheck: %v", p.name, err)
	}
	return cmd.ProcessState.ExitCode(), strings.TrimSpace(string(out))
}

// TestHealthcheckSubcommand runs each service's binary, as the images
// do, and its healthcheck subcommand beside it: 0 while it is ready, 1 once
// it is not (NATS gone) and once it is gone.
func TestHealthcheckSubcommand(t *testing.T) {
	c := startCluster(t, 1)
	procs := []*proc{c.gateways[0], c.presences[0], c.history}
	for _, p := range procs {
		if code, out := healthcheck(t, p); code != 0 {
			t.Errorf("%s healthcheck while it runs: exit %d: %s", p.name, code, out)
		}
	}

	// Up but not ready: history's /readyz answers 503 without NATS.
	c.nats.kill()
	wait.Succeeds(t, 15*time.Second, func() error {
		if code, out := healthcheck(t, c.history); code != 1 || !strings.Contains(out, "503") {
			return fmt.Errorf("history healthcheck without NATS: exit %d: %s", code, out)
		}
		return nil
	})

	for _, p := range procs {
		p.kill()
		code, out := healthcheck(t, p)
		if code != 1 || !strings.Contains(out, "refused") {
			t.Errorf("%s healthcheck once it stopped: exit %d: %s; want 1, connection refused", p.name, code, out)
		}
	}
}

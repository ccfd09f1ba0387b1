package ops

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// HealthcheckTimeout bounds how long the healthcheck subcommand waits for
// /readyz: less than compose's healthcheck timeout, so that the probe says
// why it failed before Docker kills it.
const HealthcheckTimeout = 2 * time.Second

// Healthcheck GETs /readyz of the service listening on addr (its listen
// address, such as ":8080"; see ProbeURL) and returns nil when it answers
// 200, else what it answered or why it did not. ctx bounds the request.
func Healthcheck(ctx context.Context, addr string) error {
	url, err := ProbeURL(addr)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", url, res.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// ProbeURL returns the URL of /readyz on the listen address addr: on
// 127.0.0.1 when addr names no host or every interface (":8080",
// "0.0.0.0:8080", "[::]:8080"), else on the host it names, which the
// service listens on alone.
func ProbeURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("probe %q: %w", addr, err)
	}
	if port == "" || port == "0" {
		return "", fmt.Errorf("probe %q: no fixed port", addr)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// runHealthcheck is the healthcheck subcommand of the service name, whose
// listen address httpAddr reads from its configuration: it probes it
// within timeout, writes the outcome to w, and returns the exit code, 0
// when the service is ready and 1 otherwise.
func runHealthcheck(w io.Writer, name string, httpAddr func() (string, error), timeout time.Duration) int {
	addr, err := httpAddr()
	if err != nil {
		fmt.Fprintf(w, "%s healthcheck: configuration: %v\n", name, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := Healthcheck(ctx, addr); err != nil {
		fmt.Fprintf(w, "%s healthcheck: not ready: %v\n", name, err)
		return 1
	}
	fmt.Fprintf(w, "%s healthcheck: ready\n", name)
	return 0
}

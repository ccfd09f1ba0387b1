// Package e2e tests natter's services together: in one process on an
// embedded NATS server, and as separate processes against real NATS and
// Redis servers, driven by the official socket.io-client (test/client).
package e2e

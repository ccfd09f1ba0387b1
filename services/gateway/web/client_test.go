package web

import (
	"bytes"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestVendoredClientMatchesLockFile checks that the embedded client is the
// very file of the socket.io-client package that the client tests pin.
func TestVendoredClientMatchesLockFile(t *testing.T) {
	path := filepath.Join("..", "..", "..", "test", "client", "node_modules", "socket.io-client", "dist", "socket.io.min.js")
	want, err := os.ReadFile(path)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (test/client/install.sh installs it)", err)
		}
		t.Skipf("%v: run test/client/install.sh", err)
	}
	if !bytes.Equal(socketIOClient, want) {
		t.Fatal("web/vendor/socket.io.min.js differs from the pinned socket.io-client package: copy it again")
	}
}

func TestClientHandler(t *testing.T) {
	rec := httptest.NewRecorder()
	ClientHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/socket.io/socket.io.js", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 || !bytes.Equal(body, socketIOClient) || rec.Header().Get("Content-Type") != "application/javascript; charset=utf-8" {
		t.Errorf("status %d, %d bytes, type %q", rec.Code, len(body), rec.Header().Get("Content-Type"))
	}
}

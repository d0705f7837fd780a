package cli

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/syncbuf"
	"github.com/reachmon/reachmon/internal/testdns"
)

// TestRunStopsOnSIGTERM runs `reachmon run` in-process, waits until it
// serves, sends the process SIGTERM and expects a clean exit, the JSON log
// format and the --listen override honoured.
func TestRunStopsOnSIGTERM(t *testing.T) {
	res := testdns.Start(t, zone, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	cfg := filepath.Join(t.TempDir(), "r.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
listen = "127.0.0.1:1"
state_dir = %q
[probe]
interval = "1s"
timeout = "500ms"
[[resolver]]
name = "local"
address = %q
[[zone]]
name = "lab.example"
authoritative = [%q]
`, t.TempDir(), res.Addr, res.Addr)), 0o600)

	var stderr syncbuf.Buffer
	code := make(chan int, 1)
	go func() {
		code <- Main([]string{"run", "--config", cfg, "--listen", listen, "--log-format", "json"}, &bytes.Buffer{}, &stderr)
	}()

	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + listen + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case c := <-code:
			t.Fatalf("run exited early with %d:\n%s", c, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon never served /healthz:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != ExitOK {
			t.Errorf("exit code %d after SIGTERM, want 0:\n%s", c, stderr.String())
		}
	case <-time.After(ShutdownLimit + 5*time.Second):
		t.Fatal("daemon did not exit after SIGTERM")
	}
	logs := stderr.String()
	for _, w := range []string{`"msg":"reachmon starting"`, `"msg":"shutting down"`, `"msg":"reachmon stopped"`} {
		if !strings.Contains(logs, w) {
			t.Errorf("log lacks %s:\n%s", w, logs)
		}
	}
}

func TestRunBadConfig(t *testing.T) {
	var stderr bytes.Buffer
	if c := Main([]string{"run", "--config", "/nonexistent/r.toml"}, &bytes.Buffer{}, &stderr); c != ExitUsage {
		t.Errorf("exit %d, want %d", c, ExitUsage)
	}
	if !strings.Contains(stderr.String(), "/nonexistent/r.toml") {
		t.Errorf("error does not name the file: %s", stderr.String())
	}
}

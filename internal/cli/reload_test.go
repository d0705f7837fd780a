package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/app"
	"github.com/reachmon/reachmon/internal/syncbuf"
	"github.com/reachmon/reachmon/internal/testdns"
)

// TestRunReloadsOnSIGHUP runs `reachmon run` in-process, rewrites its
// configuration file and sends the process a real SIGHUP: the daemon
// reloads (a new zone), without taking the --listen override for a
// change. Then `reachmon reload` does the same over HTTP, and refuses an
// invalid file with the error and exit status 1, the daemon running on.
func TestRunReloadsOnSIGHUP(t *testing.T) {
	res := testdns.Start(t, zone, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	base := "http://" + listen
	cfg := filepath.Join(t.TempDir(), "r.toml")
	stateDir := t.TempDir()
	text := func(zones ...string) []byte {
		s := fmt.Sprintf(`
listen = "127.0.0.1:1"
state_dir = %q
[probe]
interval = "1s"
timeout = "500ms"
[[resolver]]
name = "local"
address = %q
`, stateDir, res.Addr)
		for _, z := range zones {
			s += fmt.Sprintf("[[zone]]\nname = %q\nauthoritative = [%q]\n", z, res.Addr)
		}
		return []byte(s)
	}
	if err := os.WriteFile(cfg, text("lab.example"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr syncbuf.Buffer
	code := make(chan int, 1)
	go func() {
		code <- Main([]string{"run", "--config", cfg, "--listen", listen, "--log-format", "json"}, &bytes.Buffer{}, &stderr)
	}()
	defer func() {
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case c := <-code:
			if c != ExitOK {
				t.Errorf("exit code %d after SIGTERM, want 0", c)
			}
		case <-time.After(ShutdownLimit + 5*time.Second):
			t.Fatal("daemon did not exit after SIGTERM")
		}
	}()
	waitLog := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			select {
			case c := <-code:
				t.Fatalf("run exited with %d:\n%s", c, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s:\n%s", what, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLog("/healthz", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})

	if err := os.WriteFile(cfg, text("lab.example", "other.example"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog("the reload", func() bool {
		return strings.Contains(stderr.String(), `"msg":"configuration reloaded"`) &&
			strings.Contains(stderr.String(), "zones: added other.example")
	})
	if strings.Contains(stderr.String(), "restart needed") {
		t.Errorf("the --listen override was taken for a change of listen:\n%s", stderr.String())
	}

	// reachmon reload over HTTP.
	var out, errOut bytes.Buffer
	if err := os.WriteFile(cfg, text("other.example"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c := Main([]string{"reload", "--url", base}, &out, &errOut); c != ExitOK {
		t.Fatalf("reload exit %d: %s", c, errOut.String())
	}
	if !strings.Contains(out.String(), "configuration reloaded") || !strings.Contains(out.String(), "zones: removed lab.example") {
		t.Errorf("reload printed:\n%s", out.String())
	}
	if err := os.WriteFile(cfg, []byte("vantage = 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if c := Main([]string{"reload", "--api", base}, &out, &errOut); c != ExitProblem {
		t.Errorf("reload of an invalid file: exit %d, want %d", c, ExitProblem)
	}
	if msg := errOut.String(); !strings.Contains(msg, "refused") || !strings.Contains(msg, cfg) || !strings.Contains(msg, "vantage") {
		t.Errorf("reload of an invalid file printed %q; want the refusal naming the file and the key", msg)
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("daemon gone after a refused reload: %v", err)
	}
	resp.Body.Close()
}

// fakeReloader counts reloads.
type fakeReloader struct{ n chan struct{} }

func (f fakeReloader) Reload(context.Context) (app.ReloadResult, error) {
	f.n <- struct{}{}
	return app.ReloadResult{}, errors.New("refused")
}

// TestReloadOnSignalLoops: every signal is one reload, a refused one
// included, until the context ends.
func TestReloadOnSignalLoops(t *testing.T) {
	sig := make(chan os.Signal, 1)
	r := fakeReloader{n: make(chan struct{}, 3)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { reloadOnSignal(ctx, sig, r); close(done) }()
	for i := range 3 {
		sig <- syscall.SIGHUP
		select {
		case <-r.n:
		case <-time.After(5 * time.Second):
			t.Fatalf("signal %d did not reload", i+1)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("reloadOnSignal did not return after its context ended")
	}
}

package benchdns

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
)

// workDirEnv names a directory for NSD's files chosen by the caller
// (scripts/bench.sh sets it so that it can clean up after a crash); without
// it a temporary directory is used and removed.
const workDirEnv = "BENCH_DNS_WORKDIR"

// lab is the one NSD shared by every test and benchmark of a run: started
// on first use, so that `go test ./...` pays for it only when something
// here runs, and stopped by TestMain.
var lab struct {
	mu      sync.Mutex
	started bool
	srv     *nsdServer
	err     error
	dir     string
	ownDir  bool
}

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		if err := stopLab(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		fmt.Fprintf(os.Stderr, "benchdns: %v: stopped NSD\n", s)
		os.Exit(2)
	}()
	code := m.Run()
	if err := stopLab(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// benchServer returns the running NSD, starting it on first use. Without
// NSD it skips, or fails when CI=true.
func benchServer(tb testing.TB) *nsdServer {
	tb.Helper()
	lab.mu.Lock()
	defer lab.mu.Unlock()
	if !lab.started {
		lab.started = true
		lab.dir = os.Getenv(workDirEnv)
		if lab.dir == "" {
			lab.dir, lab.err = os.MkdirTemp("", "benchdns-")
			lab.ownDir = lab.err == nil
		}
		if lab.err == nil {
			lab.srv, lab.err = startNSD(lab.dir)
		}
	}
	switch {
	case errors.Is(lab.err, errNoNSD) && os.Getenv("CI") != "true":
		tb.Skip(lab.err)
	case lab.err != nil:
		tb.Fatal(lab.err)
	}
	return lab.srv
}

// stopLab stops NSD if it runs and removes the temporary directory.
func stopLab() error {
	lab.mu.Lock()
	defer lab.mu.Unlock()
	var err error
	if lab.srv != nil {
		err = lab.srv.stop()
		lab.srv = nil
	}
	if lab.ownDir && err == nil {
		_ = os.RemoveAll(lab.dir)
		lab.ownDir = false
	}
	return err
}

package benchdns

import (
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/reachmon/reachmon/bench/benchutil"
)

// workDir holds NSD's files. scripts/bench.sh names it in
// BENCH_DNS_WORKDIR so that it can clean up after a crash; without it a
// temporary directory is used and removed.
var workDir = benchutil.NewWorkDir("BENCH_DNS_WORKDIR", "benchdns")

// lab is the one NSD shared by every test and benchmark of a run: started
// on first use, so that `go test ./...` pays for it only when something
// here runs, and stopped by TestMain.
var lab struct {
	mu      sync.Mutex
	started bool
	srv     *nsdServer
	err     error
}

func TestMain(m *testing.M) {
	os.Exit(benchutil.RunTests(m, "benchdns", func(bool) error { return stopLab() }))
}

// benchServer returns the running NSD, starting it on first use. Without
// NSD it skips, or fails when CI=true.
func benchServer(tb testing.TB) *nsdServer {
	tb.Helper()
	dir := workDir.Path(tb)
	lab.mu.Lock()
	defer lab.mu.Unlock()
	if !lab.started {
		lab.started = true
		lab.srv, lab.err = startNSD(dir)
	}
	switch {
	case errors.Is(lab.err, errNoNSD) && os.Getenv("CI") != "true":
		tb.Skip(lab.err)
	case lab.err != nil:
		tb.Fatal(lab.err)
	}
	return lab.srv
}

// stopLab stops NSD if it runs and then removes the temporary directory.
func stopLab() error {
	lab.mu.Lock()
	defer lab.mu.Unlock()
	if lab.srv != nil {
		if err := lab.srv.stop(); err != nil {
			return err // NSD may still hold its files
		}
		lab.srv = nil
	}
	return workDir.Remove()
}

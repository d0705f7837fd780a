package bgpchurn

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/reachmon/reachmon/bench/benchutil"
)

var (
	// daemons is reachmon while it runs; TestMain and a signal stop it.
	daemons benchutil.Daemons
	// workDir holds reachmon's files. scripts/bench.sh names it in
	// BENCH_BGPCHURN_WORKDIR so that it can clean up after a crash:
	// reachmon runs in its own process group, whose id is in
	// reachmon.pgid there. Without it a temporary directory is used and
	// removed.
	workDir = benchutil.NewWorkDir("BENCH_BGPCHURN_WORKDIR", "bgpchurn")
)

func TestMain(m *testing.M) {
	os.Exit(benchutil.RunTests(m, "bgpchurn", benchutil.StopAndRemove(&daemons, workDir)))
}

// startProc starts a daemon in dir. reachmon shuts down within 15 s, so
// it gets 20 s after SIGTERM, and needing SIGKILL is an error.
func startProc(dir, name string, args ...string) (*benchutil.Daemon, error) {
	return daemons.Start(dir, name, benchutil.DaemonOptions{StopWait: 20 * time.Second, SlowStopIsError: true}, args...)
}

// envFloat reads a number from the environment (def when unset).
func envFloat(tb testing.TB, k string, def float64) float64 {
	v := os.Getenv(k)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		tb.Fatalf("%s=%q: not a non-negative number", k, v)
	}
	return f
}

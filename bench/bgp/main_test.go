package benchbgp

import (
	"os"
	"testing"

	"github.com/reachmon/reachmon/bench/benchutil"
)

var (
	// daemons are the receivers (gobgpd, reachmon, the alternatives)
	// running now; TestMain and a signal stop what is left.
	daemons benchutil.Daemons
	// workDir holds the receivers' files. scripts/bench.sh names it in
	// BENCH_BGP_WORKDIR so that it can clean up after a crash: every
	// receiver runs in its own process group, whose id is in NAME.pgid
	// there. Without it a temporary directory is used.
	workDir = benchutil.NewWorkDir("BENCH_BGP_WORKDIR", "benchbgp")
)

func TestMain(m *testing.M) {
	os.Exit(benchutil.RunTests(m, "benchbgp", benchutil.StopAndRemove(&daemons, workDir)))
}

// startProc starts a receiver in dir with env added to its environment.
func startProc(dir, name string, env []string, args ...string) (*benchutil.Daemon, error) {
	return daemons.Start(dir, name, benchutil.DaemonOptions{Env: env}, args...)
}

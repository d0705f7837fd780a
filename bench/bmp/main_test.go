package benchbmp

import (
	"os"
	"testing"

	"github.com/reachmon/reachmon/bench/benchutil"
)

var (
	// daemons are the receivers running now; TestMain and a signal stop
	// what is left.
	daemons benchutil.Daemons
	// workDir holds the receivers' files (BENCH_BMP_WORKDIR from
	// scripts/bench.sh, whose cleanup reads the .pgid files there).
	workDir = benchutil.NewWorkDir("BENCH_BMP_WORKDIR", "benchbmp")
)

func TestMain(m *testing.M) {
	os.Exit(benchutil.RunTests(m, "benchbmp", benchutil.StopAndRemove(&daemons, workDir)))
}

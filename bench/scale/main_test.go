package benchscale

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/bench/benchutil"
	ilab "github.com/reachmon/reachmon/integration/lab"
)

// workDirEnv names a directory for the lab's files and the results chosen
// by the caller (scripts/bench.sh sets it so that it can clean up after a
// crash: every daemon runs in its own process group, whose id is in
// NAME.pgid there); without it a temporary directory is used.
const workDirEnv = "BENCH_SCALE_WORKDIR"

// daemons are every process this package starts, until stopped, so that
// a signal or the end of TestMain stops whatever is left.
var daemons benchutil.Daemons

func TestMain(m *testing.M) {
	os.Exit(benchutil.RunTests(m, "benchscale", func(bool) error { return daemons.StopAll() }))
}

// stopWait is how long a daemon gets after SIGTERM (reachmon shuts down
// within 15 s), and after SIGKILL.
const stopWait = 20 * time.Second

// startProc starts a daemon in dir, logging to dir/NAME.log (appended:
// a restarted daemon keeps its earlier log). kill: stop it with SIGKILL
// at once (NSD keeps nothing worth a clean shutdown and takes 1–2 s to
// exit on SIGTERM); otherwise SIGTERM, then SIGKILL after stopWait, which
// is an error.
func startProc(dir, name string, kill bool, argv ...string) (*benchutil.Daemon, error) {
	return daemons.Start(dir, name, benchutil.DaemonOptions{KillAtOnce: kill, StopWait: stopWait, SlowStopIsError: true, AppendLog: true}, argv...)
}

// requireLab skips (fails with CI=true) unless this process can run the
// lab: root, NSD and Unbound.
func requireLab(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		ilab.Missing(tb, "the lab needs root (port 53 on 127.X addresses)")
	}
	var gone []string
	for _, b := range []string{"nsd", "unbound"} {
		if _, err := ilab.BinPath(b); err != nil {
			gone = append(gone, b)
		}
	}
	if len(gone) > 0 {
		ilab.Missing(tb, "%s not installed (apt-get install -y nsd unbound)", strings.Join(gone, ", "))
	}
}

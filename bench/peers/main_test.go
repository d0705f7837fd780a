package benchpeers

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reachmon/reachmon/bench/benchutil"
)

var (
	// daemons are the processes started here (reachmon, blackbox_exporter,
	// dnsperf, perf) while they run; TestMain and a signal stop them.
	daemons benchutil.Daemons
	// workDir holds the processes' files. scripts/bench.sh names it in
	// BENCH_DNSPEERS_WORKDIR so that it can clean up after a crash (every
	// process started here runs in its own process group, whose id is in
	// NAME.pgid there). Without it a temporary directory is used and
	// removed at the end.
	workDir = benchutil.NewWorkDir("BENCH_DNSPEERS_WORKDIR", "benchpeers")

	labMu sync.Mutex
	// labGroups are the process groups of the lab's daemons (started by
	// integration/lab, which stops them when the benchmark ends); the
	// signal handler kills them too, since cleanups do not run on os.Exit.
	labGroups []int
	labDirs   []string
)

func TestMain(m *testing.M) {
	cleanup := benchutil.StopAndRemove(&daemons, workDir)
	os.Exit(benchutil.RunTests(m, "benchpeers", func(signalled bool) error {
		err := cleanup(signalled)
		if signalled {
			killLab()
		}
		return err
	}))
}

// startProc starts a process in dir, its output in dir/NAME.log.
func startProc(dir, name string, args ...string) (*benchutil.Daemon, error) {
	return daemons.Start(dir, name, benchutil.DaemonOptions{}, args...)
}

// killLab kills the lab daemons' process groups and removes the lab's
// directories: on a signal the lab's own cleanup does not run.
func killLab() {
	labMu.Lock()
	defer labMu.Unlock()
	for _, pg := range labGroups {
		_ = syscall.Kill(-pg, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	dir := workDir.Created()
	for _, pg := range labGroups {
		for len(benchutil.GroupMembers(pg)) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		// Gone but for zombies (the orphans wait for init to reap
		// them): nothing for scripts/bench.sh to clean up.
		if len(benchutil.GroupMembers(pg)) == 0 && dir != "" {
			_ = os.Remove(filepath.Join(dir, fmt.Sprintf("lab-%d.pgid", pg)))
		}
	}
	for _, d := range labDirs {
		_ = os.RemoveAll(d)
	}
}

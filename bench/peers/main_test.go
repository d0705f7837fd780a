package benchpeers

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// workDirEnv names a directory for the processes' files chosen by the
// caller: scripts/bench.sh sets it so that it can clean up after a crash
// (every process started here runs in its own process group, whose id is
// in NAME.pgid there). Without it a temporary directory is used and
// removed at the end.
const workDirEnv = "BENCH_DNSPEERS_WORKDIR"

var (
	runningMu sync.Mutex
	running   = map[*proc]bool{}
	// labGroups are the process groups of the lab's daemons (started by
	// integration/lab, which stops them when the benchmark ends); the
	// signal handler kills them too, since cleanups do not run on os.Exit.
	labGroups []int
	labDirs   []string

	workOnce sync.Once
	workDir  string
	workOwn  bool
	workErr  error
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		stopAll()
		killLab()
		fmt.Fprintf(os.Stderr, "benchpeers: %v: stopped every process\n", s)
		os.Exit(2)
	}()
	code := m.Run()
	stopAll()
	if workOwn {
		_ = os.RemoveAll(workDir)
	}
	return code
}

// benchDir is the run's work directory (see workDirEnv).
func benchDir(tb testing.TB) string {
	tb.Helper()
	workOnce.Do(func() {
		workDir = os.Getenv(workDirEnv)
		if workDir == "" {
			workDir, workErr = os.MkdirTemp("", "benchpeers-")
			workOwn = workErr == nil
			return
		}
		workErr = os.MkdirAll(workDir, 0o755)
	})
	if workErr != nil {
		tb.Fatal(workErr)
	}
	return workDir
}

// proc is a process in its own process group, its output in dir/NAME.log
// and its process group id in dir/NAME.pgid while it runs.
type proc struct {
	name string
	cmd  *exec.Cmd
	pgid string
	done chan error
	log  *os.File
}

func startProc(dir, name string, args ...string) (*proc, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	// An *os.File keeps os/exec from copying output in a goroutine.
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: stop kills everything it started. Pdeathsig
	// covers a test binary that dies without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, pgid: filepath.Join(dir, name+".pgid"), done: make(chan error, 1), log: logf}
	_ = os.WriteFile(p.pgid, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
	go func() { p.done <- cmd.Wait() }()
	runningMu.Lock()
	running[p] = true
	runningMu.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process ended (and how).
func (p *proc) exited() error {
	select {
	case err := <-p.done:
		p.done <- err
		if err == nil {
			err = errors.New("exited")
		}
		return fmt.Errorf("%s: %w (log: %s)", p.name, err, p.log.Name())
	default:
		return nil
	}
}

// wait waits up to d for the process to end and reports whether it did.
func (p *proc) wait(d time.Duration) bool {
	select {
	case err := <-p.done:
		p.done <- err
		return true
	case <-time.After(d):
		return false
	}
}

// stop sends SIGTERM, then SIGKILL to the group after 10 s; it is
// idempotent.
func (p *proc) stop() error {
	runningMu.Lock()
	if !running[p] {
		runningMu.Unlock()
		return nil
	}
	delete(running, p)
	runningMu.Unlock()
	pg := p.cmd.Process.Pid
	_ = syscall.Kill(-pg, syscall.SIGTERM)
	var err error
	if !p.wait(10 * time.Second) {
		_ = syscall.Kill(-pg, syscall.SIGKILL)
		if !p.wait(10 * time.Second) {
			err = fmt.Errorf("%s (pid %d) survived SIGKILL", p.name, pg)
		}
	}
	_ = syscall.Kill(-pg, syscall.SIGKILL) // anything left in the group
	p.log.Close()
	_ = os.Remove(p.pgid)
	return err
}

func stopAll() {
	runningMu.Lock()
	ps := make([]*proc, 0, len(running))
	for p := range running {
		ps = append(ps, p)
	}
	runningMu.Unlock()
	for _, p := range ps {
		_ = p.stop()
	}
}

// killLab kills the lab daemons' process groups and removes the lab's
// directories: on a signal the lab's own cleanup does not run.
func killLab() {
	runningMu.Lock()
	defer runningMu.Unlock()
	for _, pg := range labGroups {
		_ = syscall.Kill(-pg, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pg := range labGroups {
		for len(groupMembers(pg)) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		// Gone but for zombies (the orphans wait for init to reap
		// them): nothing for scripts/bench.sh to clean up.
		if len(groupMembers(pg)) == 0 && workDir != "" {
			_ = os.Remove(filepath.Join(workDir, fmt.Sprintf("lab-%d.pgid", pg)))
		}
	}
	for _, d := range labDirs {
		_ = os.RemoveAll(d)
	}
}

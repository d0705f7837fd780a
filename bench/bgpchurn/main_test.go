package bgpchurn

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

// workDirEnv names a directory for reachmon's files chosen by the caller
// (scripts/bench.sh sets it so that it can clean up after a crash: reachmon
// runs in its own process group, whose id is in reachmon.pgid there);
// without it a temporary directory is used and removed.
const workDirEnv = "BENCH_BGPCHURN_WORKDIR"

var (
	runningMu sync.Mutex
	running   = map[*proc]bool{}
	workOnce  sync.Once
	workDir   string
	workOwn   bool
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		stopAll()
		fmt.Fprintf(os.Stderr, "bgpchurn: %v: stopped reachmon\n", s)
		os.Exit(2)
	}()
	code := m.Run()
	stopAll()
	if workOwn {
		_ = os.RemoveAll(workDir)
	}
	return code
}

// benchDir is the run's work directory.
func benchDir(tb testing.TB) string {
	tb.Helper()
	workOnce.Do(func() {
		workDir = os.Getenv(workDirEnv)
		if workDir == "" {
			d, err := os.MkdirTemp("", "bgpchurn-")
			if err != nil {
				panic(err)
			}
			workDir, workOwn = d, true
		}
		if err := os.MkdirAll(workDir, 0o755); err != nil {
			panic(err)
		}
	})
	return workDir
}

// proc is a daemon in its own process group.
type proc struct {
	name string
	cmd  *exec.Cmd
	pgid string // file holding the process group id
	done chan error
	log  *os.File

	stopOnce sync.Once
	stopped  chan struct{} // closed once stop has finished
	stopErr  error
}

func startProc(dir, name string, args ...string) (*proc, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, pgid: filepath.Join(dir, name+".pgid"), done: make(chan error, 1), log: logf,
		stopped: make(chan struct{})}
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

// stop sends SIGTERM, then SIGKILL to the group after 20 s (reachmon
// shuts down within 15 s). Every caller (the benchmark, the signal
// handler, TestMain) returns only once the process is gone.
func (p *proc) stop() error {
	p.stopOnce.Do(func() {
		p.stopErr = p.terminate()
		runningMu.Lock()
		delete(running, p)
		runningMu.Unlock()
		close(p.stopped)
	})
	<-p.stopped
	return p.stopErr
}

func (p *proc) terminate() error {
	pg := p.cmd.Process.Pid
	_ = syscall.Kill(-pg, syscall.SIGTERM)
	var err error
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		err = fmt.Errorf("%s (pid %d) ignored SIGTERM for 20 s", p.name, pg)
		_ = syscall.Kill(-pg, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("%s (pid %d) survived SIGKILL", p.name, pg)
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
		if err := p.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bgpchurn:", err)
		}
	}
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

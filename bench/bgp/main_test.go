package benchbgp

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

// workDirEnv names a directory for the receivers' files chosen by the
// caller (scripts/bench.sh sets it so that it can clean up after a
// crash: every receiver runs in its own process group, whose id is in
// NAME.pgid there); without it a temporary directory is used.
const workDirEnv = "BENCH_BGP_WORKDIR"

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
		fmt.Fprintf(os.Stderr, "benchbgp: %v: stopped the receivers\n", s)
		os.Exit(2)
	}()
	code := m.Run()
	stopAll()
	if workOwn {
		_ = os.RemoveAll(workDir)
	}
	return code
}

func benchDir(tb testing.TB) string {
	workOnce.Do(func() {
		workDir = os.Getenv(workDirEnv)
		if workDir == "" {
			d, err := os.MkdirTemp("", "benchbgp-")
			if err != nil {
				panic(err)
			}
			workDir, workOwn = d, true
		}
	})
	return workDir
}

// proc is a receiver process in its own process group.
type proc struct {
	name string
	cmd  *exec.Cmd
	pgid string // file holding the process group id
	done chan error
	log  *os.File
}

func startProc(dir, name string, env []string, args ...string) (*proc, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
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

// stop sends SIGTERM, then SIGKILL to the group after 10 s.
func (p *proc) stop() error {
	runningMu.Lock()
	delete(running, p)
	runningMu.Unlock()
	pg := p.cmd.Process.Pid
	_ = syscall.Kill(-pg, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
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
	return nil
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

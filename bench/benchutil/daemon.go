package benchutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/reachmon/reachmon/integration/lab"
)

// Daemons is the set of processes a benchmark package started and has not
// stopped yet, so that the end of TestMain, or a signal, stops whatever
// is left (RunTests' cleanup calls StopAll). The zero value is ready.
type Daemons struct {
	mu      sync.Mutex
	running map[*Daemon]bool
	// stopping is set while StopAll runs (after a signal): nothing new
	// may start meanwhile.
	stopping bool
}

// DaemonOptions say how a process is started and stopped.
type DaemonOptions struct {
	// Env is added to this process's environment.
	Env []string
	// KillAtOnce stops the process with SIGKILL rather than SIGTERM
	// first (NSD keeps nothing worth a clean shutdown and takes 1–2 s to
	// exit on SIGTERM).
	KillAtOnce bool
	// StopWait is how long Stop waits after SIGTERM before SIGKILL, and
	// after SIGKILL before giving up (default 10 s).
	StopWait time.Duration
	// SlowStopIsError makes a process that needed SIGKILL after
	// ignoring SIGTERM for StopWait an error of Stop (reachmon shuts
	// down within 15 s: not doing so is a finding).
	SlowStopIsError bool
	// AppendLog appends to NAME.log instead of truncating it (a daemon
	// restarted in the same directory keeps its earlier log).
	AppendLog bool
}

// Daemon is a process in its own process group, its output in DIR/NAME.log
// and its process group id in DIR/NAME.pgid while it runs (for
// scripts/bench.sh's cleanup after a crash). It gets SIGKILL if the test
// binary dies without stopping it.
type Daemon struct {
	Name    string
	Cmd     *exec.Cmd
	LogPath string // stdout and stderr

	set      *Daemons
	opts     DaemonOptions
	pgidFile string
	done     chan struct{} // closed when the process has been reaped
	waitErr  error         // Wait's result, valid after done

	stopOnce sync.Once
	stopped  chan struct{} // closed once Stop has finished
	stopErr  error
	stopTook time.Duration
}

// Start starts argv in dir as NAME.
func (ps *Daemons) Start(dir, name string, opts DaemonOptions, argv ...string) (*Daemon, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("starting %s: no command", name)
	}
	if opts.StopWait <= 0 {
		opts.StopWait = 10 * time.Second
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.stopping {
		return nil, errors.New("stopping, not starting " + name)
	}
	bin, err := lab.BinPath(argv[0])
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, name+".log")
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if opts.AppendLog {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	out, err := os.OpenFile(logPath, flags, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(bin, argv[1:]...)
	cmd.Dir = dir
	if opts.Env != nil {
		cmd.Env = append(os.Environ(), opts.Env...)
	}
	// An *os.File keeps os/exec from copying output in a goroutine, so
	// Wait does not hang on a forked child holding the descriptor.
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group: Stop kills everything it started. Pdeathsig
	// covers a test binary that dies without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Daemon{Name: name, Cmd: cmd, LogPath: logPath, set: ps, opts: opts,
		pgidFile: filepath.Join(dir, name+".pgid"), done: make(chan struct{}), stopped: make(chan struct{})}
	_ = os.WriteFile(p.pgidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if ps.running == nil {
		ps.running = map[*Daemon]bool{}
	}
	ps.running[p] = true
	return p, nil
}

// Pid is the process's id, which is also its process group's.
func (p *Daemon) Pid() int { return p.Cmd.Process.Pid }

// Exited returns an error naming how the process ended, with the tail of
// its log; nil while it runs.
func (p *Daemon) Exited() error {
	select {
	case <-p.done:
		err := p.waitErr
		if err == nil {
			err = errors.New("exited")
		}
		return fmt.Errorf("%s: %w (log %s, last lines:\n%s)", p.Name, err, p.LogPath, lab.Tail(p.LogPath, 20))
	default:
		return nil
	}
}

// ExitErr is how the process ended (Wait's error: nil for exit status 0),
// once it has; nil while it runs.
func (p *Daemon) ExitErr() error {
	select {
	case <-p.done:
		return p.waitErr
	default:
		return nil
	}
}

// Wait waits up to d for the process to end and reports whether it did.
func (p *Daemon) Wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// Stop ends the process (SIGTERM, then SIGKILL after StopWait; SIGKILL at
// once with KillAtOnce) and waits until no live process is left in its
// group. Every caller (the benchmark, the signal handler, TestMain)
// returns only once it is gone, with the same result.
func (p *Daemon) Stop() error {
	p.stopOnce.Do(func() {
		began := time.Now()
		p.stopErr = p.terminate()
		p.stopTook = time.Since(began)
		p.set.mu.Lock()
		delete(p.set.running, p)
		p.set.mu.Unlock()
		close(p.stopped)
	})
	<-p.stopped
	return p.stopErr
}

// StopTook is how long the process took to exit after Stop's first
// signal; valid once Stop has returned.
func (p *Daemon) StopTook() time.Duration {
	<-p.stopped
	return p.stopTook
}

func (p *Daemon) terminate() error {
	pg := p.Pid()
	wait := p.opts.StopWait
	if p.opts.KillAtOnce {
		_ = syscall.Kill(-pg, syscall.SIGKILL)
	} else {
		_ = syscall.Kill(-pg, syscall.SIGTERM)
	}
	var err error
	if !p.Wait(wait) {
		if p.opts.SlowStopIsError {
			err = fmt.Errorf("%s (pid %d) ignored SIGTERM for %v; killed", p.Name, pg, wait)
		}
		_ = syscall.Kill(-pg, syscall.SIGKILL)
		if !p.Wait(wait) {
			return fmt.Errorf("%s (pid %d) survived SIGKILL", p.Name, pg)
		}
	}
	_ = syscall.Kill(-pg, syscall.SIGKILL) // anything left in the group
	for deadline := time.Now().Add(wait); len(GroupMembers(pg)) > 0; {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: process group %d still alive %v after SIGKILL", p.Name, pg, wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = os.Remove(p.pgidFile)
	return err
}

// StopAll stops every process still running, refusing to start new ones
// meanwhile, and returns every error.
func (ps *Daemons) StopAll() error {
	ps.mu.Lock()
	ps.stopping = true
	list := make([]*Daemon, 0, len(ps.running))
	for p := range ps.running {
		list = append(list, p)
	}
	ps.mu.Unlock()
	var errs []error
	for _, p := range list {
		if err := p.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	ps.mu.Lock()
	ps.stopping = false
	ps.mu.Unlock()
	return errors.Join(errs...)
}

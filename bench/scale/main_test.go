package benchscale

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ilab "github.com/reachmon/reachmon/integration/lab"
)

// workDirEnv names a directory for the lab's files and the results chosen
// by the caller (scripts/bench.sh sets it so that it can clean up after a
// crash: every daemon runs in its own process group, whose id is in
// NAME.pgid there); without it a temporary directory is used.
const workDirEnv = "BENCH_SCALE_WORKDIR"

// Every process this package starts is in running until stopped, so that
// a signal or the end of TestMain stops whatever is left.
var (
	runningMu sync.Mutex
	running   = map[*proc]bool{}
	// stopping is set once a signal arrived: nothing new may start.
	stopping bool
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		stopAll()
		fmt.Fprintf(os.Stderr, "benchscale: %v: stopped every process\n", s)
		os.Exit(2)
	}()
	code := m.Run()
	if err := stopAll(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// binPath finds a binary in PATH or in the sbin directories a non-root
// PATH may lack.
func binPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in PATH or the sbin directories", name)
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
		if _, err := binPath(b); err != nil {
			gone = append(gone, b)
		}
	}
	if len(gone) > 0 {
		ilab.Missing(tb, "%s not installed (apt-get install -y nsd unbound)", strings.Join(gone, ", "))
	}
}

// proc is a daemon in its own process group. Its group id is written to
// NAME.pgid in its directory for scripts/bench.sh's cleanup, and it gets
// SIGKILL if this process dies without stopping it.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string // stdout and stderr
	pgid string // file holding the process group id
	// kill: stop with SIGKILL at once (NSD keeps nothing worth a clean
	// shutdown and takes 1–2 s to exit on SIGTERM); otherwise SIGTERM,
	// then SIGKILL after stopWait.
	kill bool
	done chan struct{} // closed when the process has been reaped
	err  error         // Wait's result, valid after done
}

const stopWait = 20 * time.Second

func startProc(dir, name string, kill bool, argv ...string) (*proc, error) {
	runningMu.Lock()
	defer runningMu.Unlock()
	if stopping {
		return nil, errors.New("benchscale: stopping, not starting " + name)
	}
	bin, err := binPath(argv[0])
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, name+".log")
	out, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(bin, argv[1:]...)
	cmd.Dir = dir
	// An *os.File keeps os/exec from copying output in a goroutine, so
	// Wait does not hang on a forked NSD process holding the descriptor.
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, pgid: filepath.Join(dir, name+".pgid"), kill: kill, done: make(chan struct{})}
	_ = os.WriteFile(p.pgid, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	running[p] = true
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited returns an error naming how the process ended, nil while it runs.
func (p *proc) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v); log tail:\n%s", p.name, p.err, tail(p.log, 20))
	default:
		return nil
	}
}

// stop ends the process and waits until no live process is left in its
// group; it returns how long the main process took to exit. Idempotent.
func (p *proc) stop() (time.Duration, error) {
	runningMu.Lock()
	delete(running, p)
	runningMu.Unlock()
	pg := p.pid()
	began := time.Now()
	if p.kill {
		_ = syscall.Kill(-pg, syscall.SIGKILL)
	} else {
		_ = syscall.Kill(-pg, syscall.SIGTERM)
	}
	var err error
	select {
	case <-p.done:
	case <-time.After(stopWait):
		err = fmt.Errorf("%s did not exit within %v; killed", p.name, stopWait)
		_ = syscall.Kill(-pg, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(stopWait):
			return time.Since(began), fmt.Errorf("%s (pid %d) survived SIGKILL", p.name, pg)
		}
	}
	took := time.Since(began)
	_ = syscall.Kill(-pg, syscall.SIGKILL) // anything left in the group
	for deadline := time.Now().Add(stopWait); len(groupCPU(pg)) > 0; {
		if time.Now().After(deadline) {
			return took, fmt.Errorf("%s: process group %d still alive %v after SIGKILL", p.name, pg, stopWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = os.Remove(p.pgid)
	return took, err
}

// stopAll stops every process still running (after a signal, or at the
// end of TestMain) and refuses to start new ones meanwhile.
func stopAll() error {
	runningMu.Lock()
	stopping = true
	ps := make([]*proc, 0, len(running))
	for p := range running {
		ps = append(ps, p)
	}
	runningMu.Unlock()
	var errs []error
	for _, p := range ps {
		if _, err := p.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	runningMu.Lock()
	stopping = false
	runningMu.Unlock()
	return errors.Join(errs...)
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// groupCPU returns the CPU seconds (user+system) used so far by each live
// (not zombie) process of the given process groups, summed per group; a
// group with no live process is absent. One pass over /proc.
func groupCPU(pgids ...int) map[int]float64 {
	want := map[string]int{}
	for _, g := range pgids {
		want[strconv.Itoa(g)] = g
	}
	out := map[int]float64{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid pgrp … utime stime …": comm may hold
		// spaces and parentheses, so split after the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		g, ok := want[f[2]]
		if !ok {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[g] += float64(ut+st) / clockTicks
	}
	return out
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

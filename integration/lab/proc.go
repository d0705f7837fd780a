package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Bounds on helper commands and daemon shutdown.
const (
	toolTimeout = 10 * time.Second // ldns-*, nsd-control, unbound-control
	stopTimeout = 10 * time.Second // SIGTERM to exit; then SIGKILL
)

// daemon is one long-running process of the lab. It runs in its own process
// group so that a daemon that forks (NSD forks its servers and xfrd) is
// stopped whole, and gets SIGTERM if the test process dies without running
// its cleanups (a go test -timeout panic).
type daemon struct {
	name string
	log  string // file receiving the daemon's stdout and stderr
	kill bool   // stop with SIGKILL rather than SIGTERM
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been reaped
	err  error         // Wait's result, valid after done
}

// startDaemon starts argv[0] (looked up with BinPath) with stdout and stderr
// appended to logPath; kill says how stop ends it. It does not wait for the
// daemon to be ready.
func startDaemon(name, logPath string, kill bool, argv ...string) (*daemon, error) {
	bin, err := BinPath(argv[0])
	if err != nil {
		return nil, err
	}
	out, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(bin, argv[1:]...)
	// An *os.File (not a buffer) keeps os/exec from copying output in a
	// goroutine, so Wait does not hang on a grandchild holding the pipe.
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &daemon{name: name, log: logPath, kill: kill, cmd: cmd, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// exited returns a non-nil error if the daemon is no longer running.
func (d *daemon) exited() error {
	select {
	case <-d.done:
		return fmt.Errorf("%s exited (%v); log tail:\n%s", d.name, d.err, Tail(d.log, 20))
	default:
		return nil
	}
}

// stop ends the daemon and waits until its whole process group is gone,
// escalating to SIGKILL of the group after stopTimeout. It is idempotent.
//
// A daemon started with kill set is sent SIGKILL at once: NSD keeps nothing
// worth a clean shutdown here, and after SIGTERM its processes take ~1.5 s to
// exit (2 s when each gets the signal). Others get SIGTERM first.
func (d *daemon) stop() error {
	pgid := d.cmd.Process.Pid
	if d.kill {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	} else if !isClosed(d.done) {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.Now().Add(stopTimeout)
	killed := false
	for i := 0; ; i++ {
		if groupGone(pgid) && isClosed(d.done) {
			if killed {
				return fmt.Errorf("%s did not exit within %v of SIGTERM; killed", d.name, stopTimeout)
			}
			return nil
		}
		if !killed && time.Now().After(deadline) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			killed = true
			deadline = time.Now().Add(stopTimeout)
		} else if killed && time.Now().After(deadline) {
			return fmt.Errorf("%s: process group %d survived SIGKILL for %v", d.name, pgid, stopTimeout)
		}
		time.Sleep(min(time.Duration(i+1)*5*time.Millisecond, 50*time.Millisecond))
	}
}

// groupGone reports whether no live process is left in the process group.
// Zombies don't count: a killed NSD's orphaned processes are reparented to
// PID 1, which may take a second to reap them, but they hold no sockets.
func groupGone(pgid int) bool {
	if errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) {
		return true
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and parens.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" {
			return false
		}
	}
	return true
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// run runs a short helper command in dir with a bounded time and returns its
// stdout; the error carries stderr.
func run(dir string, argv ...string) (string, error) {
	bin, err := BinPath(argv[0])
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, argv[1:]...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err,
			strings.TrimSpace(stderr.String()+" "+stdout.String()))
	}
	return stdout.String(), nil
}

// Tail returns the last n lines of a file, for failure messages.
func Tail(path string, n int) string {
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

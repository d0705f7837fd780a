package benchutil

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
)

// RunTests is the body of a benchmark package's TestMain: it runs m and
// then cleanup, and returns the exit code. A benchmark starts daemons
// (NSD, gobgpd, reachmon ...) that outlive a test binary killed by Ctrl-C
// or by scripts/bench.sh, so on SIGINT, SIGTERM or SIGHUP it calls
// cleanup(true) at once and exits 2: deferred functions and t.Cleanup do
// not run on os.Exit. A cleanup error after the tests passed makes the
// run fail (exit 1): a daemon left running spoils the next measurement.
func RunTests(m *testing.M, name string, cleanup func(signalled bool) error) int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		if err := cleanup(true); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		}
		fmt.Fprintf(os.Stderr, "%s: %v: stopped every process\n", name, s)
		os.Exit(2)
	}()
	code := m.Run()
	if err := cleanup(false); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// WorkDir is a benchmark run's work directory: the one named by an
// environment variable (scripts/bench.sh sets it, so that it can clean up
// after a crash from the NAME.pgid files there), else a temporary
// directory made on first use and removed by Remove.
type WorkDir struct {
	env, prefix string

	once sync.Once
	dir  string
	own  bool // made here: Remove deletes it
	err  error
}

// NewWorkDir names the environment variable and the prefix of the
// temporary directory used without it.
func NewWorkDir(env, prefix string) *WorkDir { return &WorkDir{env: env, prefix: prefix} }

// Path returns the directory, creating it on first use; it fails tb if
// it cannot.
func (w *WorkDir) Path(tb testing.TB) string {
	tb.Helper()
	w.once.Do(func() {
		w.dir = os.Getenv(w.env)
		if w.dir == "" {
			w.dir, w.err = os.MkdirTemp("", w.prefix+"-")
			w.own = w.err == nil
			return
		}
		w.err = os.MkdirAll(w.dir, 0o755)
	})
	if w.err != nil {
		tb.Fatalf("work directory (%s): %v", w.env, w.err)
	}
	return w.dir
}

// Created returns the directory if Path has made or found it, else "".
func (w *WorkDir) Created() string {
	if w.err != nil {
		return ""
	}
	return w.dir
}

// Remove deletes the directory if it is a temporary one made by Path; a
// directory named by the environment is the caller's and stays.
func (w *WorkDir) Remove() error {
	if !w.own {
		return nil
	}
	w.own = false
	return os.RemoveAll(w.dir)
}

// StopAndRemove is the cleanup most benchmarks give RunTests: stop every
// daemon still running and, at a normal end, remove the temporary work
// directory. After a signal the directory stays: the daemons' process
// group files there are what scripts/bench.sh cleans up from.
func StopAndRemove(ds *Daemons, w *WorkDir) func(signalled bool) error {
	return func(signalled bool) error {
		err := ds.StopAll()
		if signalled {
			return err
		}
		return errors.Join(err, w.Remove())
	}
}

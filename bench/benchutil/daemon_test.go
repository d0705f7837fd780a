package benchutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/lab"
)

func TestDaemonStartStop(t *testing.T) {
	var ds Daemons
	dir := t.TempDir()
	d, err := ds.Start(dir, "sleeper", DaemonOptions{}, "sleep", "30")
	if err != nil {
		t.Fatal(err)
	}
	pgid := filepath.Join(dir, "sleeper.pgid")
	if _, err := os.Stat(pgid); err != nil {
		t.Errorf("no process group file while it runs: %v", err)
	}
	if err := d.Exited(); err != nil {
		t.Errorf("Exited while running: %v", err)
	}
	if len(GroupMembers(d.Pid())) == 0 {
		t.Errorf("no live process in group %d", d.Pid())
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if d.StopTook() > 5*time.Second {
		t.Errorf("sleep took %v to stop on SIGTERM", d.StopTook())
	}
	if err := d.Exited(); err == nil || !strings.Contains(err.Error(), "sleeper") {
		t.Errorf("Exited after Stop = %v, want an error naming the process", err)
	}
	if _, err := os.Stat(pgid); !os.IsNotExist(err) {
		t.Errorf("process group file left after Stop: %v", err)
	}
	if err := d.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestDaemonIgnoringSIGTERM(t *testing.T) {
	var ds Daemons
	opts := DaemonOptions{StopWait: 300 * time.Millisecond, SlowStopIsError: true}
	d, err := ds.Start(t.TempDir(), "stubborn", opts, "sh", "-c", `trap "" TERM; echo ready; sleep 30 & wait`)
	if err != nil {
		t.Fatal(err)
	}
	// The trap must be set before the signal: wait for the shell's line.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(lab.Tail(d.LogPath, 1), "ready"); {
		if time.Now().After(deadline) {
			t.Fatal("the shell never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	err = ds.StopAll()
	if err == nil || !strings.Contains(err.Error(), "ignored SIGTERM") {
		t.Errorf("StopAll = %v, want the ignored SIGTERM reported", err)
	}
	if n := len(GroupMembers(d.Pid())); n > 0 {
		t.Errorf("%d processes left in the group after SIGKILL", n)
	}
	if _, err := ds.Start(t.TempDir(), "after", DaemonOptions{}, "true"); err != nil {
		t.Errorf("Start after StopAll: %v", err)
	}
	_ = ds.StopAll()
}

func TestWorkDir(t *testing.T) {
	named := t.TempDir()
	t.Setenv("BENCHUTIL_TEST_WORKDIR", named)
	w := NewWorkDir("BENCHUTIL_TEST_WORKDIR", "benchutil")
	if got := w.Path(t); got != named {
		t.Errorf("Path = %s, want the named %s", got, named)
	}
	if err := w.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(named); err != nil {
		t.Errorf("Remove deleted the caller's directory: %v", err)
	}

	t.Setenv("BENCHUTIL_TEST_WORKDIR", "")
	w = NewWorkDir("BENCHUTIL_TEST_WORKDIR", "benchutil")
	if w.Created() != "" {
		t.Error("Created before Path")
	}
	tmp := w.Path(t)
	if tmp == named || w.Created() != tmp {
		t.Errorf("Path = %s, Created = %s: want a new temporary directory", tmp, w.Created())
	}
	if err := w.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary directory left after Remove: %v", err)
	}
}

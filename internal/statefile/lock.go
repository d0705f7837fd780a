package statefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFileName is the lock file in the state directory.
const LockFileName = "reachmon.lock"

// ErrRefused is in the chain of every error that refuses a state
// directory at start: another instance holds it (*LockedError), or a file
// was written by a newer schema (*NewerError). Running again unchanged
// fails the same way, so the command line exits with the status of a
// configuration error.
var ErrRefused = errors.New("state directory refused")

// LockedError is a state directory locked by another process.
type LockedError struct {
	Dir string
	// PID is the holder's process ID as it wrote it in the lock file; 0
	// when the file holds none yet (the holder is starting).
	PID int
}

func (e *LockedError) Error() string {
	holder := "another process (its pid is not written yet)"
	if e.PID > 0 {
		holder = "another reachmon, pid " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("state directory %s is in use by %s (lock file %s): one daemon per state_dir",
		e.Dir, holder, filepath.Join(e.Dir, LockFileName))
}

// Is makes errors.Is(err, ErrRefused) hold.
func (e *LockedError) Is(target error) bool { return target == ErrRefused }

// DirLock is an exclusive lock on a state directory, held until Unlock
// or the process ends (the kernel releases it, so a crash leaves no
// stale lock).
type DirLock struct{ f *os.File }

// Lock takes the exclusive lock on dir (flock on dir/reachmon.lock) and
// writes this process's pid in the lock file. It does not wait: when
// another process holds the lock, the error is a *LockedError naming the
// holder's pid. The lock file is never removed: a removed file would let
// a third process lock a new file while the second still holds the old
// one.
func Lock(dir string) (*DirLock, error) {
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("locking the state directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Dir: dir, PID: readPID(f)}
		}
		return nil, fmt.Errorf("locking the state directory: flock %s: %w", path, err)
	}
	if err := writePID(f); err != nil {
		_ = f.Close() // releases the lock
		return nil, fmt.Errorf("locking the state directory: writing the pid to %s: %w", path, err)
	}
	return &DirLock{f: f}, nil
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// readPID reads the holder's pid from the lock file; 0 if it holds none.
func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// Unlock releases the lock (closing the file releases it whatever Close
// reports). The pid stays in the file; the lock, not the file, says
// whether the directory is in use.
func (l *DirLock) Unlock() { _ = l.f.Close() }

// NewerError is a state file written by a newer schema than this build
// reads. It is refused rather than set aside as corrupt: a rollback must
// not silently drop delivery state that the newer build will read again.
type NewerError struct {
	Path string
	// Found is the file's schema version, Reads the newest this build reads.
	Found, Reads int
}

func (e *NewerError) Error() string {
	return fmt.Sprintf("%s was written by a newer reachmon (schema version %d; this build reads version %d): "+
		"refusing to start rather than set it aside; run the newer build, or move the file away to start without it",
		e.Path, e.Found, e.Reads)
}

// Is makes errors.Is(err, ErrRefused) hold.
func (e *NewerError) Is(target error) bool { return target == ErrRefused }

// CheckVersion returns a *NewerError when the file path holds schema
// version found and this build reads versions up to reads; nil otherwise
// (a version that is not newer but still unknown is the caller's to
// judge, usually as corrupt).
func CheckVersion(path string, found, reads int) error {
	if found > reads {
		return &NewerError{Path: path, Found: found, Reads: reads}
	}
	return nil
}

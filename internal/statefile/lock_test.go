package statefile

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLockRefusesASecondHolder: while one lock is held, a second Lock of
// the same directory fails at once naming the holder's pid, and succeeds
// once the first is released.
func TestLockRefusesASecondHolder(t *testing.T) {
	dir := t.TempDir()
	first, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, LockFileName))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("lock file holds %q (%v), want this pid %d", b, err, os.Getpid())
	}
	_, err = Lock(dir)
	var locked *LockedError
	if !errors.As(err, &locked) || locked.PID != os.Getpid() || !errors.Is(err, ErrRefused) {
		t.Fatalf("second Lock: %v, want a *LockedError naming pid %d", err, os.Getpid())
	}
	if msg := err.Error(); !strings.Contains(msg, "pid "+strconv.Itoa(os.Getpid())) || !strings.Contains(msg, dir) {
		t.Errorf("message %q does not name the holder's pid and the directory", msg)
	}
	first.Unlock()
	again, err := Lock(dir)
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	again.Unlock()
}

func TestCheckVersion(t *testing.T) {
	if err := CheckVersion("s.json", 1, 1); err != nil {
		t.Errorf("same version refused: %v", err)
	}
	err := CheckVersion("s.json", 3, 1)
	var newer *NewerError
	if !errors.As(err, &newer) || !errors.Is(err, ErrRefused) {
		t.Fatalf("newer version: %v, want a *NewerError", err)
	}
	for _, w := range []string{"s.json", "schema version 3", "this build reads version 1"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message %q lacks %q", err, w)
		}
	}
}

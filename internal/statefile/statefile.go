// Package statefile writes reachmon's state files (the incident store,
// the notification state and outbox) so that a crash never leaves a torn
// one, and sets aside files that cannot be read so that the daemon starts
// anyway without destroying what an operator may want to look at.
//
// Crash-safety order of WriteAtomic:
//
//  1. the data goes to a new temporary file "<name>.tmp-<random>" in the
//     destination's directory (same file system, so the rename is atomic);
//  2. the temporary file is fsynced and closed: its content is on disk;
//  3. it is renamed over the destination: readers see the old or the new
//     content, never a mix;
//  4. the directory is fsynced: the rename itself survives a power cut.
//
// A crash before 3 leaves the old file and a temporary one, which
// RemoveTemps deletes at the next start; a crash after 3 leaves the new
// file. Callers that keep several files consistent (the notification
// state and its outbox) order their WriteAtomic calls so that any prefix
// of them is a state they can load; see internal/notify.
//
// Stores write through a Writer, a goroutine of their own, so that the
// probe loop never waits on the disk: each file's writes are coalesced
// (the latest content wins) and done one at a time, each with
// WriteAtomic. A store that needs one file on disk before another is
// changed (the notification state before the outbox entries it makes
// redundant) waits for the first (Writer.WriteWait) before queueing the
// second, so the order above still holds across files; Flush at shutdown
// writes what is queued.
//
// The state directory has one owner: Lock takes an exclusive lock on it
// at start, and a second daemon on the same directory is refused. A file
// written by a newer schema is refused too (CheckVersion), not set aside:
// both errors carry ErrRefused.
//
// A file that cannot be read is renamed by SetAside to
// "<name>.corrupt-<UTC time>" (with "-2", "-3"... appended if that name is
// taken): every corrupt file is kept, none overwrites an earlier one.
package statefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// tempInfix marks temporary files: "<name>.tmp-<random>". Releases
// before the statefile package named them ".tmp-<random>"; the pattern
// RemoveTemps deletes matches both.
const tempInfix = ".tmp-"

// corruptInfix marks files set aside: "<name>.corrupt-<time>".
const corruptInfix = ".corrupt-"

// corruptTimeFormat is the UTC time in set-aside names; it sorts by time.
const corruptTimeFormat = "20060102T150405.000000000Z"

// WriteAtomic replaces path with data (file mode perm) so that a crash
// leaves either the old or the new content, in the order the package
// comment describes. The error names the path and the step that failed;
// an error from the last step (the directory fsync) means the new content
// is in place but may not survive a power cut.
func WriteAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+tempInfix+"*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if !renamed {
			_ = f.Close() // a second Close after a failed one only reports again
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing %s: fsync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("writing %s: the new content is in place but the directory was not synced: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// RemoveTemps deletes the temporary files an interrupted WriteAtomic left
// in dir and returns their paths. The files they were meant to replace
// are intact.
func RemoveTemps(dir string) ([]string, error) {
	tmps, err := filepath.Glob(filepath.Join(dir, "*"+tempInfix+"*"))
	if err != nil {
		return nil, fmt.Errorf("temporary files in %s: %w", dir, err)
	}
	var removed []string
	for _, t := range tmps {
		if err := os.Remove(t); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("removing a temporary file left by an interrupted write: %w", err)
		}
		removed = append(removed, t)
	}
	return removed, nil
}

// SetAside renames the unreadable file path to
// "<path>.corrupt-<now in UTC>", never over an existing file, and returns
// the new path. The state directory has one owner (one daemon), so
// nothing else creates a name between the check and the rename.
func SetAside(path string, now time.Time) (string, error) {
	base := path + corruptInfix + now.UTC().Format(corruptTimeFormat)
	aside := base
	for n := 2; ; n++ {
		if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
			break
		} else if err != nil {
			return "", fmt.Errorf("setting %s aside: %w", path, err)
		}
		aside = base + "-" + strconv.Itoa(n)
	}
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("setting %s aside: %w", path, err)
	}
	return aside, nil
}

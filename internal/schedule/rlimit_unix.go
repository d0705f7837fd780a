//go:build unix

package schedule

import "syscall"

// openFileLimit returns the soft limit on open files (Go raises it to the
// hard limit at start-up), or 0 when it cannot be read or is unlimited.
func openFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 0
	}
	return int(rl.Cur)
}

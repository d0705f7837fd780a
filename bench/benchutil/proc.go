// Package benchutil holds what reachmon's benchmarks share: reading a
// process's CPU time and memory from /proc, and reading a daemon's
// /metrics. Benchmarks measure other processes (reachmon, the peer tools)
// from the outside, as a user's monitoring would.
package benchutil

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// Proc is one reading of a process's resource use.
type Proc struct {
	// CPUSeconds is user+system CPU time of every thread so far (10 ms
	// resolution).
	CPUSeconds float64
	// RSS is the resident set size now; HWM its peak so far (VmHWM), in
	// bytes.
	RSS, HWM int64
	// Threads is the number of threads now.
	Threads int
}

// ReadProc reads /proc/PID/stat and /proc/PID/status.
func ReadProc(pid int) (Proc, error) {
	var p Proc
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, err
	}
	// The command name (field 2) may hold spaces and parentheses: fields
	// are counted after its closing parenthesis.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return p, fmt.Errorf("/proc/%d/stat: no ')' in %q", pid, s)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return p, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return p, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	p.CPUSeconds = float64(ut+st) / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "VmRSS":
			p.RSS = kB(v)
		case "VmHWM":
			p.HWM = kB(v)
		case "Threads":
			p.Threads, _ = strconv.Atoi(v)
		}
	}
	return p, nil
}

// kB parses "1234 kB" into bytes (0 when malformed).
func kB(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	return n * 1024
}

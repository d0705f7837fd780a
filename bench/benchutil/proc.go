// Package benchutil holds what reachmon's benchmarks share: their TestMain
// (RunTests: cleanup on exit and on signals), their work directory, the
// daemons they start in process groups of their own (Daemons), reading
// CPU time and memory of processes and of the machine from /proc, and
// reading a daemon's /metrics. Benchmarks measure other processes
// (reachmon, the peer tools) from the outside, as a user's monitoring
// would.
package benchutil

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
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

// ProcStat is what benchmarks read of one process's /proc/PID/stat.
type ProcStat struct {
	Pid, Pgrp int
	// State is the one-letter state: "Z" (zombie) and "X" (dead) are
	// gone but for their entry.
	State string
	// CPUTicks is user+system CPU time in clock ticks (1/100 s).
	CPUTicks int64
}

// Live reports whether the process still runs (is not a zombie).
func (s ProcStat) Live() bool { return s.State != "Z" && s.State != "X" }

// ReadStats reads /proc/PID/stat of every process, in one pass over /proc.
func ReadStats() []ProcStat {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []ProcStat
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid pgrp … utime stime …": comm may hold
		// spaces and parentheses, so split after the last ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		pg, _ := strconv.Atoi(f[2])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out = append(out, ProcStat{Pid: pid, Pgrp: pg, State: f[0], CPUTicks: ut + st})
	}
	return out
}

// GroupMembers lists the live processes of process group pg.
func GroupMembers(pg int) []ProcStat {
	if errors.Is(syscall.Kill(-pg, 0), syscall.ESRCH) {
		return nil
	}
	var out []ProcStat
	for _, s := range ReadStats() {
		if s.Pgrp == pg && s.Live() {
			out = append(out, s)
		}
	}
	return out
}

// GroupCPU returns the CPU seconds (user+system) used so far by the live
// processes of each given process group; a group with no live process is
// absent. A process that exited drops out of its group's sum.
func GroupCPU(pgids ...int) map[int]float64 {
	want := map[int]bool{}
	for _, g := range pgids {
		want[g] = true
	}
	out := map[int]float64{}
	for _, s := range ReadStats() {
		if want[s.Pgrp] && s.Live() {
			out[s.Pgrp] += float64(s.CPUTicks) / clockTicks
		}
	}
	return out
}

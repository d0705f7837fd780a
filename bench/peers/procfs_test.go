package benchpeers

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
const clockTicks = 100

type procStat struct {
	pid, pgrp    int
	state        string
	utime, stime int64
}

// readStats reads /proc/PID/stat of every process.
func readStats() []procStat {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []procStat
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
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		pg, _ := strconv.Atoi(f[2])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out = append(out, procStat{pid: pid, pgrp: pg, state: f[0], utime: ut, stime: st})
	}
	return out
}

// groupMembers lists the live (not zombie) processes of process group pg.
func groupMembers(pg int) []procStat {
	if errors.Is(syscall.Kill(-pg, 0), syscall.ESRCH) {
		return nil
	}
	var out []procStat
	for _, s := range readStats() {
		if s.pgrp == pg && s.state != "Z" && s.state != "X" {
			out = append(out, s)
		}
	}
	return out
}

// groupsCPU is the CPU time (user+system) used so far by the live
// processes of the given process groups (10 ms ticks). A process that
// exits meanwhile drops out: the lab's daemons run throughout.
func groupsCPU(groups []int) time.Duration {
	want := map[int]bool{}
	for _, g := range groups {
		want[g] = true
	}
	var ticks int64
	for _, s := range readStats() {
		if want[s.pgrp] && s.state != "Z" && s.state != "X" {
			ticks += s.utime + s.stime
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// groupsOf returns the process groups whose leader's command line holds
// substr (the lab's directory: every daemon's configuration is there).
func groupsOf(substr string) []int {
	var out []int
	for _, s := range readStats() {
		if s.pid != s.pgrp {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + strconv.Itoa(s.pid) + "/cmdline")
		if err != nil {
			continue
		}
		if bytes.Contains(cmd, []byte(substr)) {
			out = append(out, s.pid)
		}
	}
	return out
}

// cpuTimes is the CPU time all CPUs have spent since boot running
// processes (user, nice, system) and in interrupts (irq, softirq: loopback
// packets are delivered in softirq, which the kernel charges to no
// process), from /proc/stat.
type cpuTimes struct{ procs, irq time.Duration }

func machineCPU() cpuTimes {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 8 || f[0] != "cpu" {
		return cpuTimes{}
	}
	var v [8]int64
	for i := 1; i < 8; i++ {
		v[i], _ = strconv.ParseInt(f[i], 10, 64)
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / clockTicks }
	return cpuTimes{procs: tick(v[1] + v[2] + v[3]), irq: tick(v[6] + v[7])}
}

func (a cpuTimes) sub(b cpuTimes) cpuTimes { return cpuTimes{a.procs - b.procs, a.irq - b.irq} }

// selfCPU is this process's user+system CPU time so far (getrusage).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadavg is the 1, 5 and 15 minute load averages.
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

package benchutil

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// MachineCPU is the CPU time all CPUs have spent since boot running
// processes (user, nice, system) and in interrupts (irq, softirq:
// loopback packets are delivered in softirq, which the kernel charges to
// no process or to the sender), from the first line of /proc/stat. Idle,
// iowait and steal are left out.
type MachineCPU struct{ Procs, IRQ time.Duration }

// ReadMachineCPU reads /proc/stat; the zero value when it cannot.
func ReadMachineCPU() MachineCPU {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineCPU{}
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 8 || f[0] != "cpu" {
		return MachineCPU{}
	}
	var v [8]int64
	for i := 1; i < 8; i++ {
		if v[i], err = strconv.ParseInt(f[i], 10, 64); err != nil {
			return MachineCPU{}
		}
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / clockTicks }
	return MachineCPU{Procs: tick(v[1] + v[2] + v[3]), IRQ: tick(v[6] + v[7])}
}

// Sub is the CPU time spent between reading b and reading a.
func (a MachineCPU) Sub(b MachineCPU) MachineCPU {
	return MachineCPU{Procs: a.Procs - b.Procs, IRQ: a.IRQ - b.IRQ}
}

// Busy is the time spent running anything: processes and interrupts.
func (a MachineCPU) Busy() time.Duration { return a.Procs + a.IRQ }

// SelfCPU is this process's user+system CPU time so far (getrusage, every
// thread, GC included).
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// LoadAvg is the 1, 5 and 15 minute load averages, "?" when unreadable.
func LoadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

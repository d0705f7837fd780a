package benchpeers

import (
	"bytes"
	"os"
	"strconv"
	"time"

	"github.com/reachmon/reachmon/bench/benchutil"
)

// groupsCPU is the CPU time (user+system) used so far by the live
// processes of the given process groups (10 ms ticks). A process that
// exits meanwhile drops out: the lab's daemons run throughout.
func groupsCPU(groups []int) time.Duration {
	var secs float64
	for _, s := range benchutil.GroupCPU(groups...) {
		secs += s
	}
	return time.Duration(secs * float64(time.Second))
}

// groupsOf returns the process groups whose leader's command line holds
// substr (the lab's directory: every daemon's configuration is there).
func groupsOf(substr string) []int {
	var out []int
	for _, s := range benchutil.ReadStats() {
		if s.Pid != s.Pgrp {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + strconv.Itoa(s.Pid) + "/cmdline")
		if err != nil {
			continue
		}
		if bytes.Contains(cmd, []byte(substr)) {
			out = append(out, s.Pid)
		}
	}
	return out
}

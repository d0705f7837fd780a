package benchutil

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/lab"
)

// FreePort returns a TCP port free on 127.0.0.1 now.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// EnvDuration reads a positive duration from the environment variable
// name (def when it is unset) and fails tb on anything else.
func EnvDuration(tb testing.TB, name string, def time.Duration) time.Duration {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		tb.Fatalf("%s=%q: want a positive duration such as 2m", name, v)
	}
	return d
}

// ReachmonBinary is the reachmon binary a benchmark runs: the path in the
// environment variable env (scripts/bench.sh builds one there), else the
// module's bin/reachmon. Without either it skips, or fails with CI=true.
func ReachmonBinary(tb testing.TB, env string) string {
	tb.Helper()
	bin := os.Getenv(env)
	if bin == "" {
		bin, _ = filepath.Abs("../../bin/reachmon")
	}
	if _, err := os.Stat(bin); err != nil {
		lab.Missing(tb, "reachmon binary %s not found (make build, or set %s)", bin, env)
	}
	return bin
}

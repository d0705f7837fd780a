package benchpeers

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/bench/benchutil"
	"github.com/reachmon/reachmon/integration/lab"
)

// dnsperf settings: enough clients (sockets) and queries outstanding that
// the server, not dnsperf, is the limit (raising them further changed
// nothing on the 2-core machine these were chosen on).
const (
	dnsperfSeconds     = 5
	dnsperfClients     = 8
	dnsperfThreads     = 2
	dnsperfOutstanding = 400
)

func dnsperfBinary(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("dnsperf")
	if err != nil {
		lab.Missing(tb, "dnsperf is not installed (apt-get install -y dnsperf, or scripts/install-bench-deps.sh)")
	}
	return bin
}

func dnsperfVersion(bin string) string {
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	if m := regexp.MustCompile(`Version (\S+)`).FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return ""
}

// perfResult is one dnsperf run's summary.
type perfResult struct {
	qps               float64
	completed, lost   float64
	cpu               time.Duration // dnsperf's own
	servers           time.Duration // the lab's daemons'
	wall              time.Duration
	machine           benchutil.MachineCPU
	noerror, answered float64
}

var (
	reQPS       = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	reCompleted = regexp.MustCompile(`Queries completed:\s+([0-9]+)`)
	reLost      = regexp.MustCompile(`Queries lost:\s+([0-9]+)`)
	reNoError   = regexp.MustCompile(`NOERROR\s+([0-9]+)`)
)

// runDNSPerf runs dnsperf processes at once, one per server, each sending
// the queries (RD=1, EDNS0 with DO, as dnsperf -D does) for
// dnsperfSeconds, and returns their summed results.
func runDNSPerf(b *testing.B, bl *benchLab, name string, servers []string, queries []string, threads int) perfResult {
	b.Helper()
	dir := workDir.Path(b)
	bin := dnsperfBinary(b)
	input := filepath.Join(dir, name+".queries")
	if err := os.WriteFile(input, []byte(strings.Join(queries, "\n")+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	var res perfResult
	s0, k0 := bl.serversCPU(), benchutil.ReadMachineCPU()
	t0 := time.Now()
	var ps []*benchutil.Daemon
	for i, srv := range servers {
		host, port, err := net.SplitHostPort(srv)
		if err != nil {
			b.Fatal(err)
		}
		p, err := startProc(dir, fmt.Sprintf("%s-%d", name, i), bin, "-s", host, "-p", port, "-d", input,
			"-l", strconv.Itoa(dnsperfSeconds), "-c", strconv.Itoa(dnsperfClients), "-T", strconv.Itoa(threads),
			"-q", strconv.Itoa(dnsperfOutstanding), "-D", "-t", "2")
		if err != nil {
			b.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if !p.Wait((dnsperfSeconds + 30) * time.Second) {
			_ = p.Stop()
			b.Fatalf("%s did not finish within %d s (log %s)", p.Name, dnsperfSeconds+30, p.LogPath)
		}
	}
	res.wall = time.Since(t0)
	res.servers, res.machine = bl.serversCPU()-s0, benchutil.ReadMachineCPU().Sub(k0)
	for _, p := range ps {
		if err := p.Exited(); err != nil && p.Cmd.ProcessState.ExitCode() != 0 {
			b.Fatal(err)
		}
		st := p.Cmd.ProcessState
		res.cpu += st.UserTime() + st.SystemTime()
		_ = p.Stop()
		out, err := os.ReadFile(p.LogPath)
		if err != nil {
			b.Fatal(err)
		}
		get := func(re *regexp.Regexp) float64 {
			m := re.FindSubmatch(out)
			if m == nil {
				b.Fatalf("%s: no %s in its output:\n%s", p.Name, re, out)
			}
			v, _ := strconv.ParseFloat(string(m[1]), 64)
			return v
		}
		res.qps += get(reQPS)
		res.completed += get(reCompleted)
		res.lost += get(reLost)
		res.noerror += get(reNoError)
	}
	return res
}

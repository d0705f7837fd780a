package benchdns

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/bench/benchutil"
)

const (
	// zoneName is the zone NSD serves; benchName/benchType is the query
	// both benchmarks send. Its answer is two A records (no RRSIG: the zone
	// is unsigned, so parsing is cheap and the engine's own overhead shows).
	zoneName  = "bench.test."
	benchName = "www.bench.test."
	benchType = "A"
	benchNSID = "bench"

	nsdStartTries = 3                      // fresh ports tried when NSD cannot bind
	nsdReadyWait  = 10 * time.Second       // bound on waiting for the first answer
	nsdStopWait   = 10 * time.Second       // bound on waiting for the process group to go
	pollInterval  = 20 * time.Millisecond  // between readiness queries
	queryTimeout  = 500 * time.Millisecond // one readiness query
)

const zoneText = `$ORIGIN bench.test.
$TTL 300
@    IN SOA ns.bench.test. hostmaster.bench.test. 1 3600 900 604800 300
@    IN NS  ns.bench.test.
ns   IN A   127.0.0.1
www  IN A   192.0.2.1
www  IN A   192.0.2.2
`

// errNoNSD means the nsd binary is not installed.
var errNoNSD = errors.New("nsd is not installed (Debian package nsd)")

// nsdServer is one NSD (and the processes it forks) serving bench.test. on
// 127.0.0.1 at a free port, its files all in dir.
type nsdServer struct {
	Addr string // 127.0.0.1:port, UDP and TCP
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the main NSD process has been reaped
	werr error         // Wait's result, valid after done
}

// nsdBinary finds nsd on PATH or in the sbin directories a non-root PATH
// may lack.
func nsdBinary() (string, error) {
	if p, err := exec.LookPath("nsd"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/nsd", "/usr/local/sbin/nsd"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errNoNSD
}

// nsdVersion returns "4.6.1" or the like, "" if unknown.
func nsdVersion(bin string) string {
	out, _ := exec.Command(bin, "-v").CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "NSD version "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// startNSD writes the zone and configuration into dir, starts NSD and
// waits until it answers. It retries with another port when NSD exits at
// once (the free port found may have been taken meanwhile).
func startNSD(dir string) (*nsdServer, error) {
	bin, err := nsdBinary()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "bench.test.zone"), []byte(zoneText), 0o644); err != nil {
		return nil, err
	}
	var errs []error
	for try := range nsdStartTries {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		n, err := launchNSD(bin, dir, port)
		if err == nil {
			return n, nil
		}
		errs = append(errs, fmt.Errorf("try %d (port %d): %w", try+1, port, err))
	}
	return nil, fmt.Errorf("benchdns: NSD did not start: %w", errors.Join(errs...))
}

func launchNSD(bin, dir string, port int) (*nsdServer, error) {
	path := func(f string) string { return strconv.Quote(filepath.Join(dir, f)) }
	conf := fmt.Sprintf(`server:
	ip-address: 127.0.0.1@%d
	do-ip6: no
	username: ""
	chroot: ""
	database: ""
	zonefiles-write: 0
	zonesdir: %s
	xfrdir: %s
	zonelistfile: %s
	xfrdfile: %s
	pidfile: %s
	logfile: %s
	server-count: 1
	verbosity: 1
	nsid: "ascii_%s"
	# Debian's NSD answers 200 queries/s per source by default and silently
	# drops the rest: a benchmark needs rate limiting off.
	rrl-ratelimit: 0
	rrl-whitelist-ratelimit: 0
remote-control:
	control-enable: no
zone:
	name: %q
	zonefile: %s
`, port, strconv.Quote(dir), strconv.Quote(dir), path("zone.list"), path("xfrd.state"),
		path("nsd.pid"), path("nsd.log"), benchNSID, zoneName, path("bench.test.zone"))
	confPath := filepath.Join(dir, "nsd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	out, err := os.OpenFile(filepath.Join(dir, "nsd.out"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(bin, "-d", "-c", confPath)
	// An *os.File keeps os/exec from copying output in a goroutine, so Wait
	// does not hang on a forked NSD process that holds the descriptor.
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group: stop kills NSD and everything it forked at once.
	// Pdeathsig covers a test binary that dies without running stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	n := &nsdServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		n.werr = cmd.Wait()
		close(n.done)
	}()
	// The process group, for scripts/bench.sh to clean up after a crash.
	_ = os.WriteFile(filepath.Join(dir, "nsd.pgid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
	if err := n.waitReady(); err != nil {
		_ = n.stop()
		return nil, err
	}
	return n, nil
}

// freePort returns a port that is free on 127.0.0.1 for both UDP and TCP.
func freePort() (int, error) {
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		pc.Close()
		if err == nil {
			ln.Close()
			return port, nil
		}
	}
	return 0, errors.New("benchdns: no port free for both UDP and TCP on 127.0.0.1")
}

// waitReady polls NSD with a SOA query until it answers authoritatively,
// it exits, or nsdReadyWait passes.
func (n *nsdServer) waitReady() error {
	c := &dns.Client{Net: "udp", Timeout: queryTimeout}
	m := new(dns.Msg)
	m.SetQuestion(zoneName, dns.TypeSOA)
	m.RecursionDesired = false
	deadline := time.Now().Add(nsdReadyWait)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-n.done:
			return fmt.Errorf("nsd exited (%v); output:\n%s", n.werr, n.logTail())
		default:
		}
		r, _, err := c.Exchange(m, n.Addr)
		switch {
		case err != nil:
			lastErr = err
		case r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1:
			lastErr = fmt.Errorf("not ready: rcode %s, aa=%t, %d answers", dns.RcodeToString[r.Rcode], r.Authoritative, len(r.Answer))
		default:
			return nil
		}
		time.Sleep(pollInterval)
	}
	return fmt.Errorf("nsd did not answer within %v: %v; output:\n%s", nsdReadyWait, lastErr, n.logTail())
}

func (n *nsdServer) logTail() string {
	var b strings.Builder
	for _, f := range []string{"nsd.log", "nsd.out"} {
		data, _ := os.ReadFile(filepath.Join(n.dir, f))
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		b.WriteString(strings.Join(lines[max(0, len(lines)-10):], "\n"))
		b.WriteByte('\n')
	}
	return b.String()
}

// stop kills NSD's whole process group (NSD keeps nothing worth a clean
// shutdown here; after SIGTERM it takes 1–2 s to exit) and waits, bounded,
// until no live process is left in it. It is idempotent.
func (n *nsdServer) stop() error {
	pgid := n.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	deadline := time.Now().Add(nsdStopWait)
	for {
		gone := len(benchutil.GroupMembers(pgid)) == 0
		select {
		case <-n.done:
			if gone {
				_ = os.Remove(filepath.Join(n.dir, "nsd.pgid"))
				return nil
			}
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("benchdns: NSD process group %d still alive %v after SIGKILL", pgid, nsdStopWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cpu returns the CPU time (user+system) used so far by NSD's live
// processes, at the kernel's clock-tick resolution (10 ms).
func (n *nsdServer) cpu() time.Duration {
	secs := benchutil.GroupCPU(n.cmd.Process.Pid)[n.cmd.Process.Pid]
	return time.Duration(secs * float64(time.Second))
}

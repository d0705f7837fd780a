package outagelab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/lab"
)

// Environment of the test process re-run inside the namespace.
const (
	envNS      = "REACHMON_OUTAGELAB_NS"      // the namespace we run in
	envBin     = "REACHMON_OUTAGELAB_BIN"     // the built reachmon
	envResults = "REACHMON_OUTAGELAB_RESULTS" // directory for detection-latency records
	envSockets = "REACHMON_OUTAGELAB_SOCKETS" // directory for the demo's forwarding sockets
)

// innerTimeout bounds one scenario run inside the namespace (build and
// set-up included); the whole lab is meant to finish within ten minutes.
const innerTimeout = 4 * time.Minute

// Binaries every scenario needs, with the Debian packages lab.Require names.
var required = []string{"nsd", "nsd-control", "unbound", "unbound-control", "ldns-keygen",
	"ldns-signzone", "ldns-key2ds", "bird", "birdc", "nft", "ip"}

// Inside reports whether this process is the test re-run inside the lab's
// namespace.
func Inside() bool { return os.Getenv(envNS) != "" }

// interrupted is the signal that stopped a scenario (nil: none): the
// scenarios after it do not start.
var interrupted atomic.Pointer[os.Signal]

// Enter runs the calling test inside a new network namespace and reports
// whether the caller is that inner run:
//
//	func TestScenarioX(t *testing.T) {
//		if !outagelab.Enter(t) {
//			return // the outer run: the test ran (and was judged) inside the namespace
//		}
//		l := outagelab.Start(t, outagelab.Options{...})
//		...
//
// The outer run builds reachmon, creates the namespace (lo up,
// 198.18.250.1/16 and the peers' addresses on lo), re-runs the test binary
// with -test.run=^Name$ inside it, logs its output, fails when the inner
// run failed (skips when it skipped), and removes the namespace and every
// process left in it. Only top-level tests can Enter.
func Enter(t *testing.T) bool {
	t.Helper()
	return enter(t, false)
}

// EnterUntilInterrupt is Enter for a lab a person stops (make demo): there
// SIGINT or SIGTERM is the normal way out, so the test passes when the
// inner run, told to stop, passed and the namespace was removed.
func EnterUntilInterrupt(t *testing.T) bool {
	t.Helper()
	return enter(t, true)
}

func enter(t *testing.T, untilInterrupt bool) bool {
	t.Helper()
	if Inside() {
		return true
	}
	if strings.Contains(t.Name(), "/") {
		t.Fatal("outagelab.Enter: only top-level tests can run inside a namespace")
	}
	if sig := interrupted.Load(); sig != nil {
		t.Fatalf("not run: an earlier scenario was stopped by %v", *sig)
	}
	lab.RequireRoot(t)
	lab.Require(t, required...)
	timeout := innerTimeout
	if d, err := time.ParseDuration(os.Getenv("REACHMON_OUTAGELAB_TIMEOUT")); err == nil && d > 0 {
		timeout = d // make demo: as long as the person wants
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "reachmon")
	root, err := repoRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := build(ctx, root, bin); err != nil {
		t.Fatal(err)
	}
	ns := Namespace(t)
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, os.Args[0],
		"-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v", fmt.Sprintf("-test.timeout=%v", timeout))
	sockets := t.TempDir()
	cmd.Env = append(os.Environ(), envNS+"="+ns, envBin+"="+bin, envSockets+"="+sockets,
		envResults+"="+filepath.Join(root, "var", "detection-latency"))
	if fw := os.Getenv("REACHMON_OUTAGELAB_FORWARD"); fw != "" {
		forwardIn(t, fw, sockets)
	}
	var out bytes.Buffer
	w := io.Writer(&out)
	if os.Getenv("REACHMON_OUTAGELAB_STREAM") != "" {
		w = io.MultiWriter(&out, os.Stdout)
	}
	cmd.Stdout, cmd.Stderr = w, w
	// On SIGINT/SIGTERM (Ctrl-C reaches the inner run too, through the
	// process group; a signal to this process alone, say from a script,
	// does not) the inner run is told to stop and cleans up; this run
	// waits for it, fails the test (unless untilInterrupt: then the inner
	// run's verdict stands), removes the namespace and runs no further
	// scenario.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var got os.Signal
	for done := false; !done; {
		select {
		case err = <-waited:
			done = true
		case s := <-sig:
			if got == nil {
				got = s
				interrupted.Store(&got)
			}
			_ = cmd.Process.Signal(s)
		}
	}
	if got != nil && !untilInterrupt {
		t.Fatalf("stopped by %v (the inner run: %v)", got, err)
	}
	text := out.String()
	if os.Getenv("REACHMON_OUTAGELAB_STREAM") == "" {
		t.Logf("inside namespace %s:\n%s", ns, text)
	}
	switch {
	case strings.Contains(text, "--- PASS: "+t.Name()+" "):
	case strings.Contains(text, "--- SKIP: "+t.Name()+" "):
		t.Skipf("skipped inside the namespace (see the log above)")
	default:
		t.Fatalf("%s failed inside namespace %s: %v", t.Name(), ns, err)
	}
	return false
}

// Namespace creates a network namespace for one lab: lo up with
// ReachmonAddr/16 (every 198.18.x address is then local and bindable, and
// reachmon's probes come from ReachmonAddr) and each BGP peer's address.
// When the test ends, every process still in it is killed and it is
// deleted (its nftables tables go with it).
func Namespace(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("reachmon-outage-%d", os.Getpid())
	_ = exec.Command("ip", "netns", "del", name).Run() // a leftover of a crashed run with our pid
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		lab.Missing(t, "cannot create a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() {
		killNamespace(name)
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("deleting namespace %s: %v: %s", name, err, out)
		}
	})
	cmds := [][]string{{"ip", "link", "set", "lo", "up"}, {"ip", "addr", "add", ReachmonAddr.String() + "/16", "dev", "lo"}}
	for i := range maxPeers {
		cmds = append(cmds, []string{"ip", "addr", "add", PeerAddr(i).String() + "/32", "dev", "lo"})
	}
	cmds = append(cmds, []string{"ip", "addr", "add", RouterAddr.String() + "/32", "dev", "lo"})
	cmds = append(cmds, []string{"ip", "addr", "add", BMPStation.Addr().String() + "/32", "dev", "lo"},
		// as bmplab.StationRoute: the router's BMP connections come from its address
		[]string{"ip", "route", "replace", "local", BMPStation.Addr().String(), "dev", "lo", "table", "local",
			"proto", "kernel", "scope", "host", "src", RouterAddr.String()})
	for _, c := range cmds {
		if out, err := exec.Command("ip", append([]string{"netns", "exec", name}, c...)...).CombinedOutput(); err != nil {
			t.Fatalf("%s in %s: %v: %s", strings.Join(c, " "), name, err, out)
		}
	}
	return name
}

// killNamespace kills every process left in the namespace, bounded.
func killNamespace(ns string) {
	for range 50 {
		out, err := exec.Command("ip", "netns", "pids", ns).Output()
		if err != nil || len(strings.Fields(string(out))) == 0 {
			return
		}
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var buildMu sync.Mutex

// build builds ./cmd/reachmon into bin (go's build cache makes the second
// and later builds a link).
func build(ctx context.Context, root, bin string) error {
	buildMu.Lock()
	defer buildMu.Unlock()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/reachmon")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/reachmon: %w\n%s", err, out)
	}
	return nil
}

// repoRoot is the module's directory.
func repoRoot(ctx context.Context) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	p := strings.TrimSpace(string(gomod))
	if p == "" || p == os.DevNull {
		return "", fmt.Errorf("not inside the reachmon module")
	}
	return filepath.Dir(p), nil
}

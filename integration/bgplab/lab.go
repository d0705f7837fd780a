// Package bgplab runs real BGP daemons (BIRD 2, gobgpd) for reachmon's
// integration tests inside a network namespace the test creates: BIRD
// ignores 127.0.0.0/8 routes, so the lab uses 198.18.0.0/15 addresses on
// the namespace's loopback, and nothing leaves the namespace.
package bgplab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/lab"
	"github.com/reachmon/reachmon/internal/syncbuf"
)

// GoBGPVersion is the gobgpd built for the lab (the library version
// reachmon embeds).
const GoBGPVersion = "v3.37.0"

// Missing skips the test, or fails it when CI=true: in CI every daemon must
// be there.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	lab.Missing(t, format, args...)
}

// Namespace creates a network namespace with lo up and the given
// addresses on lo; it is deleted when the test ends.
func Namespace(t testing.TB, addrs ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		Missing(t, "ip (iproute2) not installed")
	}
	name := fmt.Sprintf("reachmon-bgplab-%d", os.Getpid())
	_ = exec.Command("ip", "netns", "del", name).Run() // a leftover from a crashed run
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		Missing(t, "cannot create a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("deleting namespace %s: %v: %s", name, err, out)
		}
	})
	Run(t, name, "ip", "link", "set", "lo", "up")
	for _, a := range addrs {
		Run(t, name, "ip", "addr", "add", a, "dev", "lo")
	}
	return name
}

// Run runs a command inside the namespace and fails the test on error.
func Run(t testing.TB, ns string, cmd ...string) string {
	t.Helper()
	out, err := Command(ns, cmd...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd, " "), err, out)
	}
	return string(out)
}

// Command is cmd to be run inside the namespace.
func Command(ns string, cmd ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns}, cmd...)...)
}

// Daemon is a process started in the namespace; it is stopped when the
// test ends.
type Daemon struct {
	Name string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan error
}

// Start starts a long-running command in the namespace.
func Start(t testing.TB, ns, name string, cmd ...string) *Daemon {
	t.Helper()
	d := &Daemon{Name: name, cmd: Command(ns, cmd...), out: &syncbuf.Buffer{}, done: make(chan error, 1)}
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, d.out.String())
		}
	})
	return d
}

// Pid is the daemon's process id (ip netns exec execs the command in
// place, so this is the daemon itself); 0 once stopped.
func (d *Daemon) Pid() int {
	if d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Exited reports whether the daemon has exited (without reaping the
// result, which Stop still waits for).
func (d *Daemon) Exited() bool {
	select {
	case err := <-d.done:
		d.done <- err
		return true
	default:
		return false
	}
}

// Output returns what the daemon has written to stdout and stderr so far.
func (d *Daemon) Output() string { return d.out.String() }

// Stop kills the daemon (ip netns exec runs it as its direct child) and
// waits for it.
func (d *Daemon) Stop() {
	if d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Kill()
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
	}
	d.cmd.Process = nil
}

// Bird is a BIRD 2 instance.
type Bird struct {
	*Daemon
	ns, sock string
}

// StartBird writes conf to a temp dir and starts bird in the foreground.
func StartBird(t testing.TB, ns, conf string) *Bird {
	t.Helper()
	bird, err := exec.LookPath("bird")
	if err != nil {
		Missing(t, "bird not installed (apt-get install -y bird2)")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &Bird{ns: ns, sock: filepath.Join(dir, "bird.ctl")}
	b.Daemon = Start(t, ns, "bird", bird, "-f", "-c", cfg, "-s", b.sock, "-P", filepath.Join(dir, "bird.pid"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(b.sock); err == nil {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("bird did not create its control socket:\n%s", b.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Ctl runs a birdc command.
func (b *Bird) Ctl(t testing.TB, args ...string) string {
	t.Helper()
	return Run(t, b.ns, append([]string{"birdc", "-s", b.sock}, args...)...)
}

// GoBGPBinaries returns gobgpd and gobgp of GoBGPVersion: from
// $REACHMON_GOBGPD / $REACHMON_GOBGP, or built once from the module cache
// into the user cache dir (never into the repository).
func GoBGPBinaries(t testing.TB) (gobgpd, gobgp string) {
	t.Helper()
	if d, c := os.Getenv("REACHMON_GOBGPD"), os.Getenv("REACHMON_GOBGP"); d != "" && c != "" {
		return d, c
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "reachmon", "gobgp-"+GoBGPVersion)
	gobgpd, gobgp = filepath.Join(bin, "gobgpd"), filepath.Join(bin, "gobgp")
	if fileExists(gobgpd) && fileExists(gobgp) {
		return gobgpd, gobgp
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		Missing(t, "gobgpd not built and no go tool to build it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goBin, "mod", "download", "-json", "github.com/osrg/gobgp/v3@"+GoBGPVersion).Output()
	if err != nil {
		Missing(t, "cannot download github.com/osrg/gobgp/v3@%s: %v", GoBGPVersion, err)
	}
	srcDir := jsonField(string(out), "Dir")
	if srcDir == "" {
		t.Fatalf("go mod download gave no Dir:\n%s", out)
	}
	// Build from a writable copy with gobgp's own go.mod, so reachmon's
	// go.mod is untouched.
	work := t.TempDir()
	if err := exec.CommandContext(ctx, "cp", "-r", srcDir, filepath.Join(work, "src")).Run(); err != nil {
		t.Fatalf("copying gobgp source: %v", err)
	}
	_ = exec.Command("chmod", "-R", "u+w", filepath.Join(work, "src")).Run()
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin+string(os.PathSeparator), "./cmd/gobgpd", "./cmd/gobgp")
	build.Dir = filepath.Join(work, "src")
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		Missing(t, "building gobgpd %s: %v\n%s", GoBGPVersion, err, out)
	}
	return gobgpd, gobgp
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// jsonField extracts a top-level string field from go's -json output
// without a JSON dependency on the shape.
func jsonField(s, key string) string {
	i := strings.Index(s, `"`+key+`": "`)
	if i < 0 {
		return ""
	}
	rest := s[i+len(key)+5:]
	j := strings.Index(rest, `"`)
	if j < 0 {
		return ""
	}
	return rest[:j]
}

// GoBGPD is a running gobgpd with its gRPC API for the gobgp CLI.
type GoBGPD struct {
	*Daemon
	ns, cli, api string
}

// StartGoBGPD writes a TOML config and starts gobgpd; its gRPC API listens
// on 127.0.0.1:port inside the namespace.
func StartGoBGPD(t testing.TB, ns, gobgpd, gobgp, conf string, apiPort int) *GoBGPD {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gobgpd.toml")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	api := fmt.Sprintf("127.0.0.1:%d", apiPort)
	g := &GoBGPD{ns: ns, cli: gobgp, api: api}
	g.Daemon = Start(t, ns, "gobgpd", gobgpd, "-f", cfg, "-t", "toml", "--api-hosts", api, "-l", "info")
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := g.Try("global"); err == nil {
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("gobgpd API not up:\n%s", g.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Try runs a gobgp CLI command against this gobgpd.
func (g *GoBGPD) Try(args ...string) (string, error) {
	host, port, _ := strings.Cut(g.api, ":")
	out, err := Command(g.ns, append([]string{g.cli, "-u", host, "-p", port}, args...)...).CombinedOutput()
	return string(out), err
}

// CLI runs a gobgp CLI command and fails the test on error.
func (g *GoBGPD) CLI(t testing.TB, args ...string) string {
	t.Helper()
	out, err := g.Try(args...)
	if err != nil {
		t.Fatalf("gobgp %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/lab"
	"github.com/reachmon/reachmon/internal/model"
)

// probeReport is the `reachmon probe --json` document (schema
// reachmon.probe/v1), declared here from the contract rather than imported,
// so that a change to the CLI's types that breaks the contract fails here.
type probeReport struct {
	Schema   string      `json:"schema"`
	OK       bool        `json:"ok"`
	Names    []probeName `json:"names"`
	Problems []string    `json:"problems"`
}

type probeName struct {
	Name         string              `json:"name"`
	Zone         string              `json:"zone"`
	Observations []model.Observation `json:"observations"`
	Discovery    *model.Discovery    `json:"discovery"`
	DSCheck      *model.DSCheck      `json:"ds_check"`
	Verdict      struct {
		OK   bool               `json:"ok"`
		Kind model.IncidentKind `json:"kind"`
		Line string             `json:"line"`
	} `json:"verdict"`
}

// TestProbeCLI runs the reachmon binary against the lab with one healthy
// zone and one whose DNSKEY no longer matches its DS (Slack 2021):
//
//	reachmon probe --resolver <unbound> --auth [--json] www.good.test www.broken.test
func TestProbeCLI(t *testing.T) {
	t.Parallel()
	// Build while the lab starts.
	bin := filepath.Join(t.TempDir(), "reachmon")
	var buildErr error
	built := make(chan struct{})
	buildCtx, cancelBuild := context.WithTimeout(context.Background(), 5*time.Minute)
	go func() {
		defer close(built)
		buildErr = buildReachmon(buildCtx, bin)
	}()
	t.Cleanup(func() { cancelBuild(); <-built })

	l := lab.StartDNS(t, lab.DNSOptions{})
	good, broken := l.Zones["good.test."], l.Zones["broken.test."]
	l.BreakDNSKEY("broken.test.")

	<-built
	if nc := (errNoCommand{}); errors.As(buildErr, &nc) {
		msg := fmt.Sprintf("./cmd/reachmon does not exist yet: %v", nc.error)
		if lab.InCI() {
			t.Fatal(msg + "; CI=true, so this is a failure")
		}
		t.Skip(msg)
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	resolver := l.ResolverAddrs[0]
	args := []string{"probe", "--resolver", resolver, "--auth", "--json", "www.good.test", "www.broken.test"}
	out, code := runReachmon(t, bin, args...)
	if code != 1 {
		t.Errorf("exit code %d, want 1 (a problem was found)", code)
	}
	var rep probeReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("reachmon %s\n%s", strings.Join(args, " "), out)
		}
	})
	if rep.Schema != "reachmon.probe/v1" {
		t.Errorf("schema %q, want reachmon.probe/v1", rep.Schema)
	}
	if rep.OK || len(rep.Problems) == 0 {
		t.Errorf("ok=%v with problems %q; want ok=false and at least one problem", rep.OK, rep.Problems)
	}

	t.Run("good", func(t *testing.T) {
		n := findName(t, rep, "www.good.test.")
		checkZone(t, n, good)
		for _, o := range observations(t, n, model.KindResolver) {
			if o.Rcode != "NOERROR" || !o.AD {
				t.Errorf("resolver %s %s: rcode %q ad=%v, want NOERROR with AD", o.Server.Addr, o.Type, o.Rcode, o.AD)
			}
			wantAddrIfA(t, o, good.WWW)
		}
		checkAuth(t, n, good)
		if !n.Verdict.OK {
			t.Errorf("verdict = %+v, want ok", n.Verdict)
		}
		if n.DSCheck != nil && n.DSCheck.Status != model.DSOK {
			t.Errorf("ds_check: status %q (%s), want %q", n.DSCheck.Status, n.DSCheck.Detail, model.DSOK)
		}
	})

	t.Run("broken", func(t *testing.T) {
		n := findName(t, rep, "www.broken.test.")
		checkZone(t, n, broken)
		for _, o := range observations(t, n, model.KindResolver) {
			if o.Rcode != "SERVFAIL" {
				t.Errorf("resolver %s %s: rcode %q, want SERVFAIL", o.Server.Addr, o.Type, o.Rcode)
			}
			if len(o.EDE) == 0 {
				t.Errorf("resolver %s %s: no EDE", o.Server.Addr, o.Type)
			}
			if o.CDRetry == nil || !o.CDRetry.Succeeded {
				t.Errorf("resolver %s %s: cd_retry %+v, want one that succeeded", o.Server.Addr, o.Type, o.CDRetry)
			}
		}
		// The Slack signature: the authoritative servers answer normally.
		checkAuth(t, n, broken)
		if n.DSCheck == nil {
			t.Fatal("no ds_check")
		}
		if n.DSCheck.Status != model.DSMismatch {
			t.Errorf("ds_check: status %q, want %q", n.DSCheck.Status, model.DSMismatch)
		}
		tag := regexp.MustCompile(fmt.Sprintf(`\b%d\b`, broken.DSKeyTag))
		if !tag.MatchString(n.DSCheck.Detail) {
			t.Errorf("ds_check.detail %q does not name the DS key tag %d", n.DSCheck.Detail, broken.DSKeyTag)
		}
		// The evaluator's rules, run over the snapshot, name the cause.
		if n.Verdict.Kind != model.IncidentDNSSEC || !strings.HasPrefix(n.Verdict.Line, "DNSSEC failure: ") || !tag.MatchString(n.Verdict.Line) {
			t.Errorf("verdict = %+v, want a DNSSEC failure naming DS key tag %d", n.Verdict, broken.DSKeyTag)
		}
	})

	t.Run("human", func(t *testing.T) {
		args := []string{"probe", "--resolver", resolver, "--auth", "www.good.test", "www.broken.test"}
		out, code := runReachmon(t, bin, args...)
		t.Logf("reachmon %s\n%s", strings.Join(args, " "), out)
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		if !bytes.Contains(out, []byte("SERVFAIL")) {
			t.Error("output does not mention SERVFAIL")
		}
		if !bytes.Contains(bytes.ToLower(out), []byte("mismatch")) {
			t.Error("output does not mention the DS/DNSKEY mismatch")
		}
	})
}

// buildReachmon builds ./cmd/reachmon of this module into bin. While the
// command does not exist the test is skipped, except under CI=true; a
// command that exists and does not build is always a failure.
func buildReachmon(ctx context.Context, bin string) error {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if _, err := os.Stat(filepath.Join(root, "cmd", "reachmon")); err != nil {
		return errNoCommand{err}
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/reachmon")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/reachmon: %w\n%s", err, out)
	}
	return nil
}

type errNoCommand struct{ error }

// runReachmon runs the binary with a deadline and returns its stdout and exit
// code; stderr goes to the test log.
func runReachmon(t *testing.T, bin string, args ...string) ([]byte, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if stderr.Len() > 0 {
		t.Logf("reachmon stderr:\n%s", stderr.Bytes())
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.Bytes(), 0
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return stdout.Bytes(), exit.ExitCode()
	default:
		t.Fatalf("reachmon %s: %v", strings.Join(args, " "), err)
		return nil, 0
	}
}

func findName(t *testing.T, rep probeReport, name string) probeName {
	t.Helper()
	var got []string
	for _, n := range rep.Names {
		if strings.EqualFold(strings.TrimSuffix(n.Name, ".")+".", name) {
			return n
		}
		got = append(got, n.Name)
	}
	t.Fatalf("no entry for %s in names %q", name, got)
	return probeName{}
}

func checkZone(t *testing.T, n probeName, z lab.ZoneInfo) {
	t.Helper()
	if !strings.EqualFold(n.Zone, z.Name) {
		t.Errorf("zone %q, want %q", n.Zone, z.Name)
	}
}

// observations returns the observations from servers of one kind, failing
// the test if there are none.
func observations(t *testing.T, n probeName, kind model.ServerKind) []model.Observation {
	t.Helper()
	var out []model.Observation
	for _, o := range n.Observations {
		if o.Server.Kind == kind {
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no observation from a %s", n.Name, kind)
	}
	return out
}

func wantAddrIfA(t *testing.T, o model.Observation, addr netip.Addr) {
	t.Helper()
	if o.Type != "A" {
		return
	}
	for _, a := range o.Answers {
		if strings.Contains(a, addr.String()) {
			return
		}
	}
	t.Errorf("%s %s %s: answers %q lack %s", o.Server.Addr, o.Name, o.Type, o.Answers, addr)
}

// checkAuth checks that discovery found both of the zone's nameservers and
// that each answered NOERROR with AA.
func checkAuth(t *testing.T, n probeName, z lab.ZoneInfo) {
	t.Helper()
	if n.Discovery == nil {
		t.Error("no discovery")
	} else {
		found := n.Discovery.Addrs()
		for _, ns := range z.NS {
			if !slices.Contains(found, ns.Addr) {
				t.Errorf("discovery %+v lacks %s (%s)", n.Discovery, ns.Addr, ns.Host)
			}
		}
	}
	asked := map[netip.Addr]bool{}
	for _, o := range observations(t, n, model.KindAuthoritative) {
		if ap, err := netip.ParseAddrPort(o.Server.Addr); err == nil {
			asked[ap.Addr()] = true
		}
		if o.Rcode != "NOERROR" || !o.AA {
			t.Errorf("authoritative %s (%s) %s: rcode %q aa=%v error %q, want NOERROR with AA",
				o.Server.Addr, o.Server.Name, o.Type, o.Rcode, o.AA, o.Error)
		}
		wantAddrIfA(t, o, z.WWW)
	}
	for _, ns := range z.NS {
		if !asked[ns.Addr] {
			t.Errorf("%s (%s) was not queried", ns.Addr, ns.Host)
		}
	}
}

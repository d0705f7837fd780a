package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const unitFile = "../../config/reachmon.service"

// unitService returns the [Service] settings of a systemd unit file, each
// key with its values in order (a key may be given more than once).
func unitService(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = line
		case section == "[Service]":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: %q is not key=value", path, line)
			}
			out[strings.TrimSpace(k)] = append(out[strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSystemdUnitRestartContract reads the shipped unit as systemd does
// (systemd.service(5)): with Restart=on-failure a unit whose main process
// exits non-zero is started again after RestartSec=, unless its status is
// in RestartPreventExitStatus=, which looks at the main process only; a
// failing ExecStartPre= (or ExecStartPost=) restarts the unit whatever its
// status. So the unit must have no such command, and every configuration
// error of its ExecStart= command line must exit with a status it lists,
// while a failure of the daemon itself (status 1) is restarted.
func TestSystemdUnitRestartContract(t *testing.T) {
	svc := unitService(t, unitFile)
	for _, k := range []string{"ExecStartPre", "ExecStartPost", "ExecCondition"} {
		if v := svc[k]; len(v) > 0 {
			t.Errorf("%s=%s: its failure would restart the unit in a loop (RestartPreventExitStatus= does not apply to it)", k, v)
		}
	}
	if got := svc["Restart"]; !slices.Equal(got, []string{"on-failure"}) {
		t.Errorf("Restart=%v, want on-failure", got)
	}
	prevent := map[int]bool{}
	for _, v := range svc["RestartPreventExitStatus"] {
		for _, f := range strings.Fields(v) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("RestartPreventExitStatus=%s: %q is not a number", v, f)
			}
			prevent[n] = true
		}
	}
	if !prevent[ExitUsage] || prevent[ExitProblem] {
		t.Errorf("RestartPreventExitStatus=%v: want %d (configuration error) and not %d (the daemon failed)", svc["RestartPreventExitStatus"], ExitUsage, ExitProblem)
	}
	start := svc["ExecStart"]
	if len(start) != 1 {
		t.Fatalf("ExecStart=%v, want one command", start)
	}
	argv := strings.Fields(start[0])
	i := slices.Index(argv, "--config")
	if len(argv) < 2 || argv[1] != "run" || i < 0 || i+1 >= len(argv) {
		t.Fatalf("ExecStart=%s, want reachmon run --config FILE", start[0])
	}
	// The unit's command line with FILE a broken configuration, as the
	// binary runs it (cmd/reachmon exits with Main's status).
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	broken := map[string]string{
		"invalid file":          filepath.Join(t.TempDir(), "missing.toml"),
		"not a regular file":    "/dev/zero",
		"secret variable unset": goodConfig(t, "127.0.0.1:0", "[slack]\ntoken_env = \"REACHMON_TEST_UNSET_TOKEN\"\nchannel = \"C0123456789\"\n"),
		"listen address in use": goodConfig(t, held.Addr().String(), ""),
	}
	for name, cfg := range broken {
		args := slices.Clone(argv[1:])
		args[i] = cfg
		code, _, errOut := mainWithin(t, args...)
		if !prevent[code] {
			t.Errorf("%s: reachmon %s exits %d, which systemd restarts every %v:\n%s", name, strings.Join(args, " "), code, svc["RestartSec"], errOut)
		}
	}
}

// TestSystemdAnalyzeVerify runs systemd-analyze verify on the shipped
// unit, with its binary path pointed at an executable file (verify
// checks that it exists); any warning fails the test.
func TestSystemdAnalyzeVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		msg := "systemd-analyze not installed (Debian package systemd; make test installs it); TestSystemdUnitRestartContract checks the unit's restart contract"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true, so this is a failure")
		}
		t.Skip(msg)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "reachmon.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/reachmon"), []byte(exe)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, sa, "verify", path).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSystemdUnitReload: systemctl reload sends the daemon SIGHUP, which
// reloads its configuration (TestRunReloadsOnSIGHUP).
func TestSystemdUnitReload(t *testing.T) {
	svc := unitService(t, unitFile)
	if got := svc["ExecReload"]; !slices.Equal(got, []string{"/bin/kill -HUP $MAINPID"}) {
		t.Errorf("ExecReload=%v, want /bin/kill -HUP $MAINPID", got)
	}
}

package cli

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeFile writes text to dir/name (mode 0600) and returns its path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// goodConfig is a configuration that loads; extra is appended to it. It
// probes nothing reachable: the tests below end before probing.
func goodConfig(t *testing.T, listen, extra string) string {
	t.Helper()
	return writeFile(t, t.TempDir(), "r.toml", fmt.Sprintf("listen = %q\nstate_dir = %q\n[[resolver]]\nname = \"r\"\naddress = \"127.0.0.1:1\"\n[[zone]]\nname = \"lab.example\"\nauthoritative = [\"127.0.0.1:1\"]\n%s",
		listen, filepath.Join(t.TempDir(), "state"), extra))
}

// mainWithin runs Main and fails the test if it does not return within
// a few seconds: a configuration error must end the command at once.
func mainWithin(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	type result struct {
		code     int
		out, err string
	}
	done := make(chan result, 1)
	go func() {
		c, o, e := runMain(args...)
		done <- result{c, o, e}
	}()
	select {
	case r := <-done:
		return r.code, r.out, r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("reachmon %s did not return", strings.Join(args, " "))
		return 0, "", ""
	}
}

// TestCheckConfigAndRunAgree: for the same configuration error both
// commands exit 2 with the same message.
func TestCheckConfigAndRunAgree(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string { return writeFile(t, dir, name, text) }
	for _, tc := range []struct{ name, path, want string }{
		{"syntax", write("syntax.toml", "listen = \n"), "line 1: "},
		{"unknown key", write("unknown.toml", "[probe]\nintervall = \"1s\"\n"), "probe.intervall: unknown key"},
		{"interval ceiling", write("ceiling.toml", "[probe]\ninterval = \"48h\"\n"), "probe.interval: 48h is outside 1ms..24h"},
		{"listen port", write("port.toml", "listen = \"127.0.0.1:99999\"\n"), `the port must be a number in 0..65535, not "99999"`},
		{"duplicate prefix", write("prefix.toml", "[[prefix]]\nprefix = \"192.0.2.0/24\"\n[[prefix]]\nprefix = \"192.0.2.0/24\"\n"),
			"prefix[1].prefix: 192.0.2.0/24 is already prefix[0]"},
		{"missing file", filepath.Join(dir, "missing.toml"), "no such file"},
		{"device", "/dev/zero", "/dev/zero is a character device, not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range []string{"check-config", "run"} {
				code, _, errOut := mainWithin(t, cmd, "--config", tc.path)
				if code != ExitUsage || !strings.Contains(errOut, tc.want) {
					t.Errorf("%s: exit %d, want %d; stderr %q, want it to contain %q", cmd, code, ExitUsage, errOut, tc.want)
				}
			}
		})
	}
}

// TestRunExitsTwoOnUnusableSetup: what run finds only when it starts (a
// secret's variable not set, a listen address in use or malformed) is a
// configuration error too: exit 2, which the systemd unit does not
// restart.
func TestRunExitsTwoOnUnusableSetup(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	inUse := held.Addr().String()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"slack token variable not set",
			[]string{"--config", goodConfig(t, "127.0.0.1:0", "[slack]\ntoken_env = \"REACHMON_TEST_UNSET_TOKEN\"\nchannel = \"C0123456789\"\n")},
			"environment variable REACHMON_TEST_UNSET_TOKEN is not set"},
		{"bgp password variable not set",
			[]string{"--config", goodConfig(t, "127.0.0.1:0", "[bgp]\nasn = 64512\nrouter_id = \"192.0.2.1\"\n[[bgp.neighbor]]\naddress = \"192.0.2.2\"\npeer_asn = 64500\npassword_env = \"REACHMON_TEST_UNSET_PASSWORD\"\n")},
			"environment variable REACHMON_TEST_UNSET_PASSWORD is not set"},
		{"listen address in use", []string{"--config", goodConfig(t, inUse, "")}, "address already in use"},
		{"--listen address in use", []string{"--config", goodConfig(t, "127.0.0.1:0", ""), "--listen", inUse}, "address already in use"},
		{"--listen malformed", []string{"--config", goodConfig(t, "127.0.0.1:0", ""), "--listen", "127.0.0.1:http"}, `--listen: "127.0.0.1:http": the port must be a number`},
		{"listen address not on this host", []string{"--config", goodConfig(t, "192.0.2.1:9798", "")}, "192.0.2.1:9798"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := mainWithin(t, append([]string{"run"}, tc.args...)...)
			if code != ExitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, want %d; stderr %q, want it to contain %q", code, ExitUsage, errOut, tc.want)
			}
		})
	}
}

// TestSecretFileWarning: a secret file others may read is a warning from
// check-config and run (exit status unchanged), never showing the secret.
func TestSecretFileWarning(t *testing.T) {
	token := writeFile(t, t.TempDir(), "token", "xoxb-s3cret\n")
	if err := os.Chmod(token, 0o644); err != nil {
		t.Fatal(err)
	}
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// run stops at the listen address in use, after the warning.
	cfg := goodConfig(t, held.Addr().String(), fmt.Sprintf("[slack]\ntoken_file = %q\nchannel = \"C0123456789\"\n", token))
	want := "slack.token_file: " + token + " is readable by group or others (mode 0644)"
	for _, tc := range []struct {
		cmd  string
		code int
	}{{"check-config", ExitOK}, {"run", ExitUsage}} {
		code, _, errOut := mainWithin(t, tc.cmd, "--config", cfg)
		if code != tc.code || !strings.Contains(errOut, want) {
			t.Errorf("%s: exit %d, want %d; stderr %q, want it to contain %q", tc.cmd, code, tc.code, errOut, want)
		}
		if strings.Contains(errOut, "s3cret") {
			t.Errorf("%s shows the secret: %s", tc.cmd, errOut)
		}
	}
}

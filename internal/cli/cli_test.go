package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reachmon/reachmon/internal/testdns"
)

const zone = `
lab.example. 300 IN SOA ns1.lab.example. host.lab.example. 7 3600 600 86400 300
www.lab.example. 60 IN A 192.0.2.10
www.lab.example. 60 IN A 192.0.2.11
broken.lab.example. 60 IN A 192.0.2.99
`

func runMain(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Main(args, &o, &e)
	return code, o.String(), e.String()
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(good, []byte("[[resolver]]\nname = \"r\"\naddress = \"127.0.0.1\"\n[[zone]]\nname = \"example.com\"\n"), 0o600)
	os.WriteFile(bad, []byte("vantag = 1\n[probe]\ntimeout = \"-1s\"\n"), 0o600)
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		inOut    string
		inStderr []string
	}{
		{"good", []string{"check-config", "--config", good}, 0, "good.toml: ok (vantage default, 1 resolvers, 1 zones, 0 watched prefixes)", nil},
		// A configuration error is exit status 2, as run's.
		{"bad", []string{"check-config", "--config", bad}, 2, "", []string{"bad.toml: 2 configuration errors", "vantag: unknown key", `probe.timeout: -1s is outside 1ms..1m`}},
		{"missing", []string{"check-config", "--config", filepath.Join(dir, "nope.toml")}, 2, "", []string{"nope.toml: no such file"}},
		{"device", []string{"check-config", "--config", "/dev/zero"}, 2, "", []string{"config: configuration file /dev/zero is a character device, not a regular file"}},
		{"shipped", []string{"check-config", "--config", "../../config/reachmon.toml"}, 0, "ok", nil},
		{"bad flag", []string{"check-config", "--bogus"}, 2, "", []string{"flag provided but not defined: -bogus"}},
		// A file given without --config is refused, not ignored in favour of the default file.
		{"file without --config", []string{"check-config", bad}, 2, "", []string{`check-config: unexpected argument "` + bad + `" (a configuration file is given with --config FILE)`}},
		{"run with a stray argument", []string{"run", "--config", good, "extra"}, 2, "", []string{`run: unexpected argument "extra"`}},
		{"unknown command", []string{"frobnicate"}, 2, "", []string{`unknown command "frobnicate"`}},
		{"no command", nil, 2, "", []string{"usage:"}},
		{"version", []string{"version"}, 0, "reachmon ", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runMain(tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if !strings.Contains(out, tc.inOut) {
				t.Errorf("stdout %q does not contain %q", out, tc.inOut)
			}
			for _, w := range tc.inStderr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not contain %q", errOut, w)
				}
			}
		})
	}
}

func TestProbeUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no names", []string{"probe"}, "name at least one NAME"},
		{"bad type", []string{"probe", "example.com", "--type", "AXFR"}, `TYPE "AXFR" is a zone transfer: it cannot be asked for as a query type`},
		{"unknown type", []string{"probe", "example.com", "-t", "MXX"}, `TYPE "MXX" is not a DNS record type`},
		{"bad @server", []string{"probe", "example.com", "@dns.google"}, `@SERVER "dns.google" is not an IP address`},
		{"bad transport", []string{"probe", "example.com", "--transport", "quic"}, `--transport "quic" is not one of udp, tcp, dot, doh`},
		{"bad resolver", []string{"probe", "example.com", "--resolver", "dns.google"}, `--resolver "dns.google" is not an IP address`},
		{"bad name", []string{"probe", "exa mple.com"}, "NAME \"exa mple.com\" holds ' '"},
		{"bad timeout", []string{"probe", "example.com", "--timeout", "0s"}, "--timeout must be greater than zero"},
		{"bad config", []string{"probe", "example.com", "--config", "/nonexistent.toml"}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runMain(tc.args...)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d", code, ExitUsage)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q does not contain %q", errOut, tc.want)
			}
		})
	}
}

// TestProbeAgainstLocalResolver runs `reachmon probe` against an
// in-process resolver: exit 0 and a table when all is well, exit 1 and the
// problem named when a name SERVFAILs, and the JSON schema either way.
func TestProbeAgainstLocalResolver(t *testing.T) {
	res := testdns.Start(t, zone, false)
	res.SetRcode("broken.lab.example.", "SERVFAIL")

	code, out, errOut := runMain("probe", "www.lab.example", "--resolver", res.Addr, "--type", "A", "--timeout", "2s")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, w := range []string{"www.lab.example.", res.Addr, "NOERROR", "A 192.0.2.10", "A 192.0.2.11", "ok: every query answered well"} {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q:\n%s", w, out)
		}
	}

	code, out, _ = runMain("probe", "--json", "www.lab.example", "broken.lab.example", "--resolver", res.Addr, "--type", "A", "--timeout", "2s")
	if code != ExitProblem {
		t.Errorf("exit %d with a SERVFAIL, want %d", code, ExitProblem)
	}
	var rep ProbeReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	if rep.Schema != ProbeSchema || rep.OK || len(rep.Names) != 2 {
		t.Fatalf("report = %+v", rep)
	}
	www, broken := rep.Names[0], rep.Names[1]
	if len(www.Observations) != 1 || www.Observations[0].Rcode != "NOERROR" || len(www.Observations[0].Answers) != 2 {
		t.Errorf("www observation = %+v", www.Observations)
	}
	if len(broken.Observations) != 1 || broken.Observations[0].Rcode != "SERVFAIL" {
		t.Errorf("broken observation = %+v", broken.Observations)
	}
	// The resolver SERVFAILs with CD=1 too: not a DNSSEC signature.
	if c := broken.Observations[0].CDRetry; c == nil || c.Succeeded {
		t.Errorf("CD retry = %+v, want attempted and failed", c)
	}
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "broken.lab.example. A from resolver "+res.Addr+": SERVFAIL") {
		t.Errorf("problems = %q", rep.Problems)
	}
	var raw map[string]any
	_ = json.Unmarshal([]byte(out), &raw)
	for _, k := range []string{"schema", "ok", "names", "problems"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("JSON lacks top-level %q", k)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	fs := newFlagSet("x", "x", &bytes.Buffer{})
	var types multiFlag
	fs.Var(&types, "type", "")
	j := fs.Bool("json", false, "")
	pos, err := parseInterspersed(fs, []string{"a.example", "--type", "MX", "b.example", "--json", "--type=A", "--", "--c"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pos, " ") != "a.example b.example --c" || types.String() != "MX,A" || !*j {
		t.Errorf("pos=%q types=%q json=%v", pos, types, *j)
	}
}

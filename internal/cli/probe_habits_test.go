package cli

import (
	"encoding/json"
	"flag"
	"io"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/testdns"
)

const habitsZone = zone + `
_443._tcp.www.lab.example. 60 IN TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
www.lab.example. 60 IN MX 10 mail.lab.example.
`

// dig's habits: NAME, a positional TYPE and @SERVER in any order, with -j
// for JSON: the resolver asked is the @SERVER, the types the positional
// ones (TLSA, which the type whitelist refused before, included).
func TestProbeDigStyleArguments(t *testing.T) {
	res := testdns.Start(t, habitsZone, false)
	for _, args := range [][]string{
		{"probe", "www.lab.example", "mx", "@" + res.Addr, "-j"},
		{"probe", "@" + res.Addr, "MX", "www.lab.example", "--json"},
		{"probe", "www.lab.example", "-t", "MX", "-r", res.Addr, "-j"},
	} {
		code, out, errOut := runMain(args...)
		if code != ExitOK {
			t.Fatalf("%q: exit %d\n%s\n%s", args, code, out, errOut)
		}
		var rep ProbeReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%q: not JSON (-j): %v\n%s", args, err, out)
		}
		o := rep.Names[0].Observations
		if len(rep.Names) != 1 || len(o) != 1 || o[0].Type != "MX" || o[0].Server.Addr != res.Addr ||
			!slices.Contains(o[0].Answers, "www.lab.example. IN MX 10 mail.lab.example.") {
			t.Errorf("%q: observations %+v", args, o)
		}
	}
	code, out, errOut := runMain("probe", "_443._tcp.www.lab.example", "TLSA", "@"+res.Addr)
	if code != ExitOK || !strings.Contains(out, "TLSA 3 1 1 0123456789abcdef") {
		t.Errorf("TLSA: exit %d\n%s\n%s", code, out, errOut)
	}
}

// @SERVER takes every address spelling --resolver does, the default port
// when none is given; a word that is a type is a TYPE, "mx." a NAME.
func TestProbePositionalServersAndTypes(t *testing.T) {
	f := defineProbeFlags(flag.NewFlagSet("probe", flag.ContinueOnError))
	names := f.positional([]string{"example.com", "MX", "@1.1.1.1", "@[::1]:5353", "sshfp", "@127.0.0.1:5353", "mx.", "TYPE65"})
	if !reflect.DeepEqual(names, []string{"example.com", "mx."}) {
		t.Errorf("names = %q", names)
	}
	req, err := f.request(names)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(req.Types, []string{"MX", "SSHFP", "HTTPS"}) {
		t.Errorf("types = %q, want MX SSHFP HTTPS", req.Types)
	}
	var addrs []string
	for _, s := range req.Resolvers {
		addrs = append(addrs, s.Addr)
		if s.Transport != model.TransportUDP || s.Kind != model.KindResolver {
			t.Errorf("server %+v", s)
		}
	}
	if want := []string{"1.1.1.1:53", "[::1]:5353", "127.0.0.1:5353"}; !reflect.DeepEqual(addrs, want) {
		t.Errorf("resolvers = %q, want %q", addrs, want)
	}
}

// `reachmon help probe` prints what `reachmon probe --help` prints, on
// stdout, with exit 0; an unknown command is a usage error.
func TestHelpProbe(t *testing.T) {
	code, out, errOut := runMain("help", "probe")
	if code != ExitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	_, _, direct := runMain("probe", "--help")
	if out != direct {
		t.Errorf("help probe differs from probe --help:\n%s\n---\n%s", out, direct)
	}
	for _, w := range []string{"reachmon probe NAME... [TYPE]... [@SERVER]...", "  -t, --type TYPE", "  -r, --resolver ADDR[:PORT]", "  -j, --json"} {
		if !strings.Contains(out, w) {
			t.Errorf("probe help lacks %q:\n%s", w, out)
		}
	}
	if code, _, errOut := runMain("help", "frobnicate"); code != ExitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("help frobnicate: exit %d, %q", code, errOut)
	}
	if code, out, _ := runMain("help"); code != ExitOK || !strings.Contains(out, "reachmon completion bash|zsh|fish") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
}

// One spelling: every probe flag appears in the usage line as the help
// prints it ("--type", "-t"), and the usage names no flag probe lacks.
func TestProbeFlagSpellingsAgree(t *testing.T) {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	defineProbeFlags(fs)
	inUsage := usageFlags(probeUsage)
	fs.VisitAll(func(f *flag.Flag) {
		if !slices.Contains(inUsage, dashed(f.Name)) {
			t.Errorf("flag %s is not in the usage line", dashed(f.Name))
		}
	})
	for _, u := range inUsage {
		if fs.Lookup(strings.TrimLeft(u, "-")) == nil || u != dashed(strings.TrimLeft(u, "-")) {
			t.Errorf("usage names %s, which probe does not define in that spelling", u)
		}
	}
	var help strings.Builder
	printFlags(&help, fs, probeUsage)
	for line := range strings.SplitSeq(help.String(), "\n") {
		if strings.HasPrefix(line, "  -") && !strings.HasPrefix(line, "  --") && !strings.HasPrefix(line, "  -t, ") &&
			!strings.HasPrefix(line, "  -r, ") && !strings.HasPrefix(line, "  -j, ") {
			t.Errorf("help line %q spells a flag differently from the usage", line)
		}
	}
}

func completions(t *testing.T, words ...string) []string {
	t.Helper()
	var out strings.Builder
	if code := Main(append([]string{completeCommand}, words...), &out, io.Discard); code != ExitOK {
		t.Fatalf("%q: exit %d", words, code)
	}
	return strings.Fields(out.String())
}

// Completion candidates: commands, a command's flags, record types after
// -t and as a positional TYPE, transports, subcommands; nothing (the
// shell's file completion) after --config.
func TestCompletionCandidates(t *testing.T) {
	for _, tc := range []struct {
		words []string
		want  []string
	}{
		{[]string{"pr"}, []string{"probe"}},
		{[]string{"probe", "--t"}, []string{"--type", "--transport", "--tls-name", "--timeout"}},
		{[]string{"probe", "example.com", "-t", "TL"}, []string{"TLSA"}},
		{[]string{"probe", "example.com", "ssh"}, []string{"sshfp"}},
		{[]string{"probe", "--transport", ""}, []string{"udp", "tcp", "dot", "doh"}},
		{[]string{"bgp", ""}, []string{"peers", "routes"}},
		{[]string{"incidents", "--o"}, []string{"--open"}},
		{[]string{"completion", ""}, []string{"bash", "fish", "zsh"}},
		{[]string{"help", "che"}, []string{"check-config"}},
		{[]string{"run", "--config", ""}, nil},
		{[]string{"probe", "-r", "1"}, nil},
		{[]string{"status", "--url", "h"}, nil},
	} {
		if got := completions(t, tc.words...); len(got)+len(tc.want) > 0 && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.words, got, tc.want)
		}
	}
}

// Each completion script is valid in its shell (when that shell is
// installed) and asks reachmon for the candidates.
func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, script, _ := runMain("completion", sh)
		if code != ExitOK || !strings.Contains(script, "reachmon "+completeCommand) {
			t.Errorf("%s: exit %d\n%s", sh, code, script)
			continue
		}
		if _, err := exec.LookPath(sh); err != nil {
			t.Logf("%s is not installed: syntax not checked", sh)
			continue
		}
		if out, err := exec.Command(sh, "-n", "-c", script).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", sh, err, out)
		}
	}
	if code, _, errOut := runMain("completion", "tcsh"); code != ExitUsage || !strings.Contains(errOut, "bash|zsh|fish") {
		t.Errorf("completion tcsh: exit %d, %q", code, errOut)
	}
}

// For every command, `reachmon help COMMAND` lists exactly the flags the
// usage names, in the same spelling (the completion reads the usage).
func TestHelpAndUsageNameTheSameFlags(t *testing.T) {
	for _, cmd := range commandNames() {
		if cmd == "version" || cmd == "help" || cmd == "completion" {
			continue // no flags
		}
		_, help, _ := runMain("help", cmd)
		var inHelp []string
		for line := range strings.SplitSeq(help, "\n") {
			if strings.HasPrefix(line, "  -") {
				for _, spelling := range strings.Split(strings.TrimSpace(line), ", ") {
					inHelp = append(inHelp, strings.Fields(spelling)[0])
				}
			}
		}
		inUsage := usageFlags(usageOf(cmd))
		slices.Sort(inHelp)
		slices.Sort(inUsage)
		if inUsage = slices.Compact(inUsage); !reflect.DeepEqual(inHelp, inUsage) {
			t.Errorf("%s: help lists %q, usage %q", cmd, inHelp, inUsage)
		}
	}
}

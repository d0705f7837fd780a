// Package cli implements reachmon's subcommands. cmd/reachmon only picks
// the subcommand and exits with the code it returns.
package cli

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/statefile"
)

// Exit codes shared by every subcommand.
const (
	ExitOK      = 0 // everything answered well
	ExitProblem = 1 // a problem was found (probe), or the daemon failed
	ExitUsage   = 2 // usage or configuration error
)

// exitCode is the exit status for err: ExitOK for none; ExitUsage for a
// bad command line or a configuration error (config.IsInvalid: the file,
// a secret it names, a listen address it gives) or a refused state
// directory (statefile.ErrRefused: another daemon holds it, or a newer
// build wrote it), which running again unchanged repeats, so that the
// systemd unit (RestartPreventExitStatus=2) does not restart on it;
// ExitProblem for anything else.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue), config.IsInvalid(err), errors.Is(err, statefile.ErrRefused):
		return ExitUsage
	}
	return ExitProblem
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error {
	*m = append(*m, v)
	return nil
}

// parseInterspersed parses flags that may appear before, between or after
// positional arguments ("probe example.com --type MX").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// parseFlagsOnly parses a command line that takes flags only: a stray
// argument (say, a config file without --config) is a usage error, not
// silently ignored.
func parseFlagsOnly(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		hint := ""
		if fs.Lookup("config") != nil {
			hint = " (a configuration file is given with --config FILE)"
		}
		fmt.Fprintf(stderr, "reachmon %s: unexpected argument %q%s\n", fs.Name(), pos[0], hint)
		return usageError{msg: "unexpected argument " + pos[0]}
	}
	return nil
}

// newFlagSet returns a FlagSet that reports errors instead of exiting.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage:\n  reachmon %s\n\nflags:\n", usage)
		printFlags(stderr, fs, usage)
	}
	return fs
}

// alias makes -short another spelling of --long (they share one value).
func alias(fs *flag.FlagSet, short, long string) {
	fs.Var(fs.Lookup(long).Value, short, "")
}

// spellings returns the names of the flags sharing f's value, short first:
// ["t", "type"].
func spellings(fs *flag.FlagSet, f *flag.Flag) []string {
	var names []string
	fs.VisitAll(func(g *flag.Flag) {
		if sameValue(g.Value, f.Value) {
			names = append(names, g.Name)
		}
	})
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(len(a), len(b)) })
	return names
}

func sameValue(a, b flag.Value) bool {
	return reflect.TypeOf(a) == reflect.TypeOf(b) && reflect.TypeOf(a).Comparable() && a == b
}

// dashed spells a flag name as the usage lines do: "-t", "--type".
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// printFlags lists the flags with the spellings of the usage line, each
// flag once with its short form: "-t, --type TYPE" (flag.PrintDefaults
// would print "-type value" and the alias on a line of its own).
func printFlags(w io.Writer, fs *flag.FlagSet, cmdUsage string) {
	fs.VisitAll(func(f *flag.Flag) {
		names := spellings(fs, f)
		if names[len(names)-1] != f.Name {
			return // an alias: printed with its long name
		}
		dashes := make([]string, len(names))
		for i, n := range names {
			dashes[i] = dashed(n)
		}
		arg, usage := flag.UnquoteUsage(f)
		if v := usageValue(cmdUsage, dashed(f.Name)); v != "" {
			arg = v // the usage line's word: "--config FILE", not "--config string"
		}
		if isBool(f) {
			arg = ""
		}
		line := "  " + strings.Join(dashes, ", ")
		if arg != "" {
			line += " " + arg
		}
		if f.DefValue != "" && f.DefValue != "false" && !strings.Contains(usage, "(default") {
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", line, usage)
	})
}

// usageValue returns the word that follows flag in a usage text ("FILE"
// for "--config" in "[--config FILE]", "TYPE" for "-t" in "[-t|--type
// TYPE]"), "" when the flag takes none there.
func usageValue(usage, flag string) string {
	m := regexp.MustCompile(`(?:^|[\s\[|])` + regexp.QuoteMeta(flag) + `(?:\|--[a-z-]+)? ([A-Za-z][\w:|.-]*(?:\[[^\]]*\])?)`).FindStringSubmatch(usage)
	if m == nil || strings.HasPrefix(m[1], "-") {
		return ""
	}
	return m[1]
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// usageError is returned for bad command lines (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func isHelp(err error) bool { return errors.Is(err, flag.ErrHelp) }

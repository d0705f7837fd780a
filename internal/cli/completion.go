package cli

import (
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// completeCommand is the hidden command the completion scripts call with
// the words typed after "reachmon" (the last one being completed); it
// prints the candidates, one a line. The scripts stay small and the
// knowledge stays here: commands and flags come from the usage text (the
// one spelling of every flag), record types from config.RecordTypes.
const completeCommand = "__complete"

// completionScripts are the shell glue; each falls back to file names
// when no candidate is printed (--config FILE).
var completionScripts = map[string]string{
	"bash": `# bash completion for reachmon; load with: source <(reachmon completion bash)
_reachmon() {
	local IFS=$'\n'
	COMPREPLY=($(reachmon ` + completeCommand + ` "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _reachmon reachmon
`,
	"zsh": `#compdef reachmon
# zsh completion for reachmon; load with: source <(reachmon completion zsh)
# or save it as _reachmon in a directory of $fpath.
_reachmon() {
	local -a candidates
	candidates=("${(@f)$(reachmon ` + completeCommand + ` "${(@)words[2,CURRENT]}" 2>/dev/null)}")
	if [[ -n ${candidates[1]} ]]; then
		compadd -a candidates
	else
		_files
	fi
}
if [[ $funcstack[1] == _reachmon ]]; then
	_reachmon "$@"
else
	compdef _reachmon reachmon
fi
`,
	"fish": `# fish completion for reachmon; load with: reachmon completion fish | source
# or save it as ~/.config/fish/completions/reachmon.fish
function __reachmon_complete
	set -l typed (commandline -opc)
	set -e typed[1] # "reachmon"
	set -l current (commandline -ct | string collect --allow-empty)
	reachmon ` + completeCommand + ` $typed $current 2>/dev/null
end
complete -c reachmon -a '(__reachmon_complete)'
`,
}

func completionCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || completionScripts[args[0]] == "" {
		fmt.Fprintln(stderr, "usage:\n  reachmon completion bash|zsh|fish\n\nprints the shell's completion script, e.g. source <(reachmon completion bash)")
		if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
			return ExitOK
		}
		return ExitUsage
	}
	fmt.Fprint(stdout, completionScripts[args[0]])
	return ExitOK
}

// complete prints the candidates for the last of words.
func complete(words []string, stdout io.Writer) int {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, before := words[len(words)-1], words[:len(words)-1]
	for _, c := range candidates(before, cur) {
		if strings.HasPrefix(c, cur) {
			fmt.Fprintln(stdout, c)
		}
	}
	return ExitOK
}

// candidates lists what may come after the words before, for the current
// word cur: a command, a subcommand, a flag, or a flag's value.
func candidates(before []string, cur string) []string {
	if len(before) == 0 {
		return commandNames()
	}
	cmd, prev := before[0], before[len(before)-1]
	lines := usageOf(cmd)
	switch {
	case prev == "-t" || prev == "--type":
		return recordTypes(cur)
	case prev == "--kind":
		var out []string
		for _, k := range model.IncidentKinds {
			out = append(out, string(k))
		}
		return out
	case prev == "--transport":
		var out []string
		for _, t := range model.Transports {
			out = append(out, string(t))
		}
		return out
	case strings.HasPrefix(prev, "-") && usageValue(lines, prev) != "":
		return nil // a file, an address: the shell's own completion
	case strings.HasPrefix(cur, "-"):
		return usageFlags(lines)
	case cmd == "probe" && cur != "":
		return recordTypes(cur) // a positional TYPE
	case cmd == "help" && len(before) == 1:
		return commandNames()
	case cmd == "completion" && len(before) == 1:
		return slices.Sorted(maps.Keys(completionScripts))
	case len(before) == 1:
		return subcommands(lines)
	}
	return nil
}

// flagName matches a flag in a usage text: "--type", "-t" (not the
// "-config" of "check-config").
var flagName = regexp.MustCompile(`(?:^|[\s\[|])(--?[a-z][a-z-]*)`)

// usageFlags lists the flags a usage text names, in order.
func usageFlags(text string) []string {
	var out []string
	for _, m := range flagName.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// usageOf returns the usage lines of cmd (with their continuation lines).
func usageOf(cmd string) string {
	var b strings.Builder
	in := false
	for line := range strings.SplitSeq(usage, "\n") {
		if f := strings.Fields(line); strings.HasPrefix(line, "  reachmon ") && len(f) > 1 {
			in = f[1] == cmd
		} else if !strings.HasPrefix(line, "    ") {
			in = false
		}
		if in {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// commandNames lists the commands of the usage text.
func commandNames() []string {
	var out []string
	for line := range strings.SplitSeq(usage, "\n") {
		if f := strings.Fields(line); strings.HasPrefix(line, "  reachmon ") && len(f) > 1 && !slices.Contains(out, f[1]) {
			out = append(out, f[1])
		}
	}
	return out
}

func isCommand(name string) bool { return slices.Contains(commandNames(), name) }

// subcommands reads "bgp peers|routes" and "notify test" off a command's
// usage line.
func subcommands(lines string) []string {
	f := strings.Fields(lines)
	if len(f) < 3 || !regexp.MustCompile(`^[a-z][a-z|-]*$`).MatchString(f[2]) {
		return nil
	}
	return strings.Split(f[2], "|")
}

// recordTypes lists every askable record type, in the case cur is typed in.
func recordTypes(cur string) []string {
	types := config.RecordTypes()
	if cur != "" && cur == strings.ToLower(cur) {
		for i, t := range types {
			types[i] = strings.ToLower(t)
		}
	}
	return types
}

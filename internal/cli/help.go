package cli

import (
	"fmt"
	"io"
	"strings"
)

// helpCmd is `reachmon help [COMMAND]`: the usage, or a command's own help
// (what `reachmon COMMAND --help` prints), on stdout.
func helpCmd(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0 || args[0] == "help" || strings.HasPrefix(args[0], "-"):
		fmt.Fprint(stdout, usage)
		return ExitOK
	case len(args) > 1:
		fmt.Fprintf(stderr, "reachmon help: name one command, not %q\n", strings.Join(args, " "))
		return ExitUsage
	case !isCommand(args[0]):
		fmt.Fprintf(stderr, "reachmon help: unknown command %q\n\n%s", args[0], usage)
		return ExitUsage
	}
	return Main([]string{args[0], "--help"}, stdout, stdout)
}

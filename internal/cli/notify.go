package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	notifyslack "github.com/reachmon/reachmon/internal/notify/slack"
)

// notifyTestTimeout bounds `reachmon notify test` as a whole.
const notifyTestTimeout = 30 * time.Second

func notifyCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("notify", "notify test [--config FILE]", stderr)
	path := fs.String("config", DefaultConfig, "configuration file")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if isHelp(err) {
			return ExitOK
		}
		return ExitUsage
	}
	if len(pos) != 1 || pos[0] != "test" {
		fs.Usage()
		fmt.Fprintf(stderr, "reachmon notify: the only subcommand is test (got %q)\n", pos)
		return ExitUsage
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(err)
	}
	if !cfg.Slack.Enabled() {
		fmt.Fprintf(stderr, "reachmon notify: %s configures no Slack paging: set [slack] token_env/token_file or webhook_url_env/webhook_url_file\n", *path)
		return ExitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), notifyTestTimeout)
	defer cancel()
	report, err := notifyslack.SendTest(ctx, cfg.Slack, notifyslack.Options{Vantage: cfg.Vantage})
	fmt.Fprint(stdout, report)
	if err != nil {
		fmt.Fprintf(stderr, "reachmon notify test: %v\n", err)
		return exitCode(err)
	}
	return ExitOK
}

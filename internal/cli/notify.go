package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/notify/alertmanager"
	notifyslack "github.com/reachmon/reachmon/internal/notify/slack"
	"github.com/reachmon/reachmon/internal/notify/webhook"
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
	if !cfg.Slack.Enabled() && len(cfg.Alertmanager) == 0 && len(cfg.Webhook) == 0 {
		fmt.Fprintf(stderr, "reachmon notify: %s configures no Slack paging, no [[alertmanager]] and no [[webhook]]: set [slack] token_env/token_file or webhook_url_env/webhook_url_file, or add an [[alertmanager]] or a [[webhook]]\n", *path)
		return ExitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), notifyTestTimeout)
	defer cancel()
	// Every configured notifier, in the daemon's order; each one's report
	// under a heading when there are several.
	type test struct {
		name string
		run  func() (string, error)
	}
	var tests []test
	if cfg.Slack.Enabled() {
		tests = append(tests, test{"slack", func() (string, error) {
			return notifyslack.SendTest(ctx, cfg.Slack, notifyslack.Options{Vantage: cfg.Vantage})
		}})
	}
	for _, c := range cfg.Alertmanager {
		tests = append(tests, test{"alertmanager " + c.Name + " (status of every URL; no alert is sent)", func() (string, error) {
			return alertmanager.Check(ctx, c, nil)
		}})
	}
	for _, c := range cfg.Webhook {
		tests = append(tests, test{"webhook " + c.Name, func() (string, error) {
			return webhook.SendTest(ctx, c, webhook.Options{Vantage: cfg.Vantage})
		}})
	}
	var firstErr error
	for _, tc := range tests {
		if len(tests) > 1 {
			fmt.Fprintf(stdout, "== %s\n", tc.name)
		}
		report, err := tc.run()
		fmt.Fprint(stdout, report)
		if err != nil {
			fmt.Fprintf(stderr, "reachmon notify test: %v\n", err)
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if firstErr != nil {
		return exitCode(firstErr)
	}
	return ExitOK
}

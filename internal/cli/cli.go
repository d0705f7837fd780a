package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/reachmon/reachmon/internal/app"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/version"
)

const usage = `reachmon: external DNS + BGP reachability monitor

usage:
  reachmon run [--config FILE] [--listen ADDR] [--log-level L] [--log-format F]
  reachmon ` + probeUsage + `
  reachmon check-config [--config FILE]
  reachmon status [--all | --zone NAME] [--url URL | --config FILE] [--json] [--timeout D]
  reachmon incidents [--open] [-v] [--url URL | --config FILE] [--json] [--timeout D]
  reachmon bgp peers|routes [PREFIX|ADDRESS] [--url URL | --config FILE] [--json] [--timeout D]
  reachmon notify test [--config FILE]
  reachmon ` + silenceUsage + `
  reachmon ` + reloadUsage + `
  reachmon version
  reachmon help [COMMAND]
  reachmon completion bash|zsh|fish

Run 'reachmon help COMMAND' (or 'reachmon COMMAND --help') for a command's flags.
`

// DefaultConfig is the configuration file used when --config is not given.
const DefaultConfig = "config/reachmon.toml"

// Main runs the subcommand named in args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return ExitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return runCmd(rest, stderr)
	case "probe":
		return probeCmd(rest, stdout, stderr)
	case "bgp":
		return bgpCmd(rest, stdout, stderr)
	case "notify":
		return notifyCmd(rest, stdout, stderr)
	case "incidents":
		return incidentsCmd(rest, stdout, stderr)
	case "status":
		return statusCmd(rest, stdout, stderr)
	case "silence":
		return silenceCmd(rest, stdout, stderr)
	case "reload":
		return reloadCmd(rest, stdout, stderr)
	case "check-config":
		return checkConfigCmd(rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "reachmon %s\n", version.Get())
		return ExitOK
	case "help", "-h", "--help":
		return helpCmd(rest, stdout, stderr)
	case "completion":
		return completionCmd(rest, stdout, stderr)
	case completeCommand:
		return complete(rest, stdout)
	}
	fmt.Fprintf(stderr, "reachmon: unknown command %q\n\n%s", cmd, usage)
	return ExitUsage
}

func checkConfigCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check-config", "check-config [--config FILE]", stderr)
	path := fs.String("config", DefaultConfig, "configuration file")
	if err := parseFlagsOnly(fs, args, stderr); err != nil {
		if isHelp(err) {
			return ExitOK
		}
		return ExitUsage
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(err)
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "%s: warning: %s\n", *path, w)
	}
	fmt.Fprintf(stdout, "%s: ok (vantage %s, %d resolvers, %d zones, %d watched prefixes)\n",
		*path, cfg.Vantage, len(cfg.Resolvers), len(cfg.Zones), len(cfg.Prefixes))
	return ExitOK
}

// reloadOnSignal reloads the daemon's configuration on every signal on
// sig (SIGHUP: systemctl reload) until ctx ends. Reload logs the outcome.
func reloadOnSignal(ctx context.Context, sig <-chan os.Signal, r interface {
	Reload(context.Context) (app.ReloadResult, error)
}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			_, _ = r.Reload(ctx) // the daemon logs and counts both outcomes
		}
	}
}

// ShutdownLimit bounds how long the daemon may take to stop after a signal.
const ShutdownLimit = 15 * time.Second

func runCmd(args []string, stderr io.Writer) int {
	fs := newFlagSet("run", "run [--config FILE] [--listen ADDR] [--log-level L] [--log-format F]", stderr)
	path := fs.String("config", DefaultConfig, "configuration file")
	listen := fs.String("listen", "", "HTTP listen address, overrides the config's listen (default "+config.DefaultListen+")")
	level := fs.String("log-level", "", "log level: debug, info, warn, error (overrides [log] level)")
	format := fs.String("log-format", "", "log format: text, json (overrides [log] format)")
	if err := parseFlagsOnly(fs, args, stderr); err != nil {
		if isHelp(err) {
			return ExitOK
		}
		return ExitUsage
	}
	if *listen != "" {
		if err := config.CheckListen(*listen); err != nil {
			fmt.Fprintf(stderr, "reachmon run: --listen: %v\n", err)
			return ExitUsage
		}
	}
	// load reads the file with the command line's overrides, at start and
	// at every reload (so that a reload does not see them as changes).
	load := func() (*config.Plan, error) {
		cfg, err := config.Load(*path)
		if err != nil {
			return nil, err
		}
		if *listen != "" {
			cfg.Listen = *listen
		}
		if *level != "" {
			cfg.Log.Level = *level
		}
		if *format != "" {
			cfg.Log.Format = *format
		}
		return cfg, nil
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(err)
	}
	log, err := app.NewLogger(stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		fmt.Fprintf(stderr, "reachmon: %v\n", err)
		return ExitUsage
	}
	for _, w := range cfg.Warnings() {
		log.Warn("configuration", "warning", w)
	}
	d, err := app.New(cfg, log)
	if err != nil {
		log.Error("startup failed", "error", err)
		return exitCode(err)
	}
	d.SetReloader(*path, func() (*config.Plan, error) {
		cfg, err := load()
		if err == nil {
			for _, w := range cfg.Warnings() {
				log.Warn("configuration", "warning", w)
			}
		}
		return cfg, err
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go reloadOnSignal(ctx, hup, d)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		log.Info("shutting down", "limit", ShutdownLimit)
		select {
		case err = <-done:
		case <-time.After(ShutdownLimit):
			err = errors.New("shutdown did not finish in time")
		}
	}
	if err != nil {
		log.Error("reachmon failed", "error", err)
	}
	return exitCode(err)
}

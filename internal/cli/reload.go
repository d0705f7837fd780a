package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/reachmon/reachmon/internal/api"
	"github.com/reachmon/reachmon/internal/app"
	"github.com/reachmon/reachmon/internal/config"
)

const reloadUsage = "reload [--url URL | --api URL | --config FILE] [--json] [--timeout D]"

// reloadCmd asks a running daemon to read its configuration file again
// (POST /-/reload; the same as SIGHUP or systemctl reload reachmon) and
// prints what changed, what needs a restart, or why the file was refused.
func reloadCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("reload", reloadUsage, stderr)
	url := fs.String("url", "", "base URL of the running daemon (default from --config's listen, else http://"+config.DefaultListen+")")
	fs.StringVar(url, "api", "", "the same as --url")
	cfgPath := fs.String("config", "", "configuration file whose listen address (unless --url) and [api] token to use")
	asJSON := fs.Bool("json", false, "print the daemon's JSON answer")
	timeout := fs.Duration("timeout", 30*time.Second, "deadline of the request")
	if err := parseFlagsOnly(fs, args, stderr); err != nil {
		if isHelp(err) {
			return ExitOK
		}
		return ExitUsage
	}
	base, token, err := daemonTarget(*url, *cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "reachmon reload: %v\n", err)
		return ExitUsage
	}
	client, err := api.NewClient(*timeout, base, token)
	if err != nil {
		fmt.Fprintf(stderr, "reachmon reload: %v\n", err)
		return ExitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var res app.ReloadResult
	if err := api.PostJSONBody(ctx, client, base, app.ReloadPath, nil, http.StatusOK, &res); err != nil {
		fmt.Fprintf(stderr, "reachmon reload: %v\n", err)
		return ExitProblem
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
		return ExitOK
	}
	writeReload(stdout, res)
	return ExitOK
}

// writeReload prints a reload's answer for a person.
func writeReload(w io.Writer, res app.ReloadResult) {
	fmt.Fprintf(w, "configuration reloaded (sha256 %s)\n", res.ConfigSHA256)
	if len(res.Changed) == 0 {
		fmt.Fprintln(w, "  nothing changed that applies while running")
	}
	for _, c := range res.Changed {
		fmt.Fprintf(w, "  %s\n", c)
	}
	if res.Resolved > 0 {
		fmt.Fprintf(w, "  %d open incident(s) resolved: their subject left the configuration\n", res.Resolved)
	}
	if len(res.RestartNeeded) > 0 {
		fmt.Fprintf(w, "restart needed for: %s (running values kept)\n", joinComma(res.RestartNeeded))
	}
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

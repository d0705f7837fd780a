package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/config"
)

const bgpUsage = "bgp peers|routes [PREFIX|ADDRESS] [--url URL | --config FILE] [--json]"

// daemonURL picks the base URL of a running daemon: --url, else the listen
// address of --config (if given), else the default listen address.
func daemonURL(url, cfgPath string) (string, error) {
	if url != "" {
		return url, nil
	}
	listen := config.DefaultListen
	if cfgPath != "" {
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return "", err
		}
		listen = cfg.Listen
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

func bgpCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bgp", bgpUsage, stderr)
	url := fs.String("url", "", "base URL of the running daemon (default from --config's listen, else http://"+config.DefaultListen+")")
	cfgPath := fs.String("config", "", "configuration file whose listen address to use")
	asJSON := fs.Bool("json", false, "print the API's JSON document")
	timeout := fs.Duration("timeout", 10*time.Second, "deadline of the request")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if isHelp(err) {
			return ExitOK
		}
		return ExitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "reachmon bgp: "+format+"\n", a...)
		return ExitUsage
	}
	if len(pos) == 0 || (pos[0] != "peers" && pos[0] != "routes") {
		fs.Usage()
		return fail("name what to show: peers or routes")
	}
	if pos[0] == "peers" && len(pos) > 1 || len(pos) > 2 {
		return fail("too many arguments: %q", pos[1:])
	}
	base, err := daemonURL(*url, *cfgPath)
	if err != nil {
		return fail("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	client := &http.Client{Timeout: *timeout}
	var v any
	switch pos[0] {
	case "peers":
		p, ferr := bgp.FetchPeers(ctx, client, base)
		v, err = p, ferr
		if err == nil && !*asJSON {
			err = bgp.WritePeers(stdout, p, time.Now())
		}
	case "routes":
		q := ""
		if len(pos) == 2 {
			q = pos[1]
		}
		r, ferr := bgp.FetchRoutes(ctx, client, base, q)
		v, err = r, ferr
		if err == nil && !*asJSON {
			err = bgp.WriteRoutes(stdout, r, time.Now())
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "reachmon bgp: %v\n", err)
		return ExitProblem
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			fmt.Fprintf(stderr, "reachmon bgp: %v\n", err)
			return ExitProblem
		}
	}
	return ExitOK
}

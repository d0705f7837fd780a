package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/api"
	"github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/incident"
)

// daemonTarget picks the running daemon to read: its base URL (--url,
// else the listen address of --config if given, else the default listen
// address) and the API token to send (--config's [api] token, if any).
func daemonTarget(url, cfgPath string) (base, token string, err error) {
	listen := config.DefaultListen
	if cfgPath != "" {
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return "", "", err
		}
		listen = cfg.Listen
		if token, err = cfg.API.Token(); err != nil {
			return "", "", err
		}
	}
	if url != "" {
		return url, token, nil
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", "", err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), token, nil
}

// daemonQuery is one read from a running daemon: fetch returns the API
// document, table prints it for a human.
type daemonQuery struct {
	fetch func(ctx context.Context, c *http.Client, base string) (any, error)
	table func(w io.Writer, doc any) error
}

// daemonCmd runs a subcommand that reads a running daemon's API. setup
// adds the command's own flags and, given the positional arguments, returns
// the query (or a usage error).
func daemonCmd(name, usage string, args []string, stdout, stderr io.Writer,
	setup func(fs *flag.FlagSet) func(pos []string) (daemonQuery, error)) int {
	fs := newFlagSet(name, usage, stderr)
	url := fs.String("url", "", "base URL of the running daemon (default from --config's listen, else http://"+config.DefaultListen+")")
	cfgPath := fs.String("config", "", "configuration file whose listen address (unless --url) and [api] token to use")
	asJSON := fs.Bool("json", false, "print the API's JSON document")
	timeout := fs.Duration("timeout", 10*time.Second, "deadline of the request")
	build := setup(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if isHelp(err) {
			return ExitOK
		}
		return ExitUsage
	}
	q, err := build(pos)
	var (
		base, token string
		client      *http.Client
	)
	if err == nil {
		base, token, err = daemonTarget(*url, *cfgPath)
	}
	if err == nil {
		client, err = api.NewClient(*timeout, base, token)
	}
	if err != nil {
		fmt.Fprintf(stderr, "reachmon %s: %v\n", name, err)
		return ExitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	doc, err := q.fetch(ctx, client, base)
	if err == nil {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			err = enc.Encode(doc)
		} else {
			err = q.table(stdout, doc)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "reachmon %s: %v\n", name, err)
		return ExitProblem
	}
	return ExitOK
}

func bgpCmd(args []string, stdout, stderr io.Writer) int {
	return daemonCmd("bgp", "bgp peers|routes [PREFIX|ADDRESS] [--url URL | --config FILE] [--json] [--timeout D]", args, stdout, stderr,
		func(fs *flag.FlagSet) func([]string) (daemonQuery, error) {
			return func(pos []string) (daemonQuery, error) {
				switch {
				case len(pos) == 1 && pos[0] == "peers":
					return daemonQuery{
						fetch: func(ctx context.Context, c *http.Client, base string) (any, error) {
							return api.FetchPeers(ctx, c, base)
						},
						table: func(w io.Writer, doc any) error { return WritePeers(w, doc.(bgp.PeersView), time.Now()) },
					}, nil
				case len(pos) >= 1 && len(pos) <= 2 && pos[0] == "routes":
					q := ""
					if len(pos) == 2 {
						q = pos[1]
					}
					return daemonQuery{
						fetch: func(ctx context.Context, c *http.Client, base string) (any, error) {
							return api.FetchRoutes(ctx, c, base, q)
						},
						table: func(w io.Writer, doc any) error { return WriteRoutes(w, doc.(bgp.RoutesView), time.Now()) },
					}, nil
				}
				return daemonQuery{}, fmt.Errorf("name what to show: peers, or routes [PREFIX|ADDRESS] (got %q)", pos)
			}
		})
}

func incidentsCmd(args []string, stdout, stderr io.Writer) int {
	return daemonCmd("incidents", "incidents [--open] [-v] [--url URL | --config FILE] [--json] [--timeout D]", args, stdout, stderr,
		func(fs *flag.FlagSet) func([]string) (daemonQuery, error) {
			open := fs.Bool("open", false, "only open incidents")
			verbose := fs.Bool("v", false, "show each incident's root cause and evidence timeline")
			return func(pos []string) (daemonQuery, error) {
				if len(pos) > 0 {
					return daemonQuery{}, fmt.Errorf("unexpected arguments %q", pos)
				}
				return daemonQuery{
					fetch: func(ctx context.Context, c *http.Client, base string) (any, error) {
						return api.FetchIncidents(ctx, c, base, *open)
					},
					table: func(w io.Writer, doc any) error { WriteIncidentsTable(w, doc.(*incident.View), *verbose); return nil },
				}, nil
			}
		})
}

func statusCmd(args []string, stdout, stderr io.Writer) int {
	return daemonCmd("status", "status [--all | --zone NAME] [--url URL | --config FILE] [--json] [--timeout D]", args, stdout, stderr,
		func(fs *flag.FlagSet) func([]string) (daemonQuery, error) {
			all := fs.Bool("all", false, "list healthy zones, resolvers, servers and prefixes too")
			zone := fs.String("zone", "", "show one zone's detail: every server's last answer to each query, the nameservers, the DS check, the signatures and the SOA serials")
			return func(pos []string) (daemonQuery, error) {
				if len(pos) > 0 {
					return daemonQuery{}, fmt.Errorf("unexpected arguments %q", pos)
				}
				zoneSet := false
				fs.Visit(func(f *flag.Flag) { zoneSet = zoneSet || f.Name == "zone" })
				switch {
				case zoneSet && strings.TrimSpace(*zone) == "":
					return daemonQuery{}, errors.New("--zone: name a zone (such as example.com)")
				case zoneSet && *all:
					return daemonQuery{}, errors.New("--all and --zone do not go together: --zone shows every server of the zone")
				case zoneSet:
					return daemonQuery{
						fetch: func(ctx context.Context, c *http.Client, base string) (any, error) {
							return api.FetchZone(ctx, c, base, strings.TrimSpace(*zone))
						},
						table: func(w io.Writer, doc any) error {
							WriteZoneTable(w, doc.(*evaluate.ZoneDetail))
							return nil
						},
					}, nil
				}
				return daemonQuery{
					fetch: func(ctx context.Context, c *http.Client, base string) (any, error) {
						return api.FetchStatus(ctx, c, base)
					},
					table: func(w io.Writer, doc any) error {
						WriteStatusTable(w, doc.(*evaluate.Status), *all)
						return nil
					},
				}, nil
			}
		})
}

package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/reachmon/reachmon/internal/bgp"
)

// WritePeers renders the peers as a table, after the feeds that carry
// several peers (routers' BMP sessions) when there are any. A source's
// peer is described by its label ("router edge1, peer 192.0.2.1
// (AS64500)").
func WritePeers(w io.Writer, v bgp.PeersView, now time.Time) error {
	if !v.Enabled {
		_, err := fmt.Fprintln(w, "BGP feed disabled (no [bgp] asn, no [bmp] listen, no [ris_live])")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(v.Feeds) > 0 {
		fmt.Fprintln(tw, "FEED\tADDRESS\tSTATE\tSINCE\tPEERS UP\tSYS NAME\tSYS DESCR\tTERMINATION\tREASON")
		for _, f := range v.Feeds {
			addr := "-"
			if f.Address.IsValid() {
				addr = f.Address.String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", f.Feed, addr, f.State, ago(now, f.Since), f.Peers,
				dash(f.SysName), dash(f.SysDescr), dash(f.Termination), dash(f.Reason))
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintln(tw, "PEER\tASN\tSTATE\tSYNCED\tSINCE\tROUTES\tREASON\tDESCRIPTION")
	for _, p := range v.Peers {
		desc := p.Description
		if p.Label != "" {
			desc = p.Label
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\n", p.Peer, p.PeerASN, p.State, yesNo(p.Synced),
			ago(now, p.Since), p.Routes, dash(p.Reason), dash(desc))
	}
	writeSessions(tw, v)
	return tw.Flush()
}

// writeSessions lists the full_table neighbors' own sessions: FSM state,
// uptime, every prefix received per family (what max_prefixes counts).
func writeSessions(tw io.Writer, v bgp.PeersView) {
	first := true
	for _, p := range v.Peers {
		s := p.Session
		if s == nil {
			continue
		}
		if first {
			fmt.Fprintln(tw)
			fmt.Fprintln(tw, "PEER\tMODE\tBGP STATE\tUPTIME\tRECEIVED IPV4\tRECEIVED IPV6\tHOLD\tROUTE REFRESH\tLAST ERROR")
			first = false
		}
		up := "-"
		if s.State == "established" {
			up = (time.Duration(s.UptimeSeconds) * time.Second).String()
		}
		hold := "-"
		if s.HoldTimeSeconds > 0 {
			hold = (time.Duration(s.HoldTimeSeconds) * time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", p.Peer, s.Mode, s.State, up,
			s.ReceivedPrefixes["ipv4-unicast"], s.ReceivedPrefixes["ipv6-unicast"], hold, yesNo(s.RouteRefresh), dash(s.LastError))
	}
}

// WriteRoutes renders the watched addresses (which route covers each
// nameserver and resolver) and the routes, as tables.
func WriteRoutes(w io.Writer, v bgp.RoutesView, now time.Time) error {
	if !v.Enabled {
		_, err := fmt.Fprintln(w, "BGP feed disabled (no [bgp] asn, no [bmp] listen, no [ris_live])")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(v.Addresses) > 0 {
		fmt.Fprintln(tw, "ADDRESS\tROLE\tCOVERED BY\tPEERS\tORIGIN\tHEALTHY ROUTE\tSTATUS")
		for _, a := range v.Addresses {
			var roles []string
			for _, r := range a.Roles {
				roles = append(roles, r.Kind+" "+r.Name)
			}
			cur, peers, origin := "-", "0", "-"
			if a.Current != nil {
				cur, peers, origin = a.Current.Prefix.String(), strconv.Itoa(a.Current.Peers), asns(a.Current.Origins)
			}
			healthy := "-"
			if a.Healthy != nil {
				healthy = a.Healthy.Prefix.String()
			}
			status := "ok"
			switch {
			case a.Degraded:
				status = "DEGRADED: healthy route withdrawn"
			case a.Current == nil:
				status = "no route"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Addr, strings.Join(roles, ", "), cur, peers, origin, healthy, status)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintln(tw, "PREFIX\tWATCHED\tPEERS\tORIGIN\tAS PATH (first peer)\tCHANGED")
	for _, r := range v.Routes {
		watched := "-"
		if r.Watched.IsValid() {
			watched = r.Watched.String()
			if r.MoreSpecific {
				watched = "inside " + watched
			}
		} else if len(r.Covers) > 0 {
			watched = "covers " + r.Covers[0].String()
			if len(r.Covers) > 1 {
				watched += fmt.Sprintf(" (+%d)", len(r.Covers)-1)
			}
		}
		path := "-"
		if len(r.Paths) > 0 {
			path = asns(r.Paths[0].ASPath)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", r.Prefix, watched, len(r.Paths), asns(r.Origins), path, ago(now, r.Changed))
	}
	if len(v.Routes) == 0 {
		fmt.Fprintln(tw, "(no watched route visible)")
	}
	return tw.Flush()
}

func asns(l []uint32) string {
	if len(l) == 0 {
		return "-"
	}
	s := make([]string, len(l))
	for i, a := range l {
		s[i] = strconv.FormatUint(uint64(a), 10)
	}
	return strings.Join(s, " ")
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Truncate(time.Second).String() + " ago"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/reachmon/reachmon/internal/evaluate"
)

// WriteStatusTable renders a Status for `reachmon status`. Healthy rows
// are left out unless all is set; counts always show.
func WriteStatusTable(w io.Writer, st *evaluate.Status, all bool) {
	fmt.Fprintf(w, "vantage %s at %s", st.Vantage, st.Time.UTC().Format(time.RFC3339))
	if st.VantageDown {
		fmt.Fprint(w, "  VANTAGE DOWN: verdicts suspended")
	}
	fmt.Fprintln(w)
	bgp := "BGP verdicts live"
	if !st.BGP.Usable {
		bgp = "BGP verdicts suspended: " + st.BGP.Reason
	}
	fmt.Fprintf(w, "%s\n", bgp)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	section := func(title string, n, bad int) {
		fmt.Fprintf(tw, "\n%s: %d, %d not ok\n", title, n, bad)
	}
	bad := 0
	for _, p := range st.BGP.Peers {
		if p.State != "up" || !p.Synced {
			bad++
		}
	}
	section("BGP sessions", len(st.BGP.Peers), bad)
	for _, p := range st.BGP.Peers {
		if all || p.State != "up" || !p.Synced {
			fmt.Fprintf(tw, "  %s\tAS%d\t%s\tsynced=%v\n", p.Peer, p.ASN, p.State, p.Synced)
		}
	}
	bad = 0
	for _, z := range st.Zones {
		if z.Health != evaluate.HealthOK {
			bad++
		}
	}
	section("zones", len(st.Zones), bad)
	for _, z := range st.Zones {
		if all || z.Health != evaluate.HealthOK {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", z.Zone, z.Health, z.Kind, z.Incident, strings.Join(z.Failing, ", "))
		}
	}
	bad = 0
	for _, r := range st.Resolvers {
		if r.Health != evaluate.HealthOK {
			bad++
		}
	}
	section("resolvers", len(st.Resolvers), bad)
	for _, r := range st.Resolvers {
		if all || r.Health != evaluate.HealthOK {
			route := ""
			if r.Route.IsValid() {
				route = r.Route.String()
				if r.RouteWithdrawn {
					route += " WITHDRAWN"
				}
			}
			fmt.Fprintf(tw, "  %s\t%s\tfailing for %d of %d zones\t%s\n", r.Name, r.Health, r.Failing, r.Zones, route)
		}
	}
	bad = 0
	for _, s := range st.Authoritative {
		if s.Health != evaluate.HealthOK || s.RouteWithdrawn {
			bad++
		}
	}
	section("authoritative servers", len(st.Authoritative), bad)
	for _, s := range st.Authoritative {
		if all || s.Health != evaluate.HealthOK || s.RouteWithdrawn {
			route := ""
			if s.Route.IsValid() {
				route = s.Route.String()
				if s.RouteWithdrawn {
					route += " WITHDRAWN"
				}
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", s.Zone, s.Name, s.Addr, s.Health, route)
		}
	}
	bad = 0
	for _, p := range st.Prefixes {
		if p.Health != evaluate.HealthOK {
			bad++
		}
	}
	section("watched prefixes", len(st.Prefixes), bad)
	for _, p := range st.Prefixes {
		if all || p.Health != evaluate.HealthOK {
			fmt.Fprintf(tw, "  %s\t%s\tseen by %d of %d peers\torigins %s\texpected %s\n", p.Prefix, p.Health, p.Peers, p.Of,
				asList(p.Origins), asList(p.Expected))
		}
	}
	_ = tw.Flush()
	if len(st.Open) > 0 {
		fmt.Fprintf(w, "\nopen incidents (%d):\n", len(st.Open))
		for _, i := range st.Open {
			fmt.Fprintf(w, "  %s  %s  %s\n", i.ID, i.Severity, i.Headline())
		}
	}
}

// asList writes AS numbers the way the evaluator's root causes do
// ("AS32934, AS64500"), so the table reads like the incidents.
func asList(l []uint32) string {
	parts := make([]string, 0, len(l))
	for _, a := range l {
		parts = append(parts, fmt.Sprintf("AS%d", a))
	}
	return strings.Join(parts, ", ")
}

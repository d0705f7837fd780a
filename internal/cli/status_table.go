package cli

import (
	"fmt"
	"io"
	"net/netip"
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
	// One tabwriter for every section: the title lines (no tabs) end one
	// block of aligned columns and start the next.
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	writeSection(tw, "BGP sessions", st.BGP.Peers, all,
		func(p evaluate.PeerStatus) bool { return p.State != "up" || !p.Synced },
		func(p evaluate.PeerStatus) string {
			return fmt.Sprintf("%s\tAS%d\t%s\tsynced=%v", p.Peer, p.ASN, p.State, p.Synced)
		})
	writeSection(tw, "zones", st.Zones, all,
		func(z evaluate.ZoneStatus) bool { return z.Health != evaluate.HealthOK },
		func(z evaluate.ZoneStatus) string {
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", z.Zone, z.Health, z.Kind, z.Incident, strings.Join(z.Failing, ", "))
		})
	writeSection(tw, "resolvers", st.Resolvers, all,
		func(r evaluate.ResolverStatus) bool { return r.Health != evaluate.HealthOK },
		func(r evaluate.ResolverStatus) string {
			return fmt.Sprintf("%s\t%s\tfailing for %d of %d zones\t%s", r.Name, r.Health, r.Failing, r.Zones, routeCell(r.Route, r.RouteWithdrawn))
		})
	writeSection(tw, "authoritative servers", st.Authoritative, all,
		func(s evaluate.ServerStatus) bool { return s.Health != evaluate.HealthOK || s.RouteWithdrawn },
		func(s evaluate.ServerStatus) string {
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", s.Zone, s.Name, s.Addr, s.Health, routeCell(s.Route, s.RouteWithdrawn))
		})
	writeSection(tw, "watched prefixes", st.Prefixes, all,
		func(p evaluate.PrefixStatus) bool { return p.Health != evaluate.HealthOK },
		func(p evaluate.PrefixStatus) string {
			return fmt.Sprintf("%s\t%s\tseen by %d of %d peers\torigins %s\texpected %s", p.Prefix, p.Health, p.Peers, p.Of,
				asList(p.Origins), asList(p.Expected))
		})
	_ = tw.Flush()
	if len(st.Open) > 0 {
		fmt.Fprintf(w, "\nopen incidents (%d):\n", len(st.Open))
		for _, i := range st.Open {
			fmt.Fprintf(w, "  %s  %s  %s\n", i.ID, i.Severity, i.Headline())
		}
	}
}

// writeSection writes a section's title with its counts, then its rows
// that are not ok (every row if all), indented.
func writeSection[T any](w io.Writer, title string, rows []T, all bool, notOK func(T) bool, row func(T) string) {
	bad := 0
	for _, r := range rows {
		if notOK(r) {
			bad++
		}
	}
	fmt.Fprintf(w, "\n%s: %d, %d not ok\n", title, len(rows), bad)
	for _, r := range rows {
		if all || notOK(r) {
			fmt.Fprintf(w, "  %s\n", row(r))
		}
	}
}

// routeCell is the route covering an address, marked while withdrawn;
// empty when none is known.
func routeCell(p netip.Prefix, withdrawn bool) string {
	if !p.IsValid() {
		return ""
	}
	if withdrawn {
		return p.String() + " WITHDRAWN"
	}
	return p.String()
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

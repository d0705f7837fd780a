package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/reachmon/reachmon/internal/evaluate"
)

// WriteZoneTable renders a zone's detail for `reachmon status --zone`:
// the zone's health and open incidents, every server with the last
// result of each query, the discovery, the DS check, the earliest
// signature expiry and the SOA serials. Ages are told as of the
// document's time.
func WriteZoneTable(w io.Writer, d *evaluate.ZoneDetail) {
	now := d.Time
	fmt.Fprintf(w, "zone %s: %s", d.Zone, d.Health)
	if d.Kind != "" {
		fmt.Fprintf(w, " (%s)", d.Kind)
	}
	if d.Control {
		fmt.Fprint(w, ", control zone")
	}
	fmt.Fprintf(w, "\nvantage %s at %s", d.Vantage, now.UTC().Format(time.RFC3339))
	if d.VantageDown {
		fmt.Fprint(w, "  VANTAGE DOWN: verdicts suspended")
	}
	fmt.Fprintln(w)
	if len(d.Failing) > 0 {
		fmt.Fprintf(w, "failing: %s\n", strings.Join(d.Failing, ", "))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(d.Open) > 0 {
		fmt.Fprintf(tw, "\nopen incidents (%d):\n", len(d.Open))
		for _, i := range d.Open {
			fmt.Fprintf(tw, "  %s\t%s\t%s\topened %s\n", i.ID, i.Severity, i.Kind, i.Opened.UTC().Format(time.RFC3339))
		}
	}
	notOK := 0
	for _, s := range d.Servers {
		if s.Health != evaluate.HealthOK || s.RouteWithdrawn {
			notOK++
		}
	}
	fmt.Fprintf(tw, "\nservers: %d, %d not ok\n", len(d.Servers), notOK)
	for _, s := range d.Servers {
		health := s.Health
		if !s.FailingSince.IsZero() {
			health += " for " + ago(now, s.FailingSince)
			health = strings.TrimSuffix(health, " ago")
		}
		if s.Lame {
			health += ", lame"
		}
		kind := string(s.Kind)
		if s.Validating {
			kind += ", validating"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", s.Name, kind, dash(s.Address), dash(string(s.Transport)), health, routeCell(s.Route, s.RouteWithdrawn))
		if len(s.Results) == 0 {
			fmt.Fprintln(tw, "    no result yet")
		}
		for _, r := range s.Results {
			fmt.Fprintf(tw, "    %s %s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Type, resultVerdict(r), resultAnswer(r),
				latency(time.Duration(r.LatencyMS*float64(time.Millisecond))), resultFlags(r), ago(now, r.Time))
		}
	}
	_ = tw.Flush()
	writeZoneFacts(w, d)
}

// writeZoneFacts writes the zone's discovery, DS check, signatures and
// serials.
func writeZoneFacts(w io.Writer, d *evaluate.ZoneDetail) {
	now := d.Time
	if dd := d.Discovery; dd != nil {
		fmt.Fprintf(w, "\nnameservers: %d", len(dd.Nameservers))
		if !dd.Time.IsZero() {
			fmt.Fprintf(w, ", discovered %s", ago(now, dd.Time))
		}
		fmt.Fprintln(w)
		if dd.Error != "" {
			fmt.Fprintf(w, "  last discovery failed: %s\n", dd.Error)
		}
		for _, n := range dd.Nameservers {
			line := "  " + dash(n.Host) + " " + n.Address.String()
			if n.Configured {
				line += " (configured)"
			}
			fmt.Fprintln(w, line)
		}
		if len(dd.ParentNS) > 0 {
			fmt.Fprintf(w, "  parent NS: %s\n", strings.Join(dd.ParentNS, " "))
		}
		if len(dd.ApexNS) > 0 {
			fmt.Fprintf(w, "  zone NS:   %s\n", strings.Join(dd.ApexNS, " "))
		}
		if dd.Delegation != "" {
			fmt.Fprintf(w, "  delegation: %s", dd.Delegation)
			if dd.DelegationDetail != "" {
				fmt.Fprintf(w, " (%s)", dd.DelegationDetail)
			}
			fmt.Fprintln(w)
		}
	}
	if c := d.DSCheck; c != nil {
		fmt.Fprintf(w, "\nDS check: %s, %s\n", c.Status, ago(now, c.Time))
		if c.Detail != "" {
			fmt.Fprintf(w, "  %s\n", c.Detail)
		}
	}
	if x := d.SignatureExpiry; x != nil {
		left := time.Duration(x.Seconds * float64(time.Second))
		when := "in " + roughly(left)
		if left < 0 {
			when = "expired " + roughly(-left) + " ago"
		}
		fmt.Fprintf(w, "\nearliest signature expiry: %s (%s), %s", x.Expiration.UTC().Format(time.RFC3339), when, x.RRset)
		if x.Server != "" {
			fmt.Fprintf(w, " at %s", x.Server)
		}
		fmt.Fprintln(w)
	}
	if len(d.LameServers) > 0 {
		fmt.Fprintf(w, "\nlame servers: %s\n", strings.Join(d.LameServers, ", "))
	}
	if s := d.Serials; s != nil {
		fmt.Fprintf(w, "\nSOA serials: spread %d", s.Spread)
		if !s.Since.IsZero() {
			fmt.Fprintf(w, " for %s", strings.TrimSuffix(ago(now, s.Since), " ago"))
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, x := range s.Servers {
			fmt.Fprintf(tw, "  %s\t%d\n", x.Server, x.Serial)
		}
		_ = tw.Flush()
	}
}

// resultVerdict is "ok", or why the result counts as a failure.
func resultVerdict(r evaluate.ProbeResult) string {
	if r.Success {
		return "ok"
	}
	return dash(r.Failure)
}

// resultAnswer is the rcode, or the error class when no answer came.
func resultAnswer(r evaluate.ProbeResult) string {
	if r.Rcode != "" {
		return r.Rcode
	}
	return dash(string(r.Error))
}

// resultFlags are AA, the EDE codes, the CD=1 retry and the SOA serial.
func resultFlags(r evaluate.ProbeResult) string {
	var f []string
	if r.AA {
		f = append(f, "aa")
	}
	if len(r.EDE) > 0 {
		codes := make([]string, len(r.EDE))
		for i, c := range r.EDE {
			codes[i] = strconv.Itoa(int(c))
		}
		f = append(f, "EDE "+strings.Join(codes, ","))
	}
	if r.CDRetry != "" {
		f = append(f, "CD=1 "+r.CDRetry)
	}
	if r.SOASerial != nil {
		f = append(f, "serial "+strconv.FormatUint(uint64(*r.SOASerial), 10))
	}
	return dash(strings.Join(f, " "))
}

// roughly is a duration in days and hours from two days on ("19d 23h"),
// else to the second.
func roughly(d time.Duration) string {
	if d < 48*time.Hour {
		return d.Truncate(time.Second).String()
	}
	return fmt.Sprintf("%dd %dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
}

package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
)

// WriteIncidentsTable renders an incident.View for `reachmon incidents`: one row per
// incident, then (verbose) each incident's story: the root cause (its
// diagnosis), how it recovers or recovered, and, for open ones, the
// timeline.
func WriteIncidentsTable(w io.Writer, v *incident.View, verbose bool) {
	if len(v.Open) == 0 {
		fmt.Fprintln(w, "no open incidents")
	} else {
		fmt.Fprintf(w, "open incidents (%d):\n", len(v.Open))
		writeIncidentRows(w, v.Open, v.Time)
	}
	if len(v.Recent) > 0 {
		fmt.Fprintf(w, "\nrecently resolved (%d):\n", len(v.Recent))
		writeIncidentRows(w, v.Recent, v.Time)
	}
	if !verbose {
		return
	}
	for _, e := range v.Open {
		fmt.Fprintf(w, "\n%s  %s\n  %s\n", e.ID, e.Headline(), e.RootCause)
		if !e.ImpactAt.IsZero() {
			fmt.Fprintf(w, "  impact expected at %s\n", e.ImpactAt.UTC().Format(time.RFC3339))
		}
		if e.Recovery != "" {
			fmt.Fprintf(w, "  recovering: %s\n", e.Recovery)
		}
		for _, it := range e.Evidence {
			fmt.Fprintf(w, "  %s\n", it)
		}
	}
	for _, e := range v.Recent {
		fmt.Fprintf(w, "\n%s  %s (resolved after %s)\n  %s\n", e.ID, e.Headline(), e.Resolved.Sub(e.Opened).Round(time.Second), e.RootCause)
		if e.Recovery != "" {
			fmt.Fprintf(w, "  recovered: %s\n", e.Recovery)
		}
	}
}

func writeIncidentRows(w io.Writer, es []incident.Entry, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tSEVERITY\tKIND\tSUBJECT\tOPENED\tFOR\tPAGED\tROOT CAUSE")
	for _, e := range es {
		end := now
		if !e.Resolved.IsZero() {
			end = e.Resolved
		}
		paged := "no"
		switch {
		case e.IsSilenced() && e.Paged:
			paged = "yes, silenced"
		case e.IsSilenced():
			paged = "silenced"
		case !e.Pages():
			paged = "info"
		case e.Paged:
			paged = "yes"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Severity, e.Kind, e.Subject,
			e.Opened.UTC().Format("2006-01-02 15:04:05"), end.Sub(e.Opened).Round(time.Second), paged, model.Truncate(e.RootCause, 100))
	}
	_ = tw.Flush()
	for _, e := range es {
		if e.IsSilenced() && e.IsOpen() {
			fmt.Fprintf(w, "  %s %s\n", e.ID, model.Truncate(e.Silenced.Text(), 200))
		}
	}
}

package incident

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/reachmon/reachmon/internal/apiclient"
	"github.com/reachmon/reachmon/internal/model"
)

// Entry is one incident in the API: the incident and whether it paged.
type Entry struct {
	model.Incident
	// Paged is true once a notifier delivered its opening.
	Paged  bool               `json:"paged"`
	Notify *model.NotifyState `json:"notify,omitempty"`
}

// View is the /api/v1/incidents document.
type View struct {
	Schema string    `json:"schema"`
	Time   time.Time `json:"time"`
	// Open incidents, newest first; Recent resolved ones, newest first.
	Open   []Entry `json:"open"`
	Recent []Entry `json:"recent"`
}

// View returns the open incidents and up to limit recent resolved ones
// (limit <= 0: all kept).
func (s *Store) View(limit int) View {
	v := View{Schema: Schema, Time: s.now().UTC(), Open: []Entry{}, Recent: []Entry{}}
	for _, r := range s.Records() {
		e := Entry{Incident: r.Incident, Paged: r.Notify.Delivered != ""}
		if r.Notify != (model.NotifyState{}) {
			n := r.Notify
			e.Notify = &n
		}
		if r.Incident.IsOpen() {
			v.Open = append(v.Open, e)
		} else if limit <= 0 || len(v.Recent) < limit {
			v.Recent = append(v.Recent, e)
		}
	}
	return v
}

// Handler serves GET /api/v1/incidents: open incidents and recent
// resolved ones (?limit=N caps the recent list, default 50; ?state=open
// leaves it out).
func (s *Store) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := 50
		if q := r.URL.Query().Get("limit"); q != "" {
			n, err := strconv.Atoi(q)
			if err != nil || n < 0 {
				http.Error(w, "limit: not a non-negative number", http.StatusBadRequest)
				return
			}
			limit = n
		}
		v := s.View(limit)
		switch r.URL.Query().Get("state") {
		case "", "all":
		case "open":
			v.Recent = []Entry{}
		default:
			http.Error(w, "state: one of open, all", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	})
}

// Fetch gets /api/v1/incidents from a running daemon at baseURL
// ("http://127.0.0.1:9798"). ctx should carry a deadline.
func Fetch(ctx context.Context, hc *http.Client, baseURL string, openOnly bool) (*View, error) {
	var q url.Values
	if openOnly {
		q = url.Values{"state": {"open"}}
	}
	var v View
	if err := apiclient.GetJSON(ctx, hc, baseURL, "/api/v1/incidents", q, &v); err != nil {
		return nil, fmt.Errorf("incident: %w", err)
	}
	if v.Schema != Schema {
		return nil, fmt.Errorf("incident: /api/v1/incidents answered schema %q, want %q", v.Schema, Schema)
	}
	return &v, nil
}

// WriteTable renders a View for `reachmon incidents`: one row per
// incident, then (verbose) each incident's story: the root cause (its
// diagnosis), how it recovers or recovered, and, for open ones, the
// timeline.
func WriteTable(w io.Writer, v *View, verbose bool) {
	if len(v.Open) == 0 {
		fmt.Fprintln(w, "no open incidents")
	} else {
		fmt.Fprintf(w, "open incidents (%d):\n", len(v.Open))
		writeRows(w, v.Open, v.Time)
	}
	if len(v.Recent) > 0 {
		fmt.Fprintf(w, "\nrecently resolved (%d):\n", len(v.Recent))
		writeRows(w, v.Recent, v.Time)
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

func writeRows(w io.Writer, es []Entry, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tSEVERITY\tKIND\tSUBJECT\tOPENED\tFOR\tPAGED\tROOT CAUSE")
	for _, e := range es {
		end := now
		if !e.Resolved.IsZero() {
			end = e.Resolved
		}
		paged := "no"
		switch {
		case e.Silenced:
			paged = "silenced"
		case !e.Pages():
			paged = "info"
		case e.Paged:
			paged = "yes"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Severity, e.Kind, e.Subject,
			e.Opened.UTC().Format("2006-01-02 15:04:05"), end.Sub(e.Opened).Round(time.Second), paged, truncate(e.RootCause, 100))
	}
	_ = tw.Flush()
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

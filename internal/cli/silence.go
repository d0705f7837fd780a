package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/reachmon/reachmon/internal/api"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/silence"
)

// silenceUsage is the silence command's usage line (also in usage).
const silenceUsage = `silence add|list|expire [ID] [--kind K] [--subject PATTERN] [--for D] [--reason TEXT] [--by NAME]
    [--url URL | --config FILE] [--json] [--timeout D]`

// silenceCmd is `reachmon silence add|list|expire`: it changes and lists
// the silences of a running daemon through its API (changes are accepted
// from loopback, or with the [api] token of --config).
func silenceCmd(args []string, stdout, stderr io.Writer) int {
	return daemonCmd("silence", silenceUsage, args, stdout, stderr,
		func(fs *flag.FlagSet) func([]string) (daemonQuery, error) {
			kind := fs.String("kind", "", "add: the one incident kind to silence (default: every kind)")
			subject := fs.String("subject", "", "add: glob over incident subjects, * and ? (\"*.example.com\", \"192.0.2.*\"; \"*\": every subject)")
			dur := fs.Duration("for", 0, "add: how long the silence lasts (\"2h\", \"30m\")")
			reason := fs.String("reason", "", "add: why (required; shown in the incident and its Slack thread)")
			by := fs.String("by", defaultBy(), "add, expire: who silences")
			return func(pos []string) (daemonQuery, error) {
				if len(pos) == 0 {
					return daemonQuery{}, usageError{msg: "name what to do: add, list or expire ID"}
				}
				switch pos[0] {
				case "add":
					req, err := silenceRequest(pos[1:], *kind, *subject, *dur, *reason, *by)
					if err != nil {
						return daemonQuery{}, err
					}
					return daemonQuery{
						fetch: func(ctx context.Context, c *http.Client, base string) (any, error) {
							return api.AddSilence(ctx, c, base, req)
						},
						table: func(w io.Writer, doc any) error {
							s := doc.(*silence.Doc).Silence
							fmt.Fprintf(w, "silence %s added: %s until %s (%s)\n", s.ID, silenceScope(s.Silence),
								s.Ends.UTC().Format(time.RFC3339), s.Ends.Sub(s.Starts).Round(time.Second))
							fmt.Fprintf(w, "expire it with: reachmon silence expire %s\n", s.ID)
							return nil
						},
					}, nil
				case "list":
					if len(pos) > 1 {
						return daemonQuery{}, usageError{msg: fmt.Sprintf("silence list: unexpected arguments %q", pos[1:])}
					}
					return daemonQuery{
						fetch: func(ctx context.Context, c *http.Client, base string) (any, error) {
							return api.FetchSilences(ctx, c, base)
						},
						table: func(w io.Writer, doc any) error { WriteSilences(w, doc.(*silence.View)); return nil },
					}, nil
				case "expire":
					if len(pos) != 2 {
						return daemonQuery{}, usageError{msg: "silence expire: name one silence ID (reachmon silence list shows them)"}
					}
					id := pos[1]
					return daemonQuery{
						fetch: func(ctx context.Context, c *http.Client, base string) (any, error) {
							return api.ExpireSilence(ctx, c, base, id, *by)
						},
						table: func(w io.Writer, doc any) error {
							s := doc.(*silence.Doc).Silence
							fmt.Fprintf(w, "silence %s expired: %s\n", s.ID, silenceScope(s.Silence))
							return nil
						},
					}, nil
				}
				return daemonQuery{}, usageError{msg: fmt.Sprintf("unknown silence command %q: add, list or expire ID", pos[0])}
			}
		})
}

// silenceRequest checks the flags of `silence add` and builds the request.
func silenceRequest(extra []string, kind, subject string, d time.Duration, reason, by string) (silence.Request, error) {
	var missing []string
	switch {
	case len(extra) > 0:
		return silence.Request{}, usageError{msg: fmt.Sprintf("silence add: unexpected arguments %q (quote a reason with spaces)", extra)}
	case kind != "" && !slices.Contains(model.IncidentKinds, model.IncidentKind(kind)):
		return silence.Request{}, usageError{msg: fmt.Sprintf("--kind: %q is not an incident kind (%s)", kind, kindNames())}
	case subject != "" && model.SubjectPattern(subject).Check() != nil:
		return silence.Request{}, usageError{msg: fmt.Sprintf("--subject: %q %v", subject, model.SubjectPattern(subject).Check())}
	case d < 0:
		return silence.Request{}, usageError{msg: fmt.Sprintf("--for: %s is negative", d)}
	case d > silence.MaxDuration:
		return silence.Request{}, usageError{msg: fmt.Sprintf("--for: %s is longer than %s", d, silence.MaxDuration)}
	}
	if subject == "" {
		missing = append(missing, "--subject PATTERN (\"*\" for every subject)")
	}
	if d == 0 {
		missing = append(missing, "--for DURATION")
	}
	if strings.TrimSpace(reason) == "" {
		missing = append(missing, "--reason TEXT")
	}
	if len(missing) > 0 {
		return silence.Request{}, usageError{msg: "silence add needs " + strings.Join(missing, ", ")}
	}
	return silence.Request{Kind: kind, Subject: subject, Duration: d.String(), Reason: reason, CreatedBy: by}, nil
}

// defaultBy is $USER@hostname (who runs the command, on which host).
func defaultBy() string {
	user := os.Getenv("USER")
	if user == "" {
		user = os.Getenv("LOGNAME")
	}
	if user == "" {
		user = "unknown"
	}
	if host, err := os.Hostname(); err == nil && host != "" {
		return user + "@" + host
	}
	return user
}

func kindNames() string {
	s := make([]string, len(model.IncidentKinds))
	for i, k := range model.IncidentKinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// silenceScope is "authoritative_outage of *.example.com, by alice: reason".
func silenceScope(s silence.Silence) string {
	kind := "every kind"
	if s.Kind != "" {
		kind = string(s.Kind)
	}
	return fmt.Sprintf("%s of %s, by %s: %s", kind, s.Subject, s.CreatedBy, s.Reason)
}

// WriteSilences renders the silences document for `reachmon silence list`.
func WriteSilences(w io.Writer, v *silence.View) {
	if len(v.Silences) == 0 {
		fmt.Fprintln(w, "no silences")
	} else {
		fmt.Fprintf(w, "silences (%d):\n", len(v.Silences))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tSTATE\tKIND\tSUBJECT\tSTARTS\tENDS\tBY\tREASON")
		for _, s := range v.Silences {
			kind := string(s.Kind)
			if kind == "" {
				kind = "*"
			}
			by := s.CreatedBy
			if s.ExpiredBy != "" {
				by += " (expired by " + s.ExpiredBy + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.State, kind, s.Subject,
				s.Starts.UTC().Format("2006-01-02 15:04"), s.Ends.UTC().Format("2006-01-02 15:04"), by, model.Truncate(s.Reason, 80))
		}
		_ = tw.Flush()
	}
	if len(v.Maintenance) == 0 {
		return
	}
	fmt.Fprintf(w, "\nmaintenance windows (%d):\n", len(v.Maintenance))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tDAYS\tTIME\tTIMEZONE\tKINDS\tSUBJECT\tSTATE")
	for _, m := range v.Maintenance {
		kinds := strings.Join(m.Kinds, ",")
		if kinds == "" {
			kinds = "*"
		}
		subject := m.Subject
		if subject == "" {
			subject = "*"
		}
		state := "closed, opens " + m.Next.UTC().Format("2006-01-02 15:04 UTC")
		if m.Active {
			state = "OPEN until " + m.Until.UTC().Format("2006-01-02 15:04 UTC")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s-%s\t%s\t%s\t%s\t%s\n", m.Name, strings.Join(m.Weekdays, ","), m.Start, m.End, m.Timezone, kinds, subject, state)
	}
	_ = tw.Flush()
}

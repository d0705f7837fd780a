package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// maxAnswersShown caps the answers printed per row; --json has them all.
const maxAnswersShown = 4

// WriteProbeTable prints a report as a table a dig user reads at a glance.
func WriteProbeTable(w io.Writer, rep ProbeReport) {
	for i, nr := range rep.Names {
		if i > 0 {
			fmt.Fprintln(w)
		}
		head := nr.Name
		if nr.Zone != "" {
			head += "  (zone " + nr.Zone + ")"
		}
		fmt.Fprintln(w, head)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  SERVER\tKIND\tTYPE\tRCODE\tFLAGS\tTIME\tANSWER")
		for _, o := range nr.Observations {
			rcode := o.Rcode
			if o.Error != model.ErrNone {
				rcode = strings.ToUpper(string(o.Error))
			}
			kind := "res"
			if o.Server.Kind == model.KindAuthoritative {
				kind = "auth"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", serverCell(o.Server), kind, o.Type, rcode,
				flags(o), latency(o.Latency), answerCell(o))
		}
		_ = tw.Flush()
		if d := nr.Discovery; d != nil && len(d.Servers) > 0 {
			fmt.Fprintf(w, "  NS      %s\n", nsLine(*d))
		}
		if c := nr.DSCheck; c != nil {
			line := fmt.Sprintf("  DNSSEC  DS vs DNSKEY: %s", c.Status)
			if c.Detail != "" {
				line += ": " + c.Detail
			}
			fmt.Fprintln(w, line)
		}
		if nr.Verdict.Line != "" {
			fmt.Fprintf(w, "  VERDICT %s\n", nr.Verdict.Line)
		}
	}
	fmt.Fprintln(w)
	if rep.OK {
		fmt.Fprintln(w, "ok: every query answered well")
	} else {
		fmt.Fprintf(w, "problems (%d):\n", len(rep.Problems))
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "  - %s\n", p)
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func serverCell(s model.Server) string {
	if s.Name == s.Addr || s.Kind == model.KindResolver && s.Name == "" {
		return s.Addr
	}
	return s.Name + " " + s.Addr
}

func flags(o model.Observation) string {
	var f []string
	for _, x := range []struct {
		on   bool
		name string
	}{{o.AA, "aa"}, {o.AD, "ad"}, {o.TC, "tc"}, {o.RA, "ra"}, {o.TCPFallback, "tcp"}} {
		if x.on {
			f = append(f, x.name)
		}
	}
	if len(f) == 0 {
		return "-"
	}
	return strings.Join(f, " ")
}

func latency(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return d.Round(time.Millisecond).String()
	}
}

// answerCell shows rdata (and the owner where it differs from the query),
// EDE, the CD=1 retry and the SOA serial.
func answerCell(o model.Observation) string {
	var parts []string
	if o.Error != model.ErrNone {
		parts = append(parts, o.ErrorDetail)
	}
	for i, a := range o.Answers {
		if i == maxAnswersShown {
			parts = append(parts, fmt.Sprintf("(+%d more)", len(o.Answers)-i))
			break
		}
		parts = append(parts, shortRR(a, o.Name))
	}
	for _, e := range o.EDE {
		s := fmt.Sprintf("EDE %d %s", e.Code, e.Name)
		if e.Text != "" {
			s += fmt.Sprintf(" %q", e.Text)
		}
		parts = append(parts, s)
	}
	if c := o.CDRetry; c != nil {
		if c.Succeeded {
			parts = append(parts, fmt.Sprintf("CD=1: %s, %s (DNSSEC failure)", c.Rcode, plural(c.Answers, "answer")))
		} else {
			parts = append(parts, "CD=1: "+firstNonEmpty(c.Rcode, string(c.Error)))
		}
	}
	if o.SOASerial != nil && len(o.Answers) == 0 {
		parts = append(parts, fmt.Sprintf("serial %d", *o.SOASerial))
	}
	if len(parts) == 0 && o.Answered() {
		return "(no records)"
	}
	return strings.Join(parts, "; ")
}

// shortRR turns "owner class type rdata" into "type rdata", keeping the
// owner when it is not the query name (CNAME chains).
func shortRR(rr, qname string) string {
	f := strings.Fields(rr)
	if len(f) < 4 || f[1] != "IN" {
		return rr
	}
	s := f[2] + " " + strings.Join(f[3:], " ")
	if !strings.EqualFold(f[0], qname) {
		s = f[0] + " " + s
	}
	return s
}

func nsLine(d model.Discovery) string {
	var parts []string
	for _, s := range d.Servers {
		var src []string
		for _, x := range s.Sources {
			src = append(src, string(x))
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", s.Host, s.Addr.Addr(), strings.Join(src, "+")))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

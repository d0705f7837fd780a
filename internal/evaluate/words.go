package evaluate

import (
	"fmt"
	"strings"
)

// The words of the evaluator: every root cause and probe summary is
// written here from a verdict's finding, the way Alertmanager keeps its
// text in templates. The rules (zone.go, resolver.go, ...) decide on
// facts and never compose sentences.

func (f prefixWithdrawn) rootCause() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Watched prefix %s%s was withdrawn: seen by %d of %d peers",
		f.prefix, described(f.watched.Description), f.seenBy, f.peers)
	if f.lastOrigin != 0 {
		fmt.Fprintf(&b, ", last origin AS%d", f.lastOrigin)
	}
	if len(f.covers) > 0 {
		b.WriteString("; it covers " + strings.Join(f.covers, ", ") + ", which still resolve")
	} else {
		b.WriteString("; no DNS impact observed")
	}
	b.WriteString(".")
	return b.String()
}

func (f feedLost) rootCause() string {
	var b strings.Builder
	if f.neverUp {
		fmt.Fprintf(&b, "The BGP session with %s has not come up since reachmon started", f.peer)
	} else {
		fmt.Fprintf(&b, "The BGP session with %s is down", f.peer)
		if f.reason != "" {
			b.WriteString(" (" + f.reason + ")")
		}
	}
	b.WriteString(": its routes are unknown, not withdrawn")
	if f.othersCarry {
		b.WriteString("; the other sessions still carry the BGP verdicts.")
	} else {
		b.WriteString("; BGP verdicts are suspended until a session is back.")
	}
	return b.String()
}

func (f hijackFound) rootCause() string {
	w := f.watched
	desc := described(w.Description)
	exact, more := f.exact()
	var what string
	switch {
	case exact && more == 0:
		what = fmt.Sprintf("Watched prefix %s%s is", w.Prefix, desc)
	case more == 1 && !exact:
		what = fmt.Sprintf("%s, a more-specific of watched %s%s, is", f.routes[0], w.Prefix, desc)
	case exact:
		what = fmt.Sprintf("Watched prefix %s%s and %d more-specifics inside it are", w.Prefix, desc, more)
	default:
		what = fmt.Sprintf("%d more-specifics of watched %s%s are", more, w.Prefix, desc)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s originated by %s instead of %s (seen by %d of %d peers)",
		what, asList([]uint32{f.origin}), asList(w.Origins), f.seenBy, f.peers)
	if more > 1 || (exact && more > 0) {
		var names []string
		for _, p := range f.routes {
			if p != w.Prefix && len(names) < hijackNamed {
				names = append(names, p.String())
			}
		}
		b.WriteString(": " + strings.Join(names, ", "))
		if more > len(names) {
			fmt.Fprintf(&b, " and %d more", more-len(names))
		}
	}
	if len(f.covers) > 0 {
		b.WriteString("; it covers " + strings.Join(f.covers, ", "))
	}
	if f.tracked > 0 {
		fmt.Fprintf(&b, "; more-specifics of %s beyond the first %d are not tracked", w.Prefix, f.tracked)
	}
	b.WriteString(".")
	return b.String()
}

// described is " (description)" for a watched prefix that has one.
func described(desc string) string {
	if desc == "" {
		return ""
	}
	return " (" + desc + ")"
}

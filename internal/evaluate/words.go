package evaluate

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// The words of the evaluator: every root cause, probe summary, evidence
// line and recovery milestone is written here from facts (a verdict's
// finding, an event, a story), the way Alertmanager keeps its text in
// templates. The rules (zone.go, resolver.go, ...) decide on facts and
// never compose sentences, so the wording can change without touching a
// rule, and a rule can change without rewording. Sections follow the
// incident groups.

// Zone outages (zone.go, negative.go).

func (f zoneOutage) rootCause() string {
	switch f.problem {
	case everyAuthFails:
		visible := " while its routes are visible"
		if f.routesWithdrawn {
			visible = ""
		}
		return fmt.Sprintf("Every authoritative server of %s fails (%s)%s%s.", f.zone, failureList(f.authDown), visible, resolverTail(f.zoneServers))
	case validationFails:
		auth := "the authoritative servers answer"
		if f.authKnown == 0 {
			auth = "the authoritative servers were not probed"
		} else if len(f.authDown) > 0 {
			auth = fmt.Sprintf("%d of %d authoritative servers answer", f.authKnown-len(f.authDown), f.authKnown)
		}
		first := f.sigDown[0]
		text := fmt.Sprintf("DNSSEC validation of %s fails: validating resolvers %s return %s%s while the same query with CD=1 succeeds and %s",
			f.zone, strings.Join(failureNames(f.sigDown), ", "), first.class, edeText(first.ede), auth)
		if why := dsWhy(f.ds); why != "" {
			text += "; " + why
		}
		return text + "."
	case someAuthFail:
		return fmt.Sprintf("%d of %d authoritative servers of %s fail (%s) while their routes are visible%s.",
			len(f.authDown), f.authKnown, f.zone, failureList(f.authDown), resolverTail(f.zoneServers))
	case everyResolverFails:
		return fmt.Sprintf("Every resolver fails for %s (%s) and no authoritative server answer was seen to tell why.",
			f.zone, failureList(f.resDown))
	}
	return fmt.Sprintf("The DS record of %s at the parent matches no DNSKEY the zone serves (%s): validating resolvers will fail once their cached keys expire.",
		f.zone, firstNonEmpty(dsWhy(f.ds), f.ds.Detail))
}

func (f zoneOutage) summary() string {
	switch f.problem {
	case everyAuthFails:
		return "every authoritative server fails: " + failureList(f.authDown)
	case validationFails:
		text := "validating resolvers " + f.sigDown[0].class + ", CD=1 succeeds"
		if why := dsWhy(f.ds); why != "" {
			text += ", " + why
		}
		return text
	case someAuthFail:
		return fmt.Sprintf("%d of %d authoritative servers fail: %s", len(f.authDown), f.authKnown, failureList(f.authDown))
	case everyResolverFails:
		return "every resolver fails (" + failureList(f.resDown) + "), authoritative servers not probed"
	}
	return "resolvers still answer, but " + firstNonEmpty(dsWhy(f.ds), f.ds.Detail)
}

// resolverTail says what the resolvers do while authoritative servers
// fail.
func resolverTail(f zoneServers) string {
	switch {
	case len(f.resDown) > 0 && len(f.resOK) == 0:
		return fmt.Sprintf("; resolvers %s fail too", failureList(f.resDown))
	case len(f.resDown) > 0:
		return fmt.Sprintf("; resolvers %s fail, %s still answer", strings.Join(failureNames(f.resDown), ", "), strings.Join(f.resOK, ", "))
	case len(f.resOK) > 0:
		return "; resolvers still answer"
	}
	return ""
}

// dsWhy says why the DS check failed: "DS key tag 296 has no matching
// DNSKEY" ("" when it did not).
func dsWhy(c *model.DSCheck) string {
	if !dsBad(c) {
		return ""
	}
	if c.Status == model.DSNoDNSKEY {
		tags := make([]string, 0, len(c.DS))
		for _, d := range c.DS {
			tags = append(tags, fmt.Sprint(d.KeyTag))
		}
		return fmt.Sprintf("the parent holds DS key tag %s but the zone serves no DNSKEY", strings.Join(tags, ", "))
	}
	var parts []string
	for _, d := range c.DS {
		if d.Matched {
			continue
		}
		if d.Problem == "" || strings.HasPrefix(d.Problem, "no DNSKEY with key tag") {
			parts = append(parts, fmt.Sprintf("DS key tag %d has no matching DNSKEY", d.KeyTag))
		} else {
			parts = append(parts, fmt.Sprintf("DS key tag %d: %s", d.KeyTag, d.Problem))
		}
	}
	if len(parts) == 0 {
		return c.Detail
	}
	return strings.Join(parts, ", ")
}

func (f bgpOutage) rootCause() string {
	var b strings.Builder
	b.WriteString("The routes to ")
	if f.withdrawn == f.nameservers {
		fmt.Fprintf(&b, "every nameserver of %s", f.zone)
	} else {
		fmt.Fprintf(&b, "%d of %d nameservers of %s", f.withdrawn, f.nameservers, f.zone)
	}
	if len(f.hosts) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(f.hosts, ", "))
	}
	fmt.Fprintf(&b, " were withdrawn from BGP: %s", prefixList(f.prefixes))
	if len(f.origins) > 0 {
		fmt.Fprintf(&b, " (origin %s)", asList(f.origins))
	}
	if len(f.prefixes) == 1 {
		b.WriteString(" is")
	} else {
		b.WriteString(" are")
	}
	b.WriteString(" seen by no peer")
	if len(f.covering) > 0 {
		fmt.Fprintf(&b, ", only the less-specific %s still covers them", prefixList(f.covering))
	}
	switch {
	case f.fromCache:
		b.WriteString("; resolvers still answer from cache")
		switch {
		case f.expireFirst.IsZero():
		case f.expireFirst.Equal(f.expireLast):
			fmt.Fprintf(&b, ": cached answers expire at %s UTC, then resolution fails", clock(f.expireFirst))
		default:
			fmt.Fprintf(&b, ": cached answers expire from %s to %s UTC, then resolution fails", clock(f.expireFirst), clock(f.expireLast))
		}
	case len(f.resDown) > 0:
		fmt.Fprintf(&b, "; resolvers %s fail (%s)", strings.Join(failureNames(f.resDown), ", "), f.resDown[0].class)
	}
	if len(f.authDown) > 0 {
		fmt.Fprintf(&b, "; authoritative servers %s", failureList(f.authDown))
	}
	b.WriteString(".")
	return b.String()
}

func (f negativeFound) rootCause() string {
	switch f.problem {
	case delegationGone:
		return fmt.Sprintf("The parent zone no longer delegates %s: %s; %s %s%s.",
			f.zone, f.parentSays, resolversWord(f.gone), negList(f.gone), authTail(f.zoneServers))
	case delegationGoneCached:
		return fmt.Sprintf("The parent zone no longer delegates %s: %s; resolvers still answer from cache and fail once their cached delegation expires%s.",
			f.zone, f.parentSays, authTail(f.zoneServers))
	case recordGone:
		return fmt.Sprintf("%s gone at %s of %s: %s%s.",
			queryList(f.gone), f.goneAt(), f.zone, negList(f.gone), resolverNegTail(f.zoneServers))
	case recordGoneUnasked:
		return fmt.Sprintf("%s gone: every resolver says so (%s) and neither the parent nor the authoritative servers of %s could be asked to tell whether the record or the delegation went.",
			queryList(f.gone), negList(f.gone), f.zone)
	}
	parent := ""
	if f.parentDelegates {
		parent = " and the parent delegates " + f.zone
	}
	who := resolversWord(f.gone)
	return fmt.Sprintf("%s %s while %s%s: a problem on the resolver side (stale negative cache, filtering or interception), not of the zone.",
		strings.ToUpper(who[:1])+who[1:], negList(f.gone), f.stillAnswer(), parent)
}

func (f negativeFound) summary() string {
	switch f.problem {
	case delegationGone:
		return fmt.Sprintf("the parent no longer delegates the zone (%s); %s %s", f.parentSays, resolversWord(f.gone), negList(f.gone))
	case delegationGoneCached:
		return fmt.Sprintf("the parent no longer delegates the zone (%s); resolvers still answer from cache", f.parentSays)
	case recordGone:
		return fmt.Sprintf("%s gone at %s: %s", queryList(f.gone), f.goneAt(), negList(f.gone))
	case recordGoneUnasked:
		return fmt.Sprintf("%s gone: %s %s; authoritative servers not probed", queryList(f.gone), resolversWord(f.gone), negList(f.gone))
	}
	return fmt.Sprintf("%s %s while %s", resolversWord(f.gone), negList(f.gone), f.stillAnswer())
}

// goneAt names the authoritative servers a record is gone at.
func (f negativeFound) goneAt() string {
	if len(f.gone) >= f.authKnown {
		return "every authoritative server"
	}
	return fmt.Sprintf("%d of %d authoritative servers", len(f.gone), f.authKnown)
}

// stillAnswer says who still answers the name the resolvers say is gone.
func (f negativeFound) stillAnswer() string {
	if f.authKnown == 0 {
		return "resolvers " + strings.Join(f.resOK, ", ") + " answer it"
	}
	if len(f.authAnswer) == 0 {
		return "the authoritative servers answer it"
	}
	q := f.gone[0]
	return "the authoritative servers answer " + q.qname + " " + q.qtype + " " + strings.Join(f.authAnswer, ", ")
}

// resolversWord is "resolver" or "resolvers", for a list of s.
func resolversWord(s []failure) string {
	if len(s) == 1 {
		return "resolver"
	}
	return "resolvers"
}

// negList renders "resolver0, resolver1 answer NXDOMAIN for www.example.
// A", grouping the servers by what they answered.
func negList(s []failure) string {
	type group struct {
		what  string
		names []string
	}
	var groups []*group
	for _, x := range s {
		what := x.class + edeText(x.ede)
		if x.qname != "" {
			what += " for " + x.qname + " " + x.qtype
		}
		i := slices.IndexFunc(groups, func(g *group) bool { return g.what == what })
		if i < 0 {
			groups = append(groups, &group{what: what})
			i = len(groups) - 1
		}
		groups[i].names = append(groups[i].names, x.label)
	}
	parts := make([]string, 0, len(groups))
	for _, g := range groups {
		verb := " answer "
		if len(g.names) == 1 {
			verb = " answers "
		}
		parts = append(parts, strings.Join(g.names, ", ")+verb+g.what)
	}
	return strings.Join(parts, "; ")
}

// queryList names the missing name/type pairs: "www.example. A".
func queryList(s []failure) string {
	var qs []string
	for _, x := range s {
		q := strings.TrimSpace(x.qname + " " + x.qtype)
		if q != "" && !slices.Contains(qs, q) {
			qs = append(qs, q)
		}
	}
	slices.Sort(qs)
	if len(qs) == 0 {
		return "A configured name"
	}
	return strings.Join(qs, ", ") + " is"
}

// authTail says what the authoritative servers do meanwhile.
func authTail(f zoneServers) string {
	switch {
	case f.authKnown == 0:
		return ""
	case len(f.authDown) == 0:
		return "; the authoritative servers still serve the zone"
	case len(f.authDown) == f.authKnown:
		return "; the authoritative servers fail too (" + failureList(f.authDown) + ")"
	}
	return fmt.Sprintf("; %d of %d authoritative servers fail (%s)", len(f.authDown), f.authKnown, failureList(f.authDown))
}

// resolverNegTail says what the resolvers do while the record is gone.
func resolverNegTail(f zoneServers) string {
	switch {
	case len(f.resDown) > 0 && len(f.resOK) == 0:
		return "; " + resolversWord(f.resDown) + " " + negList(f.resDown) + " too"
	case len(f.resDown) > 0:
		return "; " + resolversWord(f.resDown) + " " + negList(f.resDown) + "; " + strings.Join(f.resOK, ", ") + " still answer from cache"
	case len(f.resOK) > 0:
		return "; resolvers still answer from cache"
	}
	return ""
}

// Answer mismatches (mismatch.go).

func (f mismatchFound) rootCause() string {
	return fmt.Sprintf("Unexpected answers for %s: %s: %s.", f.zone, serverRefList(f.who), f.first.text())
}

func (f mismatchFound) summary() string {
	return serverRefList(f.who) + ": " + f.first.text()
}

// text renders "www.example. A answers 192.0.2.9, outside the expected
// 192.0.2.1".
func (m answerMismatch) text() string {
	if m.wantConfigured {
		return fmt.Sprintf("%s %s answers %s, outside the expected %s", m.qname, m.qtype, strings.Join(m.got, ", "), strings.Join(m.want, ", "))
	}
	return fmt.Sprintf("%s %s answers %s while the authoritative servers answer %s", m.qname, m.qtype, strings.Join(m.got, ", "), strings.Join(m.want, ", "))
}

// mismatchEvidence is the evidence line of a server found answering
// unexpectedly.
func mismatchEvidence(s *server) string {
	return serverRefOf(s).String() + ": " + s.wrong.text()
}

// String is "resolver r1" or "authoritative server a.ns (192.0.2.1)".
func (r serverRef) String() string {
	if r.resolver {
		return "resolver " + r.name
	}
	return "authoritative server " + r.label
}

func serverRefList(refs []serverRef) string {
	parts := make([]string, 0, len(refs))
	for _, r := range refs {
		parts = append(parts, r.String())
	}
	return strings.Join(parts, ", ")
}

// Resolver outages (resolver.go).

func (f resolverOutage) rootCause() string {
	scope := "every zone"
	switch f.scope {
	case sinceRouteWithdrawn:
		scope = "every zone probed since its route was withdrawn"
	case nearlyEveryZone:
		scope = fmt.Sprintf("nearly every zone (%d of %d)", f.down, f.known)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Resolver %s fails for %s (%s) while %s answer", f.resolver, scope, f.class, strings.Join(f.answering, ", "))
	if f.ownRoute.IsValid() {
		fmt.Fprintf(&b, "; its own route %s", f.ownRoute)
		if len(f.origins) > 0 {
			fmt.Fprintf(&b, " (origin %s)", asList(f.origins))
		}
		b.WriteString(" was withdrawn from BGP")
	}
	b.WriteString(": the resolver is broken, not the zones.")
	return b.String()
}

func (f resolverOutage) summary() string {
	return fmt.Sprintf("resolver %s fails (%s) while %s answer", f.resolver, f.class, strings.Join(f.answering, ", "))
}

// Vantage down (vantage.go).

func (f vantageDown) rootCause() string {
	what := "every check"
	if len(f.controls) > 0 {
		what = "every control check (" + strings.Join(f.controls, ", ") + ")"
	}
	text := fmt.Sprintf("From vantage %s %s fails", f.vantage, what)
	if f.class != "" {
		text += " (" + f.class + ")"
	}
	return text + ": reachmon's own network or host is down, not the monitored services; other verdicts are suspended until it recovers."
}

func (f interception) rootCause() string {
	what, why := f.what()
	return fmt.Sprintf("From %s %s: %s on reachmon's own network is the likely cause, not the monitored services; other verdicts are suspended until it recovers.",
		vantagePhrase(f.vantage), what, why)
}

func (f interception) summary() string {
	what, _ := f.what()
	return what + ": this vantage's network (an interception proxy or captive portal), not the monitored services"
}

// what says what every resolver does, and why that points at an
// interceptor.
func (f interception) what() (what, why string) {
	names := strings.Join(f.resolvers, ", ")
	switch f.signal {
	case "tls":
		return "every resolver fails the TLS handshake (tls: " + names + ")",
			"certificates that do not match the resolvers' names on every resolver point at a TLS interception proxy"
	case "malformed":
		return "every resolver answers with bytes that are not DNS (malformed: " + names + ")",
			"non-DNS answers from every resolver point at a captive portal or middlebox intercepting DNS"
	case "mixed":
		parts := make([]string, 0, len(f.resolvers))
		for i, r := range f.resolvers {
			parts = append(parts, r+" "+f.classes[i])
		}
		return "every resolver fails at the transport level the way an interceptor does (" + strings.Join(parts, ", ") + ")",
			"TLS certificates that do not match and non-DNS answers point at an interception proxy or captive portal"
	}
	return fmt.Sprintf("every resolver (%s) answers NXDOMAIN for every control zone (%s)", names, strings.Join(f.controls, ", ")),
		"names that must always exist missing at every resolver point at an intercepting resolver or captive portal"
}

// vantagePhrase names a vantage in a root cause: `reachmon probe`'s is
// "this vantage".
func vantagePhrase(vantage string) string {
	if vantage == probeVantage {
		return "this vantage"
	}
	return "vantage " + vantage
}

// Withdrawn prefixes, lost feeds and hijacks (withdrawn.go, feed.go, hijack.go).

func (f prefixWithdrawn) rootCause() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Watched prefix %s%s was withdrawn: seen by %d of %d peers",
		f.prefix, described(f.watched.Description), f.seenBy, f.peers)
	if f.risCarried > 0 {
		fmt.Fprintf(&b, ", withdrawn at %d of %d RIS peers", f.risBy, f.risCarried)
	}
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
	session := "The BGP session with " + f.peer
	if f.feed {
		session = "The " + f.session + " of " + f.peer
	}
	if f.neverUp {
		fmt.Fprintf(&b, "%s has not come up since reachmon started", session)
	} else {
		fmt.Fprintf(&b, "%s is down", session)
		if f.reason != "" {
			b.WriteString(" (" + f.reason + ")")
		}
	}
	if f.feed {
		b.WriteString(": the routes of its peers are unknown, not withdrawn")
	} else {
		b.WriteString(": its routes are unknown, not withdrawn")
	}
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
	if r := f.rpki; r != nil {
		b.WriteString("; " + validationText(r.offending, f.origin, r.offendingState))
		if r.all > 1 {
			fmt.Fprintf(&b, " (%d of %d routes RPKI-invalid)", r.invalid, r.all)
		}
		if r.legitOrigin != 0 {
			b.WriteString("; " + validationText(r.legit, r.legitOrigin, r.legitState))
		}
	}
	b.WriteString(".")
	return b.String()
}

// RPKI (rpki.go).

// maxVRPsNamed bounds the VRPs a sentence names.
const maxVRPsNamed = 4

// validationText tells a route's validation: "198.51.100.0/25 from
// AS64511 is RPKI-invalid: ROA 198.51.100.0/24 maxLength 24 AS64500".
func validationText(p netip.Prefix, origin uint32, val model.Validation) string {
	s := fmt.Sprintf("%s from AS%d is %s", p, origin, val.State.Words())
	if len(val.VRPs) == 0 {
		return s + ": no ROA covers it"
	}
	return s + ": " + vrpList(val.VRPs)
}

// vrpList names VRPs: "ROA 198.51.100.0/24 maxLength 24 AS64500, ROA
// 198.51.100.0/22 maxLength 22 AS64501 and 3 more".
func vrpList(vrps []model.VRP) string {
	parts := make([]string, 0, min(len(vrps), maxVRPsNamed))
	for _, v := range vrps[:min(len(vrps), maxVRPsNamed)] {
		parts = append(parts, v.String())
	}
	s := strings.Join(parts, ", ")
	if n := len(vrps) - len(parts); n > 0 {
		s += fmt.Sprintf(" and %d more", n)
	}
	return s
}

func (f rpkiInvalidFound) rootCause() string {
	var what string
	switch {
	case f.exact:
		what = fmt.Sprintf("Watched prefix %s%s", f.route, described(f.watched.Description))
	case f.watched.Prefix.IsValid() && f.watched.Prefix != f.route:
		what = fmt.Sprintf("%s, a more-specific of watched %s%s,", f.route, f.watched.Prefix, described(f.watched.Description))
	default:
		what = f.route.String()
	}
	var b strings.Builder
	for i, o := range f.origins {
		if i == 0 {
			b.WriteString(what + " from " + strings.TrimPrefix(validationText(f.route, o.origin, o.val), f.route.String()+" from "))
		} else {
			b.WriteString("; from " + strings.TrimPrefix(validationText(f.route, o.origin, o.val), f.route.String()+" from "))
		}
	}
	fmt.Fprintf(&b, "; networks that validate RPKI drop it (announced so at %d of %d peers)", f.seenBy, f.peers)
	if len(f.covers) > 0 {
		b.WriteString("; it covers " + strings.Join(f.covers, ", "))
	}
	b.WriteString(".")
	return b.String()
}

// rpkiChangeEvidence tells that new VRPs changed a route's validation.
func rpkiChangeEvidence(p netip.Prefix, origin uint32, was, is model.Validation) string {
	return fmt.Sprintf("RPKI: %s now (was %s)", validationText(p, origin, is), was.State.Words())
}

// described is " (description)" for a watched prefix that has one.
func described(desc string) string {
	if desc == "" {
		return ""
	}
	return " (" + desc + ")"
}

// Forecasts (forecast.go).

func (f expiryFound) rootCause() string {
	var parts []string
	if x := f.expiring; x != nil {
		left := x.at.Sub(x.asOf)
		var b strings.Builder
		fmt.Fprintf(&b, "the RRSIGs over %s served by %s ", nameList(x.rrsets), nameList(x.servers))
		if left <= 0 {
			fmt.Fprintf(&b, "expired at %s (%s before %s UTC): validating resolvers reject them", utc(x.at), span(-left), clock(x.asOf))
		} else {
			fmt.Fprintf(&b, "expire at %s (in %s as of %s UTC)", utc(x.at), span(left), clock(x.asOf))
			if x.critical {
				fmt.Fprintf(&b, ", closer than the %s TTL of the signed data: validating resolvers will fail before a re-sign reaches them", secs(x.ttl))
			} else {
				fmt.Fprintf(&b, ", within the %s warning horizon: re-sign the zone before then", span(x.horizon))
			}
		}
		parts = append(parts, b.String())
	}
	if x := f.future; x != nil {
		text := fmt.Sprintf("the RRSIG over %s served by %s is valid only from %s, %s after it was served: the signer's clock is ahead",
			x.rrset, x.server, utc(x.inception), span(x.inception.Sub(x.since)))
		if x.critical {
			text += fmt.Sprintf(", by more than the %s of skew even Unbound forgives: validating resolvers reject it", span(x.skew))
		} else {
			text += ", and validators without skew allowance reject it until then"
		}
		parts = append(parts, text)
	}
	return "DNSSEC signatures of " + f.zone + " need attention: " + strings.Join(parts, "; ") + "."
}

func (f expiryFound) summary() string {
	var parts []string
	if x := f.expiring; x != nil {
		parts = append(parts, fmt.Sprintf("RRSIGs expire at %s (in %s)", utc(x.at), span(x.at.Sub(x.asOf))))
	}
	if x := f.future; x != nil {
		parts = append(parts, "an RRSIG starts in the future ("+utc(x.inception)+")")
	}
	return strings.Join(parts, "; ")
}

// expiringSigEvidence tells the earliest expiring signature a server
// serves.
func expiringSigEvidence(en *sigEntry) string {
	return fmt.Sprintf("%s serves the RRSIG over %s expiring %s (inception %s, TTL %s)",
		en.server, en.rrset, utc(en.v.Expiration), utc(en.v.Inception), secs(en.v.TTL))
}

// futureSigEvidence tells a signature valid only from the future.
func futureSigEvidence(x *futureSig) string {
	return fmt.Sprintf("%s serves the RRSIG over %s with inception %s, in the future", x.server, x.rrset, utc(x.inception))
}

func (f delegationFound) rootCause() string {
	return "The delegation of " + f.zone + " is inconsistent: " + f.summary() + "."
}

func (f delegationFound) summary() string {
	texts := make([]string, 0, len(f.issues))
	for _, x := range f.issues {
		texts = append(texts, x.text())
	}
	return strings.Join(texts, "; ")
}

// text says one delegation issue (also its evidence line).
func (x delegationIssue) text() string {
	switch x.problem {
	case nsSetsDiffer:
		var diff []string
		if len(x.onlyParent) > 0 {
			diff = append(diff, "only at the parent: "+strings.Join(x.onlyParent, ", "))
		}
		if len(x.onlyZone) > 0 {
			diff = append(diff, "only in the zone: "+strings.Join(x.onlyZone, ", "))
		}
		return fmt.Sprintf("the parent delegates to %s while the zone's own NS set is %s (%s)",
			strings.Join(x.parentNS, ", "), strings.Join(x.apexNS, ", "), strings.Join(diff, "; "))
	case lameServer:
		return fmt.Sprintf("%s is listed as a nameserver but does not answer authoritatively for %s (%s)", x.lame.label, x.zone, x.lame.class)
	}
	return fmt.Sprintf("the SOA serials of the authoritative servers have differed since %s, longer than %s: %s (zone transfers are failing or stalled)",
		utc(x.since), span(x.after), strings.Join(x.serials, ", "))
}

// serialLabel is "ns1.example.com. (192.0.2.1) serial 2024010101".
func serialLabel(s serialSeen) string { return fmt.Sprintf("%s serial %d", s.label, s.serial) }

// reachmon probe (probe.go).

// probeVerdictOf words the verdict `reachmon probe` shows (no kind: all
// is well).
func probeVerdictOf(v verdict) ProbeVerdict {
	if v.kind == "" {
		return ProbeVerdict{OK: true, Line: "ok: every query answered and the rules found nothing wrong"}
	}
	return ProbeVerdict{Kind: v.kind, Severity: v.severity, Line: v.kind.Title() + ": " + v.short, RootCause: v.rootCause}
}

// probeResolverSummary is `reachmon probe`'s line for a resolver
// failing while others answer.
func probeResolverSummary(name, class string, answering []string) string {
	return "resolver " + name + " " + class + " while " + strings.Join(answering, ", ") + " answer"
}

func (f resolversFailForZone) rootCause() string {
	return "Resolvers " + strings.Join(failureNames(f.down), ", ") + " fail for " + f.zone +
		" while " + strings.Join(f.answering, ", ") + " answer: a problem of those resolvers, or of the path to them."
}

func (f resolversFailForZone) summary() string {
	return "resolver " + failureList(f.down) + " while " + strings.Join(f.answering, ", ") + " answer"
}

// Evidence lines: what each source saw, as an incident's timeline tells it.

// routeEvidence tells a route event; r is the route after it, seen by
// some of total peers; peer names the peer that sent it ("peer
// 192.0.2.1", "router edge1, peer 192.0.2.1 (AS64500)").
func routeEvidence(ev model.RouteEvent, peer string, r *route, total int) string {
	switch ev.Kind {
	case model.RouteWithdraw:
		return fmt.Sprintf("%s withdrawn, seen by %d of %d peers, last origin AS%d (%s)",
			r.prefix, len(r.peers), total, r.lastOrigin, peer)
	case model.RouteOriginChange:
		return fmt.Sprintf("%s origin changed from AS%d to AS%d at %s, seen by %d of %d peers",
			r.prefix, ev.PrevOrigin, ev.Origin, peer, len(r.peers), total)
	case model.RouteMoreSpecific:
		return fmt.Sprintf("%s, a more-specific of %s, appeared with origin AS%d, seen by %d of %d peers",
			r.prefix, r.watched.Prefix, ev.Origin, len(r.peers), total)
	}
	return fmt.Sprintf("%s announced, origin AS%d, seen by %d of %d peers (%s)",
		r.prefix, ev.Origin, len(r.peers), total, peer)
}

// sessionEvidence tells a BGP session event of peer p.
func sessionEvidence(ev model.PeerEvent, p *peer) string {
	switch ev.Kind {
	case model.PeerUp:
		return fmt.Sprintf("BGP session with %s established", p.label())
	case model.PeerSynced:
		how := "End-of-RIB"
		if !ev.ByEndOfRIB {
			how = "initial-sync timeout"
		}
		return fmt.Sprintf("BGP session with %s synced (%s), %d watched routes", p.label(), how, ev.Routes)
	}
	reason := ""
	if ev.Reason != "" {
		reason = " (" + ev.Reason + ")"
	}
	return fmt.Sprintf("BGP session with %s lost%s: its %d watched routes are now unknown", p.label(), reason, ev.Routes)
}

// coverEvidence tells a change of the routes covering address a (after
// the change).
//
// by names the peer whose update withdrew the route (peerRef), "" when a
// session loss or a resync did.
func coverEvidence(ev model.CoverEvent, a *addr, by string) string {
	switch ev.Kind {
	case model.CoverWithdrawn:
		text := fmt.Sprintf("%s: its route %s is withdrawn; no route covers it", a.name(), a.healthy)
		if a.current.IsValid() {
			text = fmt.Sprintf("%s: its most-specific route %s is withdrawn; only the less-specific %s still covers it",
				a.name(), a.healthy, a.current)
		}
		if by != "" {
			text += " (last withdrawn at " + by + ")"
		}
		return text
	case model.CoverRestored:
		peers := 0
		if ev.Current != nil {
			peers = ev.Current.Peers
		}
		return fmt.Sprintf("%s: route %s is visible again (%d peers)", a.name(), a.healthy, peers)
	}
	text := fmt.Sprintf("%s: now covered by the more-specific %s, origin %s", a.name(), ev.Current.Prefix, asList(ev.Current.Origins))
	if ev.UnexpectedOrigin {
		text += " (unexpected origin)"
	}
	return text
}

// serverFailedEvidence tells that a server of a zone was found down
// after rounds failing rounds.
func serverFailedEvidence(s *server, rounds int) string {
	text := fmt.Sprintf("%s: %s %s %s%s", serverRefOf(s), s.qname, s.qtype, s.class, edeText(s.ede))
	if s.sig {
		text += ", with CD=1 it succeeds"
	}
	return fmt.Sprintf("%s (%d rounds)", text, rounds)
}

// resolverFailedEvidence is the resolver's own timeline line of a zone
// it was found failing for.
func resolverFailedEvidence(s *server) string {
	return fmt.Sprintf("resolver %s: %s %s %s%s", s.name, s.qname, s.qtype, s.class, edeText(s.ede))
}

// serverBackEvidence tells that a server answers for zone again.
func serverBackEvidence(s *server, zone string) string {
	return fmt.Sprintf("%s answers %s again", serverRefOf(s), zone)
}

// dsEvidence tells a DS check's new status.
func dsEvidence(c model.DSCheck) string {
	text := "DS vs DNSKEY: " + string(c.Status)
	if c.Detail != "" {
		text += ": " + c.Detail
	}
	return text
}

// delegationEvidence tells what the parent now says of zone: that it no
// longer delegates it, or does again.
func delegationEvidence(zone string, d model.Discovery) string {
	if undelegated(d.Delegation) {
		return fmt.Sprintf("parent of %s: %s", zone, firstNonEmpty(d.DelegationDetail, string(d.Delegation)))
	}
	return fmt.Sprintf("the parent delegates %s again", zone)
}

// resolverRouteGoneEvidence tells a resolver's transport failure after
// its route was withdrawn.
func resolverRouteGoneEvidence(resolver string, o model.Observation) string {
	return fmt.Sprintf("resolver %s: %s %s %s (its route is withdrawn)", resolver, o.Name, o.Type, o.Error)
}

// controlNXDomainEvidence tells a resolver answering NXDOMAIN for a
// control zone rounds times in a row.
func controlNXDomainEvidence(resolver string, o model.Observation, zone string, rounds int) string {
	return fmt.Sprintf("resolver %s: %s %s NXDOMAIN for control zone %s (%d rounds)", resolver, o.Name, o.Type, zone, rounds)
}

// The story of an incident: its recovery milestones and what is material about a change (story.go).

const (
	impactBegan             = "impact began"
	recoveryInterrupted     = "recovery interrupted: the condition is back"
	conditionCleared        = "condition cleared"
	silencedByConfiguration = "silenced by configuration"
)

func reclassifiedFrom(k model.IncidentKind) string { return "reclassified from " + string(k) }

func severityChanged(from, to model.Severity) string {
	return fmt.Sprintf("severity %s -> %s", from, to)
}

func newlyAffectedText(what string) string { return "newly affected: " + what }

// explainedBy is why an incident resolves when another explains it.
func explainedBy(id string) string { return "explained by incident " + id }

// resolvedText is the resolve's evidence line and material.
func resolvedText(reason string) string { return "resolved: " + reason }

func recoveryBegan(recovery string) string { return "recovery began: " + recovery }

// recoveryEvidence is the evidence line of a recovery milestone.
func recoveryEvidence(milestone string) string { return "recovery: " + milestone }

func notOriginatedText(p netip.Prefix, asns []uint32) string {
	return p.String() + " is no longer originated by " + asList(asns)
}

func routeBackText(p netip.Prefix, peers int) string {
	return fmt.Sprintf("%s is seen again (%d peers)", p, peers)
}

// againVerb says that a resolver or server is fine again.
func againVerb(k model.IncidentKind) string {
	if k == model.IncidentAnswerMismatch {
		return "answers as expected again"
	}
	return "answers again"
}

// detailsBack says that a diagnosis's detail went away.
func detailsBack(k model.IncidentKind) string {
	if k == model.IncidentDNSSEC {
		return "the DS record matches a DNSKEY of the zone again"
	}
	return "the detail of the diagnosis is gone"
}

// clearedText says that the condition of an incident of kind k about
// subject cleared.
func clearedText(k model.IncidentKind, subject string) string {
	switch k {
	case model.IncidentBGPOutage, model.IncidentAuthOutage:
		return subject + " resolves again"
	case model.IncidentDNSSEC:
		return subject + " validates again"
	case model.IncidentResolverOutage:
		return "resolver " + subject + " answers again"
	case model.IncidentHijack:
		return "no unexpected origin is seen any more"
	case model.IncidentPrefixWithdrawn:
		return subject + " is seen again"
	case model.IncidentFeedLost:
		return "the session is back"
	case model.IncidentVantageDown:
		return "the checks answer again"
	case model.IncidentAnswerMismatch:
		return "the answers are as expected again"
	case model.IncidentDNSSECExpiry:
		return "the signatures of " + subject + " were renewed past the warning horizon"
	case model.IncidentDelegation:
		return "the delegation of " + subject + " is consistent again"
	case model.IncidentRPKIInvalid:
		return subject + " is no longer RPKI-invalid"
	case model.IncidentDelegationRemoved:
		return subject + " is delegated and resolves again"
	case model.IncidentRecordMissing, model.IncidentResolverNXDomain:
		return "the names of " + subject + " resolve again"
	}
	return "the condition cleared"
}

// line renders the recovery milestones in time order: "routes
// re-announced 15:52:10, resolvers answer again 15:53:40".
func (st *story) line(subject string) string {
	type part struct {
		t    time.Time
		text string
	}
	var parts []part
	d := st.diag
	latest := func(m map[string]time.Time) time.Time {
		var t time.Time
		for _, x := range m {
			if x.After(t) {
				t = x
			}
		}
		return t
	}
	if n := len(st.routes); n > 0 {
		var t time.Time
		for _, x := range st.routes {
			if x.After(t) {
				t = x
			}
		}
		done := "re-announced"
		if d.kind == model.IncidentHijack {
			done = "no longer originated by " + asList(d.asns)
		}
		switch {
		case n == len(d.prefixes) && n == 1:
			parts = append(parts, part{t, fmt.Sprintf("route %s %s %s", d.prefixes[0], done, clock(t))})
		case n == len(d.prefixes):
			parts = append(parts, part{t, fmt.Sprintf("routes %s %s", done, clock(t))})
		default:
			parts = append(parts, part{t, fmt.Sprintf("%d of %d routes %s (latest %s)", n, len(d.prefixes), done, clock(t))})
		}
	}
	names := func(m map[string]time.Time, all []string, one, many string) {
		n := len(m)
		if n == 0 {
			return
		}
		t := latest(m)
		verb := againVerb(d.kind)
		switch {
		case n == len(all) && n == 1:
			parts = append(parts, part{t, fmt.Sprintf("%s %s %s %s", one, all[0], verb, clock(t))})
		case n == len(all):
			parts = append(parts, part{t, fmt.Sprintf("%s %s %s", many, strings.Replace(verb, "answers", "answer", 1), clock(t))})
		default:
			parts = append(parts, part{t, fmt.Sprintf("%d of %d %s %s (latest %s)", n, len(all), many, strings.Replace(verb, "answers", "answer", 1), clock(t))})
		}
	}
	names(st.resolvers, d.resolvers, "resolver", "resolvers")
	names(st.servers, d.servers, "authoritative server", "authoritative servers")
	if !st.details.IsZero() {
		parts = append(parts, part{st.details, detailsBack(d.kind) + " " + clock(st.details)})
	}
	// The condition cleared: said unless resolvers or servers answering
	// again (or a withdrawn prefix seen again) already say it.
	if !st.cleared.IsZero() && len(st.resolvers) == 0 && len(st.servers) == 0 &&
		(d.kind != model.IncidentPrefixWithdrawn || len(st.routes) == 0) && d.kind != model.IncidentHijack {
		parts = append(parts, part{st.cleared, clearedText(d.kind, subject) + " " + clock(st.cleared)})
	}
	slices.SortStableFunc(parts, func(a, b part) int { return a.t.Compare(b.t) })
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.text
	}
	return strings.Join(out, ", ")
}

// newlyAffected says which servers, resolvers and prefixes an update adds
// to the incident ("resolvers resolver1, resolver2; prefix 192.0.2.0/24").
func newlyAffected(before, after *model.Incident) string {
	var parts []string
	list := func(one, many string, xs []string) {
		switch len(xs) {
		case 0:
		case 1:
			parts = append(parts, one+" "+xs[0])
		default:
			parts = append(parts, many+" "+strings.Join(xs, ", "))
		}
	}
	list("resolver", "resolvers", newly(before.Resolvers, after.Resolvers))
	list("server", "servers", newly(before.Servers, after.Servers))
	var ps []string
	for _, p := range newly(before.Prefixes, after.Prefixes) {
		ps = append(ps, p.String())
	}
	list("prefix", "prefixes", ps)
	return strings.Join(parts, "; ")
}

// Lists, names and times as the words write them.

// failureList renders "a.ns (192.0.2.1) timeout, b.ns SERVFAIL".
func failureList(s []failure) string {
	parts := make([]string, 0, len(s))
	for _, x := range s {
		parts = append(parts, x.label+" "+x.class+edeText(x.ede))
	}
	return strings.Join(parts, ", ")
}

func failureNames(s []failure) []string {
	out := make([]string, 0, len(s))
	for _, x := range s {
		out = append(out, x.name)
	}
	return out
}

func prefixList(ps []netip.Prefix) string {
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		parts = append(parts, p.String())
	}
	return strings.Join(parts, ", ")
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05") }

func edeText(e []model.EDE) string {
	if len(e) == 0 {
		return ""
	}
	parts := make([]string, 0, len(e))
	for _, x := range e {
		parts = append(parts, fmt.Sprintf("EDE %d %s", x.Code, x.Name))
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func asList(asns []uint32) string {
	parts := make([]string, 0, len(asns))
	for _, a := range asns {
		parts = append(parts, fmt.Sprintf("AS%d", a))
	}
	return strings.Join(parts, ", ")
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// nameList renders up to four names and how many more.
func nameList(names []string) string {
	const show = 4
	if len(names) <= show {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:show], ", "), len(names)-show)
}

func utc(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func secs(ttl uint32) string { return span(time.Duration(ttl) * time.Second) }

// span renders a duration for people: "3d 4h", "5h 12m", "12m 30s", "45s".
func span(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd %dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh %dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm %ds", d/time.Minute, d%time.Minute/time.Second)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

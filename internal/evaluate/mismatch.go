package evaluate

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/reachmon/reachmon/internal/model"
)

// The mismatch group: a zone's servers answering outside the configured
// expect list, or resolvers disagreeing with the authoritative servers.

// rdatas extracts the rdata of the answers of type qtype from normalised
// answers ("owner CLASS TYPE rdata").
func rdatas(answers []string, qtype string) []string {
	var out []string
	for _, a := range answers {
		f := strings.SplitN(a, " ", 4)
		if len(f) == 4 && f[2] == qtype {
			out = append(out, normRdata(f[3]))
		}
	}
	return out
}

func normRdata(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	return s
}

// expectApplies: expected values are compared only with answers of a
// type they could be (A with IPv4, AAAA with IPv6, names and text with
// the rest; never SOA, whose serial moves).
func expectApplies(expect map[string]bool, qtype string) bool {
	if qtype == "SOA" {
		return false
	}
	for x := range expect {
		a, err := netip.ParseAddr(x)
		switch {
		case err == nil && a.Is4() && qtype == "A":
			return true
		case err == nil && !a.Is4() && qtype == "AAAA":
			return true
		case err != nil && qtype != "A" && qtype != "AAAA":
			return true
		}
	}
	return false
}

// checkAnswers compares a good answer with the expected answers, and a
// resolver's answer with the authoritative servers'.
func (e *Evaluator) checkAnswers(z *zone, srv *server, o model.Observation) {
	rd := rdatas(o.Answers, o.Type)
	key := o.Name + " " + o.Type
	if srv.kind == model.KindAuthoritative && o.Type != "SOA" {
		if z.authAns == nil {
			z.authAns = map[string]map[string][]string{}
		}
		m := z.authAns[key]
		if m == nil {
			m = map[string][]string{}
			z.authAns[key] = m
		}
		m[srv.name] = rd
	}
	var bad *answerMismatch
	switch {
	case len(rd) == 0:
	case len(z.expect) > 0:
		if expectApplies(z.expect, o.Type) && slices.ContainsFunc(rd, func(r string) bool { return !z.expect[r] }) {
			bad = &answerMismatch{qname: o.Name, qtype: o.Type, got: rd, want: sortedKeys(z.expect), wantConfigured: true}
		}
	case srv.kind == model.KindResolver && o.Type != "SOA":
		var union []string
		for _, v := range z.authAns[key] {
			for _, r := range v {
				if !slices.Contains(union, r) {
					union = append(union, r)
				}
			}
		}
		if len(union) > 0 && !slices.ContainsFunc(rd, func(r string) bool { return slices.Contains(union, r) }) {
			slices.Sort(union)
			bad = &answerMismatch{qname: o.Name, qtype: o.Type, got: rd, want: union}
		}
	}
	if bad != nil {
		srv.mismatch = min(srv.mismatch+1, maxRun)
		srv.match = 0
		srv.wrong = bad
		if int(srv.mismatch) >= e.cfg.OpenRounds && !srv.mismatched {
			srv.mismatched = true
			z.ev.add(o.Time, mismatchEvidence(srv))
		}
		return
	}
	srv.mismatch = 0
	srv.match = min(srv.match+1, maxRun)
	if srv.mismatched && int(srv.match) >= e.cfg.ResolveRounds {
		srv.mismatched = false
		z.ev.add(o.Time, srv.name+" answers as expected again")
	}
}

// answerMismatch is an answer outside what was expected: the configured
// answers, or the authoritative servers' answers.
type answerMismatch struct {
	qname, qtype   string
	got, want      []string
	wantConfigured bool // want is the configured expect list
}

// mismatchVerdict: answers outside the expected, or resolvers disagreeing
// with the authoritative servers; suppressed while the zone is down.
func (e *Evaluator) mismatchVerdict(z *zone) verdict {
	v := verdict{known: true, subjectKind: model.SubjectZone}
	if zs := e.slots[slotKey{groupZone, z.key}]; zs != nil && (zs.cond || zs.inc != nil) {
		return v
	}
	var bad []*server
	for _, s := range z.order {
		if s.mismatched {
			bad = append(bad, s)
		}
	}
	if len(bad) == 0 {
		return v
	}
	v.kind, v.severity = model.IncidentAnswerMismatch, model.SeverityWarning
	found := mismatchFound{zone: z.key, first: *bad[0].wrong}
	for _, s := range bad {
		if s.kind == model.KindResolver {
			v.resolvers = append(v.resolvers, s.name)
		} else {
			v.servers = append(v.servers, s.name)
		}
		found.who = append(found.who, serverRefOf(s))
	}
	v.explain(found)
	v.affected = z.names
	v.evidence = slices.Clone(z.ev)
	return v
}

// mismatchFound is the finding of mismatchVerdict.
type mismatchFound struct {
	zone  string
	who   []serverRef    // the servers answering unexpectedly
	first answerMismatch // the first one's latest unexpected answer
}

// serverRef names a server of a zone: a resolver, or an authoritative
// server with its address.
type serverRef struct {
	resolver bool
	name     string
	label    string
}

func serverRefOf(s *server) serverRef {
	return serverRef{resolver: s.kind == model.KindResolver, name: s.name, label: s.label()}
}

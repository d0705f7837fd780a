package evaluate

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// The rules decide on facts and words.go writes the sentences: a
// verdict's finding names the servers, prefixes and origins, its root
// cause is the finding's words, and the words need nothing but the
// finding.

func TestZoneVerdictFindingNamesFailingServers(t *testing.T) {
	tg := Targets{Vantage: "test", Zones: []Zone{{Name: "example.com"}},
		Resolvers: []Resolver{{Name: "r1", Validating: true}, {Name: "r2", Validating: true}}}
	w := newWorld(t, testConfig(), tg)
	w.auth["example.com"] = []authSrv{{"a.ns.example.com", mustAddr("192.0.2.1")}, {"b.ns.example.com", mustAddr("192.0.2.2")}}
	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		if s.Kind == model.KindAuthoritative {
			return failObs(z, s, now, "", model.ErrTimeout)
		}
		return failObs(z, s, now, "SERVFAIL", model.ErrNone)
	}
	w.rounds(4, 30*time.Second)

	v := w.e.zoneVerdict(w.e.zones["example.com"], w.now)
	f, ok := v.finding.(zoneOutage)
	if !ok {
		t.Fatalf("finding %T, want zoneOutage (verdict %+v)", v.finding, v)
	}
	if f.problem != everyAuthFails || f.zone != "example.com" || f.authKnown != 2 {
		t.Fatalf("finding %+v, want every one of 2 authoritative servers of example.com failing", f)
	}
	if got := failureNames(f.authDown); !slices.Equal(got, []string{"a.ns.example.com", "b.ns.example.com"}) || !slices.Equal(got, v.servers) {
		t.Fatalf("failing authoritative servers %v, verdict lists %v", got, v.servers)
	}
	if f.authDown[0].label != "a.ns.example.com (192.0.2.1)" {
		t.Fatalf("authoritative server labelled %q, want its address named", f.authDown[0].label)
	}
	for _, x := range append(slices.Clone(f.authDown), f.resDown...) {
		if x.class == "" || x.qname != "example.com." || x.qtype != "A" {
			t.Fatalf("failure %+v does not say how which query failed", x)
		}
	}
	if !slices.Equal(failureNames(f.resDown), []string{"r1", "r2"}) || f.resDown[0].class != "SERVFAIL" {
		t.Fatalf("failing resolvers %+v, want r1 and r2 with SERVFAIL", f.resDown)
	}
	if v.kind != model.IncidentAuthOutage || v.severity != model.SeverityCritical {
		t.Fatalf("verdict %s/%s, want a critical authoritative outage", v.kind, v.severity)
	}
	if v.rootCause != f.rootCause() || v.short != f.summary() {
		t.Fatalf("the verdict's words are not its finding's:\n%s\n%s", v.rootCause, f.rootCause())
	}
}

func TestWithdrawnVerdictFindingNamesPrefixAndOrigin(t *testing.T) {
	w := watchedWorld(t, testConfig(), "198.51.100.0/24")
	w.withdraw(peers3, "198.51.100.0/24", 64500)
	v := w.e.withdrawnVerdict(w.e.routes[mustPrefix("198.51.100.0/24")])
	f, ok := v.finding.(prefixWithdrawn)
	if !ok {
		t.Fatalf("finding %T, want prefixWithdrawn (verdict %+v)", v.finding, v)
	}
	want := prefixWithdrawn{watched: f.watched, prefix: mustPrefix("198.51.100.0/24"), seenBy: 0, peers: 3, lastOrigin: 64500}
	if f.prefix != want.prefix || f.seenBy != want.seenBy || f.peers != want.peers || f.lastOrigin != want.lastOrigin || len(f.covers) != 0 {
		t.Fatalf("finding %+v, want %+v", f, want)
	}
	if !slices.Equal(v.prefixes, []netip.Prefix{f.prefix}) || !slices.Equal(v.asns, []uint32{f.lastOrigin}) {
		t.Fatalf("verdict lists %v %v disagree with its finding %+v", v.prefixes, v.asns, f)
	}
}

// TestWordsNeedOnlyTheFinding: a finding built by hand, without an
// evaluator, has its root cause.
func TestWordsNeedOnlyTheFinding(t *testing.T) {
	at := time.Date(2021, 10, 4, 15, 50, 0, 0, time.UTC)
	f := bgpOutage{
		zoneServers: zoneServers{zone: "facebook.com", resOK: []string{"r1"}},
		withdrawn:   4, nameservers: 4, hosts: []string{"a.ns.facebook.com", "b.ns.facebook.com"},
		prefixes: []netip.Prefix{mustPrefix("129.134.30.0/24"), mustPrefix("129.134.30.0/23")},
		origins:  []uint32{32934}, covering: []netip.Prefix{mustPrefix("129.134.0.0/17")},
		fromCache: true, expireFirst: at, expireLast: at.Add(time.Minute),
	}
	want := "The routes to every nameserver of facebook.com (a.ns.facebook.com, b.ns.facebook.com) were withdrawn from BGP: " +
		"129.134.30.0/24, 129.134.30.0/23 (origin AS32934) are seen by no peer, only the less-specific 129.134.0.0/17 still covers them; " +
		"resolvers still answer from cache: cached answers expire from 15:50:00 to 15:51:00 UTC, then resolution fails."
	if got := f.rootCause(); got != want {
		t.Fatalf("root cause\n got %s\nwant %s", got, want)
	}
	r := resolverOutage{resolver: "r2", scope: nearlyEveryZone, down: 9, known: 10, class: "timeout", answering: []string{"r1"}}
	if got, want := r.summary(), "resolver r2 fails (timeout) while r1 answer"; got != want {
		t.Fatalf("summary %q, want %q", got, want)
	}
	if got, want := r.rootCause(), "Resolver r2 fails for nearly every zone (9 of 10) (timeout) while r1 answer: the resolver is broken, not the zones."; got != want {
		t.Fatalf("root cause %q, want %q", got, want)
	}
}

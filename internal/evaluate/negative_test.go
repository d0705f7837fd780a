package evaluate

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

func TestNegativeClassification(t *testing.T) {
	res := model.Server{Name: "r", Kind: model.KindResolver}
	auth := model.Server{Name: "ns1.example.com.", Kind: model.KindAuthoritative, Addr: "192.0.2.53:53"}
	obs := func(s model.Server, name, qtype, rcode string, aa bool, answers ...string) model.Observation {
		return model.Observation{Target: "example.com", Server: s, Name: name, Type: qtype, Rcode: rcode, AA: aa, Answers: answers}
	}
	tests := []struct {
		name string
		o    model.Observation
		ok   bool
		want string
	}{
		{"answer", obs(res, "www.example.com.", "A", "NOERROR", false, "www.example.com. IN A 192.0.2.1"), true, ""},
		{"NXDOMAIN", obs(res, "www.example.com.", "A", "NXDOMAIN", false), false, "NXDOMAIN"},
		{"NXDOMAIN at the end of a CNAME chain", obs(res, "www.example.com.", "A", "NXDOMAIN", false, "www.example.com. IN CNAME gone.example.net."), false, "NXDOMAIN"},
		{"NODATA", obs(res, "www.example.com.", "AAAA", "NOERROR", false), false, "NODATA"},
		{"NODATA with other types", obs(res, "www.example.com.", "AAAA", "NOERROR", false, "www.example.com. IN A 192.0.2.1"), false, "NODATA"},
		{"CNAME to follow", obs(res, "www.example.com.", "A", "NOERROR", false, "www.example.com. IN CNAME cdn.example.net."), true, ""},
		{"DNAME to follow", obs(res, "www.example.com.", "A", "NOERROR", false, "example.com. IN DNAME example.net."), true, ""},
		{"authoritative CNAME out of zone", obs(auth, "www.example.com.", "A", "NOERROR", true, "www.example.com. IN CNAME cdn.example.net."), true, ""},
		{"authoritative NXDOMAIN", obs(auth, "www.example.com.", "A", "NXDOMAIN", true), false, "NXDOMAIN"},
		{"authoritative NODATA", obs(auth, "www.example.com.", "A", "NOERROR", true), false, "NODATA"},
		{"referral stays lame", obs(auth, "www.example.com.", "A", "NOERROR", false), false, "lame (AA=0)"},
		{"apex SOA", obs(auth, "example.com.", "SOA", "NOERROR", true, "example.com. IN SOA ns1.example.com. h.example.com. 1 2 3 4 5"), true, ""},
		{"apex SOA missing", obs(res, "example.com.", "SOA", "NOERROR", false), false, "NODATA"},
		{"SOA of another name", obs(res, "www.example.com.", "SOA", "NOERROR", false), true, ""},
		{"SOA of a missing name", obs(res, "www.example.com.", "SOA", "NXDOMAIN", false), false, "NXDOMAIN"},
		{"NS of another name", obs(res, "www.example.com.", "NS", "NOERROR", false), true, ""},
		{"DS of the apex at its own server", obs(auth, "example.com.", "DS", "NOERROR", true), true, ""},
		{"DS of the apex at a resolver", obs(res, "example.com.", "DS", "NOERROR", false), false, "NODATA"},
		{"SERVFAIL is no negative answer", obs(res, "www.example.com.", "A", "SERVFAIL", false), false, "SERVFAIL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, class := classify(tc.o)
			if ok != tc.ok || class != tc.want {
				t.Errorf("classify = %v %q, want %v %q", ok, class, tc.ok, tc.want)
			}
		})
	}
}

// negWorld is example.com with www probed (A) at three resolvers and two
// authoritative servers, whose answers the test switches.
type negWorld struct {
	*world
	res  map[string]string // resolver -> rcode for www (NOERROR: the answer)
	auth string            // rcode of both authoritative servers ("NODATA": NOERROR, no answer)
	// authOne overrides the answer of ns2 when set.
	authOne string
}

var negAuth = []authSrv{{"ns1.example.com.", mustAddr("192.0.2.53")}, {"ns2.example.com.", mustAddr("198.51.100.53")}}

func newNegWorld(t *testing.T, cfg config.Evaluate) *negWorld {
	w := newNegWorldWith(t, cfg)
	w.discover(model.DelegationOK, true)
	return w
}

// newNegWorldWith is a negWorld before its first discovery.
func newNegWorldWith(t *testing.T, cfg config.Evaluate) *negWorld {
	// example.org stays healthy: a resolver failing its only zone would
	// be a resolver outage.
	tg := Targets{Vantage: "test", Zones: []Zone{{Name: "example.com.", Names: []string{"www.example.com."}}, {Name: "example.org."}},
		Resolvers: threeResolvers()}
	w := &negWorld{world: newWorld(t, cfg, tg), res: map[string]string{}, auth: "NOERROR"}
	w.world.auth["example.com"] = negAuth
	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		if z == "example.org" {
			return okObs(z, s, now, "192.0.2.81", 60)
		}
		rcode := w.auth
		if s.Kind == model.KindResolver {
			rcode = w.res[s.Name]
		} else if w.authOne != "" && s.Name == negAuth[1].host {
			rcode = w.authOne
		}
		o := model.Observation{Time: now, Target: z, Server: s, Name: "www.example.com.", Type: "A", Rcode: rcode, MinTTL: 60,
			AA: s.Kind == model.KindAuthoritative, RA: s.Kind == model.KindResolver}
		switch rcode {
		case "", "NOERROR":
			o.Rcode, o.Answers = "NOERROR", []string{"www.example.com. IN A 192.0.2.80"}
		case "NODATA":
			o.Rcode = "NOERROR"
		}
		return o
	}
	return w
}

// discover reports a discovery whose parent said status; without servers
// it is a failed one (a removed delegation leaves none to find).
func (w *negWorld) discover(status model.DelegationStatus, servers bool) {
	d := model.Discovery{Time: w.now, Zone: "example.com.", Delegation: status}
	switch status {
	case model.DelegationOK:
		d.DelegationDetail = "com. server a.gtld-servers.net. (192.5.6.30:53) delegates example.com. to ns1.example.com., ns2.example.com."
	case model.DelegationNXDomain:
		d.DelegationDetail = "com. server a.gtld-servers.net. (192.5.6.30:53) answers NXDOMAIN for example.com."
	case model.DelegationNoNS:
		d.DelegationDetail = "com. server a.gtld-servers.net. (192.5.6.30:53) answers NOERROR without NS records for example.com."
	}
	if servers {
		for _, a := range negAuth {
			d.Servers = append(d.Servers, model.AuthServer{Host: a.host, Addr: netip.AddrPortFrom(a.addr, 53), Sources: []model.AuthSource{model.SourceParent}})
		}
	} else {
		d.Error = "no authoritative server address found for example.com."
	}
	w.apply(d)
}

func (w *negWorld) allResolvers(rcode string) {
	for _, r := range w.resolvers {
		w.res[r] = rcode
	}
}

// only asserts the zone's incidents: one open change of the kind, no
// other kind ever, and returns the incident as it is now (open or last).
func (w *negWorld) only(kind model.IncidentKind) model.Incident {
	w.t.Helper()
	opens := w.opened()
	if len(opens) != 1 || opens[0].Incident.Kind != kind {
		var got []string
		for _, c := range opens {
			got = append(got, string(c.Incident.Kind)+": "+c.Incident.RootCause)
		}
		w.t.Fatalf("opened %q, want one %s", got, kind)
	}
	var last model.Incident
	for _, c := range w.changes {
		if c.Incident.Kind != kind {
			w.t.Errorf("%s change to %s (%s): %s", c.Type, c.Incident.Kind, c.Reason, c.Incident.RootCause)
		}
		last = c.Incident
	}
	return last
}

func (w *negWorld) resolved() bool {
	r := w.of(model.ChangeResolve)
	return len(r) == 1 && len(w.e.Open()) == 0
}

// TestDelegationRemoved: the parent stops delegating example.com (a
// lapsed domain): its servers say NXDOMAIN, the resolvers follow once
// their caches expire, the authoritative servers still serve the zone.
// One incident: a warning while resolvers answer from cache, critical
// once they say NXDOMAIN, naming the parent server and its answer; it
// stays what it is while negative caches expire after the delegation is
// restored, then resolves.
func TestDelegationRemoved(t *testing.T) {
	for _, servers := range []bool{true, false} {
		name := "scheduler keeps the previous servers"
		if !servers {
			name = "failed discovery without servers"
		}
		t.Run(name, func(t *testing.T) {
			w := newNegWorld(t, testConfig())
			w.runFor(2*time.Minute, 30*time.Second)
			if len(w.changes) > 0 {
				t.Fatalf("changes while healthy: %+v", w.changes)
			}
			w.discover(model.DelegationNXDomain, servers)
			w.runFor(time.Minute, 30*time.Second)
			inc := w.only(model.IncidentDelegationRemoved)
			if inc.Severity != model.SeverityWarning {
				t.Errorf("severity %s while resolvers answer from cache, want warning", inc.Severity)
			}
			mustContain(t, "early root cause", inc.RootCause, "no longer delegates example.com",
				"a.gtld-servers.net. (192.5.6.30:53) answers NXDOMAIN for example.com.", "resolvers still answer from cache")

			w.allResolvers("NXDOMAIN")
			w.runFor(3*time.Minute, 30*time.Second)
			inc = w.only(model.IncidentDelegationRemoved)
			if inc.Severity != model.SeverityCritical {
				t.Errorf("severity %s once resolvers say NXDOMAIN, want critical", inc.Severity)
			}
			mustContain(t, "root cause", inc.RootCause, "a.gtld-servers.net. (192.5.6.30:53) answers NXDOMAIN for example.com.",
				"cloudflare, google, quad9 answer NXDOMAIN for www.example.com. A", "the authoritative servers still serve the zone")
			if !slices.Equal(inc.Resolvers, []string{"cloudflare", "google", "quad9"}) {
				t.Errorf("resolvers %v", inc.Resolvers)
			}
			mustContain(t, "timeline", inc.Timeline(), "parent of example.com: com. server a.gtld-servers.net.")

			// Restored at the registry; negative caches live 5 more
			// minutes, and a validating resolver serves the bogus answers
			// it cached meanwhile.
			w.discover(model.DelegationOK, true)
			w.res["google"] = "SERVFAIL"
			w.runFor(5*time.Minute, 30*time.Second)
			inc = w.only(model.IncidentDelegationRemoved)
			if inc.State != model.StateOpen || inc.Severity != model.SeverityCritical {
				t.Errorf("while resolvers answer from their negative cache: %s %s, want the open critical incident", inc.State, inc.Severity)
			}
			w.allResolvers("NOERROR")
			w.runFor(5*time.Minute, 30*time.Second)
			if !w.resolved() {
				t.Fatalf("not resolved after recovery: open %v", w.openKinds())
			}
			w.only(model.IncidentDelegationRemoved)
		})
	}
}

// TestDelegationGoneAtStart: a zone whose parent never delegated it while
// watched (reachmon started after the removal) opens only when resolvers
// say NXDOMAIN too, and as critical at once.
func TestDelegationGoneAtStart(t *testing.T) {
	w := newNegWorldWith(t, testConfig())
	w.world.auth["example.com"] = nil // no server was ever found
	w.discover(model.DelegationNoNS, false)
	w.runFor(2*time.Minute, 30*time.Second)
	if len(w.changes) > 0 {
		t.Fatalf("an incident while resolvers answer and the delegation was never seen: %+v", w.changes)
	}
	w.allResolvers("NXDOMAIN")
	w.runFor(3*time.Minute, 30*time.Second)
	inc := w.only(model.IncidentDelegationRemoved)
	if inc.Severity != model.SeverityCritical {
		t.Errorf("severity %s", inc.Severity)
	}
	mustContain(t, "root cause", inc.RootCause, "answers NOERROR without NS records for example.com.")
}

// TestRecordMissing: a bad zone push deletes www at both authoritative
// servers (NXDOMAIN, or NODATA when only the type goes). The incident
// opens from the authoritative answers while resolvers still answer from
// cache, names the name, type and servers, stays while resolvers' negative
// caches expire after the fix, and resolves.
func TestRecordMissing(t *testing.T) {
	for _, rcode := range []string{"NXDOMAIN", "NODATA"} {
		t.Run(rcode, func(t *testing.T) {
			w := newNegWorld(t, testConfig())
			w.runFor(2*time.Minute, 30*time.Second)
			w.auth = rcode
			w.runFor(2*time.Minute, 30*time.Second)
			inc := w.only(model.IncidentRecordMissing)
			if inc.Severity != model.SeverityCritical {
				t.Errorf("severity %s, want critical (every authoritative server)", inc.Severity)
			}
			mustContain(t, "root cause", inc.RootCause, "www.example.com. A is gone at every authoritative server of example.com: ns1.example.com. (192.0.2.53), ns2.example.com. (198.51.100.53) answer "+rcode+" for www.example.com. A",
				"resolvers still answer from cache")
			if !slices.Equal(inc.Servers, []string{"ns1.example.com.", "ns2.example.com."}) {
				t.Errorf("servers %v", inc.Servers)
			}
			w.allResolvers(rcode)
			w.runFor(2*time.Minute, 30*time.Second)
			inc = w.only(model.IncidentRecordMissing)
			mustContain(t, "root cause", inc.RootCause, "resolvers cloudflare, google, quad9 answer "+rcode+" for www.example.com. A too")

			w.auth = "NOERROR" // the record is back
			w.runFor(4*time.Minute, 30*time.Second)
			if inc = w.only(model.IncidentRecordMissing); inc.State != model.StateOpen {
				t.Errorf("resolved while resolvers still answer %s from their negative cache", rcode)
			}
			w.allResolvers("NOERROR")
			w.runFor(5*time.Minute, 30*time.Second)
			if !w.resolved() {
				t.Fatalf("not resolved after recovery: open %v", w.openKinds())
			}
		})
	}
}

// TestRecordMissingAtOneServer: one authoritative server lost the record
// (a zone push that reached one of two): a warning naming that server.
func TestRecordMissingAtOneServer(t *testing.T) {
	w := newNegWorld(t, testConfig())
	w.runFor(2*time.Minute, 30*time.Second)
	w.authOne = "NXDOMAIN"
	w.runFor(2*time.Minute, 30*time.Second)
	inc := w.only(model.IncidentRecordMissing)
	if inc.Severity != model.SeverityWarning {
		t.Errorf("severity %s, want warning", inc.Severity)
	}
	mustContain(t, "root cause", inc.RootCause, "www.example.com. A is gone at 1 of 2 authoritative servers of example.com: ns2.example.com. (198.51.100.53) answers NXDOMAIN for www.example.com. A")
	w.authOne = ""
	w.runFor(5*time.Minute, 30*time.Second)
	if !w.resolved() {
		t.Fatalf("not resolved: open %v", w.openKinds())
	}
}

// TestResolverNXDomain: one resolver says NXDOMAIN while the authoritative
// servers answer and the parent delegates (a stale negative cache, a
// filter): a warning about the resolver side naming what the authoritative
// servers answer; it resolves when the resolver answers again.
func TestResolverNXDomain(t *testing.T) {
	w := newNegWorld(t, testConfig())
	w.runFor(2*time.Minute, 30*time.Second)
	w.res["quad9"] = "NXDOMAIN"
	w.runFor(30*time.Second, 30*time.Second)
	w.discover(model.DelegationOK, true) // asked again at the onset
	w.runFor(2*time.Minute, 30*time.Second)
	inc := w.only(model.IncidentResolverNXDomain)
	if inc.Severity != model.SeverityWarning || !slices.Equal(inc.Resolvers, []string{"quad9"}) {
		t.Errorf("severity %s resolvers %v, want warning and quad9", inc.Severity, inc.Resolvers)
	}
	mustContain(t, "root cause", inc.RootCause, "Resolver quad9 answers NXDOMAIN for www.example.com. A",
		"the authoritative servers answer www.example.com. A 192.0.2.80", "the parent delegates example.com", "resolver side")
	w.res["quad9"] = "NOERROR"
	w.runFor(5*time.Minute, 30*time.Second)
	if !w.resolved() {
		t.Fatalf("not resolved: open %v", w.openKinds())
	}
}

// TestResolverNXDomainWaitsForTheParent: resolvers begin to say NXDOMAIN
// and the parent was last asked before that. The verdict waits for the
// parent's fresh answer (the scheduler asks at once) rather than paging a
// resolver-side problem first: a removed delegation opens as such, and
// without a fresh answer the resolver verdict opens once the wait is over.
func TestResolverNXDomainWaitsForTheParent(t *testing.T) {
	cfg := testConfig()
	cfg.OpenRounds, cfg.OpenAfter.Duration = 1, 0
	t.Run("the parent no longer delegates", func(t *testing.T) {
		w := newNegWorld(t, cfg)
		w.runFor(time.Minute, 10*time.Second)
		w.allResolvers("NXDOMAIN")
		w.rounds(2, 5*time.Second)
		if n := len(w.opened()); n != 0 {
			t.Fatalf("opened %s before the parent was asked again", w.opened()[0].Incident.Kind)
		}
		w.discover(model.DelegationNXDomain, true)
		w.rounds(2, 5*time.Second)
		if inc := w.only(model.IncidentDelegationRemoved); inc.Severity != model.SeverityCritical {
			t.Errorf("severity %s", inc.Severity)
		}
	})
	t.Run("no fresh answer", func(t *testing.T) {
		w := newNegWorld(t, cfg)
		w.runFor(time.Minute, 10*time.Second)
		w.res["google"] = "NXDOMAIN"
		w.rounds(5, 5*time.Second)
		if n := len(w.opened()); n != 0 {
			t.Fatalf("opened %s before the wait for the parent was over", w.opened()[0].Incident.Kind)
		}
		w.rounds(2, 5*time.Second)
		w.tick(time.Second)
		w.only(model.IncidentResolverNXDomain)
	})
}

// TestEveryResolverNXDomainIsNotOK: the default configuration (control
// zone example.com) behind resolvers that answer NXDOMAIN, with no
// authoritative server found and no parent answer. No zone is ok: when the
// control zone fails too it is the vantage's problem (vantage_down) and
// every zone is degraded; when only the monitored zones get NXDOMAIN each
// is a record_missing incident.
func TestEveryResolverNXDomainIsNotOK(t *testing.T) {
	for _, controlFails := range []bool{true, false} {
		name := "control zone fails too"
		if !controlFails {
			name = "control zone answers"
		}
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.ControlZones = []string{"example.com"}
			tg := Targets{Vantage: "test", Resolvers: threeResolvers()}
			for _, z := range []string{"example.com.", "cloudflare.com.", "wikipedia.org.", "slack.com."} {
				tg.Zones = append(tg.Zones, Zone{Name: z, Names: []string{z}})
			}
			w := newWorld(t, cfg, tg)
			w.probe = func(z string, s model.Server, now time.Time) model.Observation {
				o := model.Observation{Time: now, Target: z, Server: s, Name: z + ".", Type: "SOA", Rcode: "NXDOMAIN", RA: true}
				if z == "example.com" && !controlFails {
					o.Rcode, o.Answers = "NOERROR", []string{"example.com. IN SOA ns.icann.org. noc.dns.icann.org. 1 2 3 4 5"}
				}
				return o
			}
			w.runFor(3*time.Minute, 30*time.Second)
			st := w.e.Snapshot(w.now)
			if len(st.Zones) != 4 {
				t.Fatalf("zones %+v", st.Zones)
			}
			for _, z := range st.Zones {
				if z.Zone == "example.com" && !controlFails {
					continue
				}
				if z.Health == HealthOK {
					t.Errorf("zone %s is ok while every resolver answers NXDOMAIN", z.Zone)
				}
				if !controlFails && z.Kind != model.IncidentRecordMissing {
					t.Errorf("zone %s: kind %q, want record_missing", z.Zone, z.Kind)
				}
			}
			open := w.e.Open()
			if controlFails {
				if len(open) != 1 || open[0].Kind != model.IncidentVantageDown {
					t.Errorf("open %v, want vantage_down", w.openKinds())
				}
				return
			}
			if len(open) != 3 {
				t.Errorf("open %v, want record_missing for each of the three zones", w.openKinds())
			}
			for _, inc := range open {
				mustContain(t, "root cause", inc.RootCause, "every resolver says so", "NXDOMAIN",
					"neither the parent nor the authoritative servers")
			}
		})
	}
}

// TestRecordMissingOneStory: one zone push reaches both servers a probe
// round apart, and the fix too: the page is critical from the start (the
// second server has begun to say NXDOMAIN) and stays critical while the
// fix reaches the servers one after the other.
func TestRecordMissingOneStory(t *testing.T) {
	cfg := testConfig()
	cfg.OpenRounds, cfg.ResolveRounds, cfg.OpenAfter.Duration = 2, 2, 0
	w := newNegWorld(t, cfg)
	w.runFor(time.Minute, 10*time.Second)
	w.authOne = "NXDOMAIN" // ns2 first
	w.rounds(1, 10*time.Second)
	w.auth = "NXDOMAIN"
	w.rounds(3, 10*time.Second)
	opens := w.opened()
	if len(opens) != 1 || opens[0].Incident.Severity != model.SeverityCritical {
		t.Fatalf("opened %+v, want one critical record_missing", opens)
	}
	mustContain(t, "root cause at the page", opens[0].Incident.RootCause, "every authoritative server of example.com")
	w.auth = "NOERROR" // ns1 fixed first, ns2 still NXDOMAIN
	w.rounds(3, 10*time.Second)
	for _, c := range w.changes {
		if c.Incident.Severity != model.SeverityCritical {
			t.Errorf("%s %s (%s): severity %s while the fix reaches the servers", c.Type, c.Incident.Kind, c.Reason, c.Incident.Severity)
		}
	}
	w.authOne = ""
	w.runFor(3*time.Minute, 10*time.Second)
	if !w.resolved() {
		t.Fatalf("not resolved: open %v", w.openKinds())
	}
	w.only(model.IncidentRecordMissing)
}

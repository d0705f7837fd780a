package evaluate

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

var peers3 = []Peer{{Name: "192.0.2.1", ASN: 64501}, {Name: "192.0.2.2", ASN: 64502}, {Name: "192.0.2.3", ASN: 64503}}

func threeResolvers() []Resolver {
	return []Resolver{
		{Name: "cloudflare", Validating: true, Addr: mustAddr("1.1.1.1")},
		{Name: "google", Validating: true, Addr: mustAddr("8.8.8.8")},
		{Name: "quad9", Validating: true, Addr: mustAddr("9.9.9.9")},
	}
}

// bgpUp brings every peer up with an initial table of routes (origin
// asn) and syncs it.
func (w *world) bgpUp(peers []Peer, routes map[string]uint32) {
	var pfx []string
	for p := range routes {
		pfx = append(pfx, p)
	}
	slices.Sort(pfx)
	for _, p := range peers {
		w.apply(model.PeerEvent{Time: w.now, Kind: model.PeerUp, Peer: p.Name, PeerASN: p.ASN})
		for _, s := range pfx {
			w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteAnnounce, Peer: p.Name, PeerASN: p.ASN,
				Prefix: mustPrefix(s), Origin: routes[s], ASPath: []uint32{p.ASN, routes[s]}, Initial: true})
		}
		w.apply(model.PeerEvent{Time: w.now, Kind: model.PeerSynced, Peer: p.Name, PeerASN: p.ASN, Routes: len(pfx), ByEndOfRIB: true})
	}
}

// watchedWorld watches prefix (origin 64500) with peers3 up, synced and
// past the start grace.
func watchedWorld(t *testing.T, cfg config.Evaluate, prefix string) *world {
	t.Helper()
	tg := Targets{Vantage: "test", Peers: peers3,
		Prefixes: []model.WatchedPrefix{{Prefix: mustPrefix(prefix), Origins: []uint32{64500}}}}
	w := newWorld(t, cfg, tg)
	w.bgpUp(peers3, map[string]uint32{prefix: 64500})
	w.tick(3 * time.Minute)
	return w
}

// flap withdraws prefix (origin 64500) at every peer for a minute, then
// announces it for half a minute.
func (w *world) flap(prefix string) {
	w.withdraw(peers3, prefix, 64500)
	for range 4 {
		w.tick(15 * time.Second)
	}
	w.announce(peers3, prefix, 64500)
	w.tick(15 * time.Second)
	w.tick(15 * time.Second)
}

// withdraw withdraws prefix at every peer, one after the other.
func (w *world) withdraw(peers []Peer, prefix string, origin uint32) {
	for i, p := range peers {
		w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteWithdraw, Peer: p.Name, PeerASN: p.ASN,
			Prefix: mustPrefix(prefix), PrevOrigin: origin, VisiblePeers: len(peers) - i - 1})
	}
}

func (w *world) announce(peers []Peer, prefix string, origin uint32) {
	for i, p := range peers {
		w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteAnnounce, Peer: p.Name, PeerASN: p.ASN,
			Prefix: mustPrefix(prefix), Origin: origin, VisiblePeers: i + 1})
	}
}

var fbAuth = []authSrv{
	{"a.ns.facebook.com", mustAddr("129.134.30.12")},
	{"b.ns.facebook.com", mustAddr("129.134.31.12")},
	{"c.ns.facebook.com", mustAddr("185.89.218.12")},
	{"d.ns.facebook.com", mustAddr("185.89.219.12")},
}

var fbRoutes = map[string]uint32{
	"129.134.0.0/17": 32934, "129.134.30.0/23": 32934, "129.134.30.0/24": 32934, "129.134.31.0/24": 32934,
	"185.89.218.0/23": 32934, "185.89.218.0/24": 32934, "185.89.219.0/24": 32934,
}

func facebookWorld(t *testing.T) *world {
	tg := Targets{
		Vantage:   "test",
		Zones:     []Zone{{Name: "facebook.com."}},
		Resolvers: threeResolvers(),
		Prefixes: []model.WatchedPrefix{
			{Prefix: mustPrefix("129.134.0.0/17"), Origins: []uint32{32934}},
			{Prefix: mustPrefix("185.89.218.0/23"), Origins: []uint32{32934}},
		},
		Peers: peers3,
	}
	w := newWorld(t, testConfig(), tg)
	w.auth["facebook.com"] = fbAuth
	w.bgpUp(peers3, fbRoutes)
	d := model.Discovery{Time: w.now, Zone: "facebook.com.", NS: []string{"a.ns.facebook.com."}, TTL: 172800 * time.Second}
	for _, a := range fbAuth {
		d.Servers = append(d.Servers, model.AuthServer{Host: a.host, Addr: netip.AddrPortFrom(a.addr, 53), Sources: []model.AuthSource{model.SourceParent}})
	}
	w.apply(d)
	w.probe = healthy("157.240.1.35", 300)
	return w
}

// coverWithdrawn is what the BGP feed reports when the most-specific route
// to a nameserver is withdrawn.
func coverWithdrawn(now time.Time, a authSrv, healthy, current string) model.CoverEvent {
	ev := model.CoverEvent{Time: now, Kind: model.CoverWithdrawn, Addr: a.addr,
		Roles:   []model.AddressRole{{Kind: "nameserver", Name: "facebook.com."}},
		Healthy: &model.Cover{Prefix: mustPrefix(healthy)}}
	if current != "" {
		ev.Current = &model.Cover{Prefix: mustPrefix(current), Origins: []uint32{32934}, Peers: 3}
		ev.Covering = []model.Cover{*ev.Current}
	}
	return ev
}

func TestFacebook2021(t *testing.T) {
	w := facebookWorld(t)
	w.runFor(10*time.Minute, 30*time.Second) // 15:40:00, all healthy
	if n := len(w.changes); n != 0 {
		t.Fatalf("healthy period produced %d changes: %+v", n, w.changes)
	}

	// 15:40:02: the /24s and /23s holding the nameservers are withdrawn;
	// 129.134.0.0/17 stays.
	w.now = w.now.Add(2 * time.Second)
	for _, p := range []string{"129.134.30.0/24", "129.134.31.0/24", "129.134.30.0/23", "185.89.218.0/24", "185.89.219.0/24", "185.89.218.0/23"} {
		w.withdraw(peers3, p, 32934)
	}
	ch := w.apply(
		coverWithdrawn(w.now, fbAuth[0], "129.134.30.0/24", "129.134.0.0/17"),
		coverWithdrawn(w.now, fbAuth[1], "129.134.31.0/24", "129.134.0.0/17"),
		coverWithdrawn(w.now, fbAuth[2], "185.89.218.0/24", ""),
		coverWithdrawn(w.now, fbAuth[3], "185.89.219.0/24", ""),
	)
	// Early warning: opened at once, resolvers still answer from cache.
	if len(ch) != 1 || ch[0].Type != model.ChangeOpen || ch[0].Incident.Kind != model.IncidentBGPOutage {
		t.Fatalf("want one BGP-caused open at the withdrawal, got %+v", ch)
	}
	inc := ch[0].Incident
	if inc.Subject != "facebook.com" || inc.Severity != model.SeverityCritical {
		t.Errorf("subject %q severity %s", inc.Subject, inc.Severity)
	}
	if want := t0.Add(10*time.Minute + 300*time.Second); !inc.ImpactAt.Equal(want) {
		t.Errorf("impact at %v, want %v (last cached answer + TTL)", inc.ImpactAt, want)
	}
	mustContain(t, "root cause", inc.RootCause, "129.134.30.0/24", "129.134.30.0/23", "129.134.31.0/24",
		"185.89.218.0/24", "185.89.219.0/24", "185.89.218.0/23", "AS32934", "129.134.0.0/17", "from cache",
		"a.ns.facebook.com")
	wantPfx := []netip.Prefix{mustPrefix("129.134.30.0/23"), mustPrefix("129.134.30.0/24"), mustPrefix("129.134.31.0/24"),
		mustPrefix("185.89.218.0/23"), mustPrefix("185.89.218.0/24"), mustPrefix("185.89.219.0/24")}
	if !slices.Equal(inc.Prefixes, wantPfx) {
		t.Errorf("prefixes %v, want %v", inc.Prefixes, wantPfx)
	}
	mustContain(t, "timeline", inc.Timeline(), "15:40:02 129.134.30.0/24 withdrawn, seen by 0 of 3 peers, last origin AS32934")
	t.Logf("opened: %s\n%s", inc.RootCause, inc.Timeline())

	// The nameservers time out; resolvers answer from cache until 15:45:00,
	// then SERVFAIL.
	expiry := t0.Add(15 * time.Minute)
	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		if s.Kind == model.KindAuthoritative {
			return failObs(z, s, now, "", model.ErrTimeout)
		}
		if now.Before(expiry) {
			return okObs(z, s, now, "157.240.1.35", uint32(expiry.Sub(now)/time.Second))
		}
		o := failObs(z, s, now, "SERVFAIL", "")
		o.EDE = []model.EDE{{Code: 22, Name: "No Reachable Authority"}}
		o.CDRetry = &model.CDRetry{Rcode: "SERVFAIL"}
		return o
	}
	w.runFor(20*time.Minute, 30*time.Second)
	if got := w.opened(); len(got) != 1 {
		t.Fatalf("want exactly one incident opened (symptoms suppressed), got %d: %v", len(got), kinds(got))
	}
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentBGPOutage {
		t.Fatalf("open incidents %v", w.openKinds())
	}
	t.Logf("after impact: %s\n%s", open[0].RootCause, open[0].Timeline())
	mustContain(t, "root cause after impact", open[0].RootCause, "resolvers cloudflare, google, quad9 fail (SERVFAIL)", "timeout")
	if !open[0].ImpactAt.IsZero() {
		t.Errorf("impact began but ImpactAt is %v", open[0].ImpactAt)
	}

	// 16:00: routes are back; DNS recovers; resolves after the thresholds.
	for _, p := range []string{"129.134.30.0/23", "129.134.30.0/24", "129.134.31.0/24", "185.89.218.0/23", "185.89.218.0/24", "185.89.219.0/24"} {
		w.announce(peers3, p, 32934)
	}
	for _, a := range fbAuth {
		w.apply(model.CoverEvent{Time: w.now, Kind: model.CoverRestored, Addr: a.addr,
			Roles:   []model.AddressRole{{Kind: "nameserver", Name: "facebook.com."}},
			Current: &model.Cover{Prefix: netip.PrefixFrom(a.addr, 24).Masked(), Peers: 3}})
	}
	w.probe = healthy("157.240.1.35", 300)
	w.runFor(2*time.Minute, 30*time.Second)
	if len(w.of(model.ChangeResolve)) != 0 {
		t.Fatalf("resolved before the resolve threshold")
	}
	for _, c := range w.changes {
		if c.Type == model.ChangeUpdate && c.Incident.Kind != model.IncidentBGPOutage {
			t.Fatalf("reclassified while recovering: %+v", c)
		}
	}
	w.runFor(6*time.Minute, 30*time.Second)
	res := w.of(model.ChangeResolve)
	if len(res) != 1 || res[0].Incident.ID != inc.ID {
		t.Fatalf("want the incident resolved once, got %v", res)
	}
	if len(w.opened()) != 1 {
		t.Fatalf("recovery opened incidents: %v", kinds(w.opened()))
	}
}

func kinds(ch []model.IncidentChange) []string {
	var out []string
	for _, c := range ch {
		out = append(out, fmt.Sprintf("%s %s %s", c.Type, c.Incident.Kind, c.Incident.Subject))
	}
	return out
}

func slackWorld(t *testing.T) *world {
	tg := Targets{Vantage: "test", Zones: []Zone{{Name: "slack.com"}}, Resolvers: threeResolvers()}
	w := newWorld(t, testConfig(), tg)
	w.auth["slack.com"] = []authSrv{{"ns-1.awsdns.com", mustAddr("205.251.192.1")}, {"ns-2.awsdns.net", mustAddr("205.251.194.2")}}
	w.probe = healthy("54.230.1.1", 60)
	return w
}

var slackDS = model.DSCheck{Zone: "slack.com.", Status: model.DSMismatch,
	DS:      []model.DSRecord{{KeyTag: 296, Algorithm: 13, DigestType: 2, Problem: "no DNSKEY with key tag 296"}},
	DNSKEYs: []model.DNSKEYInfo{{KeyTag: 4711, Algorithm: 13, Flags: 257}},
	Detail:  "DS key tag 296 (algorithm 13) has no matching DNSKEY; the zone serves key tags 4711"}

func dnssecFailing(z string, s model.Server, now time.Time) model.Observation {
	if s.Kind == model.KindAuthoritative {
		return okObs(z, s, now, "54.230.1.1", 60)
	}
	o := failObs(z, s, now, "SERVFAIL", "")
	o.EDE = []model.EDE{{Code: 9, Name: "DNSKEY Missing"}}
	o.CDRetry = &model.CDRetry{Rcode: "NOERROR", Answers: 1, Succeeded: true}
	return o
}

func TestSlack2021(t *testing.T) {
	w := slackWorld(t)
	w.runFor(5*time.Minute, 30*time.Second)
	ds := slackDS
	ds.Time = w.now
	w.apply(ds)
	w.probe = dnssecFailing
	w.runFor(10*time.Minute, 30*time.Second)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentDNSSEC || open[0].Severity != model.SeverityCritical {
		t.Fatalf("want one critical DNSSEC incident, got %+v", open)
	}
	if n := len(w.opened()); n != 1 {
		t.Fatalf("opened %d incidents: %v", n, kinds(w.opened()))
	}
	mustContain(t, "root cause", open[0].RootCause, "CD=1 succeeds", "DS key tag 296 has no matching DNSKEY",
		"cloudflare, google, quad9", "SERVFAIL", "EDE 9 DNSKEY Missing", "authoritative servers answer")

	// The DS is removed from the parent: resolvers recover.
	w.apply(model.DSCheck{Time: w.now, Zone: "slack.com.", Status: model.DSUnsigned})
	w.probe = healthy("54.230.1.1", 60)
	w.runFor(5*time.Minute, 30*time.Second)
	if res := w.of(model.ChangeResolve); len(res) != 1 || res[0].Incident.ID != open[0].ID {
		t.Fatalf("want the DNSSEC incident resolved, got %v", kinds(res))
	}
}

func TestDSMismatchEarlyWarning(t *testing.T) {
	w := slackWorld(t)
	w.runFor(2*time.Minute, 30*time.Second)
	ds := slackDS
	ds.Time = w.now
	w.apply(ds)
	w.runFor(2*time.Minute, 30*time.Second)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentDNSSEC || open[0].Severity != model.SeverityWarning {
		t.Fatalf("want a DNSSEC warning while resolvers still answer, got %+v", open)
	}
	w.probe = dnssecFailing
	w.runFor(3*time.Minute, 30*time.Second)
	open = w.e.Open()
	if len(open) != 1 || open[0].Severity != model.SeverityCritical || len(w.opened()) != 1 {
		t.Fatalf("want the same incident raised to critical, got %+v (opened %v)", open, kinds(w.opened()))
	}
	var raised bool
	for _, c := range w.of(model.ChangeUpdate) {
		raised = raised || strings.Contains(c.Reason, "severity warning -> critical")
	}
	if !raised {
		t.Errorf("no update says the severity rose")
	}
}

func TestAuthoritativeOutage(t *testing.T) {
	tg := Targets{Vantage: "test", Zones: []Zone{{Name: "example.com"}}, Resolvers: threeResolvers(), Peers: peers3}
	w := newWorld(t, testConfig(), tg)
	srvs := []authSrv{{"ns1.dyn.example", mustAddr("203.0.113.1")}, {"ns2.dyn.example", mustAddr("203.0.113.2")}}
	w.auth["example.com"] = srvs
	w.bgpUp(peers3, map[string]uint32{"203.0.113.0/24": 33517})
	for _, a := range srvs {
		w.apply(model.CoverEvent{Time: w.now, Kind: model.CoverRestored, Addr: a.addr,
			Roles: []model.AddressRole{{Kind: "nameserver", Name: "example.com."}}, Current: &model.Cover{Prefix: mustPrefix("203.0.113.0/24"), Peers: 3}})
	}
	w.probe = healthy("192.0.2.80", 300)
	w.runFor(3*time.Minute, 30*time.Second)
	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		if s.Kind == model.KindAuthoritative {
			return failObs(z, s, now, "", model.ErrTimeout)
		}
		return failObs(z, s, now, "SERVFAIL", "")
	}
	w.runFor(time.Minute, 30*time.Second) // 2 rounds: below open_rounds
	if len(w.opened()) != 0 {
		t.Fatalf("opened below the round threshold: %v", kinds(w.opened()))
	}
	w.runFor(2*time.Minute, 30*time.Second)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentAuthOutage || open[0].Severity != model.SeverityCritical {
		t.Fatalf("want a critical authoritative outage, got %+v", open)
	}
	mustContain(t, "root cause", open[0].RootCause, "ns1.dyn.example (203.0.113.1) timeout", "routes are visible", "resolvers")
	if !slices.Equal(open[0].Servers, []string{"ns1.dyn.example", "ns2.dyn.example"}) {
		t.Errorf("servers %v", open[0].Servers)
	}
	// Recovery: resolves only after resolve_rounds and resolve_after.
	w.probe = healthy("192.0.2.80", 300)
	w.runFor(90*time.Second, 30*time.Second)
	if len(w.of(model.ChangeResolve)) != 0 {
		t.Fatalf("resolved before resolve_after")
	}
	w.runFor(2*time.Minute, 30*time.Second)
	if len(w.of(model.ChangeResolve)) != 1 {
		t.Fatalf("not resolved after the thresholds: %v", kinds(w.changes))
	}
}

func TestResolverOwnPrefixWithdrawn(t *testing.T) {
	var zones []Zone
	for i := range 5 {
		zones = append(zones, Zone{Name: fmt.Sprintf("zone%d.example", i)})
	}
	tg := Targets{Vantage: "test", Zones: zones, Resolvers: threeResolvers(), Peers: peers3}
	w := newWorld(t, testConfig(), tg)
	w.bgpUp(peers3, map[string]uint32{"1.1.1.0/24": 13335})
	w.apply(model.CoverEvent{Time: w.now, Kind: model.CoverRestored, Addr: mustAddr("1.1.1.1"),
		Roles: []model.AddressRole{{Kind: "resolver", Name: "cloudflare"}}, Current: &model.Cover{Prefix: mustPrefix("1.1.1.0/24"), Peers: 3}})
	w.probe = healthy("192.0.2.1", 300)
	w.runFor(3*time.Minute, 30*time.Second)

	w.withdraw(peers3, "1.1.1.0/24", 13335)
	w.apply(model.CoverEvent{Time: w.now, Kind: model.CoverWithdrawn, Addr: mustAddr("1.1.1.1"),
		Roles: []model.AddressRole{{Kind: "resolver", Name: "cloudflare"}}, Healthy: &model.Cover{Prefix: mustPrefix("1.1.1.0/24")}})
	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		if s.Name == "cloudflare" {
			return failObs(z, s, now, "", model.ErrTimeout)
		}
		return okObs(z, s, now, "192.0.2.1", 300)
	}
	w.runFor(5*time.Minute, 30*time.Second)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentResolverOutage || open[0].Subject != "cloudflare" {
		t.Fatalf("want one resolver outage for cloudflare, got %v", kinds(w.opened()))
	}
	mustContain(t, "root cause", open[0].RootCause, "cloudflare", "every zone", "1.1.1.0/24", "AS13335", "withdrawn", "google, quad9")
	if len(open[0].Affected) != 5 {
		t.Errorf("affected %v", open[0].Affected)
	}
}

func TestHijackMoreSpecific(t *testing.T) {
	tg := Targets{Vantage: "test", Resolvers: threeResolvers(), Peers: peers3,
		Prefixes: []model.WatchedPrefix{{Prefix: mustPrefix("1.1.1.0/24"), Origins: []uint32{13335}}}}
	w := newWorld(t, testConfig(), tg)
	w.bgpUp(peers3, map[string]uint32{"1.1.1.0/24": 13335})
	w.tick(3 * time.Minute)
	ch := w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteMoreSpecific, Peer: peers3[0].Name, PeerASN: peers3[0].ASN,
		Prefix: mustPrefix("1.1.1.1/32"), Origin: 267613, ASPath: []uint32{64501, 267613}, Watched: mustPrefix("1.1.1.0/24"),
		MoreSpecific: true, ExpectedOrigins: []uint32{13335}, UnexpectedOrigin: true, VisiblePeers: 1,
		Covers: []netip.Addr{mustAddr("1.1.1.1")}})
	if len(ch) != 1 || ch[0].Type != model.ChangeOpen || ch[0].Incident.Kind != model.IncidentHijack {
		t.Fatalf("want a hijack opened at once, got %v", kinds(ch))
	}
	inc := ch[0].Incident
	if inc.Subject != "1.1.1.0/24 AS267613" || inc.Severity != model.SeverityCritical {
		t.Errorf("subject %s severity %s", inc.Subject, inc.Severity)
	}
	mustContain(t, "root cause", inc.RootCause, "1.1.1.1/32", "more-specific of watched 1.1.1.0/24", "AS267613", "instead of AS13335",
		"1 of 3 peers", "resolver cloudflare")
	// The expected origin announcing the same more-specific is no hijack.
	w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteAnnounce, Peer: peers3[1].Name, PeerASN: peers3[1].ASN,
		Prefix: mustPrefix("1.1.1.0/25"), Origin: 13335, Watched: mustPrefix("1.1.1.0/24"), MoreSpecific: true})
	if len(w.opened()) != 1 {
		t.Fatalf("an expected origin opened a hijack: %v", kinds(w.opened()))
	}
	// Withdrawn: resolves after bgp_resolve_after.
	w.tick(time.Minute)
	w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteWithdraw, Peer: peers3[0].Name, PeerASN: peers3[0].ASN,
		Prefix: mustPrefix("1.1.1.1/32"), PrevOrigin: 267613})
	w.tick(4 * time.Minute)
	if len(w.of(model.ChangeResolve)) != 0 {
		t.Fatal("resolved before bgp_resolve_after")
	}
	w.tick(time.Minute)
	if res := w.of(model.ChangeResolve); len(res) != 1 || res[0].Incident.ID != inc.ID {
		t.Fatalf("hijack not resolved: %v", kinds(w.changes))
	}
}

func TestHijackOriginChange(t *testing.T) {
	tg := Targets{Vantage: "test", Peers: peers3,
		Prefixes: []model.WatchedPrefix{{Prefix: mustPrefix("205.251.192.0/23"), Origins: []uint32{16509}}}}
	w := newWorld(t, testConfig(), tg)
	w.bgpUp(peers3, map[string]uint32{"205.251.192.0/23": 16509})
	w.tick(3 * time.Minute)
	w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteOriginChange, Peer: peers3[2].Name, PeerASN: peers3[2].ASN,
		Prefix: mustPrefix("205.251.192.0/23"), Origin: 10297, PrevOrigin: 16509})
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentHijack {
		t.Fatalf("origin change to a foreign AS: %v", w.openKinds())
	}
	mustContain(t, "root cause", open[0].RootCause, "Watched prefix 205.251.192.0/23", "AS10297 instead of AS16509")
}

func TestPrefixWithdrawn(t *testing.T) {
	tg := Targets{Vantage: "test", Peers: peers3,
		Prefixes: []model.WatchedPrefix{{Prefix: mustPrefix("198.51.100.0/24"), Origins: []uint32{64500}, Description: "anycast"}}}
	w := newWorld(t, testConfig(), tg)
	w.bgpUp(peers3, map[string]uint32{"198.51.100.0/24": 64500})
	w.tick(3 * time.Minute)
	// One peer withdrawing is below min_peers (2).
	w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteWithdraw, Peer: peers3[0].Name, Prefix: mustPrefix("198.51.100.0/24"), PrevOrigin: 64500})
	w.tick(time.Minute)
	if len(w.opened()) != 0 {
		t.Fatalf("one peer's withdrawal opened %v", kinds(w.opened()))
	}
	w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteWithdraw, Peer: peers3[1].Name, Prefix: mustPrefix("198.51.100.0/24"), PrevOrigin: 64500})
	w.tick(30 * time.Second)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentPrefixWithdrawn || open[0].Severity != model.SeverityWarning {
		t.Fatalf("want prefix withdrawn, got %v", w.openKinds())
	}
	mustContain(t, "root cause", open[0].RootCause, "198.51.100.0/24 (anycast)", "seen by 1 of 3 peers", "AS64500", "no DNS impact")
	mustContain(t, "timeline", open[0].Timeline(), "198.51.100.0/24 withdrawn, seen by 1 of 3 peers, last origin AS64500")
}

func TestFlappingPrefixNoPageStorm(t *testing.T) {
	tg := Targets{Vantage: "test", Peers: peers3,
		Prefixes: []model.WatchedPrefix{{Prefix: mustPrefix("198.51.100.0/24"), Origins: []uint32{64500}}}}
	w := watchedWorld(t, testConfig(), "198.51.100.0/24")
	for range 30 {
		w.flap("198.51.100.0/24")
	}
	if n := len(w.opened()); n != 1 {
		t.Fatalf("30 flaps opened %d incidents, want 1", n)
	}
	if n := len(w.of(model.ChangeResolve)); n != 0 {
		t.Fatalf("resolved %d times while flapping", n)
	}
	// Short blips below open_after never page at all.
	w2 := newWorld(t, testConfig(), tg)
	w2.bgpUp(peers3, map[string]uint32{"198.51.100.0/24": 64500})
	w2.tick(3 * time.Minute)
	for range 30 {
		w2.withdraw(peers3, "198.51.100.0/24", 64500)
		w2.tick(10 * time.Second)
		w2.announce(peers3, "198.51.100.0/24", 64500)
		w2.tick(50 * time.Second)
	}
	if n := len(w2.opened()); n != 0 {
		t.Fatalf("10 s blips opened %d incidents", n)
	}
	w2.tick(11 * time.Minute)
	if n := len(w2.e.slots); n != 0 {
		t.Errorf("%d slots left after fade-off", n)
	}
	// The first world stabilises: one resolve.
	w.tick(6 * time.Minute)
	if n := len(w.of(model.ChangeResolve)); n != 1 {
		t.Fatalf("resolved %d times after the flapping stopped", n)
	}
}

func TestFeedLostWhileDNSFine(t *testing.T) {
	w := facebookWorld(t)
	w.runFor(5*time.Minute, 30*time.Second)
	for _, p := range peers3 {
		w.apply(model.PeerEvent{Time: w.now, Kind: model.PeerDown, Peer: p.Name, PeerASN: p.ASN, Reason: "hold timer expired", Routes: 7})
	}
	w.runFor(10*time.Minute, 30*time.Second)
	for _, c := range w.opened() {
		if c.Incident.Kind != model.IncidentFeedLost {
			t.Fatalf("feed loss opened %s", c.Incident.Kind)
		}
		if c.Incident.Pages() {
			t.Errorf("feed lost pages: %+v", c.Incident)
		}
		mustContain(t, "root cause", c.Incident.RootCause, "unknown, not withdrawn", "hold timer expired", "suspended")
	}
	if n := len(w.opened()); n != 3 {
		t.Fatalf("want one feed-lost incident per session, got %v", kinds(w.opened()))
	}
	// Sessions come back: feed lost resolves.
	w.bgpUp(peers3, fbRoutes)
	w.runFor(3*time.Minute, 30*time.Second)
	if n := len(w.of(model.ChangeResolve)); n != 3 {
		t.Fatalf("want 3 resolves, got %v", kinds(w.changes))
	}
}

func TestFeedLostSuspendsBGPVerdicts(t *testing.T) {
	w := facebookWorld(t)
	w.runFor(5*time.Minute, 30*time.Second)
	for _, p := range peers3 {
		w.apply(model.PeerEvent{Time: w.now, Kind: model.PeerDown, Peer: p.Name, PeerASN: p.ASN})
	}
	// A stale cover event arriving while every session is down must not
	// open a BGP-caused outage.
	w.apply(coverWithdrawn(w.now, fbAuth[0], "129.134.30.0/24", "129.134.0.0/17"),
		coverWithdrawn(w.now, fbAuth[1], "129.134.31.0/24", "129.134.0.0/17"),
		coverWithdrawn(w.now, fbAuth[2], "185.89.218.0/24", ""),
		coverWithdrawn(w.now, fbAuth[3], "185.89.219.0/24", ""))
	w.runFor(3*time.Minute, 30*time.Second)
	for _, c := range w.opened() {
		if c.Incident.Kind != model.IncidentFeedLost {
			t.Fatalf("opened %s while the feed was lost", c.Incident.Kind)
		}
	}
}

func TestStartGraceHoldsBGP(t *testing.T) {
	tg := Targets{Vantage: "test", Peers: peers3,
		Prefixes: []model.WatchedPrefix{{Prefix: mustPrefix("198.51.100.0/24"), Origins: []uint32{64500}}}}
	w := newWorld(t, testConfig(), tg)
	w.bgpUp(peers3, map[string]uint32{"198.51.100.0/24": 64666})
	w.tick(time.Minute)
	if len(w.opened()) != 0 {
		t.Fatalf("opened during the start grace: %v", kinds(w.opened()))
	}
	w.tick(90 * time.Second)
	if open := w.e.Open(); len(open) != 1 || open[0].Kind != model.IncidentHijack {
		t.Fatalf("a hijack in the initial table is not reported after the grace: %v", w.openKinds())
	}
}

func TestPeerGraceUntilSynced(t *testing.T) {
	tg := Targets{Vantage: "test", Peers: peers3[:1],
		Prefixes: []model.WatchedPrefix{{Prefix: mustPrefix("198.51.100.0/24"), Origins: []uint32{64500}}}}
	w := newWorld(t, testConfig(), tg)
	w.tick(3 * time.Minute)
	p := peers3[0]
	w.apply(model.PeerEvent{Time: w.now, Kind: model.PeerUp, Peer: p.Name, PeerASN: p.ASN})
	w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteAnnounce, Peer: p.Name, Prefix: mustPrefix("198.51.100.0/24"), Origin: 64666, Initial: true})
	w.tick(time.Minute)
	for _, c := range w.opened() {
		if c.Incident.Kind == model.IncidentHijack {
			t.Fatalf("hijack verdict before the session synced")
		}
	}
	w.apply(model.PeerEvent{Time: w.now, Kind: model.PeerSynced, Peer: p.Name, PeerASN: p.ASN, Routes: 1})
	var hijack bool
	for _, c := range w.opened() {
		hijack = hijack || c.Incident.Kind == model.IncidentHijack
	}
	if !hijack {
		t.Fatalf("no hijack after sync: %v", kinds(w.changes))
	}
}

func vantageWorld(t *testing.T, controls bool) *world {
	var zones []Zone
	for i := range 6 {
		zones = append(zones, Zone{Name: fmt.Sprintf("zone%d.example", i)})
	}
	cfg := testConfig()
	if controls {
		zones = append(zones, Zone{Name: "control.example"})
		cfg.ControlZones = []string{"control.example."}
	}
	w := newWorld(t, cfg, Targets{Vantage: "fra1", Zones: zones, Resolvers: threeResolvers()})
	for _, z := range zones {
		k := zoneKey(z.Name)
		w.auth[k] = []authSrv{{"ns1." + k, mustAddr("192.0.2.53")}}
	}
	w.probe = healthy("192.0.2.1", 300)
	return w
}

func TestVantageDown(t *testing.T) {
	for _, controls := range []bool{true, false} {
		t.Run(fmt.Sprintf("controls=%v", controls), func(t *testing.T) {
			w := vantageWorld(t, controls)
			w.runFor(3*time.Minute, 30*time.Second)
			w.probe = func(z string, s model.Server, now time.Time) model.Observation {
				return failObs(z, s, now, "", model.ErrUnreachable)
			}
			w.runFor(10*time.Minute, 30*time.Second)
			if n := len(w.opened()); n != 1 || w.opened()[0].Incident.Kind != model.IncidentVantageDown {
				t.Fatalf("want one vantage-down incident, got %v", kinds(w.opened()))
			}
			inc := w.opened()[0].Incident
			if inc.Subject != "fra1" || inc.Pages() {
				t.Errorf("subject %s pages %v", inc.Subject, inc.Pages())
			}
			mustContain(t, "root cause", inc.RootCause, "fra1", "unreachable", "reachmon's own network")
			w.probe = healthy("192.0.2.1", 300)
			w.runFor(10*time.Minute, 30*time.Second)
			if n := len(w.opened()); n != 1 {
				t.Fatalf("recovery opened incidents: %v", kinds(w.opened()))
			}
			if res := w.of(model.ChangeResolve); len(res) != 1 || res[0].Incident.ID != inc.ID {
				t.Fatalf("vantage down not resolved: %v", kinds(w.changes))
			}
		})
	}
}

func TestAnswerMismatch(t *testing.T) {
	tg := Targets{Vantage: "test", Zones: []Zone{{Name: "myetherwallet.com", Expect: []string{"192.0.2.10"}}}, Resolvers: threeResolvers()}
	w := newWorld(t, testConfig(), tg)
	w.auth["myetherwallet.com"] = []authSrv{{"ns-1.awsdns.com", mustAddr("205.251.192.1")}}
	w.probe = healthy("192.0.2.10", 300)
	w.runFor(3*time.Minute, 30*time.Second)
	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		if s.Name == "google" {
			return okObs(z, s, now, "46.161.42.42", 300)
		}
		return okObs(z, s, now, "192.0.2.10", 300)
	}
	w.runFor(3*time.Minute, 30*time.Second)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentAnswerMismatch {
		t.Fatalf("want answer mismatch, got %v", w.openKinds())
	}
	mustContain(t, "root cause", open[0].RootCause, "resolver google", "46.161.42.42", "outside the expected 192.0.2.10")

	// Without expect: a resolver disagreeing with the authoritative servers.
	tg.Zones[0].Expect = nil
	w2 := newWorld(t, testConfig(), tg)
	w2.auth["myetherwallet.com"] = []authSrv{{"ns-1.awsdns.com", mustAddr("205.251.192.1")}}
	w2.probe = w.probe
	w2.runFor(3*time.Minute, 30*time.Second)
	open = w2.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentAnswerMismatch {
		t.Fatalf("want answer mismatch against the authoritative answer, got %v", w2.openKinds())
	}
	mustContain(t, "root cause", open[0].RootCause, "while the authoritative servers answer 192.0.2.10")
}

func TestSilence(t *testing.T) {
	cfg := testConfig()
	cfg.Silence = []config.Silence{{Kinds: []string{"dnssec_failure"}, Subjects: []string{"slack.*"},
		Start: t0, End: t0.Add(time.Hour), Reason: "DNSSEC rollout"}}
	tg := Targets{Vantage: "test", Zones: []Zone{{Name: "slack.com"}}, Resolvers: threeResolvers()}
	w := newWorld(t, cfg, tg)
	w.auth["slack.com"] = []authSrv{{"ns-1.awsdns.com", mustAddr("205.251.192.1")}}
	w.probe = dnssecFailing
	w.runFor(5*time.Minute, 30*time.Second)
	open := w.e.Open()
	if len(open) != 1 || !open[0].IsSilenced() || open[0].Pages() || open[0].Silenced.Reason != "DNSSEC rollout" ||
		open[0].Silenced.ID != "evaluate.silence[0]" || !open[0].Silenced.Until.Equal(t0.Add(time.Hour)) {
		t.Fatalf("want a recorded, silenced incident, got %+v", open)
	}
	// The window ends: the tick tells it in an update (which pages).
	n := len(w.changes)
	w.runFor(time.Hour, 30*time.Second)
	var ended []model.IncidentChange
	for _, c := range w.changes[n:] {
		if c.Material == "silence evaluate.silence[0] by config ended" {
			ended = append(ended, c)
		}
	}
	if open := w.e.Open(); len(open) != 1 || open[0].IsSilenced() {
		t.Fatalf("silence outlived its window: %+v", open)
	}
	if len(ended) != 1 || ended[0].Type != model.ChangeUpdate || ended[0].Incident.IsSilenced() {
		t.Fatalf("want one update telling the silence ended, got %+v", ended)
	}
}

func TestRestartMidIncident(t *testing.T) {
	w := slackWorld(t)
	w.probe = dnssecFailing
	w.runFor(5*time.Minute, 30*time.Second)
	open := w.e.Open()
	if len(open) != 1 {
		t.Fatalf("setup: %v", w.openKinds())
	}
	// Restart: a new evaluator restored from the open incidents.
	w2 := &world{t: t, e: New(testConfig(), Targets{Vantage: "test", Zones: []Zone{{Name: "slack.com"}}, Resolvers: threeResolvers()}),
		now: w.now.Add(10 * time.Second), auth: w.auth, zones: w.zones, resolvers: w.resolvers, probe: dnssecFailing}
	w2.e.Restore(open)
	w2.tick(0)
	w2.runFor(10*time.Minute, 30*time.Second)
	if n := len(w2.opened()); n != 0 {
		t.Fatalf("restart paged again: %v", kinds(w2.opened()))
	}
	for _, c := range w2.changes {
		// Before the first probe after the restart nothing is known:
		// a recovery told then would be false (the outage goes on).
		if strings.Contains(c.Reason, "recovery") || strings.Contains(c.Reason, "again") {
			t.Fatalf("restart told a recovery while the outage went on: %s %q", c.Type, c.Reason)
		}
	}
	if got := w2.e.Open(); len(got) != 1 || got[0].ID != open[0].ID {
		t.Fatalf("restored incident lost: %+v", got)
	}
	w2.probe = healthy("54.230.1.1", 60)
	w2.runFor(5*time.Minute, 30*time.Second)
	if res := w2.of(model.ChangeResolve); len(res) != 1 || res[0].Incident.ID != open[0].ID {
		t.Fatalf("restored incident not resolved: %v", kinds(w2.changes))
	}
	// A restored incident whose subject is gone from the config resolves.
	w3 := &world{t: t, e: New(testConfig(), Targets{Vantage: "test"}), now: w.now}
	w3.e.Restore(open)
	w3.tick(0)
	w3.tick(3 * time.Minute)
	if res := w3.of(model.ChangeResolve); len(res) != 1 {
		t.Fatalf("orphan restored incident not resolved: %v", kinds(w3.changes))
	}
}

func TestJudgeProbeSnapshot(t *testing.T) {
	at := t0
	res := func(name string) model.Server {
		return model.Server{Name: name, Kind: model.KindResolver, Addr: name, Validating: true}
	}
	auth := model.Server{Name: "ns-1.awsdns.com", Kind: model.KindAuthoritative, Addr: "205.251.192.1:53"}
	ds := slackDS
	tests := []struct {
		name string
		snap ProbeSnapshot
		kind model.IncidentKind
		line string
	}{
		{"slack", ProbeSnapshot{Zone: "slack.com", DSCheck: &ds, Observations: []model.Observation{
			dnssecFailing("slack.com", res("cloudflare"), at), dnssecFailing("slack.com", res("google"), at),
			dnssecFailing("slack.com", auth, at)}},
			model.IncidentDNSSEC, "DNSSEC failure: validating resolvers SERVFAIL, CD=1 succeeds, DS key tag 296 has no matching DNSKEY"},
		{"healthy", ProbeSnapshot{Zone: "example.com", Observations: []model.Observation{
			okObs("example.com", res("cloudflare"), at, "192.0.2.1", 60), okObs("example.com", auth, at, "192.0.2.1", 60)}},
			"", "ok: every query answered and the rules found nothing wrong"},
		{"auth down", ProbeSnapshot{Zone: "example.com", Observations: []model.Observation{
			failObs("example.com", res("cloudflare"), at, "SERVFAIL", ""), failObs("example.com", auth, at, "", model.ErrTimeout)}},
			model.IncidentAuthOutage, "authoritative outage: every authoritative server fails: ns-1.awsdns.com (205.251.192.1) timeout"},
		{"one resolver", ProbeSnapshot{Zone: "example.com", Observations: []model.Observation{
			failObs("example.com", res("cloudflare"), at, "", model.ErrTimeout), okObs("example.com", res("google"), at, "192.0.2.1", 60)}},
			model.IncidentResolverOutage, "resolver outage: resolver cloudflare timeout while google answer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := Judge(tc.snap)
			if v.Kind != tc.kind || v.Line != tc.line || v.OK != (tc.kind == "") {
				t.Errorf("got %+v\nwant kind %q line %q", v, tc.kind, tc.line)
			}
		})
	}
}

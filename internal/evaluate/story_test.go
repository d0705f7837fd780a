package evaluate

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// materialWords are the changes that are always material.
var materialWords = []string{"severity ", "reclassified", "newly affected", "recovery began", "impact began"}

// checkMaterial asserts that an update's Material says exactly what of its
// reason is material, and returns the material updates.
func checkMaterial(t *testing.T, changes []model.IncidentChange) []model.IncidentChange {
	t.Helper()
	var out []model.IncidentChange
	for _, c := range changes {
		switch c.Type {
		case model.ChangeOpen, model.ChangeResolve:
			if c.Material == "" {
				t.Errorf("%s of %s without Material", c.Type, c.Incident.ID)
			}
			continue
		}
		for _, w := range materialWords {
			if strings.Contains(c.Reason, w) && !strings.Contains(c.Material, w) {
				t.Errorf("update %q: %q is material but Material is %q", c.Reason, w, c.Material)
			}
		}
		if c.Material != "" {
			out = append(out, c)
			for _, w := range []string{"time to impact", "root cause", "evidence"} {
				if strings.Contains(c.Material, w) {
					t.Errorf("Material %q names %q, which is never material", c.Material, w)
				}
			}
		}
	}
	return out
}

func lastOf(t *testing.T, w *world, typ model.ChangeType) model.Incident {
	t.Helper()
	ch := w.of(typ)
	if len(ch) == 0 {
		t.Fatalf("no %s change: %v", typ, kinds(w.changes))
	}
	return ch[len(ch)-1].Incident
}

// announceCover re-announces prefixes at every peer and reports the
// nameserver's route visible again.
func (w *world) announceCover(a authSrv, prefixes ...string) {
	for _, p := range prefixes {
		w.announce(peers3, p, 32934)
	}
	w.apply(model.CoverEvent{Time: w.now, Kind: model.CoverRestored, Addr: a.addr,
		Roles:   []model.AddressRole{{Kind: "nameserver", Name: "facebook.com."}},
		Current: &model.Cover{Prefix: netip.PrefixFrom(a.addr, 24).Masked(), Peers: 3}})
}

// withdrawFacebook withdraws, two seconds on, the /24s and /23s that
// cover facebook.com's four nameservers (the /17 stays) and returns them.
func (w *world) withdrawFacebook() []string {
	w.now = w.now.Add(2 * time.Second)
	all := []string{"129.134.30.0/24", "129.134.31.0/24", "129.134.30.0/23", "185.89.218.0/24", "185.89.219.0/24", "185.89.218.0/23"}
	for _, p := range all {
		w.withdraw(peers3, p, 32934)
	}
	w.apply(
		coverWithdrawn(w.now, fbAuth[0], "129.134.30.0/24", "129.134.0.0/17"),
		coverWithdrawn(w.now, fbAuth[1], "129.134.31.0/24", "129.134.0.0/17"),
		coverWithdrawn(w.now, fbAuth[2], "185.89.218.0/24", ""),
		coverWithdrawn(w.now, fbAuth[3], "185.89.219.0/24", ""),
	)
	return all
}

// TestStoryFacebookPartialRecovery: the routes come back one nameserver
// at a time while the nameservers still time out. The verdict passes
// through "the routes to 1 of 4 nameservers"; the incident keeps "every
// nameserver" and the six prefixes, tells the recovery as milestones,
// and resolves with the diagnosis of the page.
func TestStoryFacebookPartialRecovery(t *testing.T) {
	w := facebookWorld(t)
	w.runFor(10*time.Minute, 30*time.Second)
	all := w.withdrawFacebook()
	page := lastOf(t, w, model.ChangeOpen)
	expiry := t0.Add(15 * time.Minute)
	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		if s.Kind == model.KindAuthoritative {
			return failObs(z, s, now, "", model.ErrTimeout)
		}
		if now.Before(expiry) {
			return okObs(z, s, now, "157.240.1.35", uint32(expiry.Sub(now)/time.Second))
		}
		return failObs(z, s, now, "SERVFAIL", "")
	}
	w.runFor(10*time.Minute, 30*time.Second)
	diag := w.e.Open()[0]
	mustContain(t, "diagnosis", diag.RootCause, "every nameserver of facebook.com", "resolvers cloudflare, google, quad9 fail")
	if diag.Recovery != "" {
		t.Errorf("recovery %q before any recovery", diag.Recovery)
	}

	// 15:50:02: three of the four nameservers' routes come back; the
	// nameservers still time out.
	w.announceCover(fbAuth[0], "129.134.30.0/23", "129.134.30.0/24")
	w.announceCover(fbAuth[1], "129.134.31.0/24")
	w.announceCover(fbAuth[2], "185.89.218.0/24")
	w.runFor(2*time.Minute, 30*time.Second)
	if v := w.e.zoneVerdict(w.e.zones["facebook.com"], w.now); !strings.Contains(v.rootCause, "1 of 4 nameservers") {
		t.Fatalf("the lab of this test is wrong: the verdict should be partial now: %s", v.rootCause)
	}
	open := w.e.Open()[0]
	if open.RootCause != diag.RootCause || len(open.Prefixes) != 6 || open.Severity != model.SeverityCritical {
		t.Errorf("the diagnosis regressed while recovering:\n%s\nprefixes %v", open.RootCause, open.Prefixes)
	}
	mustContain(t, "recovery line", open.Recovery, "4 of 6 routes re-announced (latest 15:50:02)")
	mustContain(t, "timeline", open.Timeline(), "15:50:02 recovery: 129.134.30.0/23 is seen again (3 peers)")

	// The rest comes back and DNS recovers.
	w.announceCover(fbAuth[3], "185.89.218.0/23", "185.89.219.0/24")
	w.probe = healthy("157.240.1.35", 300)
	w.runFor(10*time.Minute, 30*time.Second)
	res := lastOf(t, w, model.ChangeResolve)
	if res.ID != page.ID || len(w.opened()) != 1 {
		t.Fatalf("want the paged incident resolved, got %v", kinds(w.changes))
	}
	if res.RootCause != diag.RootCause {
		t.Errorf("resolved with another story:\n%s\nthe diagnosis was:\n%s", res.RootCause, diag.RootCause)
	}
	for _, p := range all {
		if !strings.Contains(res.RootCause, p) {
			t.Errorf("resolved root cause lacks %s", p)
		}
	}
	mustContain(t, "recovery line", res.Recovery, "routes re-announced 15:52:02", "resolvers answer again")
	if strings.Index(res.Recovery, "routes") > strings.Index(res.Recovery, "resolvers") {
		t.Errorf("recovery milestones out of order: %s", res.Recovery)
	}
	mat := checkMaterial(t, w.changes)
	began := 0
	for _, c := range mat {
		if strings.Contains(c.Material, "recovery began") {
			began++
			mustContain(t, "recovery began", c.Material, "routes re-announced")
		}
		t.Logf("material: %s", c.Material)
	}
	// Impact began, the three resolvers failing one after the other (one
	// probe each in the same round), recovery began.
	if began != 1 || len(mat) > 5 {
		t.Errorf("%d material updates (%d saying recovery began), want at most 5 and one", len(mat), began)
	}
}

// TestStoryResolverKeepsOwnRoute: the resolver's route is re-announced a
// round before it answers again; the resolved record still says its own
// route was withdrawn from BGP and tells both milestones.
func TestStoryResolverKeepsOwnRoute(t *testing.T) {
	var zones []Zone
	for _, z := range []string{"a.example", "b.example", "c.example"} {
		zones = append(zones, Zone{Name: z})
	}
	w := newWorld(t, testConfig(), Targets{Vantage: "test", Zones: zones, Resolvers: threeResolvers(), Peers: peers3})
	w.bgpUp(peers3, map[string]uint32{"1.1.1.0/24": 13335})
	cover := func(kind model.CoverEventKind) model.CoverEvent {
		ev := model.CoverEvent{Time: w.now, Kind: kind, Addr: mustAddr("1.1.1.1"),
			Roles: []model.AddressRole{{Kind: "resolver", Name: "cloudflare"}}, Healthy: &model.Cover{Prefix: mustPrefix("1.1.1.0/24")}}
		if kind == model.CoverRestored {
			ev.Current = &model.Cover{Prefix: mustPrefix("1.1.1.0/24"), Peers: 3}
		}
		return ev
	}
	w.apply(cover(model.CoverRestored))
	w.probe = healthy("192.0.2.1", 300)
	w.runFor(3*time.Minute, 30*time.Second)

	w.withdraw(peers3, "1.1.1.0/24", 13335)
	w.apply(cover(model.CoverWithdrawn))
	down := func(z string, s model.Server, now time.Time) model.Observation {
		if s.Name == "cloudflare" {
			return failObs(z, s, now, "", model.ErrTimeout)
		}
		return okObs(z, s, now, "192.0.2.1", 300)
	}
	w.probe = down
	w.runFor(3*time.Minute, 30*time.Second)
	page := w.e.Open()
	if len(page) != 1 || page[0].Kind != model.IncidentResolverOutage {
		t.Fatalf("want a resolver outage, got %v", kinds(w.changes))
	}
	own := "its own route 1.1.1.0/24 (origin AS13335) was withdrawn from BGP"
	mustContain(t, "page", page[0].RootCause, own)

	w.announce(peers3, "1.1.1.0/24", 13335)
	w.apply(cover(model.CoverRestored))
	w.runFor(time.Minute, 30*time.Second) // still failing
	if v := w.e.resolverVerdict("cloudflare"); v.kind == "" || strings.Contains(v.rootCause, "BGP") {
		t.Fatalf("the lab of this test is wrong: the verdict should hold without BGP now: %+v", v)
	}
	mustContain(t, "recovering", w.e.Open()[0].RootCause, own)
	w.probe = healthy("192.0.2.1", 300)
	w.runFor(5*time.Minute, 30*time.Second)
	res := lastOf(t, w, model.ChangeResolve)
	mustContain(t, "resolved root cause", res.RootCause, own)
	mustContain(t, "recovery", res.Recovery, "route 1.1.1.0/24 re-announced 15:36:00", "resolver cloudflare answers again")
	if len(res.Prefixes) != 1 || len(res.ASNs) != 1 {
		t.Errorf("prefixes %v asns %v, want the withdrawn route and its origin", res.Prefixes, res.ASNs)
	}
	checkMaterial(t, w.changes)
}

// TestStorySlackKeepsDSKeyTag: validating resolvers recover before the DS
// check does; the verdict falls back to the warning, the incident keeps
// the critical diagnosis naming the DS key tag.
func TestStorySlackKeepsDSKeyTag(t *testing.T) {
	w := slackWorld(t)
	w.runFor(5*time.Minute, 30*time.Second)
	ds := slackDS
	ds.Time = w.now
	w.apply(ds)
	w.probe = dnssecFailing
	w.runFor(5*time.Minute, 30*time.Second)
	page := w.e.Open()[0]
	mustContain(t, "diagnosis", page.RootCause, "DS key tag 296 has no matching DNSKEY", "SERVFAIL")

	w.probe = healthy("54.230.1.1", 60)
	w.runFor(2*time.Minute, 30*time.Second) // the DS check still fails
	open := w.e.Open()
	if len(open) != 1 || open[0].Severity != model.SeverityCritical || open[0].RootCause != page.RootCause {
		t.Errorf("the diagnosis regressed while recovering: %+v", open)
	}
	mustContain(t, "recovering", open[0].Recovery, "resolvers answer again")
	w.apply(model.DSCheck{Time: w.now, Zone: "slack.com.", Status: model.DSOK,
		DS: []model.DSRecord{{KeyTag: 296, Algorithm: 13, DigestType: 2, Matched: true}}})
	w.runFor(5*time.Minute, 30*time.Second)
	res := lastOf(t, w, model.ChangeResolve)
	if res.RootCause != page.RootCause || res.Severity != model.SeverityCritical {
		t.Errorf("resolved as %s: %s", res.Severity, res.RootCause)
	}
	mustContain(t, "recovery", res.Recovery, "resolvers answer again", "the DS record matches a DNSKEY of the zone again")
	checkMaterial(t, w.changes)
}

// TestStoryReclassificationReplaces: an authoritative outage explained
// later by the withdrawal of the nameservers' routes is reclassified: the
// new diagnosis replaces the old one, and the change is material.
func TestStoryReclassificationReplaces(t *testing.T) {
	w := facebookWorld(t)
	w.runFor(5*time.Minute, 30*time.Second)
	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		if s.Kind == model.KindAuthoritative {
			return failObs(z, s, now, "", model.ErrTimeout)
		}
		return failObs(z, s, now, "SERVFAIL", "")
	}
	w.runFor(2*time.Minute, 30*time.Second)
	if k := w.openKinds(); len(k) != 1 || k[0] != model.IncidentAuthOutage {
		t.Fatalf("want an authoritative outage first, got %v", k)
	}
	for _, p := range []string{"129.134.30.0/24", "129.134.31.0/24", "129.134.30.0/23", "185.89.218.0/24", "185.89.219.0/24", "185.89.218.0/23"} {
		w.withdraw(peers3, p, 32934)
	}
	w.apply(
		coverWithdrawn(w.now, fbAuth[0], "129.134.30.0/24", "129.134.0.0/17"),
		coverWithdrawn(w.now, fbAuth[1], "129.134.31.0/24", "129.134.0.0/17"),
		coverWithdrawn(w.now, fbAuth[2], "185.89.218.0/24", ""),
		coverWithdrawn(w.now, fbAuth[3], "185.89.219.0/24", ""),
	)
	w.runFor(time.Minute, 30*time.Second)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentBGPOutage {
		t.Fatalf("want the outage reclassified, got %v", w.openKinds())
	}
	mustContain(t, "reclassified", open[0].RootCause, "every nameserver of facebook.com", "were withdrawn from BGP")
	var reclassified bool
	for _, c := range checkMaterial(t, w.changes) {
		reclassified = reclassified || strings.Contains(c.Material, "reclassified from authoritative_outage")
	}
	if !reclassified {
		t.Errorf("no material update says it was reclassified: %v", kinds(w.changes))
	}
}

// TestStoryFlappingRelapse: a prefix withdrawn, seen again and withdrawn
// again: recovery begins, is interrupted, begins again; the incident is
// one, its recovery line follows the latest state.
func TestStoryFlappingRelapse(t *testing.T) {
	cfg := testConfig()
	w := watchedWorld(t, cfg, "198.51.100.0/24")
	w.withdraw(peers3, "198.51.100.0/24", 64500)
	w.tick(30 * time.Second)
	if len(w.opened()) != 1 {
		t.Fatalf("want the withdrawal open, got %v", kinds(w.changes))
	}
	w.announce(peers3, "198.51.100.0/24", 64500)
	w.tick(time.Second)
	open := w.e.Open()
	if len(open) != 1 {
		t.Fatalf("resolved at once: %v", kinds(w.changes))
	}
	mustContain(t, "recovering", open[0].Recovery, "route 198.51.100.0/24 re-announced")
	w.withdraw(peers3, "198.51.100.0/24", 64500)
	w.tick(time.Second)
	open = w.e.Open()
	if open[0].Recovery != "" {
		t.Errorf("recovery %q after the relapse", open[0].Recovery)
	}
	mustContain(t, "timeline", open[0].Timeline(), "recovery interrupted")
	w.announce(peers3, "198.51.100.0/24", 64500)
	w.tick(10 * time.Minute)
	res := lastOf(t, w, model.ChangeResolve)
	mustContain(t, "resolved", res.RootCause, "Watched prefix 198.51.100.0/24 was withdrawn")
	mustContain(t, "recovery", res.Recovery, "route 198.51.100.0/24 re-announced")
	if strings.Contains(res.Recovery, "is seen again") {
		t.Errorf("the recovery line says twice that the prefix is back: %s", res.Recovery)
	}
	began := 0
	for _, c := range checkMaterial(t, w.changes) {
		if strings.Contains(c.Material, "recovery began") {
			began++
		}
	}
	if began != 2 {
		t.Errorf("%d updates say recovery began, want 2 (once per recovery)", began)
	}
}

// TestStoryReestimateNotMaterial: while resolvers still answer from
// cache, a new estimate of the time to impact updates the incident (the
// store and the API show it) but is not material: no message.
func TestStoryReestimateNotMaterial(t *testing.T) {
	w := facebookWorld(t)
	w.runFor(5*time.Minute, 30*time.Second)
	ttl := uint32(600)
	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		if s.Kind == model.KindAuthoritative {
			return failObs(z, s, now, "", model.ErrTimeout)
		}
		return okObs(z, s, now, "157.240.1.35", ttl)
	}
	for _, p := range []string{"129.134.30.0/24", "129.134.31.0/24", "129.134.30.0/23", "185.89.218.0/24", "185.89.219.0/24", "185.89.218.0/23"} {
		w.withdraw(peers3, p, 32934)
	}
	w.apply(
		coverWithdrawn(w.now, fbAuth[0], "129.134.30.0/24", "129.134.0.0/17"),
		coverWithdrawn(w.now, fbAuth[1], "129.134.31.0/24", "129.134.0.0/17"),
		coverWithdrawn(w.now, fbAuth[2], "185.89.218.0/24", ""),
		coverWithdrawn(w.now, fbAuth[3], "185.89.219.0/24", ""),
	)
	w.runFor(time.Minute, 30*time.Second)
	before := w.e.Open()[0].ImpactAt
	ttl = 120 // the cached answers expire 8 minutes sooner than estimated
	w.runFor(time.Minute, 30*time.Second)
	after := w.e.Open()[0].ImpactAt
	if before.IsZero() || !after.Before(before) {
		t.Fatalf("the lab of this test is wrong: impact at %v, then %v", before, after)
	}
	var reestimates int
	for _, c := range w.of(model.ChangeUpdate) {
		if strings.Contains(c.Reason, "time to impact") {
			reestimates++
			if c.Material != "" {
				t.Errorf("a re-estimate of the time to impact is material: %q", c.Material)
			}
		}
	}
	if reestimates == 0 {
		t.Errorf("no update records the new time to impact: %v", kinds(w.changes))
	}
	checkMaterial(t, w.changes)
}

// TestStoryLesserKindWhileRecovering: while a DNSSEC failure recovers, one
// authoritative server times out for a while (an authoritative outage
// warning on its own): the incident stays the DNSSEC failure, names no
// server and says nothing new.
func TestStoryLesserKindWhileRecovering(t *testing.T) {
	w := slackWorld(t)
	w.runFor(5*time.Minute, 30*time.Second)
	ds := slackDS
	ds.Time = w.now
	w.apply(ds)
	w.probe = dnssecFailing
	w.runFor(5*time.Minute, 30*time.Second)
	page := w.e.Open()[0]
	recovering := len(w.changes)
	w.apply(model.DSCheck{Time: w.now, Zone: "slack.com.", Status: model.DSOK,
		DS: []model.DSRecord{{KeyTag: 296, Algorithm: 13, DigestType: 2, Matched: true}}})
	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		if s.Name == "ns-1.awsdns.com" {
			return failObs(z, s, now, "", model.ErrTimeout)
		}
		return okObs(z, s, now, "54.230.1.1", 60)
	}
	w.runFor(3*time.Minute, 30*time.Second)
	if v := w.e.zoneVerdict(w.e.zones["slack.com"], w.now); v.kind != model.IncidentAuthOutage || v.severity != model.SeverityWarning {
		t.Fatalf("the lab of this test is wrong: the verdict is %s %s", v.kind, v.severity)
	}
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentDNSSEC || open[0].RootCause != page.RootCause || len(open[0].Servers) != 0 {
		t.Errorf("the recovering DNSSEC failure became %+v", open)
	}
	for _, c := range checkMaterial(t, w.changes[recovering:]) {
		if strings.Contains(c.Material, "newly affected") || strings.Contains(c.Material, "reclassified") {
			t.Errorf("material while recovering: %q", c.Material)
		}
	}
	w.probe = healthy("54.230.1.1", 60)
	w.runFor(5*time.Minute, 30*time.Second)
	res := lastOf(t, w, model.ChangeResolve)
	if res.ID != page.ID || res.RootCause != page.RootCause {
		t.Errorf("resolved %s: %s", res.ID, res.RootCause)
	}
}

// TestStoryFacebookCoverBackFirst: the covering /23s come back before the
// /24s that held the nameservers (as BIRD re-announces them in the outage
// lab), and the resolvers' caches expire only then. The verdict now says
// "only the less-specific 129.134.30.0/23 still covers them": it names
// the failing resolvers but fewer withdrawn prefixes, a half-recovered
// state. The incident keeps the diagnosis of the page, where the /23s
// were withdrawn too; the failing resolvers join its lists.
func TestStoryFacebookCoverBackFirst(t *testing.T) {
	w := facebookWorld(t)
	w.runFor(10*time.Minute, 30*time.Second)
	w.withdrawFacebook()
	page := w.e.Open()[0]
	mustContain(t, "page", page.RootCause, "every nameserver of facebook.com", "129.134.30.0/23", "185.89.218.0/23")

	// The /23s are back; the /24s are not.
	w.announce(peers3, "129.134.30.0/23", 32934)
	w.announce(peers3, "185.89.218.0/23", 32934)
	w.apply(
		coverWithdrawn(w.now, fbAuth[0], "129.134.30.0/24", "129.134.30.0/23"),
		coverWithdrawn(w.now, fbAuth[1], "129.134.31.0/24", "129.134.30.0/23"),
		coverWithdrawn(w.now, fbAuth[2], "185.89.218.0/24", "185.89.218.0/23"),
		coverWithdrawn(w.now, fbAuth[3], "185.89.219.0/24", "185.89.218.0/23"),
	)
	// Then the caches expire: every check fails.
	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		return failObs(z, s, now, "", model.ErrTimeout)
	}
	w.runFor(5*time.Minute, 30*time.Second)
	v := w.e.zoneVerdict(w.e.zones["facebook.com"], w.now)
	if !strings.Contains(v.rootCause, "only the less-specific 129.134.30.0/23") || len(v.resolvers) != 3 {
		t.Fatalf("the lab of this test is wrong: the verdict should name the /23 as covering and three resolvers: %s", v.rootCause)
	}
	open := w.e.Open()[0]
	if open.RootCause != page.RootCause {
		t.Errorf("the diagnosis was replaced by a half-recovered state:\n%s\nthe page said:\n%s", open.RootCause, page.RootCause)
	}
	if len(open.Resolvers) != 3 || len(open.Prefixes) != 6 {
		t.Errorf("the incident's lists are not the union: resolvers %v, prefixes %v", open.Resolvers, open.Prefixes)
	}

	w.announceCover(fbAuth[0], "129.134.30.0/24")
	w.announceCover(fbAuth[1], "129.134.31.0/24")
	w.announceCover(fbAuth[2], "185.89.218.0/24")
	w.announceCover(fbAuth[3], "185.89.219.0/24")
	w.probe = healthy("157.240.1.35", 300)
	w.runFor(10*time.Minute, 30*time.Second)
	res := lastOf(t, w, model.ChangeResolve)
	if res.RootCause != page.RootCause {
		t.Errorf("resolved with another story:\n%s\nthe page said:\n%s", res.RootCause, page.RootCause)
	}
	mustContain(t, "recovery line", res.Recovery, "routes re-announced", "resolvers answer again")
}

package evaluate

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

func vrp(p string, maxLen uint8, asn uint32) model.VRP {
	return model.VRP{Prefix: mustPrefix(p), MaxLength: maxLen, ASN: asn}
}

func (w *world) vrps(vs ...model.VRP) []model.IncidentChange {
	slices.SortFunc(vs, model.CompareVRP)
	return w.apply(model.RPKIEvent{Time: w.now, Ready: true, VRPs: vs, Sources: []string{"file test.json"}})
}

// A more-specific hijack that RPKI says is invalid, covering a resolver:
// critical, and the root cause names both routes' validation states.
func TestHijackRPKIInvalidCritical(t *testing.T) {
	tg := Targets{Vantage: "test", Resolvers: threeResolvers(), Peers: peers3,
		Prefixes: []model.WatchedPrefix{{Prefix: mustPrefix("1.1.1.0/24"), Origins: []uint32{13335}}}}
	w := newWorld(t, testConfig(), tg)
	w.bgpUp(peers3, map[string]uint32{"1.1.1.0/24": 13335})
	w.vrps(vrp("1.1.1.0/24", 24, 13335))
	w.tick(3 * time.Minute)
	ch := w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteMoreSpecific, Peer: peers3[0].Name, PeerASN: peers3[0].ASN,
		Prefix: mustPrefix("1.1.1.0/25"), Origin: 267613, ASPath: []uint32{64501, 267613}, Watched: mustPrefix("1.1.1.0/24"),
		MoreSpecific: true, ExpectedOrigins: []uint32{13335}, UnexpectedOrigin: true, VisiblePeers: 1,
		Covers: []netip.Addr{mustAddr("1.1.1.1")}})
	if len(ch) != 1 || ch[0].Type != model.ChangeOpen || ch[0].Incident.Kind != model.IncidentHijack {
		t.Fatalf("want a hijack opened at once, got %v", kinds(ch))
	}
	inc := ch[0].Incident
	if inc.Severity != model.SeverityCritical {
		t.Errorf("severity %s, want critical", inc.Severity)
	}
	mustContain(t, "root cause", inc.RootCause,
		"1.1.1.0/25 from AS267613 is RPKI-invalid: ROA 1.1.1.0/24 maxLength 24 AS13335",
		"1.1.1.0/24 from AS13335 is RPKI-valid: ROA 1.1.1.0/24 maxLength 24 AS13335", "resolver cloudflare")
	if n := len(w.changesOf(model.IncidentRPKIInvalid, model.ChangeOpen)); n != 0 {
		t.Errorf("a hijack's invalid route also opened rpki_invalid (%d)", n)
	}
}

// An unexpected origin that no ROA covers is a warning with RPKI data
// (and stays critical without it: TestHijackMoreSpecific).
func TestHijackRPKIUnknownWarning(t *testing.T) {
	w := watchedWorld(t, testConfig(), "198.51.100.0/24")
	w.vrps(vrp("203.0.113.0/24", 24, 64500))
	w.moreSpecific(peers3[0], "198.51.100.0/25", "198.51.100.0/24", 64511)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentHijack {
		t.Fatalf("open %v", w.openKinds())
	}
	if open[0].Severity != model.SeverityWarning {
		t.Errorf("severity %s, want warning", open[0].Severity)
	}
	mustContain(t, "root cause", open[0].RootCause, "198.51.100.0/25 from AS64511 is RPKI-unknown: no ROA covers it",
		"198.51.100.0/24 from AS64500 is RPKI-unknown: no ROA covers it")

	// A ROA that makes the hijack invalid arrives: critical, the
	// diagnosis rewritten, the change in the timeline.
	w.tick(time.Second)
	w.vrps(vrp("198.51.100.0/24", 24, 64500))
	inc := w.e.Open()[0]
	if inc.Severity != model.SeverityCritical {
		t.Errorf("after the ROA: severity %s, want critical", inc.Severity)
	}
	mustContain(t, "root cause", inc.RootCause, "198.51.100.0/25 from AS64511 is RPKI-invalid: ROA 198.51.100.0/24 maxLength 24 AS64500")
	mustContain(t, "timeline", inc.Timeline(), "RPKI: 198.51.100.0/25 from AS64511 is RPKI-invalid: ROA 198.51.100.0/24 maxLength 24 AS64500 now (was RPKI-unknown)")
}

// A ROA change that turns the watched route invalid opens rpki_invalid
// before anyone hijacks anything; a ROA fixing it resolves it.
func TestRPKIInvalidByROAChange(t *testing.T) {
	w := watchedWorld(t, testConfig(), "198.51.100.0/24")
	w.vrps(vrp("198.51.100.0/24", 24, 64500))
	if len(w.opened()) != 0 {
		t.Fatalf("valid route opened %v", kinds(w.opened()))
	}
	states, changed := w.e.RPKIRouteStates()
	if !changed || len(states) != 1 || states[0] != (model.RPKIRoute{Prefix: mustPrefix("198.51.100.0/24"), Origin: 64500, State: model.RPKIValid}) {
		t.Errorf("route states %v changed %v", states, changed)
	}
	// The ROA moves to another AS (a botched ROA change at the RIR).
	w.tick(time.Second)
	w.vrps(vrp("198.51.100.0/24", 24, 64501))
	w.tick(time.Second)
	opened := w.changesOf(model.IncidentRPKIInvalid, model.ChangeOpen)
	if len(opened) != 1 {
		t.Fatalf("rpki_invalid not opened: %v", kinds(w.changes))
	}
	inc := opened[0].Incident
	if inc.Subject != "198.51.100.0/24" || inc.SubjectKind != model.SubjectPrefix || inc.Severity != model.SeverityWarning ||
		!slices.Equal(inc.ASNs, []uint32{64500}) || !slices.Equal(inc.Prefixes, []netip.Prefix{mustPrefix("198.51.100.0/24")}) {
		t.Errorf("incident %s %s %s asns %v prefixes %v", inc.Subject, inc.SubjectKind, inc.Severity, inc.ASNs, inc.Prefixes)
	}
	mustContain(t, "root cause", inc.RootCause,
		"Watched prefix 198.51.100.0/24 from AS64500 is RPKI-invalid: ROA 198.51.100.0/24 maxLength 24 AS64501",
		"networks that validate RPKI drop it (announced so at 3 of 3 peers)")
	mustContain(t, "timeline", inc.Timeline(), "RPKI: 198.51.100.0/24 from AS64500 is RPKI-invalid: ROA 198.51.100.0/24 maxLength 24 AS64501 now (was RPKI-valid)")
	if states, changed := w.e.RPKIRouteStates(); !changed || len(states) != 1 || states[0].State != model.RPKIInvalid {
		t.Errorf("route states %v changed %v", states, changed)
	}
	if len(w.changesOf(model.IncidentHijack, model.ChangeOpen)) != 0 {
		t.Error("the expected origin was taken for a hijack")
	}

	// The sources lose their data: the incident waits, it does not resolve.
	w.apply(model.RPKIEvent{Time: w.now})
	w.tick(10 * time.Minute)
	if len(w.changesOf(model.IncidentRPKIInvalid, model.ChangeResolve)) != 0 {
		t.Fatal("resolved while no VRPs were known")
	}
	// Both ROAs: valid again; resolves after bgp_resolve_after.
	w.vrps(vrp("198.51.100.0/24", 24, 64500), vrp("198.51.100.0/24", 24, 64501))
	w.tick(10 * time.Minute)
	res := w.changesOf(model.IncidentRPKIInvalid, model.ChangeResolve)
	if len(res) != 1 || res[0].Incident.ID != inc.ID {
		t.Fatalf("not resolved: %v", kinds(w.changes))
	}
}

// A legitimate more-specific beyond the ROA's maxLength covering a
// nameserver is a critical rpki_invalid.
func TestRPKIInvalidMaxLengthCoveringResolver(t *testing.T) {
	tg := Targets{Vantage: "test", Resolvers: threeResolvers(), Peers: peers3,
		Prefixes: []model.WatchedPrefix{{Prefix: mustPrefix("1.1.1.0/24"), Origins: []uint32{13335}}}}
	w := newWorld(t, testConfig(), tg)
	w.bgpUp(peers3, map[string]uint32{"1.1.1.0/24": 13335})
	w.vrps(vrp("1.1.1.0/24", 24, 13335))
	w.tick(3 * time.Minute)
	w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteMoreSpecific, Peer: peers3[1].Name, PeerASN: peers3[1].ASN,
		Prefix: mustPrefix("1.1.1.0/25"), Origin: 13335, Watched: mustPrefix("1.1.1.0/24"), MoreSpecific: true,
		ExpectedOrigins: []uint32{13335}, Covers: []netip.Addr{mustAddr("1.1.1.1")}})
	w.tick(time.Second)
	opened := w.changesOf(model.IncidentRPKIInvalid, model.ChangeOpen)
	if len(opened) != 1 {
		t.Fatalf("rpki_invalid not opened: %v", kinds(w.changes))
	}
	inc := opened[0].Incident
	if inc.Severity != model.SeverityCritical || inc.Subject != "1.1.1.0/25" {
		t.Errorf("severity %s subject %s", inc.Severity, inc.Subject)
	}
	mustContain(t, "root cause", inc.RootCause,
		"1.1.1.0/25, a more-specific of watched 1.1.1.0/24, from AS13335 is RPKI-invalid: ROA 1.1.1.0/24 maxLength 24 AS13335",
		"it covers resolver cloudflare")
}

// Without RPKI data nothing changes: the route states are empty and a
// ROA-less evaluator never opens rpki_invalid.
func TestRPKINoDataNoVerdict(t *testing.T) {
	w := watchedWorld(t, testConfig(), "198.51.100.0/24")
	w.moreSpecific(peers3[0], "198.51.100.0/25", "198.51.100.0/24", 64500)
	w.tick(time.Minute)
	if len(w.changes) != 0 {
		t.Fatalf("changes without RPKI: %v", kinds(w.changes))
	}
	if states, _ := w.e.RPKIRouteStates(); len(states) != 0 {
		t.Errorf("states without data: %v", states)
	}
}

// A route whose origin cannot be told (origin 0: an AS_SET, an empty
// path) is not judged: no rpki_invalid, no route state.
func TestRPKIOriginUnknownNotJudged(t *testing.T) {
	tg := Targets{Vantage: "test", Peers: peers3, Prefixes: []model.WatchedPrefix{{Prefix: mustPrefix("198.51.100.0/24")}}}
	w := newWorld(t, testConfig(), tg)
	w.bgpUp(peers3, map[string]uint32{"198.51.100.0/24": 0})
	w.tick(3 * time.Minute)
	w.vrps(vrp("198.51.100.0/24", 24, 64500))
	w.tick(time.Minute)
	if n := len(w.changesOf(model.IncidentRPKIInvalid, model.ChangeOpen)); n != 0 {
		t.Errorf("origin 0 opened rpki_invalid")
	}
	if states, _ := w.e.RPKIRouteStates(); len(states) != 0 {
		t.Errorf("states %v", states)
	}
	// The same prefix from AS64501 (no origins configured: any origin is
	// judged) is invalid.
	w.announce(peers3[:1], "198.51.100.0/24", 64501)
	w.tick(time.Second)
	if n := len(w.changesOf(model.IncidentRPKIInvalid, model.ChangeOpen)); n != 1 {
		t.Errorf("AS64501 without configured origins: %d rpki_invalid opened, want 1: %v", n, kinds(w.changes))
	}
}

// An rpki_invalid incident restored after [rpki] was removed resolves;
// with [rpki] still configured it waits for VRPs.
func TestRPKIRestoredWithoutSources(t *testing.T) {
	inc := model.Incident{ID: "20261202T120000Z-rpki01", Kind: model.IncidentRPKIInvalid, Severity: model.SeverityWarning,
		State: model.StateOpen, SubjectKind: model.SubjectPrefix, Subject: "198.51.100.0/24",
		Opened: t0, Confirmed: t0, Updated: t0, RootCause: "Watched prefix 198.51.100.0/24 from AS64500 is RPKI-invalid: ROA 198.51.100.0/24 maxLength 24 AS64501."}
	for _, configured := range []bool{false, true} {
		tg := Targets{Vantage: "test", Peers: peers3, RPKI: configured,
			Prefixes: []model.WatchedPrefix{{Prefix: mustPrefix("198.51.100.0/24"), Origins: []uint32{64500}}}}
		w := newWorld(t, testConfig(), tg)
		w.e.Restore([]model.Incident{inc})
		w.bgpUp(peers3, map[string]uint32{"198.51.100.0/24": 64500})
		w.tick(10 * time.Minute)
		resolved := len(w.changesOf(model.IncidentRPKIInvalid, model.ChangeResolve)) == 1
		if resolved == configured {
			t.Errorf("[rpki] configured %v: resolved %v", configured, resolved)
		}
	}
}

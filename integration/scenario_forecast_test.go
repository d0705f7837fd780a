package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/outagelab"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
)

// The forecast scenarios (issue 12, section 2): failures that announce
// themselves, paged before anything breaks.

// evidenceHas reports whether one evidence item has every word.
func evidenceHas(e incident.Entry, words ...string) bool {
	for _, it := range e.Evidence {
		if len(missing(it.Text, words...)) == 0 {
			return true
		}
	}
	return false
}

// TestScenarioSignatureExpiry: sig.test is re-signed with signatures that
// expire in 10 minutes (ldns-signzone -e), inside the lab's 1 h
// signature_warning: a dnssec_expiry warning pages naming the RRsets, both
// nameservers and the expiry time, while every resolver still validates.
// Re-signed to expire 50 s ahead, inside the 60 s TTL of the signed data,
// it turns critical in the thread; re-signed for 30 days, it resolves.
func TestScenarioSignatureExpiry(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	const zone = "sig.test"
	l := outagelab.Start(t, outagelab.Options{Zones: []string{"sig.test.", "other.test."}, TTL: 60 * time.Second,
		Evaluate: outagelab.DefaultEvaluate + "signature_warning = \"1h\"\n"})
	info := l.DNS.Zones["sig.test."]

	expiry := time.Now().Add(10 * time.Minute).Truncate(time.Second)
	fault := l.Mark("re-sign sig.test with signatures expiring at " + expiry.UTC().Format("15:04:05"))
	l.DNS.ResignValidity("sig.test.", time.Now().Add(-time.Hour), expiry)
	when := expiry.UTC().Format("2006-01-02 15:04:05 UTC")
	page := onePage(t, l, 40*time.Second, model.IncidentDNSSECExpiry.Title()+": "+zone, when)
	toPage := page.Time.Sub(fault)
	inc := l.WaitIncident(model.IncidentDNSSECExpiry, zone, 10*time.Second, nil)
	if inc.Severity != model.SeverityWarning {
		t.Errorf("severity %s, want warning (10 minutes left, TTL 60 s)", inc.Severity)
	}
	checkRootCause(t, inc, "DNSSEC signatures of sig.test", "sig.test. SOA", "www.sig.test. A",
		fmt.Sprintf("ns1.sig.test. (%s)", info.NS[0].Addr), fmt.Sprintf("ns2.sig.test. (%s)", info.NS[1].Addr),
		"expire at "+when, "within the 1h 0m warning horizon")
	if !evidenceHas(inc, "serves the RRSIG over", "expiring "+when) {
		t.Errorf("no evidence names the expiry %s: %v", when, inc.Evidence)
	}
	m := l.Metrics()
	metric(t, m, "reachmon_incidents_open", 1, "kind", "dnssec_expiry", "severity", "warning")
	if v, ok := outagelab.Metric(m, "reachmon_dnssec_signature_expiry_seconds", "zone", zone); !ok || v <= 0 || v > 600 {
		t.Errorf("reachmon_dnssec_signature_expiry_seconds{zone=%q} = %v (present %v), want in (0, 600]", zone, v, ok)
	}
	routesUntouched(t, l, m)

	critical := time.Now().Add(50 * time.Second).Truncate(time.Second)
	l.Mark("re-sign sig.test with signatures expiring at " + critical.UTC().Format("15:04:05") + ", inside the 60 s TTL")
	l.DNS.ResignValidity("sig.test.", time.Now().Add(-time.Hour), critical)
	crit := l.WaitIncident(model.IncidentDNSSECExpiry, zone, 20*time.Second, func(e incident.Entry) bool {
		return e.Severity == model.SeverityCritical
	})
	toConfirm := time.Since(fault)
	checkRootCause(t, crit, "expire at "+critical.UTC().Format("2006-01-02 15:04:05 UTC"), "closer than the 1m 0s TTL of the signed data",
		"validating resolvers will fail before a re-sign reaches them")
	l.WaitFor("a thread reply with the critical severity", 10*time.Second, func() (bool, string) {
		return len(threadWith(l, page, "critical")) > 0, l.SlackLog()
	})

	recovery := l.Mark("re-sign sig.test for 30 days")
	l.DNS.ResignValidity("sig.test.", time.Time{}, time.Time{})
	upd := waitResolved(t, l, page, 40*time.Second)
	res := resolvedAfter(l, model.IncidentDNSSECExpiry, zone, 5*time.Second)
	// The resolved story is the worst point, not the last server's view.
	replies := checkStory(t, l, &page, res, []string{"expire at " + critical.UTC().Format("2006-01-02 15:04:05 UTC"),
		"closer than the 1m 0s TTL of the signed data", "sig.test. SOA", "ns1.sig.test.", "ns2.sig.test."},
		"the signatures of sig.test were renewed past the warning horizon")
	if res.Severity != model.SeverityCritical {
		t.Errorf("resolved as %s, want critical (its worst point)", res.Severity)
	}
	noSecondPage(t, l)
	onlyKinds(t, l, model.IncidentDNSSECExpiry)
	t.Logf("thread:\n%s", l.SlackLog())
	m = l.Metrics()
	metric(t, m, "reachmon_incident_transitions_total", 1, "kind", "dnssec_expiry", "transition", "open")
	metric(t, m, "reachmon_incident_transitions_total", 1, "kind", "dnssec_expiry", "transition", "resolve")
	if v, ok := outagelab.Metric(m, "reachmon_dnssec_signature_expiry_seconds", "zone", zone); !ok || v < 29*24*3600 {
		t.Errorf("reachmon_dnssec_signature_expiry_seconds{zone=%q} = %v (present %v) after the re-sign, want about 30 days", zone, v, ok)
	}
	l.Record(outagelab.Latency{Scenario: "signature-expiry", Kind: string(model.IncidentDNSSECExpiry), Fault: fault, Recovery: recovery,
		ToPage: toPage, ToOpen: inc.Confirmed.Sub(fault), ToConfirm: toConfirm, ToResolve: upd.Time.Sub(recovery), ThreadReplies: replies,
		Notes: "signature_warning 1h; expiry 10 min ahead (warning), then 50 s ahead with TTL 60 s (critical); forecasts settle 10 s before paging"})
}

// TestScenarioLameDelegation: test. adds ns3.lame.test to lame.test's
// delegation, with glue pointing at an NSD that does not serve the zone
// (REFUSED). The resolvers still answer (they move on to ns1 and ns2): one
// delegation_inconsistent warning naming the lame server and the NS set
// that differs from the zone's own, no authoritative outage; taking ns3
// out of the delegation resolves it.
func TestScenarioLameDelegation(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	const zone = "lame.test"
	l := outagelab.Start(t, outagelab.Options{Zones: []string{"lame.test.", "other.test."}})

	fault := l.Mark("add ns3.lame.test. to the delegation in test.; it answers REFUSED")
	ns := l.DNS.AddLameNS("lame.test.")
	page := onePage(t, l, 60*time.Second, model.IncidentDelegation.Title()+": "+zone, "ns3.lame.test.")
	toPage := page.Time.Sub(fault)
	lameText := fmt.Sprintf("ns3.lame.test. (%s) is listed as a nameserver but does not answer authoritatively for lame.test", ns.Addr)
	inc := l.WaitIncident(model.IncidentDelegation, zone, 30*time.Second, func(e incident.Entry) bool {
		return strings.Contains(e.RootCause, lameText) && strings.Contains(e.RootCause, "only at the parent: ns3.lame.test.")
	})
	checkRootCause(t, inc, "The delegation of lame.test is inconsistent", "REFUSED",
		"the parent delegates to ns1.lame.test., ns2.lame.test., ns3.lame.test. while the zone's own NS set is ns1.lame.test., ns2.lame.test.")
	if inc.Severity != model.SeverityWarning {
		t.Errorf("severity %s, want warning", inc.Severity)
	}
	for _, w := range [][]string{{lameText, "REFUSED"}, {"only at the parent: ns3.lame.test."}} {
		if !evidenceHas(inc, w...) {
			t.Errorf("no evidence item names %q: %v", w, inc.Evidence)
		}
	}
	if len(inc.Servers) == 0 || inc.Servers[0] != "ns3.lame.test." {
		t.Errorf("servers %v, want ns3.lame.test.", inc.Servers)
	}
	time.Sleep(3 * time.Second) // room for a wrong authoritative_outage to open
	m := l.Metrics()
	metric(t, m, "reachmon_incidents_open", 1, "kind", "delegation_inconsistent", "severity", "warning")
	metric(t, m, "reachmon_incidents_open", 0, "kind", "authoritative_outage", "severity", "warning")
	metric(t, m, "reachmon_dns_lame_servers", 1, "zone", zone)
	absent(t, m, "reachmon_dns_lame_servers", "zone", "other.test")
	routesUntouched(t, l, m)

	recovery := l.Mark("take ns3.lame.test. out of the delegation again")
	l.DNS.RemoveLameNS("lame.test.")
	upd := waitResolved(t, l, page, 60*time.Second)
	res := resolvedAfter(l, model.IncidentDelegation, zone, 5*time.Second)
	replies := checkStory(t, l, &page, res, []string{lameText, "only at the parent: ns3.lame.test."},
		"the delegation of lame.test is consistent again")
	noSecondPage(t, l)
	onlyKinds(t, l, model.IncidentDelegation)
	t.Logf("thread:\n%s", l.SlackLog())
	m = l.Metrics()
	absent(t, m, "reachmon_dns_lame_servers", "zone", zone)
	metric(t, m, "reachmon_incident_transitions_total", 1, "kind", "delegation_inconsistent", "transition", "resolve")
	l.Record(outagelab.Latency{Scenario: "lame-delegation", Kind: string(model.IncidentDelegation), Fault: fault, Recovery: recovery,
		ToPage: toPage, ToOpen: inc.Confirmed.Sub(fault), ToResolve: upd.Time.Sub(recovery), ThreadReplies: replies,
		Notes: "seen at the next discovery (discovery_max 20 s); forecasts settle 10 s before paging"})
}

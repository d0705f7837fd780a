package integration

import (
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/outagelab"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
)

// Scenarios of a name that stops existing (issue 12, section 1): the
// delegation removed at the parent, a record deleted at the authoritative
// servers. Records, delegations and negative answers live 10 s, so that
// resolvers' caches expire within the scenario without being flushed.

// negativeTTL is the TTL of every record of these labs, negative answers
// included.
const negativeTTL = 10 * time.Second

// TestScenarioDelegationRemoved: gone.test's NS, DS and glue are removed
// from test. (a lapsed domain, a delegation removed at the registry) while
// its nameservers keep serving it. reachmon pages delegation_removed, names
// test.'s server and its NXDOMAIN, turns critical when the resolvers say
// NXDOMAIN once their caches expire, and resolves after the delegation is
// restored and the resolvers' negative caches expire.
func TestScenarioDelegationRemoved(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	const zone = "gone.test"
	l := outagelab.Start(t, outagelab.Options{Zones: []string{"gone.test.", "other.test."}, TTL: negativeTTL})
	parent := "test. server ns1.nic.test. (" + l.DNS.TLDAddr + ") answers NXDOMAIN for gone.test."

	fault := l.Mark("remove gone.test.'s NS, DS and glue from test.; its nameservers keep serving it")
	l.DNS.RemoveDelegation(zone)
	page := onePage(t, l, 60*time.Second, model.IncidentDelegationRemoved.Title()+": "+zone)
	toPage := page.Time.Sub(fault)
	inc := l.WaitIncident(model.IncidentDelegationRemoved, zone, 60*time.Second, func(e incident.Entry) bool {
		return e.Severity == model.SeverityCritical && len(e.Resolvers) == 3
	})
	toConfirm := time.Since(fault)
	// A validating resolver may answer SERVFAIL (DNSSEC Bogus) for a
	// while instead: it still holds gone.test's keys when test. proves the
	// name does not exist.
	checkRootCause(t, inc, "The parent zone no longer delegates gone.test", parent,
		"NXDOMAIN for www.gone.test. A", "the authoritative servers still serve the zone")
	if !evidenceHas(inc, "parent of gone.test: "+parent) {
		t.Errorf("no evidence naming the parent's answer:\n%v", inc.Evidence)
	}
	for _, e := range l.All() {
		if e.Kind == model.IncidentResolverNXDomain || e.Kind == model.IncidentAuthOutage {
			t.Errorf("the removed delegation was blamed on %s: %s", e.Kind, e.RootCause)
		}
	}
	metric(t, l.Metrics(), "reachmon_incidents_open", 1, "kind", "delegation_removed", "severity", "critical")
	routesUntouched(t, l, l.Metrics())

	recovery := l.Mark("restore gone.test.'s delegation in test.; resolvers' negative caches expire on their own")
	l.DNS.RestoreDelegation(zone)
	// Negative answers live 10 s, bogus ones Unbound's val-bogus-ttl (60 s).
	upd := waitResolved(t, l, page, 100*time.Second)
	res := resolvedAfter(l, model.IncidentDelegationRemoved, zone, 5*time.Second)
	replies := checkStory(t, l, &page, res, []string{"The parent zone no longer delegates gone.test", parent,
		"NXDOMAIN for www.gone.test. A"}, "resolvers answer again")
	noSecondPage(t, l)
	onlyKinds(t, l, model.IncidentDelegationRemoved)
	metric(t, l.Metrics(), "reachmon_incident_transitions_total", 1, "kind", "delegation_removed", "transition", "resolve")
	l.Record(outagelab.Latency{Scenario: "delegation-removed", Kind: string(model.IncidentDelegationRemoved), Fault: fault, Recovery: recovery,
		ToPage: toPage, ToOpen: inc.Confirmed.Sub(fault), ToConfirm: toConfirm, ToResolve: upd.Time.Sub(recovery), ThreadReplies: replies,
		Notes: "TTL 10 s; page = the parent's NXDOMAIN (warning while resolvers answer from cache), confirm = every resolver fails"})
}

// TestScenarioRecordDeleted: a bad zone push deletes www.rec.test's only
// record at both nameservers. reachmon pages record_missing naming the name,
// the type and both servers, and resolves after the record is back and the
// resolvers' negative caches expire.
func TestScenarioRecordDeleted(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	const zone = "rec.test"
	l := outagelab.Start(t, outagelab.Options{Zones: []string{"rec.test.", "other.test."}, TTL: negativeTTL})

	fault := l.Mark("delete www.rec.test. A at the authoritative servers (re-signed, reloaded)")
	removed := l.DNS.DeleteRecords(zone, "www.rec.test.", "A")
	page := onePage(t, l, 30*time.Second, model.IncidentRecordMissing.Title()+": "+zone)
	toPage := page.Time.Sub(fault)
	inc := l.WaitIncident(model.IncidentRecordMissing, zone, 10*time.Second, func(e incident.Entry) bool {
		return e.Severity == model.SeverityCritical
	})
	checkRootCause(t, inc, "www.rec.test. A is gone at every authoritative server of rec.test",
		"ns1.rec.test. ("+l.NSAddrs(zone)[0].String()+")", "ns2.rec.test. ("+l.NSAddrs(zone)[1].String()+")", "answer NXDOMAIN for www.rec.test. A")
	confirmed := l.WaitIncident(model.IncidentRecordMissing, zone, 40*time.Second, func(e incident.Entry) bool {
		return len(e.Resolvers) == 3
	})
	toConfirm := time.Since(fault)
	checkRootCause(t, confirmed, "resolvers resolver0, resolver1, resolver2 answer NXDOMAIN for www.rec.test. A too")
	metric(t, l.Metrics(), "reachmon_incidents_open", 1, "kind", "record_missing", "severity", "critical")

	recovery := l.Mark("put www.rec.test. A back; resolvers' negative caches expire on their own")
	l.DNS.AddRecords(zone, removed...)
	upd := waitResolved(t, l, page, 60*time.Second)
	res := resolvedAfter(l, model.IncidentRecordMissing, zone, 5*time.Second)
	replies := checkStory(t, l, &page, res, []string{"www.rec.test. A is gone at every authoritative server of rec.test",
		"ns1.rec.test.", "ns2.rec.test.", "NXDOMAIN for www.rec.test. A"}, "authoritative servers answer again", "resolvers answer again")
	noSecondPage(t, l)
	onlyKinds(t, l, model.IncidentRecordMissing)
	l.Record(outagelab.Latency{Scenario: "record-deleted", Kind: string(model.IncidentRecordMissing), Fault: fault, Recovery: recovery,
		ToPage: toPage, ToOpen: inc.Confirmed.Sub(fault), ToConfirm: toConfirm, ToResolve: upd.Time.Sub(recovery), ThreadReplies: replies,
		Notes: "TTL 10 s; page = the authoritative servers' NXDOMAIN, confirm = every resolver NXDOMAIN"})
}

package integration

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/outagelab"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify/slack/fakeslack"
)

// The scenarios replay real outages end to end (issue 7): each runs in a
// fresh outagelab (its own network namespace with NSD, Unbound, two BIRD
// peers, fakeslack and the built reachmon), injects a real fault, and
// checks the incident kind, its root cause, exactly one page, the thread,
// the resolve message and metrics, and (checkStory, issue 12) that the
// resolved incident and its resolve messages still tell the diagnosis of
// the page and how it recovered, with at most maxThreadReplies thread
// replies. Each records its detection latency and thread replies in
// var/detection-latency/<scenario>.json.

// pageOf waits for exactly one page and returns it; it then checks that no
// second page arrives within settle.
func onePage(t *testing.T, l *outagelab.Lab, timeout time.Duration, want ...string) fakeslack.Call {
	t.Helper()
	l.WaitFor("the page", timeout, func() (bool, string) {
		return len(l.Pages()) > 0, l.SlackLog()
	})
	page := l.Pages()[0]
	if page.Channel != outagelab.SlackChannel {
		t.Errorf("page went to %q, want %s", page.Channel, outagelab.SlackChannel)
	}
	for _, w := range want {
		if !strings.Contains(page.Text, w) {
			t.Errorf("the page lacks %q:\n%s", w, page.Text)
		}
	}
	return page
}

// noSecondPage fails if more than one page was sent.
func noSecondPage(t *testing.T, l *outagelab.Lab) {
	t.Helper()
	if p := l.Pages(); len(p) != 1 {
		t.Errorf("%d pages, want exactly 1:\n%s", len(p), l.SlackLog())
	}
}

// labBug fails the scenario with the name of a reachmon bug this lab
// found and that is now fixed (resolver-held, withdrawn-first,
// impact-jitter, vantage-race): each check guards against its return.
func labBug(t *testing.T, id, format string, args ...any) {
	t.Helper()
	t.Errorf("reachmon bug %s is back: "+format, append([]any{id}, args...)...)
}

// pagesOf are the pages whose text names kind's title.
func pagesOf(l *outagelab.Lab, kind model.IncidentKind) []fakeslack.Call {
	var out []fakeslack.Call
	for _, p := range l.Pages() {
		if strings.Contains(p.Text, kind.Title()+":") {
			out = append(out, p)
		}
	}
	return out
}

// pageOfKind waits for the page of an incident kind and returns it.
func pageOfKind(t *testing.T, l *outagelab.Lab, kind model.IncidentKind, timeout time.Duration) fakeslack.Call {
	t.Helper()
	l.WaitFor("the "+string(kind)+" page", timeout, func() (bool, string) {
		return len(pagesOf(l, kind)) > 0, l.SlackLog()
	})
	return pagesOf(l, kind)[0]
}

// thread returns the replies to page whose text or blocks contain every word.
func threadWith(l *outagelab.Lab, page fakeslack.Call, words ...string) []fakeslack.Call {
	var out []fakeslack.Call
	for _, r := range l.Replies(page.TS) {
		if len(missing(r.Text+r.Blocks, words...)) == 0 {
			out = append(out, r)
		}
	}
	return out
}

// waitResolved waits for the page to be edited into its resolve message
// and a thread reply saying so, and returns the edit.
func waitResolved(t *testing.T, l *outagelab.Lab, page fakeslack.Call, timeout time.Duration) fakeslack.Call {
	t.Helper()
	var upd fakeslack.Call
	l.WaitFor("the resolve message (chat.update of the page)", timeout, func() (bool, string) {
		for _, u := range l.Updates(page.TS) {
			if strings.Contains(strings.ToLower(u.Text), "resolved") {
				upd = u
				return true, ""
			}
		}
		return false, l.SlackLog()
	})
	// The thread reply follows the update at Slack's per-channel pace
	// (about one message a second).
	l.WaitFor("the resolve reply in the page's thread", 5*time.Second, func() (bool, string) {
		return len(threadWith(l, page, "Resolved")) > 0, l.SlackLog()
	})
	return upd
}

// containsAll reports the words of want missing from s.
func missing(s string, want ...string) []string {
	var out []string
	for _, w := range want {
		if !strings.Contains(s, w) {
			out = append(out, w)
		}
	}
	return out
}

func checkRootCause(t *testing.T, e incident.Entry, want ...string) {
	t.Helper()
	if m := missing(e.RootCause, want...); len(m) > 0 {
		t.Errorf("%s root cause lacks %q:\n%s", e.Kind, m, e.RootCause)
	}
}

// maxThreadReplies is the most thread replies one incident may have in
// any outage-lab scenario (issue 12: quiet threads, thread replies only
// for material changes, spaced by [slack] min_update_interval).
const maxThreadReplies = 5

// checkStory checks the story an incident tells from the page to the
// resolve: the resolved record res still carries the diagnosis of the
// page (its root cause has every word of diagnosis) and says how it
// recovered (its recovery line has every word of recovered). When the
// incident paged (page not nil), the resolve messages tell the same
// story (the chat.update of the page: diagnosis, duration, recovery; the
// resolve reply: what happened and how it recovered) and the page's
// thread is quiet: at most maxThreadReplies replies. It returns the
// number of thread replies, for the detection-latency record.
func checkStory(t *testing.T, l *outagelab.Lab, page *fakeslack.Call, res incident.Entry, diagnosis []string, recovered ...string) int {
	t.Helper()
	if res.State != model.StateResolved {
		t.Errorf("%s %s is %s, want resolved", res.Kind, res.Subject, res.State)
	}
	if m := missing(res.RootCause, diagnosis...); len(m) > 0 {
		t.Errorf("the resolved %s lost the diagnosis of the page: its root cause lacks %q:\n%s", res.Kind, m, res.RootCause)
	}
	if res.Recovery == "" {
		t.Errorf("the resolved %s does not say how it recovered (recovery is empty); timeline:\n%s", res.Kind, res.Timeline())
	} else if m := missing(res.Recovery, recovered...); len(m) > 0 {
		t.Errorf("the recovery of the resolved %s lacks %q: %s", res.Kind, m, res.Recovery)
	}
	t.Logf("resolved %s: %s\n  recovery: %s", res.Kind, res.RootCause, res.Recovery)
	if page == nil {
		return 0
	}
	var edit *fakeslack.Call
	for _, u := range l.Updates(page.TS) {
		if strings.Contains(u.Text, "RESOLVED") {
			edit = &u
		}
	}
	replies := l.Replies(page.TS)
	var reply *fakeslack.Call
	for _, r := range replies {
		if strings.Contains(r.Blocks, "*Resolved*") {
			reply = &r
		}
	}
	if edit == nil || reply == nil {
		t.Errorf("no resolve edit (%v) or resolve reply (%v) of the page:\n%s", edit != nil, reply != nil, l.SlackLog())
	} else {
		for _, m := range []struct {
			what string
			c    *fakeslack.Call
			want []string
		}{
			{"the resolve edit of the page", edit, append([]string{"*Duration*", "How it recovered:* " + res.Recovery}, diagnosis...)},
			{"the resolve reply", reply, append([]string{" after ", "What happened:* ", "How it recovered:* " + res.Recovery}, diagnosis...)},
		} {
			if miss := missing(m.c.Blocks, m.want...); len(miss) > 0 {
				t.Errorf("%s lacks %q:\n%s", m.what, miss, m.c.Blocks)
			}
		}
	}
	if n := len(replies); n > maxThreadReplies {
		t.Errorf("%d thread replies to the %s page, want at most %d:\n%s", n, res.Kind, maxThreadReplies, l.SlackLog())
	}
	return len(replies)
}

// onlyKinds fails when an incident of another kind than allowed exists.
func onlyKinds(t *testing.T, l *outagelab.Lab, allowed ...model.IncidentKind) {
	t.Helper()
	for _, e := range l.All() {
		if !slices.Contains(allowed, e.Kind) {
			t.Errorf("unexpected %s incident %s (%s, paged=%v): %s", e.Kind, e.Subject, e.Severity, e.Paged, e.RootCause)
		}
	}
}

func metric(t *testing.T, text, name string, want float64, labels ...string) {
	t.Helper()
	v, ok := outagelab.Metric(text, name, labels...)
	if !ok {
		t.Errorf("metric %s%v missing", name, labels)
	} else if v != want {
		t.Errorf("metric %s%v = %v, want %v", name, labels, v, want)
	}
}

// absent checks that no series of name has the labels (a sparse series:
// present only while it has something to say).
func absent(t *testing.T, text, name string, labels ...string) {
	t.Helper()
	if v, ok := outagelab.Metric(text, name, labels...); ok {
		t.Errorf("metric %s%v = %v, want no such series", name, labels, v)
	}
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// TestScenarioFacebook: the /23 and both /24s covering every nameserver of
// fb.test are withdrawn at every peer while the covering /17 stays, and
// the nameservers become unreachable (nftables DROP). reachmon pages at
// once, before the resolvers' caches expire (with the expected time of
// impact), then confirms in the thread when the resolvers fail; after the
// routes come back it resolves the page.
func TestScenarioFacebook(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	scenarioFacebook(t, "", 0)
}

// TestBMPScenarioFacebook is TestScenarioFacebook with BMP as the only BGP
// view: the BIRD peers announce to gobgpd, which exports them over BMP to
// reachmon's station (outagelab.Options.BMP).
func TestBMPScenarioFacebook(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	scenarioFacebook(t, "gobgpd", 0)
}

// risLivePeers is how many synthetic RIS peers (over rrc00 and rrc01)
// serve the lab's routes in the RIS Live scenarios.
const risLivePeers = 6

// TestRISLiveScenarioFacebook is TestScenarioFacebook with RIS Live as the
// only BGP view: a bridge in the test peers with the BIRD routers and
// serves their routes over a local RIS Live websocket as risLivePeers RIS
// peers (outagelab.Options.RISLive); the withdrawal is called once the
// [ris_live] min_peers quorum of them withdrew it.
func TestRISLiveScenarioFacebook(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	scenarioFacebook(t, "", risLivePeers)
}

// scenarioFacebook runs the Facebook scenario with the BGP view bmp
// (outagelab.Options.BMP; "": the embedded peer) or, with ris > 0, ris
// RIS Live peers (outagelab.Options.RISLive). Only the embedded peer's
// run records detection latency.
func scenarioFacebook(t *testing.T, bmp string, ris int) {
	const zone = "fb.test"
	l := outagelab.Start(t, outagelab.Options{Zones: []string{"fb.test.", "other.test."}, TTL: 20 * time.Second, Prometheus: true,
		BMP: bmp, RISLive: ris})
	prefixes := l.NSPrefixes(zone)

	fault := l.Mark("withdraw " + strings.Join(prefixStrings(prefixes), ", ") + " at every peer; DROP fb.test's nameservers")
	l.Block(l.NSAddrs(zone)...)
	l.Withdraw(prefixes...)

	page := pageOfKind(t, l, model.IncidentBGPOutage, 15*time.Second)
	toPage := page.Time.Sub(fault)
	early := l.WaitIncident(model.IncidentBGPOutage, zone, 5*time.Second, nil)
	checkRootCause(t, early, append(prefixStrings(prefixes), "ns1.fb.test.", "ns2.fb.test.", "AS32934",
		"only the less-specific 198.18.0.0/17 still covers them")...)
	if early.ImpactAt.IsZero() || !strings.Contains(early.RootCause, "resolvers still answer from cache") {
		t.Errorf("the early page should say resolvers still answer from cache and when that ends: %s (impact_at %v)", early.RootCause, early.ImpactAt)
	}
	if early.Severity != model.SeverityCritical {
		t.Errorf("severity %s, want critical", early.Severity)
	}
	if ris > 0 {
		checkRISEvidence(t, l, early, prefixes, ris)
	}

	// Confirmed once the resolvers' cached answers expire and they fail:
	// first when one fails, then the root cause grows as the others'
	// caches (filled at different moments) expire too.
	first := l.WaitIncident(model.IncidentBGPOutage, zone, 60*time.Second, func(e incident.Entry) bool {
		return len(e.Resolvers) > 0 && strings.Contains(e.RootCause, "; resolvers ")
	})
	toConfirm := time.Since(fault)
	checkRootCause(t, first, prefixStrings(prefixes)...)
	resolvers := []string{"resolver0", "resolver1", "resolver2"}
	confirmed := l.WaitIncident(model.IncidentBGPOutage, zone, 40*time.Second, func(e incident.Entry) bool {
		return len(e.Resolvers) == len(resolvers)
	})
	checkRootCause(t, confirmed, append(prefixStrings(prefixes), resolvers...)...)
	// Thread replies come at least min_update_interval (1 minute) after
	// the page.
	l.WaitFor("a thread update saying the resolvers fail", 70*time.Second, func() (bool, string) {
		return len(threadWith(l, page, "resolver0")) > 0, l.SlackLog()
	})
	if n := len(threadWith(l, page, "time to impact")); n > 3 {
		labBug(t, "impact-jitter", "%d thread replies only for a moved \"time to impact\" while resolvers answered from cache "+
			"(the estimate okAt+TTL jitters by a second every probe round)", n)
	}
	m := l.Metrics()
	metric(t, m, "reachmon_incidents_open", 1, "kind", "bgp_dns_outage", "severity", "critical")
	for _, p := range prefixes {
		metric(t, m, "reachmon_bgp_prefix_visible_peers", 0, "prefix", p.String())
	}
	metric(t, m, "reachmon_bgp_prefix_visible_peers", float64(l.ViewPeers()), "prefix", outagelab.Cover.String())
	l.WaitFor("Prometheus to scrape the open incident", 15*time.Second, func() (bool, string) {
		out, err := l.PromQuery(`reachmon_incidents_open{kind="bgp_dns_outage",severity="critical"}`)
		return err == nil && strings.Contains(out, " 1\n"), fmt.Sprint(out, err)
	})

	recovery := l.Mark("re-announce the prefixes, lift the DROP, resolvers' infrastructure caches expire")
	l.Announce(prefixes...)
	l.Unblock(l.NSAddrs(zone)...)
	l.DNS.FlushResolvers()
	upd := waitResolved(t, l, page, 60*time.Second)
	res := l.WaitIncident(model.IncidentBGPOutage, zone, 5*time.Second, func(e incident.Entry) bool { return e.State == model.StateResolved })
	replies := checkStory(t, l, &page, res, append(prefixStrings(prefixes), "every nameserver of fb.test", "ns1.fb.test.", "ns2.fb.test.",
		"only the less-specific 198.18.0.0/17 still covers them"), "routes re-announced", "resolvers answer again")
	if n := len(pagesOf(l, model.IncidentBGPOutage)); n != 1 {
		t.Errorf("%d BGP-caused outage pages, want 1:\n%s", n, l.SlackLog())
	}
	onlyKinds(t, l, model.IncidentBGPOutage, model.IncidentPrefixWithdrawn)
	for _, e := range l.All() {
		if e.Kind != model.IncidentBGPOutage && e.Paged {
			labBug(t, "withdrawn-first", "%s %s paged %v before the BGP-caused outage absorbed it (one root cause, two pages): %s",
				e.Kind, e.Subject, e.Confirmed.Sub(fault).Round(time.Millisecond), e.RootCause)
		}
	}
	m = l.Metrics()
	metric(t, m, "reachmon_incidents_open", 0, "kind", "bgp_dns_outage", "severity", "critical")
	metric(t, m, "reachmon_incident_transitions_total", 1, "kind", "bgp_dns_outage", "transition", "open")
	metric(t, m, "reachmon_incident_transitions_total", 1, "kind", "bgp_dns_outage", "transition", "resolve")
	if ris > 0 {
		metric(t, m, "reachmon_ris_live_connected", 1)
		for _, p := range prefixes {
			metric(t, m, "reachmon_bgp_prefix_visible_peers", float64(ris), "prefix", p.String())
		}
	}
	if bmp != "" || ris > 0 {
		return
	}
	l.Record(outagelab.Latency{Scenario: "facebook", Kind: string(model.IncidentBGPOutage), Fault: fault, Recovery: recovery,
		ToPage: toPage, ToOpen: early.Confirmed.Sub(fault), ToConfirm: toConfirm, ToResolve: upd.Time.Sub(recovery), ThreadReplies: replies,
		Notes: "record TTL 20 s; confirm = resolvers fail after their cached answers expire; resolve includes bgp_resolve_after/resolve_after"})
}

// checkRISEvidence checks that the incident's evidence names the RIS
// peers that withdrew the nameserver prefixes, down to the last one ("…
// withdrawn, seen by 0 of 6 peers, … (RIS rrc01 peer 203.0.113.6
// (AS64605))"), and that reachmon called each prefix's withdrawal by its
// RIS quorum, at last "withdrawn at 6 of 6 RIS peers" (its log; the
// prefix_withdrawn incident that would say so is absorbed by the
// BGP-caused outage).
func checkRISEvidence(t *testing.T, l *outagelab.Lab, inc incident.Entry, prefixes []netip.Prefix, ris int) {
	t.Helper()
	var b strings.Builder
	named, last := false, false
	for _, ev := range inc.Evidence {
		t.Logf("evidence: %s", ev)
		b.WriteString(ev.String() + "\n")
		for _, rp := range l.RIS.RISPeers {
			if strings.Contains(ev.Text, " withdrawn, seen by ") && strings.Contains(ev.Text, rp.Description()) {
				named = true
				last = last || strings.Contains(ev.Text, fmt.Sprintf("seen by 0 of %d peers", ris))
			}
		}
	}
	if !named || !last {
		t.Errorf("no evidence line names a RIS peer's withdrawal (named %v; the last one, seen by 0 of %d peers: %v; e.g. %q):\n%s",
			named, ris, last, l.RIS.RISPeers[0].Description(), b.String())
	}
	want := fmt.Sprintf("evidence=\"withdrawn at %d of %d RIS peers\"", ris, ris)
	l.WaitFor("reachmon to log each prefix's RIS withdrawal quorum", 10*time.Second, func() (bool, string) {
		log, err := os.ReadFile(l.Log)
		if err != nil {
			return false, err.Error()
		}
		var missing []string
		for _, p := range prefixes {
			found := false
			for _, line := range strings.Split(string(log), "\n") {
				if strings.Contains(line, "withdrawal quorum met") && strings.Contains(line, "prefix="+p.String()+" ") && strings.Contains(line, want) {
					found = true
					break
				}
			}
			if !found {
				missing = append(missing, p.String())
			}
		}
		return len(missing) == 0, fmt.Sprintf("no %s logged for %v", want, missing)
	})
}

// resolvedAfter waits until the incident (kind, subject) is resolved and
// returns it.
func resolvedAfter(l *outagelab.Lab, kind model.IncidentKind, subject string, timeout time.Duration) incident.Entry {
	return l.WaitIncident(kind, subject, timeout, func(e incident.Entry) bool { return e.State == model.StateResolved })
}

// routesUntouched checks every announced prefix is still seen by both peers.
func routesUntouched(t *testing.T, l *outagelab.Lab, m string) {
	t.Helper()
	for _, w := range l.Watched {
		metric(t, m, "reachmon_bgp_prefix_visible_peers", 2, "prefix", w.Prefix.String())
	}
}

// TestScenarioSlack: slack.test is re-signed with a key its DS in test.
// does not name (Slack, 30 Sep 2021); routes are untouched. Validating
// resolvers SERVFAIL, CD=1 succeeds, and the incident names the DS/DNSKEY
// mismatch; restoring the key resolves it.
func TestScenarioSlack(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	const zone = "slack.test"
	// The DS/DNSKEY check runs at start and then every hour, as a user's
	// would (5 m by default): only the check a SERVFAIL onset asks for can
	// name the mismatch on the first page.
	probe := strings.Replace(outagelab.DefaultProbe, `ds_check_interval = "2s"`, `ds_check_interval = "1h"`, 1)
	if probe == outagelab.DefaultProbe {
		t.Fatal("outagelab.DefaultProbe has no ds_check_interval of 2s to replace")
	}
	l := outagelab.Start(t, outagelab.Options{Zones: []string{"slack.test.", "other.test."}, Probe: probe})
	dsTag := l.DNS.Zones["slack.test."].DSKeyTag

	fault := l.Mark("re-sign slack.test with a new key; the DS in test. still names the old one")
	newTag := l.DNS.BreakDNSKEY("slack.test.")
	page := pageOfKind(t, l, model.IncidentDNSSEC, 20*time.Second)
	toPage := page.Time.Sub(fault)
	mismatch := fmt.Sprintf("DS key tag %d has no matching DNSKEY", dsTag)
	if !strings.Contains(page.Text+page.Blocks, mismatch) {
		t.Errorf("the first page does not name the DS/DNSKEY mismatch (%q):\n%s", mismatch, page.Text+page.Blocks)
	}
	inc := l.WaitIncident(model.IncidentDNSSEC, zone, 20*time.Second, func(e incident.Entry) bool {
		return e.Severity == model.SeverityCritical && strings.Contains(e.RootCause, mismatch)
	})
	toConfirm := time.Since(fault)
	checkRootCause(t, inc, "DNSSEC validation of slack.test fails", "SERVFAIL", "CD=1 succeeds", "the authoritative servers answer",
		fmt.Sprintf("DS key tag %d has no matching DNSKEY", dsTag))
	t.Logf("the zone now serves key %d", newTag)
	m := l.Metrics()
	metric(t, m, "reachmon_incidents_open", 1, "kind", "dnssec_failure", "severity", "critical")
	if v, ok := outagelab.Metric(m, "reachmon_dns_cd_retry_total", "result", "success"); !ok || v < 1 {
		t.Errorf("reachmon_dns_cd_retry_total{result=\"success\"} = %v (present %v), want > 0", v, ok)
	}
	metric(t, m, "reachmon_zone_health", 1, "zone", zone, "health", "failing")
	metric(t, m, "reachmon_zone_health", 1, "zone", "other.test", "health", "ok")
	metric(t, m, "reachmon_dns_ds_check_status", 1, "zone", zone, "status", "mismatch")
	absent(t, m, "reachmon_dns_ds_check_status", "zone", zone, "status", "ok")
	routesUntouched(t, l, m)

	recovery := l.Mark("re-sign slack.test with the key its DS names; resolvers drop their bogus cache")
	l.DNS.RestoreDNSKEY("slack.test.")
	l.DNS.FlushResolvers()
	upd := waitResolved(t, l, page, 30*time.Second)
	res := resolvedAfter(l, model.IncidentDNSSEC, zone, 5*time.Second)
	replies := checkStory(t, l, &page, res, []string{"DNSSEC validation of slack.test fails", "CD=1 succeeds",
		fmt.Sprintf("DS key tag %d has no matching DNSKEY", dsTag)}, "resolvers answer again", "the DS record matches a DNSKEY of the zone again")
	if res.Severity != model.SeverityCritical {
		t.Errorf("resolved as %s, want critical: the worst point of the incident", res.Severity)
	}
	if len(threadWith(l, page, "Resolved")) == 0 {
		t.Errorf("no thread reply announcing the resolution:\n%s", l.SlackLog())
	}
	noSecondPage(t, l)
	onlyKinds(t, l, model.IncidentDNSSEC)
	metric(t, l.Metrics(), "reachmon_incident_transitions_total", 1, "kind", "dnssec_failure", "transition", "resolve")
	l.Record(outagelab.Latency{Scenario: "slack", Kind: string(model.IncidentDNSSEC), Fault: fault, Recovery: recovery,
		ToPage: toPage, ToOpen: inc.Confirmed.Sub(fault), ToConfirm: toConfirm, ToResolve: upd.Time.Sub(recovery), ThreadReplies: replies})
}

// TestScenarioAuthoritative: the NSD serving auth.test is stopped while
// its routes stay announced (Dyn 2016): an authoritative outage naming
// both nameservers and saying the routes are visible.
func TestScenarioAuthoritative(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	const zone = "auth.test"
	l := outagelab.Start(t, outagelab.Options{Zones: []string{"auth.test."}})

	fault := l.Mark("stop the NSD serving auth.test (routes stay)")
	l.DNS.StopAuth()
	page := pageOfKind(t, l, model.IncidentAuthOutage, 20*time.Second)
	toPage := page.Time.Sub(fault)
	inc := l.WaitIncident(model.IncidentAuthOutage, zone, 10*time.Second, func(e incident.Entry) bool {
		return e.Severity == model.SeverityCritical
	})
	checkRootCause(t, inc, "Every authoritative server of auth.test fails", "ns1.auth.test.", "ns2.auth.test.",
		"198.18.10.1", "198.18.11.1", "while its routes are visible")
	if inc.Severity != model.SeverityCritical {
		t.Errorf("severity %s, want critical", inc.Severity)
	}
	m := l.Metrics()
	metric(t, m, "reachmon_incidents_open", 1, "kind", "authoritative_outage", "severity", "critical")
	metric(t, m, "reachmon_zone_health", 1, "zone", zone, "health", "failing")
	metric(t, m, "reachmon_dns_probe_failing", 1, "zone", zone, "server", "ns1.auth.test.", "kind", "authoritative")
	routesUntouched(t, l, m)

	recovery := l.Mark("start the NSD again")
	l.DNS.StartAuth()
	upd := waitResolved(t, l, page, 30*time.Second)
	res := resolvedAfter(l, model.IncidentAuthOutage, zone, 5*time.Second)
	replies := checkStory(t, l, &page, res, []string{"Every authoritative server of auth.test fails", "ns1.auth.test.", "ns2.auth.test.",
		"198.18.10.1", "198.18.11.1", "while its routes are visible"}, "authoritative servers answer again")
	noSecondPage(t, l)
	onlyKinds(t, l, model.IncidentAuthOutage)
	l.Record(outagelab.Latency{Scenario: "authoritative", Kind: string(model.IncidentAuthOutage), Fault: fault, Recovery: recovery,
		ToPage: toPage, ToOpen: inc.Confirmed.Sub(fault), ToResolve: upd.Time.Sub(recovery), ThreadReplies: replies})
}

// TestScenarioFeedLost: both BGP sessions drop while DNS is healthy: a
// feed_lost incident per peer (monitor health, info: never paged), the
// routes become unknown rather than withdrawn, and no outage opens.
func TestScenarioFeedLost(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	l := outagelab.Start(t, outagelab.Options{Zones: []string{"fb.test.", "other.test."}})

	fault := l.Mark("cut both BGP sessions (BIRD disables the protocol: Cease)")
	l.SessionDown(0)
	l.SessionDown(1)
	var incs []incident.Entry
	l.WaitFor("a feed_lost incident per peer", 15*time.Second, func() (bool, string) {
		incs = incs[:0]
		for _, e := range l.All() {
			if e.Kind == model.IncidentFeedLost && e.IsOpen() {
				incs = append(incs, e)
			}
		}
		return len(incs) == 2, fmt.Sprint(incs)
	})
	toOpen := time.Since(fault)
	for _, e := range incs {
		checkRootCause(t, e, "is down", "its routes are unknown, not withdrawn", "BGP verdicts are suspended")
		if e.Severity != model.SeverityInfo || e.Paged {
			t.Errorf("feed_lost %s: severity %s paged %v, want info and not paged", e.Subject, e.Severity, e.Paged)
		}
	}
	// Hold the fault long enough for any wrong verdict to open and page.
	time.Sleep(5 * time.Second)
	m := l.Metrics()
	metric(t, m, "reachmon_incidents_open", 2, "kind", "feed_lost", "severity", "info")
	metric(t, m, "reachmon_bgp_peer_up", 0, "peer", outagelab.PeerAddr(0).String())
	if st, err := l.Status(); err != nil || st.BGP.Usable {
		t.Errorf("BGP verdicts should be suspended with no session up: %+v %v", st, err)
	}

	recovery := l.Mark("bring both sessions back")
	l.SessionUp(0)
	l.SessionUp(1)
	var resolvedAt time.Time
	defer func() {
		// The sessions are back and their tables re-sent: nothing else
		// may open (a re-synced peer's routes are not withdrawals).
		time.Sleep(8 * time.Second)
		if c := l.Slack.Calls(); len(c) > 0 {
			t.Errorf("Slack was called after the feed came back:\n%s", l.SlackLog())
		}
		onlyKinds(t, l, model.IncidentFeedLost)
	}()
	l.WaitFor("both feed_lost incidents to resolve", 40*time.Second, func() (bool, string) {
		n := 0
		for _, e := range l.All() {
			if e.Kind == model.IncidentFeedLost && e.State == model.StateResolved {
				n++
				if e.Resolved.After(resolvedAt) {
					resolvedAt = e.Resolved
				}
			}
		}
		return n == 2, fmt.Sprint(l.All())
	})
	for _, e := range l.All() {
		if e.Kind == model.IncidentFeedLost {
			checkStory(t, l, nil, e, []string{"is down", "its routes are unknown, not withdrawn"}, "the session is back")
		}
	}
	if c := l.Slack.Calls(); len(c) > 0 {
		t.Errorf("the monitor's own problem reached Slack:\n%s", l.SlackLog())
	}
	onlyKinds(t, l, model.IncidentFeedLost)
	l.Record(outagelab.Latency{Scenario: "feed-lost", Kind: string(model.IncidentFeedLost), Fault: fault, Recovery: recovery,
		ToOpen: toOpen, ToResolve: resolvedAt.Sub(recovery), Notes: "info severity: never paged; times are to the incident"})
}

// zoneOutageKinds are the kinds that would blame a zone.
var zoneOutageKinds = []model.IncidentKind{model.IncidentBGPOutage, model.IncidentAuthOutage, model.IncidentDNSSEC}

// TestScenarioResolver: resolver0's /24 is withdrawn and its address
// becomes unreachable (1.1.1.1, July 2025): a resolver outage naming its
// withdrawn route, and no zone is blamed.
func TestScenarioResolver(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	scenarioResolver(t, "", 0)
}

// TestBMPScenarioResolver is TestScenarioResolver with BMP as the only BGP
// view: the BIRD peers announce to gobgpd, which exports them over BMP to
// reachmon's station (outagelab.Options.BMP).
func TestBMPScenarioResolver(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	scenarioResolver(t, "gobgpd", 0)
}

// TestRISLiveScenarioResolver is TestScenarioResolver with RIS Live as the
// only BGP view: risLivePeers RIS peers serve the lab's routes
// (outagelab.Options.RISLive), and the resolver's /24 is withdrawn once
// the [ris_live] min_peers quorum of them withdrew it.
func TestRISLiveScenarioResolver(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	scenarioResolver(t, "", risLivePeers)
}

// scenarioResolver runs the resolver scenario with the BGP view bmp
// (outagelab.Options.BMP; "": the embedded peer) or, with ris > 0, ris
// RIS Live peers (outagelab.Options.RISLive). The BMP and RIS Live runs
// also check that the evidence names the source's peers; only the
// embedded peer's run records detection latency.
func scenarioResolver(t *testing.T, bmp string, ris int) {
	l := outagelab.Start(t, outagelab.Options{Zones: []string{"a.test.", "b.test."}, BMP: bmp, RISLive: ris})
	res := l.Plan.Resolver(0)
	pfx := l.Plan.ResolverPrefix(0)

	fault := l.Mark(fmt.Sprintf("DROP resolver0 (%v) and withdraw its %v at every peer", res, pfx))
	l.Block(res)
	l.Withdraw(pfx)
	deadline := time.Now().Add(20 * time.Second)
	for len(pagesOf(l, model.IncidentResolverOutage)) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if len(pagesOf(l, model.IncidentResolverOutage)) == 0 {
		// Whatever happens, no zone may be blamed for the resolver.
		for _, e := range l.All() {
			if slices.Contains(zoneOutageKinds, e.Kind) {
				t.Errorf("a zone was blamed for the resolver's outage: %s %s: %s", e.Kind, e.Subject, e.RootCause)
			}
		}
		st, _ := l.Status()
		labBug(t, "resolver-held", "no resolver_outage 20 s after resolver0 died: the control zone fails at resolver0, "+
			"so evaluate.held() (vantageSuspect: ctlDown > 0) holds every DNS verdict, the resolver's own included; status: %+v; incidents:\n%s",
			st.Resolvers, l.SlackLog())
		t.FailNow()
	}
	page := pagesOf(l, model.IncidentResolverOutage)[0]
	toPage := page.Time.Sub(fault)
	inc := l.WaitIncident(model.IncidentResolverOutage, "resolver0", 10*time.Second, func(e incident.Entry) bool {
		return slices.Contains(e.Prefixes, pfx)
	})
	for _, ev := range inc.Evidence {
		t.Logf("evidence at fault%+v: %s", ev.Time.Sub(fault).Round(time.Millisecond), ev.Text)
	}
	checkRootCause(t, inc, "Resolver resolver0 fails for every zone", "resolver1", "resolver2",
		"its own route "+pfx.String()+" (origin AS13335) was withdrawn from BGP", "the resolver is broken, not the zones")
	time.Sleep(3 * time.Second) // room for a wrong zone verdict to open
	m := l.Metrics()
	metric(t, m, "reachmon_incidents_open", 1, "kind", "resolver_outage", "severity", "warning")
	metric(t, m, "reachmon_bgp_prefix_visible_peers", 0, "prefix", pfx.String())
	switch {
	case bmp != "":
		if ev := evidenceText(inc); !strings.Contains(ev, "router "+outagelab.RouterName) {
			t.Errorf("evidence does not name router %s:\n%s", outagelab.RouterName, ev)
		}
	case ris > 0:
		risWithdrawEvidence(t, l, inc, pfx)
	}

	recovery := l.Mark("re-announce the resolver's prefix and lift the DROP")
	l.Announce(pfx)
	l.Unblock(res)
	upd := waitResolved(t, l, page, 40*time.Second)
	done := resolvedAfter(l, model.IncidentResolverOutage, "resolver0", 5*time.Second)
	replies := checkStory(t, l, &page, done, []string{"Resolver resolver0 fails for every zone",
		"its own route " + pfx.String() + " (origin AS13335) was withdrawn from BGP"},
		"route "+pfx.String()+" re-announced", "resolver resolver0 answers again")
	if n := len(pagesOf(l, model.IncidentResolverOutage)); n != 1 {
		t.Errorf("%d resolver outage pages, want 1:\n%s", n, l.SlackLog())
	}
	for _, e := range l.All() {
		switch {
		case slices.Contains(zoneOutageKinds, e.Kind):
			t.Errorf("a zone was blamed for the resolver's outage: %s %s: %s", e.Kind, e.Subject, e.RootCause)
		case e.Kind == model.IncidentPrefixWithdrawn && e.Paged:
			labBug(t, "withdrawn-first", "prefix_withdrawn %s paged %v after the fault, besides the resolver outage it is part of: %s",
				e.Subject, e.Confirmed.Sub(fault).Round(time.Millisecond), e.RootCause)
		case e.Kind != model.IncidentResolverOutage && e.Kind != model.IncidentPrefixWithdrawn:
			t.Errorf("unexpected %s incident %s: %s", e.Kind, e.Subject, e.RootCause)
		}
	}
	if ris > 0 {
		metric(t, l.Metrics(), "reachmon_bgp_prefix_visible_peers", float64(ris), "prefix", pfx.String())
	}
	if bmp != "" || ris > 0 {
		return
	}
	l.Record(outagelab.Latency{Scenario: "resolver", Kind: string(model.IncidentResolverOutage), Fault: fault, Recovery: recovery,
		ToPage: toPage, ToOpen: inc.Confirmed.Sub(fault), ToResolve: upd.Time.Sub(recovery), ThreadReplies: replies})
}

// risWithdrawEvidence checks that the incident's evidence names a RIS
// peer that withdrew the route pfx.
func risWithdrawEvidence(t *testing.T, l *outagelab.Lab, inc incident.Entry, pfx netip.Prefix) {
	t.Helper()
	for _, ev := range inc.Evidence {
		if !strings.Contains(ev.Text, pfx.String()) {
			continue
		}
		for _, rp := range l.RIS.RISPeers {
			if strings.Contains(ev.Text, rp.Description()) {
				return
			}
		}
	}
	t.Errorf("no evidence line of %v names a RIS peer (e.g. %q):\n%s", pfx, l.RIS.RISPeers[0].Description(), evidenceText(inc))
}

// hijackPrefix is the more-specific of fb.test's watched /23 that peer 1
// announces from a foreign origin in TestScenarioHijack.
var hijackPrefix = netip.MustParsePrefix("198.18.10.0/25")

const hijackOrigin = 64666

// TestScenarioHijack: peer 1 announces a more-specific of a watched
// prefix from an unexpected origin (Route 53 / MyEtherWallet 2018).
func TestScenarioHijack(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	scenarioHijack(t, "", 0)
}

// TestBMPScenarioHijack is TestScenarioHijack with BMP as the only BGP
// view: the BIRD peers announce to FRR's bgpd, which exports them over
// BMP to reachmon's station (outagelab.Options.BMP).
func TestBMPScenarioHijack(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	scenarioHijack(t, "frr", 0)
}

// TestRISLiveScenarioHijack is TestScenarioHijack with RIS Live as the
// only BGP view: the RIS peers following BIRD peer 1 (half of
// risLivePeers, over rrc00 and rrc01) announce the more-specific
// (outagelab.Options.RISLive).
func TestRISLiveScenarioHijack(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	scenarioHijack(t, "", risLivePeers)
}

// scenarioHijack runs the hijack scenario with the BGP view bmp ("": the
// embedded peer, which alone records detection latency) or, with ris > 0,
// ris RIS Live peers.
func scenarioHijack(t *testing.T, bmp string, ris int) {
	l := outagelab.Start(t, outagelab.Options{Zones: []string{"fb.test.", "other.test."}, BMP: bmp, RISLive: ris,
		Extra: []outagelab.Route{{Prefix: hijackPrefix, Origin: hijackOrigin, Peers: []int{1}, Disabled: true}}})

	fault := l.Mark(fmt.Sprintf("peer 1 announces %v from AS%d", hijackPrefix, hijackOrigin))
	l.AnnounceAt(1, hijackPrefix)
	page := pageOfKind(t, l, model.IncidentHijack, 15*time.Second)
	toPage := page.Time.Sub(fault)
	inc := l.WaitIncident(model.IncidentHijack, "", 5*time.Second, nil)
	checkRootCause(t, inc, hijackPrefix.String(), fmt.Sprintf("AS%d", hijackOrigin), "198.18.10.0/23")
	// One incident per watched prefix and unexpected origin, the hijacked
	// routes as its prefixes.
	if want := fmt.Sprintf("198.18.10.0/23 AS%d", hijackOrigin); inc.Subject != want {
		t.Errorf("subject %q, want %q", inc.Subject, want)
	}
	if !slices.Equal(inc.Prefixes, []netip.Prefix{hijackPrefix}) || !slices.Equal(inc.ASNs, []uint32{hijackOrigin}) {
		t.Errorf("prefixes %v asns %v, want [%v] [%d]", inc.Prefixes, inc.ASNs, hijackPrefix, hijackOrigin)
	}
	if inc.Severity != model.SeverityCritical {
		t.Errorf("severity %s, want critical", inc.Severity)
	}
	m := l.Metrics()
	metric(t, m, "reachmon_incidents_open", 1, "kind", "prefix_hijack", "severity", "critical")
	if ris > 0 {
		// Every RIS peer following BIRD peer 1 (half of them, on both
		// collectors) carries the hijack, and the others do not.
		seen := fmt.Sprintf("(seen by %d of %d peers)", ris/2, ris)
		inc = l.WaitIncident(model.IncidentHijack, inc.Subject, 10*time.Second, func(e incident.Entry) bool {
			return strings.Contains(e.RootCause, seen)
		})
		risHijackEvidence(t, l, inc)
	}

	recovery := l.Mark("peer 1 withdraws the hijack")
	l.WithdrawAt(1, hijackPrefix)
	upd := waitResolved(t, l, page, 40*time.Second)
	res := resolvedAfter(l, model.IncidentHijack, inc.Subject, 5*time.Second)
	replies := checkStory(t, l, &page, res, []string{hijackPrefix.String(), fmt.Sprintf("AS%d", hijackOrigin), "198.18.10.0/23"},
		fmt.Sprintf("route %v no longer originated by AS%d", hijackPrefix, hijackOrigin))
	noSecondPage(t, l)
	onlyKinds(t, l, model.IncidentHijack)
	if bmp != "" || ris > 0 {
		return
	}
	l.Record(outagelab.Latency{Scenario: "hijack", Kind: string(model.IncidentHijack), Fault: fault, Recovery: recovery,
		ToPage: toPage, ToOpen: inc.Confirmed.Sub(fault), ToResolve: upd.Time.Sub(recovery), ThreadReplies: replies,
		Notes: "resolve includes bgp_resolve_after (10 s)"})
}

// risHijackEvidence checks that the hijack's evidence names a RIS peer
// that carried the more-specific: one following BIRD peer 1.
func risHijackEvidence(t *testing.T, l *outagelab.Lab, inc incident.Entry) {
	t.Helper()
	var b strings.Builder
	for _, ev := range inc.Evidence {
		t.Logf("evidence: %s", ev)
		b.WriteString(ev.String() + "\n")
		if !strings.Contains(ev.Text, hijackPrefix.String()) {
			continue
		}
		for _, rp := range l.RIS.RISPeers {
			if rp.Follows == 1 && strings.Contains(ev.Text, rp.Description()) {
				return
			}
		}
	}
	t.Errorf("no evidence line of %v names a RIS peer that carried it:\n%s", hijackPrefix, b.String())
}

// TestScenarioVantageDown: every DNS server becomes unreachable at once
// (reachmon's own network): one vantage_down incident (monitor health,
// not paged), and no zone or resolver is blamed.
func TestScenarioVantageDown(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	l := outagelab.Start(t, outagelab.Options{Zones: []string{"a.test.", "b.test."}})

	fault := l.Mark("DROP every DNS server (root, test., resolvers, nameservers)")
	l.Block(l.AllDNSAddrs()...)
	inc := l.WaitIncident(model.IncidentVantageDown, "", 20*time.Second, nil)
	toOpen := inc.Confirmed.Sub(fault)
	checkRootCause(t, inc, "From vantage outagelab every control check (test) fails", "reachmon's own network")
	time.Sleep(5 * time.Second) // room for wrong verdicts
	metric(t, l.Metrics(), "reachmon_incidents_open", 1, "kind", "vantage_down", "severity", "info")

	recovery := l.Mark("lift the DROP")
	l.Unblock(l.AllDNSAddrs()...)
	res := resolvedAfter(l, model.IncidentVantageDown, "", 40*time.Second)
	checkStory(t, l, nil, res, []string{"From vantage outagelab every control check (test) fails", "reachmon's own network"},
		"the checks answer again")
	time.Sleep(3 * time.Second)
	n := 0
	for _, e := range l.All() {
		switch {
		case e.Kind == model.IncidentVantageDown:
			n++
		case e.Kind == model.IncidentAuthOutage && e.Confirmed.Before(inc.Confirmed):
			labBug(t, "vantage-race", "%s %s opened %v after the fault, %v before vantage_down, and paged=%v: "+
				"zones whose own servers cross open_rounds before every control check has are not held (open_after 0): %s",
				e.Kind, e.Subject, e.Confirmed.Sub(fault).Round(time.Millisecond), inc.Confirmed.Sub(e.Confirmed).Round(time.Millisecond), e.Paged, e.RootCause)
		default:
			t.Errorf("unexpected %s incident %s (paged %v): %s", e.Kind, e.Subject, e.Paged, e.RootCause)
		}
	}
	if n != 1 {
		t.Errorf("%d vantage_down incidents, want 1", n)
	}
	for _, p := range l.Pages() {
		if !strings.Contains(p.Text, model.IncidentAuthOutage.Title()+":") {
			t.Errorf("the monitor's own problem reached Slack: %s", p.Text)
		}
	}
	l.Record(outagelab.Latency{Scenario: "vantage-down", Kind: string(model.IncidentVantageDown), Fault: fault, Recovery: recovery,
		ToOpen: toOpen, ToResolve: res.Resolved.Sub(recovery), Notes: "info severity: never paged; times are to the incident"})
}

// TestScenarioFlapping: www.other.test's watched /24 is withdrawn and
// re-announced every 3 s for a minute: one incident, one page, a bounded
// thread, and one resolve after the flapping stops.
func TestScenarioFlapping(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	scenarioFlapping(t, "", 0)
}

// TestBMPScenarioFlapping is TestScenarioFlapping with BMP as the only BGP
// view: the BIRD peers announce to gobgpd, which exports them over BMP to
// reachmon's station (outagelab.Options.BMP).
func TestBMPScenarioFlapping(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	scenarioFlapping(t, "gobgpd", 0)
}

// TestRISLiveScenarioFlapping is TestScenarioFlapping with RIS Live as the
// only BGP view: risLivePeers RIS peers serve the lab's routes
// (outagelab.Options.RISLive).
func TestRISLiveScenarioFlapping(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	scenarioFlapping(t, "", risLivePeers)
}

// scenarioFlapping runs the flapping scenario with the BGP view bmp
// (outagelab.Options.BMP; "": the embedded peer) or, with ris > 0, ris
// RIS Live peers (outagelab.Options.RISLive). The BMP and RIS Live runs
// also check that the evidence names the source's peers; only the
// embedded peer's run records detection latency.
func scenarioFlapping(t *testing.T, bmp string, ris int) {
	l := outagelab.Start(t, outagelab.Options{Zones: []string{"fb.test.", "other.test."}, BMP: bmp, RISLive: ris})
	pfx := netip.PrefixFrom(l.Plan.WWW(1), 24).Masked()

	fault := l.Mark(fmt.Sprintf("flap %v (withdraw 3 s, announce 3 s) for 60 s", pfx))
	flaps := 0
	for time.Since(fault) < 60*time.Second && flaps < 20 {
		l.Withdraw(pfx)
		time.Sleep(3 * time.Second)
		l.Announce(pfx)
		flaps++
		time.Sleep(3 * time.Second)
	}
	recovery := l.Mark(fmt.Sprintf("flapping stopped after %d withdrawals; the prefix stays announced", flaps))
	page := pageOfKind(t, l, model.IncidentPrefixWithdrawn, 5*time.Second)
	upd := waitResolved(t, l, page, 40*time.Second)
	noSecondPage(t, l)
	onlyKinds(t, l, model.IncidentPrefixWithdrawn)
	var incs []incident.Entry
	for _, e := range l.All() {
		if e.Kind == model.IncidentPrefixWithdrawn {
			incs = append(incs, e)
		}
	}
	replies := len(l.Replies(page.TS))
	if len(incs) != 1 {
		t.Errorf("%d prefix_withdrawn incidents, want 1 for the whole flapping:\n%v", len(incs), incs)
	} else {
		checkRootCause(t, incs[0], pfx.String(), "AS32934")
		replies = checkStory(t, l, &page, incs[0], []string{"Watched prefix " + pfx.String(), "AS32934"}, "route "+pfx.String()+" re-announced")
		switch {
		case bmp != "":
			if ev := evidenceText(incs[0]); !strings.Contains(ev, "router "+outagelab.RouterName) {
				t.Errorf("evidence does not name router %s:\n%s", outagelab.RouterName, ev)
			}
		case ris > 0:
			risWithdrawEvidence(t, l, incs[0], pfx)
		}
	}
	t.Logf("%d flaps: %d page, %d thread replies, %d edits", flaps, len(l.Pages()), len(l.Replies(page.TS)), len(l.Updates(page.TS)))
	metric(t, l.Metrics(), "reachmon_incident_transitions_total", 1, "kind", "prefix_withdrawn", "transition", "open")
	if bmp != "" || ris > 0 {
		return
	}
	l.Record(outagelab.Latency{Scenario: "flapping", Kind: string(model.IncidentPrefixWithdrawn), Fault: fault, Recovery: recovery,
		ToPage: page.Time.Sub(fault), ToResolve: upd.Time.Sub(recovery), ThreadReplies: replies,
		Notes: fmt.Sprintf("%d flaps in 60 s; one page; resolve includes bgp_resolve_after (10 s)", flaps)})
}

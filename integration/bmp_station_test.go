package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/outagelab"
	"github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
)

// TestBMPStationGoBGPD: BMP as the only BGP source, Debian's gobgpd as
// the router exporting its two BIRD peers (see runBMPStation).
func TestBMPStationGoBGPD(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	runBMPStation(t, "gobgpd")
}

// TestBMPStationFRR: the same with FRR's bgpd and its BMP module.
func TestBMPStationFRR(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	runBMPStation(t, "frr")
}

// runBMPStation runs the outage lab with BMP as the only BGP view (no
// [[bgp.neighbor]]): the two BIRD peers announce the lab's prefixes to a
// real router (sender), which exports them over BMP to reachmon's station.
// reachmon lists both peers of router edge1 in /api/v1/peers and their
// routes in /api/v1/routes; withdrawing fb.test's nameserver prefixes at
// both BIRD peers while the nameservers stop answering opens the same
// bgp_dns_outage the embedded peer opens (TestScenarioFacebook), with
// evidence naming the router; killing the router (by pid) opens feed_lost
// for it, and no outage is called from the routes that became unknown.
func runBMPStation(t *testing.T, sender string) {
	l := outagelab.Start(t, outagelab.Options{Zones: []string{"fb.test.", "other.test."}, BMP: sender})
	zone := "fb.test"
	prefixes := l.NSPrefixes(zone)

	// /api/v1/peers: both BIRD peers, as peers of router edge1, up and
	// synced (Start waited for that through /api/v1/status).
	peersDoc := l.Get("/api/v1/peers")
	var pv bgp.PeersView
	if err := json.Unmarshal(peersDoc, &pv); err != nil {
		t.Fatalf("/api/v1/peers: %v: %s", err, peersDoc)
	}
	if !pv.Enabled || len(pv.Peers) != 2 {
		t.Fatalf("/api/v1/peers: want BGP enabled with 2 peers:\n%s", peersDoc)
	}
	for i := range 2 {
		if !strings.Contains(string(peersDoc), outagelab.PeerAddr(i).String()) {
			t.Errorf("/api/v1/peers does not name BIRD peer %s:\n%s", outagelab.PeerAddr(i), peersDoc)
		}
	}
	if !strings.Contains(string(peersDoc), outagelab.RouterName) {
		t.Errorf("/api/v1/peers does not name router %s:\n%s", outagelab.RouterName, peersDoc)
	}
	for _, p := range pv.Peers {
		if p.State != "up" || !p.Synced {
			t.Errorf("peer %s: state %s synced %v, want up and synced", p.Peer, p.State, p.Synced)
		}
	}

	// /api/v1/routes: each nameserver prefix at both peers, origin AS32934.
	for _, p := range prefixes {
		doc := l.Get("/api/v1/routes?q=" + p.String())
		var rv bgp.RoutesView
		if err := json.Unmarshal(doc, &rv); err != nil {
			t.Fatalf("/api/v1/routes?q=%s: %v: %s", p, err, doc)
		}
		found := false
		for _, r := range rv.Routes {
			if r.Prefix != p {
				continue
			}
			found = true
			if len(r.Paths) != 2 {
				t.Errorf("route %s: %d paths, want one per BIRD peer: %s", p, len(r.Paths), doc)
			}
			for _, path := range r.Paths {
				if path.Origin != outagelab.ZoneOrigin {
					t.Errorf("route %s at %s: origin %d, want %d", p, path.Peer, path.Origin, outagelab.ZoneOrigin)
				}
			}
		}
		if !found {
			t.Errorf("/api/v1/routes?q=%s has no route %s: %s", p, p, doc)
		}
	}
	m := l.Metrics()
	metric(t, m, "reachmon_bgp_prefix_visible_peers", 2, "prefix", outagelab.Cover.String())

	// The Facebook fault, seen through BMP only.
	fault := l.Mark("withdraw " + strings.Join(prefixStrings(prefixes), ", ") + " at both BIRD peers of " + sender + "; DROP fb.test's nameservers")
	l.Block(l.NSAddrs(zone)...)
	l.Withdraw(prefixes...)
	page := pageOfKind(t, l, model.IncidentBGPOutage, 20*time.Second)
	t.Logf("paged %v after the withdrawal", page.Time.Sub(fault).Round(time.Millisecond))
	inc := l.WaitIncident(model.IncidentBGPOutage, zone, 5*time.Second, nil)
	checkRootCause(t, inc, append(prefixStrings(prefixes), "ns1.fb.test.", "ns2.fb.test.", "AS32934",
		"only the less-specific 198.18.0.0/17 still covers them")...)
	if inc.Severity != model.SeverityCritical {
		t.Errorf("severity %s, want critical", inc.Severity)
	}
	if ev := evidenceText(inc); !strings.Contains(ev, "router "+outagelab.RouterName) {
		t.Errorf("evidence does not name router %s:\n%s", outagelab.RouterName, ev)
	}
	for _, p := range prefixes {
		metric(t, l.Metrics(), "reachmon_bgp_prefix_visible_peers", 0, "prefix", p.String())
	}

	// The routes come back, then the router dies: feed_lost for it, and
	// its peers' routes become unknown, not withdrawn.
	l.Announce(prefixes...)
	l.Unblock(l.NSAddrs(zone)...)
	l.DNS.FlushResolvers()
	resolvedAfter(l, model.IncidentBGPOutage, zone, 60*time.Second)
	pid := l.Sender.Pid()
	kill := l.Mark(fmt.Sprintf("kill the BMP sender %s (pid %d)", sender, pid))
	l.KillSender()
	var lost incident.Entry
	l.WaitFor("feed_lost for router "+outagelab.RouterName, 30*time.Second, func() (bool, string) {
		for _, e := range l.All() {
			if e.Kind == model.IncidentFeedLost && e.IsOpen() {
				lost = e
				return true, ""
			}
		}
		return false, describeAll(l.All())
	})
	t.Logf("feed_lost %q after %v: %s", lost.Subject, time.Since(kill).Round(time.Millisecond), lost.RootCause)
	if !strings.Contains(lost.Subject+" "+lost.RootCause, outagelab.RouterName) {
		t.Errorf("feed_lost does not name router %s: subject %q, root cause %q", outagelab.RouterName, lost.Subject, lost.RootCause)
	}
	if lost.Severity != model.SeverityInfo || lost.Paged {
		t.Errorf("feed_lost: severity %s paged %v, want info and not paged", lost.Severity, lost.Paged)
	}
	// Hold long enough for a wrong verdict to open.
	time.Sleep(5 * time.Second)
	for _, e := range l.All() {
		if e.IsOpen() && e.Kind != model.IncidentFeedLost {
			t.Errorf("%s %s opened after the BMP sender died: %s", e.Kind, e.Subject, e.RootCause)
		}
	}
	if st, err := l.Status(); err != nil || st.BGP.Usable {
		t.Errorf("BGP verdicts should be suspended with the only BGP source gone: usable=%v err=%v", st != nil && st.BGP.Usable, err)
	}
}

func evidenceText(e incident.Entry) string {
	var b strings.Builder
	for _, it := range e.Evidence {
		b.WriteString(it.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func describeAll(all []incident.Entry) string {
	var b strings.Builder
	for _, e := range all {
		fmt.Fprintf(&b, "%s %s %s: %s\n", e.Kind, e.Subject, e.State, e.RootCause)
	}
	return b.String()
}

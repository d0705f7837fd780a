package evaluate

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

var exAuth = []authSrv{
	{"ns1.example.com.", mustAddr("192.0.2.1")},
	{"ns2.example.com.", mustAddr("192.0.2.2")},
}

// signedZone is what each authoritative server of example.com serves:
// its SOA serial, the validity of its signatures, and how it answers.
type signedZone struct {
	serial map[string]uint32
	sig    map[string]*model.SigValidity
	rcode  map[string]string // "" NOERROR with AA; "REFUSED", "SERVFAIL", "noaa"
	errc   map[string]model.ErrorClass
	// alternate: every other round the servers are asked www.example.com A.
	alternate bool
}

// forecastWorld is example.com with two nameservers and one validating
// resolver; the servers answer the apex SOA as sz says.
func forecastWorld(t *testing.T, cfg config.Evaluate) (*world, *signedZone) {
	t.Helper()
	w := newWorld(t, cfg, Targets{Vantage: "test", Zones: []Zone{{Name: "example.com."}},
		Resolvers: []Resolver{{Name: "cloudflare", Validating: true, Addr: mustAddr("1.1.1.1")}}})
	w.auth["example.com"] = exAuth
	d := model.Discovery{Time: w.now, Zone: "example.com.", NS: []string{"ns1.example.com.", "ns2.example.com."}, TTL: time.Hour,
		ParentNS: []string{"ns1.example.com.", "ns2.example.com."}, ApexNS: []string{"ns1.example.com.", "ns2.example.com."}}
	for _, a := range exAuth {
		d.Servers = append(d.Servers, model.AuthServer{Host: a.host, Addr: netip.AddrPortFrom(a.addr, 53), Sources: []model.AuthSource{model.SourceParent}})
	}
	w.apply(d)
	sz := &signedZone{serial: map[string]uint32{}, sig: map[string]*model.SigValidity{}, rcode: map[string]string{}, errc: map[string]model.ErrorClass{}}
	for _, a := range exAuth {
		sz.serial[a.host] = 7
	}
	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		o := okObs(z, s, now, "", 3600)
		o.Type = "SOA"
		o.Answers = []string{"example.com. IN SOA ns1.example.com. h.example.com. 7 7200 3600 1209600 300"}
		if s.Kind != model.KindAuthoritative {
			return o
		}
		if sz.alternate && now.Unix()/30%2 == 1 {
			o.Name, o.Type, o.Answers = "www.example.com.", "A", []string{"www.example.com. IN A 192.0.2.80"}
			if rc := sz.rcode[s.Name]; rc == "noaa" {
				o.AA = false
			} else if rc != "" {
				o.Rcode, o.AA, o.Answers = rc, false, nil
			}
			return o
		}
		if c := sz.errc[s.Name]; c != "" {
			o = failObs(z, s, now, "", c)
			o.Type = "SOA"
			return o
		}
		switch rc := sz.rcode[s.Name]; rc {
		case "":
			serial := sz.serial[s.Name]
			o.SOASerial = &serial
			if v := sz.sig[s.Name]; v != nil {
				c := *v
				o.RRSIG, o.Signed = &c, true
			}
		case "noaa":
			o.AA = false
		default:
			o.Rcode, o.AA, o.Answers = rc, false, nil
		}
		return o
	}
	return w, sz
}

// signAll makes every server serve signatures valid from inception to
// expiration over data with the given TTL.
func (sz *signedZone) signAll(inception, expiration time.Time, ttl uint32) {
	for _, a := range exAuth {
		sz.sig[a.host] = &model.SigValidity{Inception: inception, Expiration: expiration, TTL: ttl}
	}
}

func (w *world) changesOf(kind model.IncidentKind, t model.ChangeType) []model.IncidentChange {
	var out []model.IncidentChange
	for _, c := range w.changes {
		if c.Incident.Kind == kind && c.Type == t {
			out = append(out, c)
		}
	}
	return out
}

// TestSignatureExpiryForecast: the zone is signed until 72 h 10 m from
// now (TTL 1 h). The forecast warns once the expiry is within the 72 h
// horizon, turns critical once it is closer than the TTL, and resolves
// when a re-sign moves the expiry past the horizon; one incident, one
// severity change, a quiet thread.
func TestSignatureExpiryForecast(t *testing.T) {
	w, sz := forecastWorld(t, testConfig())
	expiry := t0.Add(72*time.Hour + 10*time.Minute)
	sz.signAll(t0.Add(-time.Hour), expiry, 3600)
	w.runFor(9*time.Minute, 30*time.Second)
	if n := len(w.changes); n != 0 {
		t.Fatalf("%d changes before the horizon: %+v", n, w.changes)
	}
	w.runFor(2*time.Minute, 30*time.Second) // crosses 72 h before the expiry
	open := w.changesOf(model.IncidentDNSSECExpiry, model.ChangeOpen)
	if len(open) != 1 {
		t.Fatalf("want one dnssec_expiry open at the horizon, got %d (changes %+v)", len(open), w.changes)
	}
	inc := open[0].Incident
	if inc.Severity != model.SeverityWarning || inc.Subject != "example.com" || inc.SubjectKind != model.SubjectZone {
		t.Errorf("opened %s %s %s, want a warning about zone example.com", inc.Severity, inc.SubjectKind, inc.Subject)
	}
	mustContain(t, "root cause", inc.RootCause, "example.com. SOA", "ns1.example.com. (192.0.2.1)", "ns2.example.com. (192.0.2.2)",
		"expire at 2021-10-07 15:40:00 UTC", "in 2d 23h", "within the 3d 0h warning horizon")
	mustContain(t, "timeline", inc.Timeline(), "serves the RRSIG over example.com. SOA expiring 2021-10-07 15:40:00 UTC")
	if len(inc.Servers) != 2 {
		t.Errorf("servers %v, want both nameservers", inc.Servers)
	}

	// Probing on, 10-minute rounds: critical once less than the 1 h TTL is left.
	w.runFor(71*time.Hour, 10*time.Minute)
	crit := w.e.Open()
	if len(crit) != 1 || crit[0].Severity != model.SeverityCritical {
		t.Fatalf("want the incident critical inside the TTL, got %+v", crit)
	}
	mustContain(t, "critical root cause", crit[0].RootCause, "closer than the 1h 0m TTL of the signed data",
		"validating resolvers will fail before a re-sign reaches them", "2021-10-07 15:40:00 UTC")
	updates := w.changesOf(model.IncidentDNSSECExpiry, model.ChangeUpdate)
	if len(updates) != 1 || !strings.Contains(updates[0].Reason, "severity warning -> critical") {
		t.Errorf("want one update (the severity), got %d: %v", len(updates), reasons(updates))
	}

	// Re-signed for 30 days: resolves after resolve_after.
	sz.signAll(w.now.Add(-time.Hour), w.now.Add(30*24*time.Hour), 3600)
	w.runFor(3*time.Minute, 30*time.Second)
	if res := w.changesOf(model.IncidentDNSSECExpiry, model.ChangeResolve); len(res) != 1 {
		t.Fatalf("want the incident resolved after the re-sign, got %d", len(res))
	}
	if n := len(w.opened()); n != 1 {
		t.Errorf("%d incidents opened, want 1: %v", n, kinds(w.opened()))
	}
}

// TestSignatureExpiredAtOneServer: one server still serves signatures that
// already expired while the other was re-signed: critical, naming only it.
func TestSignatureExpiredAtOneServer(t *testing.T) {
	w, sz := forecastWorld(t, testConfig())
	sz.signAll(t0.Add(-time.Hour), t0.Add(30*24*time.Hour), 300)
	sz.sig["ns2.example.com."] = &model.SigValidity{Inception: t0.Add(-31 * 24 * time.Hour), Expiration: t0.Add(-time.Minute), TTL: 300}
	w.runFor(2*time.Minute, 30*time.Second)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentDNSSECExpiry || open[0].Severity != model.SeverityCritical {
		t.Fatalf("want a critical dnssec_expiry, got %v", open)
	}
	mustContain(t, "root cause", open[0].RootCause, "ns2.example.com. (192.0.2.2)", "expired at 2021-10-04 15:29:00 UTC", "validating resolvers reject them")
	if strings.Contains(open[0].RootCause, "ns1.example.com.") {
		t.Errorf("root cause blames ns1, which serves fresh signatures: %s", open[0].RootCause)
	}
	sz.sig["ns2.example.com."] = sz.sig["ns1.example.com."]
	w.runFor(3*time.Minute, 30*time.Second)
	if len(w.e.Open()) != 0 {
		t.Errorf("still open after the re-sign: %v", w.e.Open())
	}
}

// TestSignatureInceptionInFuture: signatures that start 2 h from now are
// a warning when Unbound's skew allowance (10 % of the validity, 1 h to
// 1 day) still covers them, critical when it does not; either resolves
// once the inception has passed.
func TestSignatureInceptionInFuture(t *testing.T) {
	for _, tc := range []struct {
		name     string
		validity time.Duration
		want     model.Severity
		words    []string
	}{
		{"30-day signatures", 30 * 24 * time.Hour, model.SeverityWarning, []string{"validators without skew allowance reject it"}},
		{"5-hour signatures", 5 * time.Hour, model.SeverityCritical, []string{"more than the 1h 0m of skew even Unbound forgives"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.SignatureWarning.Duration = time.Hour // the expiry itself is not the problem here
			w, sz := forecastWorld(t, cfg)
			inception := t0.Add(2 * time.Hour)
			sz.signAll(inception, inception.Add(tc.validity), 300)
			w.runFor(2*time.Minute, 30*time.Second)
			open := w.e.Open()
			if len(open) != 1 || open[0].Kind != model.IncidentDNSSECExpiry || open[0].Severity != tc.want {
				t.Fatalf("want a %s dnssec_expiry, got %v", tc.want, open)
			}
			mustContain(t, "root cause", open[0].RootCause, append(tc.words, "valid only from 2021-10-04 17:30:00 UTC",
				"the signer's clock is ahead", "example.com. SOA")...)
			w.runFor(2*time.Hour+5*time.Minute, 5*time.Minute)
			if got := w.changesOf(model.IncidentDNSSECExpiry, model.ChangeResolve); len(got) != 1 {
				t.Errorf("not resolved once the inception passed: open %v", w.e.Open())
			}
		})
	}
}

// TestDNSKEYSignatureExpiry: the DNSKEY set's signatures, read by the DS
// check, count like any RRset's.
func TestDNSKEYSignatureExpiry(t *testing.T) {
	w, sz := forecastWorld(t, testConfig())
	sz.signAll(t0.Add(-time.Hour), t0.Add(30*24*time.Hour), 300)
	w.runFor(time.Minute, 30*time.Second)
	w.apply(model.DSCheck{Time: w.now, Zone: "example.com.", Status: model.DSOK,
		DNSKEYRRSIG: &model.SigValidity{Inception: t0.Add(-time.Hour), Expiration: t0.Add(48 * time.Hour), TTL: 3600, Server: "ns2.example.com. (192.0.2.2:53)"}})
	w.runFor(time.Minute, 30*time.Second)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentDNSSECExpiry || open[0].Severity != model.SeverityWarning {
		t.Fatalf("want a dnssec_expiry warning, got %v", open)
	}
	mustContain(t, "root cause", open[0].RootCause, "example.com. DNSKEY", "ns2.example.com. (192.0.2.2)", "2021-10-06 15:30:00 UTC")
	w.apply(model.DSCheck{Time: w.now, Zone: "example.com.", Status: model.DSOK,
		DNSKEYRRSIG: &model.SigValidity{Inception: t0, Expiration: t0.Add(20 * 24 * time.Hour), TTL: 3600, Server: "ns2.example.com. (192.0.2.2)"}})
	w.runFor(3*time.Minute, 30*time.Second)
	if len(w.e.Open()) != 0 {
		t.Errorf("still open after the DNSKEY set was re-signed: %v", w.e.Open())
	}
}

// TestDelegationNSMismatch: the parent delegates to a server the zone's
// own NS set does not list: a warning naming it; resolved once the
// parent's set is fixed.
func TestDelegationNSMismatch(t *testing.T) {
	w, _ := forecastWorld(t, testConfig())
	w.runFor(2*time.Minute, 30*time.Second)
	d := model.Discovery{Time: w.now, Zone: "example.com.", NS: []string{"ns1.example.com.", "ns2.example.com."}, TTL: time.Hour,
		ParentNS: []string{"ns1.example.com.", "ns2.example.com.", "old.provider.net."}, ApexNS: []string{"NS1.example.com", "ns2.example.com."}}
	for _, a := range exAuth {
		d.Servers = append(d.Servers, model.AuthServer{Host: a.host, Addr: netip.AddrPortFrom(a.addr, 53)})
	}
	w.apply(d)
	w.runFor(2*time.Minute, 30*time.Second)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentDelegation || open[0].Severity != model.SeverityWarning {
		t.Fatalf("want a delegation_inconsistent warning, got %v", open)
	}
	mustContain(t, "root cause", open[0].RootCause, "The delegation of example.com is inconsistent",
		"the parent delegates to ns1.example.com., ns2.example.com., old.provider.net. while the zone's own NS set is ns1.example.com., ns2.example.com.",
		"only at the parent: old.provider.net.")
	mustContain(t, "timeline", open[0].Timeline(), "only at the parent: old.provider.net.")
	d.Time, d.ParentNS = w.now, d.ApexNS
	w.apply(d)
	w.runFor(3*time.Minute, 30*time.Second)
	if got := w.changesOf(model.IncidentDelegation, model.ChangeResolve); len(got) != 1 || len(w.e.Open()) != 0 {
		t.Errorf("want the delegation incident resolved, open %v", w.e.Open())
	}
}

// TestLameServer: ns2 answers, but not authoritatively (REFUSED, AA=0,
// SERVFAIL) while ns1 answers: a delegation_inconsistent warning naming
// it, no authoritative outage; it resolves when ns2 serves the zone again.
func TestLameServer(t *testing.T) {
	for _, rc := range []string{"REFUSED", "noaa", "SERVFAIL"} {
		t.Run(rc, func(t *testing.T) {
			w, sz := forecastWorld(t, testConfig())
			sz.alternate = true // the lame server fails two queries in turn
			w.runFor(2*time.Minute, 30*time.Second)
			sz.rcode["ns2.example.com."] = rc
			w.runFor(4*time.Minute, 30*time.Second)
			open := w.e.Open()
			if len(open) != 1 || open[0].Kind != model.IncidentDelegation {
				t.Fatalf("want only delegation_inconsistent, got %v", w.openKinds())
			}
			want := rc
			if rc == "noaa" {
				want = "lame (AA=0)"
			}
			mustContain(t, "root cause", open[0].RootCause, "ns2.example.com. (192.0.2.2) is listed as a nameserver but does not answer authoritatively for example.com",
				"for example.com ("+want+")")
			if len(open[0].Servers) != 1 || open[0].Servers[0] != "ns2.example.com." {
				t.Errorf("servers %v, want ns2.example.com.", open[0].Servers)
			}
			if u := w.changesOf(model.IncidentDelegation, model.ChangeUpdate); len(u) > 0 {
				t.Errorf("%d updates while nothing changed (a thread reply each): %v", len(u), reasons(u))
			}
			delete(sz.rcode, "ns2.example.com.")
			w.runFor(8*time.Minute, 30*time.Second) // 3 good rounds of each query, then resolve_after
			if len(w.e.Open()) != 0 || len(w.changesOf(model.IncidentDelegation, model.ChangeResolve)) != 1 {
				t.Errorf("want resolved, open %v", w.open())
			} else if r := w.changesOf(model.IncidentDelegation, model.ChangeResolve)[0].Incident.Recovery; !strings.HasPrefix(r, "the delegation of example.com is consistent again") {
				t.Errorf("recovery %q, want the delegation consistent again", r)
			}
			if n := len(w.opened()); n != 1 {
				t.Errorf("%d incidents opened, want 1: %v", n, kinds(w.opened()))
			}
		})
	}
}

// TestLameVersusOutage: a server that times out is an authoritative
// outage, not a lame delegation; every server REFUSED is an outage too
// (no server answers for the zone).
func TestLameVersusOutage(t *testing.T) {
	w, sz := forecastWorld(t, testConfig())
	w.runFor(2*time.Minute, 30*time.Second)
	sz.errc["ns2.example.com."] = model.ErrTimeout
	w.runFor(3*time.Minute, 30*time.Second)
	if k := w.openKinds(); len(k) != 1 || k[0] != model.IncidentAuthOutage {
		t.Fatalf("a timing-out server: open %v, want authoritative_outage", k)
	}
	delete(sz.errc, "ns2.example.com.")
	w.runFor(4*time.Minute, 30*time.Second)

	sz.rcode["ns1.example.com."], sz.rcode["ns2.example.com."] = "REFUSED", "REFUSED"
	w.runFor(3*time.Minute, 30*time.Second)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentAuthOutage || open[0].Severity != model.SeverityCritical {
		t.Fatalf("every server REFUSED: open %v, want a critical authoritative_outage", w.openKinds())
	}
	for _, c := range w.changes {
		if c.Incident.Kind == model.IncidentDelegation {
			t.Errorf("a delegation incident beside the outage: %s", c.Incident.RootCause)
		}
	}
}

// TestSerialSpread: the servers' SOA serials differ; nothing until they
// have differed for serial_spread_after, then a warning naming both
// serials; resolved when the secondary catches up. With "0s" the check
// is off.
func TestSerialSpread(t *testing.T) {
	cfg := testConfig()
	cfg.SerialSpreadAfter.Duration = time.Hour
	w, sz := forecastWorld(t, cfg)
	w.runFor(time.Minute, 30*time.Second)
	sz.serial["ns1.example.com."] = 8 // a push ns2 never receives
	w.runFor(59*time.Minute, 30*time.Second)
	if len(w.e.Open()) != 0 {
		t.Fatalf("opened before serial_spread_after: %v", w.e.Open())
	}
	w.runFor(2*time.Minute, 30*time.Second)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentDelegation || open[0].Severity != model.SeverityWarning {
		t.Fatalf("want a delegation_inconsistent warning after an hour, got %v", w.openKinds())
	}
	mustContain(t, "root cause", open[0].RootCause, "SOA serials", "since 2021-10-04 15:31:30 UTC", "longer than 1h 0m",
		"ns1.example.com. (192.0.2.1) serial 8", "ns2.example.com. (192.0.2.2) serial 7")
	sz.serial["ns2.example.com."] = 8
	w.runFor(3*time.Minute, 30*time.Second)
	if len(w.e.Open()) != 0 {
		t.Errorf("still open after the secondary caught up: %v", w.e.Open())
	}

	cfg.SerialSpreadAfter.Duration = 0
	w, sz = forecastWorld(t, cfg)
	sz.serial["ns1.example.com."] = 8
	w.runFor(3*time.Hour, 10*time.Minute)
	if len(w.changes) != 0 {
		t.Errorf("serial_spread_after 0s still judged: %v", kinds(w.changes))
	}
}

// TestJudgeForecast: `reachmon probe` reports a lame server and expiring
// signatures with the daemon's rules.
func TestJudgeForecast(t *testing.T) {
	now := t0
	auth := func(name, addr, rcode string, aa bool, sig *model.SigValidity) model.Observation {
		return model.Observation{Time: now, Server: model.Server{Name: name, Kind: model.KindAuthoritative, Addr: addr},
			Name: "example.com.", Type: "SOA", Rcode: rcode, AA: aa, RRSIG: sig, Signed: sig != nil}
	}
	soon := &model.SigValidity{Inception: now.Add(-time.Hour), Expiration: now.Add(5 * time.Hour), TTL: 300}
	v := Judge(ProbeSnapshot{Zone: "example.com.", Observations: []model.Observation{
		auth("ns1.example.com.", "192.0.2.1:53", "NOERROR", true, soon),
		auth("ns2.example.com.", "192.0.2.2:53", "REFUSED", false, nil),
	}})
	if v.OK || v.Kind != model.IncidentDNSSECExpiry && v.Kind != model.IncidentDelegation {
		t.Fatalf("verdict %+v, want a forecast", v)
	}
	v = Judge(ProbeSnapshot{Zone: "example.com.", Observations: []model.Observation{
		auth("ns1.example.com.", "192.0.2.1:53", "NOERROR", true, nil),
		auth("ns2.example.com.", "192.0.2.2:53", "REFUSED", false, nil),
	}})
	if v.Kind != model.IncidentDelegation || !strings.Contains(v.Line, "ns2.example.com. (192.0.2.2)") {
		t.Errorf("lame server: verdict %+v, want delegation_inconsistent naming ns2", v)
	}
}

func reasons(ch []model.IncidentChange) []string {
	out := make([]string, 0, len(ch))
	for _, c := range ch {
		out = append(out, c.Reason)
	}
	return out
}

func (w *world) open() []model.IncidentKind { return w.openKinds() }

// TestLameServerLeavesDelegation: the lame server is taken out of the
// delegation and no longer probed: the next discovery resolves the
// finding (its last, lame, state must not linger).
func TestLameServerLeavesDelegation(t *testing.T) {
	w, sz := forecastWorld(t, testConfig())
	w.runFor(2*time.Minute, 30*time.Second)
	sz.rcode["ns2.example.com."] = "REFUSED"
	w.runFor(3*time.Minute, 30*time.Second)
	if k := w.openKinds(); len(k) != 1 || k[0] != model.IncidentDelegation {
		t.Fatalf("open %v, want delegation_inconsistent", k)
	}
	w.auth["example.com"] = exAuth[:1] // ns2 is not probed any more
	w.apply(model.Discovery{Time: w.now, Zone: "example.com.", NS: []string{"ns1.example.com."}, TTL: time.Hour,
		Servers:  []model.AuthServer{{Host: exAuth[0].host, Addr: netip.AddrPortFrom(exAuth[0].addr, 53)}},
		ParentNS: []string{"ns1.example.com."}, ApexNS: []string{"ns1.example.com."}})
	w.runFor(3*time.Minute, 30*time.Second)
	if len(w.e.Open()) != 0 || len(w.changesOf(model.IncidentDelegation, model.ChangeResolve)) != 1 {
		t.Errorf("want the delegation incident resolved once ns2 left the delegation, open %v", w.openKinds())
	}
}

// TestRestartForecast: a restored dnssec_expiry incident waits for the
// servers' answers instead of resolving on an empty view, keeps its id
// (no second page), and resolves after the re-sign.
func TestRestartForecast(t *testing.T) {
	w, sz := forecastWorld(t, testConfig())
	sz.signAll(t0.Add(-time.Hour), t0.Add(24*time.Hour), 300)
	w.runFor(2*time.Minute, 30*time.Second)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentDNSSECExpiry {
		t.Fatalf("setup: %v", w.openKinds())
	}
	w2, _ := forecastWorld(t, testConfig())
	w2.probe = w.probe
	w2.e = New(testConfig(), Targets{Vantage: "test", Zones: []Zone{{Name: "example.com."}},
		Resolvers: []Resolver{{Name: "cloudflare", Validating: true, Addr: mustAddr("1.1.1.1")}}})
	w2.now = w.now.Add(10 * time.Second)
	w2.e.Restore(open)
	w2.tick(0)
	w2.tick(5 * time.Minute) // nothing heard yet: the incident waits
	if got := w2.e.Open(); len(got) != 1 || got[0].ID != open[0].ID {
		t.Fatalf("restored incident lost before any answer: %v", got)
	}
	w2.runFor(3*time.Minute, 30*time.Second)
	if got := w2.e.Open(); len(got) != 1 || got[0].ID != open[0].ID || len(w2.opened()) != 0 {
		t.Fatalf("restored incident reopened or lost: open %v, opened %v", got, kinds(w2.opened()))
	}
	sz.signAll(w2.now.Add(-time.Hour), w2.now.Add(30*24*time.Hour), 300)
	w2.runFor(3*time.Minute, 30*time.Second)
	if res := w2.of(model.ChangeResolve); len(res) != 1 || res[0].Incident.ID != open[0].ID {
		t.Fatalf("restored incident not resolved after the re-sign: %v", kinds(w2.changes))
	}
}

// TestExpiryStoryKeepsWorstPoint: a re-sign that reaches one server first,
// or leaves a later (warning-level) expiry, does not rewrite the critical
// diagnosis into a milder one; the later expiry is told as evidence, and
// the resolved incident still says what it was at its worst.
func TestExpiryStoryKeepsWorstPoint(t *testing.T) {
	w, sz := forecastWorld(t, testConfig())
	worst := t0.Add(30 * time.Minute)
	sz.signAll(t0.Add(-time.Hour), worst, 3600)
	w.runFor(2*time.Minute, 30*time.Second)
	if o := w.e.Open(); len(o) != 1 || o[0].Severity != model.SeverityCritical {
		t.Fatalf("setup: want a critical dnssec_expiry, got %v", o)
	}
	sz.sig["ns1.example.com."] = &model.SigValidity{Inception: w.now, Expiration: w.now.Add(30 * 24 * time.Hour), TTL: 3600}
	w.runFor(time.Minute, 30*time.Second)
	if u := w.changesOf(model.IncidentDNSSECExpiry, model.ChangeUpdate); len(u) != 0 {
		t.Errorf("ns1 re-signed first: %d updates (%v), want none", len(u), reasons(u))
	}
	later := w.now.Add(10 * time.Hour)
	sz.sig["ns2.example.com."] = &model.SigValidity{Inception: w.now, Expiration: later, TTL: 3600}
	w.runFor(time.Minute, 30*time.Second)
	o := w.e.Open()
	if len(o) != 1 || o[0].Severity != model.SeverityCritical {
		t.Fatalf("a partial re-sign downgraded the incident: %v", o)
	}
	mustContain(t, "root cause", o[0].RootCause, "expire at "+utc(worst), "closer than the 1h 0m TTL")
	mustContain(t, "timeline", o[0].Timeline(), "expiring "+utc(later))
	sz.signAll(w.now, w.now.Add(30*24*time.Hour), 3600)
	w.runFor(3*time.Minute, 30*time.Second)
	res := w.changesOf(model.IncidentDNSSECExpiry, model.ChangeResolve)
	if len(res) != 1 {
		t.Fatalf("not resolved: %v", w.openKinds())
	}
	mustContain(t, "resolved root cause", res[0].Incident.RootCause, "expire at "+utc(worst))
	mustContain(t, "recovery", res[0].Incident.Recovery, "the signatures of example.com were renewed past the warning horizon")
	if res[0].Incident.Severity != model.SeverityCritical {
		t.Errorf("resolved as %s, want critical (its worst)", res[0].Incident.Severity)
	}
}

package evaluate

import (
	"net/netip"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// discover tells the evaluator that example.com's servers are now auth.
func (w *world) discover(auth []authSrv) {
	w.auth["example.com"] = auth
	d := model.Discovery{Time: w.now, Zone: "example.com.", TTL: time.Hour}
	for _, a := range auth {
		d.NS = append(d.NS, a.host)
		d.Servers = append(d.Servers, model.AuthServer{Host: a.host, Addr: netip.AddrPortFrom(a.addr, 53), Sources: []model.AuthSource{model.SourceParent}})
	}
	d.ParentNS, d.ApexNS = d.NS, d.NS
	w.apply(d)
}

// A nameserver that discovery no longer lists is no longer part of the
// zone: its last failures do not keep an outage open, and a probe of it
// still in flight when the new server set arrived does not bring it back
// (the outage lab's lame delegation, taken out of the parent, paged an
// authoritative_outage for the server it no longer delegated to).
func TestDroppedNameserverForgotten(t *testing.T) {
	w, sz := forecastWorld(t, testConfig())
	ns3 := authSrv{"ns3.example.com.", mustAddr("192.0.2.3")}
	w.discover(append(exAuth[:2:2], ns3))
	sz.serial[ns3.host] = 7
	sz.errc[ns3.host] = model.ErrTimeout
	w.runFor(3*time.Minute, 30*time.Second)
	open := w.changesOf(model.IncidentAuthOutage, model.ChangeOpen)
	if len(open) != 1 {
		t.Fatalf("want one authoritative_outage while ns3 times out, got %d (changes %+v)", len(open), w.changes)
	}
	mustContain(t, "root cause", open[0].Incident.RootCause, "1 of 3", "ns3.example.com.")

	w.discover(exAuth)
	// The probe of ns3 that was in flight answers after the new set.
	late := failObs("example.com", model.Server{Name: ns3.host, Kind: model.KindAuthoritative, Addr: netip.AddrPortFrom(ns3.addr, 53).String()}, w.now, "", model.ErrTimeout)
	late.Type = "SOA"
	w.apply(late)
	w.runFor(3*time.Minute, 30*time.Second)
	if got := w.e.Open(); len(got) != 0 {
		t.Fatalf("open after discovery dropped ns3: %+v", got)
	}
	if n := len(w.changesOf(model.IncidentAuthOutage, model.ChangeResolve)); n != 1 {
		t.Fatalf("want the outage resolved once, got %d resolves (changes %+v)", n, w.changes)
	}
	if n := len(w.changesOf(model.IncidentAuthOutage, model.ChangeOpen)); n != 1 {
		t.Fatalf("the late answer of ns3 opened a second outage: %d opens", n)
	}
	if w.e.zones["example.com"].server(ns3.host) != nil {
		t.Error("ns3 is still one of the zone's servers")
	}
}

package evaluate

import (
	"encoding/json"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/reachmon/reachmon/internal/model"
)

// TestZoneDetail: example.com, signed, with two nameservers whose serials
// differ, one validating resolver, a DS check that fails. The detail has
// every server's last answer, the discovery, the DS check, the earliest
// signature expiry and the serials; the name is found in any spelling.
func TestZoneDetail(t *testing.T) {
	w, sz := forecastWorld(t, testConfig())
	expiry := t0.Add(20 * 24 * time.Hour)
	sz.signAll(t0.Add(-time.Hour), expiry.Add(time.Hour), 3600)
	sz.sig["ns2.example.com."] = &model.SigValidity{Inception: t0.Add(-time.Hour), Expiration: expiry, TTL: 3600}
	sz.serial["ns2.example.com."] = 8
	w.runFor(2*time.Minute, 30*time.Second)
	ds := model.DSCheck{Time: w.now, Zone: "example.com.", Status: model.DSMismatch,
		Detail: "DS key tag 296 (algorithm 13) has no matching DNSKEY; the zone serves key tags 4711"}
	w.apply(ds)
	w.runFor(2*time.Minute, 30*time.Second)

	for _, name := range []string{"example.com", "example.com.", "EXAMPLE.Com.", " example.com "} {
		if d := w.e.ZoneDetail(name, w.now); d == nil || d.Zone != "example.com" {
			t.Errorf("ZoneDetail(%q) = %v, want example.com's", name, d)
		}
	}
	for _, name := range []string{"example.org", "com", "www.example.com"} {
		if d := w.e.ZoneDetail(name, w.now); d != nil {
			t.Errorf("ZoneDetail(%q) = %+v, want nil (no such zone)", name, d)
		}
	}
	d := w.e.ZoneDetail("example.com", w.now)
	if d.Schema != ZoneSchema || d.Vantage != "test" || !d.Time.Equal(w.now) {
		t.Errorf("header: schema %q vantage %q time %v", d.Schema, d.Vantage, d.Time)
	}
	if d.Health != HealthFailing || d.Kind != model.IncidentDNSSEC || d.Incident == "" {
		t.Errorf("health %s kind %s incident %q, want failing with the DNSSEC incident", d.Health, d.Kind, d.Incident)
	}
	if len(d.Open) != 1 || d.Open[0].ID != d.Incident || d.Open[0].Kind != model.IncidentDNSSEC {
		t.Errorf("open %+v, want the DNSSEC incident %s", d.Open, d.Incident)
	}
	var names []string
	for _, s := range d.Servers {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"cloudflare", "ns1.example.com.", "ns2.example.com."}) {
		t.Fatalf("servers %v, want the resolver then both nameservers", names)
	}
	res, ns2 := d.Servers[0], d.Servers[2]
	if res.Kind != model.KindResolver || !res.Validating || res.Health != HealthOK || res.Address != "cloudflare" {
		t.Errorf("resolver %+v", res)
	}
	if ns2.Kind != model.KindAuthoritative || ns2.Address != "192.0.2.2:53" || ns2.Health != HealthOK || ns2.Lame {
		t.Errorf("ns2 %+v", ns2)
	}
	if len(ns2.Results) != 1 {
		t.Fatalf("ns2 results %+v, want the apex SOA", ns2.Results)
	}
	r := ns2.Results[0]
	if r.Name != "example.com." || r.Type != "SOA" || !r.Success || r.Rcode != "NOERROR" || !r.AA || r.Failure != "" ||
		r.SOASerial == nil || *r.SOASerial != 8 || !r.Time.Equal(w.now) {
		t.Errorf("ns2's SOA result %+v", r)
	}
	if dd := d.Discovery; dd == nil || !dd.Time.Equal(t0) || len(dd.Nameservers) != 2 ||
		dd.Nameservers[0] != (NameserverDetail{Host: "ns1.example.com.", Address: mustAddr("192.0.2.1")}) ||
		!slices.Equal(dd.ApexNS, []string{"ns1.example.com.", "ns2.example.com."}) {
		t.Errorf("discovery %+v", dd)
	}
	if c := d.DSCheck; c == nil || c.Status != model.DSMismatch || c.Detail != ds.Detail || !c.Time.Equal(ds.Time) {
		t.Errorf("ds check %+v", c)
	}
	if x := d.SignatureExpiry; x == nil || !x.Expiration.Equal(expiry) || x.RRset != "example.com. SOA" ||
		x.Server != "ns2.example.com. (192.0.2.2)" || x.Seconds != expiry.Sub(w.now).Seconds() {
		t.Errorf("signature expiry %+v, want ns2's SOA at %v", x, expiry)
	}
	if s := d.Serials; s == nil || s.Spread != 1 || s.Since.IsZero() || len(s.Servers) != 2 ||
		s.Servers[0] != (ServerSerial{"ns1.example.com. (192.0.2.1)", 7}) || s.Servers[1].Serial != 8 {
		t.Errorf("serials %+v, want 7 and 8 (spread 1)", s)
	}
	if len(d.LameServers) != 0 {
		t.Errorf("lame servers %v, want none", d.LameServers)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "JSON", string(b), `"schema":"reachmon.zone/v1"`, `"soa_serial":8`, `"lame_servers":[]`, `"ds_check":{"status":"mismatch"`)
}

// TestZoneDetailFailures: a validating resolver's SERVFAIL with an EDE
// and a CD=1 retry that succeeds, a lame nameserver and a timeout are
// each told as they were; the servers' health follows open_rounds.
func TestZoneDetailFailures(t *testing.T) {
	w, sz := forecastWorld(t, testConfig())
	w.runFor(2*time.Minute, 30*time.Second)
	sz.rcode["ns2.example.com."] = "REFUSED"
	probe := w.probe
	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		if s.Kind != model.KindResolver {
			return probe(z, s, now)
		}
		o := failObs(z, s, now, "SERVFAIL", "")
		o.Type, o.RA, o.Latency = "SOA", true, 12345*time.Microsecond
		o.EDE = []model.EDE{{Code: 6, Name: "DNSSEC Bogus"}, {Code: 9, Name: "DNSKEY Missing"}}
		o.CDRetry = &model.CDRetry{Rcode: "NOERROR", Answers: 1, Succeeded: true}
		return o
	}
	w.runFor(3*time.Minute, 30*time.Second)
	d := w.e.ZoneDetail("example.com", w.now)
	res := d.Servers[0]
	if res.Health != HealthFailing || res.FailingSince.IsZero() || len(res.Results) != 1 {
		t.Fatalf("resolver %+v, want failing", res)
	}
	r := res.Results[0]
	if r.Success || r.Failure != "SERVFAIL" || r.Rcode != "SERVFAIL" || r.Error != "" || r.CDRetry != "succeeded" ||
		!slices.Equal(r.EDE, []uint16{6, 9}) || r.LatencyMS != 12.345 {
		t.Errorf("resolver result %+v", r)
	}
	if !slices.Equal(d.LameServers, []string{"ns2.example.com."}) || !d.Servers[2].Lame {
		t.Errorf("lame %v (ns2 %+v), want ns2", d.LameServers, d.Servers[2])
	}
	if r := d.Servers[2].Results[0]; r.Success || r.Rcode != "REFUSED" || r.AA || r.Failure != "REFUSED" {
		t.Errorf("ns2 result %+v", r)
	}

	// ns1 times out: no rcode, the error class; the serial it served
	// before is gone from the result (the serials keep the last one).
	sz.errc["ns1.example.com."] = model.ErrTimeout
	w.runFor(30*time.Second, 30*time.Second)
	d = w.e.ZoneDetail("example.com", w.now)
	if r := d.Servers[1].Results[0]; r.Success || r.Rcode != "" || r.Error != model.ErrTimeout || r.Failure != "timeout" || r.SOASerial != nil {
		t.Errorf("ns1 result %+v, want a timeout", r)
	}
}

// TestZoneDetailQueries: a server's results follow the zone's queries: a
// name dropped by a reload loses its result.
func TestZoneDetailQueries(t *testing.T) {
	tg := Targets{Vantage: "test", Zones: []Zone{{Name: "example.com.", Names: []string{"example.com.", "www.example.com."}, Types: []string{"A"}}},
		Resolvers: []Resolver{{Name: "r1", Addr: mustAddr("192.0.2.53")}}}
	w := newWorld(t, testConfig(), tg)
	s := model.Server{Name: "r1", Kind: model.KindResolver, Addr: "192.0.2.53:53", Transport: model.TransportTCP}
	for _, n := range []string{"example.com.", "www.example.com."} {
		o := okObs("example.com", s, w.now, "192.0.2.80", 60)
		o.Name = n
		w.apply(o)
	}
	d := w.e.ZoneDetail("example.com", w.now)
	if rs := d.Servers[0]; len(rs.Results) != 2 || rs.Results[0].Name != "example.com." || rs.Results[1].Name != "www.example.com." ||
		rs.Address != "192.0.2.53:53" || rs.Transport != model.TransportTCP {
		t.Fatalf("resolver %+v", rs)
	}
	for range 2 {
		w.apply(okObs("example.com", s, w.now, "192.0.2.80", 60))
	}
	d = w.e.ZoneDetail("example.com", w.now)
	if rs := d.Servers[0].Results; rs[0].Probes != 3 || rs[1].Probes != 1 {
		t.Errorf("probes %d and %d, want 3 (example.com. asked three times) and 1", rs[0].Probes, rs[1].Probes)
	}
	if n := unsafe.Sizeof(queryResult{}); n != 56 {
		t.Errorf("queryResult is %d bytes, want 56 (48 of the last result, the run)", n)
	}
	tg.Zones[0].Names = []string{"www.example.com."}
	w.e.Reconfigure(testConfig(), tg, w.now)
	d = w.e.ZoneDetail("example.com", w.now)
	if rs := d.Servers[0].Results; len(rs) != 1 || rs[0].Name != "www.example.com." {
		t.Errorf("results after the reload %+v, want www.example.com. alone", rs)
	}
	if d.Discovery != nil || d.DSCheck != nil || d.SignatureExpiry != nil || d.Serials != nil {
		t.Errorf("a zone with no discovery, DS check or signature has %+v %+v %+v %+v", d.Discovery, d.DSCheck, d.SignatureExpiry, d.Serials)
	}
}

// TestZoneDetailHeap measures what the zone detail adds to the
// evaluator's heap at 10,000 zones x 5 servers (3 resolvers, 2
// nameservers, one query each, the bench world): the last result of every
// query (measured: the heap freed when they are dropped) and the fields
// the zone and server structs gained (their size, before the allocator's
// rounding). Target: well under 10 MiB.
func TestZoneDetailHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 10,000 zones")
	}
	w := newBenchWorld(t)
	servers := 0
	for _, z := range w.e.zones {
		servers += len(z.order)
		for _, s := range z.order {
			if len(s.dt.last) != 1 {
				t.Fatalf("server %s of %s keeps %d results, want 1", s.name, z.key, len(s.dt.last))
			}
		}
	}
	if d := w.e.ZoneDetail("zone00042.example", w.now); d == nil || len(d.Servers) != 5 || len(d.Servers[4].Results) != 1 {
		t.Fatalf("detail of zone00042.example: %+v", d)
	}
	withResults := heapAlloc()
	for _, z := range w.e.zones {
		for _, s := range z.order {
			s.dt.last = nil
		}
	}
	without := heapAlloc()
	results := int64(withResults) - int64(without)
	inline := servers*int(unsafe.Sizeof(serverDetailState{})) + len(w.e.zones)*int(unsafe.Sizeof(zoneDetailState{}))
	total := float64(results+int64(inline)) / (1 << 20)
	t.Logf("zone detail at %d zones x %d servers: results %.2f MiB (%d bytes per server), struct fields %.2f MiB, total %.2f MiB",
		len(w.e.zones), servers, float64(results)/(1<<20), results/int64(servers), float64(inline)/(1<<20), total)
	if total > 10 {
		t.Errorf("the zone detail adds %.1f MiB at 10,000 zones, want under 10", total)
	}
	runtime.KeepAlive(w)
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestDetailSpread: the serial spread is RFC 1982's (a wrapped serial is
// close to the one before the wrap).
func TestDetailSpread(t *testing.T) {
	for _, tc := range []struct {
		s    []uint32
		want uint32
	}{
		{nil, 0}, {[]uint32{7}, 0}, {[]uint32{7, 7}, 0}, {[]uint32{7, 9, 8}, 2},
		{[]uint32{4294967295, 1}, 2}, {[]uint32{2026120201, 2026120105}, 96},
	} {
		if got := detailSpread(tc.s); got != tc.want {
			t.Errorf("spread of %v = %d, want %d", tc.s, got, tc.want)
		}
	}
}

// TestDetailStrings: the table of a result's strings is bounded; a string
// beyond it reads "other", and every string it holds reads back.
func TestDetailStrings(t *testing.T) {
	var d evalDetail
	if d.id("") != 0 || d.str(0) != "" {
		t.Errorf("the empty string is not index 0")
	}
	first := d.id("NOERROR")
	for i := range 400 {
		s := "RCODE" + strconv.Itoa(i)
		if got, i := d.str(d.id(s)), len(d.strs); got != s && !(got == detailOther && i == maxDetailStrings) {
			t.Fatalf("%s reads back as %q with %d strings kept", s, got, i)
		}
	}
	if len(d.strs) != maxDetailStrings || d.str(d.id("SERVFAIL")) != detailOther || d.str(first) != "NOERROR" || d.str(d.same(first, "NOERROR")) != "NOERROR" {
		t.Errorf("%d strings kept, SERVFAIL reads %q, NOERROR %q", len(d.strs), d.str(d.id("SERVFAIL")), d.str(first))
	}
	if d.id(detailOther) != 1 {
		t.Errorf("%q is not index 1", detailOther)
	}
}

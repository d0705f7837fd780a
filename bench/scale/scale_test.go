package benchscale

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/bench/benchutil"
	"github.com/reachmon/reachmon/internal/config"
)

// Quick checks, run by `go test ./...`; the benchmark itself runs only
// with -bench.

func TestCanonicalOrder(t *testing.T) {
	// RFC 4034 section 6.1's example, shuffled.
	want := []string{"example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.",
		"zABC.a.EXAMPLE.", "z.example.", "\001.z.example.", "*.z.example.", "\200.z.example."}
	// Escapes are out of scope (names here hold none): compare the
	// plain-name subset.
	want = slices.DeleteFunc(want, func(s string) bool { return strings.ContainsAny(s, "\001\200*") })
	got := slices.Clone(want)
	slices.Reverse(got)
	slices.SortFunc(got, canonicalCompare)
	if !slices.Equal(got, want) {
		t.Errorf("canonical order %q, want %q", got, want)
	}
	if canonicalCompare(".", "test.") >= 0 || canonicalCompare("test.", "a.test.") >= 0 {
		t.Error("a parent must sort before its children")
	}
}

// TestSignedZoneVerifies signs a small tree and checks every signature,
// the NSEC chain and the DS, as a validating resolver would.
func TestSignedZoneVerifies(t *testing.T) {
	k, err := newZoneKey("example.test.", 300)
	if err != nil {
		t.Fatal(err)
	}
	z := &zoneContent{origin: "example.test.", ttl: 300}
	for _, r := range []string{
		"example.test. SOA ns1.example.test. hostmaster.example.test. 1 3600 600 86400 300",
		"example.test. NS ns1.example.test.",
		"ns1.example.test. A 127.0.0.1",
		"www.example.test. A 127.0.0.2",
		"child.example.test. NS ns.child.example.test.",
		"ns.child.example.test. A 127.0.0.3", // glue
		"child.example.test. DS 12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	} {
		if err := z.add(r); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	rrs, err := z.sign(k, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string][]dns.RR{}
	var sigs []*dns.RRSIG
	var nsecs []*dns.NSEC
	for _, rr := range rrs {
		switch x := rr.(type) {
		case *dns.RRSIG:
			sigs = append(sigs, x)
		case *dns.NSEC:
			nsecs = append(nsecs, x)
			sets[x.Hdr.Name+" NSEC"] = append(sets[x.Hdr.Name+" NSEC"], x)
		default:
			key := rr.Header().Name + " " + dns.TypeToString[rr.Header().Rrtype]
			sets[key] = append(sets[key], rr)
		}
	}
	signed := map[string]bool{}
	for _, s := range sigs {
		key := s.Hdr.Name + " " + dns.TypeToString[s.TypeCovered]
		if err := s.Verify(k.dnskey, sets[key]); err != nil {
			t.Errorf("RRSIG over %s: %v", key, err)
		}
		if !s.ValidityPeriod(now) {
			t.Errorf("RRSIG over %s not valid now", key)
		}
		signed[key] = true
	}
	for _, want := range []string{"example.test. SOA", "example.test. NS", "example.test. DNSKEY",
		"ns1.example.test. A", "www.example.test. A", "child.example.test. DS", "child.example.test. NSEC"} {
		if !signed[want] {
			t.Errorf("%s not signed", want)
		}
	}
	for _, unsigned := range []string{"child.example.test. NS", "ns.child.example.test. A"} {
		if signed[unsigned] {
			t.Errorf("%s signed: delegation NS and glue belong to the child", unsigned)
		}
	}
	// The chain: every authoritative name and the delegation, in
	// canonical order, closing on the apex; no glue.
	var chain []string
	for _, n := range nsecs {
		chain = append(chain, n.Hdr.Name)
	}
	wantChain := []string{"example.test.", "child.example.test.", "ns1.example.test.", "www.example.test."}
	if !slices.Equal(chain, wantChain) {
		t.Errorf("NSEC owners %q, want %q", chain, wantChain)
	}
	for i, n := range nsecs {
		if next := wantChain[(i+1)%len(wantChain)]; n.NextDomain != next {
			t.Errorf("NSEC %s next %s, want %s", n.Hdr.Name, n.NextDomain, next)
		}
	}
	if ds := k.ds(300); ds.KeyTag != k.dnskey.KeyTag() || ds.DigestType != dns.SHA256 || ds.Hdr.Name != "example.test." {
		t.Errorf("DS %v does not point at the key", ds)
	}
	// The text NSD reads parses back to the same records.
	zp := dns.NewZoneParser(strings.NewReader(zoneText(rrs)), "", "")
	n := 0
	for _, ok := zp.Next(); ok; _, ok = zp.Next() {
		n++
	}
	if zp.Err() != nil || n != len(rrs) {
		t.Errorf("zone text: %d of %d records parsed back, err %v", n, len(rrs), zp.Err())
	}
}

// TestWriteZones builds a small lab's files (no daemons) and checks the
// tree's shape and that reachmon accepts the configuration.
func TestWriteZones(t *testing.T) {
	dir := t.TempDir()
	l := &lab{shape: labShape{Zones: 3, NS: 2, Resolvers: 3, TTL: 300 * time.Second}, plan: plan{b: [4]byte{127, 200, 0, 0}}, dir: dir}
	for i := range l.shape.Zones {
		l.zones = append(l.zones, zoneName(i))
	}
	for j := range l.shape.Resolvers {
		l.resolvers = append(l.resolvers, l.plan.resolver(j))
	}
	for k := range l.shape.NS {
		l.nsAddrs = append(l.nsAddrs, l.plan.ns(k))
	}
	if err := l.writeZones(); err != nil {
		t.Fatal(err)
	}
	tld, err := os.ReadFile(l.zoneFile("test."))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"z00003.test.\t300\tIN\tDS\t", "z00001.test.\t300\tIN\tNS\tns2.dnshost.test.", "ns2.dnshost.test.\t300\tIN\tA\t127.200.11.1"} {
		if !strings.Contains(string(tld), want) {
			t.Errorf("test. zone lacks %q", want)
		}
	}
	for _, f := range []string{"root.zone", "dnshost.test.zone", "z00002.test.zone"} {
		if _, err := os.Stat(filepath.Join(dir, "zones", f)); err != nil {
			t.Error(err)
		}
	}
	if a, _ := os.ReadFile(filepath.Join(dir, "root.ds")); !strings.HasPrefix(string(a), ".\t86400\tIN\tDS\t") {
		t.Errorf("trust anchor %q", a)
	}
	cfg, err := config.Parse("bench.toml", []byte(reachmonConfig(l, filepath.Join(dir, "state"), time.Minute, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Zone) != 3 || len(cfg.Resolver) != 3 || cfg.Probe.Interval.Duration != time.Minute ||
		len(cfg.Zone[0].Authoritative) != 0 || !cfg.Zone[0].CheckDNSSEC() || cfg.BGP.Enabled() || cfg.Slack.Enabled() {
		t.Errorf("config: %d zones, %d resolvers, interval %v, explicit auth %v", len(cfg.Zone), len(cfg.Resolver), cfg.Probe.Interval, cfg.Zone[0].Authoritative)
	}
	if got := probeSettings(settings{shape: l.shape, interval: time.Minute}); !strings.HasPrefix(got, "interval=1m0s timeout=") {
		t.Errorf("probe settings %q", got)
	}
	if p := scrapePhase(5*time.Second, time.Minute); p != 30*time.Second {
		t.Errorf("phase after a 5 s start %v, want 30s", p)
	}
	if p := scrapePhase(50*time.Second, time.Minute); p != 55*time.Second {
		t.Errorf("phase after a 50 s start %v, want 55s (capped)", p)
	}
}

func TestHistogramArithmetic(t *testing.T) {
	h := hist{bounds: []float64{0.001, 0.01, 0.1, 1, math.Inf(1)}, cum: []uint64{50, 90, 99, 100, 100}, count: 100, sum: 2}
	if q := h.quantile(0.5); q != 0.001 {
		t.Errorf("p50 %v", q)
	}
	if q := h.quantile(0.99); q != 0.1 {
		t.Errorf("p99 %v", q)
	}
	if q := h.quantile(1); q != 1 {
		t.Errorf("max %v", q)
	}
	if a := h.above(0.1); a != 1 {
		t.Errorf("above 0.1: %d", a)
	}
	later := hist{bounds: h.bounds, cum: []uint64{50, 90, 99, 100, 102}, count: 102, sum: 70}
	d := later.sub(h)
	if d.count != 2 || !math.IsInf(d.quantile(0.5), 1) || d.mean() != 34 {
		t.Errorf("delta %+v: p50 %v mean %v", d, d.quantile(0.5), d.mean())
	}
	if !math.IsNaN(hist{}.quantile(0.5)) || reportable(math.Inf(1)) != infReport {
		t.Error("empty histogram or +Inf handling")
	}
	ss := []sample{{at: 0}, {at: 30 * time.Minute}, {at: time.Hour}}
	for i := range ss {
		ss[i].reachmon.RSS = int64(100+10*i) << 20
	}
	if s := slopePerHour(ss); math.Abs(s-20) > 1e-9 {
		t.Errorf("slope %v MiB/h, want 20", s)
	}
	var one []sample
	for i := range 30 {
		sm := sample{at: time.Duration(i) * time.Second}
		sm.reachmon.CPUSeconds = float64(i) * 0.1
		if i >= 20 {
			sm.reachmon.CPUSeconds = 1.9 + float64(i-19)*1.5
		}
		one = append(one, sm)
	}
	if p := peakCores(one, 5*time.Second); math.Abs(p-1.5) > 1e-9 {
		t.Errorf("peak %v cores, want 1.5", p)
	}
}

func TestIntervalCounts(t *testing.T) {
	a := scrape{series: map[string]uint64{"z1 r res": 1, "z2 r res": 1, "z3 r res": 1}, checks: 3, noerror: 3}
	b := scrape{series: map[string]uint64{"z1 r res": 2, "z2 r res": 1, "z3 r res": 3, "z4 r res": 1}, checks: 7, noerror: 6, failRes: 1}
	a.pre.at, b.pre.at = 0, time.Minute
	b.pre.reachmon.CPUSeconds = 6
	iv := between(a, b)
	if iv.checks != 4 || iv.failed != 1 || iv.perSeries != [4]int{1, 2, 1, 0} || iv.newSeries != 1 || iv.reachmon != 0.1 {
		t.Errorf("interval %+v", iv)
	}
	// Over two intervals: z1 straddled (1 check), z2 missed one (0), z3
	// did 2, z4 appeared.
	c := scrape{series: map[string]uint64{"z1 r res": 2, "z2 r res": 1, "z3 r res": 3, "z4 r res": 2}}
	ex, late := seriesExcess(a, c, 2)
	if ex != [5]int{1, 1, 1, 0, 0} || late != 1 {
		t.Errorf("excess %v late %d, want [1 1 1 0 0] and 1", ex, late)
	}
}

// TestLabSmall starts a 20-zone lab (a second or two) and checks that
// every resolver validates a child zone through the delegations and that
// every nameserver address serves it. Needs root, NSD and Unbound.
func TestLabSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	requireLab(t)
	l, err := buildLab(t.TempDir(), labShape{Zones: 20, NS: 2, Resolvers: 3, TTL: 300 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := l.stop(); err != nil {
			t.Error(err)
		}
	}()
	if err := l.start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	last := l.zones[len(l.zones)-1]
	for _, a := range l.resolvers {
		for _, q := range []struct {
			name  string
			qtype uint16
		}{{last, dns.TypeSOA}, {"ns2.dnshost.test.", dns.TypeAAAA}} {
			r, err := query(ctx, hostPort(a), q.name, q.qtype, true)
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData {
				t.Errorf("resolver %s: %s %s: rcode %s ad=%t", a, q.name, dns.TypeToString[q.qtype], dns.RcodeToString[r.Rcode], r.AuthenticatedData)
			}
		}
	}
	for _, a := range l.nsAddrs {
		r, err := query(ctx, hostPort(a), last, dns.TypeSOA, false)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Authoritative || len(r.Answer) != 2 { // SOA + RRSIG
			t.Errorf("%s: SOA %s aa=%t answer %v", a, last, r.Authoritative, r.Answer)
		}
	}
	cpu := benchutil.GroupCPU(l.auth.Pid())
	if _, ok := cpu[l.auth.Pid()]; !ok {
		t.Errorf("no live process in NSD's process group %d", l.auth.Pid())
	}
}

package metrics

import (
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/reachmon/reachmon/internal/model"
)

// forecast holds the per-zone gauges of the forecast rules (dnssec_expiry,
// delegation_inconsistent): seconds to the earliest RRSIG expiration, lame
// servers and the SOA serial spread. Each is one series per zone.
type forecast struct {
	expiry *prometheus.GaugeVec
	lame   *prometheus.GaugeVec
	spread *prometheus.GaugeVec

	mu    sync.Mutex
	zones map[string]*zoneForecast
}

// zoneForecast is what the last answers of a zone's authoritative servers
// said. Keys are server names (bounded like the server label), plus
// "server name type" for signatures and "dnskey" for the DNSKEY set.
type zoneForecast struct {
	exp     map[string]int64 // Unix expiration
	at      int64            // Unix time of the last signature summary
	lame    map[string]bool
	serials map[string]uint32
}

func newForecast(f promauto.Factory) *forecast {
	return &forecast{
		expiry: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_dnssec_signature_expiry_seconds",
			Help: "Seconds from the last signed answer to the earliest RRSIG expiration the zone's authoritative servers serve (apex SOA, probed RRsets, DNSKEY set); negative once expired.",
		}, []string{"zone"}),
		lame: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_dns_lame_servers",
			Help: "Authoritative servers of the zone whose last answer was not authoritative (REFUSED, SERVFAIL, NOTAUTH or AA=0).",
		}, []string{"zone"}),
		spread: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_dns_soa_serial_spread",
			Help: "Distance between the lowest and the highest SOA serial the zone's authoritative servers serve (RFC 1982 arithmetic); 0 when they agree.",
		}, []string{"zone"}),
		zones: map[string]*zoneForecast{},
	}
}

func (f *forecast) zone(z string) *zoneForecast {
	zf := f.zones[z]
	if zf == nil {
		zf = &zoneForecast{exp: map[string]int64{}, lame: map[string]bool{}, serials: map[string]uint32{}}
		f.zones[z] = zf
	}
	return zf
}

// observe takes one probe result of an authoritative server.
func (f *forecast) observe(o model.Observation) {
	if o.Server.Kind != model.KindAuthoritative || o.Target == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	zone, srv := o.Target, o.Server.Name
	zf := f.zone(zone)
	if o.Answered() {
		zf.lame[srv] = lameAnswer(o)
		f.lame.WithLabelValues(zone).Set(float64(countTrue(zf.lame)))
	}
	good := o.Answered() && o.AA && (o.Rcode == "NOERROR" || o.Rcode == "NXDOMAIN")
	key := srv + " " + o.Name + " " + o.Type
	switch {
	case good && o.RRSIG != nil:
		zf.exp[key] = o.RRSIG.Expiration.Unix()
		f.setExpiry(zone, zf, o.Time.Unix())
	case good:
		if _, ok := zf.exp[key]; ok {
			delete(zf.exp, key)
			f.setExpiry(zone, zf, o.Time.Unix())
		}
	}
	if o.Type == "SOA" {
		if o.SOASerial != nil {
			zf.serials[srv] = *o.SOASerial
		} else {
			delete(zf.serials, srv)
		}
		f.setSpread(zone, zf)
	}
}

// observeDS takes the DNSKEY set's signatures from a DS check.
func (f *forecast) observeDS(zone string, c model.DSCheck) {
	f.mu.Lock()
	defer f.mu.Unlock()
	zf := f.zone(zone)
	switch {
	case c.DNSKEYRRSIG != nil:
		zf.exp["dnskey"] = c.DNSKEYRRSIG.Expiration.Unix()
	case c.Status == model.DSIncomplete:
		return // the DNSKEY set may not have been read
	default:
		delete(zf.exp, "dnskey")
	}
	f.setExpiry(zone, zf, c.Time.Unix())
}

// forgetZone drops a zone a reload removed.
func (f *forecast) forgetZone(zone string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.zones, zone)
	f.expiry.DeleteLabelValues(zone)
	f.lame.DeleteLabelValues(zone)
	f.spread.DeleteLabelValues(zone)
}

// forget drops what a server that left the zone's set said.
func (f *forecast) forget(zone, server string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	zf := f.zones[zone]
	if zf == nil {
		return
	}
	delete(zf.lame, server)
	delete(zf.serials, server)
	for k := range zf.exp {
		if len(k) > len(server) && k[:len(server)+1] == server+" " {
			delete(zf.exp, k)
		}
	}
	f.lame.WithLabelValues(zone).Set(float64(countTrue(zf.lame)))
	f.setSpread(zone, zf)
	f.setExpiry(zone, zf, zf.at)
}

// keepServers forgets what servers no longer in a zone's discovered set
// said (server names are the host, or "host#v6", "host#2" …).
func (f *forecast) keepServers(zone string, d model.Discovery) {
	if len(d.Servers) == 0 {
		return // a failed discovery keeps the previous set
	}
	hosts := map[string]bool{}
	for _, s := range d.Servers {
		hosts[s.Host] = true
	}
	f.mu.Lock()
	zf := f.zones[zone]
	var gone []string
	if zf != nil {
		for srv := range zf.lame {
			if h, _, _ := strings.Cut(srv, "#"); !hosts[h] {
				gone = append(gone, srv)
			}
		}
		for srv := range zf.serials {
			if h, _, _ := strings.Cut(srv, "#"); !hosts[h] && !slices.Contains(gone, srv) {
				gone = append(gone, srv)
			}
		}
	}
	f.mu.Unlock()
	for _, srv := range gone {
		f.forget(zone, srv)
	}
}

func (f *forecast) setExpiry(zone string, zf *zoneForecast, now int64) {
	zf.at = now
	if len(zf.exp) == 0 {
		f.expiry.DeleteLabelValues(zone)
		return
	}
	first := int64(0)
	for _, e := range zf.exp {
		if first == 0 || e < first {
			first = e
		}
	}
	f.expiry.WithLabelValues(zone).Set(float64(first - now))
}

func (f *forecast) setSpread(zone string, zf *zoneForecast) {
	if len(zf.serials) == 0 {
		f.spread.DeleteLabelValues(zone)
		return
	}
	s := make([]uint32, 0, len(zf.serials))
	for _, v := range zf.serials {
		s = append(s, v)
	}
	f.spread.WithLabelValues(zone).Set(float64(serialSpread(s)))
}

// serialSpread is the smallest arc of the 2^32 serial circle holding
// every serial (RFC 1982: a serial that wrapped is still close to the
// one before the wrap).
func serialSpread(s []uint32) uint32 {
	if len(s) < 2 {
		return 0
	}
	s = slices.Clone(s)
	slices.Sort(s)
	// The largest gap between neighbours (the wrap-around one included)
	// is the part of the circle the serials leave out.
	gap := s[0] - s[len(s)-1] // wrap-around, modulo 2^32
	for i := 1; i < len(s); i++ {
		gap = max(gap, s[i]-s[i-1])
	}
	return -gap // 2^32 - gap
}

// lameAnswer: an answer, but not an authoritative one.
func lameAnswer(o model.Observation) bool {
	switch o.Rcode {
	case "REFUSED", "SERVFAIL", "NOTAUTH":
		return true
	case "NOERROR", "NXDOMAIN":
		return !o.AA
	}
	return false
}

func countTrue(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

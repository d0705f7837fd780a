package benchscale

import (
	"cmp"
	"crypto"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Zones are signed in this process: ldns-keygen and ldns-signzone cost
// two processes per zone (minutes for 10,000 zones), miekg/dns signs all
// of them in seconds. Each zone gets one ECDSAP256SHA256 key with the SEP
// flag (257) signing everything, as integration/lab does, and an NSEC
// chain, so that validating resolvers can prove NODATA (AAAA of the
// nameservers, which discovery asks).

// zoneKey is one zone's signing key.
type zoneKey struct {
	dnskey *dns.DNSKEY
	priv   crypto.Signer
}

// newZoneKey generates a key for zone. Key tag 0 is skipped: miekg/dns
// refuses to sign with it, and among 10,000 keys one is likely.
func newZoneKey(zone string, ttl uint32) (zoneKey, error) {
	for range 16 {
		k := &dns.DNSKEY{
			Hdr:       dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: ttl},
			Flags:     257,
			Protocol:  3,
			Algorithm: dns.ECDSAP256SHA256,
		}
		p, err := k.Generate(256)
		if err != nil {
			return zoneKey{}, err
		}
		if k.KeyTag() == 0 {
			continue
		}
		s, ok := p.(crypto.Signer)
		if !ok {
			return zoneKey{}, fmt.Errorf("key of %s is a %T, not a crypto.Signer", zone, p)
		}
		return zoneKey{dnskey: k, priv: s}, nil
	}
	return zoneKey{}, fmt.Errorf("no key with a non-zero key tag for %s", zone)
}

// ds is the SHA-256 DS record of the key, owned by the zone, with ttl.
func (k zoneKey) ds(ttl uint32) *dns.DS {
	d := k.dnskey.ToDS(dns.SHA256)
	d.Hdr.Ttl = ttl
	return d
}

// zoneContent is the unsigned data of one zone: its records (apex SOA
// and NS, other names, delegations with their NS and DS, glue), all with
// absolute owner names.
type zoneContent struct {
	origin string
	ttl    uint32
	rrs    []dns.RR
}

func (z *zoneContent) add(rr string) error {
	r, err := dns.NewRR(rr)
	if err != nil {
		return fmt.Errorf("zone %s: %q: %w", z.origin, rr, err)
	}
	r.Header().Ttl = z.ttl
	z.rrs = append(z.rrs, r)
	return nil
}

// sign returns the zone's records with the DNSKEY, the NSEC chain and an
// RRSIG over every authoritative RRset added, sorted canonically; the
// signatures are valid from inception to expiration.
func (z *zoneContent) sign(k zoneKey, inception, expiration time.Time) ([]dns.RR, error) {
	origin := dns.CanonicalName(z.origin)
	rrs := slices.Clone(z.rrs)
	key := dns.Copy(k.dnskey).(*dns.DNSKEY)
	key.Hdr.Ttl = z.ttl
	rrs = append(rrs, key)

	// Delegation points: names below the apex with NS records. Anything
	// below one is glue: neither signed nor in the NSEC chain.
	cuts := map[string]bool{}
	for _, rr := range rrs {
		n := dns.CanonicalName(rr.Header().Name)
		if !dns.IsSubDomain(origin, n) {
			return nil, fmt.Errorf("zone %s: %s is out of zone", origin, n)
		}
		if rr.Header().Rrtype == dns.TypeNS && n != origin {
			cuts[n] = true
		}
	}
	glue := func(n string) bool {
		for p := n; p != origin; p = parentName(p) {
			if p != n && cuts[p] {
				return true
			}
		}
		return false
	}

	sets := map[string]map[uint16][]dns.RR{} // owner -> type -> RRset
	for _, rr := range rrs {
		n := dns.CanonicalName(rr.Header().Name)
		if sets[n] == nil {
			sets[n] = map[uint16][]dns.RR{}
		}
		sets[n][rr.Header().Rrtype] = append(sets[n][rr.Header().Rrtype], rr)
	}
	var chain []string
	for n := range sets {
		if !glue(n) {
			chain = append(chain, n)
		}
	}
	slices.SortFunc(chain, canonicalCompare)

	sig := func(set []dns.RR) (dns.RR, error) {
		s := &dns.RRSIG{
			Hdr:        dns.RR_Header{Ttl: set[0].Header().Ttl},
			Algorithm:  k.dnskey.Algorithm,
			KeyTag:     k.dnskey.KeyTag(),
			SignerName: origin,
			Inception:  uint32(inception.Unix()),
			Expiration: uint32(expiration.Unix()),
		}
		if err := s.Sign(k.priv, set); err != nil {
			return nil, fmt.Errorf("sign %s %s: %w", set[0].Header().Name, dns.TypeToString[set[0].Header().Rrtype], err)
		}
		return s, nil
	}
	out := make([]dns.RR, 0, 3*len(rrs))
	for i, n := range chain {
		types := sets[n]
		cut := cuts[n]
		bitmap := []uint16{dns.TypeNSEC, dns.TypeRRSIG}
		for t := range types {
			bitmap = append(bitmap, t)
		}
		slices.Sort(bitmap)
		nsec := &dns.NSEC{
			Hdr:        dns.RR_Header{Name: n, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: z.ttl},
			NextDomain: chain[(i+1)%len(chain)],
			TypeBitMap: bitmap,
		}
		typeList := make([]uint16, 0, len(types))
		for t := range types {
			typeList = append(typeList, t)
		}
		slices.Sort(typeList)
		for _, t := range typeList {
			out = append(out, types[t]...)
			// At a delegation only the DS is the parent's own data.
			if cut && t != dns.TypeDS {
				continue
			}
			s, err := sig(types[t])
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		out = append(out, nsec)
		s, err := sig([]dns.RR{nsec})
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	// Glue, unsigned.
	for n, types := range sets {
		if glue(n) {
			for _, set := range types {
				out = append(out, set...)
			}
		}
	}
	return out, nil
}

// zoneText is a zone file NSD reads: one record per line, absolute names.
func zoneText(rrs []dns.RR) string {
	var b strings.Builder
	for _, rr := range rrs {
		b.WriteString(rr.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// canonicalCompare orders names as DNSSEC does (RFC 4034 section 6.1):
// label by label from the right, each label as lower-case octets.
// Names here hold no escapes.
func canonicalCompare(a, b string) int {
	la := dns.SplitDomainName(strings.ToLower(a))
	lb := dns.SplitDomainName(strings.ToLower(b))
	for i := 1; i <= min(len(la), len(lb)); i++ {
		if c := strings.Compare(la[len(la)-i], lb[len(lb)-i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(la), len(lb))
}

// parentName strips the first label ("." stays ".").
func parentName(n string) string {
	off, end := dns.NextLabel(n, 0)
	if end || off >= len(n) {
		return "."
	}
	return n[off:]
}

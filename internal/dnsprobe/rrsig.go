package dnsprobe

import (
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/internal/model"
)

// sigValidity summarises the RRSIGs of an answer section: the earliest
// expiration, the latest inception and the longest TTL of the signed data
// (record TTLs and the RRSIGs' original TTLs). It returns nil when the
// section holds no RRSIG. at is when the answer came: RRSIG times are
// 32-bit serial numbers (RFC 4034 3.1.5) read as the time closest to it.
func sigValidity(rrs []dns.RR, at time.Time) *model.SigValidity {
	var v *model.SigValidity
	var ttl uint32
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype == dns.TypeOPT {
			continue
		}
		ttl = max(ttl, h.Ttl)
		sig, ok := rr.(*dns.RRSIG)
		if !ok {
			continue
		}
		exp, inc := sigTime(sig.Expiration, at), sigTime(sig.Inception, at)
		if v == nil {
			v = &model.SigValidity{Expiration: exp, Inception: inc}
		}
		if exp.Before(v.Expiration) {
			v.Expiration = exp
		}
		if inc.After(v.Inception) {
			v.Inception = inc
		}
		ttl = max(ttl, sig.OrigTtl)
	}
	if v != nil {
		v.TTL = ttl
	}
	return v
}

// sigTime reads an RRSIG timestamp in serial number arithmetic: the
// instant within 68 years of at whose Unix time modulo 2^32 is t.
func sigTime(t uint32, at time.Time) time.Time {
	ref := at.Unix()
	d := int64(int32(t - uint32(ref)))
	return time.Unix(ref+d, 0).UTC()
}

// mergeSig folds b into a (the earliest expiration wins, with its server).
func mergeSig(a, b *model.SigValidity) *model.SigValidity {
	switch {
	case b == nil:
		return a
	case a == nil:
		c := *b
		return &c
	}
	if b.Expiration.Before(a.Expiration) {
		a.Expiration, a.Server = b.Expiration, b.Server
	}
	if b.Inception.After(a.Inception) {
		a.Inception = b.Inception
	}
	a.TTL = max(a.TTL, b.TTL)
	return a
}

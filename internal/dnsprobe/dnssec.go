package dnsprobe

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/internal/model"
)

// maxDNSKEYServers bounds how many authoritative servers CheckDS asks (in
// parallel) for the DNSKEY set.
const maxDNSKEYServers = 8

// CheckDS compares the DS set at the parent with the DNSKEY set the zone's
// authoritative servers serve. The DS set is asked of the resolvers with
// CD=1 (a bogus child must not hide the parent's DS), falling back to the
// parent zone's own servers; the DNSKEY set is asked of every given
// authoritative server (up to 8, in parallel, RD=0): the first that answers
// in the given order decides, and disagreement is noted in Detail.
func (p *Prober) CheckDS(ctx context.Context, zone string, resolvers []model.Server, auth []model.AuthServer) model.DSCheck {
	zone = canonical(zone)
	c := model.DSCheck{Time: p.now(), Zone: zone}
	defer p.logDSCheck(ctx, &c)
	l := p.newLookup(zone, resolvers)

	dsSet, err := l.dsSet(ctx, zone)
	if err != nil {
		c.Status = model.DSIncomplete
		c.Detail = "could not get the DS set of " + zone + ": " + err.Error()
		return c
	}
	ks := p.dnskeys(ctx, zone, auth)
	c.DNSKEYRRSIG = ks.sig
	for _, k := range ks.keys {
		c.DNSKEYs = append(c.DNSKEYs, model.DNSKEYInfo{KeyTag: k.KeyTag(), Algorithm: k.Algorithm, Flags: k.Flags})
	}
	slices.SortFunc(c.DNSKEYs, func(a, b model.DNSKEYInfo) int {
		return cmp.Or(cmp.Compare(a.KeyTag, b.KeyTag), cmp.Compare(a.Algorithm, b.Algorithm))
	})
	suffix := ""
	if ks.disagreement != "" {
		suffix = "; " + ks.disagreement
	}

	if len(dsSet) == 0 {
		c.Status = model.DSUnsigned
		c.Detail = "the parent has no DS record for " + zone + ", so the delegation is insecure"
		if len(ks.keys) > 0 {
			c.Detail += ", although the zone serves DNSKEY key tags " + keyTagList(c.DNSKEYs)
		}
		c.Detail += suffix
		return c
	}
	for _, ds := range dsSet {
		c.DS = append(c.DS, matchDS(ds, ks.keys))
	}
	switch {
	case ks.err != nil:
		c.Status = model.DSIncomplete
		c.Detail = "the parent has " + dsList(c.DS) + " but the DNSKEY set could not be read: " + ks.err.Error()
		return c
	case len(ks.keys) == 0:
		c.Status = model.DSNoDNSKEY
		c.Detail = "the parent has " + dsList(c.DS) + " but the zone serves no DNSKEY" + suffix
		return c
	}
	var matched, unmatched []model.DSRecord
	for _, d := range c.DS {
		if d.Matched {
			matched = append(matched, d)
		} else {
			unmatched = append(unmatched, d)
		}
	}
	if len(matched) > 0 {
		c.Status = model.DSOK
		c.Detail = dsList(matched) + " " + verb(dsCount(matched), "matches", "match") + " a DNSKEY served by the zone"
		if len(unmatched) > 0 {
			c.Detail += "; " + dsList(unmatched) + " " + verb(dsCount(unmatched), "matches", "match") + " none"
		}
		c.Detail += suffix
		return c
	}
	c.Status = model.DSMismatch
	c.Detail = dsList(c.DS) + " " + verb(dsCount(c.DS), "matches", "match") + " no DNSKEY served by the zone (it serves key tags " + keyTagList(c.DNSKEYs) + ")"
	if len(c.DS) == 1 && c.DS[0].Problem != "" && !strings.HasPrefix(c.DS[0].Problem, "no DNSKEY") {
		c.Detail += ": " + c.DS[0].Problem
	}
	c.Detail += suffix
	return c
}

// dsSet returns the DS records of zone: from the resolvers (CD=1), or
// from the parent zone's servers when no resolver answers.
func (l *lookup) dsSet(ctx context.Context, zone string) ([]*dns.DS, error) {
	if zone == "." {
		return nil, errors.New("the root zone has no parent: its trust anchor is configured, not delegated")
	}
	m, err := l.resolve(ctx, zone, dns.TypeDS)
	if err != nil {
		pm, perr := l.fromParent(ctx, zone, dns.TypeDS)
		if perr != nil {
			return nil, errors.New(err.Error() + "; and from the parent's servers: " + perr.Error())
		}
		m = pm
	}
	if m.Rcode == dns.RcodeNameError {
		return nil, errors.New(zone + " does not exist (NXDOMAIN)")
	}
	var out []*dns.DS
	for _, rr := range m.Answer {
		if ds, ok := rr.(*dns.DS); ok && strings.EqualFold(ds.Hdr.Name, zone) {
			out = append(out, ds)
		}
	}
	return out, nil
}

// fromParent asks the servers of zone's parent zone (RD=0) for zone/qtype.
func (l *lookup) fromParent(ctx context.Context, zone string, qtype uint16) (*dns.Msg, error) {
	parent, err := l.findZone(ctx, parentOf(zone))
	if err != nil {
		return nil, err
	}
	servers, err := l.zoneServers(ctx, parent)
	if err != nil {
		return nil, err
	}
	var errs []string
	for _, s := range servers {
		m, _, err := l.ask(ctx, s, zone, qtype, false, false)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
			errs = append(errs, serverLabel(s)+": "+rcodeName(m.Rcode))
			continue
		}
		return m, nil
	}
	return nil, errors.New(strings.Join(errs, "; "))
}

// keySet is the DNSKEY set as the authoritative servers serve it.
type keySet struct {
	keys         []*dns.DNSKEY
	err          error  // no server answered
	disagreement string // servers serve different key sets
	// sig summarises the RRSIGs over the DNSKEY set over every server
	// that answered.
	sig *model.SigValidity
}

// dnskeys asks up to maxDNSKEYServers of auth, in parallel, for zone's
// DNSKEY set.
func (p *Prober) dnskeys(ctx context.Context, zone string, auth []model.AuthServer) keySet {
	if len(auth) == 0 {
		return keySet{err: errors.New("no authoritative servers to ask")}
	}
	type answer struct {
		srv  model.Server
		keys []*dns.DNSKEY
		sig  *model.SigValidity
		err  string
	}
	answers := make([]answer, min(len(auth), maxDNSKEYServers))
	var wg sync.WaitGroup
	for i := range answers {
		a := auth[i]
		srv := model.Server{Name: a.Host, Kind: model.KindAuthoritative, Addr: a.Addr.String(), Transport: model.TransportUDP}
		answers[i].srv = srv
		wg.Go(func() {
			res := p.exchange(ctx, srv, request{name: zone, qtype: dns.TypeDNSKEY})
			switch {
			case res.class != model.ErrNone:
				answers[i].err = serverLabel(srv) + ": " + string(res.class) + " (" + res.detail + ")"
			case res.msg.Rcode != dns.RcodeSuccess:
				answers[i].err = serverLabel(srv) + ": " + rcodeName(res.msg.Rcode)
			default:
				answers[i].keys = []*dns.DNSKEY{}
				for _, rr := range res.msg.Answer {
					if k, ok := rr.(*dns.DNSKEY); ok && strings.EqualFold(k.Hdr.Name, zone) {
						answers[i].keys = append(answers[i].keys, k)
					}
				}
				if sig := sigValidity(res.msg.Answer, p.now()); sig != nil {
					sig.Server = serverLabel(srv)
					answers[i].sig = sig
				}
			}
		})
	}
	wg.Wait()

	var (
		ks    keySet
		first = -1
		errs  []string
		views = map[string][]string{} // key tag list -> servers
		order []string
	)
	for i, a := range answers {
		if a.keys == nil {
			errs = append(errs, a.err)
			continue
		}
		if first < 0 {
			first = i
		}
		ks.sig = mergeSig(ks.sig, a.sig)
		tags := tagsOf(a.keys)
		if _, ok := views[tags]; !ok {
			order = append(order, tags)
		}
		views[tags] = append(views[tags], serverLabel(a.srv))
	}
	if first < 0 {
		ks.err = errors.New("no authoritative server answered: " + strings.Join(errs, "; "))
		return ks
	}
	ks.keys = answers[first].keys
	if len(order) > 1 {
		var parts []string
		for _, tags := range order {
			parts = append(parts, strings.Join(views[tags], ", ")+" "+verb(len(views[tags]), "serves", "serve")+" "+tags)
		}
		ks.disagreement = "the authoritative servers disagree: " + strings.Join(parts, "; ")
	}
	return ks
}

// matchDS checks one DS record against the served DNSKEYs.
func matchDS(ds *dns.DS, keys []*dns.DNSKEY) model.DSRecord {
	r := model.DSRecord{KeyTag: ds.KeyTag, Algorithm: ds.Algorithm, DigestType: ds.DigestType, Digest: strings.ToUpper(ds.Digest)}
	tag := strconv.Itoa(int(ds.KeyTag))
	var sameTag, sameAlg []*dns.DNSKEY
	for _, k := range keys {
		if k.KeyTag() == ds.KeyTag {
			sameTag = append(sameTag, k)
			if k.Algorithm == ds.Algorithm {
				sameAlg = append(sameAlg, k)
			}
		}
	}
	switch {
	case len(sameTag) == 0:
		r.Problem = "no DNSKEY with key tag " + tag
		return r
	case len(sameAlg) == 0:
		r.Problem = "DNSKEY " + tag + " has algorithm " + strconv.Itoa(int(sameTag[0].Algorithm)) + ", DS says " + strconv.Itoa(int(ds.Algorithm))
		return r
	case !supportedDigest(ds.DigestType):
		r.Problem = "unsupported digest type " + strconv.Itoa(int(ds.DigestType))
		return r
	}
	for _, k := range sameAlg {
		d := k.ToDS(ds.DigestType)
		if d == nil || !strings.EqualFold(d.Digest, ds.Digest) {
			continue
		}
		if k.Flags&dns.ZONE == 0 {
			r.Problem = "DNSKEY " + tag + " matches the digest but is not a zone key (flags " + strconv.Itoa(int(k.Flags)) + ")"
			return r
		}
		if k.Flags&dns.REVOKE != 0 {
			r.Problem = "DNSKEY " + tag + " matches the digest but is revoked"
			return r
		}
		r.Matched = true
		return r
	}
	r.Problem = "digest differs"
	return r
}

func supportedDigest(t uint8) bool {
	return t == dns.SHA1 || t == dns.SHA256 || t == dns.SHA384
}

func tagsOf(keys []*dns.DNSKEY) string {
	if len(keys) == 0 {
		return "no DNSKEY"
	}
	tags := make([]int, 0, len(keys))
	for _, k := range keys {
		tags = append(tags, int(k.KeyTag()))
	}
	slices.Sort(tags)
	s := make([]string, len(tags))
	for i, t := range tags {
		s[i] = strconv.Itoa(t)
	}
	return "key tags " + strings.Join(s, ", ")
}

func keyTagList(keys []model.DNSKEYInfo) string {
	s := make([]string, 0, len(keys))
	for _, k := range keys {
		t := strconv.Itoa(int(k.KeyTag))
		if !slices.Contains(s, t) {
			s = append(s, t)
		}
	}
	return strings.Join(s, ", ")
}

// dsList renders "DS key tag 296 (algorithm 13)" for one or more records;
// records differing only in digest type are named once.
func dsList(ds []model.DSRecord) string {
	parts := dsParts(ds)
	if len(parts) <= 1 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

func dsParts(ds []model.DSRecord) []string {
	parts := make([]string, 0, len(ds))
	for _, d := range ds {
		p := "DS key tag " + strconv.Itoa(int(d.KeyTag)) + " (algorithm " + strconv.Itoa(int(d.Algorithm)) + ")"
		if !slices.Contains(parts, p) {
			parts = append(parts, p)
		}
	}
	return parts
}

func dsCount(ds []model.DSRecord) int { return len(dsParts(ds)) }

func verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (p *Prober) logDSCheck(ctx context.Context, c *model.DSCheck) {
	if !p.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	p.log.DebugContext(ctx, "dns ds check", "zone", c.Zone, "status", string(c.Status),
		"ds", len(c.DS), "dnskeys", len(c.DNSKEYs), "detail", c.Detail)
}

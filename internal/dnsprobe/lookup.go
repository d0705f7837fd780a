package dnsprobe

import (
	"context"
	"errors"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/internal/model"
)

// maxLookupQueries bounds the queries one Discover, CheckDS or FindZone
// call may send, whatever the answers say.
const maxLookupQueries = 48

// maxServersTried bounds how many servers of one zone are tried in turn.
const maxServersTried = 3

var errBudget = errors.New("query budget exhausted")

// lookup is the state of one Discover/CheckDS/FindZone call: the resolvers,
// which of them stopped answering, and the query budget left.
type lookup struct {
	p         *Prober
	resolvers []model.Server
	dead      []bool
	left      int
}

// newLookup starts a lookup about zone. The resolvers are asked in turn
// starting at one picked by a hash of the zone, so that thousands of
// zones' discoveries spread over the resolvers instead of all landing on
// the first (the same zone always starts at the same one).
func (p *Prober) newLookup(zone string, resolvers []model.Server) *lookup {
	if n := len(resolvers); n > 1 {
		h := fnv.New32a()
		h.Write([]byte(strings.ToLower(zone)))
		k := int(h.Sum32() % uint32(n))
		resolvers = append(slices.Clone(resolvers[k:]), resolvers[:k]...)
	}
	return &lookup{p: p, resolvers: resolvers, dead: make([]bool, len(resolvers)), left: maxLookupQueries}
}

// ask sends one query to srv and returns the response whatever its rcode.
func (l *lookup) ask(ctx context.Context, srv model.Server, name string, qtype uint16, rd, cd bool) (*dns.Msg, result, error) {
	if err := ctx.Err(); err != nil {
		return nil, result{}, err
	}
	if l.left <= 0 {
		return nil, result{}, errBudget
	}
	l.left--
	res := l.p.exchange(ctx, srv, request{name: name, qtype: qtype, rd: rd, cd: cd})
	if res.class != model.ErrNone {
		return nil, res, errors.New(serverLabel(srv) + ": " + string(res.class) + " (" + res.detail + ")")
	}
	return res.msg, res, nil
}

// resolve asks the resolvers in turn, RD=1 and CD=1 (so that a DNSSEC
// failure does not hide the structure of the namespace), until one answers
// NOERROR or NXDOMAIN. A resolver that fails at the transport level is not
// asked again during this call.
func (l *lookup) resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	if len(l.resolvers) == 0 {
		return nil, errors.New("no resolvers configured")
	}
	var errs []string
	for i, r := range l.resolvers {
		if l.dead[i] {
			continue
		}
		m, res, err := l.ask(ctx, r, name, qtype, true, true)
		if err != nil {
			if res.class != model.ErrNone {
				l.dead[i] = true
			}
			errs = append(errs, err.Error())
			if errors.Is(err, errBudget) || ctx.Err() != nil {
				break
			}
			continue
		}
		if m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError {
			return m, nil
		}
		errs = append(errs, serverLabel(r)+": "+rcodeName(m.Rcode))
	}
	if len(errs) == 0 {
		errs = append(errs, "every resolver failed earlier in this check")
	}
	return nil, errors.New("no resolver answered " + name + " " + typeName(qtype) + ": " + strings.Join(errs, "; "))
}

// addrs resolves host's addresses through the resolvers: A, and AAAA
// unless onlyFirst and A gave some. minTTL is folded with every TTL seen.
func (l *lookup) addrs(ctx context.Context, host string, onlyFirst bool, ttl *ttlMin) ([]netip.Addr, error) {
	var out []netip.Addr
	var firstErr error
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		if onlyFirst && len(out) > 0 {
			break
		}
		m, err := l.resolve(ctx, host, t)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		for _, rr := range m.Answer {
			if a, ok := rrAddr(rr); ok {
				out = append(out, a)
				ttl.add(rr.Header().Ttl)
			}
		}
	}
	if len(out) == 0 && firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// zoneServers finds up to maxServersTried addresses of zone's nameservers
// through the resolvers.
func (l *lookup) zoneServers(ctx context.Context, zone string) ([]model.Server, error) {
	m, err := l.resolve(ctx, zone, dns.TypeNS)
	if err != nil {
		return nil, err
	}
	hosts := nsNames(m.Answer, zone)
	if len(hosts) == 0 {
		return nil, errors.New("resolvers return no NS records for " + zone)
	}
	return l.serversFor(ctx, hosts, nil)
}

// serversFor turns nameserver host names into servers to ask on port
// authPort: glue addresses first, then addresses from the resolvers.
func (l *lookup) serversFor(ctx context.Context, hosts []string, glue map[string][]netip.Addr) ([]model.Server, error) {
	var out []model.Server
	add := func(host string, a netip.Addr) {
		out = append(out, model.Server{
			Name: host, Kind: model.KindAuthoritative, Transport: model.TransportUDP,
			Addr: netip.AddrPortFrom(a, l.p.authPort).String(),
		})
	}
	for _, h := range hosts {
		for _, a := range glue[h] {
			if len(out) < maxServersTried {
				add(h, a)
			}
		}
	}
	var firstErr error
	for _, h := range hosts {
		if len(out) >= maxServersTried {
			break
		}
		if len(glue[h]) > 0 {
			continue
		}
		as, err := l.addrs(ctx, h, true, new(ttlMin))
		if err != nil && firstErr == nil {
			firstErr = err
		}
		for _, a := range as {
			if len(out) < maxServersTried {
				add(h, a)
			}
		}
	}
	if len(out) == 0 {
		if firstErr == nil {
			firstErr = errors.New("no addresses for nameservers " + strings.Join(hosts, ", "))
		}
		return nil, firstErr
	}
	return out, nil
}

// findZone returns the zone cut enclosing name. It asks the resolvers for
// SOA name: the SOA owner in the answer or in the authority section names
// the zone. When that fails (an alias, or a zone whose servers are down so
// that resolvers SERVFAIL) it walks up to the closest ancestor that
// resolves and follows referrals from that zone's own servers down to name.
func (l *lookup) findZone(ctx context.Context, name string) (string, error) {
	var firstErr error
	for n := name; ; n = parentOf(n) {
		m, err := l.resolve(ctx, n, dns.TypeSOA)
		switch {
		case err != nil:
			if firstErr == nil {
				firstErr = err
			}
			if errors.Is(err, errBudget) || ctx.Err() != nil {
				return "", firstErr
			}
		default:
			if z, ok := zoneFromSOA(m, n); ok {
				if n == name {
					return z, nil
				}
				return l.descend(ctx, z, name)
			}
		}
		if n == "." {
			break
		}
	}
	if firstErr == nil {
		firstErr = errors.New("no SOA found for " + name + " or any of its ancestors")
	}
	return "", firstErr
}

// descend follows referrals from zone's servers towards name and returns
// the deepest zone cut enclosing name it could establish. When a child
// zone's servers do not answer, the child is still the answer: that is
// where name lives, and why resolvers fail.
func (l *lookup) descend(ctx context.Context, zone, name string) (string, error) {
	servers, err := l.zoneServers(ctx, zone)
	if err != nil {
		return "", errors.New("cannot find the servers of " + zone + " to follow the delegation to " + name + ": " + err.Error())
	}
	for depth := 0; depth < 8; depth++ {
		var (
			m    *dns.Msg
			errs []string
		)
		for _, s := range servers {
			r, _, err := l.ask(ctx, s, name, dns.TypeSOA, false, false)
			if err != nil {
				errs = append(errs, err.Error())
				if errors.Is(err, errBudget) || ctx.Err() != nil {
					break
				}
				continue
			}
			if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
				errs = append(errs, serverLabel(s)+": "+rcodeName(r.Rcode))
				continue
			}
			m = r
			break
		}
		if m == nil {
			if depth > 0 {
				return zone, nil
			}
			return "", errors.New("no server of " + zone + " answered for " + name + ": " + strings.Join(errs, "; "))
		}
		if m.Authoritative {
			if z, ok := zoneFromSOA(m, name); ok {
				return z, nil
			}
			return zone, nil
		}
		cut, hosts := referral(m, zone, name)
		if cut == "" {
			return "", errors.New("servers of " + zone + " gave neither an answer nor a referral for " + name)
		}
		zone = cut
		if servers, err = l.serversFor(ctx, hosts, glueOf(m, hosts, nil)); err != nil {
			return zone, nil
		}
	}
	return zone, nil
}

// referral returns the delegation in m's authority section: the cut below
// zone that encloses name, and its nameserver names.
func referral(m *dns.Msg, zone, name string) (string, []string) {
	for _, rr := range m.Ns {
		ns, ok := rr.(*dns.NS)
		if !ok {
			continue
		}
		o := strings.ToLower(ns.Hdr.Name)
		if o != strings.ToLower(zone) && dns.IsSubDomain(zone, o) && dns.IsSubDomain(o, name) {
			return o, nsNames(m.Ns, o)
		}
	}
	return "", nil
}

// zoneFromSOA reads the zone of n from the response to SOA n.
func zoneFromSOA(m *dns.Msg, n string) (string, bool) {
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.SOA:
			if strings.EqualFold(rr.Hdr.Name, n) {
				return strings.ToLower(n), true
			}
		case *dns.CNAME, *dns.DNAME:
			return "", false // n is an alias: its zone is an ancestor
		}
	}
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(soa.Hdr.Name, n) {
			return strings.ToLower(soa.Hdr.Name), true
		}
	}
	return "", false
}

// nsNames returns the lower-cased targets of the NS records owned by owner.
func nsNames(rrs []dns.RR, owner string) []string {
	var out []string
	for _, rr := range rrs {
		if ns, ok := rr.(*dns.NS); ok && strings.EqualFold(ns.Hdr.Name, owner) {
			h := strings.ToLower(ns.Ns)
			if !contains(out, h) {
				out = append(out, h)
			}
		}
	}
	return out
}

// glueOf returns the A/AAAA records of the additional section that belong
// to hosts, folding their TTLs into ttl when it is not nil.
func glueOf(m *dns.Msg, hosts []string, ttl *ttlMin) map[string][]netip.Addr {
	glue := map[string][]netip.Addr{}
	for _, rr := range m.Extra {
		a, ok := rrAddr(rr)
		if !ok {
			continue
		}
		h := strings.ToLower(rr.Header().Name)
		if contains(hosts, h) {
			glue[h] = append(glue[h], a)
			if ttl != nil {
				ttl.add(rr.Header().Ttl)
			}
		}
	}
	return glue
}

func rrAddr(rr dns.RR) (netip.Addr, bool) {
	var ip []byte
	switch rr := rr.(type) {
	case *dns.A:
		ip = rr.A.To4()
	case *dns.AAAA:
		ip = rr.AAAA.To16()
	default:
		return netip.Addr{}, false
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// canonical lower-cases name and makes it fully qualified.
func canonical(name string) string {
	return strings.ToLower(dns.Fqdn(name))
}

// parentOf strips the first label: "www.example.com." -> "example.com.".
func parentOf(name string) string {
	off, end := dns.NextLabel(name, 0)
	if end || off >= len(name) {
		return "."
	}
	return name[off:]
}

func serverLabel(s model.Server) string {
	if s.Name == "" || s.Name == s.Addr {
		return s.Addr
	}
	return s.Name + " (" + s.Addr + ")"
}

// ttlMin tracks the smallest TTL seen.
type ttlMin struct {
	v    uint32
	seen bool
}

func (t *ttlMin) add(v uint32) {
	if !t.seen || v < t.v {
		t.v, t.seen = v, true
	}
}

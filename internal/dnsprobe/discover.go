package dnsprobe

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/internal/model"
)

// maxNS bounds the nameserver names whose addresses Discover looks up.
const maxNS = 13

// Discover finds the authoritative servers of zone in two ways: (a) the NS
// set and each nameserver's A/AAAA from the resolvers, and (b) the parent's
// delegation and glue, asked with RD=0 of one of the parent zone's servers.
// It sends at most maxLookupQueries queries, all under ctx. On failure
// Error is set and Servers is empty.
func (p *Prober) Discover(ctx context.Context, zone string, resolvers []model.Server) model.Discovery {
	zone = canonical(zone)
	d := model.Discovery{Time: p.now(), Zone: zone}
	l := p.newLookup(zone, resolvers)
	set := authSet{}
	var ttl ttlMin

	// (a) The resolvers' view.
	var hosts []string
	var problems []string
	if m, err := l.resolve(ctx, zone, dns.TypeNS); err != nil {
		problems = append(problems, "resolvers: "+err.Error())
	} else {
		for _, rr := range m.Answer {
			if ns, ok := rr.(*dns.NS); ok && strings.EqualFold(ns.Hdr.Name, zone) {
				ttl.add(ns.Hdr.Ttl)
			}
		}
		hosts = nsNames(m.Answer, zone)
		if len(hosts) == 0 {
			problems = append(problems, "resolvers: no NS records for "+zone+" ("+rcodeName(m.Rcode)+")")
		}
	}

	// (b) The parent's delegation and glue.
	parentHosts, glue, pv, err := l.delegation(ctx, zone, &ttl)
	d.Delegation, d.DelegationDetail = pv.status, pv.detail
	if err != nil {
		problems = append(problems, "parent: "+err.Error())
	}
	for _, h := range parentHosts {
		for _, a := range glue[h] {
			set.add(h, netip.AddrPortFrom(a, p.authPort), model.SourceParent)
		}
		if !contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}

	// Addresses of every nameserver name from the resolvers.
	if len(hosts) > maxNS {
		hosts = hosts[:maxNS]
	}
	for _, h := range hosts {
		if l.left < 2 || ctx.Err() != nil {
			problems = append(problems, "query budget or time ran out before every nameserver address was looked up")
			break
		}
		as, err := l.addrs(ctx, h, false, &ttl)
		if err != nil && len(glue[h]) == 0 {
			problems = append(problems, "address of "+h+": "+err.Error())
		}
		for _, a := range as {
			set.add(h, netip.AddrPortFrom(a, p.authPort), model.SourceResolver)
		}
	}

	d.ParentNS = slices.Clone(parentHosts)
	slices.Sort(d.ParentNS)
	d.NS = slices.Clone(hosts)
	slices.Sort(d.NS)
	d.Servers = set.list()
	d.ApexNS = l.apexNS(ctx, zone, d.Servers)
	if ttl.seen {
		d.TTL = time.Duration(ttl.v) * time.Second
	}
	if len(d.Servers) == 0 {
		d.Error = "no authoritative server address found for " + zone
		if len(problems) > 0 {
			d.Error += ": " + strings.Join(problems, "; ")
		}
		d.Servers = nil
	}
	p.logDiscovery(ctx, &d, problems)
	return d
}

// parentView is what the parent's servers said of a zone's delegation:
// the status ("" when no parent server made a statement) and which server
// said what.
type parentView struct {
	status model.DelegationStatus
	detail string
}

// delegation asks the parent zone's servers (RD=0) for zone's NS set and
// returns the delegated nameserver names and their glue, and what the
// parent said: the delegation as soon as one server gives it; otherwise the
// first authoritative denial (NXDOMAIN, or NOERROR without NS for the zone)
// from a parent server. Failures and non-authoritative empty answers say
// nothing about the delegation.
func (l *lookup) delegation(ctx context.Context, zone string, ttl *ttlMin) ([]string, map[string][]netip.Addr, parentView, error) {
	var pv parentView
	if zone == "." {
		return nil, nil, pv, nil // the root has no parent
	}
	parent, err := l.findZone(ctx, parentOf(zone))
	if err != nil {
		return nil, nil, pv, errors.New("cannot find the parent zone of " + zone + ": " + err.Error())
	}
	servers, err := l.zoneServers(ctx, parent)
	if err != nil {
		return nil, nil, pv, errors.New("cannot find the servers of parent zone " + parent + ": " + err.Error())
	}
	deny := func(s model.Server, st model.DelegationStatus, what string) {
		if pv.status == "" {
			pv = parentView{status: st, detail: parent + " server " + serverLabel(s) + " answers " + what}
		}
	}
	var errs []string
	for _, s := range servers {
		m, _, err := l.ask(ctx, s, zone, dns.TypeNS, false, false)
		if err != nil {
			errs = append(errs, err.Error())
			if errors.Is(err, errBudget) || ctx.Err() != nil {
				break
			}
			continue
		}
		if m.Rcode == dns.RcodeNameError && m.Authoritative {
			deny(s, model.DelegationNXDomain, "NXDOMAIN for "+zone)
		}
		if m.Rcode != dns.RcodeSuccess {
			errs = append(errs, serverLabel(s)+": "+rcodeName(m.Rcode))
			continue
		}
		// A referral puts the NS set in the authority section; a server
		// authoritative for both parent and child answers it directly.
		section := m.Ns
		hosts := nsNames(m.Ns, zone)
		if len(hosts) == 0 {
			section = m.Answer
			hosts = nsNames(m.Answer, zone)
		}
		if len(hosts) == 0 {
			if m.Authoritative {
				deny(s, model.DelegationNoNS, "NOERROR without NS records for "+zone)
			}
			errs = append(errs, serverLabel(s)+": no delegation for "+zone)
			continue
		}
		for _, rr := range section {
			if ns, ok := rr.(*dns.NS); ok && strings.EqualFold(ns.Hdr.Name, zone) {
				ttl.add(ns.Hdr.Ttl)
			}
		}
		pv = parentView{status: model.DelegationOK, detail: parent + " server " + serverLabel(s) + " delegates " + zone + " to " + strings.Join(hosts, ", ")}
		return hosts, glueOf(m, hosts, ttl), pv, nil
	}
	return nil, nil, pv, errors.New("no server of parent zone " + parent + " gave the delegation: " + strings.Join(errs, "; "))
}

// FindZone returns the zone cut enclosing name (the SOA owner, from the
// answer or the authority section), asking the resolvers with CD=1 and,
// when they fail, following referrals from the closest ancestor that
// resolves. It is meant for ad-hoc probes of a single name.
func (p *Prober) FindZone(ctx context.Context, name string, resolvers []model.Server) (string, error) {
	l := p.newLookup(name, resolvers)
	z, err := l.findZone(ctx, canonical(name))
	if err != nil {
		return "", errors.New("dnsprobe: find zone of " + canonical(name) + ": " + err.Error())
	}
	return z, nil
}

func (p *Prober) logDiscovery(ctx context.Context, d *model.Discovery, problems []string) {
	if !p.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	p.log.DebugContext(ctx, "dns discovery",
		"zone", d.Zone, "ns", d.NS, "servers", len(d.Servers), "ttl", d.TTL,
		"problems", problems, "error", d.Error, "delegation", d.Delegation, "delegation_detail", d.DelegationDetail)
}

// authSet merges authoritative server addresses learnt several ways.
type authSet map[string]*model.AuthServer // key: host + " " + addr

func (s authSet) add(host string, addr netip.AddrPort, src model.AuthSource) {
	k := host + " " + addr.String()
	a, ok := s[k]
	if !ok {
		a = &model.AuthServer{Host: host, Addr: addr}
		s[k] = a
	}
	if !slices.Contains(a.Sources, src) {
		a.Sources = append(a.Sources, src)
		slices.Sort(a.Sources)
	}
}

func (s authSet) list() []model.AuthServer {
	out := make([]model.AuthServer, 0, len(s))
	for _, a := range s {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b model.AuthServer) int {
		return cmp.Or(strings.Compare(a.Host, b.Host), a.Addr.Compare(b.Addr))
	})
	return out
}

package dnsprobe

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// answerData fills resp for q from data like a server holding all of it:
// the records, one CNAME step, or NODATA/NXDOMAIN with the SOA of the
// closest enclosing apex in data in the authority section.
func answerData(data zone, q dns.Question, resp *dns.Msg) {
	if rrs := data.get(q.Name, q.Qtype); len(rrs) > 0 {
		resp.Answer = append(resp.Answer, rrs...)
		return
	}
	if cn := data.get(q.Name, dns.TypeCNAME); len(cn) > 0 && q.Qtype != dns.TypeCNAME {
		resp.Answer = append(resp.Answer, cn...)
		resp.Answer = append(resp.Answer, data.get(cn[0].(*dns.CNAME).Target, q.Qtype)...)
		return
	}
	exists := false
	var soa dns.RR
	for k, rrs := range data {
		owner, typ, _ := strings.Cut(k, " ")
		if dns.IsSubDomain(q.Name, owner) {
			exists = true
		}
		if typ == "SOA" && dns.IsSubDomain(owner, q.Name) && (soa == nil || len(owner) > len(soa.Header().Name)) {
			soa = rrs[0]
		}
	}
	if !exists {
		resp.Rcode = dns.RcodeNameError
	}
	if soa != nil {
		resp.Ns = append(resp.Ns, soa)
	}
}

// resolverHandler answers from data as a recursive resolver would, with
// RA set; fail says which queries get SERVFAIL instead.
func resolverHandler(data zone, fail func(req *dns.Msg) bool, seen func(req *dns.Msg)) dns.HandlerFunc {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		if seen != nil {
			seen(req)
		}
		resp := new(dns.Msg)
		resp.SetReply(req)
		resp.RecursionAvailable = true
		resp.SetEdns0(ednsBufSize, true)
		if fail != nil && fail(req) {
			resp.Rcode = dns.RcodeServerFailure
		} else {
			answerData(data, req.Question[0], resp)
		}
		_ = w.WriteMsg(resp)
	}
}

// authHandler serves data as the authoritative server of apex: names at or
// below a delegation (NS records not at the apex) get a referral with glue.
func authHandler(apex string, data zone) dns.HandlerFunc {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetReply(req)
		resp.SetEdns0(ednsBufSize, true)
		q := req.Question[0]
		cut := ""
		for k := range data {
			owner, typ, _ := strings.Cut(k, " ")
			if typ == "NS" && owner != apex && dns.IsSubDomain(owner, q.Name) && len(owner) > len(cut) {
				cut = owner
			}
		}
		if cut != "" && !(q.Qtype == dns.TypeDS && strings.EqualFold(q.Name, cut)) {
			resp.Ns = data.get(cut, dns.TypeNS)
			for _, rr := range resp.Ns {
				target := rr.(*dns.NS).Ns
				resp.Extra = append(resp.Extra, data.get(target, dns.TypeA)...)
				resp.Extra = append(resp.Extra, data.get(target, dns.TypeAAAA)...)
			}
			_ = w.WriteMsg(resp)
			return
		}
		resp.Authoritative = true
		answerData(data, q, resp)
		_ = w.WriteMsg(resp)
	}
}

// world is a small DNS tree on loopback:
//
//	resolver      127.0.0.1:R  (flat view of everything; SERVFAIL under dead.test.)
//	test.         127.0.0.1:P  (parent; delegates example.test. and dead.test.;
//	                            holds nons.test. without NS)
//	example.test. 127.0.0.11:P (child)
//
// All nameservers share port P, which becomes the prober's authPort.
type world struct {
	resolver string
	authPort uint16
	parent   string
	child    string
}

func startWorld(t *testing.T) *world {
	t.Helper()
	parentData := mustRRs(t,
		"test. 86400 IN SOA ns.parent.test. h.test. 1 7200 3600 1209600 300",
		"test. 86400 IN NS ns.parent.test.",
		"ns.parent.test. 86400 IN A 127.0.0.1",
		"example.test. 172800 IN NS ns1.example.test.",
		"example.test. 172800 IN NS ns2.example.test.",
		"ns1.example.test. 172800 IN A 127.0.0.11",
		"ns2.example.test. 172800 IN A 127.0.0.12",
		"dead.test. 172800 IN NS ns.dead.test.",
		"ns.dead.test. 172800 IN A 127.0.0.66",
		// A name the parent holds without delegating it (no-ns).
		"nons.test. 300 IN TXT \"not delegated\"",
	)
	childData := mustRRs(t,
		"example.test. 3600 IN SOA ns1.example.test. h.example.test. 7 7200 3600 1209600 300",
		"example.test. 3600 IN NS ns1.example.test.",
		"example.test. 3600 IN NS ns3.example.test.",
		"ns1.example.test. 600 IN A 127.0.0.11",
		"ns3.example.test. 300 IN A 127.0.0.13",
		"www.example.test. 300 IN A 192.0.2.1",
		"alias.example.test. 300 IN CNAME www.example.test.",
	)
	resolverData := mustRRs(t,
		"test. 86400 IN SOA ns.parent.test. h.test. 1 7200 3600 1209600 300",
		"test. 86400 IN NS ns.parent.test.",
		"ns.parent.test. 86400 IN A 127.0.0.1",
		"example.test. 3600 IN SOA ns1.example.test. h.example.test. 7 7200 3600 1209600 300",
		"example.test. 3600 IN NS ns1.example.test.",
		"example.test. 3600 IN NS NS3.Example.test.",
		"ns1.example.test. 600 IN A 127.0.0.11",
		"ns2.example.test. 120 IN A 127.0.0.22",
		"ns3.example.test. 300 IN A 127.0.0.13",
		"ns3.example.test. 300 IN AAAA 2001:db8::13",
		"www.example.test. 300 IN A 192.0.2.1",
		"alias.example.test. 300 IN CNAME www.example.test.",
	)
	dead := func(req *dns.Msg) bool { return dns.IsSubDomain("dead.test.", req.Question[0].Name) }

	var err error
	for range 20 { // bounded: P must be free on both addresses
		var pcP, pcC net.PacketConn
		var lnP, lnC net.Listener
		pcP, lnP, err = listenPair("127.0.0.1:0", true)
		if err != nil {
			continue
		}
		port := netip.MustParseAddrPort(pcP.LocalAddr().String()).Port()
		pcC, lnC, err = listenPair(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.11"), port).String(), true)
		if err != nil {
			pcP.Close()
			lnP.Close()
			continue
		}
		w := &world{authPort: port}
		w.parent = serveOn(t, authHandler("test.", parentData), pcP, lnP, true).Addr
		w.child = serveOn(t, authHandler("example.test.", childData), pcC, lnC, true).Addr
		w.resolver = startServer(t, resolverHandler(resolverData, dead, nil)).Addr
		return w
	}
	t.Fatalf("cannot bind the test world: %v", err)
	return nil
}

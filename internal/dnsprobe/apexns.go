package dnsprobe

import (
	"context"
	"slices"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/internal/model"
)

// apexNS asks zone's authoritative servers (RD=0, in turn, at most
// maxServersTried) for the NS set at the zone's apex and returns the
// first authoritative answer's, sorted; nil when no server answered
// authoritatively. A lame server (REFUSED, AA=0, SERVFAIL) is skipped:
// the set the zone serves is what its real servers say.
func (l *lookup) apexNS(ctx context.Context, zone string, servers []model.AuthServer) []string {
	tried := 0
	for _, a := range servers {
		if tried >= maxServersTried || l.left < 1 || ctx.Err() != nil {
			break
		}
		tried++
		srv := model.Server{Name: a.Host, Kind: model.KindAuthoritative, Addr: a.Addr.String(), Transport: model.TransportUDP}
		m, _, err := l.ask(ctx, srv, zone, dns.TypeNS, false, false)
		if err != nil || m.Rcode != dns.RcodeSuccess || !m.Authoritative {
			continue
		}
		if hosts := nsNames(m.Answer, zone); len(hosts) > 0 {
			slices.Sort(hosts)
			return hosts
		}
	}
	return nil
}

package cli

import (
	"net/netip"
	"net/url"
	"testing"

	"github.com/reachmon/reachmon/internal/model"
)

// TestDefaultResolversByAddress: the public resolvers `reachmon probe`
// asks by default are reached by IP address on every transport, DoH
// included (a URL whose host is an address, the provider's name as TLS
// server name), so that no probe depends on the system resolver.
func TestDefaultResolversByAddress(t *testing.T) {
	for _, tr := range model.Transports {
		servers, err := probeResolvers(nil, "", tr, "")
		if err != nil {
			t.Fatalf("%s: %v", tr, err)
		}
		if len(servers) != len(defaultResolvers) {
			t.Fatalf("%s: %d servers, want %d", tr, len(servers), len(defaultResolvers))
		}
		for _, s := range servers {
			host := s.Addr
			if tr == model.TransportDoH {
				u, err := url.Parse(s.Addr)
				if err != nil {
					t.Fatalf("%s: %v", s.Name, err)
				}
				host = u.Hostname()
			} else if ap, err := netip.ParseAddrPort(s.Addr); err == nil {
				host = ap.Addr().String()
			}
			if _, err := netip.ParseAddr(host); err != nil {
				t.Errorf("%s over %s: address %q is not reached by IP", s.Name, tr, s.Addr)
			}
			if (tr == model.TransportDoT || tr == model.TransportDoH) && s.TLSServerName == "" {
				t.Errorf("%s over %s: no TLS server name", s.Name, tr)
			}
		}
	}
}

package dnsprobe

import (
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// TestDiscoverDelegation: Discover reports what the parent's servers say
// of the zone: a delegation, NXDOMAIN (a removed delegation, a lapsed
// domain), NOERROR without NS, or nothing when no parent server answers.
func TestDiscoverDelegation(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	tests := []struct {
		name, zone string
		authPort   uint16 // 0: the world's
		want       model.DelegationStatus
		detail     []string
		servers    bool
	}{
		{name: "delegated", zone: "example.test.", want: model.DelegationOK, servers: true,
			detail: []string{"test. server ns.parent.test. (127.0.0.1:", "delegates example.test. to ns1.example.test., ns2.example.test."}},
		{name: "delegated, resolvers SERVFAIL", zone: "dead.test.", want: model.DelegationOK, servers: true,
			detail: []string{"delegates dead.test. to ns.dead.test."}},
		{name: "removed", zone: "nope.test.", want: model.DelegationNXDomain,
			detail: []string{"test. server ns.parent.test. (127.0.0.1:", "answers NXDOMAIN for nope.test."}},
		{name: "name without NS", zone: "nons.test.", want: model.DelegationNoNS,
			detail: []string{"answers NOERROR without NS records for nons.test."}},
		{name: "parent unreachable", zone: "nope.test.", authPort: closedUDPPort(t), want: ""},
		{name: "root", zone: ".", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Options{Timeout: time.Second})
			p.authPort = w.authPort
			if tc.authPort != 0 {
				p.authPort = tc.authPort
			}
			d := p.Discover(ctxTimeout(t, 10*time.Second), tc.zone, []model.Server{resolverAt(w.resolver, model.TransportUDP)})
			if d.Delegation != tc.want {
				t.Fatalf("delegation %q (%s), want %q; error %q", d.Delegation, d.DelegationDetail, tc.want, d.Error)
			}
			if tc.want == "" && d.DelegationDetail != "" {
				t.Errorf("detail %q without a status", d.DelegationDetail)
			}
			for _, want := range tc.detail {
				if !strings.Contains(d.DelegationDetail, want) {
					t.Errorf("detail %q lacks %q", d.DelegationDetail, want)
				}
			}
			if got := len(d.Servers) > 0; got != tc.servers {
				t.Errorf("servers %v, want some: %v (error %q)", d.Servers, tc.servers, d.Error)
			}
			t.Logf("%s: %s; error %q", d.Delegation, d.DelegationDetail, d.Error)
		})
	}
}

package lab

import (
	"context"
	"fmt"
	"time"

	"github.com/miekg/dns"
)

// QueryFlags are the header bits and options of a Query.
type QueryFlags struct {
	RD  bool // recursion desired (set it for resolvers)
	CD  bool // checking disabled
	TCP bool
}

// queryTimeout bounds a Query whose ctx has no deadline.
const queryTimeout = 2 * time.Second

// Query sends one DNS query with EDNS0 (DO=1, AD=1, 1232 bytes) to server
// (ip:port) and returns the response. The AD bit is set in the query so a
// validating resolver reports AD in the answer (RFC 6840 §5.7). The query
// waits until ctx's deadline, or queryTimeout if ctx has none.
func Query(ctx context.Context, server, name string, qtype uint16, f QueryFlags) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = f.RD
	m.CheckingDisabled = f.CD
	m.AuthenticatedData = true
	m.SetEdns0(1232, true)
	c := &dns.Client{Net: "udp", UDPSize: 1232}
	if f.TCP {
		c.Net = "tcp"
	}
	// miekg/dns takes the earlier of ctx's deadline and Client.Timeout
	// (2 s when zero) for its socket deadlines.
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(queryTimeout)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	c.Timeout = time.Until(deadline)
	r, _, err := c.ExchangeContext(ctx, m, server)
	if err != nil {
		return nil, fmt.Errorf("%s %s @%s: %w", name, dns.TypeToString[qtype], server, err)
	}
	return r, nil
}

// EDE returns the Extended DNS Errors of a response.
func EDE(m *dns.Msg) []*dns.EDNS0_EDE {
	opt := m.IsEdns0()
	if opt == nil {
		return nil
	}
	var out []*dns.EDNS0_EDE
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_EDE); ok {
			out = append(out, e)
		}
	}
	return out
}

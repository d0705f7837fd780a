// Package testdns runs small in-process DNS servers (github.com/miekg/dns)
// on 127.0.0.1 for tests outside dnsprobe: a zone served authoritatively
// and, optionally, answered as a "resolver" would (RA set, AD when asked).
package testdns

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Server is a running in-process DNS server on UDP and TCP.
type Server struct {
	Addr string // 127.0.0.1:port, the same port for UDP and TCP

	mu      sync.Mutex
	records map[string][]dns.RR // "name type" -> RRs
	rcode   map[string]int      // name -> forced rcode
	auth    bool
	queries int
}

// Start serves zone text (master file format, $ORIGIN given by the RRs'
// owners) on 127.0.0.1:0. authoritative sets AA on answers; otherwise the
// server acts as a resolver (RA set).
func Start(t testing.TB, zone string, authoritative bool) *Server {
	t.Helper()
	s := &Server{records: map[string][]dns.RR{}, rcode: map[string]int{}, auth: authoritative}
	zp := dns.NewZoneParser(strings.NewReader(zone), "", "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		k := strings.ToLower(h.Name) + " " + dns.TypeToString[h.Rrtype]
		s.records[k] = append(s.records[k], rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("testdns: zone: %v", err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for range 20 { // the TCP port may be taken; try other UDP ports
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	if ln == nil {
		t.Fatalf("testdns: no port free for both UDP and TCP: %v", err)
	}
	s.Addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serve)
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	var wg sync.WaitGroup
	started := make(chan struct{}, 2)
	udp.NotifyStartedFunc = func() { started <- struct{}{} }
	tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	wg.Go(func() { _ = udp.ActivateAndServe() })
	wg.Go(func() { _ = tcp.ActivateAndServe() })
	for range 2 {
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("testdns: server did not start")
		}
	}
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
		wg.Wait()
	})
	return s
}

// SetRcode forces an rcode ("SERVFAIL", "REFUSED"; "" or "NOERROR"
// clears it) for every query about name.
func (s *Server) SetRcode(name, rcode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcode[dns.Fqdn(strings.ToLower(name))] = dns.StringToRcode[rcode]
}

// Queries returns how many queries the server has answered.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

func (s *Server) serve(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = s.auth
	m.RecursionAvailable = !s.auth
	if len(r.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	s.mu.Lock()
	s.queries++
	rc, forced := s.rcode[name]
	rrs := s.records[name+" "+dns.TypeToString[q.Qtype]]
	known := false
	for k := range s.records {
		if strings.HasPrefix(k, name+" ") {
			known = true
			break
		}
	}
	s.mu.Unlock()
	switch {
	case forced && rc != 0:
		m.Rcode = rc
	case len(rrs) > 0:
		for _, rr := range rrs {
			m.Answer = append(m.Answer, dns.Copy(rr))
		}
	case !known:
		m.Rcode = dns.RcodeNameError
	}
	if o := r.IsEdns0(); o != nil {
		m.SetEdns0(1232, o.Do())
	}
	_ = w.WriteMsg(m)
}

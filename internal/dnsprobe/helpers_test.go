package dnsprobe

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/internal/model"
)

// testServer is an in-process miekg/dns server on 127.0.0.1, UDP and TCP
// on the same port.
type testServer struct {
	Addr string
}

// startServer serves h over UDP and TCP on one 127.0.0.1 port.
func startServer(t testing.TB, h dns.HandlerFunc) *testServer {
	t.Helper()
	return startServerNets(t, h, true, true)
}

func startServerNets(t testing.TB, h dns.HandlerFunc, udp, tcp bool) *testServer {
	t.Helper()
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 20 { // the TCP port may be taken; bounded retries
		pc, ln, err = listenPair("127.0.0.1:0", tcp)
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("no free UDP+TCP port pair: %v", err)
	}
	return serveOn(t, h, pc, ln, udp)
}

// listenPair binds UDP and, if tcp, TCP on the same address.
func listenPair(addr string, tcp bool) (net.PacketConn, net.Listener, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, nil, err
	}
	if !tcp {
		return pc, nil, nil
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		return nil, nil, err
	}
	return pc, ln, nil
}

// serveOn serves h on pc (when udp; otherwise pc stays bound and silent)
// and on ln when not nil, until the test ends.
func serveOn(t testing.TB, h dns.HandlerFunc, pc net.PacketConn, ln net.Listener, udp bool) *testServer {
	t.Helper()
	addr := pc.LocalAddr().String()
	var servers []*dns.Server
	if udp {
		servers = append(servers, &dns.Server{PacketConn: pc, Handler: h})
	} else {
		t.Cleanup(func() { pc.Close() })
	}
	if ln != nil {
		servers = append(servers, &dns.Server{Listener: ln, Handler: h})
	}
	var wg sync.WaitGroup
	for _, s := range servers {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		wg.Go(func() { _ = s.ActivateAndServe() })
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("test DNS server did not start")
		}
	}
	t.Cleanup(func() {
		for _, s := range servers {
			_ = s.Shutdown()
		}
		wg.Wait()
	})
	return &testServer{Addr: addr}
}

// rawUDPServer answers every datagram with reply(query); nil sends nothing.
func rawUDPServer(t testing.TB, reply func(q []byte) [][]byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := append([]byte(nil), buf[:n]...)
			for _, r := range reply(q) {
				_, _ = pc.WriteTo(r, from)
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return pc.LocalAddr().String()
}

// closedPort returns a 127.0.0.1 UDP address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// zone is a tiny authoritative data set for test handlers.
type zone map[string][]dns.RR // key: "name TYPE" lower-case

func mustRRs(t testing.TB, lines ...string) zone {
	t.Helper()
	z := zone{}
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("bad RR %q: %v", l, err)
		}
		z.add(rr)
	}
	return z
}

func (z zone) add(rrs ...dns.RR) {
	for _, rr := range rrs {
		h := rr.Header()
		k := strings.ToLower(h.Name) + " " + dns.TypeToString[h.Rrtype]
		z[k] = append(z[k], rr)
	}
}

func (z zone) get(name string, t uint16) []dns.RR {
	return z[strings.ToLower(name)+" "+dns.TypeToString[t]]
}

// answerFrom answers from z: the records, or NXDOMAIN when the name has
// none of any type. Flags are set by the caller's mutate.
func answerFrom(z zone, mutate func(req, resp *dns.Msg)) dns.HandlerFunc {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetReply(req)
		q := req.Question[0]
		resp.Answer = append(resp.Answer, z.get(q.Name, q.Qtype)...)
		for _, rr := range z.get(q.Name, dns.TypeRRSIG) {
			if rr.(*dns.RRSIG).TypeCovered == q.Qtype && len(resp.Answer) > 0 {
				resp.Answer = append(resp.Answer, rr)
			}
		}
		if len(resp.Answer) == 0 {
			exists := false
			for k := range z {
				if strings.HasPrefix(k, strings.ToLower(q.Name)+" ") {
					exists = true
				}
			}
			if !exists {
				resp.Rcode = dns.RcodeNameError
			}
		}
		if o := req.IsEdns0(); o != nil {
			resp.SetEdns0(ednsBufSize, o.Do())
		}
		if mutate != nil {
			mutate(req, resp)
		}
		_ = w.WriteMsg(resp)
	}
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func resolverAt(addr string, tr model.Transport) model.Server {
	return model.Server{Name: "test-resolver", Kind: model.KindResolver, Addr: addr, Transport: tr}
}

func authAt(addr string, tr model.Transport) model.Server {
	return model.Server{Name: "ns.test", Kind: model.KindAuthoritative, Addr: addr, Transport: tr}
}

func mustAddrPort(t testing.TB, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// silentTCPServer accepts TCP connections and never answers.
func silentTCPServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

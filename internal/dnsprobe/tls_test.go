package dnsprobe

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/internal/model"
)

// testCA makes a private CA and a server certificate for dot.test and
// 127.0.0.1 signed by it.
func testCA(t *testing.T) (pool *x509.CertPool, leaf tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "reachmon test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "dot.test"},
		DNSNames:     []string{"dot.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// startDoT serves h over DNS-over-TLS on 127.0.0.1.
func startDoT(t *testing.T, cert tls.Certificate, h dns.HandlerFunc) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	s := &dns.Server{Listener: ln, Net: "tcp-tls", Handler: h}
	started := make(chan struct{})
	s.NotifyStartedFunc = func() { close(started) }
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.ActivateAndServe() })
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("DoT server did not start")
	}
	t.Cleanup(func() { _ = s.Shutdown(); wg.Wait() })
	return ln.Addr().String()
}

// dohHandler answers RFC 8484 POSTs with h's answer.
func dohHandler(t *testing.T, z zone) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/dns-message" {
			http.Error(w, "want POST application/dns-message", http.StatusUnsupportedMediaType)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 65536))
		if err != nil {
			return
		}
		req := new(dns.Msg)
		if err := req.Unpack(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if req.Id != 0 {
			http.Error(w, "RFC 8484: ID should be 0", http.StatusBadRequest)
			return
		}
		resp := new(dns.Msg)
		resp.SetReply(req)
		resp.RecursionAvailable = true
		resp.Answer = z.get(req.Question[0].Name, req.Question[0].Qtype)
		b, err := resp.Pack()
		if err != nil {
			t.Errorf("pack: %v", err)
			return
		}
		w.Header().Set("Content-Type", "application/dns-message")
		_, _ = w.Write(b)
	}
}

// quietTLSServer is httptest.NewTLSServer without handshake-error logging
// (the tests provoke those on purpose).
func quietTLSServer(t *testing.T, h http.Handler) *httptest.Server {
	s := httptest.NewUnstartedServer(h)
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func TestProbeTLS(t *testing.T) {
	t.Parallel()
	data := mustRRs(t, "www.example.test. 60 IN A 192.0.2.1")
	pool, cert := testCA(t)
	dot := startDoT(t, cert, answerFrom(data, nil))

	doh := quietTLSServer(t, dohHandler(t, data))
	dohPool := x509.NewCertPool()
	dohPool.AddCert(doh.Certificate())
	broken := quietTLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))

	trusting := New(Options{Timeout: 2 * time.Second, TLSConfig: &tls.Config{RootCAs: pool}})
	systemRoots := New(Options{Timeout: 2 * time.Second})
	dohTrusting := New(Options{Timeout: 2 * time.Second, TLSConfig: &tls.Config{RootCAs: dohPool}})
	dohClient := New(Options{Timeout: 2 * time.Second, HTTPClient: doh.Client()})

	srv := func(addr string, tr model.Transport, name string) model.Server {
		s := resolverAt(addr, tr)
		s.TLSServerName = name
		return s
	}
	tests := []struct {
		name string
		p    *Prober
		srv  model.Server
		want model.ErrorClass
	}{
		{"DoT verified by name", trusting, srv(dot, model.TransportDoT, "dot.test"), model.ErrNone},
		{"DoT verified by IP", trusting, srv(dot, model.TransportDoT, ""), model.ErrNone},
		{"DoT wrong name", trusting, srv(dot, model.TransportDoT, "other.test"), model.ErrTLS},
		{"DoT unknown CA", systemRoots, srv(dot, model.TransportDoT, "dot.test"), model.ErrTLS},
		{"DoT timeout", trusting, srv(silentTCPServer(t), model.TransportDoT, "dot.test"), model.ErrTimeout},
		{"DoT refused", trusting, srv(closedPort(t), model.TransportDoT, "dot.test"), model.ErrRefused},
		{"DoH with TLSConfig", dohTrusting, srv(doh.URL+"/dns-query", model.TransportDoH, ""), model.ErrNone},
		{"DoH with HTTPClient", dohClient, srv(doh.URL+"/dns-query", model.TransportDoH, ""), model.ErrNone},
		{"DoH TLSServerName", dohTrusting, srv(doh.URL+"/dns-query", model.TransportDoH, "example.com"), model.ErrNone},
		{"DoH wrong TLSServerName", dohTrusting, srv(doh.URL+"/dns-query", model.TransportDoH, "other.test"), model.ErrTLS},
		{"DoH unknown CA", systemRoots, srv(doh.URL+"/dns-query", model.TransportDoH, ""), model.ErrTLS},
		{"DoH 500", dohTrusting, srv(broken.URL+"/dns-query", model.TransportDoH, ""), model.ErrHTTP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.p.Probe(ctxTimeout(t, time.Second), Query{Server: tc.srv, Name: "www.example.test.", Type: "A"})
			if tc.want != model.ErrNone {
				wantErr(t, o, tc.want)
				return
			}
			wantOK(t, o, "NOERROR")
			if want := []string{"www.example.test. IN A 192.0.2.1"}; !slices.Equal(o.Answers, want) {
				t.Errorf("answers %q, want %q", o.Answers, want)
			}
		})
	}
}

// TestProbeNeverUsesSystemResolver replaces the system resolver by one
// that records every lookup, then probes DoH, DoT, TCP and UDP servers
// given by address (which must work, the TLS name going in SNI and the
// HTTP Host) and by name (which must fail, saying why, without a lookup).
// Not parallel: it swaps net.DefaultResolver.
func TestProbeNeverUsesSystemResolver(t *testing.T) {
	var lookups atomic.Int32
	saved := net.DefaultResolver
	net.DefaultResolver = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		lookups.Add(1)
		return nil, errors.New("the test's system resolver refuses every lookup")
	}}
	t.Cleanup(func() { net.DefaultResolver = saved })

	data := mustRRs(t, "www.example.test. 60 IN A 192.0.2.1")
	pool, cert := testCA(t)
	dot := startDoT(t, cert, answerFrom(data, nil))
	var mu sync.Mutex
	var host, sni string
	doh := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		host, sni = r.Host, r.TLS.ServerName
		mu.Unlock()
		dohHandler(t, data)(w, r)
	}))
	doh.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	doh.StartTLS()
	t.Cleanup(doh.Close)
	_, dohPort, _ := net.SplitHostPort(doh.Listener.Addr().String())
	udp := startServer(t, answerFrom(data, nil))

	p := New(Options{Timeout: 2 * time.Second, TLSConfig: &tls.Config{RootCAs: pool}})
	srv := func(addr string, tr model.Transport, name string) model.Server {
		s := resolverAt(addr, tr)
		s.TLSServerName = name
		return s
	}
	_, dotPort, _ := net.SplitHostPort(dot)
	for _, tc := range []struct {
		name string
		srv  model.Server
		ok   bool
	}{
		{"DoH by address, TLS name dot.test", srv("https://127.0.0.1:"+dohPort+"/dns-query", model.TransportDoH, "dot.test"), true},
		{"DoT by address, TLS name dot.test", srv(dot, model.TransportDoT, "dot.test"), true},
		{"UDP by address", srv(udp.Addr, model.TransportUDP, ""), true},
		{"DoH by name", srv("https://doh.example:"+dohPort+"/dns-query", model.TransportDoH, "dot.test"), false},
		{"DoT by name", srv("dot.example:"+dotPort, model.TransportDoT, "dot.test"), false},
		{"TCP by name", srv("ns.example:53", model.TransportTCP, ""), false},
		{"UDP by name", srv("ns.example", model.TransportUDP, ""), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := p.Probe(ctxTimeout(t, 2*time.Second), Query{Server: tc.srv, Name: "www.example.test.", Type: "A"})
			if tc.ok {
				wantOK(t, o, "NOERROR")
				return
			}
			wantErr(t, o, model.ErrNetwork)
			if !strings.Contains(o.ErrorDetail, "host names are not resolved") {
				t.Errorf("detail %q does not say that host names are not resolved", o.ErrorDetail)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if host != "dot.test" || sni != "dot.test" {
		t.Errorf("DoH request to the address: Host %q, SNI %q; want both dot.test (the TLS server name)", host, sni)
	}
	if n := lookups.Load(); n != 0 {
		t.Errorf("%d lookups through the system resolver; want none", n)
	}
}

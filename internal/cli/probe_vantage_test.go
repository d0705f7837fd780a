package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// portal is a TCP listener on 127.0.0.1 that plays an interceptor: each
// connection (after a TLS handshake with cfg, if set) gets an HTTP
// redirect to a captive portal instead of DNS, then is closed.
func portal(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		l = tls.NewListener(l, cfg)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for range 64 { // bounded: a probe opens a handful of connections
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 512)
				_, _ = c.Read(buf) // the query (or the handshake's end)
				_, _ = io.WriteString(c, "HTTP/1.1 302 Found\r\nLocation: http://portal.example/login\r\nContent-Length: 0\r\n\r\n")
			})
		}
	})
	return l.Addr().String()
}

// otherNameCert is a self-signed certificate for portal.example: what an
// interception proxy presents for every name.
func otherNameCert(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "portal.example"},
		DNSNames: []string{"portal.example"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// Every resolver answering non-DNS bytes on TCP/53 or presenting a
// certificate for another name on DoT: `reachmon probe` blames this
// vantage's network (an interceptor), not the name, and exits 1 with the
// failures listed.
func TestProbeInterceptedVantage(t *testing.T) {
	for _, tc := range []struct {
		transport string
		tls       *tls.Config
		class     model.ErrorClass
		want      string
	}{
		{"tcp", nil, model.ErrMalformed, "VERDICT vantage down: every resolver answers with bytes that are not DNS"},
		{"dot", otherNameCert(t), model.ErrTLS, "VERDICT vantage down: every resolver fails the TLS handshake"},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			a, b := portal(t, tc.tls), portal(t, tc.tls)
			args := []string{"probe", "www.lab.example", "--resolver", a, "--resolver", b, "--transport", tc.transport,
				"--type", "A", "--timeout", "2s"}
			code, out, errOut := runMain(args...)
			if code != ExitProblem {
				t.Errorf("exit %d, want %d\n%s\n%s", code, ExitProblem, out, errOut)
			}
			for _, w := range []string{tc.want, "this vantage's network", "problems (2):"} {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			code, out, _ = runMain(append(args, "--json")...)
			var rep ProbeReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("--json: %v\n%s", err, out)
			}
			if code != ExitProblem || rep.OK || len(rep.Names) != 1 {
				t.Fatalf("exit %d, report %+v", code, rep)
			}
			nr := rep.Names[0]
			for _, o := range nr.Observations {
				if o.Error != tc.class {
					t.Errorf("observation from %s: error %q (%s), want %q", o.Server.Name, o.Error, o.ErrorDetail, tc.class)
				}
			}
			if v := nr.Verdict; v.OK || v.Kind != model.IncidentVantageDown || !strings.Contains(v.RootCause, "reachmon's own network") {
				t.Errorf("verdict %+v", v)
			}
		})
	}
}

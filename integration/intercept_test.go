package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/lab"
	"github.com/reachmon/reachmon/integration/stack"
	"github.com/reachmon/reachmon/internal/model"
)

// interceptorName is the only name the interceptor's certificate holds,
// as an interception proxy presents one certificate for every server.
const interceptorName = "portal.example"

// TestProbeDoTInterception: both resolvers reachmon asks over DoT are a
// real Unbound (forwarding to the lab's validating resolver) whose
// certificate is for another name, signed by a CA the probe trusts. Asked
// for the certificate's own name, the probe answers well (the resolvers
// work); asked for the resolvers' expected name, every resolver fails the
// TLS handshake and `reachmon probe` says this vantage's network is
// intercepted, not that the name is down.
func TestProbeDoTInterception(t *testing.T) {
	bin, l, addrs := interceptorLab(t)
	good := l.Zones["good.test."]

	probe := func(tlsName string) (probeReport, int, []byte) {
		args := []string{"probe", "--json", "--transport", "dot", "--tls-name", tlsName, "--type", "A", "--timeout", "3s"}
		for _, a := range addrs {
			args = append(args, "--resolver", netip.AddrPortFrom(a, 853).String())
		}
		args = append(args, "www.good.test")
		out, code := runReachmon(t, bin, args...)
		var rep probeReport
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("reachmon %s: stdout is not JSON: %v\n%s", strings.Join(args, " "), err, out)
		}
		return rep, code, out
	}

	t.Run("certificate's own name", func(t *testing.T) {
		rep, code, out := probe(interceptorName)
		if code != 0 || !rep.OK || len(rep.Names) != 1 || !rep.Names[0].Verdict.OK {
			t.Fatalf("exit %d: want a good answer through the interceptor\n%s", code, out)
		}
		for _, o := range rep.Names[0].Observations {
			wantAddrIfA(t, o, good.WWW)
		}
	})

	t.Run("expected name", func(t *testing.T) {
		rep, code, out := probe("dns.resolver.test")
		if code != 1 || rep.OK || len(rep.Names) != 1 {
			t.Fatalf("exit %d ok %v: want exit 1 with the failures listed\n%s", code, rep.OK, out)
		}
		n := rep.Names[0]
		if len(n.Observations) != 2 {
			t.Fatalf("%d observations, want 2\n%s", len(n.Observations), out)
		}
		for _, o := range n.Observations {
			if o.Error != model.ErrTLS || !strings.Contains(o.ErrorDetail, "certificate") {
				t.Errorf("resolver %s: error %q (%s), want a TLS certificate failure", o.Server.Name, o.Error, o.ErrorDetail)
			}
		}
		if n.Verdict.OK || n.Verdict.Kind != model.IncidentVantageDown ||
			!strings.Contains(n.Verdict.Line, "every resolver fails the TLS handshake") || !strings.Contains(n.Verdict.Line, "this vantage's network") {
			t.Errorf("verdict %+v, want vantage down: every resolver fails the TLS handshake … this vantage's network", n.Verdict)
		}
		if len(rep.Problems) != 2 {
			t.Errorf("problems %q, want one per resolver", rep.Problems)
		}
	})
}

// interceptorLab builds reachmon, starts a DNS lab and an interceptor
// Unbound in front of its resolver on two addresses, and makes reachmon
// trust the interceptor's CA (Go reads SSL_CERT_FILE), as a managed
// machine trusts its proxy's.
func interceptorLab(t *testing.T) (bin string, l *lab.DNS, addrs []netip.Addr) {
	t.Helper()
	lab.Require(t, "unbound", "nsd", "ldns-keygen", "ldns-signzone")
	bin = filepath.Join(t.TempDir(), "reachmon")
	buildCtx, cancelBuild := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancelBuild()
	if err := buildReachmon(buildCtx, bin); err != nil {
		t.Fatal(err)
	}
	l = lab.StartDNS(t, lab.DNSOptions{})
	dir := t.TempDir()
	caFile := writeInterceptorCerts(t, dir)
	// Two addresses of the plan no lab server uses (resolvers 6 and 7).
	addrs = []netip.Addr{l.Plan.Resolver(6), l.Plan.Resolver(7)}
	startInterceptor(t, dir, addrs, l.ResolverAddrs[0], caFile)
	t.Setenv("SSL_CERT_FILE", caFile)
	return bin, l, addrs
}

// TestDaemonDoTInterception: the daemon's two DoT resolvers are behind an
// interception proxy (a certificate for another name) while the
// authoritative servers answer over UDP: one vantage_down incident naming
// the TLS failures and the interceptor, and no zone blamed.
func TestDaemonDoTInterception(t *testing.T) {
	bin, l, addrs := interceptorLab(t)
	good := l.Zones["good.test."]
	listen := stack.FreeAddr(t, "127.0.0.1")
	var b strings.Builder
	fmt.Fprintf(&b, "vantage = \"hotel\"\nlisten = %q\nstate_dir = %q\n", listen, filepath.Join(t.TempDir(), "state"))
	b.WriteString("[probe]\ninterval = \"1s\"\ntimeout = \"500ms\"\njitter = \"100ms\"\nds_check_interval = \"5s\"\n")
	for i, a := range addrs {
		fmt.Fprintf(&b, "[[resolver]]\nname = \"dot%d\"\naddress = %q\ntransport = \"dot\"\ntls_server_name = \"dns.resolver.test\"\n",
			i, netip.AddrPortFrom(a, 853).String())
	}
	var auth []string
	for _, ns := range good.NS {
		auth = append(auth, fmt.Sprintf("%q", ns.AddrPort()))
	}
	fmt.Fprintf(&b, "[[zone]]\nname = \"good.test\"\nnames = [\"www\"]\ntypes = [\"A\"]\nauthoritative = [%s]\n", strings.Join(auth, ", "))
	fmt.Fprintf(&b, "[[zone]]\nname = \"test\"\nauthoritative = [%q]\ndnssec = false\n", l.TLDAddr)
	b.WriteString("[evaluate]\nopen_rounds = 2\nresolve_rounds = 2\nopen_after = \"0s\"\nstart_grace = \"1s\"\ncontrol_zones = [\"test\"]\n")
	cfg := stack.WriteFile(t, "reachmon.toml", b.String())
	stack.StartProcess(t, "reachmon", bin, "run", "--config", cfg)

	type entry struct {
		Kind      model.IncidentKind `json:"kind"`
		Subject   string             `json:"subject"`
		RootCause string             `json:"root_cause"`
	}
	incidents := func() ([]entry, string) {
		body, err := httpGet("http://" + listen + "/api/v1/incidents")
		if err != nil {
			return nil, err.Error()
		}
		var v struct{ Open, Recent []entry }
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			return nil, err.Error()
		}
		return append(v.Open, v.Recent...), body
	}
	var vd entry
	waitUntil(t, 30*time.Second, "a vantage_down incident", func() (bool, string) {
		all, body := incidents()
		for _, e := range all {
			if e.Kind == model.IncidentVantageDown {
				vd = e
				return true, body
			}
		}
		return false, body
	})
	for _, want := range []string{"From vantage hotel every resolver fails the TLS handshake (tls: dot0, dot1)",
		"TLS interception proxy", "reachmon's own network"} {
		if !strings.Contains(vd.RootCause, want) {
			t.Errorf("vantage_down root cause lacks %q: %s", want, vd.RootCause)
		}
	}
	// Room for a wrong verdict to open: the zones fail at every resolver.
	time.Sleep(5 * time.Second)
	all, body := incidents()
	for _, e := range all {
		if e.Kind != model.IncidentVantageDown {
			t.Errorf("%s incident %s opened while the vantage is intercepted: %s", e.Kind, e.Subject, e.RootCause)
		}
	}
	if len(all) != 1 {
		t.Errorf("%d incidents, want the one vantage_down:\n%s", len(all), body)
	}
}

// writeInterceptorCerts writes a CA and a certificate for interceptorName
// signed by it (cert.pem, key.pem) into dir and returns the CA's file.
func writeInterceptorCerts(t *testing.T, dir string) string {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "reachmon test interception CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
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
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: interceptorName},
		DNSNames: []string{interceptorName}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("cert.pem", "CERTIFICATE", leafDER)
	write("key.pem", "EC PRIVATE KEY", keyDER)
	return write("ca.pem", "CERTIFICATE", caDER)
}

// startInterceptor runs an Unbound serving DoT on addrs:853 with the
// interceptor's certificate, forwarding every query to upstream (ip:53);
// it is stopped (by its pid) when the test ends.
func startInterceptor(t *testing.T, dir string, addrs []netip.Addr, upstream, caFile string) {
	t.Helper()
	up, err := netip.ParseAddrPort(upstream)
	if err != nil {
		t.Fatal(err)
	}
	var ifaces strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&ifaces, "\tinterface: %s@853\n", a)
	}
	conf := fmt.Sprintf(`server:
%s	interface-automatic: no
	tls-port: 853
	tls-service-key: %q
	tls-service-pem: %q
	access-control: 127.0.0.0/8 allow
	do-ip6: no
	num-threads: 1
	so-reuseport: no
	username: ""
	chroot: ""
	directory: %q
	pidfile: %q
	logfile: %q
	use-syslog: no
	do-not-query-localhost: no
	local-zone: "test." nodefault
	module-config: "iterator"
remote-control:
	control-enable: no
forward-zone:
	name: "."
	forward-addr: %s@%d
`, ifaces.String(), filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem"), dir,
		filepath.Join(dir, "unbound.pid"), filepath.Join(dir, "unbound.log"), up.Addr(), up.Port())
	confFile := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	bin, err := exec.LookPath("unbound")
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "unbound.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(bin, "-d", "-c", confFile)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) // its own process group, by pid
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("interceptor unbound (pid %d) did not exit", cmd.Process.Pid)
			}
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "unbound.log"))
			o, _ := os.ReadFile(filepath.Join(dir, "unbound.out"))
			t.Logf("interceptor unbound log:\n%s\n%s", log, o)
		}
	})
	// Ready once every address completes a TLS handshake.
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(caFile)
	if err != nil || !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("CA %s: %v", caFile, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, a := range addrs {
		for {
			d := &net.Dialer{Timeout: time.Second}
			c, err := tls.DialWithDialer(d, "tcp", netip.AddrPortFrom(a, 853).String(), &tls.Config{RootCAs: pool, ServerName: interceptorName})
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-done:
				t.Fatalf("interceptor unbound exited: %v", errors.Join(waitErr, errors.New("see unbound.log")))
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("interceptor unbound on %v:853 not ready: %v", a, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

package dnsprobe

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/internal/model"
)

func TestProbe(t *testing.T) {
	t.Parallel()
	data := mustRRs(t,
		"WWW.Example.TEST. 300 IN A 192.0.2.2",
		"www.example.test. 60 IN A 192.0.2.1",
		"www.example.test. 120 IN AAAA 2001:db8::1",
		"example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. 2024010203 7200 3600 1209600 300",
		"example.test. 3600 IN NS ns1.example.test.",
		"txt.example.test. 30 IN TXT \"hello world\" \"second\"",
	)
	// A signed answer: RRSIG over the A set with a lower TTL.
	data.add(&dns.RRSIG{Hdr: dns.RR_Header{Name: "www.example.test.", Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: 45},
		TypeCovered: dns.TypeA, Algorithm: dns.ECDSAP256SHA256, Labels: 3, OrigTtl: 60, Expiration: 2000000000, Inception: 1700000000,
		KeyTag: 4711, SignerName: "example.test.", Signature: "dGVzdA=="})

	// plain answers from data, recording what the last query looked like.
	var lastRD, lastCD, lastDO, lastNSID atomic.Bool
	var lastSize atomic.Uint32
	plain := startServer(t, answerFrom(data, func(req, resp *dns.Msg) {
		lastRD.Store(req.RecursionDesired)
		lastCD.Store(req.CheckingDisabled)
		if o := req.IsEdns0(); o != nil {
			lastDO.Store(o.Do())
			lastSize.Store(uint32(o.UDPSize()))
			nsid := false
			for _, e := range o.Option {
				if _, ok := e.(*dns.EDNS0_NSID); ok {
					nsid = true
				}
			}
			lastNSID.Store(nsid)
		}
		resp.RecursionAvailable = req.RecursionDesired
		resp.Authoritative = !req.RecursionDesired
	}))

	// Truncates over UDP, answers in full over TCP.
	truncating := func(req, resp *dns.Msg) {}
	truncSrv := startServer(t, func(w dns.ResponseWriter, req *dns.Msg) {
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			resp := new(dns.Msg)
			resp.SetReply(req)
			resp.Truncated = true
			_ = w.WriteMsg(resp)
			return
		}
		answerFrom(data, truncating)(w, req)
	})
	truncNoTCP := startServerNets(t, func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetReply(req)
		resp.Truncated = true
		_ = w.WriteMsg(resp)
	}, true, false)
	silent := startServerNets(t, nil, false, false)
	silentTCP := silentTCPServer(t)

	rcodeSrv := func(rc int) *testServer {
		return startServer(t, answerFrom(data, func(_, resp *dns.Msg) { resp.Rcode = rc; resp.Answer = nil }))
	}
	servfail, refused := rcodeSrv(dns.RcodeServerFailure), rcodeSrv(dns.RcodeRefused)

	edeSrv := startServer(t, answerFrom(data, func(_, resp *dns.Msg) {
		resp.Rcode = dns.RcodeServerFailure
		resp.Answer = nil
		o := resp.IsEdns0()
		o.Option = append(o.Option,
			&dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeDNSKEYMissing, ExtraText: "no SEP matching the DS found for example.test."},
			&dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeDNSBogus},
			&dns.EDNS0_EDE{InfoCode: 60000, ExtraText: "private"},
		)
	}))
	nsidSrv := func(id []byte) *testServer {
		return startServer(t, answerFrom(data, func(_, resp *dns.Msg) {
			o := resp.IsEdns0()
			o.Option = append(o.Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: hex.EncodeToString(id)})
		}))
	}
	nsidText, nsidBin := nsidSrv([]byte("unbound-1.lab")), nsidSrv([]byte{0x01, 0xff, 0x41})

	// SERVFAIL unless CD=1 (a bogus zone behind a validating resolver).
	bogus := startServer(t, answerFrom(data, func(req, resp *dns.Msg) {
		if !req.CheckingDisabled {
			resp.Rcode = dns.RcodeServerFailure
			resp.Answer = nil
			resp.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeDNSBogus}}
		}
	}))

	// Raw UDP servers for malformed replies.
	goodReply := func(q []byte) []byte {
		req := new(dns.Msg)
		if err := req.Unpack(q); err != nil {
			return nil
		}
		resp := new(dns.Msg)
		resp.SetReply(req)
		resp.Answer = data.get("www.example.test.", dns.TypeA)
		b, err := resp.Pack()
		if err != nil {
			t.Errorf("pack: %v", err)
		}
		return b
	}
	raw := func(f func(q []byte) [][]byte) string { return rawUDPServer(t, f) }
	garbage := raw(func([]byte) [][]byte { return [][]byte{[]byte("this is not DNS at all, not at all")} })
	short := raw(func(q []byte) [][]byte { return [][]byte{q[:5]} })
	cut := raw(func(q []byte) [][]byte { b := goodReply(q); return [][]byte{b[:len(b)-3]} })
	wrongID := raw(func(q []byte) [][]byte { b := goodReply(q); b[0] ^= 0xff; return [][]byte{b} })
	echo := raw(func(q []byte) [][]byte { return [][]byte{q} })
	otherQ := raw(func(q []byte) [][]byte {
		req := new(dns.Msg)
		_ = req.Unpack(q)
		req.Question[0].Name = "evil.test."
		resp := new(dns.Msg)
		resp.SetReply(req)
		b, _ := resp.Pack()
		return [][]byte{b}
	})
	// A spoofed garbage datagram first, then the real answer: the real
	// answer must win (RFC 5452).
	spoofThenGood := raw(func(q []byte) [][]byte { return [][]byte{[]byte{1, 2, 3}, goodReply(q)} })
	// A datagram larger than reachmon reads (4 KiB; the query advertises
	// 1,232 bytes): a valid answer with 5,000 bytes of padding after it.
	padded := func(q []byte) []byte { return append(goodReply(q), make([]byte, 5000)...) }
	oversize := raw(func(q []byte) [][]byte { return [][]byte{padded(q)} })
	oversizeThenGood := raw(func(q []byte) [][]byte { return [][]byte{padded(q), goodReply(q)} })

	a := func(addr string, tr model.Transport) Query {
		return Query{Target: "example.test.", Server: resolverAt(addr, tr), Name: "www.example.test.", Type: "A"}
	}
	validating := func(q Query) Query { q.Server.Validating = true; return q }
	wantAnswers := []string{"www.example.test. IN A 192.0.2.1", "www.example.test. IN A 192.0.2.2"}

	tests := []struct {
		name    string
		q       Query
		timeout time.Duration
		check   func(t *testing.T, o model.Observation)
	}{
		{name: "udp resolver", q: a(plain.Addr, model.TransportUDP), check: func(t *testing.T, o model.Observation) {
			wantOK(t, o, "NOERROR")
			if !slices.Equal(o.Answers, wantAnswers) {
				t.Errorf("answers %q, want %q", o.Answers, wantAnswers)
			}
			if !o.Signed || o.MinTTL != 45 || !o.RA || o.AA || o.TCPFallback || o.Target != "example.test." {
				t.Errorf("signed %v minTTL %d RA %v AA %v tcp %v target %q", o.Signed, o.MinTTL, o.RA, o.AA, o.TCPFallback, o.Target)
			}
			if !lastRD.Load() || lastCD.Load() || !lastDO.Load() || !lastNSID.Load() || lastSize.Load() != 1232 {
				t.Errorf("query RD %v CD %v DO %v NSID %v size %d, want RD DO NSID 1232",
					lastRD.Load(), lastCD.Load(), lastDO.Load(), lastNSID.Load(), lastSize.Load())
			}
			if o.Latency <= 0 || o.Time.IsZero() {
				t.Errorf("latency %v time %v", o.Latency, o.Time)
			}
		}},
		{name: "tcp resolver", q: a(plain.Addr, model.TransportTCP), check: func(t *testing.T, o model.Observation) {
			wantOK(t, o, "NOERROR")
			if !slices.Equal(o.Answers, wantAnswers) || o.TCPFallback {
				t.Errorf("answers %q fallback %v", o.Answers, o.TCPFallback)
			}
		}},
		{name: "authoritative SOA serial and RD=0",
			q: Query{Server: authAt(plain.Addr, model.TransportUDP), Name: "example.test.", Type: "SOA"},
			check: func(t *testing.T, o model.Observation) {
				wantOK(t, o, "NOERROR")
				if lastRD.Load() {
					t.Error("authoritative query sent with RD=1")
				}
				if o.SOASerial == nil || *o.SOASerial != 2024010203 || !o.AA {
					t.Errorf("serial %v AA %v", o.SOASerial, o.AA)
				}
				want := []string{"example.test. IN SOA ns1.example.test. hostmaster.example.test. 2024010203 7200 3600 1209600 300"}
				if !slices.Equal(o.Answers, want) || o.MinTTL != 3600 {
					t.Errorf("answers %q minTTL %d", o.Answers, o.MinTTL)
				}
			}},
		{name: "resolver SOA has no serial",
			q: Query{Server: resolverAt(plain.Addr, model.TransportUDP), Name: "example.test.", Type: "SOA"},
			check: func(t *testing.T, o model.Observation) {
				wantOK(t, o, "NOERROR")
				if o.SOASerial != nil {
					t.Errorf("serial %d from a resolver", *o.SOASerial)
				}
			}},
		{name: "TXT normalisation keeps rdata",
			q: Query{Server: resolverAt(plain.Addr, model.TransportUDP), Name: "txt.example.test.", Type: "txt"},
			check: func(t *testing.T, o model.Observation) {
				wantOK(t, o, "NOERROR")
				want := []string{`txt.example.test. IN TXT "hello world" "second"`}
				if !slices.Equal(o.Answers, want) || o.Signed {
					t.Errorf("answers %q signed %v", o.Answers, o.Signed)
				}
			}},
		{name: "truncated UDP falls back to TCP", q: a(truncSrv.Addr, model.TransportUDP), check: func(t *testing.T, o model.Observation) {
			wantOK(t, o, "NOERROR")
			if !o.TCPFallback || o.TC || !slices.Equal(o.Answers, wantAnswers) {
				t.Errorf("fallback %v TC %v answers %q", o.TCPFallback, o.TC, o.Answers)
			}
		}},
		{name: "truncated UDP with TCP down", q: a(truncNoTCP.Addr, model.TransportUDP), check: func(t *testing.T, o model.Observation) {
			wantErr(t, o, model.ErrTruncated)
			if !o.TCPFallback || !o.TC || o.Rcode != "NOERROR" || len(o.Answers) != 0 {
				t.Errorf("fallback %v TC %v rcode %q answers %q", o.TCPFallback, o.TC, o.Rcode, o.Answers)
			}
		}},
		{name: "timeout", q: a(silent.Addr, model.TransportUDP), timeout: 200 * time.Millisecond, check: func(t *testing.T, o model.Observation) {
			wantErr(t, o, model.ErrTimeout)
			if o.Latency < 150*time.Millisecond || o.Latency > 3*time.Second {
				t.Errorf("latency %v, want about the 200ms deadline", o.Latency)
			}
		}},
		{name: "timeout tcp", q: a(silentTCP, model.TransportTCP), timeout: 200 * time.Millisecond, check: func(t *testing.T, o model.Observation) {
			wantErr(t, o, model.ErrTimeout)
		}},
		{name: "empty address", q: a("", model.TransportUDP), check: func(t *testing.T, o model.Observation) {
			wantErr(t, o, model.ErrNetwork)
		}},
		{name: "label too long", q: Query{Server: resolverAt(plain.Addr, model.TransportUDP), Name: strings.Repeat("a", 64) + ".test.", Type: "A"},
			check: func(t *testing.T, o model.Observation) { wantErr(t, o, model.ErrMalformed) }},
		{name: "name without trailing dot", q: Query{Server: resolverAt(plain.Addr, model.TransportTCP), Name: "www.example.test", Type: "A"},
			check: func(t *testing.T, o model.Observation) {
				wantOK(t, o, "NOERROR")
				if len(o.Answers) != 2 {
					t.Errorf("answers %q", o.Answers)
				}
			}},
		{name: "refused udp", q: a(closedPort(t), model.TransportUDP), check: func(t *testing.T, o model.Observation) {
			wantErr(t, o, model.ErrRefused)
		}},
		{name: "refused tcp", q: a(closedPort(t), model.TransportTCP), check: func(t *testing.T, o model.Observation) {
			wantErr(t, o, model.ErrRefused)
		}},
		{name: "rcode SERVFAIL", q: a(servfail.Addr, model.TransportUDP), check: func(t *testing.T, o model.Observation) {
			wantOK(t, o, "SERVFAIL")
			if o.CDRetry != nil {
				t.Error("CD retry for a non-validating resolver")
			}
		}},
		{name: "rcode REFUSED", q: a(refused.Addr, model.TransportUDP), check: func(t *testing.T, o model.Observation) {
			wantOK(t, o, "REFUSED")
		}},
		{name: "rcode NXDOMAIN", q: Query{Server: resolverAt(plain.Addr, model.TransportUDP), Name: "nope.example.test.", Type: "A"},
			check: func(t *testing.T, o model.Observation) {
				wantOK(t, o, "NXDOMAIN")
				if len(o.Answers) != 0 {
					t.Errorf("answers %q", o.Answers)
				}
			}},
		{name: "EDE", q: a(edeSrv.Addr, model.TransportUDP), check: func(t *testing.T, o model.Observation) {
			wantOK(t, o, "SERVFAIL")
			want := []model.EDE{
				{Code: 9, Name: "DNSKEY Missing", Text: "no SEP matching the DS found for example.test."},
				{Code: 6, Name: "DNSSEC Bogus"},
				{Code: 60000, Name: "Private Use", Text: "private"},
			}
			if !slices.Equal(o.EDE, want) {
				t.Errorf("EDE %+v, want %+v", o.EDE, want)
			}
		}},
		{name: "NSID text", q: a(nsidText.Addr, model.TransportUDP), check: func(t *testing.T, o model.Observation) {
			if o.NSID != "unbound-1.lab" {
				t.Errorf("NSID %q", o.NSID)
			}
		}},
		{name: "NSID binary as hex", q: a(nsidBin.Addr, model.TransportUDP), check: func(t *testing.T, o model.Observation) {
			if o.NSID != "01ff41" {
				t.Errorf("NSID %q", o.NSID)
			}
		}},
		{name: "CD retry succeeds", q: validating(a(bogus.Addr, model.TransportUDP)), check: func(t *testing.T, o model.Observation) {
			wantOK(t, o, "SERVFAIL")
			r := o.CDRetry
			if r == nil || !r.Succeeded || r.Rcode != "NOERROR" || r.Answers != 2 || r.Error != model.ErrNone || r.Latency <= 0 {
				t.Errorf("CD retry %+v", r)
			}
			if len(o.EDE) != 1 || o.EDE[0].Code != 6 {
				t.Errorf("EDE %+v", o.EDE)
			}
		}},
		{name: "CD retry also SERVFAIL", q: validating(a(servfail.Addr, model.TransportTCP)), check: func(t *testing.T, o model.Observation) {
			if r := o.CDRetry; r == nil || r.Succeeded || r.Rcode != "SERVFAIL" {
				t.Errorf("CD retry %+v", r)
			}
		}},
		{name: "no CD retry on NOERROR", q: validating(a(plain.Addr, model.TransportUDP)), check: func(t *testing.T, o model.Observation) {
			if o.CDRetry != nil {
				t.Errorf("CD retry %+v", o.CDRetry)
			}
		}},
		{name: "garbage", q: a(garbage, model.TransportUDP), timeout: 300 * time.Millisecond, check: func(t *testing.T, o model.Observation) {
			wantErr(t, o, model.ErrMalformed)
		}},
		{name: "shorter than header", q: a(short, model.TransportUDP), timeout: 300 * time.Millisecond, check: func(t *testing.T, o model.Observation) {
			wantErr(t, o, model.ErrMalformed)
		}},
		{name: "cut in the middle of a record", q: a(cut, model.TransportUDP), timeout: 300 * time.Millisecond, check: func(t *testing.T, o model.Observation) {
			wantErr(t, o, model.ErrMalformed)
		}},
		{name: "wrong ID", q: a(wrongID, model.TransportUDP), timeout: 300 * time.Millisecond, check: func(t *testing.T, o model.Observation) {
			wantErr(t, o, model.ErrMalformed)
		}},
		{name: "query echoed back", q: a(echo, model.TransportUDP), timeout: 300 * time.Millisecond, check: func(t *testing.T, o model.Observation) {
			wantErr(t, o, model.ErrMalformed)
		}},
		{name: "answer for another question", q: a(otherQ, model.TransportUDP), timeout: 300 * time.Millisecond, check: func(t *testing.T, o model.Observation) {
			wantErr(t, o, model.ErrMalformed)
		}},
		{name: "spoofed datagram then real answer", q: a(spoofThenGood, model.TransportUDP), timeout: 2 * time.Second, check: func(t *testing.T, o model.Observation) {
			wantOK(t, o, "NOERROR")
			if len(o.Answers) != 2 {
				t.Errorf("answers %q", o.Answers)
			}
		}},
		{name: "UDP answer larger than the read buffer", q: a(oversize, model.TransportUDP), timeout: 300 * time.Millisecond, check: func(t *testing.T, o model.Observation) {
			wantErr(t, o, model.ErrMalformed)
			if !strings.Contains(o.ErrorDetail, "larger than 4096 bytes") {
				t.Errorf("detail %q does not name the size", o.ErrorDetail)
			}
		}},
		{name: "oversized datagram then real answer", q: a(oversizeThenGood, model.TransportUDP), timeout: 2 * time.Second, check: func(t *testing.T, o model.Observation) {
			wantOK(t, o, "NOERROR")
		}},
		{name: "unknown type", q: Query{Server: resolverAt(plain.Addr, model.TransportUDP), Name: "www.example.test.", Type: "BOGUS"},
			check: func(t *testing.T, o model.Observation) { wantErr(t, o, model.ErrMalformed) }},
		{name: "numeric type", q: Query{Server: resolverAt(plain.Addr, model.TransportUDP), Name: "www.example.test.", Type: "TYPE1"},
			check: func(t *testing.T, o model.Observation) {
				wantOK(t, o, "NOERROR")
				if len(o.Answers) != 2 {
					t.Errorf("answers %q", o.Answers)
				}
			}},
	}
	p := New(Options{Timeout: 2 * time.Second})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.timeout > 0 {
				ctx = ctxTimeout(t, tc.timeout)
			}
			o := p.Probe(ctx, tc.q)
			if o.Name != tc.q.Name || o.Type != tc.q.Type || o.Server != tc.q.Server {
				t.Errorf("observation names %q %q %+v", o.Name, o.Type, o.Server)
			}
			tc.check(t, o)
		})
	}
}

func TestProbeCanceled(t *testing.T) {
	t.Parallel()
	silent := startServerNets(t, nil, false, false)
	silentTCP := silentTCPServer(t)
	p := New(Options{Timeout: 10 * time.Second})
	for _, tr := range []model.Transport{model.TransportUDP, model.TransportTCP} {
		t.Run(string(tr), func(t *testing.T) {
			addr := silent.Addr
			if tr == model.TransportTCP {
				addr = silentTCP
			}
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			start := time.Now()
			o := p.Probe(ctx, Query{Server: resolverAt(addr, tr), Name: "x.test.", Type: "A"})
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("probe took %v after cancel", el)
			}
			wantErr(t, o, model.ErrTimeout)
		})
	}
}

func TestProbeOptionsTimeout(t *testing.T) {
	t.Parallel()
	silent := startServerNets(t, nil, false, false)
	p := New(Options{Timeout: 150 * time.Millisecond})
	start := time.Now()
	// No deadline on the context: Options.Timeout bounds the I/O.
	o := p.Probe(context.Background(), Query{Server: resolverAt(silent.Addr, model.TransportUDP), Name: "x.test.", Type: "A"})
	wantErr(t, o, model.ErrTimeout)
	if el := time.Since(start); el < 100*time.Millisecond || el > 3*time.Second {
		t.Errorf("probe took %v, want about 150ms", el)
	}
}

func wantOK(t *testing.T, o model.Observation, rcode string) {
	t.Helper()
	if o.Error != model.ErrNone || o.Rcode != rcode {
		t.Fatalf("rcode %q error %q (%s), want %s and no error", o.Rcode, o.Error, o.ErrorDetail, rcode)
	}
}

func wantErr(t *testing.T, o model.Observation, class model.ErrorClass) {
	t.Helper()
	if o.Error != class {
		t.Fatalf("error %q (%s), want %q", o.Error, o.ErrorDetail, class)
	}
	if o.ErrorDetail == "" {
		t.Error("empty ErrorDetail")
	}
	if o.Answered() {
		t.Error("Answered() true for a failed probe")
	}
	t.Logf("detail: %s", o.ErrorDetail)
}

// TestProbeConcurrent runs many probes at once from one Prober over every
// plain transport (run with -race).
func TestProbeConcurrent(t *testing.T) {
	t.Parallel()
	data := mustRRs(t, "www.example.test. 60 IN A 192.0.2.1")
	srv := startServer(t, answerFrom(data, nil))
	p := New(Options{Timeout: 2 * time.Second})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for g := range 8 {
		tr := []model.Transport{model.TransportUDP, model.TransportTCP}[g%2]
		wg.Go(func() {
			for range 50 {
				o := p.Probe(ctxTimeout(t, 2*time.Second), Query{Server: resolverAt(srv.Addr, tr), Name: "www.example.test.", Type: "A"})
				if o.Error != model.ErrNone || len(o.Answers) != 1 {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of 400 concurrent probes failed", n)
	}
}

// TestProbeLogs checks the debug log: constant message, snake_case keys.
func TestProbeLogs(t *testing.T) {
	t.Parallel()
	var buf safeBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := New(Options{Timeout: time.Second, Logger: log})
	o := p.Probe(context.Background(), Query{Server: resolverAt(closedPort(t), model.TransportUDP), Name: "www.example.test.", Type: "A"})
	wantErr(t, o, model.ErrRefused)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log %q: %v", buf.String(), err)
	}
	if rec["msg"] != "dns probe" || rec["level"] != "DEBUG" || rec["error"] != "refused" || rec["server_addr"] == nil {
		t.Errorf("log record %v", rec)
	}
	for k := range rec {
		if k != strings.ToLower(k) || strings.ContainsAny(k, "- ") {
			t.Errorf("key %q is not snake_case", k)
		}
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func (s *safeBuffer) String() string { return string(s.Bytes()) }

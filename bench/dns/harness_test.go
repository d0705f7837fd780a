package benchdns

import (
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/bench/benchutil"
	"github.com/reachmon/reachmon/internal/dnsprobe"
	"github.com/reachmon/reachmon/internal/model"
)

// TestBareQueryMatchesProber keeps the comparison honest: the bare loop's
// query must be the prober's, byte for byte but the ID. The prober's query
// is captured by a UDP socket that never answers.
func TestBareQueryMatchesProber(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	done := make(chan model.Observation, 1)
	p := dnsprobe.New(dnsprobe.Options{Timeout: 2 * time.Second})
	go func() { done <- p.Probe(ctx, benchProbeQuery(pc.LocalAddr().String())) }()

	buf := make([]byte, 4096)
	_ = pc.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	cancel()
	<-done
	if err != nil {
		t.Fatalf("no query from the prober: %v", err)
	}
	got := buf[:n]

	m := bareQuery()
	m.Id = uint16(got[0])<<8 | uint16(got[1])
	want, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the bare query differs from the prober's; update bareQuery:\nprober %s\nbare   %s",
			hex.EncodeToString(got), hex.EncodeToString(want))
	}
}

// TestNSDAnswers checks the benchmark's server and both clients once: what
// the benchmarks measure is a real, complete answer.
func TestNSDAnswers(t *testing.T) {
	srv := benchServer(t)

	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	m := bareQuery()
	r, _, err := c.Exchange(m, srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	packed, _ := r.Pack()
	t.Logf("NSD answer: %d bytes, %d answers, %d authority, %d additional", len(packed), len(r.Answer), len(r.Ns), len(r.Extra))
	if !r.Authoritative || len(r.Answer) != wantAnswers {
		t.Errorf("bare: aa=%t answers=%v", r.Authoritative, r.Answer)
	}

	p := dnsprobe.New(dnsprobe.Options{Timeout: 2 * time.Second})
	o := p.Probe(context.Background(), benchProbeQuery(srv.Addr))
	wantRRs := []string{"www.bench.test. IN A 192.0.2.1", "www.bench.test. IN A 192.0.2.2"}
	if o.Error != model.ErrNone || o.Rcode != "NOERROR" || !o.AA || !slices.Equal(o.Answers, wantRRs) || o.NSID != benchNSID {
		t.Errorf("probe: error=%q %q rcode=%s aa=%t nsid=%q answers=%q; want NOERROR, AA, nsid %q, %q",
			o.Error, o.ErrorDetail, o.Rcode, o.AA, o.NSID, o.Answers, benchNSID, wantRRs)
	}

	if cpu := srv.cpu(); cpu < 0 {
		t.Errorf("NSD CPU time %v", cpu)
	}
	if ps := benchutil.GroupMembers(srv.cmd.Process.Pid); len(ps) < 2 {
		t.Errorf("NSD process group has %d live processes, want the main one and its children", len(ps))
	}
}

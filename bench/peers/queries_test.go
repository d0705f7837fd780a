package benchpeers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/bench/benchutil"
)

// queryShapes captures the query each tool sends for a resolver check
// (reachmon probe and blackbox_exporter, each aimed at a UDP socket that
// never answers), then asks every check of the set with each tool's query
// (RD set per the check's kind) and prints the average answer size: the
// two tools do not ask the same question on the wire.
func queryShapes(b *testing.B, bl *benchLab) {
	b.Helper()
	dir := workDir.Path(b)
	rm, err := captureQuery(func(addr string) (func(), error) {
		p, err := startProc(dir, "reachmon-probe", reachmonBinary(b), "probe", "www.z00.test.", "--resolver", addr, "--type", "A", "--timeout", "2s")
		if err != nil {
			return nil, err
		}
		return func() { _ = p.Stop() }, nil
	})
	if err != nil {
		b.Fatalf("capturing reachmon's query: %v", err)
	}
	bb, err := captureQuery(func(addr string) (func(), error) {
		conf := filepath.Join(dir, "blackbox-capture.yml")
		mod := "modules:\n  q:\n    prober: dns\n    timeout: 2s\n    dns:\n      query_name: www.z00.test.\n      query_type: A\n      preferred_ip_protocol: ip4\n      ip_protocol_fallback: false\n"
		if err := os.WriteFile(conf, []byte(mod), 0o644); err != nil {
			return nil, err
		}
		listen := fmt.Sprintf("127.0.0.1:%d", benchutil.FreePort(b))
		p, err := startProc(dir, "blackbox-capture", blackboxBinary(b), "--config.file="+conf, "--web.listen-address="+listen)
		if err != nil {
			return nil, err
		}
		waitHTTP(b, p, "http://"+listen+"/metrics")
		go func() {
			c := &http.Client{Timeout: 5 * time.Second}
			if resp, err := c.Get("http://" + listen + "/probe?module=q&target=" + url.QueryEscape(addr)); err == nil {
				resp.Body.Close()
			}
		}()
		return func() { _ = p.Stop() }, nil
	})
	if err != nil {
		b.Fatalf("capturing blackbox_exporter's query: %v", err)
	}
	rmSize, rmN := answerSizes(bl, rm)
	bbSize, bbN := answerSizes(bl, bb)
	fmt.Printf("# query reachmon: %d bytes, %s; answers average %.0f bytes (%d checks)\n", len(rm), describe(rm), rmSize, rmN)
	fmt.Printf("# query blackbox: %d bytes, %s; answers average %.0f bytes (%d checks)\n", len(bb), describe(bb), bbSize, bbN)
}

// captureQuery calls trigger with a UDP address that never answers,
// returns the first datagram sent there and calls the stop function
// trigger returned.
func captureQuery(trigger func(addr string) (stop func(), err error)) ([]byte, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	stop, err := trigger(pc.LocalAddr().String())
	if err != nil {
		return nil, err
	}
	defer stop()
	buf := make([]byte, 4096)
	_ = pc.SetReadDeadline(time.Now().Add(15 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		return nil, fmt.Errorf("no query within 15 s: %w", err)
	}
	return buf[:n], nil
}

// describe names a query's flags and EDNS0 options.
func describe(q []byte) string {
	m := new(dns.Msg)
	if err := m.Unpack(q); err != nil {
		return "unparsable: " + err.Error()
	}
	var f []string
	if m.RecursionDesired {
		f = append(f, "RD")
	}
	if m.AuthenticatedData {
		f = append(f, "AD")
	}
	if m.CheckingDisabled {
		f = append(f, "CD")
	}
	s := "flags " + strings.Join(f, " ")
	opt := m.IsEdns0()
	if opt == nil {
		return s + ", no EDNS0"
	}
	s += fmt.Sprintf(", EDNS0 %d", opt.UDPSize())
	if opt.Do() {
		s += " DO"
	}
	for _, o := range opt.Option {
		switch o.Option() {
		case dns.EDNS0NSID:
			s += " NSID"
		default:
			s += fmt.Sprintf(" option %d", o.Option())
		}
	}
	return s
}

// answerSizes sends query q (its ID, question and RD changed) for every
// check to the check's server and returns the average answer size.
func answerSizes(bl *benchLab, q []byte) (float64, int) {
	tmpl := new(dns.Msg)
	if err := tmpl.Unpack(q); err != nil {
		return 0, 0
	}
	var (
		mu           sync.Mutex
		total, count int
		wg           sync.WaitGroup
		next         = make(chan check)
	)
	for range 8 {
		wg.Go(func() {
			for c := range next {
				m := tmpl.Copy()
				m.Id = uint16(rand.Uint32())
				m.Question = []dns.Question{{Name: c.name, Qtype: qtype(c.qtype), Qclass: dns.ClassINET}}
				m.RecursionDesired = c.rd()
				wire, err := m.Pack()
				if err != nil {
					continue
				}
				n := exchangeSize(c.server, wire)
				if n > 0 {
					mu.Lock()
					total += n
					count++
					mu.Unlock()
				}
			}
		})
	}
	for _, c := range bl.set.checks {
		next <- c
	}
	close(next)
	wg.Wait()
	if count == 0 {
		return 0, 0
	}
	return float64(total) / float64(count), count
}

// exchangeSize sends one datagram and returns the answer's size (0 on
// error).
func exchangeSize(server string, wire []byte) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", server)
	if err != nil {
		return 0
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write(wire); err != nil {
		return 0
	}
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	if err != nil {
		return 0
	}
	return n
}

package dnsprobe

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/miekg/dns"
)

// TestPackQuery: the hand-packed query is byte-identical to what miekg/dns
// packs for the same message (EDNS0 1232, DO, empty NSID option).
func TestPackQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		rq     request
		wantOK bool
	}{
		{"resolver A", request{name: "www.example.test.", qtype: dns.TypeA, rd: true}, true},
		{"authoritative SOA", request{name: "Example.TEST.", qtype: dns.TypeSOA}, true},
		{"CD retry", request{name: "www.example.test.", qtype: dns.TypeAAAA, rd: true, cd: true}, true},
		{"root DNSKEY", request{name: ".", qtype: dns.TypeDNSKEY}, true},
		{"escaped label", request{name: `a\.b.example.test.`, qtype: dns.TypeTXT, rd: true}, true},
		{"label too long", request{name: string(bytes.Repeat([]byte("a"), 64)) + ".test.", qtype: dns.TypeA}, false},
		{"empty label", request{name: "a..test.", qtype: dns.TypeA}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := make([]byte, maxQuerySize)
			n, err := packQuery(buf, 0xbeef, tc.rq)
			if !tc.wantOK {
				if err == nil {
					t.Fatalf("packed %x, want an error", buf[:n])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := new(dns.Msg)
			m.SetQuestion(tc.rq.name, tc.rq.qtype)
			m.Id = 0xbeef
			m.RecursionDesired = tc.rq.rd
			m.CheckingDisabled = tc.rq.cd
			m.SetEdns0(ednsBufSize, true)
			m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_NSID{Code: dns.EDNS0NSID}}
			want, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf[:n], want) {
				t.Errorf("packed\n%s\nwant\n%s", hex.EncodeToString(buf[:n]), hex.EncodeToString(want))
			}
		})
	}
}

func TestParentOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"www.example.test.":  "example.test.",
		"test.":              ".",
		".":                  ".",
		`a\.b.example.test.`: "example.test.",
	} {
		if got := parentOf(in); got != want {
			t.Errorf("parentOf(%q) = %q, want %q", in, got, want)
		}
	}
}

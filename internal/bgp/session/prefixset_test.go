package session

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
)

// TestPrefixSetMatchesMap checks the compact set against a map over
// random adds and removes of IPv4 and IPv6 prefixes of every length,
// host routes and the default routes included.
func TestPrefixSetMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s := newPrefixSet()
	ref := map[netip.Prefix]bool{}
	pick := func() netip.Prefix {
		if r.IntN(2) == 0 {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], r.Uint32()&0xff0000ff) // few addresses: collisions across lengths
			return netip.PrefixFrom(netip.AddrFrom4(b), r.IntN(33)).Masked()
		}
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], r.Uint64()&0xff000000000000ff)
		binary.BigEndian.PutUint64(b[8:], r.Uint64()&0xff)
		return netip.PrefixFrom(netip.AddrFrom16(b), r.IntN(129)).Masked()
	}
	for i := range 200000 {
		p := pick()
		if r.IntN(3) == 0 {
			if got, want := s.remove(p), ref[p]; got != want {
				t.Fatalf("step %d: remove(%s) = %v, want %v", i, p, got, want)
			}
			delete(ref, p)
		} else {
			if got, want := s.add(p), !ref[p]; got != want {
				t.Fatalf("step %d: add(%s) = %v, want %v", i, p, got, want)
			}
			ref[p] = true
		}
	}
	n4, n6 := 0, 0
	for p := range ref {
		if !s.has(p) {
			t.Fatalf("%s missing", p)
		}
		if p.Addr().Is4() {
			n4++
		} else {
			n6++
		}
	}
	if s.len4() != n4 || s.len6() != n6 {
		t.Fatalf("len4 %d len6 %d, want %d %d", s.len4(), s.len6(), n4, n6)
	}
	for p := range ref {
		if !s.remove(p) {
			t.Fatalf("remove(%s) false", p)
		}
	}
	if s.len4() != 0 || s.len6() != 0 {
		t.Fatalf("not empty after removing all: %d %d", s.len4(), s.len6())
	}
}

// fullTable is a synthetic table of n distinct prefixes: 90% IPv4 (/16
// to /24, as the DFZ), 10% IPv6 (/32 to /48).
func fullTable(n int) []netip.Prefix {
	r := rand.New(rand.NewPCG(7, 7))
	seen := map[netip.Prefix]bool{}
	out := make([]netip.Prefix, 0, n)
	for len(out) < n {
		var p netip.Prefix
		if len(out)%10 != 9 {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], r.Uint32())
			p = netip.PrefixFrom(netip.AddrFrom4(b), 16+r.IntN(9)).Masked()
		} else {
			var b [16]byte
			binary.BigEndian.PutUint64(b[:8], 0x2000_0000_0000_0000|r.Uint64()>>4)
			p = netip.PrefixFrom(netip.AddrFrom16(b), 32+r.IntN(17)).Masked()
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// BenchmarkPrefixSetFullTable measures the set's memory holding 1.1 M
// prefixes (990 k IPv4, 110 k IPv6): the heap it keeps, reported as
// MiB/set.
func BenchmarkPrefixSetFullTable(b *testing.B) {
	table := fullTable(1_100_000)
	var s *prefixSet
	var before, after runtime.MemStats
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		s = newPrefixSet()
		for _, p := range table {
			s.add(p)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	if s.len4()+s.len6() != len(table) {
		b.Fatalf("set holds %d, want %d", s.len4()+s.len6(), len(table))
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB/set")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(table)), "B/prefix")
	runtime.KeepAlive(s)
}

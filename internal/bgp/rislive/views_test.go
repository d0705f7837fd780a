package rislive

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/bgp/rislive/rislivetest"
)

// replay sends RIS Live UPDATEs through the local server and the client
// and applies what arrives to v, as the feed does.
func replay(t *testing.T, h *harness, fc *rislivetest.Conn, v *Views, keep func(netip.Prefix) bool, msgs []string) {
	t.Helper()
	for _, m := range msgs {
		if err := fc.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	for range msgs {
		v.Apply(h.update(t), keep)
	}
}

// peers returns n RIS peer views spread over two collectors.
func peers(n int) (hosts, addrs []string, asns []uint32) {
	for i := range n {
		hosts = append(hosts, fmt.Sprintf("rrc%02d", i%2))
		addrs = append(addrs, fmt.Sprintf("192.0.2.%d", i+1))
		asns = append(asns, uint32(64510+i))
	}
	return
}

func TestNameserverPrefixWithdrawalNeedsTheQuorum(t *testing.T) {
	ns := netip.MustParsePrefix("198.51.100.0/24")
	keep := func(p netip.Prefix) bool { return ns.Overlaps(p) }
	h := startClient(t, []netip.Prefix{ns}, []netip.Addr{netip.MustParseAddr("198.51.100.53")})
	fc := h.f.Conn()
	ts := float64(time.Now().Unix())
	hosts, addrs, asns := peers(10)

	v := NewViews(0)
	var announce []string
	for i := range 10 {
		announce = append(announce, rislivetest.Update(ts, hosts[i], addrs[i], asns[i], []uint32{asns[i], 64496}, addrs[i], []string{"198.51.100.0/24"}, nil))
	}
	// A withdrawal from a peer never seen carrying it does not count.
	announce = append(announce, rislivetest.Update(ts, "rrc03", "192.0.2.200", 64999, nil, "", nil, []string{"198.51.100.0/24"}))
	replay(t, h, fc, v, keep, announce)
	if w := v.Withdrawal(ns); w.Carried != 10 || w.Withdrawn != 0 || w.Counts() {
		t.Fatalf("after the announcements: %+v", w)
	}
	if o := v.Origins(ns); len(o) != 1 || o[0] != (OriginCount{64496, 10}) {
		t.Errorf("origins %v, want AS64496 at 10 peers", o)
	}

	// One RIS peer withdraws: its own routing, nothing to report.
	replay(t, h, fc, v, keep, []string{rislivetest.Update(ts+1, hosts[0], addrs[0], asns[0], nil, "", nil, []string{"198.51.100.0/24"})})
	if w := v.Withdrawal(ns); w.Withdrawn != 1 || w.Counts() {
		t.Fatalf("one withdrawal: %+v counts", w)
	}
	// Seven more: 8 of 10, past the default quorum (half, at least 2).
	var more []string
	for i := 1; i < 8; i++ {
		more = append(more, rislivetest.Update(ts+2, hosts[i], addrs[i], asns[i], nil, "", nil, []string{"198.51.100.0/24"}))
	}
	replay(t, h, fc, v, keep, more)
	w := v.Withdrawal(ns)
	if !w.Counts() || w.Quorum != 5 {
		t.Fatalf("eight withdrawals: %+v does not count", w)
	}
	if got := w.String(); got != "withdrawn at 8 of 10 RIS peers" {
		t.Errorf("evidence %q", got)
	}
	// A configured min_peers above the withdrawals holds it back.
	strict := NewViews(9)
	replay(t, h, fc, strict, keep, announce[:10])
	replay(t, h, fc, strict, keep, more)
	if w := strict.Withdrawal(ns); w.Counts() || w.Withdrawn != 7 {
		t.Errorf("min_peers 9: %+v counts", w)
	}
}

func TestMoreSpecificFromAnotherOriginAtSeveralPeers(t *testing.T) {
	ns := netip.MustParsePrefix("198.51.100.0/24")
	hijack := netip.MustParsePrefix("198.51.100.0/25")
	keep := func(p netip.Prefix) bool { return ns.Overlaps(p) }
	h := startClient(t, []netip.Prefix{ns}, nil)
	fc := h.f.Conn()
	ts := float64(time.Now().Unix())
	hosts, addrs, asns := peers(6)
	v := NewViews(0)
	var msgs []string
	for i := range 6 {
		msgs = append(msgs, rislivetest.Update(ts, hosts[i], addrs[i], asns[i], []uint32{asns[i], 64496}, addrs[i], []string{"198.51.100.0/24"}, nil))
	}
	for i := range 4 {
		msgs = append(msgs, rislivetest.Update(ts+1, hosts[i], addrs[i], asns[i], []uint32{asns[i], 64666}, addrs[i], []string{"198.51.100.0/25"}, nil))
	}
	// Outside the watched prefix: not kept.
	msgs = append(msgs, rislivetest.Update(ts+1, hosts[0], addrs[0], asns[0], []uint32{asns[0], 64666}, addrs[0], []string{"203.0.113.0/24"}, nil))
	replay(t, h, fc, v, keep, msgs)
	if o := v.Origins(hijack); len(o) != 1 || o[0] != (OriginCount{64666, 4}) {
		t.Errorf("more-specific origins %v, want AS64666 at 4 RIS peers", o)
	}
	if o := v.Origins(ns); len(o) != 1 || o[0] != (OriginCount{64496, 6}) {
		t.Errorf("the covering prefix is still AS64496 at 6 peers: %v", o)
	}
	if o := v.Origins(netip.MustParsePrefix("203.0.113.0/24")); len(o) != 0 {
		t.Errorf("a prefix outside the watched set kept: %v", o)
	}
	if n := len(v.Peers()); n != 6 {
		t.Errorf("%d RIS peer views, want 6", n)
	}
	if d := Description("rrc00", netip.MustParseAddr("192.0.2.1"), 64500); d != "RIS rrc00 peer 192.0.2.1 (AS64500)" {
		t.Errorf("description %q", d)
	}
}

func TestQuorum(t *testing.T) {
	for _, tc := range []struct{ min, carried, want int }{
		{0, 230, 115}, {0, 10, 5}, {0, 3, 2}, {0, 2, 2}, {0, 1, 1}, {0, 0, 0},
		{212, 230, 212}, {5, 3, 3}, {1, 10, 1},
	} {
		if got := Quorum(tc.min, tc.carried); got != tc.want {
			t.Errorf("Quorum(%d, %d) = %d, want %d", tc.min, tc.carried, got, tc.want)
		}
	}
	w := Withdrawal{Withdrawn: 212, Carried: 230, Quorum: 115}
	if !w.Counts() || w.String() != "withdrawn at 212 of 230 RIS peers" {
		t.Errorf("%+v: %q", w, w)
	}
}

// TestViewsBound: beyond MaxPrefixesTracked distinct prefixes a new
// prefix's announcement is dropped and counted; tracked ones still
// change.
func TestViewsBound(t *testing.T) {
	v := NewViews(0)
	u := Update{Host: "rrc00", Peer: netip.MustParseAddr("192.0.2.1"), PeerASN: 64500, Origin: 64666}
	base := netip.MustParseAddr("10.0.0.0").As4()
	for i := range MaxPrefixesTracked + 10 {
		a := base
		a[0], a[1], a[2] = 10+byte(i>>16), byte(i>>8), byte(i)
		u.Announced = append(u.Announced, Announced{Prefix: netip.PrefixFrom(netip.AddrFrom4(a), 24)})
	}
	took := v.Apply(u, nil)
	if len(took) != MaxPrefixesTracked || v.Dropped != 10 {
		t.Fatalf("took %d, dropped %d; want %d and 10", len(took), v.Dropped, MaxPrefixesTracked)
	}
	first := u.Announced[0].Prefix
	w := Update{Host: "rrc00", Peer: u.Peer, Withdrawn: []netip.Prefix{first, u.Announced[len(u.Announced)-1].Prefix}}
	if took := v.Apply(w, nil); len(took) != 1 || took[0] != first {
		t.Errorf("withdrawal took %v, want only the tracked %v", took, first)
	}
}

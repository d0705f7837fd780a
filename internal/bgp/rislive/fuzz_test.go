package rislive

import (
	"testing"

	"github.com/reachmon/reachmon/internal/bgp/rislive/rislivetest"
)

// FuzzRISLiveMessage feeds arbitrary server messages to the parser: it must never
// panic, and what it accepts must respect its bounds.
func FuzzRISLiveMessage(f *testing.F) {
	f.Add([]byte(manualExample))
	f.Add([]byte(rislivetest.Update(1700000000, "rrc00", "192.0.2.1", 64500, []uint32{64500, 64496}, "192.0.2.1", []string{"198.51.100.0/24"}, []string{"203.0.113.0/24"})))
	f.Add([]byte(`{"type":"ris_error","data":{"message":"Unknown prefix"}}`))
	f.Add([]byte(`{"type":"pong","data":null}`))
	f.Add([]byte(`{"type":"ris_message","data":{"type":"UPDATE","timestamp":1,"host":"rrc00","peer":"::1","peer_asn":1,"path":[[1,2],3]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil || m.Update == nil {
			return
		}
		u := m.Update
		if len(u.Path) > MaxPathLen || len(u.Announced)+len(u.Withdrawn) > MaxPrefixes {
			t.Fatalf("accepted beyond the bounds: path %d, prefixes %d", len(u.Path), len(u.Announced)+len(u.Withdrawn))
		}
		if !u.Peer.IsValid() || u.Host == "" {
			t.Fatalf("accepted without a peer view: %+v", u)
		}
		for _, a := range u.Announced {
			if a.Prefix != a.Prefix.Masked() || !a.Prefix.IsValid() {
				t.Fatalf("announced prefix %v not canonical", a.Prefix)
			}
		}
		for _, w := range u.Withdrawn {
			if w != w.Masked() {
				t.Fatalf("withdrawn prefix %v not canonical", w)
			}
		}
		// What it accepts is usable by the views.
		v := NewViews(0)
		v.Apply(*u, nil)
		for _, a := range u.Announced {
			_ = v.Withdrawal(a.Prefix)
			_ = v.Origins(a.Prefix)
		}
	})
}

package app

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/bgp/bmp/bmptest"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/testdns"
)

// TestBMPWithdrawalOpensBGPOutage runs the daemon with a BMP station as
// its only BGP source: router edge1 reports two peers carrying the
// nameserver's /24 and its covering /8; both withdraw the /24, and the
// same bgp_dns_outage the embedded peer gives opens (early: the resolver
// still answers); the router's BMP session going then is one feed_lost,
// of the router.
func TestBMPWithdrawalOpensBGPOutage(t *testing.T) {
	resolver := testdns.Start(t, zone, false)
	auth := testdns.Start(t, zone, true)
	listen, bmpListen := freeAddr(t), freeAddr(t)
	const router = "127.0.0.2"
	cfgText := outageConfig(t, listen, resolver.Addr, auth.Addr, `
[bgp]
initial_sync_timeout = "1s"
[bmp]
listen = "`+bmpListen+`"
[[bmp.router]]
address = "`+router+`"
name = "edge1"
description = "lab edge"
`)
	cfgText = strings.Replace(cfgText, "[evaluate]\n", "[evaluate]\nbgp_open_after = \"0s\"\nstart_grace = \"100ms\"\npeer_grace = \"5s\"\n", 1)
	base := "http://" + listen
	stop := startDaemon(t, cfgText)
	defer stop()

	s := dialBMP(t, bmpListen, router)
	ns, cover := netip.MustParsePrefix("127.0.0.0/24"), netip.MustParsePrefix("127.0.0.0/8")
	peers := []bmptest.Peer{{Addr: netip.MustParseAddr("192.0.2.1"), ASN: 64501}, {Addr: netip.MustParseAddr("192.0.2.2"), ASN: 64502}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Initiation("edge1.lab", "bmptest"))
	for _, p := range peers {
		must(s.PeerUp(p))
		must(s.Announce(p, []uint32{p.ASN, 64500}, cover, ns))
		must(s.EndOfRIB(p))
	}
	waitFor := func(what string, cond func(incident.View) bool) incident.View {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			v, ok := incidents(t, base)
			if ok && cond(v) {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, v)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Both views synced (the peers API), nothing open.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := get(t, base+"/api/v1/peers")
		if strings.Count(body, `"synced":true`) == 2 && strings.Contains(body, `"sys_name":"edge1.lab"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("BMP views not synced: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if v, _ := incidents(t, base); len(v.Open) != 0 {
		t.Fatalf("open before any withdrawal: %+v", v.Open)
	}

	for _, p := range peers {
		must(s.Withdraw(p, ns))
	}
	v := waitFor("bgp_dns_outage", func(v incident.View) bool {
		return len(v.Open) > 0 && v.Open[0].Kind == model.IncidentBGPOutage
	})
	inc := v.Open[0].Incident
	if inc.Subject != "lab.example" || !strings.Contains(inc.RootCause, "127.0.0.0/24") || !strings.Contains(inc.RootCause, "127.0.0.0/8") {
		t.Errorf("incident = %s %s %q", inc.Kind, inc.Subject, inc.RootCause)
	}

	// The router's BMP session goes: one feed_lost for the router.
	s.Close()
	v = waitFor("feed_lost of the router", func(v incident.View) bool {
		for _, e := range v.Open {
			if e.Kind == model.IncidentFeedLost {
				return true
			}
		}
		return false
	})
	var lost []string
	for _, e := range v.Open {
		if e.Kind == model.IncidentFeedLost {
			lost = append(lost, e.Subject)
			if !strings.Contains(e.RootCause, "The BMP session of router edge1 (127.0.0.2, lab edge) is down") {
				t.Errorf("feed_lost root cause = %q", e.RootCause)
			}
		}
	}
	if len(lost) != 1 || lost[0] != "bmp router edge1" {
		t.Errorf("feed_lost incidents for %v, want one for bmp router edge1", lost)
	}
}

// dialBMP connects a BMP sender as router to the daemon's station at
// listen, waiting up to 10 s for the station to listen; the connection is
// closed when the test ends.
func dialBMP(t *testing.T, listen, router string) *bmptest.Sender {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := bmptest.Dial(listen, netip.MustParseAddr(router))
		if err == nil {
			t.Cleanup(func() { s.Close() })
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("BMP station not listening: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

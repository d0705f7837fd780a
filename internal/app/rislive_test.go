package app

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/bgp/rislive/rislivetest"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/testdns"
)

// TestRISLiveOnlyBGPSource runs the daemon with RIS Live as its only BGP
// view, against a local RIS Live server: ten RIS peers carry a watched
// prefix; one withdrawing it opens nothing (its route stays at all ten
// in /api/v1/routes); eight withdrawing it open prefix_withdrawn whose
// root cause says "withdrawn at 8 of 10 RIS peers"; a more-specific from
// another origin at four RIS peers opens prefix_hijack.
func TestRISLiveOnlyBGPSource(t *testing.T) {
	resolver := testdns.Start(t, zone, false)
	auth := testdns.Start(t, zone, true)
	srv := rislivetest.New(t)
	listen := freeAddr(t)
	base := "http://" + listen
	stop := startDaemon(t, outageConfig(t, listen, resolver.Addr, auth.Addr, fmt.Sprintf(`
start_grace = "0s"
[[prefix]]
prefix = "198.51.100.0/24"
origins = [64496]
[ris_live]
url = %q
min_backoff = "10ms"
max_backoff = "50ms"
`, srv.URL())))
	defer stop()
	conn := srv.Conn()
	srv.Next("ris_subscribe")

	type peer struct {
		host, addr string
		asn        uint32
	}
	var peers []peer
	for i := range 10 {
		peers = append(peers, peer{fmt.Sprintf("rrc%02d", i%2), fmt.Sprintf("192.0.2.%d", i+1), uint32(64510 + i)})
	}
	ts := float64(time.Now().Unix())
	announce := func(p peer, origin uint32, prefix string) {
		conn.Send(rislivetest.Update(ts, p.host, p.addr, p.asn, []uint32{p.asn, 3356, origin}, p.addr, []string{prefix}, nil))
	}
	withdraw := func(p peer) {
		conn.Send(rislivetest.Update(ts, p.host, p.addr, p.asn, nil, "", nil, []string{"198.51.100.0/24"}))
	}
	// paths counts the RIS peers /api/v1/routes shows carrying prefix.
	paths := func(prefix string) int {
		_, body := get(t, base+"/api/v1/routes?q="+prefix)
		var v bgp.RoutesView
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("/api/v1/routes: %v\n%s", err, body)
		}
		for _, r := range v.Routes {
			if r.Prefix.String() == prefix {
				return len(r.Paths)
			}
		}
		return 0
	}
	for _, p := range peers {
		announce(p, 64496, "198.51.100.0/24")
	}
	waitUntil(t, 15*time.Second, "the prefix at ten RIS peers", func() bool { return paths("198.51.100.0/24") == 10 })

	withdraw(peers[0])
	announce(peers[9], 64496, "198.51.100.128/25") // a marker behind the withdrawal
	waitUntil(t, 15*time.Second, "the marker", func() bool { return paths("198.51.100.128/25") == 1 })
	if n := paths("198.51.100.0/24"); n != 10 {
		t.Errorf("after one RIS peer withdrew: the /24 at %d RIS peers, want still all ten (the withdrawal is held)", n)
	}
	if v, _ := incidents(t, base); len(v.Open) != 0 {
		t.Errorf("open after one RIS peer of ten withdrew: %+v", v.Open)
	}

	for _, p := range peers[1:8] {
		withdraw(p)
	}
	var inc incident.Entry
	waitUntil(t, 15*time.Second, "prefix_withdrawn", func() bool {
		v, _ := incidents(t, base)
		for _, e := range v.Open {
			if e.Kind == model.IncidentPrefixWithdrawn {
				inc = e
				return true
			}
		}
		return false
	})
	if !strings.Contains(inc.RootCause, "withdrawn at 8 of 10 RIS peers") {
		t.Errorf("root cause %q lacks the RIS peer count", inc.RootCause)
	}
	ev := ""
	for _, l := range inc.Evidence {
		ev += l.Text + "\n"
	}
	if !strings.Contains(ev, "(RIS rrc") {
		t.Errorf("evidence does not name RIS peers:\n%s", ev)
	}

	for _, p := range peers[:4] {
		announce(p, 64666, "198.51.100.0/25")
	}
	waitUntil(t, 15*time.Second, "prefix_hijack", func() bool {
		v, _ := incidents(t, base)
		for _, e := range v.Open {
			if e.Kind == model.IncidentHijack && strings.Contains(e.RootCause, "AS64666") {
				return true
			}
		}
		return false
	})

	_, body := get(t, base+"/api/v1/peers")
	if !strings.Contains(body, `"source":"ris_live"`) || !strings.Contains(body, `"label":"RIS rrc00 peer 192.0.2.1 (AS64510)"`) ||
		!strings.Contains(body, `"feed":"ris_live"`) {
		t.Errorf("/api/v1/peers lacks the RIS peers and feed:\n%.2000s", body)
	}
	_, metrics := get(t, base+"/metrics")
	if l := metricLine(metrics, "reachmon_ris_live_connected"); l != "1" {
		t.Errorf("reachmon_ris_live_connected: %q", l)
	}
}
